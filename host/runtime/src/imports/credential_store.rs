//! `plugboard:connector/credential-store`: per-connection secrets a
//! connector keeps, passed to [`crate::ConnectionServices`] (the vault
//! encrypts them; the runtime never stores them).
//!
//! Owns: key/value size limits. Must never: keep a value after the call,
//! log a value, or address another connection (the services object is
//! bound to this one).

use secrecy::{ExposeSecret, SecretSlice};

use crate::imports::HostState;
use crate::wit::latest::plugboard::connector::credential_store::Host;

/// Longest key accepted.
const MAX_KEY_BYTES: usize = 256;

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let call = self.call("credential-store.get")?;
        match call.services.secret_get(&key).await {
            Ok(value) => Ok(value.map(|v| v.expose_secret().to_vec())),
            Err(error) => {
                tracing::warn!(connector = %call.manifest.id, connection = %call.ctx().connection_id, %error, "credential-store get failed");
                Ok(None)
            }
        }
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let call = self.call("credential-store.set")?;
        let max_value = call.shared.limits.max_secret_value_bytes;
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Ok(Err(format!("key must be 1-{MAX_KEY_BYTES} bytes")));
        }
        if value.len() > max_value {
            return Ok(Err(format!(
                "value is {} bytes; the limit is {max_value} bytes",
                value.len()
            )));
        }
        Ok(call
            .services
            .secret_set(&key, SecretSlice::from(value))
            .await
            .map_err(|e| e.to_string()))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        let call = self.call("credential-store.delete")?;
        if let Err(error) = call.services.secret_delete(&key).await {
            tracing::warn!(connector = %call.manifest.id, connection = %call.ctx().connection_id, %error, "credential-store delete failed");
        }
        Ok(())
    }
}
