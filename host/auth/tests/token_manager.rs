//! The token manager against the fake Zoom (and oidc-provider for client
//! credentials), on the real store. Expiry is driven by a manual clock:
//! no timing in assertions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use plugboard_auth::{AuthError, ClientChoice, Credential, Revocation};
use plugboard_manifest::{AuthKind, AuthMethod, ClientAuth, OAuth2Settings};
use plugboard_store::ConnectionStatus;
use plugboard_test_support::{FakeZoom, OidcProvider, TokenFault, ZoomApp, test_redirect_uri};
use plugboard_vault::SecretString;

const HOUR: Duration = Duration::from_secs(3600);

async fn stored_refresh_token(env: &Env, conn: plugboard_auth::ConnectionRef) -> SecretString {
    let Credential::OAuth2(o) = env.manager(&zoom_apps()).credential(conn).await.unwrap() else {
        panic!("not oauth")
    };
    o.refresh_token.unwrap()
}

/// Use a refresh token directly at Zoom, as another client holding it would.
async fn refresh_at_zoom(zoom: &FakeZoom, refresh_token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(zoom.token_url())
        .basic_auth(FakeZoom::CLIENT_ID, Some(FakeZoom::CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_fresh_token_is_served_without_calling_the_provider() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let calls = zoom.token_calls();
    let manager = env.manager(&apps);
    let a = manager.access_token(conn).await.unwrap();
    let b = manager.access_token(conn).await.unwrap();
    assert_eq!(a.token, b.token);
    assert_eq!(zoom.token_calls(), calls);
    assert_eq!(
        a.scopes,
        vec!["meeting:write", "recording:read", "user_info:read"]
    );
}

#[tokio::test]
async fn refresh_ahead_of_expiry_rotates_and_saves_the_new_refresh_token() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let first = manager.access_token(conn).await.unwrap();
    let old_refresh = stored_refresh_token(&env, conn).await;

    // Inside the skew (5 min before the 3599 s expiry): refreshed.
    env.clock.advance(Duration::from_secs(3599 - 299));
    let second = manager.access_token(conn).await.unwrap();
    assert_ne!(second.token, first.token);
    assert!(second.version > first.version);
    assert_eq!(zoom.refreshes(), 1);
    let new_refresh = stored_refresh_token(&env, conn).await;
    assert_ne!(
        new_refresh, old_refresh,
        "the rotated refresh token is what is stored"
    );

    // Zoom's refresh tokens are single-use: the old one is dead.
    let (status, body) = refresh_at_zoom(&zoom, old_refresh.expose()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(zoom_me(&zoom, second.token.expose()).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_on_an_expired_token_cause_one_token_call() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let calls = zoom.token_calls();
    env.clock.advance(HOUR);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.access_token(conn).await })
        })
        .collect();
    let tokens: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(
        zoom.token_calls() - calls,
        1,
        "exactly one call to the token endpoint"
    );
    assert_eq!(zoom.refreshes(), 1);
    assert!(tokens.iter().all(|t| t.token == tokens[0].token));
    assert!(zoom.access_token_is_live(tokens[0].token.expose()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_sharing_the_store_refresh_once() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    // Two managers, each with its own pool on the same database: two
    // replicas. Only the store's lease and CAS can keep them to one call.
    let a = env.manager(&apps);
    let b = env.manager_on(
        env.second_replica().await,
        &apps,
        fast_settings(),
        Duration::from_secs(5),
    );
    assert_ne!(a.holder_id(), b.holder_id());
    let calls = zoom.token_calls();
    env.clock.advance(HOUR);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { m.access_token(conn).await })
        })
        .collect();
    let tokens: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(zoom.token_calls() - calls, 1);
    assert!(tokens.iter().all(|t| t.token == tokens[0].token));
}

