//! Graceful shutdown: a call in flight when shutdown is asked finishes with
//! 200, while the server stops accepting new connections at once.

mod common;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A loopback API whose `/slow` answers only when the test releases it.
#[derive(Clone)]
struct HeldApi {
    arrived: Arc<Notify>,
    release: Arc<Notify>,
}

async fn start_held_api() -> (String, HeldApi) {
    let held = HeldApi {
        arrived: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    async fn user() -> Json<Value> {
        Json(json!({"id": "7", "name": "Grace Hopper"}))
    }
    async fn slow(State(h): State<HeldApi>) -> Json<Value> {
        h.arrived.notify_one();
        h.release.notified().await;
        Json(json!({"finished": true}))
    }
    let app = axum::Router::new()
        .route("/user", get(user))
        .route("/slow", get(slow))
        .with_state(held.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_call_in_flight_and_refuses_new_connections() {
    let t = start_server().await;
    let (api_url, held) = start_held_api().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let r = api
        .post(
            "/api/v1/connections",
            json!({"connector": "pat", "config": {"base_url": api_url},
                   "credentials": {"token": "held-token"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();

    let in_flight = tokio::spawn({
        let api = api.clone();
        async move { api.invoke(&id, "request", json!({"path": "/slow"})).await }
    });
    held.arrived.notified().await;

    let addr = t.server.local_addr;
    let shutdown = tokio::spawn(t.server.shutdown());
    // Shutdown stops the accept loop as soon as it is asked; wait until a
    // fresh connection is refused (bounded: the server must get there).
    let refused = async {
        loop {
            match tokio::net::TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), refused)
        .await
        .expect("the server kept accepting connections after shutdown was asked");
    assert!(
        !in_flight.is_finished() && !shutdown.is_finished(),
        "the call in flight ended before the API answered"
    );

    held.release.notify_one();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["output"]["status"], 200, "{}", r.text);
    assert_eq!(r.body["output"]["body"]["finished"], true, "{}", r.text);
    shutdown
        .await
        .unwrap()
        .expect("shutdown completes once the call is done");
}
