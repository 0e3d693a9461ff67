//! Tokens and client secrets never reach the logs or error messages, even
//! at trace level, across authorization, refresh, failures and revocation.

mod common;

use std::time::Duration;

use common::*;
use plugboard_auth::Credential;
use plugboard_test_support::{FakeZoom, LogCapture, TokenFault};

#[tokio::test]
async fn no_token_or_secret_is_logged() {
    let (logs, _guard) = LogCapture::scoped(tracing::Level::TRACE);

    let zoom = FakeZoom::start().await;
    let env = Env::new().await;
    let apps = zoom_apps();
    let (conn, done) = connect_zoom(&env, &zoom, &apps).await;
    let manager = env.manager(&apps);
    let mut secrets = vec![FakeZoom::CLIENT_SECRET.to_string()];
    let Credential::OAuth2(first) = &done.credential else {
        panic!()
    };
    secrets.push(first.access_token.expose().to_string());
    secrets.push(first.refresh_token.as_ref().unwrap().expose().to_string());

    let mut errors = Vec::new();
    env.clock.advance(Duration::from_secs(3600));
    zoom.push_token_fault(TokenFault::ServerError);
    let t = manager.access_token(conn).await.unwrap();
    secrets.push(t.token.expose().to_string());
    let Credential::OAuth2(second) = manager.credential(conn).await.unwrap() else {
        panic!()
    };
    secrets.push(second.refresh_token.as_ref().unwrap().expose().to_string());
    errors.push(format!("{t:?} {second:?}"));

    env.clock.advance(Duration::from_secs(3600));
    zoom.push_token_fault(TokenFault::ProcessThenFail);
    let err = manager.access_token(conn).await.unwrap_err();
    errors.push(format!("{err} {err:?}"));
    manager.delete_credential(conn).await.unwrap();

    let text = logs.text();
    assert!(
        text.contains("token endpoint unavailable"),
        "logs were captured:\n{text}"
    );
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret reached the logs");
        for e in &errors {
            assert!(
                !e.contains(secret.as_str()),
                "a secret reached an error or Debug output: {e}"
            );
        }
    }
}
