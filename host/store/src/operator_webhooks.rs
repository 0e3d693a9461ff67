//! Operator webhooks: a tenant's URL that receives its operator events
//! (connection broken / recovered, dead letters) as signed POSTs. The
//! signing secret is sealed by the vault (bound to the tenant and the
//! webhook id) and re-encrypted by key rotation; it must never be stored or
//! returned in plaintext. Delivery itself is `plugboard-triggers`' job.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{from_ms, now_ms, on_db};
use crate::secrets::sealed_from;
use crate::{OperatorWebhookId, Scope, SecretBytes, Store, StoreError, UserId};
use plugboard_vault::Aad;

/// The vault field an operator webhook's signing secret is bound to.
pub const OPERATOR_WEBHOOK_FIELD: &str = "operator-webhook-secret";

/// An operator webhook (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorWebhook {
    /// Id.
    pub id: OperatorWebhookId,
    /// Tenant.
    pub scope: Scope,
    /// Receiver URL.
    pub url: String,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: OffsetDateTime,
}

type Row = (Uuid, Uuid, Uuid, String, Option<Uuid>, i64);

fn from_row((id, org, tenant, url, created_by, created_at): Row) -> OperatorWebhook {
    OperatorWebhook {
        id: id.into(),
        scope: Scope::new(org.into(), tenant.into()),
        url,
        created_by: created_by.map(Into::into),
        created_at: from_ms(created_at),
    }
}

impl Store {
    /// Stores an operator webhook with its signing secret (sealed).
    pub async fn create_operator_webhook(
        &self,
        scope: &Scope,
        url: &str,
        secret: &[u8],
        created_by: Option<UserId>,
    ) -> Result<OperatorWebhook, StoreError> {
        let id = OperatorWebhookId::new();
        let sealed = self
            .seal(
                &Aad::new(scope.tenant.0, id.0, OPERATOR_WEBHOOK_FIELD),
                secret,
            )
            .await?;
        let at = now_ms();
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO operator_webhooks (id, org_id, tenant_id, url, key_version, nonce, ciphertext, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(url)
            .bind(sealed.key_version as i64)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(created_by)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("create operator webhook"))?);
        Ok(OperatorWebhook {
            id,
            scope: *scope,
            url: url.to_owned(),
            created_by,
            created_at: from_ms(at),
        })
    }

    /// The tenant's operator webhooks, oldest first.
    pub async fn list_operator_webhooks(
        &self,
        scope: &Scope,
    ) -> Result<Vec<OperatorWebhook>, StoreError> {
        let rows: Vec<Row> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT id, org_id, tenant_id, url, created_by, created_at FROM operator_webhooks \
                 WHERE org_id = $1 AND tenant_id = $2 ORDER BY created_at, id")
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list operator webhooks"))?);
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// An operator webhook's signing secret, decrypted; `None` if absent.
    pub async fn operator_webhook_secret(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
    ) -> Result<Option<SecretBytes>, StoreError> {
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT key_version, nonce, ciphertext FROM operator_webhooks \
                 WHERE id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("read operator webhook secret"))?);
        let Some((kv, nonce, ct)) = row else {
            return Ok(None);
        };
        self.unseal(
            &Aad::new(scope.tenant.0, id.0, OPERATOR_WEBHOOK_FIELD),
            &sealed_from(kv, nonce, ct),
        )
        .await
        .map(Some)
    }

    /// Deletes an operator webhook; `Ok(false)` if absent.
    pub async fn delete_operator_webhook(
        &self,
        scope: &Scope,
        id: OperatorWebhookId,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM operator_webhooks WHERE id = $1 AND org_id = $2 AND tenant_id = $3")
            .bind(id)
            .bind(scope.org)
            .bind(scope.tenant)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete operator webhook"))?
            .rows_affected());
        Ok(n > 0)
    }
}
