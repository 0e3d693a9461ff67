//! The authorization-code flow end to end, against the real oidc-provider
//! (login and consent pages driven over HTTP) and the fake Zoom.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use plugboard_auth::{
    AppCredentials, AuthError, CallbackError, ClientChoice, Credential, OperatorApps,
    PRE_APPROVAL_HELP,
};
use plugboard_manifest::{AuthKind, AuthMethod, ClientAuth, OAuth2Settings};
use plugboard_store::ConnectionStatus;
use plugboard_test_support::browser::{Consent, authorize_with_oidc};
use plugboard_test_support::{
    FakeZoom, OidcClient, OidcProvider, TokenFault, ZoomApp, ZoomUser, test_redirect_uri,
};

fn oidc_method(oidc: &OidcProvider, client_auth: ClientAuth) -> AuthMethod {
    AuthMethod {
        kind: AuthKind::Oauth2AuthorizationCode,
        label: "OAuth 2.0".into(),
        oauth2: Some(OAuth2Settings {
            authorize_url: Some(oidc.authorize_url()),
            token_url: oidc.token_url(),
            revoke_url: Some(oidc.revoke_url()),
            pkce: true,
            client_auth,
            scope_separator: " ".into(),
            extra_authorize_params: vec![],
        }),
        token_placement: None,
        scopes_offered: vec![],
        scopes_default: vec!["openid".into(), "email".into()],
    }
}

/// Alice signs in at oidc-provider and answers the consent page: the
/// callback's parameters.
async fn at_oidc(url: &url::Url, consent: Consent) -> plugboard_auth::CallbackParams {
    let callback = authorize_with_oidc(
        url,
        &test_redirect_uri(),
        OidcProvider::LOGIN,
        OidcProvider::PASSWORD,
        consent,
    )
    .await
    .unwrap();
    callback_params(&callback)
}

fn apps_for(client: OidcClient) -> Arc<OperatorApps> {
    let mut apps = OperatorApps::new();
    apps.insert(
        "oauth2",
        AppCredentials {
            client_id: client.client_id.into(),
            client_secret: client.client_secret.into(),
        },
    );
    Arc::new(apps)
}

async fn oidc_flow(client: OidcClient, client_auth: ClientAuth) {
    let oidc = OidcProvider::start(&[&test_redirect_uri()]).await.unwrap();
    let env = Env::new().await;
    let apps = apps_for(client);
    let method = oidc_method(&oidc, client_auth);
    let config = Default::default();
    let flows = env.flows(&apps);
    let (conn, url) = start_operator_flow(&env, &flows, "oauth2", &method, &config).await;
    let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], test_redirect_uri());
    assert!(q["state"].len() >= 32);

    let params = at_oidc(&url, Consent::Allow).await;
    assert_eq!(
        params.iss.as_deref(),
        Some(oidc.issuer().as_str()),
        "oidc-provider sends RFC 9207 iss"
    );
    let done = flows.complete_authorization(&params).await.unwrap();
    assert_eq!(done.granted_scopes, vec!["openid", "email"]);
    let manager = env.manager(&apps);
    manager.install(conn, &done.credential).await.unwrap();
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );

    // The token works at the provider (userinfo names the account).
    let token = manager.access_token(conn).await.unwrap();
    let me: serde_json::Value = reqwest::Client::new()
        .get(oidc.userinfo_url())
        .bearer_auth(token.token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["email"], "alice@example.com");

    // Refresh with rotation: a new refresh token replaces the old one, and
    // the old one is dead at the provider.
    let old = done
        .credential
        .as_oauth2()
        .unwrap()
        .refresh_token
        .clone()
        .unwrap();
    env.clock.advance(Duration::from_secs(3600));
    let fresh = manager.access_token(conn).await.unwrap();
    assert_ne!(fresh.token, token.token);
    let Credential::OAuth2(now) = manager.credential(conn).await.unwrap() else {
        panic!()
    };
    assert_ne!(
        now.refresh_token.as_ref().unwrap(),
        &old,
        "oidc-provider rotates refresh tokens"
    );
    assert!(!oidc.is_active(client, old.expose()).await.unwrap());

    // Deleting the connection revokes at the provider.
    let refresh = now.refresh_token.clone().unwrap();
    assert!(oidc.is_active(client, refresh.expose()).await.unwrap());
    let outcome = manager.delete_credential(conn).await.unwrap();
    assert_eq!(outcome, plugboard_auth::Revocation::Revoked);
    assert!(
        !oidc.is_active(client, refresh.expose()).await.unwrap(),
        "revoked at the provider"
    );
    assert!(!oidc.is_active(client, fresh.token.expose()).await.unwrap());
}

