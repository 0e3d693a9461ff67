//! Shared set-up for the store suite: one fresh database per test, on
//! SQLite (a temp file) or PostgreSQL (a fresh schema in database `test`,
//! dropped afterwards). If PostgreSQL is unreachable the PostgreSQL tests
//! fail with the command that starts it; they never pass silently.

#![allow(dead_code)]

use std::path::PathBuf;

use plugboard_store::{Database, RootKeySource, Store, StoreOptions};
use plugboard_test_support::postgres::TestSchema;
use sqlx::Connection;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database and root key.
pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database: Database,
    schema: Option<TestSchema>,
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
                let schema = TestSchema::create("pb_test").await;
                Self {
                    backend,
                    dir,
                    database: Database::Postgres(schema.url().to_owned()),
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
                let schema = self.schema.as_ref().expect("schema").name();
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
