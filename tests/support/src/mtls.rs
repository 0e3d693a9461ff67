//! Client certificates for tests: CAs and leaf certificates made with
//! rcgen at test time, and [`MtlsApi`], an HTTPS API on loopback that
//! completes a handshake only with a client certificate from its CA and
//! records which connection, and which certificate, served each request.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// A certificate authority made for one test.
pub struct TestCa(CertifiedIssuer<'static, KeyPair>);

impl TestCa {
    /// A new self-signed CA called `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        TestCa(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// The CA certificate, PEM (to trust it as an extra root).
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A server certificate for 127.0.0.1.
    pub fn server_leaf(&self) -> Leaf {
        self.leaf("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose common name is `name`.
    pub fn client_leaf(&self, name: &str) -> Leaf {
        self.leaf(name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert,
            key,
        }
    }
}

/// A leaf certificate signed by a [`TestCa`], valid for 127.0.0.1.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    /// The certificate, DER (as [`Served::client_cert`] holds it).
    pub fn der(&self) -> &[u8] {
        self.cert.der()
    }
}

/// The TLS version an [`MtlsApi`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// The server refuses a client certificate inside the handshake, so
    /// the client always reads the alert.
    Tls12,
    /// The refusal comes after the client's side of the handshake is done
    /// and may race with sending the request.
    Tls13,
}

/// A request an [`MtlsApi`] answered.
#[derive(Debug, Clone)]
pub struct Served {
    /// Which accepted connection it came on (0, 1, ... in accept order).
    pub connection: usize,
    /// The client certificate of that connection, DER.
    pub client_cert: Vec<u8>,
    pub path: String,
}

/// An HTTPS API on loopback that requires a client certificate issued by
/// its CA: `/user` answers `{"id": "ada-client", ...}`, `/items` lists
/// things, anything else is 404.
pub struct MtlsApi {
    pub url: String,
    handshakes: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<Served>>>,
}

/// What a handler knows of its connection.
#[derive(Clone)]
struct Peer {
    connection: usize,
    client_cert: Vec<u8>,
}

impl MtlsApi {
    /// Serve with `server`'s certificate, accepting clients of `ca`.
    pub async fn start(ca: &TestCa, server: &Leaf, version: TlsVersion) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(ca.0.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let versions: &[&rustls::SupportedProtocolVersion] = match version {
            TlsVersion::Tls12 => &[&rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![server.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let accepted = handshakes.clone();
        tokio::spawn(async move {
            for connection in 0.. {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, app, accepted) = (acceptor.clone(), app.clone(), accepted.clone());
                tokio::spawn(async move {
                    // A client without an accepted certificate fails here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|cert| cert.to_vec())
                        .unwrap_or_default();
                    let app = app.layer(Extension(Peer {
                        connection,
                        client_cert,
                    }));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        MtlsApi {
            url,
            handshakes,
            served,
        }
    }

    /// TLS handshakes completed (with an accepted client certificate).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// The requests answered so far, in order.
    pub fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }
}

async fn handle(
    State(served): State<Arc<Mutex<Vec<Served>>>>,
    Extension(peer): Extension<Peer>,
    uri: Uri,
) -> Response {
    served.lock().unwrap().push(Served {
        connection: peer.connection,
        client_cert: peer.client_cert,
        path: uri.path().to_string(),
    });
    match uri.path() {
        "/user" => Json(json!({"id": "ada-client", "name": "Ada (certificate)"})).into_response(),
        "/items" => Json(json!({"items": ["a", "b"]})).into_response(),
        _ => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
