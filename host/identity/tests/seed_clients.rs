//! Clients written from the seeds alone (issue 17): raw HTTP, the paths,
//! bodies and ids exactly as seeds 003 and 004 show them — integer ids,
//! the `/{organizationName}/{tenantName}/orchestrator_/odata/…` base path,
//! tenant ids as `partitionGlobalId`, umbrella scopes, partial updates.
//! Each test is one thing such a client does and what it expects back.

mod common;

use common::{Host, Org, host, signed_in};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Seed 004's base URL for the organization `org` and its tenant.
const BASE: &str = "/acme/DefaultTenant/orchestrator_";

/// A host with organization `acme`, its tenant `DefaultTenant`, and an
/// access token with every scope.
async fn acme() -> (Host, Org, String) {
    let h = host().await;
    let a = h.org("acme").await;
    h.store.create_tenant(a.id, "DefaultTenant").await.unwrap();
    let t = h.token(&a, None).await;
    (h, a, t)
}

/// The `Id` (an integer, as the seed's `Users(446)`) of the entry of an
/// OData list whose `field` is `value`.
fn id_where(list: &Value, field: &str, value: &str) -> i64 {
    list["value"]
        .as_array()
        .unwrap_or_else(|| panic!("not an OData list: {list}"))
        .iter()
        .find(|e| e[field] == value)
        .unwrap_or_else(|| panic!("no {field} = {value} in {list}"))["Id"]
        .as_i64()
        .unwrap_or_else(|| panic!("`Id` is not an integer in {list}"))
}

