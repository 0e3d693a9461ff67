//! A fake Zoom that behaves as Zoom documents its OAuth and REST API, in
//! process, on a loopback port the OS picks.
//!
//! OAuth (`/oauth/...`):
//! - `GET /oauth/authorize`: auto-approves for the signed-in test user, or
//!   shows a consent form ([`FakeZoom::set_consent_required`]); redirects
//!   with `code` + `state` (no `iss`, like Zoom). PKCE S256 is honoured
//!   when a `code_challenge` is sent.
//! - `POST /oauth/token`: HTTP Basic client auth only;
//!   `authorization_code` and `refresh_token` grants; 1-hour access tokens
//!   (`expires_in: 3599`); comma-separated `scope`; refresh tokens are
//!   single-use and rotate (reuse → 400
//!   `{"reason":"Invalid Token!","error":"invalid_grant"}`); one OAuth
//!   session per app + user: a new authorization kills the older tokens.
//! - `POST /oauth/revoke?token=…` (or `token` in the form): kills the session.
//! - Not Zoom: a resource-owner `password` grant, off until a password is
//!   set with [`FakeZoom::set_password`], so the host's password grant
//!   (RFC 9700 discourages it) has a real counterpart in tests.
//!
//! API (`/v2`): `GET /users/me`, `POST /users/me/meetings`,
//! `GET /users/me/recordings?page_size=&next_page_token=`; each checks its
//! scope; errors look like `{"code":124,"message":"Invalid access token."}`.
//!
//! Controls: [`TokenFault`]s queued for the next token-endpoint calls,
//! pre-approval mode, expiring tokens now, adding recordings; counters for
//! token-endpoint calls, refreshes, code exchanges, revocations.

// Handlers return ready-made error responses from helpers; their size is
// irrelevant in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng as _;
use serde_json::{Value, json};
use sha2::Digest as _;

/// The scopes the seeds name for Zoom.
pub const ZOOM_SCOPES: [&str; 3] = ["meeting:write", "recording:read", "user_info:read"];

/// An OAuth app registered at the fake Zoom (the operator's, or a user's own for BYOA).
#[derive(Debug, Clone)]
pub struct ZoomApp {
    pub client_id: String,
    pub client_secret: String,
    /// Scopes granted when the authorize request names none.
    pub scopes: Vec<String>,
}

/// A Zoom user who can authorize apps.
#[derive(Debug, Clone)]
pub struct ZoomUser {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub account_id: String,
}

impl ZoomUser {
    pub fn new(id: &str, email: &str, first_name: &str, last_name: &str) -> Self {
        ZoomUser {
            id: id.into(),
            email: email.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            account_id: "acct-test".into(),
        }
    }
}

/// A cloud recording listed by `GET /v2/users/me/recordings`.
#[derive(Debug, Clone)]
pub struct Recording {
    pub meeting_id: u64,
    pub topic: String,
    pub start_time: String,
}

/// What the token endpoint does instead of its job, once per queued fault.
#[derive(Debug, Clone)]
pub enum TokenFault {
    /// 500 with a JSON error body; the grant is not processed.
    ServerError,
    /// 429 with `Retry-After: <secs>`; the grant is not processed.
    TooManyRequests { retry_after_secs: u64 },
    /// 200 whose body is an OAuth error, not a token.
    ErrorBody200 { error: String, reason: String },
    /// Wait this long, then 504 without processing the grant (the client
    /// should have timed out by then).
    Hang(Duration),
    /// Process the grant (the refresh token rotates!), then answer 500: the
    /// caller never sees the new tokens, as if it crashed mid-response.
    ProcessThenFail,
    /// Succeed, but without `expires_in`.
    OmitExpiresIn,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    redirect_uri: String,
    challenge: Option<String>,
    used: bool,
}

#[derive(Debug, Clone)]
struct AccessRec {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    expires_at: Instant,
    session: u64,
}

