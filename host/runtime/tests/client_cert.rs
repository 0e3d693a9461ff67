//! Client-certificate (mTLS) connections through the runtime, against a
//! real loopback HTTPS server that requires a client certificate from its
//! CA (`plugboard_test_support::mtls`): one certificate's requests share
//! one client and so one TLS connection, across calls; a new certificate
//! gets its own; a refused certificate is named in the error.

mod support;

use std::sync::Arc;

use plugboard_manifest::AuthKind;
use plugboard_runtime::{
    CallContext, Credential, LoadedConnector, Runtime, RuntimeConfig, StaticServices,
};
use plugboard_test_support::mtls::{Leaf, MtlsApi, Served, TestCa, TlsVersion};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::*;

/// A runtime trusting `ca` for egress, and the client-cert fixture on it.
async fn client_cert_connector(ca: &TestCa) -> Arc<LoadedConnector> {
    let runtime = Runtime::new(RuntimeConfig {
        extra_ca_pem: Some(ca.pem().into_bytes()),
        ..test_config()
    })
    .expect("runtime");
    runtime
        .load(&fixture(plugboard_connectors::fixtures::CLIENT_CERT))
        .await
        .expect("the client-cert fixture loads")
}

fn ctx(api: &MtlsApi) -> CallContext {
    CallContext::new("t", "t-conn", "client-cert", AuthKind::ClientCertificate)
        .with_config("base_url", &api.url)
}

fn presenting(leaf: &Leaf) -> Arc<StaticServices> {
    Arc::new(StaticServices::new(Credential::ClientCertificate {
        cert_pem: leaf.cert_pem.clone(),
        key_pem: SecretString::from(leaf.key_pem.clone()),
    }))
}

/// One call of the `request` operation: GET `/items`.
async fn get_items(connector: &LoadedConnector, api: &MtlsApi, leaf: &Leaf) {
    let output = connector
        .invoke(
            &ctx(api),
            presenting(leaf),
            "request",
            r#"{"path": "/items"}"#,
        )
        .await
        .expect("request");
    let output: Value = serde_json::from_str(output.get()).unwrap();
    assert_eq!(output["body"]["items"], json!(["a", "b"]), "{output}");
}

/// The connections `leaf`'s requests came on, in order.
fn connections_of(served: &[Served], leaf: &Leaf) -> Vec<usize> {
    served
        .iter()
        .filter(|s| s.client_cert == leaf.der())
        .map(|s| s.connection)
        .collect()
}

// Two workers: the connection a response came on goes back to the client's
// pool from a task of its own, which must not wait for the test to yield.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_certificate_keeps_one_client_and_a_new_one_gets_its_own() {
    let ca = TestCa::new("plugboard test CA");
    let api = MtlsApi::start(&ca, &ca.server_leaf(), TlsVersion::Tls13).await;
    let connector = client_cert_connector(&ca).await;
    let ada = ca.client_leaf("ada-client");
    let grace = ca.client_leaf("grace-client");

    // Three calls with Ada's certificate: a client per request would make
    // three TLS connections; the cached client reuses its first.
    let account = connector
        .check_connection(&ctx(&api), presenting(&ada))
        .await
        .expect("check-connection");
    assert_eq!(account.id, "ada-client");
    get_items(&connector, &api, &ada).await;
    get_items(&connector, &api, &ada).await;
    let served = api.served();
    assert_eq!(served.len(), 3, "{served:?}");
    let ada_connections = connections_of(&served, &ada);
    assert_eq!(
        ada_connections,
        vec![served[0].connection; 3],
        "Ada's requests did not share one TLS connection"
    );

    // Reconnected with Grace's certificate: a new client, so a new
    // connection that presents Grace's certificate, not Ada's pooled one.
    get_items(&connector, &api, &grace).await;
    let served = api.served();
    let grace_connections = connections_of(&served, &grace);
    assert_eq!(grace_connections.len(), 1, "{served:?}");
    assert_ne!(grace_connections[0], ada_connections[0]);

    // Ada's client is still cached, with its idle connection.
    get_items(&connector, &api, &ada).await;
    assert_eq!(
        connections_of(&api.served(), &ada),
        vec![ada_connections[0]; 4]
    );
}

/// The errors of two check-connections with a certificate from another CA,
/// against a server speaking `version`, which never completes a handshake.
async fn refused(version: TlsVersion) -> Vec<String> {
    let ca = TestCa::new("plugboard test CA");
    let api = MtlsApi::start(&ca, &ca.server_leaf(), version).await;
    let connector = client_cert_connector(&ca).await;
    let mallory = TestCa::new("rogue CA").client_leaf("mallory");
    let mut errors = Vec::new();
    for _ in 0..2 {
        let error = connector
            .check_connection(&ctx(&api), presenting(&mallory))
            .await
            .expect_err("a certificate from another CA is refused")
            .to_string();
        assert!(
            !error.contains(key_line(&mallory.key_pem)),
            "the error shows the key: {error}"
        );
        errors.push(error);
    }
    assert_eq!(api.handshakes(), 0);
    assert!(api.served().is_empty());
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_server_refuses_is_named_in_the_error() {
    // TLS 1.2: the server refuses inside the handshake, so the client
    // always receives the alert.
    for error in refused(TlsVersion::Tls12).await {
        assert!(
            error.contains(
                "the server refused the TLS handshake with this connection's client certificate"
            ) && error.contains("UnknownCA"),
            "the error does not say the certificate was refused: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_tls_13_handshake_still_points_at_the_certificate() {
    // TLS 1.3: the refusal comes after the client's handshake and races the
    // request: the client reads the alert, or hyper finds the connection
    // closed before the request went out. Either way the error says so.
    for error in refused(TlsVersion::Tls13).await {
        assert!(
            error.contains("refused the TLS handshake with this connection's client certificate")
                || error.contains(
                    "closed the connection right after the TLS handshake, which with a client \
                     certificate usually means it refused the certificate"
                ),
            "the error does not point at the certificate: {error}"
        );
    }
}

/// A line from the middle of a PEM key.
fn key_line(key_pem: &str) -> &str {
    key_pem.lines().nth(1).expect("a PEM key has a body")
}
