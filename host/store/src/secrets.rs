//! Sealed secrets: a connection's credential (compare-and-swap on a version
//! column, so a rotated refresh token is never overwritten by a stale
//! writer), the connector's own per-connection secrets (the WIT
//! credential-store), and pending OAuth authorizations (state stored as a
//! SHA-256, PKCE verifier sealed).
//!
//! Plaintext enters here as `&[u8]` / [`SecretBytes`] and leaves only as
//! [`SecretBytes`]; this module must never write it to a column, a log line
//! or an error message. Associated data binds each ciphertext to its tenant,
//! its row and its field.

use plugboard_vault::{Aad, Sealed, SecretBytes, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db, to_ms};
use crate::{ConnectionId, PendingAuthorizationId, Scope, Store, StoreError, UserId};

/// AAD field of a connection credential.
pub const CREDENTIAL_FIELD: &str = "credential";
/// AAD field prefix of connector secrets (`connector-secret:<name>`).
pub const CONNECTOR_SECRET_FIELD: &str = "connector-secret:";
/// AAD field of a PKCE verifier.
pub const PKCE_FIELD: &str = "pkce-verifier";

/// A decrypted credential.
#[derive(Debug)]
pub struct Credential {
    /// Its connection.
    pub connection: ConnectionId,
    /// Version for [`Store::compare_and_swap_credential`].
    pub version: i64,
    /// When the access token expires, if known (not secret).
    pub expires_at: Option<OffsetDateTime>,
    /// Last write.
    pub updated_at: OffsetDateTime,
    /// The plaintext (token set JSON, PAT, certificate...), wiped on drop.
    pub secret: SecretBytes,
}

/// A pending OAuth authorization, as returned when its state is consumed.
#[derive(Debug)]
pub struct PendingAuthorization {
    /// Id.
    pub id: PendingAuthorizationId,
    /// Tenant it was started in.
    pub scope: Scope,
    /// Connection being authorized.
    pub connection: ConnectionId,
    /// PKCE verifier, if the flow uses PKCE.
    pub pkce_verifier: Option<SecretString>,
    /// Exact redirect URI used in the authorization request.
    pub redirect_uri: String,
    /// Non-secret context (return URL, requested scopes...).
    pub extra: serde_json::Value,
    /// Who started it.
    pub created_by: Option<UserId>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// What [`Store::create_pending_authorization`] needs.
#[derive(Debug)]
pub struct NewPendingAuthorization<'a> {
    /// Connection being authorized.
    pub connection: ConnectionId,
    /// The `state` parameter (random, unguessable); stored only as a hash.
    pub state: &'a str,
    /// PKCE verifier (sealed).
    pub pkce_verifier: Option<&'a SecretString>,
    /// Exact redirect URI.
    pub redirect_uri: &'a str,
    /// Non-secret context.
    pub extra: serde_json::Value,
    /// Who started it.
    pub created_by: Option<UserId>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

fn state_hash(state: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"plugboard/oauth-state/v1\0");
    h.update(state.as_bytes());
    hex::encode(h.finalize())
}

pub(crate) fn sealed_from(key_version: i64, nonce: Vec<u8>, ciphertext: Vec<u8>) -> Sealed {
    Sealed {
        key_version: key_version as u32,
        nonce,
        ciphertext,
    }
}

impl Store {
    pub(crate) async fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Sealed, StoreError> {
        self.inner
            .vault
            .seal(&self.inner.db, aad, plaintext)
            .await
            .map_err(StoreError::vault("seal secret"))
    }

    pub(crate) async fn unseal(
        &self,
        aad: &Aad<'_>,
        sealed: &Sealed,
    ) -> Result<SecretBytes, StoreError> {
        self.inner
            .vault
            .unseal(&self.inner.db, aad, sealed)
            .await
            .map_err(StoreError::vault("unseal secret"))
    }