#[derive(Debug, Clone)]
struct RefreshRec {
    client_id: String,
    user: String,
    scopes: Vec<String>,
    used: bool,
    session: u64,
}

#[derive(Debug, Clone)]
struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    challenge: Option<String>,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, ZoomApp>,
    users: HashMap<String, ZoomUser>,
    signed_in: String,
    consent_required: bool,
    pre_approval_required: bool,
    tickets: HashMap<String, AuthorizeParams>,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    /// (client_id, user email) → live session number; 0 = none.
    sessions: HashMap<(String, String), u64>,
    next_session: u64,
    faults: VecDeque<TokenFault>,
    /// Passwords by user e-mail, for the (non-Zoom) password grant.
    passwords: HashMap<String, String>,
    recordings: HashMap<String, Vec<Recording>>,
    next_meeting: u64,
    token_calls: u64,
    refreshes: u64,
    code_exchanges: u64,
    revocations: u64,
    revoked_tokens: Vec<String>,
    api_calls: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake Zoom. Stops when dropped.
pub struct FakeZoom {
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeZoom {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 24] = rand::rng().random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl FakeZoom {
    /// Test client id of the operator's app registered by [`FakeZoom::start`].
    pub const CLIENT_ID: &'static str = "plugboard-zoom-app";
    /// Its client secret.
    pub const CLIENT_SECRET: &'static str = "zoom-app-secret";

    /// Start with one app ([`Self::CLIENT_ID`]) and one signed-in user, Alice.
    pub async fn start() -> FakeZoom {
        let zoom = FakeZoom::start_empty().await;
        zoom.add_app(ZoomApp {
            client_id: Self::CLIENT_ID.into(),
            client_secret: Self::CLIENT_SECRET.into(),
            scopes: ZOOM_SCOPES.iter().map(|s| s.to_string()).collect(),
        });
        zoom.add_user(ZoomUser::new(
            "zu-alice",
            "alice@example.com",
            "Alice",
            "Example",
        ));
        zoom.sign_in("alice@example.com");
        zoom
    }

    /// Start with no app and no user.
    pub async fn start_empty() -> FakeZoom {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            next_meeting: 85_746_065_000,
            ..Inner::default()
        }));
        let router = Router::new()
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/authorize/consent", post(consent))
            .route("/oauth/token", post(token))
            .route("/oauth/revoke", post(revoke))
            .route("/v2/users/me", get(users_me))
            .route("/v2/users/me/meetings", post(create_meeting))
            .route("/v2/users/me/recordings", get(list_recordings))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake zoom on 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeZoom { addr, inner, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn add_app(&self, app: ZoomApp) {
        self.with(|i| i.apps.insert(app.client_id.clone(), app));
    }

    pub fn add_user(&self, user: ZoomUser) {
        self.with(|i| i.users.insert(user.email.clone(), user));
    }

    /// The user the authorize page acts for (the "browser session").
    pub fn sign_in(&self, email: &str) {
        self.with(|i| i.signed_in = email.to_string());
    }

    /// Accept the resource-owner password grant for `email` with `password`
    /// (Zoom has no such grant; this is for testing the host's).
    pub fn set_password(&self, email: &str, password: &str) {
        self.with(|i| i.passwords.insert(email.to_string(), password.to_string()));
    }

    /// Show a consent form instead of auto-approving.
    pub fn set_consent_required(&self, on: bool) {
        self.with(|i| i.consent_required = on);
    }

    /// The account requires admin pre-approval of apps: code exchange fails
    /// with Zoom's pre-approval error.
    pub fn set_pre_approval_required(&self, on: bool) {
        self.with(|i| i.pre_approval_required = on);
    }

    /// Queue a fault for the next token-endpoint call (FIFO).
    pub fn push_token_fault(&self, fault: TokenFault) {
        self.with(|i| i.faults.push_back(fault));
    }

    pub fn add_recordings(&self, email: &str, recordings: impl IntoIterator<Item = Recording>) {
        self.with(|i| {
            i.recordings
                .entry(email.to_string())
                .or_default()
                .extend(recordings)
        });
    }

    /// Make this access token expired, as if its hour had passed.
    pub fn expire_access_token(&self, token: &str) {
        let past = Instant::now() - Duration::from_secs(1);
        self.with(|i| {
            if let Some(rec) = i.access.get_mut(token) {
                rec.expires_at = past;
            }
        });
    }

    /// Expire every access token issued so far.
    pub fn expire_all_access_tokens(&self) {
        let past = Instant::now() - Duration::from_secs(1);
        self.with(|i| i.access.values_mut().for_each(|r| r.expires_at = past));
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.base_url())
    }
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }
    pub fn revoke_url(&self) -> String {
        format!("{}/oauth/revoke", self.base_url())
    }
    /// `<base>/v2`, the API base URL.
    pub fn api_url(&self) -> String {
        format!("{}/v2", self.base_url())
    }

    /// Every call to `POST /oauth/token`, faulted or not.
    pub fn token_calls(&self) -> u64 {
        self.with(|i| i.token_calls)
    }
    /// `refresh_token` grants that issued new tokens.
    pub fn refreshes(&self) -> u64 {
        self.with(|i| i.refreshes)
    }
    /// `authorization_code` grants that issued tokens.
    pub fn code_exchanges(&self) -> u64 {
        self.with(|i| i.code_exchanges)
    }
    /// Successful calls to `/oauth/revoke`.
    pub fn revocations(&self) -> u64 {
        self.with(|i| i.revocations)
    }
    /// Tokens named in successful revocations, in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.with(|i| i.revoked_tokens.clone())
    }
    /// Calls to `/v2`.
    pub fn api_calls(&self) -> u64 {
        self.with(|i| i.api_calls)
    }

    /// Whether `token` is a live access token right now.
    pub fn access_token_is_live(&self, token: &str) -> bool {
        self.with(|i| check_access(i, token).is_ok())
    }
}

