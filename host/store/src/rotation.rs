//! Key rotation over the whole database: `plugboard keys rotate` re-wraps
//! every tenant data key with a new root key version (no downtime: data
//! keys do not change, so every ciphertext stays readable), and
//! `--reencrypt` then gives every tenant a new data key version and rewrites
//! every sealed secret with it.
//!
//! The re-encrypt pass is resumable: its state lives in `vault_state`, each
//! row is rewritten only if it is unchanged since it was read (matched on
//! its nonce), and a killed pass is finished by [`Store::resume_reencrypt_if_pending`]
//! or by running it again. Old data key versions are kept, so a secret
//! decrypts before, during and after the pass. This module must never hold
//! more than one batch of plaintext at a time, and never log any of it.

use plugboard_vault::{Aad, Progress, RootRotation};
use uuid::Uuid;

use crate::db::{now_ms, on_db};
use crate::oauth_apps::OAUTH_APP_DEFAULT_FIELD;
use crate::secrets::{CONNECTOR_SECRET_FIELD, CREDENTIAL_FIELD, PKCE_FIELD, sealed_from};
use crate::{OPERATOR_WEBHOOK_FIELD, Store, StoreError};

const STATE_KEY: &str = "reencrypt";
const BATCH: i64 = 200;

/// What [`Store::rotate_keys`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The root key re-wrap.
    pub root: RootRotation,
    /// The re-encrypt pass, when asked for.
    pub reencrypt: Option<ReencryptReport>,
}

/// What a re-encrypt pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Whether it continued an interrupted pass.
    pub resumed: bool,
    /// Tenants given a new data key version by this call.
    pub new_data_keys: u64,
    /// Secrets rewritten by this call.
    pub reencrypted: u64,
}

/// One sealed row: (tenant, owner, row name (connector secret name, OAuth
/// default connector), key version, nonce, ciphertext).
type SealedRow = (Uuid, Uuid, Option<String>, i64, Vec<u8>, Vec<u8>);

/// One table of sealed secrets. `update` binds $1 key version, $2 nonce,
/// $3 ciphertext, then matches $4 tenant, $5 owner, $6 old nonce and, for
/// tables with a row name, $7 name.
struct Table {
    /// The AAD field a row was sealed with, from its row name.
    field: fn(Option<&str>) -> String,
    select: &'static str,
    count: &'static str,
    update: &'static str,
}

/// `WHERE` fragment: rows sealed with an older data key than their tenant's newest.
macro_rules! stale {
    ($t:literal) => {
        concat!(
            $t,
            ".key_version < (SELECT MAX(k.version) FROM vault_data_keys k WHERE k.tenant_id = ",
            $t,
            ".tenant_id)"
        )
    };
}

