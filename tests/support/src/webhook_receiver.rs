//! A loopback webhook receiver: records the `Plugboard-Signature` header
//! and raw body of every POST to `/hook`, and answers 503 while taken down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// What the receiver got: (signature header, body), in order.
pub type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A running receiver.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// Set to false to answer 503 (receiver down).
    pub up: Arc<AtomicBool>,
    /// Deliveries accepted so far.
    pub received: Received,
}

type St = (Arc<AtomicBool>, Received);

async fn hook(State((up, got)): State<St>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let sig = headers
        .get("plugboard-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    got.lock().unwrap().push((sig, body.to_vec()));
    StatusCode::NO_CONTENT
}

impl WebhookReceiver {
    /// Listens on an OS-chosen loopback port.
    pub async fn start() -> WebhookReceiver {
        let up = Arc::new(AtomicBool::new(true));
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state((up.clone(), received.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver on 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            up,
            received,
        }
    }
}