// ---------- helpers ----------

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn oauth_error(status: StatusCode, error: &str, reason: &str) -> Response {
    json_response(status, json!({ "reason": reason, "error": error }))
}

fn api_error(status: StatusCode, code: u32, message: &str) -> Response {
    json_response(status, json!({ "code": code, "message": message }))
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

fn split(scopes: &str) -> Vec<String> {
    scopes
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn authenticate_app(i: &Inner, headers: &HeaderMap) -> Result<ZoomApp, Response> {
    let Some((id, secret)) = basic_client(headers) else {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client_id or client_secret",
        ));
    };
    match i.apps.get(&id) {
        Some(app) if app.client_secret == secret => Ok(app.clone()),
        _ => Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client_id or client_secret",
        )),
    }
}

fn session_live(i: &Inner, client_id: &str, user: &str, session: u64) -> bool {
    i.sessions
        .get(&(client_id.to_string(), user.to_string()))
        .is_some_and(|s| *s == session)
}

fn issue_tokens(
    i: &mut Inner,
    client_id: &str,
    user: &str,
    scopes: &[String],
    session: u64,
    with_expiry: bool,
) -> Value {
    let access = random_token("zat_");
    let refresh = random_token("zrt_");
    i.access.insert(
        access.clone(),
        AccessRec {
            client_id: client_id.into(),
            user: user.into(),
            scopes: scopes.to_vec(),
            expires_at: Instant::now() + Duration::from_secs(3599),
            session,
        },
    );
    i.refresh.insert(
        refresh.clone(),
        RefreshRec {
            client_id: client_id.into(),
            user: user.into(),
            scopes: scopes.to_vec(),
            used: false,
            session,
        },
    );
    let mut body = json!({
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": refresh,
        "scope": scopes.join(","),
    });
    if with_expiry {
        body["expires_in"] = json!(3599);
    }
    body
}

