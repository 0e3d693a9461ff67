//! Two `plugboard serve` replicas on one PostgreSQL database, as an
//! operator runs them behind a load balancer: what one writes the other
//! uses (connections, their sealed credentials, API tokens, an OAuth
//! sign-in started on one and finished on the other), and what one deletes
//! or revokes the other stops honouring within its cache time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plugboard_test_support::FakeZoom;
use plugboard_test_support::postgres::TestSchema;
use serde_json::json;
use url::Url;

/// How long a change through one replica may take to reach the other: the
/// caches' default 2 s, with room for a slow machine.
const PROPAGATION: Duration = Duration::from_secs(10);

/// Poll `status()` until it returns `want` or [`PROPAGATION`] passes;
/// returns the last status.
async fn eventually<F, Fut>(want: u16, mut status: F) -> u16
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + PROPAGATION;
    loop {
        let now = status().await;
        if now == want || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_made_on_one_replica_is_used_and_deleted_through_the_other() {
    let database = TestSchema::create("pb_replicas").await;
    let url = database.url().to_owned();
    let a = start_server_with(move |c| c.database_url = url).await;
    let b = start_replica(&a, |_| {}).await;
    let (api_a, api_b) = (
        Api::new(&a.base, Some(&a.admin_token)),
        Api::new(&b.base, Some(&b.admin_token)),
    );
    let fake = start_fake_api("replica-token").await;

    // Created on A (its PAT sealed with the shared root key)...
    let r = api_a
        .post("/api/v1/connections", pat_body(&fake, "replica-token"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    // ...listed, edited and invoked on B, which unseals the PAT.
    let r = api_b.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api_b
        .patch(
            &format!("/api/v1/connections/{id}"),
            json!({"name": "Renamed on B"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api_a.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.body["name"], "Renamed on B", "{}", r.text);
    let r = api_b
        .invoke(&id, "request", json!({"path": "/items"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["body"]["items"][0], "a", "{}", r.text);

    // Deleted on A: B, which has just used it, stops within its cache time.
    let r = api_a.delete(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let last = eventually(404, || async {
        api_b
            .invoke(&id, "request", json!({"path": "/items"}))
            .await
            .status
    })
    .await;
    assert_eq!(last, 404, "B still invokes a connection A deleted");

    // An API token made on A works on B until A revokes it.
    let r = api_a.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (token, token_id) = (
        r.body["token"].as_str().unwrap().to_string(),
        r.body["id"].as_str().unwrap().to_string(),
    );
    let ci_on_b = Api::new(&b.base, Some(&token));
    assert_eq!(ci_on_b.get("/api/v1/me").await.status, 200);
    let r = api_a.delete(&format!("/api/v1/tokens/{token_id}")).await;
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    let last = eventually(401, || async { ci_on_b.get("/api/v1/me").await.status }).await;
    assert_eq!(last, 401, "B still accepts a token A revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_sign_in_started_on_one_replica_finishes_on_the_other() {
    let zoom = FakeZoom::start().await;
    let (api_url, oauth_url) = (zoom.api_url(), zoom.base_url());
    let database = TestSchema::create("pb_replicas").await;
    let url = database.url().to_owned();
    let (za, zo) = (api_url.clone(), oauth_url.clone());
    let a = start_server_with(move |c| {
        c.database_url = url;
        use_fake_zoom(c, &za, &zo);
    })
    .await;
    // Behind one load balancer both replicas have the same public URL, so
    // the redirect URI A sent is the one B exchanges the code with.
    let public = Url::parse(&a.base).unwrap();
    let b = start_replica(&a, |c| {
        c.public_url = Some(public);
        use_fake_zoom(c, &api_url, &oauth_url);
    })
    .await;
    let (api_a, api_b) = (
        Api::new(&a.base, Some(&a.admin_token)),
        Api::new(&b.base, Some(&b.admin_token)),
    );

    let created = start_zoom(&api_a, "oauth2_authorization_code", json!({})).await;
    let authorize = authorize_url(&created);
    let mut callback = allow_at_zoom(&a, &authorize).await;
    // The load balancer sends the browser's return to B.
    let b_addr = b.server.local_addr;
    callback.set_port(Some(b_addr.port())).unwrap();
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("connected as Alice Example"), "{page}");

    // The tokens B stored are A's to use.
    let id = created.body["connection"]["id"].as_str().unwrap();
    let r = api_a
        .post(
            &format!("/api/v1/connections/{id}/invoke/create_meeting"),
            json!({"topic": "Across replicas", "start_time": "2030-01-15T10:00:00Z", "duration": 30}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["topic"], "Across replicas");
    let c = api_b.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(zoom.code_exchanges(), 1);
}
