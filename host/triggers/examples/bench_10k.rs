//! Scheduler overhead: 10,000 subscriptions on one node (SQLite temp file),
//! each poll a GET to a loopback fake API. Prints one tick's wall time and
//! polls/s. Run: `cargo run --release -p plugboard-triggers --example bench_10k`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use plugboard_store::{
    ConnectionStatus, Database, NewConnection, NewTrigger, RootKeySource, Store, StoreOptions,
};
use plugboard_triggers::{
    ManualClock, Outbox, PollError, PollOutput, PollRequest, Poller, Scheduler, SchedulerConfig,
};

struct HttpPoller {
    url: String,
    http: reqwest::Client,
}

#[async_trait]
impl Poller for HttpPoller {
    async fn poll(&self, _r: PollRequest<'_>) -> Result<PollOutput, PollError> {
        self.http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| PollError::Failed {
                message: e.to_string(),
            })?;
        Ok(PollOutput {
            events: vec![],
            cursor: Some("c".into()),
        })
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(dir.path().join("pb.db"));
    let store = Store::open(StoreOptions {
        database: database.clone(),
        root_key: RootKeySource::DataDir(dir.path().join("root.key")),
        max_connections: 8,
    })
    .await
    .unwrap();
    let outbox = Outbox::new(&store);
    let org = store.create_organization("bench").await.unwrap();
    let scope = store.create_tenant(org.id, "t").await.unwrap().scope();
    let user = store.create_user(org.id, "u", "U", None).await.unwrap();
    let folder = store.personal_folder(&scope, user.id).await.unwrap();
    let mut new = NewConnection::new(folder.id, "fake", "personal_access_token", "c");
    new.status = ConnectionStatus::Connected;
    let conn = store.create_connection(&scope, new).await.unwrap().id;
    for _ in 0..n {
        store
            .create_trigger(
                &scope,
                NewTrigger {
                    connection: conn,
                    trigger_name: "t".into(),
                    config: serde_json::json!({}),
                    poll_interval_seconds: 300,
                    created_by: None,
                },
            )
            .await
            .unwrap();
    }
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "{}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let s = Arc::new(Scheduler::new(
        store,
        outbox,
        Arc::new(HttpPoller {
            url,
            http: reqwest::Client::new(),
        }),
        clock.clone(),
        SchedulerConfig {
            max_concurrent_polls: 64,
            ..SchedulerConfig::default()
        },
    ));
    let t = Instant::now();
    let r = s.tick().await.unwrap();
    let full = t.elapsed();
    clock.advance(Duration::from_secs(10));
    let t = Instant::now();
    let idle = s.tick().await.unwrap();
    let idle_time = t.elapsed();
    println!(
        "subscriptions={n} polled={} failed={} full_tick={:.2?} polls_per_s={:.0} idle_tick(considered={}, polled={})={:.2?}",
        r.polled,
        r.failed,
        full,
        r.polled as f64 / full.as_secs_f64(),
        idle.considered,
        idle.polled,
        idle_time
    );
}