const TABLES: [Table; 5] = [
    Table {
        field: |_| CREDENTIAL_FIELD.to_owned(),
        select: concat!(
            "SELECT t.tenant_id, t.connection_id, NULL, t.key_version, t.nonce, t.ciphertext FROM credentials t WHERE ",
            stale!("t"),
            " LIMIT $1"
        ),
        count: concat!("SELECT COUNT(*) FROM credentials t WHERE ", stale!("t")),
        update: "UPDATE credentials SET key_version = $1, nonce = $2, ciphertext = $3 \
                 WHERE tenant_id = $4 AND connection_id = $5 AND nonce = $6",
    },
    Table {
        field: |name| format!("{CONNECTOR_SECRET_FIELD}{}", name.unwrap_or_default()),
        select: concat!(
            "SELECT t.tenant_id, t.connection_id, t.name, t.key_version, t.nonce, t.ciphertext FROM connector_secrets t WHERE ",
            stale!("t"),
            " LIMIT $1"
        ),
        count: concat!(
            "SELECT COUNT(*) FROM connector_secrets t WHERE ",
            stale!("t")
        ),
        update: "UPDATE connector_secrets SET key_version = $1, nonce = $2, ciphertext = $3 \
                 WHERE tenant_id = $4 AND connection_id = $5 AND name = $7 AND nonce = $6",
    },
    Table {
        field: |_| PKCE_FIELD.to_owned(),
        select: concat!(
            "SELECT t.tenant_id, t.id, NULL, t.key_version, t.nonce, t.ciphertext FROM pending_authorizations t \
             WHERE t.ciphertext IS NOT NULL AND ",
            stale!("t"),
            " LIMIT $1"
        ),
        count: concat!(
            "SELECT COUNT(*) FROM pending_authorizations t WHERE t.ciphertext IS NOT NULL AND ",
            stale!("t")
        ),
        update: "UPDATE pending_authorizations SET key_version = $1, nonce = $2, ciphertext = $3 \
                 WHERE tenant_id = $4 AND id = $5 AND nonce = $6",
    },
    Table {
        field: |connector| format!("{OAUTH_APP_DEFAULT_FIELD}{}", connector.unwrap_or_default()),
        // The owner of a tenant's default is the tenant ($5 goes unused).
        select: concat!(
            "SELECT t.tenant_id, t.tenant_id, t.connector, t.key_version, t.nonce, t.ciphertext FROM oauth_app_defaults t WHERE ",
            stale!("t"),
            " LIMIT $1"
        ),
        count: concat!(
            "SELECT COUNT(*) FROM oauth_app_defaults t WHERE ",
            stale!("t")
        ),
        update: "UPDATE oauth_app_defaults SET key_version = $1, nonce = $2, ciphertext = $3 \
                 WHERE tenant_id = $4 AND connector = $7 AND nonce = $6",
    },
    Table {
        field: |_| OPERATOR_WEBHOOK_FIELD.to_owned(),
        select: concat!(
            "SELECT t.tenant_id, t.id, NULL, t.key_version, t.nonce, t.ciphertext FROM operator_webhooks t WHERE ",
            stale!("t"),
            " LIMIT $1"
        ),
        count: concat!(
            "SELECT COUNT(*) FROM operator_webhooks t WHERE ",
            stale!("t")
        ),
        update: "UPDATE operator_webhooks SET key_version = $1, nonce = $2, ciphertext = $3 \
                 WHERE tenant_id = $4 AND id = $5 AND nonce = $6",
    },
];

/// Binds the row name (connector secret name, OAuth app default connector)
/// only for the statements that have `$7`.
trait BindName<'q>: Sized {
    fn bind_name(self, name: Option<&'q str>) -> Self;
}

impl<'q, DB> BindName<'q> for sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn bind_name(self, name: Option<&'q str>) -> Self {
        match name {
            Some(n) => self.bind(n),
            None => self,
        }
    }
}

