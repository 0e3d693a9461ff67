//! The read a call through a connection starts with, in one round trip:
//! the connection row, what decides whether the caller may use it (its
//! folder's kind and owner, and whether the caller is a member), and
//! optionally one of its secrets. Calls are the hot path of a busy server;
//! three or four separate queries cost more than the rest of a small call.
//!
//! Like the rest of the store this never decides permissions; it hands the
//! server the facts ([`ConnectionForUse`]) and the server decides.

use std::sync::LazyLock;

use plugboard_vault::SecretBytes;
use uuid::Uuid;

use crate::connections::{CONNECTION_COLUMNS, ConnectionRow};
use crate::db::on_db;
use crate::secrets::sealed_from;
use crate::{Connection, ConnectionId, FolderKind, Scope, Store, StoreError, UserId};

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
    /// read it) when given; `None` if there is no such connection.
    pub async fn connection_for_use(
        &self,
        scope: &Scope,
        id: ConnectionId,
        user: UserId,
        secret: Option<&str>,
    ) -> Result<Option<ConnectionForUse>, StoreError> {
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
        let secret = match (sealed, secret) {
            (Some(sealed), Some(name)) => Some(
                self.unseal_connector_secret(scope, id, name, &sealed)
                    .await?,
            ),
            _ => None,
        };
        Ok(Some(ConnectionForUse {
            connection: row.connection.into_connection()?,
            folder_kind: FolderKind::parse(&row.folder_kind)?,
            folder_owner: row.folder_owner.map(Into::into),
            user_is_member: row.user_is_member,
            secret,
        }))
    }
}
