//! The identity routes over real HTTP: an axum server on a loopback port
//! over an SQLite store in a temporary directory, called with reqwest.

use std::time::Duration;

use plugboard_identity::{IdentityState, ROUTES, register_external_app, required_scope};
use plugboard_store::{OrganizationId, Store, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ALL_SCOPES: &[&str] = &[
    "PM.Audit.Read",
    "PM.Audit.Write",
    "PM.Group.Read",
    "PM.Group.Write",
    "PM.MessageTemplate.Read",
    "PM.MessageTemplate.Write",
    "PM.RobotAccount.Read",
    "PM.RobotAccount.Write",
    "PM.Setting.Read",
    "PM.Setting.Write",
    "PM.User.Read",
    "PM.User.Write",
    "PM.UserLoginAttempt.Read",
    "PM.UserLoginAttempt.Write",
    "OR.Users.Read",
    "OR.Users.Write",
    "OR.Roles.Read",
    "OR.Roles.Write",
];

struct Org {
    id: OrganizationId,
    client_id: String,
    secret: String,
}

struct Host {
    _dir: tempfile::TempDir,
    store: Store,
    base: String,
    http: reqwest::Client,
}

async fn host_with_ttl(ttl: Duration) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path(), None).await.unwrap();
    let mut state = IdentityState::new(store.clone());
    state.token_ttl = ttl;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = plugboard_identity::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Host {
        _dir: dir,
        store,
        base,
        http: reqwest::Client::new(),
    }
}

async fn host() -> Host {
    host_with_ttl(Duration::from_secs(3600)).await
}

impl Host {
    async fn org(&self, name: &str) -> Org {
        let id = self.store.create_organization(name).await.unwrap().id;
        let (client_id, secret) = register_external_app(&self.store, id, "automation", ALL_SCOPES)
            .await
            .unwrap();
        Org {
            id,
            client_id,
            secret,
        }
    }

