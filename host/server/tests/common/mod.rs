//! Shared set-up for the API tests: a real server on a loopback port with a
//! temporary data directory, a loopback REST API for the `pat` connector,
//! and an HTTP client that keeps every response body so tests can assert
//! no secret ever came back.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use plugboard_server::triggers::TriggerOptions;
use plugboard_server::{Config, RunningServer};
use plugboard_test_support::FakeZoom;
use plugboard_test_support::browser::{Consent, authorize_with_zoom};
use serde_json::{Value, json};
use url::Url;

pub struct TestServer {
    pub server: RunningServer,
    pub admin_token: String,
    pub base: String,
    _dir: tempfile::TempDir,
}

/// Start the server the way `plugboard serve` does, on 127.0.0.1:0, with
/// loopback egress allowed (never a default) so connectors reach the fakes.
pub async fn start_server() -> TestServer {
    start_server_with(|_| {}).await
}

/// [`start_server`] with the configuration adjusted by `adjust` first.
pub async fn start_server_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_server_with_triggers(adjust, TriggerOptions::default()).await
}

/// [`start_server_with`], also setting the triggers' clock and background
/// tick.
pub async fn start_server_with_triggers(
    adjust: impl FnOnce(&mut Config),
    triggers: TriggerOptions,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.egress.allow_loopback = true;
    adjust(&mut config);
    let server = plugboard_server::start_with_triggers(config, triggers)
        .await
        .expect("server starts");
    let admin_token = std::fs::read_to_string(&server.admin_token_file)
        .expect("first start writes the admin token")
        .trim()
        .to_string();
    let base = server.local_url();
    TestServer {
        server,
        admin_token,
        base,
        _dir: dir,
    }
}

/// Another replica of `first`: its own data directory and port, the same
/// database and root key (copied, as an operator shares one key file), and
/// `adjust` applied to its configuration. It answers `first`'s tokens.
pub async fn start_replica(first: &TestServer, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.egress.allow_loopback = true;
    config.database_url = first.server.state.config.database_url.clone();
    std::fs::create_dir_all(&config.data_dir).unwrap();
    std::fs::copy(
        first.data_dir().join("root.key"),
        config.data_dir.join("root.key"),
    )
    .expect("the first replica's root key");
    adjust(&mut config);
    let server = plugboard_server::start(config)
        .await
        .expect("replica starts");
    assert!(!server.first_start, "a replica is not a first start");
    let base = server.local_url();
    TestServer {
        server,
        admin_token: first.admin_token.clone(),
        base,
        _dir: dir,
    }
}

impl TestServer {
    /// The server's data directory (database, vault key, admin token).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// A user of the first admin's tenant, and their API token.
    pub async fn add_user(
        &self,
        name: &str,
        is_admin: bool,
    ) -> (plugboard_server::repo::Bootstrap, String) {
        let me = Api::new(&self.base, Some(&self.admin_token))
            .get("/api/v1/me")
            .await
            .body;
        let tenant = me["tenant_id"].as_str().unwrap().parse().unwrap();
        self.server
            .create_user(tenant, name, is_admin)
            .await
            .unwrap()
    }
}

/// An access token for the identity API (`/identity/api`, `/odata`):
/// the admin registers an external application with `scopes`, as
/// `plugboard apps register` does, and it takes a client-credentials
/// token.
pub async fn identity_token<S: AsRef<str>>(t: &TestServer, scopes: &[S]) -> String {
    let scopes: Vec<&str> = scopes.iter().map(AsRef::as_ref).collect();
    let app = Api::new(&t.base, Some(&t.admin_token))
        .post(
            "/api/v1/external-apps",
            json!({ "name": "identity-client", "scopes": scopes }),
        )
        .await;
    assert_eq!(app.status, 201, "{}", app.text);
    let token: Value = reqwest::Client::new()
        .post(format!("{}/identity/connect/token", t.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.body["client_id"].as_str().unwrap()),
            ("client_secret", app.body["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {token}"))
        .to_owned()
}

/// A loopback REST API that takes `Authorization: Bearer <token>`.
pub struct FakeApi {
    pub url: String,
    pub token: Arc<Mutex<String>>,
    pub hits: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
    /// `GET /user` waits while a test holds this for writing, so the test
    /// can act while a check is in flight.
    pub hold: Arc<tokio::sync::RwLock<()>>,
}

#[derive(Clone)]
struct ApiState {
    token: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    hold: Arc<tokio::sync::RwLock<()>>,
}

fn authorized(state: &ApiState, headers: &HeaderMap) -> bool {
    let want = format!("Bearer {}", state.token.lock().unwrap());
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == want)
}