// ---------- OAuth ----------

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut i = s.lock().unwrap();
    let Some(client_id) = q.get("client_id") else {
        return (StatusCode::BAD_REQUEST, "Invalid client_id").into_response();
    };
    let Some(app) = i.apps.get(client_id).cloned() else {
        return (StatusCode::BAD_REQUEST, "Invalid client_id: app not found").into_response();
    };
    let Some(redirect_uri) = q.get("redirect_uri").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            "Invalid redirect: redirect_uri missing",
        )
            .into_response();
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return redirect_with(&redirect_uri, &[("error", "unsupported_response_type")]);
    }
    if let Some(method) = q.get("code_challenge_method")
        && method != "S256"
    {
        return redirect_with(&redirect_uri, &[("error", "invalid_request")]);
    }
    let scopes = q
        .get("scope")
        .map(|s| split(s))
        .filter(|s| !s.is_empty())
        .unwrap_or(app.scopes.clone());
    let params = AuthorizeParams {
        client_id: client_id.clone(),
        redirect_uri,
        state: q.get("state").cloned(),
        scopes,
        challenge: q.get("code_challenge").cloned(),
    };
    if i.consent_required {
        let ticket = random_token("tk_");
        i.tickets.insert(ticket.clone(), params.clone());
        return Html(format!(
            "<!doctype html><h1>Allow this app to use your Zoom account?</h1>\
             <p>{}</p><form method=\"post\" action=\"/oauth/authorize/consent\">\
             <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
             <button name=\"decision\" value=\"allow\">Allow</button>\
             <button name=\"decision\" value=\"deny\">Decline</button></form>",
            params.scopes.join(", ")
        ))
        .into_response();
    }
    approve(&mut i, params)
}

fn approve(i: &mut Inner, params: AuthorizeParams) -> Response {
    let code = random_token("zc_");
    let user = i.signed_in.clone();
    i.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: params.client_id,
            user,
            scopes: params.scopes,
            redirect_uri: params.redirect_uri.clone(),
            challenge: params.challenge,
            used: false,
        },
    );
    let mut out = vec![("code", code.as_str())];
    if let Some(state) = params.state.as_deref() {
        out.push(("state", state));
    }
    redirect_with(&params.redirect_uri, &out)
}

async fn consent(State(s): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut i = s.lock().unwrap();
    let Some(params) = form.get("ticket").and_then(|t| i.tickets.remove(t)) else {
        return (
            StatusCode::BAD_REQUEST,
            "This authorization request expired.",
        )
            .into_response();
    };
    if form.get("decision").map(String::as_str) == Some("allow") {
        return approve(&mut i, params);
    }
    let mut out = vec![
        ("error", "access_denied"),
        ("error_description", "The user declined the authorization."),
    ];
    if let Some(state) = params.state.as_deref() {
        out.push(("state", state));
    }
    redirect_with(&params.redirect_uri, &out)
}

async fn token(
    State(s): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let fault = {
        let mut i = s.lock().unwrap();
        i.token_calls += 1;
        i.faults.pop_front()
    };
    let mut with_expiry = true;
    let mut fail_after = false;
    match fault {
        Some(TokenFault::ServerError) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal Error",
            );
        }
        Some(TokenFault::TooManyRequests { retry_after_secs }) => {
            let mut r = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "You have reached the maximum per-second rate limit for this API.",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_secs.to_string().parse().unwrap(),
            );
            return r;
        }
        Some(TokenFault::ErrorBody200 { error, reason }) => {
            return oauth_error(StatusCode::OK, &error, &reason);
        }
        Some(TokenFault::Hang(d)) => {
            tokio::time::sleep(d).await;
            return oauth_error(
                StatusCode::GATEWAY_TIMEOUT,
                "server_error",
                "Gateway Timeout",
            );
        }
        Some(TokenFault::ProcessThenFail) => fail_after = true,
        Some(TokenFault::OmitExpiresIn) => with_expiry = false,
        None => {}
    }
    let mut i = s.lock().unwrap();
    let app = match authenticate_app(&i, &headers) {
        Ok(app) => app,
        Err(r) => return r,
    };
    let response = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(&mut i, &app, &form, with_expiry),
        Some("refresh_token") => refresh_grant(&mut i, &app, &form, with_expiry),
        Some("password") => password_grant(&mut i, &app, &form, with_expiry),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
    };
    if fail_after {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal Error",
        );
    }
    response
}

