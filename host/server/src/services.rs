//! The runtime's [`ConnectionServices`] for one connection of one tenant:
//! the credential from the repository's secret slots (PAT, client
//! certificate, OAuth access token), connector secrets under a
//! `connector:` prefix, and reconnect requests turned into a Disconnected
//! status. One value is built per call and bound to one (tenant,
//! connection): nothing here can reach another connection.
//!
//! Never logs or returns a secret; errors name the field, not the value.

use std::sync::Arc;

use async_trait::async_trait;
use plugboard_manifest::AuthKind;
use plugboard_runtime::{ConnectionServices, Credential, CredentialError, SecretStoreError};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use time::OffsetDateTime;

use crate::config::Redacted;
use crate::model::{ConnectionId, ConnectionStatus, TenantId};
use crate::repo::Repo;

/// Secret slot of a personal access token.
pub const FIELD_TOKEN: &str = "token";
/// Secret slot of an OAuth access token.
pub const FIELD_ACCESS_TOKEN: &str = "access_token";
/// Secret slot of an OAuth refresh token.
pub const FIELD_REFRESH_TOKEN: &str = "refresh_token";
/// Client certificate (PEM, not secret) and key (PEM, secret).
pub const FIELD_CERT_PEM: &str = "cert_pem";
pub const FIELD_KEY_PEM: &str = "key_pem";
/// The user's own OAuth client secret (BYOA, client credentials).
pub const FIELD_CLIENT_SECRET: &str = "client_secret";
const CONNECTOR_PREFIX: &str = "connector:";

pub struct Services {
    pub repo: Arc<dyn Repo>,
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub auth_kind: AuthKind,
    /// A credential being tried before it is stored (create, reconnect):
    /// handed out instead of the stored one, and never refreshed.
    pub candidate: Option<Credential>,
}

impl Services {
    async fn slot(&self, field: &str) -> Result<Option<Redacted>, CredentialError> {
        self.repo
            .secret(self.tenant, self.connection, field)
            .await
            .map_err(|e| {
                CredentialError::Unavailable(format!("reading the credential failed: {e}"))
            })
    }

    async fn require(&self, field: &str) -> Result<Redacted, CredentialError> {
        self.slot(field).await?.ok_or_else(|| {
            CredentialError::ReconnectRequired(format!(
                "the connection has no stored `{field}`; reconnect it"
            ))
        })
    }
}

#[async_trait]
impl ConnectionServices for Services {
    async fn credential(&self) -> Result<Credential, CredentialError> {
        if let Some(c) = &self.candidate {
            return Ok(c.clone());
        }
        match self.auth_kind {
            AuthKind::PersonalAccessToken => {
                let t = self.require(FIELD_TOKEN).await?;
                Ok(Credential::pat(t.expose()))
            }
            AuthKind::ClientCertificate => {
                let cert = self.require(FIELD_CERT_PEM).await?;
                let key = self.require(FIELD_KEY_PEM).await?;
                Ok(Credential::ClientCertificate {
                    cert_pem: cert.expose().to_string(),
                    key_pem: SecretString::from(key.expose().to_string()),
                })
            }
            _ => {
                let t = self.require(FIELD_ACCESS_TOKEN).await?;
                Ok(Credential::bearer(t.expose()))
            }
        }
    }

    async fn refresh_credential(
        &self,
        _rejected: &Credential,
    ) -> Result<Credential, CredentialError> {
        if self.candidate.is_some() {
            return Err(CredentialError::ReconnectRequired(
                "the provider rejected the credential".into(),
            ));
        }
        // A PAT or certificate cannot be refreshed; OAuth refresh goes
        // through the auth crate's token manager once it is wired in.
        match self.auth_kind {
            AuthKind::PersonalAccessToken | AuthKind::ClientCertificate => {
                Err(CredentialError::ReconnectRequired(
                    "the provider rejected the credential; reconnect with a valid one".into(),
                ))
            }
            _ => self.credential().await,
        }
    }

    async fn secret_get(&self, key: &str) -> Result<Option<SecretSlice<u8>>, SecretStoreError> {
        let v = self
            .repo
            .secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map_err(|e| SecretStoreError(format!("reading secret `{key}` failed: {e}")))?;
        Ok(v.map(|s| SecretSlice::from(hex::decode(s.expose()).unwrap_or_default())))
    }

    async fn secret_set(&self, key: &str, value: SecretSlice<u8>) -> Result<(), SecretStoreError> {
        let encoded = Redacted::new(hex::encode(value.expose_secret()));
        self.repo
            .put_secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
                encoded,
            )
            .await
            .map_err(|e| SecretStoreError(format!("storing secret `{key}` failed: {e}")))
    }

    async fn secret_delete(&self, key: &str) -> Result<(), SecretStoreError> {
        self.repo
            .delete_secret(
                self.tenant,
                self.connection,
                &format!("{CONNECTOR_PREFIX}{key}"),
            )
            .await
            .map_err(|e| SecretStoreError(format!("deleting secret `{key}` failed: {e}")))
    }

    async fn request_reconnect(&self, message: String) {
        if self.candidate.is_some() {
            return;
        }
        if let Ok(Some(mut c)) = self.repo.connection(self.tenant, self.connection).await {
            c.status = ConnectionStatus::Disconnected;
            c.status_message =
                Some("The provider asks for this connection to be reconnected.".into());
            c.provider_error = Some(message);
            c.updated_at = OffsetDateTime::now_utc();
            if let Err(e) = self.repo.update_connection(&c).await {
                tracing::warn!(connection = %self.connection, error = %e, "could not mark connection disconnected");
            }
        }
    }
}
