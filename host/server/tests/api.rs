//! The REST API against a real server on a loopback port, over real HTTP.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_token() {
    let t = start_server().await;
    let anon = Api::new(&t.base, None);
    let r = anon.get("/healthz").await;
    assert_eq!((r.status, r.body["status"].clone()), (200, json!("ok")));
    let r = anon.get("/readyz").await;
    assert_eq!((r.status, r.body["status"].clone()), (200, json!("ok")));
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_parses_and_lists_the_routes() {
    let t = start_server().await;
    let anon = Api::new(&t.base, None);
    let r = anon.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.body["openapi"]
    );
    let paths = r.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/v1/connectors", "get"),
        ("/api/v1/connectors", "post"),
        ("/api/v1/connectors/{id}", "get"),
        ("/api/v1/connectors/{id}", "delete"),
        ("/api/v1/connections", "get"),
        ("/api/v1/connections", "post"),
        ("/api/v1/connections/{id}", "get"),
        ("/api/v1/connections/{id}", "patch"),
        ("/api/v1/connections/{id}", "delete"),
        ("/api/v1/connections/{id}/default", "post"),
        ("/api/v1/connections/{id}/check", "post"),
        ("/api/v1/connections/{id}/reconnect", "post"),
        ("/api/v1/connections/{id}/references", "get"),
        ("/api/v1/connections/{id}/invoke/{operation}", "post"),
        ("/api/v1/invoke", "post"),
        ("/api/v1/folders", "get"),
        ("/api/v1/folders", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/settings", "put"),
        ("/api/v1/audit", "get"),
        ("/api/v1/settings/oauth-apps", "get"),
        ("/api/v1/settings/oauth-apps/{connector}", "put"),
        ("/api/v1/settings/oauth-apps/{connector}", "delete"),
        ("/provisioning_/callback", "get"),
        ("/api/v1/external-apps", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/triggers", "get"),
        ("/api/v1/triggers", "post"),
        ("/api/v1/triggers/{id}", "get"),
        ("/api/v1/triggers/{id}", "delete"),
        ("/api/v1/triggers/{id}/pause", "post"),
        ("/api/v1/triggers/{id}/resume", "post"),
        ("/api/v1/triggers/{id}/events", "get"),
        ("/api/v1/triggers/{id}/deliveries", "get"),
        ("/api/v1/triggers/{id}/replay", "post"),
        ("/api/v1/triggers/dead-letters", "get"),
        ("/api/v1/triggers/operator-events", "get"),
        ("/api/v1/triggers/operator-webhooks", "post"),
        ("/api/v1/triggers/operator-webhooks/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(r.body["components"]["schemas"]["ErrorBody"].is_object());
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
    // The console's cookie is declared too, as the alternative to the bearer
    // token on every operation that takes one.
    let session = &r.body["components"]["securitySchemes"]["session"];
    assert_eq!(
        (
            session["type"].as_str(),
            session["in"].as_str(),
            session["name"].as_str()
        ),
        (Some("apiKey"), Some("cookie"), Some("plugboard_session"))
    );
    let invoke = &paths["/api/v1/connections/{id}/invoke/{operation}"]["post"]["security"];
    assert_eq!(invoke, &json!([{ "bearer": [] }, { "session": [] }]));
    assert!(
        paths["/healthz"]["get"].get("security").is_none(),
        "open operations stay open"
    );

    let docs = reqwest::get(format!("{}/api/docs/", t.base)).await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "Swagger UI page"
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_401() {
    let t = start_server().await;
    for api in [
        Api::new(&t.base, None),
        Api::new(
            &t.base,
            Some("pb_0000000000000000000000000000000000000000000000000000000000000000"),
        ),
    ] {
        for path in [
            "/api/v1/connections",
            "/api/v1/connectors",
            "/api/v1/folders",
            "/api/v1/me",
        ] {
            let r = api.get(path).await;
            assert_error(&r, 401, "unauthorized");
        }
        let r = api
            .post("/api/v1/connections", json!({"connector": "pat"}))
            .await;
        assert_error(&r, 401, "unauthorized");
    }
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_writes_a_private_admin_token_and_answers_requests_with_ids() {
    let t = start_server().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&t.server.admin_token_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin token file must be 0600");
    }
    assert!(t.server.first_start);
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/me", t.base))
        .bearer_auth(&t.admin_token)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("x-request-id").is_some(),
        "every response carries a request id"
    );
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["is_admin"], true);
    assert!(me["personal_folder_id"].is_string());
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_writes_nothing() {
    let t = start_server().await;
    let fake = start_fake_api("good-token").await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    let r = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/connections",
            "application/json",
            b"{\"connector\": ".to_vec(),
        )
        .await;
    assert_error(&r, 400, "invalid_json");

    let r = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/connections",
            "text/plain",
            b"{}".to_vec(),
        )
        .await;
    assert_error(&r, 415, "unsupported_media_type");

    let r = api
        .post("/api/v1/connections", json!({"connector": "nope"}))
        .await;
    assert_error(&r, 404, "connector_not_found");

    let mut body = pat_body(&fake, "good-token");
    body["auth_kind"] = json!("oauth3");
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "invalid_auth_kind");

    let mut body = pat_body(&fake, "good-token");
    body["auth_kind"] = json!("oauth2_authorization_code");
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "auth_kind_not_supported");

    let mut body = pat_body(&fake, "good-token");
    body["credentials"] = json!({});
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "missing_credential_field");

    let mut body = pat_body(&fake, "good-token");
    body["config"]["colour"] = json!("blue");
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "unknown_config_field");

    let r = api
        .post(
            "/api/v1/connections",
            json!({"connector": "pat", "credentials": {"token": "x"}}),
        )
        .await;
    assert_error(&r, 400, "missing_config_field");

    let mut body = pat_body(&fake, "good-token");
    body["unexpected"] = json!(1);
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "invalid_json");

    let mut body = pat_body(&fake, "good-token");
    body["folder_id"] = json!("0190b8f4-0000-7000-8000-000000000000");
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 404, "folder_not_found");

    let mut body = pat_body(&fake, "good-token");
    body["folder_id"] = json!("not-a-uuid");
    let r = api.post("/api/v1/connections", body).await;
    assert_error(&r, 400, "invalid_json");

    let r = api
        .post("/api/v1/connections", pat_body(&fake, "wrong-token"))
        .await;
    assert_error(&r, 400, "credential_rejected");

    let huge = vec![b' '; 2 * 1024 * 1024];
    let r = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/connections",
            "application/json",
            huge,
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);

    let r = api.get("/api/v1/connections/not-a-uuid").await;
    assert_error(&r, 400, "invalid_id");
    let r = api
        .get("/api/v1/connections/0190b8f4-0000-7000-8000-000000000000")
        .await;
    assert_error(&r, 404, "connection_not_found");
    let r = api.get("/api/v1/connections?status=sleepy").await;
    assert_error(&r, 400, "invalid_status");

    let r = api.get("/api/v1/connections").await;
    assert_eq!(r.body["total"], 0, "nothing was written: {}", r.text);
    api.assert_never_returned("good-token");
    api.assert_never_returned("wrong-token");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pat_connection_lifecycle_end_to_end() {
    let t = start_server().await;
    let token = "pat-secret-7f3a9c";
    let fake = start_fake_api(token).await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    // Connectors: the bundled ones are there; pat has one auth type.
    let r = api.get("/api/v1/connectors").await;
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"pat") && ids.contains(&"zoom") && ids.contains(&"oauth2"),
        "{ids:?}"
    );
    let r = api.get("/api/v1/connectors/pat").await;
    assert_eq!(r.body["auth_kinds"], json!(["personal_access_token"]));

    // Create: no auth type given (the connector has one); account from the check.
    let r = api
        .post("/api/v1/connections", pat_body(&fake, token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.body["connection"].clone();
    let id1 = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["status"], "connected");
    assert_eq!(first["auth_kind"], "personal_access_token");
    assert_eq!(first["account"]["id"], "42");
    assert_eq!(first["account"]["display_name"], "Ada Lovelace");
    assert_eq!(
        first["is_default"], true,
        "the first connection of a connector in a folder is its default"
    );
    assert_eq!(
        first["config"]["header_name"], "Authorization",
        "defaults filled in"
    );

    // Invoke.
    let r = api
        .post(
            &format!("/api/v1/connections/{id1}/invoke/request"),
            json!({"path": "/items"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["status"], 200);
    assert_eq!(r.body["output"]["body"]["items"], json!(["a", "b", "c"]));

    // Unknown operation.
    let r = api
        .post(&format!("/api/v1/connections/{id1}/invoke/fly"), json!({}))
        .await;
    assert_error(&r, 404, "unknown_operation");
    // Bad input to the operation.
    let r = api
        .post(
            &format!("/api/v1/connections/{id1}/invoke/request"),
            json!({"method": "BREW", "path": "/"}),
        )
        .await;
    assert_error(&r, 400, "invalid_input");

    // Rename, then edit polling frequency.
    let r = api
        .patch(
            &format!("/api/v1/connections/{id1}"),
            json!({"name": "Ada's API"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["name"].clone()),
        (200, json!("Ada's API")),
        "{}",
        r.text
    );
    let r = api
        .patch(
            &format!("/api/v1/connections/{id1}"),
            json!({"polling_frequency_seconds": 300}),
        )
        .await;
    assert_eq!(r.body["polling_frequency_seconds"], 300, "{}", r.text);
    assert_eq!(r.body["name"], "Ada's API");
    // Connector, account and auth type are read-only.
    for field in ["connector", "account", "auth_kind"] {
        let r = api
            .patch(&format!("/api/v1/connections/{id1}"), json!({ field: "x" }))
            .await;
        assert_error(&r, 400, "read_only_field");
    }
    let r = api
        .patch(
            &format!("/api/v1/connections/{id1}"),
            json!({"polling_frequency_seconds": 5}),
        )
        .await;
    assert_error(&r, 400, "invalid_polling_frequency");

    // A second connection to the same connector in the same folder.
    let mut body = pat_body(&fake, token);
    body["name"] = json!("second");
    let r = api.post("/api/v1/connections", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id2 = r.body["connection"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["connection"]["is_default"], false);

    // The default is used when the caller names no connection.
    let r = api
        .post(
            "/api/v1/invoke",
            json!({"connector": "pat", "operation": "request", "input": {"path": "/items"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connection_id"], json!(id1));
    // Set the second as default: exactly one default.
    let r = api
        .post(&format!("/api/v1/connections/{id2}/default"), json!(null))
        .await;
    assert_eq!(
        (r.status, r.body["is_default"].clone()),
        (200, json!(true)),
        "{}",
        r.text
    );
    let r = api.get("/api/v1/connections?connector=pat").await;
    let defaults: Vec<&Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], json!(id2));
    let r = api
        .post(
            "/api/v1/invoke",
            json!({"connector": "pat", "operation": "request", "input": {"path": "/items"}}),
        )
        .await;
    assert_eq!(r.body["connection_id"], json!(id2), "{}", r.text);
    // ...unless the caller names one.
    let r = api
        .post("/api/v1/invoke", json!({"connector": "pat", "operation": "request", "input": {"path": "/items"}, "connection_id": id1}))
        .await;
    assert_eq!(r.body["connection_id"], json!(id1), "{}", r.text);

    // The input reaches the connector as sent, so it is checked to be one
    // JSON value first: a cut-off body or trailing text is a 400.
    let invoke_path = format!("/api/v1/connections/{id1}/invoke/request");
    for body in [&b"{\"path\": \"/ite"[..], b"{\"path\": \"/items\"} {}"] {
        let r = api
            .raw(
                reqwest::Method::POST,
                &invoke_path,
                "application/json",
                body.to_vec(),
            )
            .await;
        assert_error(&r, 400, "invalid_json");
    }
    // Whitespace around it is not part of the value.
    let r = api
        .raw(
            reqwest::Method::POST,
            &invoke_path,
            "application/json",
            b" \n{\"path\": \"/items\"}\n".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["status"], 200, "{}", r.text);
    // No `input` means `null`, which the connector refuses in its own words.
    let r = api
        .post(
            "/api/v1/invoke",
            json!({"connector": "pat", "operation": "request", "connection_id": id1}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Check: the provider now refuses the token → Disconnected with messages.
    *fake.token.lock().unwrap() = "rotated-elsewhere".into();
    let r = api
        .post(&format!("/api/v1/connections/{id1}/check"), json!(null))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.body["connection"]["status"], "disconnected");
    assert!(
        r.body["connection"]["message"]
            .as_str()
            .unwrap()
            .contains("Reconnect"),
        "{}",
        r.text
    );
    assert!(
        r.body["connection"]["provider_error"].is_string(),
        "{}",
        r.text
    );
    // Reconnect with a wrong token changes nothing; with the right one, same id, connected.
    let r = api
        .post(
            &format!("/api/v1/connections/{id1}/reconnect"),
            json!({"credentials": {"token": "nope"}}),
        )
        .await;
    assert_error(&r, 400, "credential_rejected");
    let r = api
        .post(
            &format!("/api/v1/connections/{id1}/reconnect"),
            json!({"credentials": {"token": "rotated-elsewhere"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connection"]["id"], json!(id1));
    assert_eq!(r.body["connection"]["status"], "connected");
    assert_eq!(
        r.body["connection"]["name"], "Ada's API",
        "reconnect keeps the connection"
    );

    // Filter by status.
    let r = api.get("/api/v1/connections?status=connected").await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let r = api.get("/api/v1/connections?status=disconnected").await;
    assert_eq!(r.body["total"], 0, "{}", r.text);

    // Delete: refused while referenced, listing the references; then forced.
    let r = api
        .post(
            &format!("/api/v1/connections/{id2}/references"),
            json!({"kind": "process", "id": "p-1", "name": "Invoice bot"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api.delete(&format!("/api/v1/connections/{id2}")).await;
    assert_error(&r, 409, "connection_referenced");
    assert!(r.body["message"].as_str().unwrap().contains("Invoice bot"));
    assert_eq!(r.body["details"]["references"][0]["id"], "p-1");
    let r = api
        .delete(&format!("/api/v1/connections/{id2}?force=true"))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The remaining connection becomes the default again.
    let r = api.get(&format!("/api/v1/connections/{id1}")).await;
    assert_eq!(r.body["is_default"], true, "{}", r.text);
    let r = api.delete(&format!("/api/v1/connections/{id1}")).await;
    assert_eq!(r.status, 204);
    let r = api.get(&format!("/api/v1/connections/{id1}")).await;
    assert_error(&r, 404, "connection_not_found");

    // The audit log saw it all.
    assert_audited(
        &api,
        &[
            "connection.create",
            "connection.edit",
            "connection.set_default",
            "connection.check",
            "connection.reconnect",
            "connection.delete_forced",
            "connection.delete",
        ],
    )
    .await;

    api.assert_never_returned(token);
    api.assert_never_returned("rotated-elsewhere");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_cannot_see_or_touch_connections() {
    let t = start_server().await;
    let fake = start_fake_api("tok-a").await;
    let a = Api::new(&t.base, Some(&t.admin_token));
    let r = a
        .post("/api/v1/connections", pat_body(&fake, "tok-a"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    let folder = r.body["connection"]["folder_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, token_b) = t.server.create_tenant("tenant-b").await.unwrap();
    let b = Api::new(&t.base, Some(&token_b));
    let r = b.get("/api/v1/connections").await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert_error(
        &b.get(&format!("/api/v1/connections/{id}")).await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.patch(
            &format!("/api/v1/connections/{id}"),
            json!({"name": "mine"}),
        )
        .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.post(&format!("/api/v1/connections/{id}/check"), json!(null))
            .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.post(&format!("/api/v1/connections/{id}/default"), json!(null))
            .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.post(
            &format!("/api/v1/connections/{id}/invoke/request"),
            json!({"path": "/items"}),
        )
        .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.post(
            "/api/v1/invoke",
            json!({"connector": "pat", "operation": "request", "input": {}, "connection_id": id}),
        )
        .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.delete(&format!("/api/v1/connections/{id}?force=true"))
            .await,
        404,
        "connection_not_found",
    );
    assert_error(
        &b.get(&format!("/api/v1/connections?folder_id={folder}"))
            .await,
        404,
        "folder_not_found",
    );
    let mut body = pat_body(&fake, "tok-a");
    body["folder_id"] = json!(folder);
    assert_error(
        &b.post("/api/v1/connections", body).await,
        404,
        "folder_not_found",
    );

    // A's connection is untouched.
    let r = a.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "connected");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_folders_follow_membership_and_governance() {
    let t = start_server().await;
    let fake = start_fake_api("tok").await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let (alice, alice_token) = t.add_user("alice", false).await;
    let (_, bob_token) = t.add_user("bob", false).await;
    let alice_api = Api::new(&t.base, Some(&alice_token));
    let bob_api = Api::new(&t.base, Some(&bob_token));

    // Regular users cannot create shared folders.
    assert_error(
        &alice_api
            .post("/api/v1/folders", json!({"name": "Finance"}))
            .await,
        403,
        "admin_required",
    );
    let r = admin
        .post(
            "/api/v1/folders",
            json!({"name": "Finance", "members": [alice.principal.user_id]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let shared = r.body["id"].as_str().unwrap().to_string();

    // Alice (a member) creates in the shared folder; the admin sees it; Bob does not.
    let mut body = pat_body(&fake, "tok");
    body["folder_id"] = json!(shared);
    let r = alice_api.post("/api/v1/connections", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin.get(&format!("/api/v1/connections/{id}")).await.status,
        200
    );
    assert_error(
        &bob_api.get(&format!("/api/v1/connections/{id}")).await,
        404,
        "connection_not_found",
    );
    assert_error(
        &bob_api.post("/api/v1/connections", body.clone()).await,
        404,
        "folder_not_found",
    );
    // Without a folder, a connection goes to the caller's personal workspace.
    let r = bob_api
        .post("/api/v1/connections", pat_body(&fake, "tok"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bob_me = bob_api.get("/api/v1/me").await.body;
    assert_eq!(
        r.body["connection"]["folder_id"],
        bob_me["personal_folder_id"]
    );
    assert_error(
        &alice_api
            .get(&format!(
                "/api/v1/connections/{}",
                r.body["connection"]["id"].as_str().unwrap()
            ))
            .await,
        404,
        "connection_not_found",
    );

    // Governance: regular users may no longer create in shared folders.
    assert_error(
        &alice_api
            .put_settings(json!({"restrict_shared_connections": true}))
            .await,
        403,
        "admin_required",
    );
    let r = admin
        .put_settings(json!({"restrict_shared_connections": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_error(
        &alice_api.post("/api/v1/connections", body.clone()).await,
        403,
        "shared_connections_restricted",
    );
    // ...but still use and edit the shared ones, and admins still create.
    let r = alice_api
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({"name": "Finance API"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(admin.post("/api/v1/connections", body).await.status, 201);

    // Calls remember the connection they read for a moment
    // (PLUGBOARD_CONNECTION_CACHE_MS), but a change made through this
    // server applies to the very next call: a removed member is refused,
    // a deleted connection is gone.
    let invoke = format!("/api/v1/connections/{id}/invoke/request");
    let call = json!({"path": "/items"});
    assert_eq!(alice_api.post(&invoke, call.clone()).await.status, 200);
    assert_eq!(alice_api.post(&invoke, call.clone()).await.status, 200);
    let r = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/folders/{shared}/members"),
            Some(json!({"members": []})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_error(
        &alice_api.post(&invoke, call.clone()).await,
        404,
        "connection_not_found",
    );
    assert_eq!(admin.post(&invoke, call.clone()).await.status, 200);
    assert_eq!(
        admin
            .delete(&format!("/api/v1/connections/{id}"))
            .await
            .status,
        204
    );
    assert_error(
        &admin.post(&invoke, call).await,
        404,
        "connection_not_found",
    );
    t.server.shutdown().await.unwrap();
}

/// Governance: an organization allows only some connectors. Creating or
/// reconnecting a connection to another one is refused with a message that
/// says who can change it; existing connections keep working; a typo in
/// the list is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_connectors_govern_new_connections_and_typos_are_refused() {
    let t = start_server().await;
    let fake = start_fake_api("tok").await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let r = admin
        .post("/api/v1/connections", pat_body(&fake, "tok"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let existing = r.body["connection"]["id"].as_str().unwrap().to_string();

    // A typo is refused, naming it; the settings stay as they were.
    let r = admin
        .put_settings(json!({"allowed_connectors": ["zoom", "zooom"]}))
        .await;
    assert_error(&r, 400, "unknown_connector");
    assert!(r.text.contains("zooom"), "{}", r.text);
    assert!(
        admin.get("/api/v1/settings").await.body["allowed_connectors"].is_null(),
        "nothing changed"
    );

    let r = admin
        .put_settings(json!({"allowed_connectors": ["zoom", "oauth2"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        admin.get("/api/v1/settings").await.body["allowed_connectors"],
        json!(["zoom", "oauth2"])
    );
    let before = admin.get("/api/v1/connections").await.body;
    let r = admin
        .post("/api/v1/connections", pat_body(&fake, "tok"))
        .await;
    assert_error(&r, 403, "connector_not_allowed");
    assert!(r.text.contains("`pat`"), "{}", r.text);
    assert_error(
        &admin
            .post(
                &format!("/api/v1/connections/{existing}/reconnect"),
                json!({"credentials": {"token": "tok"}}),
            )
            .await,
        403,
        "connector_not_allowed",
    );
    assert_eq!(
        admin.get("/api/v1/connections").await.body,
        before,
        "no connection was created or changed"
    );
    // The existing connection still works.
    let r = admin
        .invoke(
            &existing,
            "request",
            json!({"method": "GET", "path": "/user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // `null` allows every connector again.
    let r = admin
        .put_settings(json!({"allowed_connectors": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin
        .post("/api/v1/connections", pat_body(&fake, "tok"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    t.server.shutdown().await.unwrap();
}

trait PutSettings {
    async fn put_settings(&self, body: Value) -> Reply;
}

impl PutSettings for Api {
    async fn put_settings(&self, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, "/api/v1/settings", Some(body))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_connectors_are_validated_tenant_scoped_and_removable() {
    let t = start_server().await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let wasm = "application/wasm";

    let r = admin
        .raw(
            reqwest::Method::POST,
            "/api/v1/connectors",
            wasm,
            b"not wasm at all".to_vec(),
        )
        .await;
    assert_error(&r, 400, "invalid_component");
    let future = std::fs::read(plugboard_connectors::fixtures::FUTURE_CONTRACT).unwrap();
    let r = admin
        .raw(reqwest::Method::POST, "/api/v1/connectors", wasm, future)
        .await;
    assert_error(&r, 400, "invalid_component");
    let pat = plugboard_connectors::bundled_by_id("pat")
        .unwrap()
        .wasm
        .to_vec();
    let r = admin
        .raw(reqwest::Method::POST, "/api/v1/connectors", wasm, pat)
        .await;
    assert_error(&r, 409, "connector_id_taken");

    // A real component with its own id: usable at once, versioned by content hash.
    let bytes = std::fs::read(plugboard_connectors::fixtures::HOSTILE).unwrap();
    let r = admin
        .raw(reqwest::Method::POST, "/api/v1/connectors", wasm, bytes)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["source"], "custom");
    assert_eq!(r.body["content_hash"].as_str().unwrap().len(), 64);
    let r = admin.get(&format!("/api/v1/connectors/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Another tenant does not see it.
    let (_, other) = t.server.create_tenant("other").await.unwrap();
    let b = Api::new(&t.base, Some(&other));
    assert_error(
        &b.get(&format!("/api/v1/connectors/{id}")).await,
        404,
        "connector_not_found",
    );

    // Bundled connectors cannot be removed; the custom one can.
    assert_error(
        &admin.delete("/api/v1/connectors/pat").await,
        409,
        "connector_bundled",
    );
    assert_eq!(
        admin
            .delete(&format!("/api/v1/connectors/{id}"))
            .await
            .status,
        204
    );
    assert_error(
        &admin.get(&format!("/api/v1/connectors/{id}")).await,
        404,
        "connector_not_found",
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_apis_of_seeds_003_and_004_are_served_with_their_own_tokens() {
    let t = start_server().await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/identity/connect/token", t.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-app"),
            ("client_secret", "wrong"),
            ("scope", "PM.User.Read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    // The console's admin token is not a management-API token.
    for path in ["/odata/Users", "/identity/api/Setting"] {
        let r = Api::new(&t.base, Some(&t.admin_token)).get(path).await;
        assert_eq!(r.status, 401, "{path}: {:?}", r.body);
    }

    // ...but it registers the organization's first external application.
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let me = admin.get("/api/v1/me").await.body;
    let tenant = me["tenant_id"].as_str().unwrap().parse().unwrap();
    let (dora, user_token) = t.server.create_user(tenant, "dora", false).await.unwrap();
    let apps = "/api/v1/external-apps";
    let body = json!({"name": "provisioning", "scopes": ["PM.User.Read"]});
    assert_error(
        &Api::new(&t.base, Some(&user_token))
            .post(apps, body.clone())
            .await,
        403,
        "admin_required",
    );
    let r = admin
        .post(
            apps,
            json!({"name": "x", "scopes": ["PM.User.Read", "PM.Everything"]}),
        )
        .await;
    assert_error(&r, 400, "invalid_scopes");
    assert!(r.text.contains("PM.Everything"), "{}", r.text);
    let r = admin.post(apps, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (client_id, secret) = (
        r.body["client_id"].as_str().unwrap(),
        r.body["client_secret"].as_str().unwrap(),
    );
    assert_eq!(
        r.body["token_url"],
        format!("{}/identity/connect/token", t.base)
    );
    let token: Value = client
        .post(format!("{}/identity/connect/token", t.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "PM.User.Read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().expect("an access token");
    let users = Api::new(&t.base, Some(access))
        .get(&format!("/identity/api/User/{}", dora.principal.user_id))
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert!(users.text.contains("dora"), "{}", users.text);
    // The registration is audited, and its secret is not in the audit log.
    let audit = admin.get("/api/v1/audit").await;
    assert!(
        audit.text.contains("external_app.register"),
        "{}",
        audit.text
    );
    assert!(!audit.text.contains(secret));
    t.server.shutdown().await.unwrap();
}
