//! The floor of the server benchmark: the least a proxy in front of the
//! loopback API can do with the same crates as `plugboard serve` (axum
//! server, reqwest client, serde_json, mimalloc, multi-threaded tokio),
//! and nothing else: no sandbox, no database, no token lookup, no vault.
//!
//! `POST /invoke {"path":"/user"}` with `Authorization: Bearer <token>`
//! sends `GET <api><path>` with the same bearer header and answers
//! `{"output": <the API's JSON>}`, which is the shape and the two HTTP hops
//! of a Plugboard invoke. Loaded in the same run as Plugboard, it tells how
//! much of Plugboard's cost per invoke is its own and how much is the price
//! of two loopback HTTP hops on this machine.
//!
//! Usage: `bare-proxy API_URL TOKEN [ADDR]` (default `127.0.0.1:0`). Prints
//! `listening on http://<addr>` once bound.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    client: reqwest::Client,
    api: String,
    /// The whole expected header value, `Bearer <token>`.
    authorization: String,
}

#[derive(Deserialize)]
struct Invoke {
    path: String,
}

async fn invoke(
    State(upstream): State<Arc<Upstream>>,
    headers: HeaderMap,
    Json(req): Json<Invoke>,
) -> Result<Json<Value>, (StatusCode, String)> {
    if headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())
        != Some(upstream.authorization.as_bytes())
    {
        return Err((StatusCode::UNAUTHORIZED, "wrong bearer token".into()));
    }
    let bad_gateway = |e: reqwest::Error| (StatusCode::BAD_GATEWAY, e.to_string());
    let output: Value = upstream
        .client
        .get(format!("{}{}", upstream.api, req.path))
        .header(header::AUTHORIZATION, &upstream.authorization)
        .send()
        .await
        .map_err(bad_gateway)?
        .json()
        .await
        .map_err(bad_gateway)?;
    Ok(Json(json!({ "output": output })))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare-proxy API_URL TOKEN [ADDR]";
    let api = args.next().ok_or_else(|| std::io::Error::other(usage))?;
    let token = args.next().ok_or_else(|| std::io::Error::other(usage))?;
    let addr = plugboard_bench::listen_addr(args.next())?;
    let upstream = Arc::new(Upstream {
        client: reqwest::Client::builder()
            .build()
            .map_err(std::io::Error::other)?,
        api: api.trim_end_matches('/').to_owned(),
        authorization: format!("Bearer {token}"),
    });
    let app = axum::Router::new()
        .route("/invoke", post(invoke))
        .with_state(upstream);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
