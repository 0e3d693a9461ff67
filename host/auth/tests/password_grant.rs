//! The resource-owner password grant (declared by a connector as
//! `oauth2_password`; RFC 9700 discourages it) against the fake Zoom's
//! opt-in password grant: a credential at once, refreshed later with its
//! refresh token, the password never stored; a wrong password changes
//! nothing.

mod common;

use common::*;
use plugboard_auth::{AuthError, AuthFlows, ClientChoice, Credential, Grant};
use plugboard_manifest::AuthKind;
use plugboard_test_support::FakeZoom;
use plugboard_vault::SecretString;

/// Alice's password grant through `kind`'s method with Plugboard's app.
async fn grant(
    flows: &AuthFlows,
    zoom: &FakeZoom,
    kind: AuthKind,
    password: &str,
) -> Result<Credential, AuthError> {
    flows
        .password_grant(
            "zoom",
            &zoom_method(kind),
            &zoom_config(zoom),
            ClientChoice::Operator,
            None,
            "alice@example.com",
            &SecretString::new(password.into()),
        )
        .await
}

#[tokio::test]
async fn a_password_grant_gives_a_working_refreshable_credential() {
    let zoom = FakeZoom::start().await;
    zoom.set_password("alice@example.com", "correct horse");
    let env = Env::new().await;
    let apps = zoom_apps();
    let flows = env.flows(&apps);
    let credential = grant(&flows, &zoom, AuthKind::Oauth2Password, "correct horse")
        .await
        .unwrap();
    let Credential::OAuth2(o) = &credential else {
        panic!("an OAuth credential")
    };
    assert_eq!(o.grant, Grant::Password);
    assert_eq!(o.scopes.len(), 3, "{:?}", o.scopes);
    let (status, me) = zoom_me(&zoom, o.access_token.expose()).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("alice@example.com"))
    );
    let stored = credential.to_secret();
    assert!(
        !String::from_utf8_lossy(stored.expose()).contains("correct horse"),
        "the password is never part of the credential"
    );

    // Stored, then renewed with the refresh token once it expires.
    let conn = env.new_connection("zoom", AuthKind::Oauth2Password).await;
    let manager = env.manager(&apps);
    manager.install(conn, &credential).await.unwrap();
    env.clock.advance(std::time::Duration::from_secs(3600));
    let fresh = manager.access_token(conn).await.unwrap();
    assert_ne!(fresh.token, o.access_token);
    assert_eq!(zoom.refreshes(), 1);
    assert_eq!(zoom_me(&zoom, fresh.token.expose()).await.0, 200);
}

#[tokio::test]
async fn a_wrong_password_or_an_undeclared_grant_is_refused() {
    let zoom = FakeZoom::start().await;
    zoom.set_password("alice@example.com", "correct horse");
    let env = Env::new().await;
    let apps = zoom_apps();
    let flows = env.flows(&apps);
    let err = grant(&flows, &zoom, AuthKind::Oauth2Password, "battery staple")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::Provider { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("battery staple"), "{err}");

    // A connector that does not declare the grant cannot use it.
    let err = grant(
        &flows,
        &zoom,
        AuthKind::Oauth2AuthorizationCode,
        "battery staple",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::BadMethod { .. }), "{err:?}");
    assert_eq!(zoom.token_calls(), 1, "only the first attempt reached Zoom");
}
