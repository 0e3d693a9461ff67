//! One tenant cannot spend another's share of the sandbox pool (issue 16
//! item 2): before, 300 concurrent slow calls on one connection took all
//! 256 instance slots and every other call of every tenant failed with 502
//! "maximum concurrent limit … reached".

mod common;

use common::*;
use futures::future::join_all;
use serde_json::json;

async fn pat_connection(api: &Api, fake: &FakeApi, token: &str) -> String {
    let r = api.post("/api/v1/connections", pat_body(fake, token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["connection"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_slow_calls_on_one_connection_leave_other_tenants_alone() {
    let t = start_server().await;
    let attacker = Api::new(&t.base, Some(&t.admin_token));
    let slow_api = start_fake_api("attacker-token").await;
    let slow = pat_connection(&attacker, &slow_api, "attacker-token").await;

    let (_, victim_token) = t.server.create_tenant("victim").await.unwrap();
    let victim = Api::new(&t.base, Some(&victim_token));
    let victim_api = start_fake_api("victim-token").await;
    let victims_connection = pat_connection(&victim, &victim_api, "victim-token").await;

    // The attacker's API holds every `/user` request until released.
    let hold = slow_api.hold.clone().write_owned().await;
    let calls = (0..300).map(|_| {
        let attacker = attacker.clone();
        let slow = slow.clone();
        tokio::spawn(async move {
            attacker
                .invoke(&slow, "request", json!({"path": "/user"}))
                .await
        })
    });
    let calls: Vec<_> = calls.collect();
    // Wait until the connection's share is full: its admitted calls reached the API.
    let per_connection = plugboard_runtime::ConcurrencyLimits::for_pool(256).per_connection;
    while slow_api.hits.load(std::sync::atomic::Ordering::SeqCst) < per_connection as usize {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Another tenant is served while the attacker's calls hang.
    let r = victim
        .invoke(&victims_connection, "request", json!({"path": "/items"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["body"]["items"], json!(["a", "b", "c"]));

    drop(hold);
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        ok + refused.len(),
        300,
        "every call was either served or refused with 429: {:?}",
        replies
            .iter()
            .filter(|r| r.status != 200 && r.status != 429)
            .map(|r| &r.text)
            .collect::<Vec<_>>()
    );
    assert!(
        ok >= per_connection as usize,
        "the admitted calls finished: {ok}"
    );
    let first = refused.first().expect("most of the 300 calls were refused");
    assert_error(first, 429, "too_many_calls");
    assert!(
        first.body["message"]
            .as_str()
            .unwrap()
            .contains("this connection already has"),
        "{}",
        first.text
    );
}

#[tokio::test]
async fn a_refused_call_says_when_to_retry_and_a_full_host_is_503() {
    // A pool of 10 leaves 2 call slots (8 are kept for loading components);
    // no per-tenant or per-connection limit, so the host fills first.
    let t = start_server_with(|c| {
        c.limits.max_instances = 10;
        c.limits.tenant_calls = 0;
        c.limits.connection_calls = 0;
    })
    .await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let fake = start_fake_api("tok").await;
    let id = pat_connection(&api, &fake, "tok").await;
    let hold = fake.hold.clone().write_owned().await;
    let hanging: Vec<_> = (0..2)
        .map(|_| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move { api.invoke(&id, "request", json!({"path": "/user"})).await })
        })
        .collect();
    while fake.hits.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/api/v1/connections/{id}/invoke/request", t.base))
        .bearer_auth(&t.admin_token)
        .json(&json!({"path": "/items"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "server_busy", "{body}");

    drop(hold);
    for h in hanging {
        assert_eq!(h.await.unwrap().status, 200);
    }
    // Places come back: the next call is served.
    let r = api.invoke(&id, "request", json!({"path": "/items"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