fn code_grant(
    i: &mut Inner,
    app: &ZoomApp,
    form: &HashMap<String, String>,
    with_expiry: bool,
) -> Response {
    let invalid_code = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid authorization code",
        )
    };
    let Some(code) = form.get("code") else {
        return invalid_code();
    };
    let Some(grant) = i.codes.get_mut(code) else {
        return invalid_code();
    };
    if grant.used || grant.client_id != app.client_id {
        return invalid_code();
    }
    grant.used = true;
    let grant = grant.clone();
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid redirect uri",
        );
    }
    if let Some(challenge) = &grant.challenge {
        let Some(verifier) = form.get("code_verifier") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid code_verifier",
            );
        };
        let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        if &computed != challenge {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid code_verifier",
            );
        }
    }
    if i.pre_approval_required {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "This app requires pre-approval by your Zoom account admin.",
        );
    }
    // One OAuth session per app + user: this authorization replaces any older one.
    i.next_session += 1;
    let session = i.next_session;
    i.sessions
        .insert((app.client_id.clone(), grant.user.clone()), session);
    i.code_exchanges += 1;
    let body = issue_tokens(
        i,
        &app.client_id,
        &grant.user,
        &grant.scopes,
        session,
        with_expiry,
    );
    json_response(StatusCode::OK, body)
}

fn refresh_grant(
    i: &mut Inner,
    app: &ZoomApp,
    form: &HashMap<String, String>,
    with_expiry: bool,
) -> Response {
    let invalid = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid Token!");
    let Some(token) = form.get("refresh_token") else {
        return invalid();
    };
    let Some(rec) = i.refresh.get(token).cloned() else {
        return invalid();
    };
    if rec.used
        || rec.client_id != app.client_id
        || !session_live(i, &rec.client_id, &rec.user, rec.session)
    {
        return invalid();
    }
    i.refresh.get_mut(token).expect("present").used = true;
    i.refreshes += 1;
    let body = issue_tokens(
        i,
        &rec.client_id,
        &rec.user,
        &rec.scopes,
        rec.session,
        with_expiry,
    );
    json_response(StatusCode::OK, body)
}

fn password_grant(
    i: &mut Inner,
    app: &ZoomApp,
    form: &HashMap<String, String>,
    with_expiry: bool,
) -> Response {
    let (Some(email), Some(password)) = (form.get("username"), form.get("password")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    };
    if i.passwords.get(email) != Some(password) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid username or password",
        );
    }
    let Some(user) = i.users.get(email).map(|u| u.email.clone()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "No such user");
    };
    let scopes = form
        .get("scope")
        .map(|s| split(s))
        .unwrap_or(app.scopes.clone());
    i.next_session += 1;
    let session = i.next_session;
    i.sessions
        .insert((app.client_id.clone(), user.clone()), session);
    let body = issue_tokens(i, &app.client_id, &user, &scopes, session, with_expiry);
    json_response(StatusCode::OK, body)
}

async fn revoke(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    // Zoom takes `token` in the query; RFC 7009 clients send it in the form.
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut i = s.lock().unwrap();
    let app = match authenticate_app(&i, &headers) {
        Ok(app) => app,
        Err(r) => return r,
    };
    let Some(token) = q.get("token").or(form.get("token")).cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Token is required",
        );
    };
    let owner = i
        .access
        .get(&token)
        .map(|r| (r.client_id.clone(), r.user.clone(), r.session))
        .or_else(|| {
            i.refresh
                .get(&token)
                .map(|r| (r.client_id.clone(), r.user.clone(), r.session))
        });
    if let Some((client_id, user, session)) = owner
        && client_id == app.client_id
        && session_live(&i, &client_id, &user, session)
    {
        i.sessions.remove(&(client_id, user));
    }
    i.revocations += 1;
    i.revoked_tokens.push(token);
    json_response(StatusCode::OK, json!({ "status": "success" }))
}

