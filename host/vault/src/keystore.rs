//! Where wrapped data keys and root key check values live. The vault only
//! names this trait; `plugboard-store` implements it on its database, and
//! [`MemoryKeyStore`] serves tests and benchmarks.
//!
//! Why a trait and not a dependency on the store: the arrows in DESIGN.md
//! point store → vault. The vault owns the rules (which key wraps what, when
//! to create a version, how to re-wrap); the store owns rows. Implementations
//! must only persist what they are given — never unwrap, log or cache keys.

use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use crate::{KeyStoreError, RootKeyCheck, WrappedDataKey};

/// Persistence for the vault's own metadata.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored root key check value.
    async fn root_key_checks(&self) -> Result<Vec<RootKeyCheck>, KeyStoreError>;
    /// Stores a check value; a no-op when that version already has one.
    async fn add_root_key_check(&self, check: &RootKeyCheck) -> Result<(), KeyStoreError>;
    /// The tenant's newest data key, if it has one.
    async fn latest_data_key(&self, tenant: Uuid) -> Result<Option<WrappedDataKey>, KeyStoreError>;
    /// One version of the tenant's data key.
    async fn data_key(
        &self,
        tenant: Uuid,
        version: u32,
    ) -> Result<Option<WrappedDataKey>, KeyStoreError>;
    /// Inserts a new data key version. `Ok(false)` when `(tenant, version)`
    /// exists already (another writer won the race).
    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<bool, KeyStoreError>;
    /// Every data key of every tenant (for rotation).
    async fn all_data_keys(&self) -> Result<Vec<WrappedDataKey>, KeyStoreError>;
    /// Replaces the wrapping of `(key.tenant, key.version)` if it is still
    /// wrapped by `expected_root_version`. `Ok(false)` otherwise.
    async fn replace_data_key(
        &self,
        key: &WrappedDataKey,
        expected_root_version: u32,
    ) -> Result<bool, KeyStoreError>;
}

/// An in-memory [`KeyStore`] for tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    inner: Mutex<(Vec<RootKeyCheck>, Vec<WrappedDataKey>)>,
}

#[async_trait]
impl KeyStore for MemoryKeyStore {
    async fn root_key_checks(&self) -> Result<Vec<RootKeyCheck>, KeyStoreError> {
        Ok(self.inner.lock().expect("poisoned").0.clone())
    }

    async fn add_root_key_check(&self, check: &RootKeyCheck) -> Result<(), KeyStoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        if !g.0.iter().any(|c| c.version == check.version) {
            g.0.push(check.clone());
        }
        Ok(())
    }

    async fn latest_data_key(&self, tenant: Uuid) -> Result<Option<WrappedDataKey>, KeyStoreError> {
        let g = self.inner.lock().expect("poisoned");
        Ok(g.1
            .iter()
            .filter(|k| k.tenant == tenant)
            .max_by_key(|k| k.version)
            .cloned())
    }

    async fn data_key(
        &self,
        tenant: Uuid,
        version: u32,
    ) -> Result<Option<WrappedDataKey>, KeyStoreError> {
        let g = self.inner.lock().expect("poisoned");
        Ok(g.1
            .iter()
            .find(|k| k.tenant == tenant && k.version == version)
            .cloned())
    }

    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<bool, KeyStoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        if g.1
            .iter()
            .any(|k| k.tenant == key.tenant && k.version == key.version)
        {
            return Ok(false);
        }
        g.1.push(key.clone());
        Ok(true)
    }

    async fn all_data_keys(&self) -> Result<Vec<WrappedDataKey>, KeyStoreError> {
        Ok(self.inner.lock().expect("poisoned").1.clone())
    }

    async fn replace_data_key(
        &self,
        key: &WrappedDataKey,
        expected_root_version: u32,
    ) -> Result<bool, KeyStoreError> {
        let mut g = self.inner.lock().expect("poisoned");
        match g.1.iter_mut().find(|k| {
            k.tenant == key.tenant
                && k.version == key.version
                && k.root_version == expected_root_version
        }) {
            Some(k) => {
                *k = key.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl MemoryKeyStore {
    /// Test hook: mutable access to the stored data keys (to tamper with them).
    pub fn with_data_keys<R>(&self, f: impl FnOnce(&mut Vec<WrappedDataKey>) -> R) -> R {
        f(&mut self.inner.lock().expect("poisoned").1)
    }
}