/// Seed 004's "pas à pas": list the roles, note their ids, list the
/// users, note the account's id, then `AssignRoles` — with the integer
/// ids the lists show, under the documented base path. The seed's table:
/// roles {1, 2} then `[1, 3]` gives {1, 3}.
#[tokio::test]
async fn seed_004_step_by_step_assigns_roles_with_integer_ids() {
    let (h, a, t) = acme().await;
    h.store
        .create_user(a.id, "john.smith", "John Smith", None)
        .await
        .unwrap();
    for name in ["Viewer", "Editor", "Auditor"] {
        let (s, v) = h
            .post(
                &t,
                &format!("{BASE}/odata/Roles"),
                json!({ "Name": name, "Permissions": ["Users.View"] }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, roles) = h
        .call(&t, Method::GET, &format!("{BASE}/odata/Roles"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{roles}");
    let (r1, r2, r3) = (
        id_where(&roles, "Name", "Viewer"),
        id_where(&roles, "Name", "Editor"),
        id_where(&roles, "Name", "Auditor"),
    );
    let (s, users) = h
        .call(&t, Method::GET, &format!("{BASE}/odata/Users"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{users}");
    let john = id_where(&users, "UserName", "john.smith");

    let assign =
        format!("{BASE}/odata/Users({john})/UiPath.Server.Configuration.OData.AssignRoles");
    let (s, v) = h.post(&t, &assign, json!({ "roleIds": [r1, r2] })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h.post(&t, &assign, json!({ "roleIds": [r1, r3] })).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (s, one) = h
        .call(
            &t,
            Method::GET,
            &format!("{BASE}/odata/Users({john})?$expand=Roles"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    let mut ids: Vec<i64> = one["Roles"]
        .as_array()
        .unwrap_or_else(|| panic!("no expanded `Roles` in {one}"))
        .iter()
        .map(|r| r["Id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![r1, r3];
    want.sort();
    assert_eq!(ids, want);
    let mut names: Vec<&str> = one["RolesList"]
        .as_array()
        .unwrap_or_else(|| panic!("no `RolesList` in {one}"))
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Auditor", "Viewer"]);
}

/// The seed's other examples, with integer keys: change the culture of
/// user 749 to Japanese, provision a robot for user 13, delete user 446.
#[tokio::test]
async fn seed_004_examples_work_with_integer_keys() {
    let (h, a, t) = acme().await;
    let alice = h
        .store
        .create_user(a.id, "alice", "Alice", None)
        .await
        .unwrap();
    let (_, users) = h
        .call(&t, Method::GET, &format!("{BASE}/odata/Users"), None)
        .await;
    let id = id_where(&users, "UserName", "alice");
    // The UUID stays available as the `Key`.
    let entry = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Id"] == id)
        .unwrap();
    assert_eq!(entry["Key"], alice.id.to_string());

    let (s, v) = h
        .post(
            &t,
            &format!(
                "{BASE}/odata/Users({id})/UiPath.Server.Configuration.OData.ChangeUserCulture"
            ),
            json!({ "culture": "ja" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        h.store
            .user_culture(a.id, alice.id)
            .await
            .unwrap()
            .as_deref(),
        Some("ja")
    );

    let provision = json!({ "RobotProvision": {
        "UserName": "uipath\\john.smith", "RobotId": 53, "RobotType": "Development", "ExecutionSettings": {} } });
    let (s, v) = h
        .put(&t, &format!("{BASE}/odata/Users({id})"), provision)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // GET one user by key (the seed's note names `/odata/Users({})`).
    let (s, one) = h
        .call(&t, Method::GET, &format!("{BASE}/odata/Users({id})"), None)
        .await;
    assert_eq!(
        (s, one["UserName"].clone()),
        (StatusCode::OK, json!("alice"))
    );
    assert_eq!(one["CultureName"], "ja");
    // The UUID form of the key keeps working, quoted or not.
    for key in [alice.id.to_string(), format!("'{}'", alice.id)] {
        let (s, v) = h
            .call(&t, Method::GET, &format!("/odata/Users({key})"), None)
            .await;
        assert_eq!((s, v["Id"].as_i64()), (StatusCode::OK, Some(id)), "{key}");
    }

    assert_eq!(
        h.status(&t, Method::DELETE, &format!("{BASE}/odata/Users({id})"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(h.store.get_user(a.id, alice.id).await.unwrap().is_none());
    assert_eq!(
        h.status(&t, Method::GET, &format!("{BASE}/odata/Users({id})"))
            .await,
        StatusCode::NOT_FOUND
    );
}

/// Robot accounts and groups are in `/odata/Users` with integer ids too,
/// and `AssignRoles` takes them (seed 004: "l'ID d'un groupe, d'un compte
/// d'utilisateur ou d'un compte de robot").
#[tokio::test]
async fn robot_accounts_and_groups_take_roles_by_integer_id() {
    let (h, a, t) = acme().await;
    let bot = h
        .store
        .create_robot_account(a.id, "bot", "Bot")
        .await
        .unwrap();
    let ops = h.store.create_group(a.id, "ops", &[]).await.unwrap();
    let (_, roles) = h.call(&t, Method::GET, "/odata/Roles", None).await;
    let robot_role = id_where(&roles, "Name", "Robot");
    let (_, users) = h.call(&t, Method::GET, "/odata/Users", None).await;
    for (name, uuid) in [("bot", bot.id), ("ops", ops.id)] {
        let id = id_where(&users, "UserName", name);
        let (s, v) = h
            .post(
                &t,
                &format!("/odata/Users({id})/UiPath.Server.Configuration.OData.AssignRoles"),
                json!({ "roleIds": [robot_role] }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        assert_eq!(h.store.roles_of(a.id, uuid).await.unwrap().len(), 1);
    }
    // A role id that is not a role of the organization is 404, and
    // changes nothing.
    let id = id_where(&users, "UserName", "bot");
    let (s, v) = h
        .post(
            &t,
            &format!("/odata/Users({id})/UiPath.Server.Configuration.OData.AssignRoles"),
            json!({ "roleIds": [id] }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(h.store.roles_of(a.id, bot.id).await.unwrap().len(), 1);
}

/// The documented base path serves the same API as `/odata/…`; its
/// organization and tenant must be the token's (404 otherwise, as for
/// any other organization's resource).
#[tokio::test]
async fn the_orchestrator_base_path_serves_the_same_api_for_the_tokens_organization_only() {
    let (h, a, t) = acme().await;
    h.store
        .create_user(a.id, "alice", "Alice", None)
        .await
        .unwrap();
    let b = h.org("globex").await;
    h.store.create_tenant(b.id, "Prod").await.unwrap();

    let plain = h.call(&t, Method::GET, "/odata/Users", None).await;
    let based = h
        .call(&t, Method::GET, &format!("{BASE}/odata/Users"), None)
        .await;
    assert_eq!(plain.0, StatusCode::OK);
    assert_eq!(plain.1["value"], based.1["value"]);

    for wrong in [
        "/globex/Prod/orchestrator_/odata/Users",
        "/acme/Prod/orchestrator_/odata/Users",
        "/globex/DefaultTenant/orchestrator_/odata/Users",
        "/acme/Nope/orchestrator_/odata/Users",
    ] {
        let (s, v) = h.call(&t, Method::GET, wrong, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{wrong}: {v}");
    }
    // Without a token: 401, whatever the names.
    let r = h
        .http
        .get(format!("{}{BASE}/odata/Users", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// OData routes answer errors in OData's format, `{"error": {"code",
/// "message"}}`, whatever the cause.
#[tokio::test]
async fn odata_routes_answer_errors_in_the_odata_format() {
    let (h, _a, t) = acme().await;
    let read_only = {
        let a = h.org("other").await;
        h.token(&a, Some("OR.Users.Read")).await
    };
    let cases: [(&str, Method, String, Option<Value>, StatusCode); 5] = [
        (
            &t,
            Method::GET,
            "/odata/Users(999999)".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            &t,
            Method::GET,
            format!("{BASE}/odata/Users?$filter=Id gt 1"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "not-a-token",
            Method::GET,
            "/odata/Users".into(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            &read_only,
            Method::DELETE,
            "/odata/Users(1)".into(),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            &t,
            Method::POST,
            "/odata/Users(1)/UiPath.Server.Configuration.OData.AssignRoles".into(),
            Some(json!({ "roleIds": "all" })),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (token, method, path, body, want) in cases {
        let (s, v) = h.call(token, method.clone(), &path, body).await;
        assert_eq!(s, want, "{method} {path}: {v}");
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{method} {path}: not an OData error: {v}"
        );
    }
}

/// `GET /odata/$metadata` describes, in CSDL, every entity set the API
/// serves and every property its entities carry.
#[tokio::test]
async fn metadata_describes_every_entity_set_and_every_property_served() {
    let (h, a, t) = acme().await;
    h.store
        .create_user(a.id, "alice", "Alice", Some("alice@example.com"))
        .await
        .unwrap();
    let r = h
        .http
        .get(format!("{}{BASE}/odata/$metadata", h.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/xml"),
        "{content_type}"
    );
    let xml = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let sets: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("EntitySet"))
        .map(|n| {
            (
                n.attribute("Name").unwrap(),
                n.attribute("EntityType").unwrap(),
            )
        })
        .collect();
    for (set, expand) in [("Users", "?$expand=Roles"), ("Roles", "")] {
        let (_, entity_type) = sets
            .iter()
            .find(|(name, _)| *name == set)
            .unwrap_or_else(|| panic!("no entity set `{set}` in {xml}"));
        let type_name = entity_type.rsplit('.').next().unwrap();
        let declared: Vec<&str> = doc
            .descendants()
            .find(|n| n.has_tag_name("EntityType") && n.attribute("Name") == Some(type_name))
            .unwrap_or_else(|| panic!("no entity type `{type_name}`"))
            .children()
            .filter(|n| n.has_tag_name("Property") || n.has_tag_name("NavigationProperty"))
            .map(|n| n.attribute("Name").unwrap())
            .collect();
        let (s, list) = h
            .call(&t, Method::GET, &format!("/odata/{set}{expand}"), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let entries = list["value"].as_array().unwrap();
        assert!(!entries.is_empty());
        for e in entries {
            for field in e.as_object().unwrap().keys() {
                assert!(
                    declared.contains(&field.as_str()),
                    "`{set}` serves `{field}`, which $metadata does not declare ({declared:?})"
                );
            }
        }
    }
}

/// Culture names are BCP 47 language tags (`ja`, `fr-FR`); anything else
/// is 400 and leaves the culture as it was.
#[tokio::test]
async fn culture_names_are_checked() {
    let (h, a, t) = acme().await;
    let u = h
        .store
        .create_user(a.id, "alice", "Alice", None)
        .await
        .unwrap();
    let path = format!(
        "/odata/Users({})/UiPath.Server.Configuration.OData.ChangeUserCulture",
        u.id
    );
    for good in ["ja", "fr-FR", "zh-Hans-CN", "en-US"] {
        let (s, v) = h.post(&t, &path, json!({ "culture": good })).await;
        assert_eq!(s, StatusCode::OK, "{good}: {v}");
    }
    for bad in [
        "",
        "-",
        "fr-",
        "123",
        "not a culture",
        "ja--JP",
        "abcdefghij",
        "fr-FR-",
    ] {
        let (s, v) = h.post(&t, &path, json!({ "culture": bad })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "`{bad}` was accepted: {v}");
    }
    assert_eq!(
        h.store.user_culture(a.id, u.id).await.unwrap().as_deref(),
        Some("en-US")
    );
}

/// Seed 003: "l'ID de partition spécifié (organisation ou locataire)" —
/// a tenant id works wherever the organization id does; another
/// organization's tenant is 404.
#[tokio::test]
async fn a_tenant_id_is_a_partition_global_id_of_its_organization() {
    let (h, a, t) = acme().await;
    let tenant = h.store.list_tenants(a.id).await.unwrap()[0].id;
    let b = h.org("globex").await;
    let foreign = h.store.create_tenant(b.id, "Prod").await.unwrap().id;

    let (s, by_org) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/Group/{}", a.id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, by_tenant) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/Group/{tenant}"),
            None,
        )
        .await;
    assert_eq!((s, &by_tenant), (StatusCode::OK, &by_org));
    let (s, v) = h
        .post(
            &t,
            "/identity/api/RobotAccount",
            json!({ "partitionGlobalId": tenant.to_string(), "name": "bot", "displayName": "Bot" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/Setting?partitionGlobalId={tenant}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    for other in [foreign.to_string(), b.id.to_string()] {
        let (s, _) = h
            .call(
                &t,
                Method::GET,
                &format!("/identity/api/Group/{other}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = h
            .post(
                &t,
                "/identity/api/RobotAccount",
                json!({ "partitionGlobalId": other, "name": "bot2" }),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    assert!(
        h.store
            .list_robot_accounts(b.id, None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A new organization has built-in groups ("groupes locaux et intégrés"),
/// roles and message templates; deleting "all local groups" keeps the
/// built-in ones, which cannot be deleted one by one either.
#[tokio::test]
async fn a_new_organization_has_built_in_groups_roles_and_message_templates() {
    let (h, a, t) = acme().await;
    let p = a.id.to_string();
    let (_, groups) = h
        .call(&t, Method::GET, &format!("/identity/api/Group/{p}"), None)
        .await;
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Administrators") && names.contains(&"Everyone"),
        "{groups}"
    );
    let (_, roles) = h.call(&t, Method::GET, "/odata/Roles", None).await;
    id_where(&roles, "Name", "Administrator");
    let (_, templates) = h
        .call(&t, Method::GET, "/identity/api/MessageTemplate", None)
        .await;
    assert!(!templates.as_array().unwrap().is_empty(), "{templates}");

    h.post(
        &t,
        "/identity/api/Group",
        json!({ "partitionGlobalId": p, "name": "local" }),
    )
    .await;
    assert_eq!(
        h.status(&t, Method::DELETE, &format!("/identity/api/Group/{p}"))
            .await,
        StatusCode::NO_CONTENT
    );
    let (_, after) = h
        .call(&t, Method::GET, &format!("/identity/api/Group/{p}"), None)
        .await;
    assert_eq!(after.as_array().unwrap().len(), 2, "{after}");
    let admins = after.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = h
        .call(
            &t,
            Method::DELETE,
            &format!("/identity/api/Group/{p}/{admins}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("built-in"), "{v}");
}

/// Seed 003: "vous transmettez plusieurs étendues" — `PM.User` is the
/// resource's scope: asking for it at the token endpoint grants read and
/// write, and so does registering an application with it.
#[tokio::test]
async fn umbrella_scopes_grant_read_and_write() {
    let (h, a, _) = signed_in().await;
    let r = h
        .token_response(&a, &a.secret, Some("PM.User PM.Group.Read"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let mut granted: Vec<&str> = v["scope"].as_str().unwrap().split(' ').collect();
    granted.sort();
    assert_eq!(granted, ["PM.Group.Read", "PM.User.Read", "PM.User.Write"]);
    let token = v["access_token"].as_str().unwrap();
    let (s, _) = h
        .post(
            token,
            "/identity/api/User",
            json!({ "partitionGlobalId": a.id.to_string(), "userName": "bob" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let all = h.token(&a, None).await;
    let (s, app) = h
        .post(
            &all,
            "/identity/api/ExternalApplication",
            json!({ "partitionGlobalId": a.id.to_string(), "name": "sync", "scopes": ["OR.Users"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    assert_eq!(app["scopes"], json!(["OR.Users.Read", "OR.Users.Write"]));
}

/// `PUT Group` "met à jour les informations d'un groupe": a body without
/// `members` renames the group and keeps its members.
#[tokio::test]
async fn put_group_without_members_keeps_them() {
    let (h, a, t) = acme().await;
    let p = a.id.to_string();
    let alice = h.user(&a, "alice").await;
    let (_, g) = h
        .post(
            &t,
            "/identity/api/Group",
            json!({ "partitionGlobalId": p, "name": "ops", "members": [alice.id.to_string()] }),
        )
        .await;
    let id = g["id"].as_str().unwrap();
    let (s, g) = h
        .put(
            &t,
            &format!("/identity/api/Group/{id}"),
            json!({ "partitionGlobalId": p, "name": "operations" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(g["name"], "operations");
    assert_eq!(
        g["members"],
        json!([{ "identifier": alice.id.to_string() }])
    );
}

/// `DELETE /identity/api/User` without a body is refused with a 400 that
/// names the body it needs, and deletes nobody.
#[tokio::test]
async fn delete_users_without_a_body_names_the_body_and_deletes_nobody() {
    let (h, a, t) = acme().await;
    h.user(&a, "alice").await;
    let r = h
        .http
        .delete(format!("{}/identity/api/User", h.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("userIds"), "{message}");
    assert!(!message.contains("Content-Type"), "{message}");
    assert_eq!(h.store.list_users(a.id).await.unwrap().len(), 1);
}

/// A sign-in with the right password of a user who works in no tenant is
/// refused (the console answers `no_tenant`); it is recorded as a failed
/// attempt with that reason, never as a success.
#[tokio::test]
async fn a_sign_in_refused_for_no_tenant_is_a_failed_attempt_with_its_reason() {
    let (h, a, t) = acme().await;
    let bob = h.user(&a, "bob").await;
    h.store
        .set_user_password_hash(a.id, bob.id, &plugboard_identity::hash_secret("Secret#123"))
        .await
        .unwrap();
    let throttle = plugboard_identity::UnknownNameThrottle::default();
    let outcome =
        plugboard_identity::sign_in(&h.store, &throttle, "acme", "bob", "Secret#123", "console")
            .await;
    assert!(
        !matches!(outcome, Ok(Some(_))),
        "a user of no tenant signed in"
    );
    let (s, v) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/User/{}/loginAttempts", bob.id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["totalCount"], 1);
    assert_eq!(v["results"][0]["result"], "Failure", "{v}");
    assert_eq!(v["results"][0]["reason"], "no_tenant", "{v}");
}
