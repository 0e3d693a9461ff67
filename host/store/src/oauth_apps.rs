//! An organization's default OAuth app per connector ("bring your own
//! app" preset by an administrator, seed 000): the client id in clear (it
//! is public), the client secret sealed with the tenant's data key. The
//! secret leaves only as a [`SecretString`], for the flow that sends it.

use plugboard_vault::{Aad, SecretString};

use crate::db::{now_ms, on_db};
use crate::secrets::sealed_from;
use crate::{Scope, Store, StoreError};

/// AAD field prefix of a default OAuth app's secret (`oauth-app-default:<connector>`).
pub const OAUTH_APP_DEFAULT_FIELD: &str = "oauth-app-default:";

/// A default OAuth app, decrypted.
#[derive(Debug)]
pub struct OAuthAppDefault {
    /// The connector it is for.
    pub connector: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
}

impl Store {
    /// Sets (or replaces) the default OAuth app of `connector` in the tenant.
    pub async fn put_oauth_app_default(
        &self,
        scope: &Scope,
        connector: &str,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<(), StoreError> {
        if connector.is_empty() || connector.len() > 200 || client_id.is_empty() {
            return Err(StoreError::Invalid {
                what: "OAuth app default",
                reason: "a connector id (1 to 200 bytes) and a client id are required".into(),
            });
        }
        let field = format!("{OAUTH_APP_DEFAULT_FIELD}{connector}");
        let sealed = self
            .seal(
                &Aad::new(scope.tenant.0, scope.tenant.0, &field),
                client_secret.expose().as_bytes(),
            )
            .await?;
        on_db!(self.db(), pool => sqlx::query(
                "INSERT INTO oauth_app_defaults (org_id, tenant_id, connector, client_id, key_version, nonce, ciphertext, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tenant_id, connector) DO UPDATE SET client_id = excluded.client_id, \
                 key_version = excluded.key_version, nonce = excluded.nonce, \
                 ciphertext = excluded.ciphertext, updated_at = excluded.updated_at")
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(connector)
            .bind(client_id)
            .bind(sealed.key_version as i64)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now_ms())
            .execute(pool)
            .await
            .map_err(StoreError::query("put OAuth app default"))?
            .rows_affected());
        Ok(())
    }

    /// The default OAuth app of `connector` in the tenant, decrypted.
    pub async fn oauth_app_default(
        &self,
        scope: &Scope,
        connector: &str,
    ) -> Result<Option<OAuthAppDefault>, StoreError> {
        let row: Option<(String, i64, Vec<u8>, Vec<u8>)> = on_db!(self.db(), pool => sqlx::query_as(
                "SELECT client_id, key_version, nonce, ciphertext FROM oauth_app_defaults \
                 WHERE org_id = $1 AND tenant_id = $2 AND connector = $3")
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(connector)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::query("get OAuth app default"))?);
        let Some((client_id, kv, nonce, ciphertext)) = row else {
            return Ok(None);
        };
        let field = format!("{OAUTH_APP_DEFAULT_FIELD}{connector}");
        let plain = self
            .unseal(
                &Aad::new(scope.tenant.0, scope.tenant.0, &field),
                &sealed_from(kv, nonce, ciphertext),
            )
            .await?;
        let client_secret = plain.into_string().map_err(|_| StoreError::Invalid {
            what: "OAuth app default",
            reason: "the stored client secret is not UTF-8".into(),
        })?;
        Ok(Some(OAuthAppDefault {
            connector: connector.to_string(),
            client_id,
            client_secret,
        }))
    }

    /// The connectors that have a default OAuth app in the tenant, with
    /// their client ids (never the secrets).
    pub async fn list_oauth_app_defaults(
        &self,
        scope: &Scope,
    ) -> Result<Vec<(String, String)>, StoreError> {
        on_db!(self.db(), pool => sqlx::query_as(
                "SELECT connector, client_id FROM oauth_app_defaults \
                 WHERE org_id = $1 AND tenant_id = $2 ORDER BY connector")
            .bind(scope.org)
            .bind(scope.tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("list OAuth app defaults")))
    }

    /// Removes the default OAuth app of `connector`; `Ok(false)` if absent.
    pub async fn delete_oauth_app_default(
        &self,
        scope: &Scope,
        connector: &str,
    ) -> Result<bool, StoreError> {
        let n = on_db!(self.db(), pool => sqlx::query(
                "DELETE FROM oauth_app_defaults WHERE org_id = $1 AND tenant_id = $2 AND connector = $3")
            .bind(scope.org)
            .bind(scope.tenant)
            .bind(connector)
            .execute(pool)
            .await
            .map_err(StoreError::query("delete OAuth app default"))?
            .rows_affected());
        Ok(n > 0)
    }
}
