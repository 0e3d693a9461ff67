//! Shared set-up: a real store (SQLite temp file, or PostgreSQL in a fresh
//! schema of database `test`), a connected connection, a fake poller that
//! behaves like a provider with a growing list of events, and a loopback
//! webhook receiver. PostgreSQL unreachable = failure with the start command.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_store::{
    ConnectionId, ConnectionStatus, Database, NewConnection, RootKeySource, Scope, Store,
    StoreOptions, TriggerId,
};
use plugboard_test_support::postgres::TestSchema;
use plugboard_triggers::{
    ManualClock, Outbox, PollError, PollOutput, PollRequest, PolledEvent, Poller, Scheduler,
    SchedulerConfig,
};
use time::OffsetDateTime;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub database: Database,
    pub store: Store,
    pub outbox: Outbox,
    pub clock: Arc<ManualClock>,
    pub scope: Scope,
    pub conn: ConnectionId,
    /// The PostgreSQL schema the store lives in, dropped with the `Env`.
    schema: Option<TestSchema>,
}

pub async fn sqlite() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(dir.path().join("plugboard.db"));
    Env::open(dir, database).await
}

pub async fn postgres() -> Env {
    let schema = TestSchema::create("pb_trig").await;
    let database = Database::Postgres(schema.url().to_owned());
    let mut env = Env::open(tempfile::tempdir().unwrap(), database).await;
    env.schema = Some(schema);
    env
}

pub async fn open_store(dir: &tempfile::TempDir, database: &Database) -> Store {
    Store::open(StoreOptions {
        database: database.clone(),
        root_key: RootKeySource::DataDir(dir.path().join("root.key")),
        max_connections: 8,
    })
    .await
    .unwrap()
}

impl Env {
    async fn open(dir: tempfile::TempDir, database: Database) -> Env {
        let store = open_store(&dir, &database).await;
        let outbox = Outbox::new(&store);
        let org = store
            .create_organization(&format!("org-{}", uuid::Uuid::now_v7()))
            .await
            .unwrap();
        let tenant = store.create_tenant(org.id, "t").await.unwrap();
        let user = store.create_user(org.id, "u", "U", None).await.unwrap();
        let scope = tenant.scope();
        let folder = store.personal_folder(&scope, user.id).await.unwrap();
        let mut new = NewConnection::new(folder.id, "zoom", "oauth2_authorization_code", "zoom");
        new.status = ConnectionStatus::Connected;
        new.polling_frequency_seconds = Some(300);
        let conn = store.create_connection(&scope, new).await.unwrap().id;
        Env {
            dir,
            database,
            store,
            outbox,
            clock: Arc::new(ManualClock::new(OffsetDateTime::now_utc())),
            scope,
            conn,
            schema: None,
        }
    }

    /// Another tenant's scope with its own connection.
    pub async fn other_tenant(&self) -> (Scope, ConnectionId) {
        let org = self
            .store
            .create_organization(&format!("org-{}", uuid::Uuid::now_v7()))
            .await
            .unwrap();
        let tenant = self.store.create_tenant(org.id, "t2").await.unwrap();
        let user = self
            .store
            .create_user(org.id, "u2", "U2", None)
            .await
            .unwrap();
        let scope = tenant.scope();
        let folder = self.store.personal_folder(&scope, user.id).await.unwrap();
        let mut new = NewConnection::new(folder.id, "zoom", "oauth2_authorization_code", "z2");
        new.status = ConnectionStatus::Connected;
        let conn = self.store.create_connection(&scope, new).await.unwrap().id;
        (scope, conn)
    }

    pub fn config(&self, replica: &str) -> SchedulerConfig {
        SchedulerConfig {
            replica: replica.into(),
            ..SchedulerConfig::default()
        }
    }

    pub fn scheduler(&self, poller: Arc<FakePoller>) -> Arc<Scheduler> {
        Arc::new(Scheduler::new(
            self.store.clone(),
            self.outbox.clone(),
            poller,
            self.clock.clone(),
            self.config("a"),
        ))
    }

    pub async fn set_frequency(&self, seconds: i64) {
        self.store
            .update_connection(
                &self.scope,
                self.conn,
                &plugboard_store::ConnectionPatch {
                    polling_frequency_seconds: Some(Some(seconds)),
                    ..Default::default()
                },
                None,
                None,
            )
            .await
            .unwrap();
    }
}

/// What a fake poll does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Ok,
    Unauthorized(String),
    Failing,
}

/// A provider with an append-only list of events; the cursor is how many
/// the subscription has seen. Counts calls per subscription.
#[derive(Default)]
pub struct FakePoller {
    pub events: Mutex<Vec<PolledEvent>>,
    pub calls: Mutex<HashMap<TriggerId, usize>>,
    pub mode: Mutex<Option<Mode>>,
    pub cursors_seen: Mutex<Vec<Option<String>>>,
    pub slow: AtomicBool,
}

impl FakePoller {
    pub fn add(&self, ids: &[&str]) {
        let mut e = self.events.lock().unwrap();
        for id in ids {
            e.push(PolledEvent {
                id: (*id).into(),
                payload: serde_json::json!({ "recording": id }),
            });
        }
    }
    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = Some(m);
    }
    pub fn calls(&self, t: TriggerId) -> usize {
        self.calls.lock().unwrap().get(&t).copied().unwrap_or(0)
    }
    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }
}

#[async_trait]
impl Poller for FakePoller {
    async fn poll(&self, r: PollRequest<'_>) -> Result<PollOutput, PollError> {
        *self.calls.lock().unwrap().entry(r.trigger.id).or_default() += 1;
        self.cursors_seen
            .lock()
            .unwrap()
            .push(r.cursor.map(str::to_owned));
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match self.mode.lock().unwrap().clone().unwrap_or(Mode::Ok) {
            Mode::Unauthorized(m) => return Err(PollError::Unauthorized { message: m }),
            Mode::Failing => {
                return Err(PollError::Failed {
                    message: "provider answered 500".into(),
                });
            }
            Mode::Ok => {}
        }
        let from: usize = r.cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let all = self.events.lock().unwrap();
        Ok(PollOutput {
            events: all[from.min(all.len())..].to_vec(),
            cursor: Some(all.len().to_string()),
        })
    }
}

pub use plugboard_test_support::WebhookReceiver as Receiver;

/// A loopback webhook receiver that can be taken down.
pub async fn receiver() -> Receiver {
    Receiver::start().await
}