#[tokio::test]
async fn invalid_grant_marks_the_connection_disconnected_with_the_providers_message() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    // Someone else burns the single-use refresh token.
    let rt = stored_refresh_token(&env, conn).await;
    assert_eq!(refresh_at_zoom(&zoom, rt.expose()).await.0, 200);

    let manager = env.manager(&apps);
    env.clock.advance(HOUR);
    let err = manager.access_token(conn).await.unwrap_err();
    let AuthError::ReconnectRequired {
        message,
        provider_message,
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("Reconnect required"));
    assert_eq!(
        provider_message.as_deref(),
        Some("invalid_grant: Invalid Token!")
    );
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert_eq!(c.status_message.as_deref(), Some(message.as_str()));
    assert_eq!(
        c.provider_error.as_deref(),
        Some("invalid_grant: Invalid Token!")
    );

    // Not a loop: later uses do not call the provider again.
    let calls = zoom.token_calls();
    assert!(matches!(
        manager.access_token(conn).await,
        Err(AuthError::ReconnectRequired { .. })
    ));
    assert_eq!(zoom.token_calls(), calls);
}

#[tokio::test]
async fn http_200_with_an_error_body_is_a_failure() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let before = manager.access_token(conn).await.unwrap();
    env.clock.advance(HOUR);

    zoom.push_token_fault(TokenFault::ErrorBody200 {
        error: "invalid_request".into(),
        reason: "Something went wrong".into(),
    });
    let err = manager.access_token(conn).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Provider { error, message } if error == "invalid_request" && message.as_deref() == Some("Something went wrong")),
        "{err:?}"
    );
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
    let Credential::OAuth2(o) = manager.credential(conn).await.unwrap() else {
        panic!()
    };
    assert_eq!(o.access_token, before.token, "nothing was saved");

    // The same with invalid_grant inside the 200: reconnect required.
    zoom.push_token_fault(TokenFault::ErrorBody200 {
        error: "invalid_grant".into(),
        reason: "Invalid Token!".into(),
    });
    let err = manager.access_token(conn).await.unwrap_err();
    assert!(
        matches!(err, AuthError::ReconnectRequired { .. }),
        "{err:?}"
    );
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Disconnected
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_and_the_connection_stays_connected() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    env.clock.advance(HOUR);
    let calls = zoom.token_calls();
    zoom.push_token_fault(TokenFault::ServerError);
    zoom.push_token_fault(TokenFault::TooManyRequests {
        retry_after_secs: 1,
    });
    let token = manager.access_token(conn).await.unwrap();
    assert_eq!(zoom.token_calls() - calls, 3, "500, 429, then success");
    assert_eq!(zoom.refreshes(), 1);
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
    assert_eq!(zoom_me(&zoom, token.token.expose()).await.0, 200);
}

#[tokio::test]
async fn persistent_outage_is_a_transient_error_not_a_disconnection() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    env.clock.advance(HOUR);
    let calls = zoom.token_calls();
    for _ in 0..4 {
        zoom.push_token_fault(TokenFault::ServerError);
    }
    let err = manager.access_token(conn).await.unwrap_err();
    assert!(matches!(err, AuthError::Transient { .. }), "{err:?}");
    assert_eq!(zoom.token_calls() - calls, 4, "bounded: max_attempts");
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
    // A Retry-After longer than we wait for is not slept on.
    zoom.push_token_fault(TokenFault::TooManyRequests {
        retry_after_secs: 3600,
    });
    let err = manager.access_token(conn).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Transient { retry_after: Some(d), .. } if d == HOUR),
        "{err:?}"
    );
    // When Zoom is back, the next use refreshes.
    assert!(manager.access_token(conn).await.is_ok());
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
}

