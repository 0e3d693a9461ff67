//! Connection pools for the two backends, embedded migrations, the schema
//! version guard, and the `on_db!` macro that runs one piece of query code
//! against whichever backend is open. SQL text is shared where both
//! backends accept it (`$1` placeholders work on SQLite too); the few
//! dialect differences (clock expressions) are spelled per backend here.
//!
//! This module must never build SQL from caller strings (bind everything)
//! and never log connection URLs with passwords.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::StoreError;
use crate::error::redact_url;

pub(crate) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

/// Which database to use. `Debug` hides a URL's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created if missing), WAL mode, foreign keys on.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user@host:port/db`). Add
    /// `?options=-c%20search_path%3Dmyschema` to use a schema other than `public`.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Self::Postgres(u) => f.debug_tuple("Postgres").field(&redact_url(u)).finish(),
        }
    }
}

impl Database {
    /// The embedded default: `<data_dir>/plugboard.db`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("plugboard.db"))
    }

    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(p) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Ok(Self::Sqlite(PathBuf::from(p)))
        } else if url.contains("://") {
            Err(StoreError::UnsupportedDatabase {
                url: redact_url(url),
            })
        } else {
            Ok(Self::Sqlite(PathBuf::from(url)))
        }
    }

    /// For messages: the path or URL without password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres(u) => redact_url(u),
        }
    }
}

/// An open pool of either backend, shared with crates whose tables live in
/// this crate's migrations (the trigger outbox, see [`crate::Store::pool`]).
/// (No `Debug`: sqlx's would print the connect options, password included.)
#[derive(Clone)]
pub enum Db {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the open backend's pool; the body is
/// compiled once per backend.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    pub(crate) async fn connect(
        database: &Database,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let err = |source| StoreError::Connect {
            database: database.describe(),
            source,
        };
        match database {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| err(sqlx::Error::Io(e)))?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    // A pooled connection to a local file cannot go stale;
                    // the default ping before every acquire doubled the
                    // hops to SQLite's worker thread for each query.
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                Ok(Db::Sqlite(pool))
            }
            Database::Postgres(url) => {
                let opts = PgConnectOptions::from_str(url).map_err(err)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .map_err(err)?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Refuses a schema newer than this binary, then applies missing migrations.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let exists_sql = match self {
            Db::Sqlite(_) => {
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Db::Postgres(_) => "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
        };
        let exists: bool = on_db!(self, pool => sqlx::query_scalar(exists_sql)
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("check schema version"))?);
        if exists {
            let found: Option<i64> = on_db!(self, pool => sqlx::query(
                    "SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
                .map_err(StoreError::query("read schema version"))?
                .try_get(0)
                .map_err(StoreError::query("read schema version"))?);
            if let Some(found) = found
                && found > known
            {
                return Err(StoreError::SchemaTooNew { found, known });
            }
        }
        on_db!(self, pool => migrator.run(pool).await.map_err(|source| StoreError::Migrate { source })?);
        Ok(())
    }

    /// SQL for "now" in the database's clock, integer milliseconds.
    pub(crate) fn now_sql(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Db::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    pub(crate) async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// Milliseconds since the epoch, for the database.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Back from milliseconds.
pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, in milliseconds.
pub(crate) fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_embed_the_same_migration_versions() {
        let v = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(v(&SQLITE_MIGRATIONS), v(&POSTGRES_MIGRATIONS));
    }

    #[test]
    fn database_urls_parse() {
        assert!(matches!(
            Database::parse("postgres://u@h/db"),
            Ok(Database::Postgres(_))
        ));
        assert_eq!(
            Database::parse("sqlite:///data/pb.db").unwrap(),
            Database::Sqlite("/data/pb.db".into())
        );
        assert_eq!(
            Database::parse("pb.db").unwrap(),
            Database::Sqlite("pb.db".into())
        );
        let e = Database::parse("mysql://u:secret@h/db").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
