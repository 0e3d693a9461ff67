//! OAuth connections through `plugboard serve`, end to end over real HTTP:
//! the authorization-code flow against the fake Zoom and the real
//! oidc-provider (pages driven headlessly), completed on Plugboard's own
//! `/provisioning_/callback`; refresh and rotation; `invalid_grant`;
//! callback errors; seed 002's one-session-per-app warning; revocation on
//! delete; BYOA with an organization default. Every test also checks that
//! no secret reached a response body or the server's logs.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use plugboard_auth::Credential;
use plugboard_test_support::browser::{Consent, authorize_with_oidc, authorize_with_zoom};
use plugboard_test_support::{FakeZoom, LogCapture, OidcProvider, TokenFault, ZoomApp};
use serde_json::{Value, json};
use url::Url;

/// Every log line of this test binary, at debug level (server tasks run
/// on any worker thread, so the capture is global).
fn logs() -> &'static LogCapture {
    LogCapture::global(tracing::Level::DEBUG)
}

/// None of `secrets` is in a response body or in the logs.
fn assert_no_secret_leaked(api: &Api, secrets: &[String]) {
    let logs = logs().text();
    assert!(
        logs.contains("response"),
        "the log capture must see the server's request logs"
    );
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        api.assert_never_returned(secret);
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
    }
}

// ---------------------------------------------------------------------------
// Set-up

/// A server whose operator Zoom app is the fake Zoom's, with the Zoom API
/// and OAuth endpoints moved to the fake.
async fn zoom_server(zoom: &FakeZoom) -> TestServer {
    logs();
    let (api, oauth) = (zoom.api_url(), zoom.base_url());
    start_server_with(move |config| use_fake_zoom(config, &api, &oauth)).await
}

