//! Optimistic concurrency on connection edits: GET gives an `ETag`, PATCH
//! with a stale `If-Match` is refused with 412 and changes nothing; without
//! `If-Match`, concurrent edits of different fields both stay; a check
//! that runs while someone renames the connection keeps the rename; every
//! answer showing a connection shows the version its ETag has.

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

/// A server with one PAT connection (to a fake API that takes `token`),
/// and the connection's URL.
async fn server_with_connection(token: &str) -> (TestServer, FakeApi, String) {
    let t = start_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let fake = start_fake_api(token).await;
    let r = api
        .post("/api/v1/connections", pat_body(&fake, token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/connections/{id}", t.base);
    (t, fake, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_refused_with_412_and_changes_nothing() {
    let (t, _fake, url) = server_with_connection("etag-token").await;
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

/// Edits without `If-Match` write only the fields they send: two people
/// changing different fields at the same moment both keep their change,
/// and neither gets a 412 they did not ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_blind_edits_of_different_fields_both_stay() {
    let (t, _fake, url) = server_with_connection("blind-token").await;
    let http = reqwest::Client::new();
    let get = || send(http.get(&url).bearer_auth(&t.admin_token));
    let start: i64 = get().await.etag.unwrap().trim_matches('"').parse().unwrap();
    let patch = |body: Value| {
        let req = http.patch(&url).bearer_auth(&t.admin_token).json(&body);
        tokio::spawn(send(req))
    };

    // Each round sends a rename and a frequency change at once (and a few
    // of each, so the server's two workers interleave their reads and
    // writes); whatever the order, both fields end as that round set them.
    let rounds = 15;
    for round in 0..rounds {
        let name = format!("round {round}");
        let seconds = 60 + round;
        let renames = (0..3).map(|_| patch(json!({"name": name})));
        let retimes = (0..3).map(|_| patch(json!({"polling_frequency_seconds": seconds})));
        let sent: Vec<_> = renames.chain(retimes).collect();
        for task in sent {
            let a = task.await.unwrap();
            assert_eq!(a.status, 200, "a blind edit is never refused: {}", a.body);
        }
        let now = get().await;
        assert_eq!(
            (
                now.body["name"].clone(),
                now.body["polling_frequency_seconds"].clone()
            ),
            (json!(name), json!(seconds)),
            "round {round}: one edit put back the other field's old value"
        );
    }
    // Every edit was one version: none was lost or written twice.
    let end: i64 = get().await.etag.unwrap().trim_matches('"').parse().unwrap();
    assert_eq!(end - start, 6 * rounds as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_answers_with_a_rename_made_while_it_ran() {
    let (t, fake, url) = server_with_connection("check-token").await;
    let http = reqwest::Client::new();
    // Hold the API's answer to the check's request...
    let held = fake.hold.write().await;
    let hits_before = fake.hits.load(std::sync::atomic::Ordering::SeqCst);
    let check = tokio::spawn(send(
        http.post(format!("{url}/check"))
            .bearer_auth(&t.admin_token)
            .json(&json!(null)),
    ));
    while fake.hits.load(std::sync::atomic::Ordering::SeqCst) == hits_before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // ...rename the connection meanwhile...
    let renamed = send(
        http.patch(&url)
            .bearer_auth(&t.admin_token)
            .json(&json!({"name": "Renamed during the check"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    // ...then let the check finish: it saves its findings and answers with
    // the connection as saved, rename included.
    drop(held);
    let checked = check.await.unwrap();
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.body["ok"], true, "{}", checked.body);
    assert_eq!(
        checked.body["connection"]["name"], "Renamed during the check",
        "{}",
        checked.body
    );
    let now = send(http.get(&url).bearer_auth(&t.admin_token)).await;
    assert_eq!(now.body["name"], "Renamed during the check");
    assert_eq!(now.body["status"], "connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_showing_a_connection_shows_the_version_its_etag_has() {
    let t = start_server().await;
    let fake = start_fake_api("version-token").await;
    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", t.base))
            .bearer_auth(&t.admin_token)
    };
    // The version a GET's ETag names, as a number.
    let etag_version = |id: String| {
        let get = api(reqwest::Method::GET, &format!("/api/v1/connections/{id}"));
        async move {
            let etag = send(get).await.etag.expect("an ETag");
            etag.trim_matches('"').parse::<i64>().unwrap()
        }
    };

    let created = send(
        api(reqwest::Method::POST, "/api/v1/connections").json(&pat_body(&fake, "version-token")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v1 = etag_version(id.clone()).await;
    assert_eq!(created.body["connection"]["version"], v1, "create");

    let checked = send(
        api(
            reqwest::Method::POST,
            &format!("/api/v1/connections/{id}/check"),
        )
        .json(&json!(null)),
    )
    .await;
    let v2 = etag_version(id.clone()).await;
    assert!(v2 > v1, "a check saves what it found");
    assert_eq!(checked.body["connection"]["version"], v2, "check");

    let reconnected = send(
        api(
            reqwest::Method::POST,
            &format!("/api/v1/connections/{id}/reconnect"),
        )
        .json(&json!({"credentials": {"token": "version-token"}})),
    )
    .await;
    assert_eq!(reconnected.status, 200, "{}", reconnected.body);
    let v3 = etag_version(id.clone()).await;
    assert_eq!(reconnected.body["connection"]["version"], v3, "reconnect");

    let renamed = send(
        api(reqwest::Method::PATCH, &format!("/api/v1/connections/{id}"))
            .header("if-match", format!("\"{v3}\""))
            .json(&json!({"name": "Versioned"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let v4 = etag_version(id.clone()).await;
    assert_eq!(renamed.body["version"], v4, "edit");

    let listed = send(api(reqwest::Method::GET, "/api/v1/connections")).await;
    let row = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["version"], v4, "list");
}
