//! Does a busy-looping guest delay everyone else? (issue 16 item 3)
//!
//! One tokio runtime with two workers, like the server's on a 2-core
//! machine, also serving a loopback HTTP API. A "normal" call is the hostile
//! fixture's `echo_http` (one guest call that sends one request to the
//! loopback API, so it needs the executor for its I/O as well as the guest).
//! It is timed alone, then while two neighbours loop `infinite_loop` (each
//! call burns its whole CPU budget and is stopped), in the same run.
//!
//! Run: `cargo bench -p plugboard-runtime --bench neighbours`. Prints p50,
//! p99 and max of the normal call in each phase and the ratio under load /
//! alone; the goal is p99 under load ≤ 2× alone. Not a test: the figures go
//! to BENCHMARKS.md. `BENCH_TICK_MS=2` tries another epoch tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plugboard_manifest::AuthKind;
use plugboard_runtime::{
    AddressPolicy, CallContext, CallLimits, ConnectionServices, Credential, LoadedConnector,
    Runtime, RuntimeConfig, StaticServices,
};

const SAMPLES: usize = 1000;
const NEIGHBOURS: usize = 2;

struct Setup {
    connector: Arc<LoadedConnector>,
    ctx: CallContext,
    services: Arc<dyn ConnectionServices>,
    api: String,
}

async fn setup() -> Setup {
    let runtime = Runtime::new(RuntimeConfig {
        address_policy: AddressPolicy::allow_loopback(),
        limits: CallLimits {
            // Long enough that a neighbour is busy for many ticks per call.
            cpu_time: Duration::from_millis(500),
            ..CallLimits::default()
        },
        epoch_tick: std::env::var("BENCH_TICK_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(RuntimeConfig::default().epoch_tick),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let wasm = std::fs::read(plugboard_connectors::fixtures::HOSTILE).expect("hostile fixture");
    let connector = runtime.load(&wasm).await.expect("hostile loads");

    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let ctx = CallContext::new("tenant", "conn", "hostile", AuthKind::PersonalAccessToken)
        .with_config("base_url", api.clone());
    let services: Arc<dyn ConnectionServices> = Arc::new(StaticServices::new(Credential::pat("t")));
    Setup {
        connector,
        ctx,
        services,
        api,
    }
}

async fn normal_call(s: &Setup) -> Duration {
    let input = format!(r#"{{"method":"GET","url":"{}/ping"}}"#, s.api);
    let start = Instant::now();
    let out = s
        .connector
        .invoke(&s.ctx, s.services.clone(), "echo_http", &input)
        .await
        .expect("echo_http succeeds");
    let took = start.elapsed();
    assert!(out.get().contains("pong"), "{}", out.get());
    took
}

async fn phase(s: &Setup) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        samples.push(normal_call(s).await);
        // Paced like a client that is not itself saturating the server.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    samples.sort();
    samples
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Arc::new(setup().await);
        // Warm up (connection pool, caches).
        for _ in 0..50 {
            normal_call(&s).await;
        }
        let alone = phase(&s).await;

        let stop = Arc::new(AtomicBool::new(false));
        let busy_calls = Arc::new(AtomicUsize::new(0));
        let mut neighbours = Vec::new();
        for _ in 0..NEIGHBOURS {
            let (s, stop, busy_calls) = (s.clone(), stop.clone(), busy_calls.clone());
            neighbours.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = s
                        .connector
                        .invoke(&s.ctx, s.services.clone(), "infinite_loop", "{}")
                        .await;
                    assert!(r.is_err(), "an infinite loop must be stopped");
                    busy_calls.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let loaded = phase(&s).await;
        stop.store(true, Ordering::Relaxed);
        for n in neighbours {
            n.await.unwrap();
        }

        println!("normal call (echo_http to a loopback API), {SAMPLES} samples per phase");
        println!("{:<28} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
        for (name, v) in [
            ("alone", &alone),
            ("with 2 busy-looping guests", &loaded),
        ] {
            println!(
                "{name:<28} {:>9.3} {:>9.3} {:>9.3}",
                ms(pct(v, 0.5)),
                ms(pct(v, 0.99)),
                ms(*v.last().unwrap())
            );
        }
        println!(
            "ratio under load / alone: p50 {:.2}x, p99 {:.2}x (goal: p99 <= 2x); neighbours ran {} stopped calls",
            ms(pct(&loaded, 0.5)) / ms(pct(&alone, 0.5)),
            ms(pct(&loaded, 0.99)) / ms(pct(&alone, 0.99)),
            busy_calls.load(Ordering::Relaxed)
        );
    });
}
