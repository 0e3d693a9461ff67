//! API token management over real HTTP: a token made through the API
//! works, is listed without its secret (with when it was last used), and
//! is refused from the very next request once revoked; only its owner or
//! the tenant's administrator may revoke it.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_token_works_is_listed_without_its_secret_and_dies_when_revoked() {
    let t = start_server().await;
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let (_, alice_token) = t.add_user("alice", false).await;
    let (_, bob_token) = t.add_user("bob", false).await;
    let alice = Api::new(&t.base, Some(&alice_token));
    let bob = Api::new(&t.base, Some(&bob_token));

    // Create: the token is in this response, once.
    let r = alice.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ci_token = r.body["token"].as_str().unwrap().to_owned();
    let ci_id = r.body["id"].as_str().unwrap().to_owned();
    assert!(
        ci_token.starts_with("pb_") && ci_token.len() == 67,
        "{ci_token}"
    );
    assert_eq!(r.body["name"], "ci");
    assert!(r.body["created_at"].is_string());

    // It works.
    let ci = Api::new(&t.base, Some(&ci_token));
    let r = ci.get("/api/v1/me").await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("alice")));

    // Listed (with the token alice started with), never with the secret.
    let r = ci.get("/api/v1/tokens").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", r.text);
    let entry = listed.iter().find(|e| e["id"] == ci_id.as_str()).unwrap();
    assert_eq!(entry["name"], "ci");
    assert_eq!(
        entry.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["created_at", "id", "last_used_at", "name"]
    );
    // It has been used (just now, to within the hour); a new one has not.
    let used = time::OffsetDateTime::parse(
        entry["last_used_at"].as_str().expect("a last-used time"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let made = time::OffsetDateTime::parse(
        entry["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(used >= made, "{entry}");
    let r = alice
        .post("/api/v1/tokens", json!({"name": "unused"}))
        .await;
    let unused_id = r.body["id"].as_str().unwrap().to_owned();
    let r = ci.get("/api/v1/tokens").await;
    let unused = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == unused_id.as_str())
        .unwrap();
    assert!(unused["last_used_at"].is_null(), "{unused}");
    assert_eq!(
        alice
            .delete(&format!("/api/v1/tokens/{unused_id}"))
            .await
            .status,
        204
    );
    ci.assert_never_returned(&ci_token);
    ci.assert_never_returned(&plugboard_server::identity::token_hash(&ci_token));
    // Nobody else sees it.
    let r = bob.get("/api/v1/tokens").await;
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != ci_id.as_str())
    );

    // Bob can neither revoke it nor learn that it exists.
    assert_error(
        &bob.delete(&format!("/api/v1/tokens/{ci_id}")).await,
        404,
        "token_not_found",
    );
    assert_eq!(ci.get("/api/v1/me").await.status, 200);

    // A malformed id is a bad request, not a miss.
    assert_error(
        &alice.delete("/api/v1/tokens/not-a-uuid").await,
        400,
        "invalid_id",
    );
    // A name is required.
    assert_error(
        &alice.post("/api/v1/tokens", json!({"name": "  "})).await,
        400,
        "invalid_name",
    );

    // Alice revokes it (with the token itself): the next request is refused,
    // although the server had just looked it up.
    let r = ci.delete(&format!("/api/v1/tokens/{ci_id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&ci.get("/api/v1/me").await, 401, "unauthorized");
    assert_error(
        &alice.delete(&format!("/api/v1/tokens/{ci_id}")).await,
        404,
        "token_not_found",
    );
    assert_eq!(
        alice.get("/api/v1/me").await.status,
        200,
        "her other token still works"
    );

    // The tenant's administrator may revoke any of its users' tokens.
    let r = bob.post("/api/v1/tokens", json!({"name": "laptop"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (laptop_token, laptop_id) = (
        r.body["token"].as_str().unwrap().to_owned(),
        r.body["id"].as_str().unwrap().to_owned(),
    );
    let laptop = Api::new(&t.base, Some(&laptop_token));
    assert_eq!(laptop.get("/api/v1/me").await.status, 200);
    let r = admin.delete(&format!("/api/v1/tokens/{laptop_id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&laptop.get("/api/v1/tokens").await, 401, "unauthorized");

    // ... but not another tenant's.
    let (_, other_admin) = t.server.create_tenant("other").await.unwrap();
    let other = Api::new(&t.base, Some(&other_admin));
    let r = alice.post("/api/v1/tokens", json!({"name": "x"})).await;
    let x_id = r.body["id"].as_str().unwrap().to_owned();
    assert_error(
        &other.delete(&format!("/api/v1/tokens/{x_id}")).await,
        404,
        "token_not_found",
    );

    // Audited, without the secrets.
    assert_audited(&admin, &["api_token.create", "api_token.revoke"]).await;
    admin.assert_never_returned(&ci_token);
    admin.assert_never_returned(&laptop_token);
    t.server.shutdown().await.unwrap();
}
