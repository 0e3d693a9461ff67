//! The network edge under a hostile client (issue 16 item 4): thousands of
//! idle sockets, headers and bodies dripped a byte at a time, all kept up
//! for as long as the test runs. `/healthz` and an authenticated invoke must
//! still answer, the server must cut the slow clients itself, and the
//! framework's own errors (a body over the limit) come as JSON.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle sockets and drippers the attacker keeps open (reconnecting when cut).
const IDLE: usize = 2000;
const HEADER_DRIPPERS: usize = 150;
const BODY_DRIPPERS: usize = 150;

/// Generous bound for a request that must get through (the attack makes it
/// wait in the accept backlog); not a performance assertion.
const MUST_ANSWER_WITHIN: Duration = Duration::from_secs(90);

struct Attack {
    stop: Arc<AtomicBool>,
    /// Connections the server closed on the attacker (timeouts doing their job).
    cut: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Attack {
    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.abort();
        }
    }
}

/// One attacker: connect, send `prefix`, then one byte of `drip` every
/// `pace` until the server closes; then reconnect. `drip` empty = stay idle.
fn attacker(
    addr: String,
    prefix: &'static [u8],
    drip: &'static [u8],
    pace: Duration,
    stop: Arc<AtomicBool>,
    cut: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await
            else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if s.write_all(prefix).await.is_err() {
                continue;
            }
            let mut buf = [0u8; 512];
            let mut i = 0;
            loop {
                tokio::select! {
                    _ = s.read(&mut buf) => {
                        // EOF, a reset, or an error answer before closing:
                        // the server let go of us.
                        cut.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    () = tokio::time::sleep(pace) => {
                        if !drip.is_empty() {
                            let byte = &drip[i % drip.len()..][..1];
                            i += 1;
                            if s.write_all(byte).await.is_err() {
                                cut.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                        }
                    }
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    })
}

fn start_attack(addr: &str) -> Attack {
    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let pace = Duration::from_millis(300);
    for _ in 0..IDLE {
        tasks.push(attacker(
            addr.to_string(),
            b"",
            b"",
            pace,
            stop.clone(),
            cut.clone(),
        ));
    }
    for _ in 0..HEADER_DRIPPERS {
        tasks.push(attacker(
            addr.to_string(),
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
            b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            pace,
            stop.clone(),
            cut.clone(),
        ));
    }
    for _ in 0..BODY_DRIPPERS {
        tasks.push(attacker(
            addr.to_string(),
            b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nX-Plugboard-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"username\":\"",
            b"a",
            pace,
            stop.clone(),
            cut.clone(),
        ));
    }
    Attack { stop, cut, tasks }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_invoke_answer_while_thousands_of_slow_clients_hold_on() {
    let t = start_server_with(|c| {
        // A small cap and short deadlines so the test's attack saturates the
        // edge with a few thousand sockets, as ~20k did with the defaults.
        c.edge.max_connections = 256;
        c.edge.header_timeout_ms = 1_000;
        c.edge.body_timeout_ms = 2_000;
    })
    .await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let fake = start_fake_api("edge-token").await;
    let r = api
        .post("/api/v1/connections", pat_body(&fake, "edge-token"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["connection"]["id"].as_str().unwrap().to_string();

    let addr = t.base.trim_start_matches("http://").to_string();
    let attack = start_attack(&addr);
    // Let the attack fill every slot and the backlog.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // A fresh client (no pooled connection that predates the attack).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for round in 0..3 {
        let health = tokio::time::timeout(
            MUST_ANSWER_WITHIN,
            fresh.get(format!("{}/healthz", t.base)).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: /healthz did not answer under attack"))
        .expect("healthz request");
        assert_eq!(health.status(), 200, "round {round}");

        let invoke = tokio::time::timeout(
            MUST_ANSWER_WITHIN,
            fresh
                .post(format!("{}/api/v1/connections/{id}/invoke/request", t.base))
                .bearer_auth(&t.admin_token)
                .json(&json!({"path": "/items"}))
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: invoke did not answer under attack"))
        .expect("invoke request");
        assert_eq!(invoke.status(), 200, "round {round}");
        let body: serde_json::Value = invoke.json().await.unwrap();
        assert_eq!(body["output"]["body"]["items"], json!(["a", "b", "c"]));
    }

    // The server let go of slow clients by itself: far more cuts than it
    // has slots means connections were recycled, not held for ever.
    let cut = attack.cut.load(Ordering::SeqCst);
    assert!(
        cut > 256,
        "only {cut} attacker connections were closed by the server; slow clients are being kept"
    );
    attack.stop().await;
}

#[tokio::test]
async fn a_dripped_header_is_cut_at_the_header_deadline() {
    let t = start_server_with(|c| c.edge.header_timeout_ms = 500).await;
    let addr = t.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Keep dripping; the server must close anyway (bounded wait, not a timing claim).
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if s.write_all(b"X").await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server never closed a connection whose headers never ended"
    );
    // A plain close, or hyper's 408 before it; never a 200 for a request
    // that never finished.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let t = start_server_with(|c| c.edge.header_timeout_ms = 500).await;
    let addr = t.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // Read the answer, then wait for the server to close the idle connection.
    let eof = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(eof.is_ok(), "an idle keep-alive connection was kept open");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn a_dripped_body_is_refused_at_the_body_deadline() {
    let t = start_server_with(|c| c.edge.body_timeout_ms = 1_000).await;
    let addr = t.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nX-Plugboard-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    // One byte every 100 ms: never idle long enough for a
                    // per-frame timeout to fire.
                    if s.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "a body dripped for ever was kept open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"body_unreadable\""), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_with_a_json_error() {
    let t = start_server_with(|c| c.limits.component_bytes = 1024).await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let r = api
        .raw(
            reqwest::Method::POST,
            "/api/v1/connectors",
            "application/wasm",
            vec![0u8; 64 * 1024],
        )
        .await;
    assert_error(&r, 413, "payload_too_large");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("PLUGBOARD_COMPONENT_BYTES"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_method_the_route_lacks_is_a_json_error() {
    let t = start_server().await;
    let api = Api::new(&t.base, Some(&t.admin_token));
    let r = api.send(reqwest::Method::PUT, "/healthz", None).await;
    assert_error(&r, 405, "method_not_allowed");
}
