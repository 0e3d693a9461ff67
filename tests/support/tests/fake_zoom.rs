//! The fake Zoom behaves as Zoom documents it: these tests drive it the way
//! a connector would, over HTTP.

use plugboard_test_support::browser::{Consent, authorize_with_zoom};
use plugboard_test_support::{FakeZoom, Recording, TokenFault, test_redirect_uri};
use serde_json::{Value, json};

async fn tokens(zoom: &FakeZoom) -> Value {
    let url = url::Url::parse_with_params(
        &zoom.authorize_url(),
        &[
            ("response_type", "code"),
            ("client_id", FakeZoom::CLIENT_ID),
            ("redirect_uri", &test_redirect_uri()),
            ("state", "s"),
        ],
    )
    .unwrap();
    let callback = authorize_with_zoom(&url, &test_redirect_uri(), Consent::Allow)
        .await
        .unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    reqwest::Client::new()
        .post(zoom.token_url())
        .basic_auth(FakeZoom::CLIENT_ID, Some(FakeZoom::CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &test_redirect_uri()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_response_looks_like_zoom() {
    let zoom = FakeZoom::start().await;
    let t = tokens(&zoom).await;
    assert_eq!(t["expires_in"], 3599);
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["scope"], "meeting:write,recording:read,user_info:read");
    assert!(t["refresh_token"].as_str().is_some());
}

#[tokio::test]
async fn token_endpoint_requires_basic_client_auth() {
    let zoom = FakeZoom::start().await;
    let r = reqwest::Client::new()
        .post(zoom.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", FakeZoom::CLIENT_ID),
            ("client_secret", FakeZoom::CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test]
async fn recordings_are_paginated_with_next_page_token() {
    let zoom = FakeZoom::start().await;
    zoom.add_recordings(
        "alice@example.com",
        (0..5).map(|i| Recording {
            meeting_id: 1000 + i,
            topic: format!("Standup {i}"),
            start_time: format!("2026-11-0{}T09:00:00Z", i + 1),
        }),
    );
    let token = tokens(&zoom).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let mut next = String::new();
    let mut topics = Vec::new();
    let mut pages = 0;
    loop {
        let page: Value = client
            .get(format!("{}/users/me/recordings", zoom.api_url()))
            .bearer_auth(&token)
            .query(&[("page_size", "2"), ("next_page_token", next.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        assert_eq!(page["total_records"], 5);
        for m in page["meetings"].as_array().unwrap() {
            topics.push(m["topic"].as_str().unwrap().to_string());
        }
        next = page["next_page_token"].as_str().unwrap().to_string();
        if next.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(topics.len(), 5);
    assert_eq!(topics[4], "Standup 4");
}

#[tokio::test]
async fn api_checks_tokens_and_scopes_like_zoom() {
    let zoom = FakeZoom::start().await;
    let t = tokens(&zoom).await;
    let token = t["access_token"].as_str().unwrap();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/users/me/meetings", zoom.api_url()))
        .bearer_auth(token)
        .json(&json!({ "topic": "Plugboard sync", "type": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        created.json::<Value>().await.unwrap()["topic"],
        "Plugboard sync"
    );

    let bad = client
        .get(format!("{}/users/me", zoom.api_url()))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"code": 124, "message": "Invalid access token."})
    );

    zoom.expire_access_token(token);
    let expired = client
        .get(format!("{}/users/me", zoom.api_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["message"],
        "Access token is expired."
    );
}

#[tokio::test]
async fn faults_are_served_in_order_and_counted() {
    let zoom = FakeZoom::start().await;
    let t = tokens(&zoom).await;
    zoom.push_token_fault(TokenFault::ServerError);
    zoom.push_token_fault(TokenFault::TooManyRequests {
        retry_after_secs: 7,
    });
    let client = reqwest::Client::new();
    let refresh = |rt: String| {
        let client = client.clone();
        let url = zoom.token_url();
        async move {
            client
                .post(url)
                .basic_auth(FakeZoom::CLIENT_ID, Some(FakeZoom::CLIENT_SECRET))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(rt.clone()).await.status(), 500);
    let limited = refresh(rt.clone()).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    let ok = refresh(rt.clone()).await;
    assert_eq!(ok.status(), 200);
    let reused = refresh(rt).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(
        reused.json::<Value>().await.unwrap(),
        json!({"reason": "Invalid Token!", "error": "invalid_grant"})
    );
    assert_eq!(zoom.token_calls(), 5);
    assert_eq!(zoom.refreshes(), 1);
}

#[tokio::test]
async fn a_token_without_the_scope_gets_zooms_4711() {
    let zoom = FakeZoom::start().await;
    let url = url::Url::parse_with_params(
        &zoom.authorize_url(),
        &[
            ("response_type", "code"),
            ("client_id", FakeZoom::CLIENT_ID),
            ("redirect_uri", &test_redirect_uri()),
            ("scope", "user_info:read"),
        ],
    )
    .unwrap();
    let callback = authorize_with_zoom(&url, &test_redirect_uri(), Consent::Allow)
        .await
        .unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let client = reqwest::Client::new();
    let t: Value = client
        .post(zoom.token_url())
        .basic_auth(FakeZoom::CLIENT_ID, Some(FakeZoom::CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &test_redirect_uri()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "user_info:read");
    let r = client
        .get(format!("{}/users/me/recordings", zoom.api_url()))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 4711);
    assert!(body["message"].as_str().unwrap().contains("recording:read"));
}
