//! The identity routes over real HTTP: an axum server on a loopback port
//! over an SQLite store in a temporary directory, called with reqwest.

mod common;

use std::time::Duration;

use common::{Host, host, host_with_ttl, signed_in};
use plugboard_identity::{ROUTES, all_scopes, required_scope};
use plugboard_store::{OrganizationId, Store, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn token_endpoint_checks_the_secret_and_the_requested_scopes() {
    let h = host().await;
    let a = h.org("a").await;
    let r = h.token_response(&a, "wrong", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = h
        .token_response(&a, &a.secret, Some("PM.User.Read OR.Folders.Read"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = h.token_response(&a, &a.secret, Some("PM.User.Read")).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], "PM.User.Read");
    assert_eq!(v["expires_in"], 3600);
}

#[tokio::test]
async fn missing_scope_is_403_naming_it_and_unknown_or_expired_tokens_are_401() {
    let h = host().await;
    let a = h.org("a").await;
    let read = h.token(&a, Some("PM.Group.Read")).await;
    let path = format!("/identity/api/Group/{}", a.id);
    assert_eq!(h.status(&read, Method::GET, &path).await, StatusCode::OK);
    let body = json!({ "partitionGlobalId": a.id.to_string(), "name": "ops" });
    let (s, v) = h
        .call(&read, Method::POST, "/identity/api/Group", Some(body))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["scope"], "PM.Group.Write");
    assert!(v["message"].as_str().unwrap().contains("PM.Group.Write"));
    assert_eq!(
        h.status("not-a-token", Method::GET, &path).await,
        StatusCode::UNAUTHORIZED
    );
    let r = h
        .http
        .get(format!("{}{path}", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let expired = host_with_ttl(Duration::ZERO).await;
    let b = expired.org("b").await;
    let t = expired.token(&b, None).await;
    let path = format!("/identity/api/Group/{}", b.id);
    assert_eq!(
        expired.status(&t, Method::GET, &path).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Each PM scope opens exactly the routes whose resource + method derive
/// it; every other route answers 403.
#[tokio::test]
async fn scope_matrix_each_scope_allows_exactly_its_routes() {
    let h = host().await;
    let a = h.org("a").await;
    for scope in all_scopes() {
        let t = h.token(&a, Some(scope)).await;
        for route in ROUTES {
            let path = route
                .path
                .replace("{organizationId}", &a.id.to_string())
                .replace("{partitionGlobalId}", &a.id.to_string());
            let path = fill_unknown(&path);
            let (status, _) = h
                .call(&t, route.method.clone(), &path, Some(json!({})))
                .await;
            let allowed = required_scope(route.resource, &route.method) == *scope;
            assert_eq!(
                status == StatusCode::FORBIDDEN,
                !allowed,
                "{scope} on {} {}: {status}",
                route.method,
                route.path
            );
        }
    }
}

fn fill_unknown(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(s) = rest.find('{') {
        out.push_str(&rest[..s]);
        out.push_str("00000000-0000-0000-0000-000000000000");
        rest = &rest[s + rest[s..].find('}').unwrap() + 1..];
    }
    out + rest
}

#[tokio::test]
async fn groups_robots_settings_and_templates_follow_the_seed() {
    let (h, a, t) = signed_in().await;
    let p = a.id.to_string();
    let user = h.user(&a, "alice").await;

    let (s, g) = h
        .call(
            &t,
            Method::POST,
            "/identity/api/Group",
            Some(
                json!({ "partitionGlobalId": p, "name": "Ops", "members": [user.id.to_string()] }),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let gid = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["members"][0]["identifier"], user.id.to_string());
    let (s, list) = h
        .call(&t, Method::GET, &format!("/identity/api/Group/{p}"), None)
        .await;
    // Ops, and the built-in Administrators and Everyone.
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 3));
    let (s, g) = h
        .put(
            &t,
            &format!("/identity/api/Group/{gid}"),
            json!({ "partitionGlobalId": p, "name": "Operations", "members": [] }),
        )
        .await;
    assert_eq!(
        (s, g["name"].clone(), g["members"].clone()),
        (StatusCode::OK, json!("Operations"), json!([]))
    );
    assert_eq!(
        h.status(&t, Method::GET, &format!("/identity/api/Group/{p}/{gid}"))
            .await,
        StatusCode::OK
    );
    assert_eq!(
        h.status(
            &t,
            Method::DELETE,
            &format!("/identity/api/Group/{p}/{gid}")
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.status(&t, Method::GET, &format!("/identity/api/Group/{p}/{gid}"))
            .await,
        StatusCode::NOT_FOUND
    );
    h.post(
        &t,
        "/identity/api/Group",
        json!({ "partitionGlobalId": p, "name": "x" }),
    )
    .await;
    assert_eq!(
        h.status(&t, Method::DELETE, &format!("/identity/api/Group/{p}"))
            .await,
        StatusCode::NO_CONTENT
    );
    let (_, left) = h
        .call(&t, Method::GET, &format!("/identity/api/Group/{p}"), None)
        .await;
    assert!(
        left.as_array().unwrap().iter().all(|g| g["type"] == 1),
        "only built-in groups are left: {left}"
    );

    let (s, r) = h
        .post(
            &t,
            "/identity/api/RobotAccount",
            json!({ "partitionGlobalId": p, "name": "bot1", "displayName": "Bot 1" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let rid = r["id"].as_str().unwrap().to_owned();
    let (s, r) = h
        .put(
            &t,
            &format!("/identity/api/RobotAccount/{rid}"),
            json!({ "partitionGlobalId": p, "displayName": "Bot One" }),
        )
        .await;
    assert_eq!(
        (s, r["displayName"].clone()),
        (StatusCode::OK, json!("Bot One"))
    );
    assert_eq!(
        h.status(
            &t,
            Method::GET,
            &format!("/identity/api/RobotAccount/{p}/{rid}")
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        h.call(
            &t,
            Method::GET,
            &format!("/identity/api/RobotAccount/{p}"),
            None
        )
        .await
        .1
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        h.status(
            &t,
            Method::DELETE,
            &format!("/identity/api/RobotAccount/{p}/{rid}")
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.status(
            &t,
            Method::DELETE,
            &format!("/identity/api/RobotAccount/{p}")
        )
        .await,
        StatusCode::NO_CONTENT
    );

    let (s, v) = h
        .put(
            &t,
            "/identity/api/Setting",
            json!({ "partitionGlobalId": p, "settings": [
            { "key": "Governance.SharedConnections.CreatorRole", "value": "Administrators" },
            { "key": "Governance.AllowedConnectors", "value": "zoom,pat" } ] }),
        )
        .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::OK, 2));
    let (_, v) = h
        .call(
            &t,
            Method::GET,
            &format!(
                "/identity/api/Setting?partitionGlobalId={p}&key=Governance.AllowedConnectors"
            ),
            None,
        )
        .await;
    assert_eq!(
        v,
        json!([{ "key": "Governance.AllowedConnectors", "value": "zoom,pat", "partitionGlobalId": p }])
    );

    let tpl = h
        .store
        .create_message_template(a.id, "Welcome", "Hello {{name}}")
        .await
        .unwrap();
    let (_, v) = h
        .call(
            &t,
            Method::GET,
            "/identity/api/MessageTemplate?name=Welcome",
            None,
        )
        .await;
    assert_eq!(v[0]["id"], tpl.id.to_string());
    let (s, v) = h
        .put(
            &t,
            &format!("/identity/api/MessageTemplate/{}", tpl.id),
            json!({ "value": "Bonjour {{name}}" }),
        )
        .await;
    assert_eq!(
        (s, v["value"].clone()),
        (StatusCode::OK, json!("Bonjour {{name}}"))
    );
    assert_eq!(
        h.call(
            &t,
            Method::GET,
            &format!("/identity/api/MessageTemplate/{}", tpl.id),
            None
        )
        .await
        .1["value"],
        "Bonjour {{name}}"
    );

    let (s, v) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/AuditQuery/{p}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "POST /identity/api/Group")
    );
    let r = h
        .http
        .get(format!("{}/identity/api/AuditQuery/{p}/download", h.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("id,createdOn,actor,action,outcome\n")
    );
}

#[tokio::test]
async fn users_create_overwrites_bulk_create_password_and_login_attempts() {
    let (h, a, t) = signed_in().await;
    let p = a.id.to_string();
    let body = json!({ "partitionGlobalId": p, "userName": "john.smith", "name": "John", "surname": "Smith", "email": "john@example.com", "password": "Secret#123" });
    let (s, first) = h
        .call(&t, Method::POST, "/identity/api/User", Some(body.clone()))
        .await;
    assert_eq!(
        (s, first["displayName"].clone()),
        (StatusCode::CREATED, json!("John Smith"))
    );
    // Create overwrites: same userName → the old user is gone, a new id.
    let (_, second) = h
        .call(&t, Method::POST, "/identity/api/User", Some(body))
        .await;
    assert_ne!(first["id"], second["id"]);
    let old = first["id"].as_str().unwrap();
    assert_eq!(
        h.status(&t, Method::GET, &format!("/identity/api/User/{old}"))
            .await,
        StatusCode::NOT_FOUND
    );
    let id = second["id"].as_str().unwrap().to_owned();

    let (s, v) = h
        .post(&t, "/identity/api/User/BulkCreate", json!({ "users": [
            { "partitionGlobalId": p, "userName": "u1" }, { "partitionGlobalId": p, "userName": "u2" } ] }))
        .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::CREATED, 2));

    let pw = format!("/identity/api/User/{id}/changepassword");
    let (s, _) = h
        .post(
            &t,
            &pw,
            json!({ "oldPassword": "nope", "newPassword": "Another#123" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .post(
            &t,
            &pw,
            json!({ "oldPassword": "Secret#123", "newPassword": "Another#123" }),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/User/{id}/loginAttempts"),
            None,
        )
        .await;
    let results: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Success", "Failure"]);

    let (s, v) = h
        .put(
            &t,
            &format!("/identity/api/User/{id}"),
            json!({ "name": "Johnny", "surname": "Smith" }),
        )
        .await;
    assert_eq!(
        (s, v["displayName"].clone()),
        (StatusCode::OK, json!("Johnny Smith"))
    );

    let u1 = h
        .store
        .find_user(a.id, "u1")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let u2 = h
        .store
        .find_user(a.id, "u2")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let (s, _) = h
        .call(
            &t,
            Method::DELETE,
            "/identity/api/User",
            Some(json!({ "userIds": [u1, u2] })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        h.status(&t, Method::DELETE, &format!("/identity/api/User/{id}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(h.store.list_users(a.id).await.unwrap().is_empty());
}

/// Organization B's identity rows, as text, to compare before and after.
async fn dump(store: &Store, org: OrganizationId, user: UserId) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.list_users(org).await.unwrap(),
        store.user_password_hash(org, user).await.unwrap(),
        store.user_culture(org, user).await.unwrap(),
        store.list_groups(org).await.unwrap(),
        store.list_robot_accounts(org, None).await.unwrap(),
        store.list_roles(org).await.unwrap(),
        store.get_settings(org, &[]).await.unwrap(),
        store.find_message_templates(org, None, None).await.unwrap(),
        store.list_login_attempts(org, user).await.unwrap(),
        store.list_audit(org, &Default::default()).await.unwrap(),
        store.list_external_apps(org).await.unwrap(),
        store
            .find_external_app(&store.list_external_apps(org).await.unwrap()[0].client_id)
            .await
            .unwrap(),
    )
}

/// THE isolation test: every route of [`ROUTES`] (so a route added later
/// is covered without touching this test), called with organization A's
/// all-scopes token on organization B's ids, answers 404 — not 403 — and
/// leaves B's rows exactly as they were.
#[tokio::test]
async fn every_route_with_another_organizations_ids_is_404_and_changes_nothing() {
    let h = host().await;
    let a = h.org("a").await;
    let b = h.org("b").await;
    let s = &h.store;
    let user = s.create_user(b.id, "bob", "Bob", None).await.unwrap();
    s.set_user_password_hash(
        b.id,
        user.id,
        &plugboard_identity::hash_secret("Secret#123"),
    )
    .await
    .unwrap();
    s.record_login_attempt(b.id, user.id, None, "console")
        .await
        .unwrap();
    let group = s.create_group(b.id, "ops", &[user.id.0]).await.unwrap();
    let robot = s.create_robot_account(b.id, "bot", "Bot").await.unwrap();
    let tpl = s
        .create_message_template(b.id, "Welcome", "Hi")
        .await
        .unwrap();
    s.put_settings(b.id, &[("k1".into(), "v1".into())])
        .await
        .unwrap();
    let role = s
        .create_role(b.id, "admin", &["Users.View".into()])
        .await
        .unwrap();
    s.assign_roles(b.id, user.id.0, &[role.id]).await.unwrap();
    let app = s.list_external_apps(b.id).await.unwrap()[0].id;
    let b_token = h.token(&b, None).await;
    // Seed 004's base path names an organization and a tenant: B's are
    // 404 for A's token, A's own act on A.
    s.create_tenant(a.id, "t-a").await.unwrap();
    s.create_tenant(b.id, "t-b").await.unwrap();
    let (a_names, b_names) = (("a", "t-a"), ("b", "t-b"));

    let bo = b.id.to_string();
    let value = |name: &str, names: Option<(&str, &str)>| -> String {
        match name {
            "organizationName" => names.unwrap().0.to_owned(),
            "tenantName" => names.unwrap().1.to_owned(),
            "organizationId" | "partitionGlobalId" => bo.clone(),
            "groupId" => group.id.to_string(),
            "robotAccountId" => robot.id.to_string(),
            "templateId" => tpl.id.to_string(),
            "userId" | "key" => user.id.to_string(),
            "roleId" => role.id.to_string(),
            "appId" => app.to_string(),
            other => {
                panic!("isolation test: give path parameter `{other}` a value of organization B")
            }
        }
    };
    let body = json!({
        "partitionGlobalId": bo,
        "name": "renamed", "displayName": "renamed", "value": "changed",
        "userName": "bob", "password": "Another#123",
        "members": [user.id.to_string()],
        "settings": [{ "key": "k1", "value": "changed" }],
        "users": [{ "partitionGlobalId": bo, "userName": "bob" }],
        "userIds": [user.id.to_string()],
        "culture": "ja",
        "roleIds": [role.id.to_string()],
        "RobotProvision": { "UserName": "b\\bob", "RobotId": 53, "RobotType": "Development", "ExecutionSettings": {} },
        "oldPassword": "Secret#123", "newPassword": "Another#123",
        "scopes": ["PM.User.Read"],
        "Name": "renamed", "Permissions": ["Users.Edit"],
    });
    // Two passes: the body names B's partition, then A's, so that a body
    // partition check cannot hide a missing check of the path's id.
    let mut own = body.clone();
    own["partitionGlobalId"] = json!(a.id.to_string());
    own["users"][0]["partitionGlobalId"] = json!(a.id.to_string());
    own["members"] = json!([]);
    let token = h.token(&a, None).await;
    let before = dump(s, b.id, user.id).await;
    assert!(ROUTES.len() >= 46);
    let mut calls = Vec::new();
    for body in [&body, &own] {
        for route in ROUTES {
            for template in route.paths() {
                if template.starts_with("/{organizationName}") {
                    calls.push((route, template.clone(), Some(b_names), body));
                    calls.push((route, template, Some(a_names), body));
                } else {
                    calls.push((route, template, None, body));
                }
            }
        }
    }
    for (route, template, names, body) in calls {
        let mut path = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find('{') {
            let end = start + rest[start..].find('}').unwrap();
            path.push_str(&rest[..start]);
            path.push_str(&value(&rest[start + 1..end], names));
            rest = &rest[end + 1..];
        }
        path.push_str(rest);
        path.push_str(&format!("?partitionGlobalId={bo}&key=k1&name=Welcome"));
        let (status, v) = h
            .call(&token, route.method.clone(), &path, Some(body.clone()))
            .await;
        // A route with no id in its path (`GET /odata/Users`, `POST
        // /odata/Roles`, `POST /identity/api/Group`), under A's own names,
        // acts on A: it may succeed or refuse as for A, showing A's rows
        // only; a body naming B's partition is refused with 404, unless
        // the route takes no partition (then it acts on A: 2xx, or 409 for
        // a name A already has).
        let names_b = body["partitionGlobalId"] == json!(bo);
        if !route.path.contains('{') && names != Some(b_names) {
            if names_b {
                assert!(
                    status.is_success()
                        || status == StatusCode::NOT_FOUND
                        || status == StatusCode::CONFLICT,
                    "{} {path} answered {status}: {v}",
                    route.method,
                );
            }
            assert!(
                status != StatusCode::FORBIDDEN && !status.is_server_error(),
                "{} {path} answered {status}: {v}",
                route.method,
            );
            let text = v.to_string();
            for id in [
                &bo,
                &user.id.to_string(),
                &group.id.to_string(),
                &robot.id.to_string(),
                &role.id.to_string(),
                &app.to_string(),
                &tpl.id.to_string(),
            ] {
                assert!(
                    !text.contains(id.as_str()),
                    "{} {} shows organization B's {id}",
                    route.method,
                    route.path
                );
            }
        } else {
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{} {path} answered {status}: {v}",
                route.method,
            );
        }
        assert_eq!(
            dump(s, b.id, user.id).await,
            before,
            "{} {path} changed organization B",
            route.method,
        );
    }
    // Nothing A did revoked B's access token.
    let path = format!("/identity/api/Group/{bo}");
    assert_eq!(h.status(&b_token, Method::GET, &path).await, StatusCode::OK);
}

#[tokio::test]
async fn odata_users_and_roles_follow_seed_004() {
    let (h, a, t) = signed_in().await;
    let s = &h.store;
    let alice = s.create_user(a.id, "alice", "Alice", None).await.unwrap();
    let bob = s.create_user(a.id, "bob", "Bob", None).await.unwrap();
    s.create_robot_account(a.id, "bot", "Bot").await.unwrap();
    let r1 = s.create_role(a.id, "Admins", &[]).await.unwrap().id;
    let r2 = s.create_role(a.id, "Rover", &[]).await.unwrap().id;
    let r3 = s.create_role(a.id, "Viewer", &[]).await.unwrap().id;

    let (st, v) = h
        .call(&t, Method::GET, "/odata/Users?$filter=(Type eq 'User' and startswith(UserName,'a')) or UserName eq 'bot'&$orderby=UserName desc&$count=true&$top=1", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["@odata.count"], 2);
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert_eq!(v["value"][0]["UserName"], "bot");
    let (_, v) = h
        .call(
            &t,
            Method::GET,
            "/odata/Roles?$filter=contains(Name,'ove') and Name ne 'Viewer'&$skip=0",
            None,
        )
        .await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Rover"]);
    let (st, v) = h
        .call(
            &t,
            Method::GET,
            "/odata/Users?$filter=UserName gt 'a'",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position 9"),
        "{v}"
    );

    let key = format!("/odata/Users({})", alice.id);
    let (st, _) = h
        .post(
            &t,
            &format!("{key}/UiPath.Server.Configuration.OData.ChangeUserCulture"),
            json!({ "culture": "ja" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        s.user_culture(a.id, alice.id).await.unwrap().as_deref(),
        Some("ja")
    );

    let provision = json!({ "RobotProvision": { "UserName": "uipath\\john.smith", "RobotId": 53, "RobotType": "Development", "ExecutionSettings": {} } });
    assert_eq!(
        h.call(&t, Method::PUT, &key, Some(provision)).await.0,
        StatusCode::OK
    );
    assert!(
        s.list_robot_accounts(a.id, None)
            .await
            .unwrap()
            .iter()
            .any(|r| r.name == "uipath\\john.smith")
    );

    // Seed 004's table: {1, 2} then AssignRoles [1, 3] gives {1, 3}.
    let assign = format!("{key}/UiPath.Server.Configuration.OData.AssignRoles");
    s.assign_roles(a.id, alice.id.0, &[r1, r2]).await.unwrap();
    let (st, _) = h
        .post(
            &t,
            &assign,
            json!({ "roleIds": [r1.to_string(), r3.to_string()] }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let mut want = vec![r1, r3];
    want.sort();
    assert_eq!(s.roles_of(a.id, alice.id.0).await.unwrap(), want);

    assert_eq!(
        h.status(&t, Method::DELETE, &format!("/odata/Users({})", bob.id))
            .await,
        StatusCode::NO_CONTENT
    );
    assert!(s.get_user(a.id, bob.id).await.unwrap().is_none());
}

/// Brute force: wrong passwords are recorded, and after five failures even
/// the right password is refused (429) and recorded as a failure.
#[tokio::test]
async fn repeated_bad_passwords_are_recorded_and_throttled() {
    let (h, a, t) = signed_in().await;
    let u = h.user(&a, "carol").await;
    h.store
        .set_user_password_hash(a.id, u.id, &plugboard_identity::hash_secret("Secret#123"))
        .await
        .unwrap();
    let pw = format!("/identity/api/User/{}/changepassword", u.id);
    for _ in 0..5 {
        let body = json!({ "oldPassword": "guess", "newPassword": "Another#123" });
        assert_eq!(
            h.call(&t, Method::POST, &pw, Some(body)).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let body = json!({ "oldPassword": "Secret#123", "newPassword": "Another#123" });
    assert_eq!(
        h.call(&t, Method::POST, &pw, Some(body)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let attempts = h.store.list_login_attempts(a.id, u.id).await.unwrap();
    assert_eq!(attempts.len(), 6);
    assert!(attempts.iter().all(|a| !a.succeeded));
}

impl Host {
    /// Client-credentials token for a registered client id and secret.
    async fn token_for(&self, client_id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/identity/connect/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn unknown_client_and_wrong_secret_get_the_same_answer() {
    let h = host().await;
    let a = h.org("a").await;
    let wrong = h.token_for(&a.client_id, "wrong-secret").await;
    let unknown = h.token_for("no-such-client", "wrong-secret").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown.text().await.unwrap(), wrong.text().await.unwrap());
}

/// Register, list, use, rotate, narrow and delete an external application
/// over HTTP; the secret appears in the register and rotate answers only,
/// and only its argon2 hash is stored.
#[tokio::test]
async fn external_applications_are_registered_rotated_and_deleted_over_http() {
    let (h, a, t) = signed_in().await;
    let p = a.id.to_string();
    let body = json!({ "partitionGlobalId": p, "name": "reporting", "scopes": ["PM.User.Read", "PM.Group.Read"] });
    let (s, app) = h
        .call(
            &t,
            Method::POST,
            "/identity/api/ExternalApplication",
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    let (id, client_id) = (
        app["id"].as_str().unwrap().to_owned(),
        app["clientId"].as_str().unwrap().to_owned(),
    );
    let secret = app["clientSecret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);
    let stored = h
        .store
        .find_external_app(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret_hash.starts_with("$argon2"));
    assert!(!stored.secret_hash.contains(&secret));

    let (s, list) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/ExternalApplication/{p}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = list.to_string();
    assert!(!text.contains(&secret) && !text.contains("clientSecret") && !text.contains("argon2"));
    let (s, one) = h
        .call(
            &t,
            Method::GET,
            &format!("/identity/api/ExternalApplication/{p}/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (s, one["name"].clone(), one["scopes"].clone()),
        (
            StatusCode::OK,
            json!("reporting"),
            json!(["PM.User.Read", "PM.Group.Read"])
        )
    );

    // The new application works, with its own scopes only.
    let r = h.token_for(&client_id, &secret).await;
    let v: Value = r.json().await.unwrap();
    let app_token = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(v["scope"], "PM.User.Read PM.Group.Read");
    let groups = format!("/identity/api/Group/{p}");
    assert_eq!(
        h.status(&app_token, Method::GET, &groups).await,
        StatusCode::OK
    );

    // Rotation: a new secret, the old one and its tokens stop working.
    let (s, rotated) = h
        .call(
            &t,
            Method::POST,
            &format!("/identity/api/ExternalApplication/{id}/rotateSecret"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_secret = rotated["clientSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(
        h.token_for(&client_id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.status(&app_token, Method::GET, &groups).await,
        StatusCode::UNAUTHORIZED
    );
    let r = h.token_for(&client_id, &new_secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    let app_token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Narrowing the scopes revokes the tokens that carry the old ones.
    let (s, updated) = h
        .put(
            &t,
            &format!("/identity/api/ExternalApplication/{id}"),
            json!({ "partitionGlobalId": p, "name": "reporting-2", "scopes": ["PM.User.Read"] }),
        )
        .await;
    assert_eq!(
        (s, updated["name"].clone(), updated["scopes"].clone()),
        (
            StatusCode::OK,
            json!("reporting-2"),
            json!(["PM.User.Read"])
        )
    );
    assert_eq!(
        h.status(&app_token, Method::GET, &groups).await,
        StatusCode::UNAUTHORIZED
    );
    let r = h.token_for(&client_id, &new_secret).await;
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "PM.User.Read");

    let s = h
        .status(
            &t,
            Method::DELETE,
            &format!("/identity/api/ExternalApplication/{p}/{id}"),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = h.token_for(&client_id, &new_secret).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        h.store
            .find_external_app(&client_id)
            .await
            .unwrap()
            .is_none()
    );
    let s = h
        .status(
            &t,
            Method::DELETE,
            &format!("/identity/api/ExternalApplication/{p}/{id}"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// An application cannot register one with a scope it lacks (403 naming
/// it) or with a scope that does not exist (400 listing the real ones);
/// neither creates anything.
#[tokio::test]
async fn an_application_cannot_grant_scopes_it_lacks_or_that_do_not_exist() {
    let h = host().await;
    let a = h.org("a").await;
    let t = h
        .token(&a, Some("PM.ExternalApplication.Write PM.User.Read"))
        .await;
    let p = a.id.to_string();
    let before = h.store.list_external_apps(a.id).await.unwrap();

    let (s, v) = h
        .post(&t, "/identity/api/ExternalApplication", json!({ "partitionGlobalId": p, "name": "x", "scopes": ["PM.User.Read", "PM.User.Write"] }))
        .await;
    assert_eq!(
        (s, v["scope"].clone()),
        (StatusCode::FORBIDDEN, json!("PM.User.Write"))
    );
    let (s, v) = h
        .post(
            &t,
            "/identity/api/ExternalApplication",
            json!({ "partitionGlobalId": p, "name": "x", "scopes": ["PM.Everything.Read"] }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("`PM.Everything.Read` does not exist") && msg.contains("PM.User.Read"),
        "{msg}"
    );
    let (s, v) = h
        .post(
            &t,
            "/identity/api/ExternalApplication",
            json!({ "partitionGlobalId": p, "scopes": [] }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("`name`"), "{v}");
    assert_eq!(h.store.list_external_apps(a.id).await.unwrap(), before);

    // Within its own scopes it may.
    let (s, _) = h
        .post(
            &t,
            "/identity/api/ExternalApplication",
            json!({ "partitionGlobalId": p, "name": "x", "scopes": ["PM.User.Read"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn roles_are_created_updated_and_deleted_over_odata() {
    let (h, a, t) = signed_in().await;
    let alice = h.user(&a, "alice").await;

    let (s, role) = h
        .post(
            &t,
            "/odata/Roles",
            json!({ "Name": "Auditor", "Permissions": ["Audit.View", "Users.View"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    let id = role["Key"].as_str().unwrap().to_owned();
    let number = role["Id"].as_i64().unwrap();
    let (_, v) = h
        .call(
            &t,
            Method::GET,
            "/odata/Roles?$filter=Name eq 'Auditor'",
            None,
        )
        .await;
    assert_eq!(
        v["value"][0]["Permissions"],
        json!(["Audit.View", "Users.View"])
    );

    // A permission the store could not keep apart is refused; nothing changes.
    let before = h.store.list_roles(a.id).await.unwrap();
    let (s, v) = h
        .put(
            &t,
            &format!("/odata/Roles({id})"),
            json!({ "Name": "Auditor", "Permissions": ["Audit View"] }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`Audit View`"),
        "{v}"
    );
    let (s, v) = h
        .post(&t, "/odata/Roles", json!({ "Name": "Auditor" }))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(h.store.list_roles(a.id).await.unwrap(), before);

    let (s, v) = h
        .put(
            &t,
            &format!("/odata/Roles('{id}')"),
            json!({ "Name": "Auditors", "Permissions": ["Audit.View"] }),
        )
        .await;
    assert_eq!(
        (s, v["Name"].clone(), v["Permissions"].clone()),
        (StatusCode::OK, json!("Auditors"), json!(["Audit.View"]))
    );

    let rid: uuid::Uuid = id.parse().unwrap();
    h.store
        .assign_roles(a.id, alice.id.0, &[rid])
        .await
        .unwrap();
    let s = h
        .status(&t, Method::DELETE, &format!("/odata/Roles({id})"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        h.store
            .list_roles(a.id)
            .await
            .unwrap()
            .iter()
            .all(|r| r.id != rid)
    );
    assert!(h.store.roles_of(a.id, alice.id.0).await.unwrap().is_empty());
    // Gone by its number too; built-in roles are neither changed nor deleted.
    let s = h
        .status(&t, Method::GET, &format!("/odata/Roles({number})"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let admin = h
        .store
        .list_roles(a.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.builtin.is_some())
        .unwrap();
    let (s, v) = h
        .put(
            &t,
            &format!("/odata/Roles({})", admin.number),
            json!({ "Name": "Boss", "Permissions": [] }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let s = h
        .status(
            &t,
            Method::DELETE,
            &format!("/odata/Roles({})", admin.number),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(h.store.list_roles(a.id).await.unwrap().contains(&admin));
    let s = h
        .status(&t, Method::DELETE, &format!("/odata/Roles({id})"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// `AssignRoles` takes the integer ids `/odata/Roles` shows (or the
/// keys); an id that is neither a number nor a string is a 400, and a role
/// id of another organization is 404 — and neither changes the role set.
#[tokio::test]
async fn assign_roles_refuses_ids_that_are_not_the_organizations_roles() {
    let (h, a, t) = signed_in().await;
    let b = h.org("b").await;
    let alice = h.user(&a, "alice").await;
    let r1 = h.store.create_role(a.id, "r1", &[]).await.unwrap();
    let foreign = h.store.create_role(b.id, "r1", &[]).await.unwrap();
    h.store
        .assign_roles(a.id, alice.id.0, &[r1.id])
        .await
        .unwrap();
    let path = format!(
        "/odata/Users({})/UiPath.Server.Configuration.OData.AssignRoles",
        alice.id
    );
    for (body, want) in [
        (json!({ "roleIds": [1.5] }), StatusCode::BAD_REQUEST),
        (json!({ "roleIds": [{ "Id": 1 }] }), StatusCode::BAD_REQUEST),
        (
            json!({ "roleIds": [foreign.id.to_string()] }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "roleIds": [r1.number, 999_999] }),
            StatusCode::NOT_FOUND,
        ),
        // Alice's own number is not a role's.
        (
            json!({ "roleIds": [h.store.user_number(a.id, alice.id).await.unwrap()] }),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, v) = h.post(&t, &path, body.clone()).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    assert_eq!(h.store.roles_of(a.id, alice.id.0).await.unwrap(), [r1.id]);
}

#[tokio::test]
async fn message_templates_are_created_and_deleted() {
    let (h, a, t) = signed_in().await;
    let p = a.id.to_string();
    let (s, tpl) = h
        .post(
            &t,
            "/identity/api/MessageTemplate",
            json!({ "partitionGlobalId": p, "name": "Welcome", "value": "Hello {{name}}" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tpl}");
    let id = tpl["id"].as_str().unwrap().to_owned();
    let (_, found) = h
        .call(
            &t,
            Method::GET,
            "/identity/api/MessageTemplate?name=Welcome",
            None,
        )
        .await;
    assert_eq!(
        found,
        json!([{ "id": id, "name": "Welcome", "value": "Hello {{name}}" }])
    );

    // A second template of that name, or one without a name: refused, nothing added.
    let (s, _) = h
        .post(
            &t,
            "/identity/api/MessageTemplate",
            json!({ "name": "Welcome", "value": "again" }),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = h
        .post(
            &t,
            "/identity/api/MessageTemplate",
            json!({ "name": " ", "value": "x" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("`name`"));
    let templates = h
        .store
        .find_message_templates(a.id, None, None)
        .await
        .unwrap();
    // Welcome, and the organization's default templates.
    assert_eq!(
        templates.len(),
        1 + plugboard_store::BUILT_IN_TEMPLATES.len()
    );

    let path = format!("/identity/api/MessageTemplate/{id}");
    assert_eq!(
        h.status(&t, Method::DELETE, &path).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.status(&t, Method::GET, &path).await,
        StatusCode::NOT_FOUND
    );
    // A default template can be edited, not deleted.
    let default = templates.iter().find(|t| t.builtin.is_some()).unwrap();
    let path = format!("/identity/api/MessageTemplate/{}", default.id);
    let (s, v) = h
        .put(&t, &path, json!({ "value": "Hi {{displayName}}" }))
        .await;
    assert_eq!(
        (s, v["value"].clone()),
        (StatusCode::OK, json!("Hi {{displayName}}"))
    );
    let (s, v) = h.call(&t, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(h.status(&t, Method::GET, &path).await, StatusCode::OK);
}

/// Every malformed or unsupported OData query is a 400 whose message names
/// the option and the position of the problem.
#[tokio::test]
async fn bad_odata_queries_are_400_with_the_position() {
    let (h, _, t) = signed_in().await;
    let cases = [
        (
            "/odata/Users?$filter=UserName eq 'open",
            "$filter at position 12",
        ),
        (
            "/odata/Users?$filter=tolower(UserName) eq 'a'",
            "$filter at position 0",
        ),
        (
            "/odata/Users?$filter=(Type eq 'User'",
            "$filter at position 15",
        ),
        (
            "/odata/Roles?$filter=Name eq 'a' xor",
            "$filter at position 12",
        ),
        ("/odata/Roles?$filter=Name eq", "$filter at position 7"),
        (
            "/odata/Users?$orderby=UserName sideways",
            "$orderby at position 0",
        ),
        ("/odata/Users?$top=-1", "$top at position 0"),
        ("/odata/Users?$expand=Folders", "$expand at position 0"),
        ("/odata/Roles?$expand=Roles", "$expand at position 0"),
        (
            "/odata/Users?$select=Id",
            "option `$select` is not supported",
        ),
        ("/odata/Users(1)?$top=1", "apply to lists"),
    ];
    for (path, want) in cases {
        let (s, v) = h.call(&t, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}");
        // OData routes answer OData's error format.
        let v = &v["error"];
        assert_eq!(v["code"], "bad_request");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(want), "{path}: {msg}");
    }
}

/// Seed 003's user endpoints, the checks that happen before anything is
/// written: a bulk create with one bad entry creates nobody, a delete-many
/// naming one unknown user deletes nobody, a body that is not JSON is a 400.
#[tokio::test]
async fn user_writes_are_all_or_nothing_and_bad_bodies_say_why() {
    let (h, a, t) = signed_in().await;
    let p = a.id.to_string();
    let (s, u) = h
        .post(&t, "/identity/api/User", json!({ "partitionGlobalId": p, "userName": "jane", "displayName": "Jane Doe", "email": "jane@example.com" }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = u["id"].as_str().unwrap().to_owned();
    let (s, got) = h
        .call(&t, Method::GET, &format!("/identity/api/User/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        got,
        json!({ "id": id, "userName": "jane", "displayName": "Jane Doe", "email": "jane@example.com", "partitionGlobalId": p })
    );

    let (s, v) = h
        .post(
            &t,
            "/identity/api/User/BulkCreate",
            json!({ "users": [
            { "partitionGlobalId": p, "userName": "u1", "password": "Long#enough1" },
            { "partitionGlobalId": p, "userName": "u2", "password": "short" } ] }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("8 characters"));
    assert!(h.store.find_user(a.id, "u1").await.unwrap().is_none());

    let unknown = "00000000-0000-0000-0000-000000000000";
    let (s, _) = h
        .call(
            &t,
            Method::DELETE,
            "/identity/api/User",
            Some(json!({ "userIds": [id, unknown] })),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(h.store.list_users(a.id).await.unwrap().len(), 1);

    let r = h
        .http
        .post(format!("{}/identity/api/User", h.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body"),
        "{v}"
    );
    assert_eq!(h.store.list_users(a.id).await.unwrap().len(), 1);
}

/// Found by schemathesis: creating a user named like one who still owns
/// connections (the overwrite deletes the old user first), or deleting
/// them, was a 500 that had already dropped their group memberships. It
/// is a 409 saying what to do, and nothing changes.
#[tokio::test]
async fn a_user_who_owns_connections_is_neither_overwritten_nor_deleted() {
    let (h, a, t) = signed_in().await;
    let tenant = h.store.create_tenant(a.id, "t").await.unwrap();
    let alice = h.user(&a, "alice").await;
    let bob = h.user(&a, "bob").await;
    let group = h
        .store
        .create_group(a.id, "ops", &[alice.id.0])
        .await
        .unwrap();
    let folder = h
        .store
        .personal_folder(&tenant.scope(), alice.id)
        .await
        .unwrap();
    h.store
        .create_connection(
            &tenant.scope(),
            plugboard_store::NewConnection::new(
                folder.id,
                "zoom",
                "oauth2_authorization_code",
                "Zoom",
            ),
        )
        .await
        .unwrap();
    let p = a.id.to_string();
    let attempts = [
        (
            Method::POST,
            "/identity/api/User".to_owned(),
            Some(json!({ "partitionGlobalId": p, "userName": "alice" })),
        ),
        (
            Method::DELETE,
            format!("/identity/api/User/{}", alice.id),
            None,
        ),
        (
            Method::DELETE,
            "/identity/api/User".to_owned(),
            // Bob first: he must still be there afterwards.
            Some(json!({ "userIds": [bob.id.to_string(), alice.id.to_string()] })),
        ),
        (Method::DELETE, format!("/odata/Users({})", alice.id), None),
    ];
    for (method, path, body) in attempts {
        let (s, v) = h.call(&t, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{method} {path}: {v}");
        assert!(
            v.to_string().contains("delete those connections first"),
            "{v}"
        );
    }
    assert_eq!(
        h.store
            .find_user(a.id, "alice")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(alice.id)
    );
    assert!(h.store.get_user(a.id, bob.id).await.unwrap().is_some());
    assert_eq!(
        h.store
            .get_group(a.id, group.id)
            .await
            .unwrap()
            .unwrap()
            .members,
        [alice.id.0]
    );
}
