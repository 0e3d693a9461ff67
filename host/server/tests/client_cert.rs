//! Client-certificate (mTLS) connections: the certificate and key are given
//! in the create body, stored sealed and never returned; the host presents
//! them to a loopback HTTPS server that requires a client certificate from
//! its CA. A certificate from another CA is refused with a clear error and
//! nothing is created.
//!
//! The certificates are made at test time (`plugboard_test_support::mtls`):
//! one CA for the server and the accepted client, a second ("rogue") CA
//! for the refused client. The server trusts the test CA through
//! `egress.ca_file`.

mod common;

use common::*;
use plugboard_test_support::mtls::{Leaf, MtlsApi, TestCa, TlsVersion};
use serde_json::{Value, json};

fn create_body(url: &str, client: &Leaf) -> Value {
    json!({
        "connector": "client-cert",
        "config": {"base_url": url},
        "credentials": {"cert_pem": client.cert_pem, "key_pem": client.key_pem},
    })
}

/// A line from the middle of a PEM key: present only if the key is stored
/// or shown in clear.
fn key_fragment(key_pem: &str) -> &str {
    key_pem.lines().nth(1).expect("a PEM key has a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_connection_calls_an_mtls_api_and_never_shows_the_key() {
    let ca = TestCa::new("plugboard test CA");
    let client = ca.client_leaf("ada-client");
    let rogue = TestCa::new("rogue CA").client_leaf("mallory");
    // TLS 1.2: the server refuses a client certificate inside the handshake,
    // so the client always reads the alert (see `TlsVersion`).
    let url = MtlsApi::start(&ca, &ca.server_leaf(), TlsVersion::Tls12)
        .await
        .url;

    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let t = start_server_with(|c| c.egress.ca_file = Some(ca_file.clone())).await;
    let api = Api::new(&t.base, Some(&t.admin_token));

    let wasm = std::fs::read(plugboard_connectors::fixtures::CLIENT_CERT).unwrap();
    let r = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/connectors",
            "application/wasm",
            wasm,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A certificate from another CA: the server refuses the handshake, the
    // error says so, and no connection is created.
    let r = api
        .post("/api/v1/connections", create_body(&url, &rogue))
        .await;
    assert!(
        r.status == 400 || r.status == 502,
        "unexpected status: {}",
        r.text
    );
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refused the TLS handshake with this connection's client certificate")
            && message.contains("UnknownCA"),
        "the error does not say the certificate was refused: {}",
        r.text
    );
    let r = api.get("/api/v1/connections").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.text.contains("client-cert"),
        "a refused certificate left a connection: {}",
        r.text
    );

    // The right certificate: check-connection reaches `/user`.
    let r = api
        .post("/api/v1/connections", create_body(&url, &client))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let conn = &r.body["connection"];
    assert_eq!(conn["status"], "connected", "{}", r.text);
    assert_eq!(conn["account"]["id"], "ada-client", "{}", r.text);
    let id = conn["id"].as_str().unwrap().to_string();

    let r = api.invoke(&id, "request", json!({"path": "/items"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["body"]["items"], json!(["a", "b"]));

    let r = api.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for reply in api.bodies.lock().unwrap().iter() {
        assert!(
            !reply.contains(key_fragment(&client.key_pem))
                && !reply.contains(key_fragment(&rogue.key_pem))
                && !reply.contains("PRIVATE KEY"),
            "a response carried a private key: {reply}"
        );
    }
    let data_dir = t.data_dir();
    t.server.shutdown().await.unwrap();

    // Sealed at rest: no file of the data directory holds the key in clear.
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let needle = key_fragment(&client.key_pem).as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{path:?} holds the private key in clear"
            );
        }
    }
}
