//! Console sign-in over real HTTP: the session cookie works like a bearer
//! token, sign-out and expiry kill it, a cross-site request carrying it is
//! refused, wrong passwords are throttled, and neither the password nor
//! the session id reaches a response body or a log line.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use plugboard_identity::MAX_FAILED_ATTEMPTS;
use plugboard_server::session::{COOKIE_NAME, CSRF_HEADER};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// Every log line of this test binary, at debug level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A browser-like client: no bearer token, the cookie it was given.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
    set_cookie: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Browser {
            base: base.to_string(),
            http: reqwest::Client::new(),
            cookie: None,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("{COOKIE_NAME}={c}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            text,
            set_cookie,
        }
    }

    async fn me(&self) -> Answer {
        self.send(reqwest::Method::GET, "/api/v1/me", None, &[])
            .await
    }

    /// Same-origin request, as the console's own page sends it.
    async fn same_origin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let origin = self.base.clone();
        self.send(method, path, body, &[("origin", &origin)]).await
    }

    async fn sign_in(&self, org: Option<&str>, user: &str, password: &str) -> Answer {
        let mut body = json!({"username": user, "password": password});
        if let Some(o) = org {
            body["organization"] = json!(o);
        }
        self.same_origin(reqwest::Method::POST, "/api/v1/session", Some(body))
            .await
    }
}

fn session_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first
        .strip_prefix(&format!("{COOKIE_NAME}="))
        .expect("the session cookie")
        .to_string()
}