    /// The connection's credential, decrypted; `None` when it has none or
    /// the connection is not in this tenant.
    ///
    /// # Errors
    /// [`StoreError::Vault`] when the ciphertext does not decrypt (tampered,
    /// moved from another row or tenant, wrong root key).
    pub async fn get_credential(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<Option<Credential>, StoreError> {
        #[allow(clippy::type_complexity)]
        let row: Option<(i64, Vec<u8>, Vec<u8>, i64, Option<i64>, i64)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT key_version, nonce, ciphertext, version, expires_at, updated_at FROM credentials \
                 WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get credential"))?);
        let Some((kv, nonce, ct, version, expires_at, updated_at)) = row else {
            return Ok(None);
        };
        let aad = Aad::new(scope.tenant.0, connection.0, CREDENTIAL_FIELD);
        let secret = self.unseal(&aad, &sealed_from(kv, nonce, ct)).await?;
        Ok(Some(Credential {
            connection,
            version,
            expires_at: expires_at.map(from_ms),
            updated_at: from_ms(updated_at),
            secret,
        }))
    }

    /// The credential's current version without decrypting it (`None`: no credential).
    pub async fn credential_version(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<Option<i64>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT version FROM credentials WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get credential version")))
    }

    /// Writes the credential only if its version is still `expected_version`
    /// (`None`: only if the connection has no credential yet), sealing
    /// `secret` first. Returns the new version.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another writer got there first (re-read
    /// and decide again); [`StoreError::NotFound`] when the connection is not
    /// in this tenant.
    pub async fn compare_and_swap_credential(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        expected_version: Option<i64>,
        secret: &[u8],
        expires_at: Option<OffsetDateTime>,
    ) -> Result<i64, StoreError> {
        let aad = Aad::new(scope.tenant.0, connection.0, CREDENTIAL_FIELD);
        let sealed = self.seal(&aad, secret).await?;
        let expires = expires_at.map(to_ms);
        let (n, new_version) = match expected_version {
            None => {
                let n = on_db!(self.db(), pool => sqlx::query(
                        "INSERT INTO credentials (connection_id, org_id, tenant_id, key_version, nonce, ciphertext, \
                         version, expires_at, updated_at) \
                         SELECT id, org_id, tenant_id, $1, $2, $3, 1, $4, $5 FROM connections \
                         WHERE id = $6 AND org_id = $7 AND tenant_id = $8 \
                         ON CONFLICT (connection_id) DO NOTHING")
                    .bind(sealed.key_version as i64)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .bind(expires)
                    .bind(now_ms())
                    .bind(connection)
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .execute(pool)
                    .await
                    .map_err(StoreError::query("insert credential"))?
                    .rows_affected());
                (n, 1)
            }
            Some(v) => {
                let n = on_db!(self.db(), pool => sqlx::query(
                        "UPDATE credentials SET key_version = $1, nonce = $2, ciphertext = $3, version = version + 1, \
                         expires_at = $4, updated_at = $5 \
                         WHERE connection_id = $6 AND org_id = $7 AND tenant_id = $8 AND version = $9")
                    .bind(sealed.key_version as i64)
                    .bind(&sealed.nonce)
                    .bind(&sealed.ciphertext)
                    .bind(expires)
                    .bind(now_ms())
                    .bind(connection)
                    .bind(scope.org)
                    .bind(scope.tenant)
                    .bind(v)
                    .execute(pool)
                    .await
                    .map_err(StoreError::query("update credential"))?
                    .rows_affected());
                (n, v + 1)
            }
        };
        if n == 1 {
            return Ok(new_version);
        }
        if self.get_connection(scope, connection).await?.is_none() {
            return Err(crate::connections::not_found(connection));
        }
        Err(StoreError::Conflict {
            what: "credential",
            id: connection.to_string(),
            expected: expected_version,
            actual: self.credential_version(scope, connection).await?,
        })
    }

    /// Removes the credential (e.g. after revocation). `Ok(false)` if there was none.
    pub async fn delete_credential(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM credentials WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete credential"))?
            .rows_affected());
        Ok(n > 0)
    }