pub async fn start_fake_api(token: &str) -> FakeApi {
    let state = ApiState {
        token: Arc::new(Mutex::new(token.to_string())),
        hits: Arc::new(AtomicUsize::new(0)),
        down: Arc::new(AtomicBool::new(false)),
        hold: Arc::default(),
    };
    async fn user(State(s): State<ApiState>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
        s.hits.fetch_add(1, Ordering::SeqCst);
        drop(s.hold.read().await);
        if s.down.load(Ordering::SeqCst) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": "upstream exploded"})),
            );
        }
        if !authorized(&s, &headers) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            );
        }
        (
            StatusCode::OK,
            Json(json!({"id": "42", "name": "Ada Lovelace", "email": "ada@example.test"})),
        )
    }
    async fn items(State(s): State<ApiState>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
        s.hits.fetch_add(1, Ordering::SeqCst);
        if !authorized(&s, &headers) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            );
        }
        (StatusCode::OK, Json(json!({"items": ["a", "b", "c"]})))
    }
    let app = axum::Router::new()
        .route("/user", get(user))
        .route("/items", get(items))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    FakeApi {
        url: format!("http://{addr}"),
        token: state.token,
        hits: state.hits,
        down: state.down,
        hold: state.hold,
    }
}

/// An API client for one token that remembers every response body.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub fn new(base: &str, token: Option<&str>) -> Self {
        Api {
            base: base.to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::new(),
            bodies: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        self.finish(res).await
    }

    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        // Raw bodies are the malformed and oversized ones: the server may
        // answer (413) before reading them and then close the connection, so
        // they get a connection of their own that no later request reuses.
        let unpooled = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("HTTP client");
        let mut req = unpooled
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        self.finish(res).await
    }

    async fn finish(&self, res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        self.bodies.lock().unwrap().push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    /// `POST /api/v1/connections/{id}/invoke/{operation}` with `input`.
    pub async fn invoke(&self, id: &str, operation: &str, input: Value) -> Reply {
        self.post(
            &format!("/api/v1/connections/{id}/invoke/{operation}"),
            input,
        )
        .await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Assert no response body so far contains `secret`.
    pub fn assert_never_returned(&self, secret: &str) {
        for b in self.bodies.lock().unwrap().iter() {
            assert!(
                !b.contains(secret),
                "a response body contained a secret: {b}"
            );
        }
    }
}

/// Assert the tenant's audit log (read with `admin`) holds each of `actions`.
pub async fn assert_audited(admin: &Api, actions: &[&str]) {
    let r = admin.get("/api/v1/audit").await;
    let found: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in actions {
        assert!(found.contains(a), "audit lacks {a}: {found:?}");
    }
}

/// Assert an error reply: status, stable code, and a non-empty message.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.text
    );
    assert_eq!(
        reply.body["code"], code,
        "unexpected code; body: {}",
        reply.text
    );
    assert!(
        reply.body["message"].as_str().is_some_and(|m| m.len() > 10),
        "error without a helpful message: {}",
        reply.text
    );
}

/// Body of a PAT connection to `api`.
pub fn pat_body(api: &FakeApi, token: &str) -> Value {
    json!({
        "connector": "pat",
        "config": {"base_url": api.url},
        "credentials": {"token": token},
    })
}

// ---------------------------------------------------------------------------
// OAuth through Plugboard's callback, against the fake Zoom

/// Point the Zoom connector at the fake Zoom: the fake's app as the
/// operator's OAuth app, and the API and OAuth endpoints moved to it.
pub fn use_fake_zoom(config: &mut Config, api_url: &str, oauth_base_url: &str) {
    let zoom = config.connectors.entry("zoom".into()).or_default();
    zoom.client_id = Some(FakeZoom::CLIENT_ID.into());
    zoom.client_secret = Some(plugboard_server::config::Redacted::new(
        FakeZoom::CLIENT_SECRET,
    ));
    zoom.base_url = Some(Url::parse(&format!("{api_url}/")).unwrap());
    zoom.oauth_base_url = Some(Url::parse(oauth_base_url).unwrap());
}

pub fn callback_prefix(t: &TestServer) -> String {
    format!("{}/provisioning_/callback", t.base)
}

/// The browser's visit to Plugboard's callback: (status, page).
pub async fn visit(url: &Url) -> (u16, String) {
    let res = reqwest::get(url.clone()).await.expect("callback answered");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// Start a Zoom connection and return the create reply.
pub async fn start_zoom(api: &Api, kind: &str, extra: Value) -> Reply {
    let mut body = json!({"connector": "zoom", "auth_kind": kind});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    api.post("/api/v1/connections", body).await
}

pub fn authorize_url(reply: &Reply) -> Url {
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        reply.body["connection"]["status"], "pending",
        "{}",
        reply.text
    );
    Url::parse(
        reply.body["authorize_url"]
            .as_str()
            .expect("an authorize URL"),
    )
    .unwrap()
}

/// Alice allows access at the fake Zoom; the URL back to Plugboard.
pub async fn allow_at_zoom(t: &TestServer, url: &Url) -> Url {
    authorize_with_zoom(url, &callback_prefix(t), Consent::Allow)
        .await
        .unwrap()
}

/// A Zoom connection through the whole authorization-code flow; returns
/// its id, the callback URL used, and the page Plugboard showed.
pub async fn connect_zoom(t: &TestServer, api: &Api, extra: Value) -> (String, Url, String) {
    let created = start_zoom(api, "oauth2_authorization_code", extra).await;
    let url = authorize_url(&created);
    let callback = allow_at_zoom(t, &url).await;
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    let id = created.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, callback, page)
}
