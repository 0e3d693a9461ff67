//! HTTP through the host, against a real loopback server: destinations
//! refused, credentials injected and never returned, 401 refresh, caps.

mod support;

use plugboard_runtime::{
    CallError, Credential, Runtime, RuntimeConfig, RuntimeError, StaticServices,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn error_kind(out: &Value) -> &str {
    assert_eq!(out["ok"], false, "{out}");
    out["error"]["kind"].as_str().unwrap()
}

#[tokio::test]
async fn a_request_to_an_undeclared_host_is_refused() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("t"),
        "undeclared_host",
        "{}",
    )
    .await;
    assert_eq!(error_kind(&out), "destination-not-allowed");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example.com"),
        "{out}"
    );
    assert!(recorder.all().is_empty());
    assert_still_serves(&hostile).await;
}

#[tokio::test]
async fn the_metadata_address_is_refused_even_when_loopback_and_private_are_allowed() {
    let mut config = test_config();
    config.address_policy.allow_private = true;
    let runtime = Runtime::new(config).unwrap();
    let hostile = hostile(&runtime).await;
    // Declare the metadata host itself, so only the address policy stands in the way.
    let ctx = hostile_ctx("a", "http://169.254.169.254");
    let out = invoke_json(&hostile, &ctx, services("t"), "metadata_ip", "{}").await;
    assert_eq!(error_kind(&out), "destination-not-allowed");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metadata"),
        "{out}"
    );
}

#[tokio::test]
async fn a_declared_name_that_resolves_to_loopback_is_refused_by_default() {
    let (base, recorder) = server().await;
    let runtime = Runtime::new(RuntimeConfig {
        limits: test_limits(),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let hostile = hostile(&runtime).await;
    let by_name = base.replace("127.0.0.1", "localhost");
    let input = json!({"url": "/echo"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &by_name),
        services("t"),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(error_kind(&out), "destination-not-allowed");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{out}"
    );
    assert!(recorder.all().is_empty());
}

#[tokio::test]
async fn many_requests_are_stopped_at_the_per_call_cap() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("t"),
        "many_requests",
        "{}",
    )
    .await;
    let cap = runtime.limits().max_http_calls;
    assert_eq!(out["sent"], cap, "{out}");
    assert_eq!(out["error"]["kind"], "too-many-requests", "{out}");
    assert_eq!(recorder.all().len(), cap as usize);
}

#[tokio::test]
async fn the_pat_is_injected_and_a_guest_authorization_header_is_replaced() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let input = json!({
        "method": "POST",
        "url": "/echo",
        "headers": [["Authorization", "Bearer forged"], ["X-Custom", "1"]],
        "body": "payload",
    })
    .to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("secret-a"),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let received = recorder.all();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("authorization"), ["Bearer secret-a"]);
    assert_eq!(received[0].header("x-custom"), ["1"]);
    assert_eq!(received[0].body, b"payload");
    assert_eq!(received[0].method, "POST");
}

#[tokio::test]
async fn a_bearer_credential_is_injected_as_authorization() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let services = Arc::new(StaticServices::new(Credential::bearer("oauth-token")));
    let input = json!({"url": "/echo"}).to_string();
    invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services,
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(
        recorder.all()[0].header("authorization"),
        ["Bearer oauth-token"]
    );
}

#[tokio::test]
async fn credential_headers_are_stripped_from_the_response() {
    let (base, _recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let input = json!({"url": "/echo"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("secret-a"),
        "echo_http",
        &input,
    )
    .await;
    let headers = out["headers"].to_string().to_ascii_lowercase();
    assert!(!headers.contains("set-cookie"), "{headers}");
    assert!(!headers.contains("leaked"), "{headers}");
    assert!(headers.contains("x-kept"), "{headers}");
    assert_eq!(out["body"], "hello");
}

#[tokio::test]
async fn a_401_leads_to_one_refresh_and_one_retry() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let services = Arc::new(
        StaticServices::new(Credential::pat("stale")).refreshing_to(Credential::pat("fresh")),
    );
    let input = json!({"url": "/fresh-only"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services.clone(),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "fresh ok");
    assert_eq!(services.refresh_count(), 1);
    let auth: Vec<_> = recorder
        .all()
        .iter()
        .map(|r| r.header("authorization"))
        .collect();
    assert_eq!(auth, [["Bearer stale"], ["Bearer fresh"]]);
}

#[tokio::test]
async fn a_401_after_the_refresh_is_returned_without_a_second_retry() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let services = services("still-stale");
    let input = json!({"url": "/fresh-only"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services.clone(),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(out["status"], 401, "{out}");
    assert_eq!(services.refresh_count(), 1);
    assert_eq!(recorder.all().len(), 2);
}

#[tokio::test]
async fn a_response_larger_than_the_cap_is_refused() {
    let (base, _recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let input = json!({"url": "/big"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("t"),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(error_kind(&out), "response-too-large");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let input = json!({"url": "/redirect"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &base),
        services("t"),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(out["status"], 302, "{out}");
    assert_eq!(recorder.all().len(), 1);
}

#[tokio::test]
async fn a_path_cannot_climb_above_the_base_url() {
    let (base, recorder) = server().await;
    let runtime = runtime();
    let hostile = hostile(&runtime).await;
    let input = json!({"url": "/../../etc"}).to_string();
    let out = invoke_json(
        &hostile,
        &hostile_ctx("a", &format!("{base}/api")),
        services("t"),
        "echo_http",
        &input,
    )
    .await;
    assert_eq!(error_kind(&out), "destination-not-allowed");
    assert!(recorder.all().is_empty());
}

#[tokio::test]
async fn a_call_that_outlives_the_wall_clock_limit_is_stopped() {
    let (base, _recorder) = server().await;
    let mut config = test_config();
    config.limits.wall_time = Duration::from_millis(500);
    config.limits.http_timeout = Duration::from_secs(10);
    let runtime = Runtime::new(config).unwrap();
    let hostile = hostile(&runtime).await;
    let input = json!({"url": "/slow"}).to_string();
    let err = hostile
        .invoke(&hostile_ctx("a", &base), services("t"), "echo_http", &input)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Host(RuntimeError::Timeout { .. })),
        "{err}"
    );
    assert_still_serves(&hostile).await;
}