// ---------- API ----------

fn check_access(i: &Inner, token: &str) -> Result<AccessRec, Response> {
    let Some(rec) = i.access.get(token) else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            124,
            "Invalid access token.",
        ));
    };
    if !session_live(i, &rec.client_id, &rec.user, rec.session) {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            124,
            "Invalid access token.",
        ));
    }
    if rec.expires_at <= Instant::now() {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            124,
            "Access token is expired.",
        ));
    }
    Ok(rec.clone())
}

fn api_auth(s: &Shared, headers: &HeaderMap, scope: &str) -> Result<AccessRec, Response> {
    let mut i = s.lock().unwrap();
    i.api_calls += 1;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let rec = check_access(&i, token)?;
    if !rec.scopes.iter().any(|s| s == scope) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            4711,
            &format!("Invalid access token, does not contain scopes:[{scope}]."),
        ));
    }
    Ok(rec)
}

async fn users_me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let rec = match api_auth(&s, &headers, "user_info:read") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let i = s.lock().unwrap();
    let Some(user) = i.users.get(&rec.user) else {
        return api_error(StatusCode::NOT_FOUND, 1001, "User does not exist.");
    };
    json_response(
        StatusCode::OK,
        json!({
            "id": user.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "account_id": user.account_id,
            "type": 2,
            "status": "active",
        }),
    )
}

async fn create_meeting(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let rec = match api_auth(&s, &headers, "meeting:write") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(topic) = body.get("topic").and_then(Value::as_str) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            "Validation Failed: topic is required.",
        );
    };
    let mut i = s.lock().unwrap();
    i.next_meeting += 1;
    let id = i.next_meeting;
    json_response(
        StatusCode::CREATED,
        json!({
            "id": id,
            "uuid": URL_SAFE_NO_PAD.encode(id.to_be_bytes()),
            "host_email": rec.user,
            "topic": topic,
            "type": body.get("type").cloned().unwrap_or(json!(2)),
            "start_time": body.get("start_time").cloned().unwrap_or(Value::Null),
            "duration": body.get("duration").cloned().unwrap_or(json!(60)),
            "join_url": format!("https://zoom.example/j/{id}"),
        }),
    )
}

async fn list_recordings(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let rec = match api_auth(&s, &headers, "recording:read") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let page_size: usize = match q.get("page_size").map(|p| p.parse::<usize>()) {
        None => 30,
        Some(Ok(n)) if (1..=300).contains(&n) => n,
        Some(_) => {
            return api_error(StatusCode::BAD_REQUEST, 300, "Invalid page_size: 1 to 300.");
        }
    };
    let offset: usize = match q.get("next_page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return api_error(StatusCode::BAD_REQUEST, 300, "Invalid next_page_token."),
        },
    };
    let i = s.lock().unwrap();
    let all = i.recordings.get(&rec.user).cloned().unwrap_or_default();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|r| {
            json!({
                "id": r.meeting_id,
                "uuid": URL_SAFE_NO_PAD.encode(r.meeting_id.to_be_bytes()),
                "topic": r.topic,
                "start_time": r.start_time,
                "recording_files": [{ "file_type": "MP4", "status": "completed" }],
            })
        })
        .collect();
    let next = offset + page.len();
    let next_page_token = if next < all.len() {
        URL_SAFE_NO_PAD.encode(format!("o:{next}"))
    } else {
        String::new()
    };
    json_response(
        StatusCode::OK,
        json!({
            "page_size": page_size,
            "total_records": all.len(),
            "next_page_token": next_page_token,
            "meetings": page,
        }),
    )
}
