//! The [`Store`] handle: opening a database (SQLite file or PostgreSQL),
//! applying migrations, and opening the vault over it. Everything else is
//! `impl Store` blocks in the per-resource modules.
//!
//! The store must never be opened without its vault: every secret column
//! is written through [`plugboard_vault::Vault::seal`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugboard_vault::{RootKeySource, Vault};

use crate::StoreError;
use crate::connection_use::{ConnectionUseCache, new_connection_use_cache};
use crate::db::{Database, Db};
use crate::token_cache::TokenOwnerCache;

/// How to open a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Which database.
    pub database: Database,
    /// Where the root key ring comes from.
    pub root_key: RootKeySource,
    /// Pool size.
    pub max_connections: u32,
}

impl StoreOptions {
    /// What `plugboard serve` uses: `database_url` if given, else
    /// `<data_dir>/plugboard.db`; the root key from `PLUGBOARD_ROOT_KEY`,
    /// else `PLUGBOARD_ROOT_KEY_FILE`, else `<data_dir>/root.key`
    /// (generated on first start).
    pub fn from_data_dir(data_dir: &Path, database_url: Option<&str>) -> Result<Self, StoreError> {
        let database = match database_url {
            Some(url) => Database::parse(url)?,
            None => Database::in_data_dir(data_dir),
        };
        Ok(Self {
            database,
            root_key: RootKeySource::from_env(data_dir),
            max_connections: 8,
        })
    }
}

/// Persistence for every tenant, with secrets sealed by the vault. Cheap to
/// clone (shared pool and vault).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("vault", &self.inner.vault)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) vault: Vault,
    pub(crate) token_owners: TokenOwnerCache,
    pub(crate) connection_uses: ConnectionUseCache,
}

impl Store {
    /// Connects, refuses a schema newer than this binary, applies embedded
    /// migrations, and opens the vault (checking the root key against the
    /// data, generating it on first start for a data-directory key).
    ///
    /// # Errors
    /// [`StoreError::Connect`], [`StoreError::SchemaTooNew`],
    /// [`StoreError::Migrate`], [`StoreError::Vault`] (missing or wrong root key).
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
        let db = Db::connect(&options.database, options.max_connections.max(1)).await?;
        db.migrate().await?;
        let vault = Vault::open(options.root_key, &db)
            .await
            .map_err(StoreError::vault("open vault"))?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                vault,
                token_owners: TokenOwnerCache::new(),
                connection_uses: new_connection_use_cache(),
            }),
        };
        if store.pending_reencrypt().await? {
            tracing::warn!(
                "a key re-encrypt pass was interrupted; every secret still decrypts, and \
                 `plugboard keys rotate --reencrypt` (or Store::resume_reencrypt_if_pending) finishes it"
            );
        }
        Ok(store)
    }

    /// [`Store::open`] with [`StoreOptions::from_data_dir`].
    pub async fn open_data_dir(
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> Result<Self, StoreError> {
        Self::open(StoreOptions::from_data_dir(data_dir, database_url)?).await
    }

    /// The vault this store seals with.
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// How long [`Store::token_owner`] answers from memory (default
    /// [`crate::DEFAULT_TOKEN_CACHE_TTL`]; zero: always from the database).
    /// See [`crate::token_cache`] for what that means for revocation.
    pub fn set_token_cache_ttl(&self, ttl: Duration) {
        self.inner.token_owners.cache().set_ttl(ttl);
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.inner.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool (waits for connections to return).
    pub async fn close(&self) {
        self.inner.db.close().await
    }

    /// The connection pool, for crates whose tables are created by this
    /// crate's migrations (the trigger outbox). They must never touch the
    /// store's own tables through it, nor write a secret unsealed.
    pub fn pool(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }
}
