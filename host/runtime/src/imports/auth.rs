//! `plugboard:connector/auth`: what the connection is, reconnect requests,
//! and the raw token for connectors granted the `raw-token` capability.
//!
//! Owns: which connection facts a guest may see (config minus fields the
//! manifest declares secret). Must never: hand out a token without
//! [`crate::Grants::check`], or any secret config value.

use plugboard_manifest::{Capability, FieldKind};

use crate::imports::HostState;
use crate::wit::latest::plugboard::connector::auth::{ConnectionInfo, Host};

impl Host for HostState {
    async fn connection(&mut self) -> wasmtime::Result<ConnectionInfo> {
        let call = self.call("auth.connection")?;
        let manifest = &call.manifest;
        let config = call
            .ctx()
            .config
            .iter()
            .filter(|(name, _)| {
                manifest
                    .config_field(name)
                    .is_none_or(|f| f.kind != FieldKind::Secret)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(ConnectionInfo {
            connection_id: call.ctx().connection_id.clone(),
            auth_kind: call.ctx().auth_kind.into(),
            granted_scopes: call.ctx().granted_scopes.clone(),
            account_id: call.ctx().account_id.clone(),
            config,
        })
    }

    async fn request_reconnect(&mut self, message: String) -> wasmtime::Result<()> {
        let call = self.call("auth.request-reconnect")?;
        let message = crate::imports::log::truncate(&message, 2048).to_string();
        tracing::info!(
            tenant = %call.ctx().tenant_id,
            connection = %call.ctx().connection_id,
            connector = %call.manifest.id,
            "connector asks for the connection to be reconnected"
        );
        call.services.request_reconnect(message).await;
        Ok(())
    }

    async fn raw_token(&mut self) -> wasmtime::Result<Result<String, String>> {
        let call = self.call("auth.raw-token")?;
        if let Err(refusal) = call
            .shared
            .grants
            .check(&call.manifest, Capability::RawToken)
        {
            tracing::warn!(
                tenant = %call.ctx().tenant_id,
                connection = %call.ctx().connection_id,
                connector = %call.manifest.id,
                "raw-token refused: {refusal}"
            );
            return Ok(Err(refusal.to_string()));
        }
        match call.services.credential().await {
            Ok(credential) => Ok(credential
                .token()
                .map(str::to_owned)
                .ok_or_else(|| "this connection's credential is not a token".to_string())),
            Err(error) => Ok(Err(error.to_string())),
        }
    }
}