impl Store {
    /// What `plugboard keys rotate [--reencrypt]` runs: re-wraps every data
    /// key with a new root key version (generated into the root key file;
    /// with `PLUGBOARD_ROOT_KEY` the operator adds the version first), then,
    /// with `reencrypt`, moves every secret to new data keys. Safe while the
    /// server runs and safe to rerun after an interruption. Pass
    /// `&mut plugboard_vault::progress_bar()` for a terminal progress bar.
    pub async fn rotate_keys(
        &self,
        reencrypt: bool,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<RotationReport, StoreError> {
        let root = self
            .inner
            .vault
            .rotate_root(&self.inner.db, progress)
            .await
            .map_err(StoreError::vault("rotate root key"))?;
        let reencrypt = if reencrypt {
            Some(self.reencrypt_secrets(progress).await?)
        } else {
            None
        };
        Ok(RotationReport { root, reencrypt })
    }

    /// True when a re-encrypt pass was started and has not finished.
    pub async fn pending_reencrypt(&self) -> Result<bool, StoreError> {
        Ok(self.reencrypt_state().await?.is_some())
    }

    /// Finishes an interrupted re-encrypt pass, if there is one. Call at
    /// start-up (in the background: it is safe alongside normal traffic).
    pub async fn resume_reencrypt_if_pending(
        &self,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<Option<ReencryptReport>, StoreError> {
        if self.pending_reencrypt().await? {
            Ok(Some(self.reencrypt_secrets(progress).await?))
        } else {
            Ok(None)
        }
    }

    /// Gives every tenant that has secrets a new data key version and
    /// rewrites every sealed secret with its tenant's newest data key.
    /// Resumes an interrupted pass instead of starting over.
    pub async fn reencrypt_secrets(
        &self,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<ReencryptReport, StoreError> {
        let mut report = ReencryptReport::default();
        let state = self.reencrypt_state().await?;
        report.resumed = state.is_some();
        if state.as_deref() != Some("rewriting") {
            // New data key versions. Redone in full after a crash in this
            // phase: an extra version is harmless.
            self.set_reencrypt_state("creating-keys").await?;
            let tenants: Vec<Uuid> = on_db!(self.db(), pool => sqlx::query_scalar(
                    "SELECT DISTINCT tenant_id FROM vault_data_keys")
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("list tenants with data keys"))?);
            let total = tenants.len() as u64;
            progress(&Progress {
                phase: "new data keys",
                done: 0,
                total,
            });
            for (i, t) in tenants.iter().enumerate() {
                self.inner
                    .vault
                    .new_data_key_version(&self.inner.db, *t)
                    .await
                    .map_err(StoreError::vault("create data key version"))?;
                report.new_data_keys += 1;
                progress(&Progress {
                    phase: "new data keys",
                    done: i as u64 + 1,
                    total,
                });
            }
            self.set_reencrypt_state("rewriting").await?;
        }
        let mut total = 0u64;
        for table in &TABLES {
            let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(table.count)
                .fetch_one(pool)
                .await
                .map_err(StoreError::query("count secrets to re-encrypt"))?);
            total += n as u64;
        }
        let mut done = 0u64;
        progress(&Progress {
            phase: "re-encrypt secrets",
            done,
            total,
        });
        for table in &TABLES {
            loop {
                let rows: Vec<SealedRow> = on_db!(self.db(), pool => sqlx::query_as(table.select)
                    .bind(BATCH)
                    .fetch_all(pool)
                    .await
                    .map_err(StoreError::query("read secrets to re-encrypt"))?);
                if rows.is_empty() {
                    break;
                }
                for (tenant, owner, name, kv, nonce, ct) in rows {
                    let field = (table.field)(name.as_deref());
                    let aad = Aad::new(tenant, owner, &field);
                    let old = sealed_from(kv, nonce.clone(), ct);
                    let plain = self.unseal(&aad, &old).await?;
                    let new = self.seal(&aad, plain.expose()).await?;
                    drop(plain);
                    let n = on_db!(self.db(), pool => sqlx::query(table.update)
                        .bind(new.key_version as i64)
                        .bind(&new.nonce)
                        .bind(&new.ciphertext)
                        .bind(tenant)
                        .bind(owner)
                        .bind(&nonce)
                        .bind_name(name.as_deref())
                        .execute(pool)
                        .await
                        .map_err(StoreError::query("rewrite re-encrypted secret"))?
                        .rows_affected());
                    // 0: a writer replaced the row meanwhile, with the newest key already
                    report.reencrypted += n;
                    done += 1;
                    progress(&Progress {
                        phase: "re-encrypt secrets",
                        done: done.min(total),
                        total,
                    });
                }
            }
        }
        on_db!(self.db(), pool => sqlx::query("DELETE FROM vault_state WHERE name = $1")
            .bind(STATE_KEY)
            .execute(pool)
            .await
            .map_err(StoreError::query("finish re-encrypt pass"))?
            .rows_affected());
        // Remembered secrets are sealed under the keys of before the pass.
        self.connections_changed();
        Ok(report)
    }

    async fn reencrypt_state(&self) -> Result<Option<String>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_scalar("SELECT value FROM vault_state WHERE name = $1")
            .bind(STATE_KEY)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("read re-encrypt state")))
    }

    async fn set_reencrypt_state(&self, value: &str) -> Result<(), StoreError> {
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO vault_state (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
            .bind(STATE_KEY)
            .bind(value)
            .bind(now_ms())
            .execute(pool)
            .await
            .map_err(StoreError::query("record re-encrypt state"))?
            .rows_affected());
        Ok(())
    }
}