#[tokio::test]
async fn authorization_code_with_pkce_against_oidc_provider_basic_client() {
    oidc_flow(OidcProvider::BASIC_CLIENT, ClientAuth::Basic).await;
}

#[tokio::test]
async fn authorization_code_with_pkce_against_oidc_provider_post_client() {
    oidc_flow(OidcProvider::POST_CLIENT, ClientAuth::Post).await;
}

#[tokio::test]
async fn denied_consent_ends_the_pending_connection_with_a_clear_message() {
    let oidc = OidcProvider::start(&[&test_redirect_uri()]).await.unwrap();
    let env = Env::new().await;
    let apps = apps_for(OidcProvider::BASIC_CLIENT);
    let method = oidc_method(&oidc, ClientAuth::Basic);
    let config = Default::default();
    let flows = env.flows(&apps);
    let (conn, url) = start_operator_flow(&env, &flows, "oauth2", &method, &config).await;
    let params = at_oidc(&url, Consent::Deny).await;
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert_eq!(failure.conn, Some(conn));
    assert!(
        matches!(failure.error, CallbackError::Denied { .. }),
        "{:?}",
        failure.error
    );
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert!(c.status_message.unwrap().contains("choose Allow"));
    assert_eq!(
        c.provider_error.as_deref(),
        Some("End-User aborted interaction")
    );
}

#[tokio::test]
async fn mismatched_iss_is_refused() {
    let oidc = OidcProvider::start(&[&test_redirect_uri()]).await.unwrap();
    let env = Env::new().await;
    let apps = apps_for(OidcProvider::BASIC_CLIENT);
    let method = oidc_method(&oidc, ClientAuth::Basic);
    let config = Default::default();
    let flows = env.flows(&apps);

    // Issuer declared explicitly and different from what the provider says.
    let conn = env
        .new_connection("oauth2", AuthKind::Oauth2AuthorizationCode)
        .await;
    let mut req = begin(conn, "oauth2", &method, &config, ClientChoice::Operator);
    req.issuer = Some("https://login.other.example".into());
    let url = flows.begin_authorization(req).await.unwrap();
    let params = at_oidc(&url, Consent::Allow).await;
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert!(
        matches!(&failure.error, CallbackError::IssuerMismatch { actual, .. } if *actual == oidc.issuer()),
        "{:?}",
        failure.error
    );
    assert!(failure.to_string().contains("mix-up"));

    // No issuer declared: an `iss` from another origin is refused too.
    let (conn, url) = start_operator_flow(&env, &flows, "oauth2", &method, &config).await;
    let mut params = at_oidc(&url, Consent::Allow).await;
    params.iss = Some("https://evil.example".into());
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert!(matches!(
        failure.error,
        CallbackError::IssuerMismatch { .. }
    ));
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Disconnected
    );
}

