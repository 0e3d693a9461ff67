//! Shared set-up for the runtime's tests: a runtime with small limits and
//! loopback allowed, the hostile fixture loaded once per test, and a
//! loopback HTTP server that records what it received.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use plugboard_manifest::AuthKind;
use plugboard_runtime::{
    AddressPolicy, CallContext, CallLimits, Credential, LoadedConnector, Runtime, RuntimeConfig,
    StaticServices,
};
use serde_json::Value;

/// Limits small enough that hostile calls end quickly.
pub fn test_limits() -> CallLimits {
    CallLimits {
        max_memory_bytes: 64 << 20,
        cpu_time: Duration::from_millis(300),
        wall_time: Duration::from_secs(20),
        max_http_calls: 5,
        max_http_response_bytes: 1 << 20,
        http_timeout: Duration::from_secs(5),
        max_output_bytes: 1 << 20,
        ..CallLimits::default()
    }
}

pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        limits: test_limits(),
        address_policy: AddressPolicy::allow_loopback(),
        max_concurrent_instances: 32,
        ..RuntimeConfig::default()
    }
}

pub fn runtime() -> Runtime {
    Runtime::new(test_config()).expect("runtime")
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub async fn hostile(runtime: &Runtime) -> Arc<LoadedConnector> {
    runtime
        .load(&fixture(plugboard_connectors::fixtures::HOSTILE))
        .await
        .expect("the hostile fixture loads")
}

/// A context for the hostile connector aimed at `base_url`.
pub fn hostile_ctx(tenant: &str, base_url: &str) -> CallContext {
    CallContext::new(
        tenant,
        format!("{tenant}-conn"),
        "hostile",
        AuthKind::PersonalAccessToken,
    )
    .with_config("base_url", base_url)
}

pub fn services(token: &str) -> Arc<StaticServices> {
    Arc::new(StaticServices::new(Credential::pat(token)))
}

/// Invoke and parse the JSON output.
pub async fn invoke_json(
    connector: &LoadedConnector,
    ctx: &CallContext,
    services: Arc<StaticServices>,
    operation: &str,
    input: &str,
) -> Value {
    let output = connector
        .invoke(ctx, services, operation, input)
        .await
        .unwrap_or_else(|e| panic!("{operation}: {e}"));
    serde_json::from_str(output.get()).expect("JSON output")
}

/// The host still serves a normal call.
pub async fn assert_still_serves(connector: &LoadedConnector) {
    let ctx = hostile_ctx("tenant-ok", "http://127.0.0.1:9");
    let output = connector
        .invoke(&ctx, services("t"), "noop", r#"{"still":"alive"}"#)
        .await
        .expect("a normal call after a hostile one");
    assert_eq!(output.get(), r#"{"still":"alive"}"#);
}

/// What the loopback server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers.get(name).cloned().unwrap_or_default()
    }
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Received>>>);

impl Recorder {
    pub fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// A loopback server:
/// - `/echo`: 200, body `hello`, with `Set-Cookie`, `Authorization` and
///   `X-Kept` response headers;
/// - `/fresh-only`: 401 unless `Authorization: Bearer fresh`;
/// - `/whoami`: 200, body = the token after `Bearer secret-`;
/// - `/big`: 2 MiB body;
/// - `/redirect`: 302 to `http://evil.example.com/`;
/// - `/slow`: answers after 3 s;
/// - anything else: 200 `ok`.
pub async fn server() -> (String, Recorder) {
    let recorder = Recorder::default();
    let app = Router::new().fallback(handle).with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), recorder)
}

async fn handle(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        map.entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let auth = map
        .get("authorization")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    recorder.0.lock().unwrap().push(Received {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: map,
        body: body.to_vec(),
    });
    match uri.path() {
        "/echo" => (
            StatusCode::OK,
            [
                ("set-cookie", "session=stolen"),
                ("authorization", "Bearer leaked"),
                ("x-kept", "yes"),
            ],
            "hello",
        )
            .into_response(),
        "/fresh-only" if auth == "Bearer fresh" => (StatusCode::OK, "fresh ok").into_response(),
        "/fresh-only" => (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer error=\"invalid_token\"")],
            "expired",
        )
            .into_response(),
        "/whoami" => (
            StatusCode::OK,
            auth.strip_prefix("Bearer secret-")
                .unwrap_or("nobody")
                .to_string(),
        )
            .into_response(),
        "/big" => (StatusCode::OK, vec![b'x'; 2 << 20]).into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, "late").into_response()
        }
        "/redirect" => (
            StatusCode::FOUND,
            [("location", "http://evil.example.com/")],
            "",
        )
            .into_response(),
        _ => (StatusCode::OK, "ok").into_response(),
    }
}