#[tokio::test]
async fn token_endpoint_timeouts_are_retried() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager_on(
        env.store.clone(),
        &apps,
        fast_settings(),
        Duration::from_millis(300),
    );
    env.clock.advance(HOUR);
    zoom.push_token_fault(TokenFault::Hang(Duration::from_secs(3)));
    let token = manager.access_token(conn).await.unwrap();
    assert_eq!(zoom.refreshes(), 1);
    assert_eq!(zoom_me(&zoom, token.token.expose()).await.0, 200);
    assert_eq!(
        env.connection(conn).await.status,
        ConnectionStatus::Connected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_expires_in_means_refresh_on_the_first_401() {
    let zoom = FakeZoom::start().await;
    zoom.push_token_fault(TokenFault::OmitExpiresIn);
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, done) = connect_zoom(&env, &zoom, &apps).await;
    assert_eq!(done.credential.expires_at(), None, "unknown expiry");
    let manager = env.manager(&apps);
    env.clock.advance(24 * HOUR);
    let token = manager.access_token(conn).await.unwrap();
    assert_eq!(
        zoom.refreshes(),
        0,
        "unknown expiry is not refreshed on time"
    );

    zoom.expire_access_token(token.token.expose());
    let (status, body) = zoom_me(&zoom, token.token.expose()).await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(124)));
    // Many callers hit the 401 with the same token: one refresh.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let m = manager.clone();
            let rejected = token.token.clone();
            tokio::spawn(async move { m.refresh_after_unauthorized(conn, &rejected).await })
        })
        .collect();
    let fresh: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(zoom.refreshes(), 1);
    assert!(
        fresh
            .iter()
            .all(|t| t.token == fresh[0].token && t.token != token.token)
    );
    assert_eq!(zoom_me(&zoom, fresh[0].token.expose()).await.0, 200);
}

#[tokio::test]
async fn a_lost_refresh_response_ends_in_reconnect_required_not_a_silent_loop() {
    // Zoom rotated the refresh token but the answer never arrived (the
    // process died, or the network dropped it): the stored refresh token
    // is dead. The connection must say so, once.
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    env.clock.advance(HOUR);
    zoom.push_token_fault(TokenFault::ProcessThenFail);
    let err = manager.access_token(conn).await.unwrap_err();
    assert!(
        matches!(err, AuthError::ReconnectRequired { .. }),
        "{err:?}"
    );
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert!(c.status_message.unwrap().contains("Reconnect"));
    // "After restart": a new manager on the same store does not loop either.
    let calls = zoom.token_calls();
    let restarted = env.manager(&apps);
    assert!(matches!(
        restarted.access_token(conn).await,
        Err(AuthError::ReconnectRequired { .. })
    ));
    assert_eq!(zoom.token_calls(), calls);
}

#[tokio::test]
async fn deleting_a_connection_revokes_its_tokens_at_zoom() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let token = manager.access_token(conn).await.unwrap();
    let rt = stored_refresh_token(&env, conn).await;
    assert_eq!(
        manager.delete_credential(conn).await.unwrap(),
        Revocation::Revoked
    );
    assert!(zoom.revocations() >= 1);
    assert!(zoom.revoked_tokens().contains(&rt.expose().to_string()));
    assert!(
        !zoom.access_token_is_live(token.token.expose()),
        "the session is gone at Zoom"
    );
    assert!(matches!(
        manager.access_token(conn).await,
        Err(AuthError::NoCredential)
    ));
}

#[tokio::test]
async fn reconnecting_with_a_new_client_revokes_the_old_tokens() {
    let zoom = FakeZoom::start().await;
    zoom.add_app(ZoomApp {
        client_id: "byoa-app".into(),
        client_secret: "byoa-secret".into(),
        scopes: vec!["user_info:read".into()],
    });
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let old = manager.access_token(conn).await.unwrap();

    // Reconnect the same connection with the user's own app.
    let method = zoom_method(AuthKind::Oauth2Byoa);
    let config = zoom_config(&zoom);
    let flows = env.flows(&apps);
    let mut req = begin(
        conn,
        "zoom",
        &method,
        &config,
        ClientChoice::Own {
            client_id: "byoa-app".into(),
            client_secret: "byoa-secret".into(),
        },
    );
    req.reconnect = true;
    let url = flows.begin_authorization(req).await.unwrap();
    let done = flows
        .complete_authorization(&allow_at_zoom(&url).await)
        .await
        .unwrap();
    assert!(done.reconnect);
    manager.install(conn, &done.credential).await.unwrap();
    assert!(
        !zoom.access_token_is_live(old.token.expose()),
        "old tokens revoked"
    );
    let new = manager.access_token(conn).await.unwrap();
    assert_eq!(zoom_me(&zoom, new.token.expose()).await.0, 200);
}