#[tokio::test]
async fn state_is_one_time_and_unknown_or_expired_states_are_refused() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);

    let (_, url) = start_operator_flow(&env, &flows, "zoom", &method, &config).await;
    let params = allow_at_zoom(&url).await;
    flows.complete_authorization(&params).await.unwrap();
    assert_eq!(zoom.code_exchanges(), 1);

    // Replayed callback: refused before any token request.
    let replay = flows.complete_authorization(&params).await.unwrap_err();
    assert_eq!(replay.error, CallbackError::ReusedState);
    assert!(replay.to_string().contains("Start connecting again"));
    assert_eq!(zoom.token_calls(), 1, "a replayed code is never sent");

    // Wrong state.
    let mut wrong = params.clone();
    wrong.state = Some("x".repeat(43));
    assert_eq!(
        flows
            .complete_authorization(&wrong)
            .await
            .unwrap_err()
            .error,
        CallbackError::UnknownState
    );
    wrong.state = None;
    assert_eq!(
        flows
            .complete_authorization(&wrong)
            .await
            .unwrap_err()
            .error,
        CallbackError::MissingState
    );

    // Expired: the flow was started more than `state_ttl` ago.
    let conn = env
        .new_connection("zoom", AuthKind::Oauth2AuthorizationCode)
        .await;
    env.clock.advance(Duration::ZERO);
    env.clock
        .set(time::OffsetDateTime::now_utc() - Duration::from_secs(3600));
    let url = flows
        .begin_authorization(begin(
            conn,
            "zoom",
            &method,
            &config,
            ClientChoice::Operator,
        ))
        .await
        .unwrap();
    let params = allow_at_zoom(&url).await;
    let expired = flows.complete_authorization(&params).await.unwrap_err();
    assert_eq!(expired.error, CallbackError::ExpiredState);
    assert!(expired.to_string().contains("expired"));
    assert_eq!(zoom.code_exchanges(), 1);
}

#[tokio::test]
async fn zoom_authorization_ends_with_a_working_connection_and_comma_scopes() {
    let zoom = FakeZoom::start().await;
    zoom.set_consent_required(true);
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, done) = connect_zoom(&env, &zoom, &apps).await;
    assert_eq!(
        done.granted_scopes,
        vec!["meeting:write", "recording:read", "user_info:read"]
    );
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
    let token = env.manager(&apps).access_token(conn).await.unwrap();
    let (status, me) = zoom_me(&zoom, token.token.expose()).await;
    assert_eq!(status, 200);
    assert_eq!(
        me["email"], "alice@example.com",
        "the account the connection belongs to"
    );
}

#[tokio::test]
async fn bring_your_own_app_uses_the_users_client() {
    let zoom = FakeZoom::start().await;
    zoom.add_app(ZoomApp {
        client_id: "users-own-app".into(),
        client_secret: "users-own-secret".into(),
        scopes: vec!["user_info:read".into()],
    });
    let env = Env::new().await;
    // No operator app at all: BYOA does not need it.
    let apps = Arc::new(OperatorApps::new());
    let method = zoom_method(AuthKind::Oauth2Byoa);
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let conn = env.new_connection("zoom", AuthKind::Oauth2Byoa).await;
    let own = ClientChoice::Own {
        client_id: "users-own-app".into(),
        client_secret: "users-own-secret".into(),
    };
    let mut req = begin(conn, "zoom", &method, &config, own);
    req.scopes = Some(vec!["user_info:read".into()]);
    let url = flows.begin_authorization(req).await.unwrap();
    assert!(url.as_str().contains("client_id=users-own-app"));
    let params = allow_at_zoom(&url).await;
    let done = flows.complete_authorization(&params).await.unwrap();
    let manager = env.manager(&apps);
    manager.install(conn, &done.credential).await.unwrap();
    // Refresh uses the user's client too (Basic auth with their secret).
    env.clock.advance(Duration::from_secs(3600));
    let token = manager.access_token(conn).await.unwrap();
    assert_eq!(zoom.refreshes(), 1);
    assert_eq!(zoom_me(&zoom, token.token.expose()).await.0, 200);
}

#[tokio::test]
async fn operator_app_not_configured_names_the_config_keys() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = Arc::new(OperatorApps::new());
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let config = zoom_config(&zoom);
    let conn = env
        .new_connection("zoom", AuthKind::Oauth2AuthorizationCode)
        .await;
    let err = env
        .flows(&apps)
        .begin_authorization(begin(
            conn,
            "zoom",
            &method,
            &config,
            ClientChoice::Operator,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::AppNotConfigured { .. }));
    let text = err.to_string();
    assert!(
        text.contains("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_ID"),
        "{text}"
    );
    assert!(
        text.contains("PLUGBOARD_CONNECTOR_ZOOM_CLIENT_SECRET"),
        "{text}"
    );
    assert!(text.contains("connectors.zoom"), "{text}");
}

