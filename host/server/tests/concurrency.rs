//! Optimistic concurrency on connection edits: GET gives an `ETag`, PATCH
//! with a stale `If-Match` is refused with 412 and changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};

struct Answer {
    status: u16,
    etag: Option<String>,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let body = res.json().await.unwrap_or(Value::Null);
    Answer { status, etag, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_refused_with_412_and_changes_nothing() {
    let t = start_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let fake = start_fake_api("etag-token").await;
    let r = api
        .post("/api/v1/connections", pat_body(&fake, "etag-token"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/connections/{id}", t.base);
    let http = reqwest::Client::new();
    let get = || http.get(&url).bearer_auth(&t.admin_token);
    let patch = |if_match: Option<&str>, body: Value| {
        let req = http.patch(&url).bearer_auth(&t.admin_token).json(&body);
        match if_match {
            Some(v) => req.header("if-match", v),
            None => req,
        }
    };

    // Two editors read the same version.
    let read = send(get()).await;
    assert_eq!(read.status, 200);
    let first = read.etag.expect("GET returns an ETag");

    // The first saves: a new version.
    let saved = send(patch(Some(&first), json!({"name": "Alice's edit"}))).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let second = saved.etag.expect("PATCH returns the new ETag");
    assert_ne!(first, second);

    // The second, still on the first version, is refused and told the current one.
    let stale = send(patch(Some(&first), json!({"name": "Bob's edit"}))).await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(stale.body["code"], "version_mismatch");
    assert!(
        stale.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("GET it again")),
        "{}",
        stale.body
    );
    assert_eq!(stale.body["details"]["current_etag"], second.as_str());

    // A malformed If-Match is a 400 that says what to send.
    let bad = send(patch(Some("version 2"), json!({"name": "Bob's edit"}))).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["code"], "invalid_if_match");

    // Nothing of Bob's was written; the ETag did not move.
    let now = send(get()).await;
    assert_eq!(now.body["name"], "Alice's edit");
    assert_eq!(now.etag.as_deref(), Some(second.as_str()));

    // Re-read, re-apply: accepted. Without If-Match an edit still applies.
    let retried = send(patch(Some(&second), json!({"name": "Bob's edit"}))).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let blind = send(patch(None, json!({"polling_frequency_seconds": 600}))).await;
    assert_eq!(blind.status, 200, "{}", blind.body);
    let now = send(get()).await;
    assert_eq!(
        (
            now.body["name"].clone(),
            now.body["polling_frequency_seconds"].clone()
        ),
        (json!("Bob's edit"), json!(600))
    );
    t.server.shutdown().await.unwrap();
}