    async fn token_response(
        &self,
        org: &Org,
        secret: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", org.client_id.as_str()),
            ("client_secret", secret),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.http
            .post(format!("{}/identity/connect/token", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, org: &Org, scope: Option<&str>) -> String {
        let r = self.token_response(org, &org.secret, scope).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

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
    assert_eq!(
        h.call(&read, Method::GET, &path, None).await.0,
        StatusCode::OK
    );
    let body = json!({ "partitionGlobalId": a.id.to_string(), "name": "ops" });
    let (s, v) = h
        .call(&read, Method::POST, "/identity/api/Group", Some(body))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["scope"], "PM.Group.Write");
    assert!(v["message"].as_str().unwrap().contains("PM.Group.Write"));
    assert_eq!(
        h.call("not-a-token", Method::GET, &path, None).await.0,
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
        expired.call(&t, Method::GET, &path, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Each PM scope opens exactly the routes whose resource + method derive
/// it; every other route answers 403.
#[tokio::test]
async fn scope_matrix_each_scope_allows_exactly_its_routes() {
    let h = host().await;
    let a = h.org("a").await;
    for scope in ALL_SCOPES {
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
    let h = host().await;
    let a = h.org("a").await;
    let t = h.token(&a, None).await;
    let p = a.id.to_string();
    let user = h
        .store
        .create_user(a.id, "alice", "Alice", None)
        .await
        .unwrap();

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
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 1));
    let (s, g) = h
        .call(
            &t,
            Method::PUT,
            &format!("/identity/api/Group/{gid}"),
            Some(json!({ "partitionGlobalId": p, "name": "Operations", "members": [] })),
        )
        .await;
    assert_eq!(
        (s, g["name"].clone(), g["members"].clone()),
        (StatusCode::OK, json!("Operations"), json!([]))
    );
    assert_eq!(
        h.call(
            &t,
            Method::GET,
            &format!("/identity/api/Group/{p}/{gid}"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        h.call(
            &t,
            Method::DELETE,
            &format!("/identity/api/Group/{p}/{gid}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(
            &t,
            Method::GET,
            &format!("/identity/api/Group/{p}/{gid}"),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    h.call(
        &t,
        Method::POST,
        "/identity/api/Group",
        Some(json!({ "partitionGlobalId": p, "name": "x" })),
    )
    .await;
    assert_eq!(
        h.call(
            &t,
            Method::DELETE,
            &format!("/identity/api/Group/{p}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(&t, Method::GET, &format!("/identity/api/Group/{p}"), None)
            .await
            .1,
        json!([])
    );

    let (s, r) = h
        .call(
            &t,
            Method::POST,
            "/identity/api/RobotAccount",
            Some(json!({ "partitionGlobalId": p, "name": "bot1", "displayName": "Bot 1" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let rid = r["id"].as_str().unwrap().to_owned();
    let (s, r) = h
        .call(
            &t,
            Method::PUT,
            &format!("/identity/api/RobotAccount/{rid}"),
            Some(json!({ "partitionGlobalId": p, "displayName": "Bot One" })),
        )
        .await;
    assert_eq!(
        (s, r["displayName"].clone()),
        (StatusCode::OK, json!("Bot One"))
    );
    assert_eq!(
        h.call(
            &t,
            Method::GET,
            &format!("/identity/api/RobotAccount/{p}/{rid}"),
            None
        )
        .await
        .0,
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
        h.call(
            &t,
            Method::DELETE,
            &format!("/identity/api/RobotAccount/{p}/{rid}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(
            &t,
            Method::DELETE,
            &format!("/identity/api/RobotAccount/{p}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    let (s, v) = h
        .call(
            &t,
            Method::PUT,
            "/identity/api/Setting",
            Some(json!({ "partitionGlobalId": p, "settings": [
            { "key": "Governance.SharedConnections.CreatorRole", "value": "Administrators" },
            { "key": "Governance.AllowedConnectors", "value": "zoom,pat" } ] })),
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
        .call(
            &t,
            Method::PUT,
            &format!("/identity/api/MessageTemplate/{}", tpl.id),
            Some(json!({ "value": "Bonjour {{name}}" })),
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
    let h = host().await;
    let a = h.org("a").await;
    let t = h.token(&a, None).await;
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
        h.call(&t, Method::GET, &format!("/identity/api/User/{old}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let id = second["id"].as_str().unwrap().to_owned();

    let (s, v) = h
        .call(&t, Method::POST, "/identity/api/User/BulkCreate", Some(json!({ "users": [
            { "partitionGlobalId": p, "userName": "u1" }, { "partitionGlobalId": p, "userName": "u2" } ] })))
        .await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::CREATED, 2));

    let pw = format!("/identity/api/User/{id}/changepassword");
    let (s, _) = h
        .call(
            &t,
            Method::POST,
            &pw,
            Some(json!({ "oldPassword": "nope", "newPassword": "Another#123" })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .call(
            &t,
            Method::POST,
            &pw,
            Some(json!({ "oldPassword": "Secret#123", "newPassword": "Another#123" })),
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
        .call(
            &t,
            Method::PUT,
            &format!("/identity/api/User/{id}"),
            Some(json!({ "name": "Johnny", "surname": "Smith" })),
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
        h.call(
            &t,
            Method::DELETE,
            &format!("/identity/api/User/{id}"),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert!(h.store.list_users(a.id).await.unwrap().is_empty());
}

/// Organization B's identity rows, as text, to compare before and after.
async fn dump(store: &Store, org: OrganizationId, user: UserId) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
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
    s.record_login_attempt(b.id, user.id, true, "console")
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

    let bo = b.id.to_string();
    let value = |name: &str| -> String {
        match name {
            "organizationId" | "partitionGlobalId" => bo.clone(),
            "groupId" => group.id.to_string(),
            "robotAccountId" => robot.id.to_string(),
            "templateId" => tpl.id.to_string(),
            "userId" | "key" => user.id.to_string(),
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
    });
    let token = h.token(&a, None).await;
    let before = dump(s, b.id, user.id).await;
    assert!(ROUTES.len() >= 33);
    for route in ROUTES {
        let mut path = String::new();
        let mut rest = route.path;
        while let Some(start) = rest.find('{') {
            let end = start + rest[start..].find('}').unwrap();
            path.push_str(&rest[..start]);
            path.push_str(&value(&rest[start + 1..end]));
            rest = &rest[end + 1..];
        }
        path.push_str(rest);
        path.push_str(&format!("?partitionGlobalId={bo}&key=k1&name=Welcome"));
        let (status, v) = h
            .call(&token, route.method.clone(), &path, Some(body.clone()))
            .await;
        if route.method == Method::GET && !route.path.contains('{') && status == StatusCode::OK {
            // A collection named by the token alone (`/odata/Users`): A's rows only.
            let text = v.to_string();
            for id in [
                &bo,
                &user.id.to_string(),
                &group.id.to_string(),
                &robot.id.to_string(),
                &role.id.to_string(),
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
                "{} {} answered {status}: {v}",
                route.method,
                route.path
            );
        }
        assert_eq!(
            dump(s, b.id, user.id).await,
            before,
            "{} {} changed organization B",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn odata_users_and_roles_follow_seed_004() {
    let h = host().await;
    let a = h.org("a").await;
    let t = h.token(&a, None).await;
    let s = &h.store;
    let alice = s.create_user(a.id, "alice", "Alice", None).await.unwrap();
    let bob = s.create_user(a.id, "bob", "Bob", None).await.unwrap();
    s.create_robot_account(a.id, "bot", "Bot").await.unwrap();
    let r1 = s.create_role(a.id, "Administrator", &[]).await.unwrap().id;
    let r2 = s.create_role(a.id, "Robot", &[]).await.unwrap().id;
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
            "/odata/Roles?$filter=contains(Name,'ro') and Name ne 'Viewer'&$skip=0",
            None,
        )
        .await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Robot"]);
    let (st, v) = h
        .call(
            &t,
            Method::GET,
            "/odata/Users?$filter=UserName gt 'a'",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("position 9"), "{v}");

    let key = format!("/odata/Users({})", alice.id);
    let (st, _) = h
        .call(
            &t,
            Method::POST,
            &format!("{key}/UiPath.Server.Configuration.OData.ChangeUserCulture"),
            Some(json!({ "culture": "ja" })),
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
        .call(
            &t,
            Method::POST,
            &assign,
            Some(json!({ "roleIds": [r1.to_string(), r3.to_string()] })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let mut want = vec![r1, r3];
    want.sort();
    assert_eq!(s.roles_of(a.id, alice.id.0).await.unwrap(), want);

    assert_eq!(
        h.call(
            &t,
            Method::DELETE,
            &format!("/odata/Users({})", bob.id),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert!(s.get_user(a.id, bob.id).await.unwrap().is_none());
}

/// Brute force: wrong passwords are recorded, and after five failures even
/// the right password is refused (429) and recorded as a failure.
#[tokio::test]
async fn repeated_bad_passwords_are_recorded_and_throttled() {
    let h = host().await;
    let a = h.org("a").await;
    let t = h.token(&a, None).await;
    let u = h
        .store
        .create_user(a.id, "carol", "Carol", None)
        .await
        .unwrap();
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
