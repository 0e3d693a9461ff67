//! Shared set-up for the store suite: one fresh database per test, on
//! SQLite (a temp file) or PostgreSQL (a fresh schema in database `test`,
//! dropped afterwards). If PostgreSQL is unreachable the PostgreSQL tests
//! fail with the command that starts it; they never pass silently.

#![allow(dead_code)]

use std::path::PathBuf;

use plugboard_store::{Database, RootKeySource, Store, StoreOptions};
use sqlx::Connection;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// PostgreSQL for tests; override with `PLUGBOARD_TEST_POSTGRES`.
pub fn postgres_base_url() -> String {
    std::env::var("PLUGBOARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

const START_POSTGRES: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
     (database `test`, user `postgres`, trust auth on 127.0.0.1), or point PLUGBOARD_TEST_POSTGRES at another server";

/// Creates the test database on a server that lacks it (a fresh cluster).
async fn create_test_database(base: &str) {
    let (server, db) = base.rsplit_once('/').expect("URL has a database");
    let db = db.split('?').next().unwrap_or(db);
    let mut c = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {server} is unreachable ({e}); {START_POSTGRES}")
        });
    // a concurrent test may win the race: ignore "already exists"
    let _ = sqlx::query(&format!("CREATE DATABASE \"{db}\""))
        .execute(&mut c)
        .await;
    c.close().await.ok();
}

/// One test's database and root key.
pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database: Database,
    schema: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let database = Database::Sqlite(dir.path().join("plugboard.db"));
                Self {
                    backend,
                    dir,
                    database,
                    schema: None,
                }
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let mut conn = match sqlx::PgConnection::connect(&base).await {
                    Ok(c) => c,
                    Err(e) if e.to_string().contains("does not exist") => {
                        create_test_database(&base).await;
                        sqlx::PgConnection::connect(&base)
                            .await
                            .unwrap_or_else(|e| {
                                panic!("PostgreSQL at {base}: {e}; {START_POSTGRES}")
                            })
                    }
                    Err(e) => panic!("PostgreSQL at {base} is unreachable ({e}); {START_POSTGRES}"),
                };
                let schema = format!("pb_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test schema");
                conn.close().await.ok();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Self {
                    backend,
                    dir,
                    database: Database::Postgres(url),
                    schema: Some(schema),
                }
            }
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("root.key")
    }

    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            database: self.database.clone(),
            root_key: RootKeySource::DataDir(self.key_path()),
            max_connections: 8,
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(self.options()).await.expect("open store")
    }

    /// Runs raw SQL (tests only: tampering, constraint checks).
    pub async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.database {
            Database::Sqlite(p) => {
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", p.display())).await?;
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut c)
                    .await?;
                let r = sqlx::query(sql).execute(&mut c).await?.rows_affected();
                c.close().await?;
                Ok(r)
            }
            Database::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                let r = sqlx::query(sql).execute(&mut c).await?.rows_affected();
                c.close().await?;
                Ok(r)
            }
        }
    }

    /// One integer from a raw query (tests only).
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.database {
            Database::Sqlite(p) => {
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", p.display()))
                    .await
                    .unwrap();
                let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
                c.close().await.ok();
                v
            }
            Database::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
                c.close().await.ok();
                v
            }
        }
    }

    /// The database as a URL for a child process.
    pub fn url(&self) -> String {
        match &self.database {
            Database::Sqlite(p) => format!("sqlite://{}", p.display()),
            Database::Postgres(u) => u.clone(),
        }
    }

    /// Everything the database holds, as bytes: the SQLite file, its WAL and
    /// shared memory; or every row of every table of the PostgreSQL schema
    /// cast to text (bytea rendered as the raw bytes too).
    pub async fn dump(&self) -> Vec<u8> {
        match &self.database {
            Database::Sqlite(p) => {
                let mut out = Vec::new();
                for suffix in ["", "-wal", "-shm"] {
                    let f = PathBuf::from(format!("{}{suffix}", p.display()));
                    if let Ok(bytes) = std::fs::read(&f) {
                        out.extend_from_slice(&bytes);
                    }
                }
                assert!(!out.is_empty(), "SQLite file missing");
                out
            }
            Database::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
                let schema = self.schema.as_deref().expect("schema");
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
                )
                .bind(schema)
                .fetch_all(&mut c)
                .await
                .expect("list tables");
                assert!(
                    tables.len() > 10,
                    "expected the whole schema, got {tables:?}"
                );
                let mut out = Vec::new();
                for t in tables {
                    let rows: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT t::text FROM {schema}.{t} t"))
                            .fetch_all(&mut c)
                            .await
                            .expect("dump table");
                    for r in rows {
                        out.extend_from_slice(r.as_bytes());
                        // bytea renders as \x<hex>: add the decoded bytes too
                        for part in r.split("\\\\x").chain(r.split("\\x")).skip(1) {
                            let hexpart: String =
                                part.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
                            if let Ok(b) = hex::decode(&hexpart[..hexpart.len() & !1]) {
                                out.extend_from_slice(&b);
                            }
                        }
                        out.push(b'\n');
                    }
                }
                c.close().await.ok();
                out
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(schema) = self.schema.take() {
            let base = postgres_base_url();
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&mut c)
                            .await;
                        let _ = c.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Generates `mod sqlite` and `mod postgres`, each with one `#[tokio::test]`
/// per listed async fn taking a [`Backend`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}
