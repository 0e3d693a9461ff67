//! The read a call through a connection starts with, in one round trip:
//! the connection row, what decides whether the caller may use it (its
//! folder's kind and owner, and whether the caller is a member), and
//! optionally one of its secrets. Calls are the hot path of a busy server;
//! three or four separate queries cost more than the rest of a small call.
//!
//! Like the rest of the store this never decides permissions; it hands the
//! server the facts ([`ConnectionForUse`]) and the server decides.
//!
//! [`Store::connection_for_call`] answers from memory for a short time (a
//! [`crate::ttl_cache`], default [`DEFAULT_CONNECTION_CACHE_TTL`]): a busy
//! automation calls through the same connection thousands of times a
//! second. The secret is kept sealed there and unsealed per call. Every
//! write through this store that changes an answer (the connection row, its
//! secrets, folder membership, a deleted user, key rotation) forgets the
//! affected entries when it is written; a change made by another replica is
//! seen within the TTL. [`Store::connection_for_use`] always reads the
//! database, for the management API.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use plugboard_vault::{Sealed, SecretBytes};
use uuid::Uuid;

use crate::connections::{CONNECTION_COLUMNS, ConnectionRow};
use crate::db::on_db;
use crate::secrets::sealed_from;
use crate::ttl_cache::TtlCache;
use crate::{Connection, ConnectionId, FolderKind, Scope, Store, StoreError, UserId};

/// How long [`Store::connection_for_call`] answers from memory unless told
/// otherwise ([`Store::set_connection_cache_ttl`]).
pub const DEFAULT_CONNECTION_CACHE_TTL: Duration = Duration::from_secs(2);

/// At most this many (connection, user, secret) answers are remembered.
const MAX_ENTRIES: usize = 10_000;

/// What a call asked for: the answer depends on the user (membership) and
/// on the secret slot read with the row.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct UseKey {
    scope: Scope,
    id: ConnectionId,
    user: UserId,
    secret: Option<String>,
}

/// An answer as remembered: the secret still sealed.
#[derive(Clone)]
pub(crate) struct SealedUse {
    connection: Connection,
    folder_kind: FolderKind,
    folder_owner: Option<UserId>,
    user_is_member: bool,
    sealed: Option<Sealed>,
}

/// The remembered answers of [`Store::connection_for_call`]. Shared
/// (`Arc`) so a hit holds the cache's lock only to count a reference; the
/// row is copied out after the lock is released.
pub(crate) type ConnectionUseCache = TtlCache<UseKey, Arc<SealedUse>>;

pub(crate) fn new_connection_use_cache() -> ConnectionUseCache {
    TtlCache::new(DEFAULT_CONNECTION_CACHE_TTL, MAX_ENTRIES)
}

/// A connection with who may use it and, when asked for, one secret.
#[derive(Debug)]
pub struct ConnectionForUse {
    /// The connection.
    pub connection: Connection,
    /// Kind of the folder it lives in.
    pub folder_kind: FolderKind,
    /// The folder's owner (a personal workspace's user).
    pub folder_owner: Option<UserId>,
    /// Whether the user asked about is a member of the (shared) folder.
    pub user_is_member: bool,
    /// The secret asked for, unsealed; `None` when not asked for or absent.
    pub secret: Option<SecretBytes>,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    connection: ConnectionRow,
    folder_kind: String,
    folder_owner: Option<Uuid>,
    user_is_member: bool,
    secret_key_version: Option<i64>,
    secret_nonce: Option<Vec<u8>>,
    secret_ciphertext: Option<Vec<u8>>,
}

/// The connection columns qualified with `c.` (the join repeats their names).
static SQL: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = CONNECTION_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    format!(
        "SELECT {}, f.kind AS folder_kind, f.owner_user_id AS folder_owner, \
         EXISTS (SELECT 1 FROM folder_members m WHERE m.folder_id = c.folder_id \
                 AND m.org_id = c.org_id AND m.tenant_id = c.tenant_id AND m.user_id = $4) \
             AS user_is_member, \
         s.key_version AS secret_key_version, s.nonce AS secret_nonce, \
         s.ciphertext AS secret_ciphertext \
         FROM connections c \
         JOIN folders f ON f.id = c.folder_id AND f.org_id = c.org_id AND f.tenant_id = c.tenant_id \
         LEFT JOIN connector_secrets s ON s.connection_id = c.id AND s.org_id = c.org_id \
             AND s.tenant_id = c.tenant_id AND s.name = $5 \
         WHERE c.id = $1 AND c.org_id = $2 AND c.tenant_id = $3",
        columns.join(", ")
    )
});

