//! The loopback API of the server benchmark: answers every request with a
//! small fixed JSON body (`/user` is what the `pat` connector's check
//! calls), as fast as hyper can, so the baseline is never the bottleneck.
//!
//! Usage: `loopback-api [ADDR] [DELAY_MS]` (default `127.0.0.1:0`, no delay).
//! Prints `listening on http://<addr>` once bound. A delay simulates a
//! real API's latency; the bench compares proxied and direct at both.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = br#"{"id":"42","name":"Ada Lovelace","email":"ada@example.test"}"#;

async fn answer(
    _req: Request<Incoming>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut res = Response::new(Full::new(Bytes::from_static(BODY)));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = plugboard_bench::listen_addr(args.next())?;
    let delay = Duration::from_millis(
        args.next()
            .as_deref()
            .unwrap_or("0")
            .parse()
            .map_err(|e| std::io::Error::other(format!("DELAY_MS: {e}; expected a number")))?,
    );
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, delay));
            // A client that drops its connection is not an error worth printing.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