#[tokio::test]
async fn client_credentials_against_oidc_provider_renew_by_asking_again() {
    let oidc = OidcProvider::start(&[&test_redirect_uri()]).await.unwrap();
    let env = Env::new().await;
    let apps = Arc::new(plugboard_auth::OperatorApps::new());
    let method = AuthMethod {
        kind: AuthKind::Oauth2ClientCredentials,
        label: "Client credentials".into(),
        oauth2: Some(OAuth2Settings {
            authorize_url: None,
            token_url: "{issuer}/token".into(),
            revoke_url: None,
            pkce: false,
            client_auth: ClientAuth::Post,
            scope_separator: " ".into(),
            extra_authorize_params: vec![],
        }),
        token_placement: None,
        scopes_offered: vec![],
        scopes_default: vec![],
    };
    let config = std::collections::BTreeMap::from([("issuer".to_string(), oidc.issuer())]);
    let flows = env.flows(&apps);
    let client = ClientChoice::Own {
        client_id: OidcProvider::POST_CLIENT.client_id.into(),
        client_secret: OidcProvider::POST_CLIENT.client_secret.into(),
    };
    let credential = flows
        .client_credentials("oauth2", &method, &config, client.clone(), None)
        .await
        .unwrap();
    assert!(credential.expires_at().is_some());
    let conn = env
        .new_connection("oauth2", AuthKind::Oauth2ClientCredentials)
        .await;
    let manager = env.manager(&apps);
    manager.install(conn, &credential).await.unwrap();
    let first = manager.access_token(conn).await.unwrap();
    env.clock.advance(HOUR);
    let second = manager.access_token(conn).await.unwrap();
    assert_ne!(first.token, second.token);
    assert!(
        oidc.is_active(OidcProvider::POST_CLIENT, second.token.expose())
            .await
            .unwrap()
    );

    // Wrong secret: the provider's refusal, in words.
    let bad = ClientChoice::Own {
        client_id: OidcProvider::POST_CLIENT.client_id.into(),
        client_secret: "wrong".into(),
    };
    let err = flows
        .client_credentials("oauth2", &method, &config, bad, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Provider { error, .. } if error == "invalid_client"),
        "{err:?}"
    );

    // The password grant is refused for a connector that does not declare it.
    let err = flows
        .password_grant(
            "oauth2",
            &method,
            &config,
            client,
            None,
            "alice",
            &"pw".into(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not declare the password grant"),
        "{err}"
    );
}

#[tokio::test]
async fn changing_the_client_discards_the_tokens_and_asks_for_reconnection() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let token = manager.access_token(conn).await.unwrap();
    let outcome = manager
        .discard(
            conn,
            "The OAuth app's client ID or secret changed: reconnect to sign in with it.",
        )
        .await
        .unwrap();
    assert_eq!(outcome, Revocation::Revoked);
    assert!(!zoom.access_token_is_live(token.token.expose()));
    assert!(matches!(
        manager.access_token(conn).await,
        Err(AuthError::NoCredential)
    ));
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert!(
        c.status_message
            .unwrap()
            .contains("client ID or secret changed")
    );
}

#[tokio::test]
async fn a_connector_can_ask_for_reconnection_with_the_providers_words() {
    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, _) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    manager
        .request_reconnect(
            conn,
            "Reconnect required: Zoom revoked the app's access.",
            Some("Invalid access token."),
        )
        .await
        .unwrap();
    let c = env.connection(conn).await;
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert_eq!(c.provider_error.as_deref(), Some("Invalid access token."));
}