    /// Stores (or replaces) a connector secret of the connection.
    pub async fn put_connector_secret(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        name: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::Invalid {
                what: "connector secret name",
                reason: "must be 1 to 200 bytes".into(),
            });
        }
        let field = format!("{CONNECTOR_SECRET_FIELD}{name}");
        let sealed = self
            .seal(&Aad::new(scope.tenant.0, connection.0, &field), value)
            .await?;
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO connector_secrets (connection_id, name, org_id, tenant_id, key_version, nonce, ciphertext, updated_at) \
                 SELECT id, $1, org_id, tenant_id, $2, $3, $4, $5 FROM connections \
                 WHERE id = $6 AND org_id = $7 AND tenant_id = $8 \
                 ON CONFLICT (connection_id, name) DO UPDATE SET key_version = excluded.key_version, \
                 nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at")
            .bind(name)
            .bind(sealed.key_version as i64)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now_ms())
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("put connector secret"))?
            .rows_affected());
        if n == 0 {
            return Err(crate::connections::not_found(connection));
        }
        self.connection_changed(connection);
        Ok(())
    }

    /// A connector secret, decrypted.
    pub async fn get_connector_secret(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        name: &str,
    ) -> Result<Option<SecretBytes>, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT key_version, nonce, ciphertext FROM connector_secrets \
                 WHERE connection_id = $1 AND name = $2 AND org_id = $3 AND tenant_id = $4")
            .bind(connection)
            .bind(name)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get connector secret"))?);
        let Some((kv, nonce, ct)) = row else {
            return Ok(None);
        };
        self.unseal_connector_secret(scope, connection, name, &sealed_from(kv, nonce, ct))
            .await
            .map(Some)
    }

    /// Unseals connector secret `name` of `connection` read from its row.
    pub(crate) async fn unseal_connector_secret(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        name: &str,
        sealed: &Sealed,
    ) -> Result<SecretBytes, StoreError> {
        let field = format!("{CONNECTOR_SECRET_FIELD}{name}");
        self.unseal(&Aad::new(scope.tenant.0, connection.0, &field), sealed)
            .await
    }

    /// Deletes a connector secret; `Ok(false)` if absent.
    pub async fn delete_connector_secret(
        &self,
        scope: &Scope,
        connection: ConnectionId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM connector_secrets WHERE connection_id = $1 AND name = $2 AND org_id = $3 AND tenant_id = $4")
            .bind(connection)
            .bind(name)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete connector secret"))?
            .rows_affected());
        self.connection_changed(connection);
        Ok(n > 0)
    }

    /// Names of the connection's connector secrets.
    pub async fn list_connector_secret_names(
        &self,
        scope: &Scope,
        connection: ConnectionId,
    ) -> Result<Vec<String>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_scalar(
                "SELECT name FROM connector_secrets WHERE connection_id = $1 AND org_id = $2 AND tenant_id = $3 ORDER BY name")
            .bind(connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list connector secrets")))
    }

    /// Records an OAuth authorization in flight.
    pub async fn create_pending_authorization(
        &self,
        scope: &Scope,
        new: NewPendingAuthorization<'_>,
    ) -> Result<PendingAuthorizationId, StoreError> {
        if new.state.len() < 16 {
            return Err(StoreError::Invalid {
                what: "OAuth state",
                reason: "must be at least 16 random characters".into(),
            });
        }
        let id = PendingAuthorizationId::new();
        let sealed = match new.pkce_verifier {
            Some(v) => Some(
                self.seal(
                    &Aad::new(scope.tenant.0, id.0, PKCE_FIELD),
                    v.expose().as_bytes(),
                )
                .await?,
            ),
            None => None,
        };
        let n = on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO pending_authorizations (id, state_hash, org_id, tenant_id, connection_id, key_version, \
                 nonce, ciphertext, redirect_uri, extra, created_by, created_at, expires_at, used) \
                 SELECT $1, $2, org_id, tenant_id, id, $3, $4, $5, $6, $7, $8, $9, $10, FALSE FROM connections \
                 WHERE id = $11 AND org_id = $12 AND tenant_id = $13")
            .bind(id)
            .bind(state_hash(new.state))
            .bind(sealed.as_ref().map(|s| s.key_version as i64))
            .bind(sealed.as_ref().map(|s| s.nonce.clone()))
            .bind(sealed.as_ref().map(|s| s.ciphertext.clone()))
            .bind(new.redirect_uri)
            .bind(new.extra.to_string())
            .bind(new.created_by)
            .bind(now_ms())
            .bind(to_ms(new.expires_at))
            .bind(new.connection)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::write("create pending authorization", "OAuth state"))?
            .rows_affected());
        if n == 0 {
            return Err(crate::connections::not_found(new.connection));
        }
        Ok(id)
    }

    /// Consumes an OAuth `state` from the callback: marks it used atomically
    /// and returns the authorization. Not scoped by tenant, because the
    /// callback does not know it yet: the state itself (unguessable, stored
    /// only as a hash, single use) is the capability, and the returned
    /// [`PendingAuthorization::scope`] is what the rest of the flow uses.
    ///
    /// # Errors
    /// [`StoreError::AuthorizationState`] when unknown, expired or already used.
    pub async fn consume_pending_authorization(
        &self,
        state: &str,
    ) -> Result<PendingAuthorization, StoreError> {
        let hash = state_hash(state);
        let now = now_ms();
        let n = on_db!(self.db(), pool => sqlx::query(
                "UPDATE pending_authorizations SET used = TRUE WHERE state_hash = $1 AND NOT used AND expires_at > $2")
            .bind(&hash)
            .bind(now)
            .execute(pool)
            .await
            .map_err(StoreError::query("consume pending authorization"))?
            .rows_affected());
        #[allow(clippy::type_complexity)]
        let row: Option<(
            Uuid,
            Uuid,
            Uuid,
            Uuid,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            String,
            String,
            Option<Uuid>,
            i64,
            bool,
        )> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, tenant_id, connection_id, key_version, nonce, ciphertext, redirect_uri, extra, \
                 created_by, expires_at, used FROM pending_authorizations WHERE state_hash = $1")
                .bind(&hash)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("read pending authorization"))?);
        let Some((
            id,
            org,
            tenant,
            conn,
            kv,
            nonce,
            ct,
            redirect_uri,
            extra,
            created_by,
            expires_at,
            _used,
        )) = row
        else {
            return Err(StoreError::AuthorizationState {
                reason: "unknown state (never issued, or its connection was deleted)",
            });
        };
        if n == 0 {
            return Err(StoreError::AuthorizationState {
                reason: if expires_at <= now {
                    "the authorization expired"
                } else {
                    "the state was already used"
                },
            });
        }
        let scope = Scope::new(org.into(), tenant.into());
        let pkce_verifier = match (kv, nonce, ct) {
            (Some(kv), Some(nonce), Some(ct)) => {
                let plain = self
                    .unseal(
                        &Aad::new(tenant, id, PKCE_FIELD),
                        &sealed_from(kv, nonce, ct),
                    )
                    .await?;
                Some(plain.into_string().map_err(|_| StoreError::Corrupt {
                    what: "PKCE verifier",
                    detail: "not UTF-8".into(),
                })?)
            }
            _ => None,
        };
        Ok(PendingAuthorization {
            id: id.into(),
            scope,
            connection: conn.into(),
            pkce_verifier,
            redirect_uri,
            extra: serde_json::from_str(&extra).unwrap_or(serde_json::Value::Null),
            created_by: created_by.map(Into::into),
            expires_at: from_ms(expires_at),
        })
    }

    /// Deletes the pending authorizations that expired before
    /// `expired_before` (used or not: an abandoned sign-in keeps its
    /// sealed PKCE verifier only until then); returns how many.
    ///
    /// A used one that has not expired stays, so that replaying its state
    /// is told "already used". Pass a time somewhat in the past: a state
    /// being consumed right now has not expired, so it is never deleted
    /// between [`Store::consume_pending_authorization`]'s two statements.
    pub async fn purge_pending_authorizations(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM pending_authorizations WHERE expires_at <= $1")
            .bind(to_ms(expired_before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(StoreError::query("purge pending authorizations")))
    }
}
