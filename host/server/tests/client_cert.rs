//! Client-certificate (mTLS) connections: the certificate and key are given
//! in the create body, stored sealed and never returned; the host presents
//! them to a loopback HTTPS server that requires a client certificate from
//! its CA. A certificate from another CA is refused with a clear error and
//! nothing is created.
//!
//! The certificates are made at test time with rcgen: one CA for the
//! server and the accepted client, a second ("rogue") CA for the refused
//! client. The server trusts the test CA through `egress.ca_file`.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Json;
use axum::routing::get;
use common::*;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

type Ca = CertifiedIssuer<'static, KeyPair>;

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `ca`, valid for 127.0.0.1.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn leaf(ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert,
        key,
    }
}

/// An HTTPS API on loopback that completes a handshake only with a client
/// certificate issued by `ca`; `/user` says who, `/items` lists things.
async fn start_mtls_api(ca: &Ca, server: &Leaf) -> String {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    // TLS 1.2: the server refuses a client certificate inside the handshake,
    // so the client always reads the alert. Under TLS 1.3 the refusal comes
    // after the client's handshake is done and may race with sending the
    // request (hyper then reports only "connection was not ready"; the
    // runtime words that case too, but cannot name the alert).
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    async fn user() -> Json<Value> {
        Json(json!({"id": "ada-client", "name": "Ada (certificate)"}))
    }
    async fn items() -> Json<Value> {
        Json(json!({"items": ["a", "b"]}))
    }
    let app = axum::Router::new()
        .route("/user", get(user))
        .route("/items", get(items));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client without an accepted certificate fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    url
}

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
    let ca = new_ca("plugboard test CA");
    let server_leaf = leaf(&ca, "127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf(&ca, "ada-client", ExtendedKeyUsagePurpose::ClientAuth);
    let rogue_ca = new_ca("rogue CA");
    let rogue = leaf(&rogue_ca, "mallory", ExtendedKeyUsagePurpose::ClientAuth);
    let url = start_mtls_api(&ca, &server_leaf).await;

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
