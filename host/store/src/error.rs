//! The store's one error type. Variants name the step; messages say what to
//! do. Errors must never carry secret values or database passwords (URLs are
//! shown with the password removed).

use plugboard_vault::VaultError;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one we support.
    #[error(
        "database `{url}` is not supported: use a file path or `sqlite://PATH` for SQLite, or `postgres://USER@HOST:PORT/DB` for PostgreSQL"
    )]
    UnsupportedDatabase {
        /// The URL, password removed.
        url: String,
    },
    /// Connecting failed.
    #[error("connecting to database `{database}` failed: {source}")]
    Connect {
        /// The database, password removed.
        database: String,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The database was written by a newer Plugboard.
    #[error(
        "the database schema is at version {found}, but this Plugboard binary only knows versions up to {known}: \
         it was migrated by a newer Plugboard; run that newer version (downgrading the schema is not supported)"
    )]
    SchemaTooNew {
        /// Newest migration applied in the database.
        found: i64,
        /// Newest migration this binary embeds.
        known: i64,
    },
    /// Applying embedded migrations failed.
    #[error("applying database migrations failed: {source}")]
    Migrate {
        /// Migrator error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database query `{step}` failed: {source}")]
    Query {
        /// Which operation.
        step: &'static str,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A uniqueness rule of the schema refused the write.
    #[error("{what} already exists: {detail}")]
    Duplicate {
        /// What kind of row.
        what: &'static str,
        /// Which rule.
        detail: String,
    },
    /// The row does not exist in this tenant (or at all: the two are not distinguished).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A compare-and-swap lost: someone else wrote first.
    #[error(
        "{what} `{id}` was changed concurrently: expected version {expected:?}, found {actual:?}; re-read it and retry"
    )]
    Conflict {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: String,
        /// Version the caller expected (`None`: expected no row).
        expected: Option<i64>,
        /// Version found (`None`: no row).
        actual: Option<i64>,
    },
    /// The row is still referenced and cannot be deleted.
    #[error("{what} `{id}` is still in use: {detail}")]
    InUse {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: String,
        /// What references it and how to proceed.
        detail: String,
    },
    /// An OAuth state is unknown, expired or already used.
    #[error("authorization state rejected: {reason}; start the connection flow again")]
    AuthorizationState {
        /// Why.
        reason: &'static str,
    },
    /// Input the store refuses.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which input.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored value cannot be read back (manual edits, bugs).
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The vault refused (wrong key, tampered ciphertext...).
    #[error("vault: {step}: {source}")]
    Vault {
        /// What the store was doing.
        step: &'static str,
        /// Vault error.
        #[source]
        source: VaultError,
    },
}

impl StoreError {
    pub(crate) fn query(step: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { step, source }
    }

    /// Maps unique violations to [`StoreError::Duplicate`], everything else to `Query`.
    pub(crate) fn write(
        step: &'static str,
        what: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| match &source {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate {
                what,
                detail: db.message().to_owned(),
            },
            _ => StoreError::Query { step, source },
        }
    }

    pub(crate) fn vault(step: &'static str) -> impl FnOnce(VaultError) -> StoreError {
        move |source| StoreError::Vault { step, source }
    }

    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`.
pub(crate) fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
    {
        let user = userinfo.split(':').next().unwrap_or("");
        return format!("{scheme}://{user}@{host}");
    }
    url.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_removed_from_messages() {
        assert_eq!(
            super::redact_url("postgres://pb:hunter2@db:5432/pb"),
            "postgres://pb@db:5432/pb"
        );
        assert_eq!(super::redact_url("/data/pb.db"), "/data/pb.db");
        let db = crate::Database::parse("postgres://pb:hunter2@db/pb").unwrap();
        assert!(!format!("{db:?}").contains("hunter2"));
    }
}