#[tokio::test]
async fn zoom_pre_approval_error_tells_what_an_admin_must_do() {
    let zoom = FakeZoom::start().await;
    zoom.set_pre_approval_required(true);
    let env = Env::new().await;
    let apps = zoom_apps();
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let (conn, url) = start_operator_flow(&env, &flows, "zoom", &method, &config).await;
    let params = allow_at_zoom(&url).await;
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert!(
        matches!(failure.error, CallbackError::PreApprovalRequired { .. }),
        "{:?}",
        failure.error
    );
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    let message = c.status_message.unwrap();
    assert!(message.contains(PRE_APPROVAL_HELP));
    assert!(message.contains("marketplace.zoom.us") && message.contains("Manage → Permissions"));
    assert!(c.provider_error.unwrap().contains("pre-approval"));
}

#[tokio::test]
async fn a_second_zoom_authorization_for_the_same_user_breaks_the_first_connection() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (first, _) = connect_zoom(&env, &zoom, &apps).await;
    let (second, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    env.clock.advance(Duration::from_secs(3600));
    let err = manager.access_token(first).await.unwrap_err();
    assert!(
        matches!(err, AuthError::ReconnectRequired { .. }),
        "{err:?}"
    );
    let c = env.connection(first).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert!(
        c.status_message
            .unwrap()
            .contains("single session per app and user")
    );
    assert_eq!(
        c.provider_error.as_deref(),
        Some("invalid_grant: Invalid Token!")
    );
    // The newer connection is fine.
    assert!(manager.access_token(second).await.is_ok());
    assert_eq!(
        env.connection(second).await.status,
        ConnectionStatus::Connected
    );

    // Another Zoom user authorizing the same app does not affect anyone.
    zoom.add_user(ZoomUser::new("zu-bob", "bob@example.com", "Bob", "B"));
    zoom.sign_in("bob@example.com");
    let (bob, _) = connect_zoom(&env, &zoom, &apps).await;
    env.clock.advance(Duration::from_secs(3600));
    assert!(manager.access_token(second).await.is_ok());
    let t = manager.access_token(bob).await.unwrap();
    assert_eq!(
        zoom_me(&zoom, t.token.expose()).await.1["email"],
        "bob@example.com"
    );
}

#[tokio::test]
async fn zoom_authorize_url_joins_scopes_with_commas_and_pkce_can_be_turned_off() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let (_, url) = start_operator_flow(&env, &flows, "zoom", &method, &config).await;
    let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "meeting:write,recording:read,user_info:read");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        "http://127.0.0.1:9/provisioning_/callback"
    );

    // A provider that rejects PKCE: the manifest says pkce = false.
    let mut no_pkce = zoom_method(AuthKind::Oauth2AuthorizationCode);
    no_pkce.oauth2.as_mut().unwrap().pkce = false;
    let (_, url) = start_operator_flow(&env, &flows, "zoom", &no_pkce, &config).await;
    assert!(!url.as_str().contains("code_challenge"));
    let params = allow_at_zoom(&url).await;
    assert!(flows.complete_authorization(&params).await.is_ok());
}

#[tokio::test]
async fn the_code_exchange_is_never_retried() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let (conn, url) = start_operator_flow(&env, &flows, "zoom", &method, &config).await;
    let params = allow_at_zoom(&url).await;
    zoom.push_token_fault(TokenFault::ServerError);
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert!(
        matches!(failure.error, CallbackError::ExchangeFailed { .. }),
        "{:?}",
        failure.error
    );
    assert_eq!(zoom.token_calls(), 1, "one attempt only");
    assert!(failure.to_string().contains("Start connecting again"));
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Disconnected
    );
}

#[tokio::test]
async fn pre_approval_refusal_on_the_authorize_redirect_is_actionable_too() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let (_, url) = start_operator_flow(&env, &flows, "zoom", &method, &config).await;
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let params = plugboard_auth::CallbackParams {
        state: Some(state),
        error: Some("access_denied".into()),
        error_description: Some("This app requires pre-approval by your account admin".into()),
        ..Default::default()
    };
    let failure = flows.complete_authorization(&params).await.unwrap_err();
    assert!(matches!(
        failure.error,
        CallbackError::PreApprovalRequired { .. }
    ));
    assert!(failure.to_string().contains("Manage → Permissions"));
    assert_eq!(zoom.token_calls(), 0);
}