/// The stored credential (test-only peek through the server's state).
async fn stored(t: &TestServer, api: &Api, id: &str) -> plugboard_auth::OAuth2Credential {
    let tenant = api.get("/api/v1/me").await.body["tenant_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let state = &t.server.state;
    let conn = plugboard_server::oauth::connection_ref(&state.store, tenant, id.parse().unwrap())
        .await
        .unwrap();
    match state.tokens.credential(conn).await.unwrap() {
        Credential::OAuth2(o) => o,
        other => panic!("not an OAuth credential: {other:?}"),
    }
}

/// The secrets a test must never see again: the callback's code, the
/// stored tokens, and the app secrets.
fn secrets_of(callback: &Url, cred: &plugboard_auth::OAuth2Credential) -> Vec<String> {
    let mut out = vec![FakeZoom::CLIENT_SECRET.to_string()];
    out.extend(
        callback
            .query_pairs()
            .filter(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string()),
    );
    out.push(cred.access_token.expose().to_string());
    out.extend(cred.refresh_token.as_ref().map(|r| r.expose().to_string()));
    out
}

fn meeting() -> Value {
    json!({"topic": "Quarterly review", "start_time": "2030-01-15T10:00:00Z", "duration": 30})
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoom_connects_through_the_callback_and_creates_a_meeting() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    let created = start_zoom(&api, "oauth2_authorization_code", json!({})).await;
    let url = authorize_url(&created);
    let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], FakeZoom::CLIENT_ID);
    assert_eq!(q["redirect_uri"], callback_prefix(&t));
    assert_eq!(q["code_challenge_method"], "S256");
    let callback = allow_at_zoom(&t, &url).await;
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("connected as Alice Example"), "{page}");

    let id = created.body["connection"]["id"].as_str().unwrap();
    let c = api.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(
        c["account"]["id"], "zu-alice",
        "account from check-connection"
    );
    assert_eq!(c["name"], "Zoom (Alice Example)");
    let mut granted: Vec<String> = serde_json::from_value(c["granted_scopes"].clone()).unwrap();
    granted.sort();
    assert_eq!(
        granted,
        ["meeting:write", "recording:read", "user_info:read"]
    );

    let r = api
        .post(
            &format!("/api/v1/connections/{id}/invoke/create_meeting"),
            meeting(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["topic"], "Quarterly review");
    assert_eq!(zoom.code_exchanges(), 1);

    let cred = stored(&t, &api, id).await;
    assert_no_secret_leaked(&api, &secrets_of(&callback, &cred));
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_meeting_write_is_refused_403_naming_the_scope() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let (id, _, _) = connect_zoom(
        &t,
        &api,
        json!({"scopes": ["recording:read", "user_info:read"]}),
    )
    .await;
    let calls = zoom.api_calls();
    let r = api
        .post(
            &format!("/api/v1/connections/{id}/invoke/create_meeting"),
            meeting(),
        )
        .await;
    assert_error(&r, 403, "missing_scopes");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("meeting:write")
    );
    assert_eq!(
        r.body["details"]["missing_scopes"],
        json!(["meeting:write"])
    );
    assert_eq!(zoom.api_calls(), calls, "refused before calling Zoom");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_connector_connects_through_oidc_provider() {
    logs();
    let t = start_server().await;
    let redirect = callback_prefix(&t);
    let oidc = OidcProvider::start(&[&redirect]).await.unwrap();
    let api = Api::new(&t.base, Some(&t.admin_token));
    let client = OidcProvider::BASIC_CLIENT;
    let created = api
        .post(
            "/api/v1/connections",
            json!({
                "connector": "oauth2",
                "auth_kind": "oauth2_byoa",
                "config": {
                    "api_base_url": oidc.issuer(),
                    "authorize_url": oidc.authorize_url(),
                    "token_url": oidc.token_url(),
                    "revoke_url": oidc.revoke_url(),
                    "scopes": "openid email",
                    "userinfo_path": "/me",
                },
                "credentials": {"client_id": client.client_id, "client_secret": client.client_secret},
            }),
        )
        .await;
    let url = authorize_url(&created);
    let callback = authorize_with_oidc(
        &url,
        &redirect,
        OidcProvider::LOGIN,
        OidcProvider::PASSWORD,
        Consent::Allow,
    )
    .await
    .unwrap();
    assert!(
        callback.query_pairs().any(|(k, _)| k == "iss"),
        "oidc-provider sends RFC 9207 iss, which Plugboard checks"
    );
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    let id = created.body["connection"]["id"].as_str().unwrap();
    let c = api.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(c["account"]["id"], "alice", "account from check-connection");

    let r = api
        .post(
            &format!("/api/v1/connections/{id}/invoke/request"),
            json!({"method": "GET", "path": "/me"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cred = stored(&t, &api, id).await;
    let mut secrets = secrets_of(&callback, &cred);
    secrets.push(client.client_secret.to_string());
    assert_no_secret_leaked(&api, &secrets);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_errors_end_the_pending_connection_with_a_clear_page() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    // Denied consent: the pending connection ends Disconnected, saying so.
    zoom.set_consent_required(true);
    let created = start_zoom(&api, "oauth2_authorization_code", json!({})).await;
    let url = authorize_url(&created);
    let callback = authorize_with_zoom(&url, &callback_prefix(&t), Consent::Deny)
        .await
        .unwrap();
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Access was not granted"), "{page}");
    let id = created.body["connection"]["id"].as_str().unwrap();
    let c = api.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "disconnected");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("Access was not granted"),
        "{c}"
    );
    zoom.set_consent_required(false);

    // Replayed state: the second visit is refused, the connection unchanged.
    let (id, callback, _) = connect_zoom(&t, &api, json!({})).await;
    let before = api.get(&format!("/api/v1/connections/{id}")).await.body;
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("already completed"), "{page}");
    let after = api.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(before, after, "a replayed callback changes nothing");
    assert_eq!(zoom.code_exchanges(), 1, "the code is exchanged once");

    // A state Plugboard never issued.
    let all_before = api.get("/api/v1/connections").await.body;
    let bogus = Url::parse(&format!(
        "{}?code=made-up&state=not-a-plugboard-state",
        callback_prefix(&t)
    ))
    .unwrap();
    let (status, page) = visit(&bogus).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not one Plugboard issued"), "{page}");
    assert_eq!(api.get("/api/v1/connections").await.body, all_before);

    // The page escapes what the provider says.
    let created = start_zoom(&api, "oauth2_authorization_code", json!({})).await;
    let state = authorize_url(&created)
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mut hostile = Url::parse(&callback_prefix(&t)).unwrap();
    hostile
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("error", "server_error")
        .append_pair("error_description", "<script>alert(1)</script>");
    let (status, page) = visit(&hostile).await;
    assert_eq!(status, 400);
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_invalid_grant_disconnects() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let (id, callback, _) = connect_zoom(&t, &api, json!({})).await;
    let first = stored(&t, &api, &id).await;

    // Zoom says the access token expired: one refresh, the call works, and
    // the rotated refresh token is what is stored now.
    zoom.expire_all_access_tokens();
    let invoke = format!("/api/v1/connections/{id}/invoke/create_meeting");
    let r = api.post(&invoke, meeting()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(zoom.refreshes(), 1);
    let second = stored(&t, &api, &id).await;
    assert_ne!(second.refresh_token, first.refresh_token, "rotation saved");
    assert_ne!(second.access_token, first.access_token);
    let r = api.post(&invoke, meeting()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(zoom.refreshes(), 1, "the new token is used as is");

    // The provider refuses the refresh token: Disconnected, with its words.
    zoom.expire_all_access_tokens();
    zoom.push_token_fault(TokenFault::ErrorBody200 {
        error: "invalid_grant".into(),
        reason: "Invalid Token!".into(),
    });
    let r = api.post(&invoke, meeting()).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let c = api.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "disconnected", "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("Reconnect required"),
        "{c}"
    );
    assert!(
        c["provider_error"]
            .as_str()
            .unwrap()
            .contains("Invalid Token!"),
        "{c}"
    );

    let mut secrets = secrets_of(&callback, &first);
    secrets.extend(secrets_of(&callback, &second));
    assert_no_secret_leaked(&api, &secrets);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_zoom_connection_to_the_same_account_warns_and_marks_the_older() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let (older, _, _) = connect_zoom(&t, &api, json!({})).await;

    let created = start_zoom(&api, "oauth2_authorization_code", json!({"name": "Second"})).await;
    let warning = &created.body["warnings"][0];
    assert_eq!(warning["code"], "zoom_single_session", "{}", created.text);
    assert!(warning["message"].as_str().unwrap().contains(&older));
    let url = authorize_url(&created);
    let callback = allow_at_zoom(&t, &url).await;
    let (status, page) = visit(&callback).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("stopped working"), "{page}");

    let c = api.get(&format!("/api/v1/connections/{older}")).await.body;
    assert_eq!(c["status"], "disconnected", "{c}");
    assert!(c["message"].as_str().unwrap().contains("one OAuth session"));
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_oauth_connection_revokes_its_tokens_at_zoom() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let (id, _, _) = connect_zoom(&t, &api, json!({})).await;
    let cred = stored(&t, &api, &id).await;
    assert!(zoom.access_token_is_live(cred.access_token.expose()));

    let r = api.delete(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(zoom.revocations() >= 1);
    assert!(
        zoom.revoked_tokens()
            .contains(&cred.refresh_token.as_ref().unwrap().expose().to_string())
    );
    assert!(!zoom.access_token_is_live(cred.access_token.expose()));
    assert_eq!(
        api.get(&format!("/api/v1/connections/{id}")).await.status,
        404
    );

    // Zoom unreachable: the connection is deleted anyway, with a warning.
    let (id, _, _) = connect_zoom(&t, &api, json!({})).await;
    drop(zoom);
    let r = api.delete(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["warnings"][0]["code"], "revocation_failed",
        "{}",
        r.text
    );
    assert_eq!(
        api.get(&format!("/api/v1/connections/{id}")).await.status,
        404
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_operator_app_the_flow_is_refused_naming_the_settings() {
    logs();
    let t = start_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let r = start_zoom(&api, "oauth2_authorization_code", json!({})).await;
    assert_error(&r, 400, "oauth_app_not_configured");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID"),
        "{message}"
    );
    assert!(
        message.contains("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET"),
        "{message}"
    );
    assert_eq!(
        api.get("/api/v1/connections").await.body["total"],
        0,
        "no connection row left behind"
    );

    // BYOA without an app of one's own or an organization default.
    let r = start_zoom(&api, "oauth2_byoa", json!({})).await;
    assert_error(&r, 400, "oauth_app_required");
    let r = start_zoom(
        &api,
        "oauth2_byoa",
        json!({"credentials": {"client_id": "only-the-id"}}),
    )
    .await;
    assert_error(&r, 400, "incomplete_oauth_app");
    assert_eq!(api.get("/api/v1/connections").await.body["total"], 0);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byoa_uses_the_organization_default_and_a_new_app_forces_reauthorization() {
    let zoom = FakeZoom::start().await;
    let own = ZoomApp {
        client_id: "acme-own-app".into(),
        client_secret: "acme-own-secret".into(),
        scopes: vec![
            "meeting:write".into(),
            "recording:read".into(),
            "user_info:read".into(),
        ],
    };
    let other = ZoomApp {
        client_id: "acme-other-app".into(),
        client_secret: "acme-other-secret".into(),
        ..own.clone()
    };
    zoom.add_app(own.clone());
    zoom.add_app(other.clone());
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    // An administrator presets the organization's app; its secret is
    // never shown again.
    let r = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/settings/oauth-apps/zoom",
            Some(json!({"client_id": own.client_id, "client_secret": own.client_secret})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["client_secret_set"], true);
    let listed = api.get("/api/v1/settings/oauth-apps").await;
    assert_eq!(listed.body[0]["client_id"], own.client_id.as_str());

    // A user's BYOA connection with no app of their own uses it.
    let (alice, alice_token) = t
        .server
        .create_user(
            api.get("/api/v1/me").await.body["tenant_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            "alice",
            false,
        )
        .await
        .unwrap();
    let _ = alice;
    let user = Api::new(&t.base, Some(&alice_token));
    let r = user
        .send(
            reqwest::Method::PUT,
            "/api/v1/settings/oauth-apps/zoom",
            Some(json!({"client_id": "x", "client_secret": "y"})),
        )
        .await;
    assert_error(&r, 403, "admin_required");
    let created = start_zoom(&user, "oauth2_byoa", json!({})).await;
    let url = authorize_url(&created);
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "client_id" && v == own.client_id.as_str())
    );
    let callback = allow_at_zoom(&t, &url).await;
    assert_eq!(visit(&callback).await.0, 200);
    let id = created.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = stored(&t, &user, &id).await;

    // Another app: the old tokens are revoked and dropped, and the
    // connection waits for a new sign-in, keeping its id.
    let r = user
        .post(
            &format!("/api/v1/connections/{id}/reconnect"),
            json!({"credentials": {"client_id": other.client_id, "client_secret": other.client_secret}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["connection"]["id"], id.as_str());
    assert_eq!(r.body["connection"]["status"], "disconnected");
    assert!(!zoom.access_token_is_live(first.access_token.expose()));
    let url = Url::parse(r.body["authorize_url"].as_str().unwrap()).unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "client_id" && v == other.client_id.as_str())
    );
    let callback = allow_at_zoom(&t, &url).await;
    assert_eq!(visit(&callback).await.0, 200);
    let c = user.get(&format!("/api/v1/connections/{id}")).await.body;
    assert_eq!(c["status"], "connected", "{c}");
    let second = stored(&t, &user, &id).await;
    assert_eq!(second.client.client_id(), other.client_id);

    let mut secrets = secrets_of(&callback, &first);
    secrets.extend(secrets_of(&callback, &second));
    secrets.push(own.client_secret.clone());
    secrets.push(other.client_secret.clone());
    assert_no_secret_leaked(&api, &secrets);
    assert_no_secret_leaked(&user, &secrets);
    t.server.shutdown().await.unwrap();
}

/// A loopback resource server that accepts any bearer token at `/whoami`
/// and remembers the last one it saw.
async fn resource_server() -> (String, Arc<Mutex<Option<String>>>) {
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/whoami",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_string);
                match token {
                    Some(t) => {
                        *record.lock().unwrap() = Some(t);
                        (
                            axum::http::StatusCode::OK,
                            axum::Json(json!({"id": "svc-reporting", "name": "Reporting job"})),
                        )
                    }
                    None => (
                        axum::http::StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"message": "no token"})),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_fetch_a_token_at_create_and_check_it() {
    logs();
    let t = start_server().await;
    let oidc = OidcProvider::start(&[&callback_prefix(&t)]).await.unwrap();
    let (api_url, seen) = resource_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let client = OidcProvider::BASIC_CLIENT;
    let body = |secret: &str| {
        json!({
            "connector": "oauth2",
            "auth_kind": "oauth2_client_credentials",
            "config": {
                "api_base_url": api_url,
                "token_url": oidc.token_url(),
                "userinfo_path": "/whoami",
            },
            "credentials": {"client_id": client.client_id, "client_secret": secret},
        })
    };

    // A wrong secret: the provider refuses, nothing is created.
    let r = api
        .post("/api/v1/connections", body("not-the-secret"))
        .await;
    assert_error(&r, 400, "credential_rejected");
    assert_eq!(api.get("/api/v1/connections").await.body["total"], 0);

    let r = api
        .post("/api/v1/connections", body(client.client_secret))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["authorize_url"].is_null());
    let c = &r.body["connection"];
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(
        c["account"]["id"], "svc-reporting",
        "account from check-connection"
    );
    let id = c["id"].as_str().unwrap();
    let cred = stored(&t, &api, id).await;
    assert_eq!(cred.grant, plugboard_auth::Grant::ClientCredentials);
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some(cred.access_token.expose()),
        "the check used the token oidc-provider issued"
    );
    let r = api
        .post(
            &format!("/api/v1/connections/{id}/invoke/request"),
            json!({"method": "GET", "path": "/whoami"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_no_secret_leaked(
        &api,
        &[
            client.client_secret.to_string(),
            cred.access_token.expose().to_string(),
        ],
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_sign_in_forgets_ones_abandoned_over_an_hour_ago() {
    let zoom = FakeZoom::start().await;
    let t = zoom_server(&zoom).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let created = start_zoom(&api, "oauth2_authorization_code", json!({})).await;
    authorize_url(&created);
    let id = created.body["connection"]["id"].as_str().unwrap();
    let tenant = api.get("/api/v1/me").await.body["tenant_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = &t.server.state.store;
    let conn = plugboard_server::oauth::connection_ref(store, tenant, id.parse().unwrap())
        .await
        .unwrap();
    // Two sign-ins nobody finished: one expired two hours ago, one a
    // minute ago (still inside the grace period).
    let now = time::OffsetDateTime::now_utc();
    for (state, expired) in [
        ("abandoned-long-ago-0123456789", time::Duration::hours(2)),
        ("abandoned-just-now-0123456789", time::Duration::minutes(1)),
    ] {
        store
            .create_pending_authorization(
                &conn.scope,
                plugboard_store::NewPendingAuthorization {
                    connection: conn.connection,
                    state,
                    pkce_verifier: None,
                    redirect_uri: "",
                    extra: json!({}),
                    created_by: None,
                    expires_at: now - expired,
                },
            )
            .await
            .unwrap();
    }
    // Starting another sign-in deletes the long-abandoned one only.
    authorize_url(&start_zoom(&api, "oauth2_authorization_code", json!({})).await);
    let gone = store
        .consume_pending_authorization("abandoned-long-ago-0123456789")
        .await
        .unwrap_err();
    assert!(gone.to_string().contains("unknown state"), "{gone}");
    let kept = store
        .consume_pending_authorization("abandoned-just-now-0123456789")
        .await
        .unwrap_err();
    assert!(kept.to_string().contains("expired"), "{kept}");
}