async fn set_password(t: &TestServer, user: &str, password: &str) {
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let r = admin
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{user}/password"),
            Some(json!({ "password": password })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_works_like_a_token_until_sign_out() {
    let logs = captured_logs();
    let t = start_server().await;
    set_password(&t, "admin", PASSWORD).await;
    let mut b = Browser::new(&t.base);

    // Without a cookie or token: 401 that says how to sign in.
    let r = b.me().await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("/console/"));

    let r = b.sign_in(None, "admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["name"].as_str(), r.body["is_admin"].as_bool()),
        (Some("admin"), Some(true))
    );
    let set_cookie = r.set_cookie.expect("sign-in sets the cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain http must not mark it Secure: {set_cookie}"
    );
    let session = session_value(&set_cookie);
    assert!(
        !r.text.contains(&session),
        "the session id is only in the cookie"
    );
    b.cookie = Some(session.clone());

    // The cookie works like a token, for reads and (same-origin) writes.
    let r = b.me().await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (200, Some("admin")),
        "{}",
        r.text
    );
    let r = b
        .same_origin(
            reqwest::Method::POST,
            "/api/v1/folders",
            Some(json!({"name": "Team"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A cross-site request carrying the cookie is refused and changes nothing.
    let before = b
        .send(reqwest::Method::GET, "/api/v1/folders", None, &[])
        .await
        .body;
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        vec![],
    ] {
        let r = b
            .send(
                reqwest::Method::POST,
                "/api/v1/folders",
                Some(json!({"name": "Evil"})),
                &headers,
            )
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (403, Some("cross_origin_refused")),
            "{headers:?}: {}",
            r.text
        );
    }
    let r = b
        .send(
            reqwest::Method::DELETE,
            "/api/v1/session",
            None,
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403, "cross-site sign-out refused too: {}", r.text);
    let after = b
        .send(reqwest::Method::GET, "/api/v1/folders", None, &[])
        .await
        .body;
    assert_eq!(
        before, after,
        "no folder was created by the refused requests"
    );
    // A non-browser client with the CSRF header passes.
    let r = b
        .send(
            reqwest::Method::POST,
            "/api/v1/folders",
            Some(json!({"name": "Scripted"})),
            &[(CSRF_HEADER, "1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Sign out: the cookie is cleared and the session is dead server-side.
    let r = b
        .same_origin(reqwest::Method::DELETE, "/api/v1/session", None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let cleared = r.set_cookie.expect("sign-out clears the cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let r = b.me().await;
    assert_error_reply(&r, 401, "unauthorized");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("sign in again")
    );

    // Nothing secret in the database or the logs.
    let (org, user) = default_org_admin(&t).await;
    let attempts = t
        .server
        .state
        .store
        .list_login_attempts(org, user)
        .await
        .unwrap();
    assert!(
        attempts
            .iter()
            .any(|a| a.succeeded && a.client.starts_with("console sign-in")),
        "{attempts:?}"
    );
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        logs.contains("console sign-in"),
        "sign-in is logged (without secrets)"
    );
    assert!(
        !logs.contains(&session),
        "a log line contained the session id"
    );
    assert!(
        !logs.contains(PASSWORD),
        "a log line contained the password"
    );
    t.server.shutdown().await.unwrap();
}

/// The default organization and its admin user, as the store names them.
async fn default_org_admin(
    t: &TestServer,
) -> (plugboard_store::OrganizationId, plugboard_store::UserId) {
    let store = &t.server.state.store;
    let org = store
        .find_organization("default")
        .await
        .unwrap()
        .expect("first start creates it");
    let admin = store
        .find_user(org.id, "admin")
        .await
        .unwrap()
        .expect("and its admin");
    (org.id, admin.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    let t = start_server().await;
    let (_, admin) = default_org_admin(&t).await;
    let id = "pbs_expired-session-for-the-test";
    let hash = plugboard_server::identity::token_hash(id);
    let store = &t.server.state.store;
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    store.create_session(admin, &hash, past).await.unwrap();
    let mut b = Browser::new(&t.base);
    b.cookie = Some(id.to_string());
    let r = b.me().await;
    assert_error_reply(&r, 401, "unauthorized");
    assert!(
        r.body["message"].as_str().unwrap().contains("expired"),
        "{}",
        r.text
    );
    // An unknown cookie value is refused the same way.
    b.cookie = Some("pbs_never-issued".into());
    let r = b
        .send(reqwest::Method::GET, "/api/v1/connections", None, &[])
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_unknown_organization_look_alike_and_are_throttled() {
    let t = start_server().await;
    set_password(&t, "admin", PASSWORD).await;
    let b = Browser::new(&t.base);
    // A malformed body is a 400 that says what is wrong, and is no attempt.
    for body in [json!({"user": "admin"}), json!({"username": "admin"})] {
        let r = b
            .same_origin(reqwest::Method::POST, "/api/v1/session", Some(body))
            .await;
        assert_error_reply(&r, 400, "invalid_json");
    }
    let wrong = b.sign_in(None, "admin", "not the password").await;
    let unknown_user = b.sign_in(None, "nobody", PASSWORD).await;
    let unknown_org = b.sign_in(Some("no-such-org"), "admin", PASSWORD).await;
    for r in [&wrong, &unknown_user, &unknown_org] {
        assert_error_reply(r, 401, "unauthorized");
        assert!(r.set_cookie.is_none());
    }
    assert_eq!(
        wrong.text, unknown_user.text,
        "same answer for a wrong password and an unknown user"
    );
    assert_eq!(
        wrong.text, unknown_org.text,
        "and for an unknown organization"
    );

    // A user without a password cannot sign in either.
    t.server
        .create_user(first_tenant(&t).await, "bob", false)
        .await
        .unwrap();
    let r = b.sign_in(None, "bob", "").await;
    assert_eq!(r.text, wrong.text);

    // Throttled after MAX_FAILED_ATTEMPTS failures, even with the right password.
    for _ in 1..MAX_FAILED_ATTEMPTS {
        let r = b.sign_in(None, "admin", "still wrong").await;
        assert_eq!(r.status, 401);
    }
    let r = b.sign_in(None, "admin", PASSWORD).await;
    assert_error_reply(&r, 429, "too_many_attempts");
    assert!(r.set_cookie.is_none(), "no session while throttled");
    let (org, admin) = default_org_admin(&t).await;
    let attempts = t
        .server
        .state
        .store
        .list_login_attempts(org, admin)
        .await
        .unwrap();
    assert_eq!(
        attempts.iter().filter(|a| !a.succeeded).count() as i64,
        MAX_FAILED_ATTEMPTS + 1
    );
    assert!(attempts.iter().all(|a| !a.succeeded));
    // Unknown names are throttled alike, so 429 does not tell who exists.
    for _ in 1..MAX_FAILED_ATTEMPTS {
        assert_eq!(b.sign_in(None, "nobody", "x").await.status, 401);
    }
    assert_error_reply(
        &b.sign_in(None, "nobody", "x").await,
        429,
        "too_many_attempts",
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_a_password_needs_an_admin_a_known_user_and_eight_characters() {
    let t = start_server().await;
    let tenant = first_tenant(&t).await;
    let (_, bob_token) = t.server.create_user(tenant, "bob", false).await.unwrap();
    let admin = Api::new(&t.base, Some(&t.admin_token));
    let bob = Api::new(&t.base, Some(&bob_token));
    let put = |api: &Api, user: &str, password: &str| {
        let api = api.clone();
        let path = format!("/api/v1/users/{user}/password");
        let body = json!({ "password": password });
        async move { api.send(reqwest::Method::PUT, &path, Some(body)).await }
    };
    assert_error(&put(&bob, "admin", PASSWORD).await, 403, "admin_required");
    assert_error(&put(&admin, "ghost", PASSWORD).await, 404, "user_not_found");
    assert_error(&put(&admin, "bob", "short").await, 400, "weak_password");
    // Another tenant's user is not found from here.
    let (other_boot, other_token) = t.server.create_tenant("other").await.unwrap();
    let other = Api::new(&t.base, Some(&other_token));
    assert_error(&put(&other, "bob", PASSWORD).await, 404, "user_not_found");
    // The other organization's admin signs in to their own tenant only.
    assert_eq!(put(&other, "admin", PASSWORD).await.status, 204);
    let mut theirs = Browser::new(&t.base);
    let r = theirs.sign_in(Some("other"), "admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tenant_id"], json!(other_boot.principal.tenant_id));
    theirs.cookie = Some(session_value(&r.set_cookie.unwrap()));
    let folders = theirs
        .send(reqwest::Method::GET, "/api/v1/folders", None, &[])
        .await;
    let ids: Vec<&Value> = folders
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&json!(other_boot.personal_folder)],
        "{}",
        folders.text
    );
    assert_eq!(
        theirs.sign_in(None, "admin", PASSWORD).await.status,
        401,
        "the default organization's admin has no password yet"
    );
    // Nothing changed: bob still has no password.
    let b = Browser::new(&t.base);
    assert_eq!(b.sign_in(None, "bob", "short").await.status, 401);
    assert_eq!(b.sign_in(None, "bob", PASSWORD).await.status, 401);

    assert_eq!(put(&admin, "bob", PASSWORD).await.status, 204);
    let r = b.sign_in(None, "bob", PASSWORD).await;
    assert_eq!(
        (r.status, r.body["is_admin"].as_bool()),
        (200, Some(false)),
        "{}",
        r.text
    );
    // A new password ends bob's sessions.
    let mut signed_in = Browser::new(&t.base);
    signed_in.cookie = Some(session_value(&r.set_cookie.unwrap()));
    assert_eq!(
        signed_in
            .send(reqwest::Method::GET, "/api/v1/me", None, &[])
            .await
            .status,
        200
    );
    assert_eq!(put(&admin, "bob", "another password").await.status, 204);
    assert_eq!(
        signed_in
            .send(reqwest::Method::GET, "/api/v1/me", None, &[])
            .await
            .status,
        401
    );
    admin.assert_never_returned(PASSWORD);
    t.server.shutdown().await.unwrap();
}

async fn first_tenant(t: &TestServer) -> plugboard_server::model::TenantId {
    let me = Api::new(&t.base, Some(&t.admin_token))
        .get("/api/v1/me")
        .await;
    me.body["tenant_id"].as_str().unwrap().parse().unwrap()
}

#[track_caller]
fn assert_error_reply(r: &Answer, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        r.text
    );
    assert!(
        r.body["message"].as_str().is_some_and(|m| m.len() > 10),
        "{}",
        r.text
    );
}

/// Issue 17: a user created through the identity API (`POST
/// /identity/api/User`) works in no tenant yet. Their right password is
/// refused with `403 no_tenant`, and the attempt is recorded as a failure
/// with that reason, not as a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_of_a_user_of_no_tenant_is_refused_and_recorded_as_a_failure() {
    let t = start_server().await;
    let token = &identity_token(&t, &["PM.User", "PM.UserLoginAttempt.Read"]).await;
    let http = reqwest::Client::new();
    let (org, _) = default_org_admin(&t).await;
    let bob: Value = http
        .post(format!("{}/identity/api/User", t.base))
        .bearer_auth(token)
        .json(&json!({ "partitionGlobalId": org.to_string(), "userName": "bob", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob = bob["id"].as_str().unwrap();

    let b = Browser::new(&t.base);
    let r = b.sign_in(None, "bob", PASSWORD).await;
    assert_error_reply(&r, 403, "no_tenant");
    assert!(r.set_cookie.is_none());

    let attempts: Value = http
        .get(format!("{}/identity/api/User/{bob}/loginAttempts", t.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(attempts["totalCount"], 1, "{attempts}");
    assert_eq!(attempts["results"][0]["result"], "Failure", "{attempts}");
    assert_eq!(attempts["results"][0]["reason"], "no_tenant", "{attempts}");
    t.server.shutdown().await.unwrap();
}