impl Store {
    /// Connection `id` of `scope` as a call by `user` needs it, with the
    /// connector secret `secret` (as [`Store::get_connector_secret`] would
    /// read it) when given; `None` if there is no such connection. Always
    /// read from the database.
    pub async fn connection_for_use(
        &self,
        scope: &Scope,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
    ) -> Result<Option<ConnectionForUse>, StoreError> {
        match self.read_connection_use(scope, id, user, secret).await? {
            Some(found) => Ok(Some(self.unseal_use(scope, id, secret, found).await?)),
            None => Ok(None),
        }
    }

    /// [`Store::connection_for_use`] for a call through the connection:
    /// answered from memory when the same question was read less than the
    /// connection cache's TTL ago (see the [module docs](self)).
    pub async fn connection_for_call(
        &self,
        scope: &Scope,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
    ) -> Result<Option<ConnectionForUse>, StoreError> {
        let cache = &self.inner.connection_uses;
        let key = UseKey {
            scope: *scope,
            id,
            user,
            secret: secret.map(str::to_owned),
        };
        let found = match cache.get(&key) {
            Some(found) => Arc::unwrap_or_clone(found),
            None => {
                let looked_up = Instant::now();
                let Some(found) = self.read_connection_use(scope, id, user, secret).await? else {
                    return Ok(None);
                };
                cache.put(key, Arc::new(found.clone()), looked_up);
                found
            }
        };
        Ok(Some(self.unseal_use(scope, id, secret, found).await?))
    }

    /// How long [`Store::connection_for_call`] answers from memory (default
    /// [`DEFAULT_CONNECTION_CACHE_TTL`]; zero: always from the database).
    pub fn set_connection_cache_ttl(&self, ttl: Duration) {
        self.inner.connection_uses.set_ttl(ttl);
    }

    /// Forget what [`Store::connection_for_call`] remembers of connection
    /// `id`: its row or its secrets were just written.
    pub(crate) fn connection_changed(&self, id: ConnectionId) {
        self.inner.connection_uses.forget(|key, _| key.id == id);
    }

    /// Forget everything [`Store::connection_for_call`] remembers: a change
    /// that reaches several connections (a default moved, a folder's
    /// members, a deleted user, re-sealed secrets) was just written.
    pub(crate) fn connections_changed(&self) {
        self.inner.connection_uses.forget_all();
    }

    async fn read_connection_use(
        &self,
        scope: &Scope,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
    ) -> Result<Option<SealedUse>, StoreError> {
        let row: Option<Row> = on_db!(self.db(), pool => sqlx::query_as(SQL.as_str())
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(user)
            .bind(secret)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get connection for use"))?);
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed = match (
            row.secret_key_version,
            row.secret_nonce,
            row.secret_ciphertext,
        ) {
            (Some(kv), Some(nonce), Some(ct)) => Some(sealed_from(kv, nonce, ct)),
            _ => None,
        };
        Ok(Some(SealedUse {
            connection: row.connection.into_connection()?,
            folder_kind: FolderKind::parse(&row.folder_kind)?,
            folder_owner: row.folder_owner.map(Into::into),
            user_is_member: row.user_is_member,
            sealed,
        }))
    }

    async fn unseal_use(
        &self,
        scope: &Scope,
        id: ConnectionId,
        secret: Option<&str>,
        found: SealedUse,
    ) -> Result<ConnectionForUse, StoreError> {
        let secret = match (found.sealed, secret) {
            (Some(sealed), Some(name)) => Some(
                self.unseal_connector_secret(scope, id, name, &sealed)
                    .await?,
            ),
            _ => None,
        };
        Ok(ConnectionForUse {
            connection: found.connection,
            folder_kind: found.folder_kind,
            folder_owner: found.folder_owner,
            user_is_member: found.user_is_member,
            secret,
        })
    }
}
