//! The [`Vault`]: a root key ring, a cache of unwrapped tenant data keys,
//! and the operations everyone else calls — seal, unseal, rotate the root
//! key, start a new data key version. Opening a vault checks the key ring
//! against the check values stored with the data, and generates a root key
//! only when there is no sealed data at all.
//!
//! The vault must never persist anything itself except the generated root
//! key file (rows go through [`KeyStore`]), never hand out plaintext except
//! as [`SecretBytes`], and never enumerate user secrets: the re-encrypt pass
//! that walks secret rows lives in the store, which calls [`Vault::unseal`]
//! and [`Vault::seal`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::envelope::DataKey;
use crate::{Aad, KeyStore, Progress, RootKeySource, RootKeyring, Sealed, SecretBytes, VaultError};

fn source_path(source: &RootKeySource) -> Option<&std::path::Path> {
    match source {
        RootKeySource::DataDir(p) | RootKeySource::File(p) => Some(p),
        RootKeySource::Inline(_) => None,
    }
}

/// What [`Vault::rotate_root`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootRotation {
    /// The root key version every data key is now wrapped with.
    pub root_version: u32,
    /// Whether this call added that version (false: the operator had added it).
    pub added_version: bool,
    /// How many data keys were re-wrapped by this call.
    pub rewrapped: u64,
}

/// Envelope encryption for every tenant. Cheap to share (`Arc<Vault>`).
pub struct Vault {
    source: Option<RootKeySource>,
    ring: RwLock<RootKeyring>,
    cache: RwLock<HashMap<(Uuid, u32), Arc<DataKey>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source)
            .field("root_versions", &self.root_versions())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the vault: loads the key ring from `source`, checks it against
    /// the check values in `keys`, and registers check values for new
    /// versions. A [`RootKeySource::DataDir`] without a file gets a fresh
    /// 0600 key file, but only when `keys` holds no sealed data.
    ///
    /// # Errors
    /// [`VaultError::RootKeyMissing`], [`VaultError::WrongRootKey`],
    /// [`VaultError::RootKeyVersionMissing`], key file and format errors.
    pub async fn open(source: RootKeySource, keys: &dyn KeyStore) -> Result<Self, VaultError> {
        let checks = keys
            .root_key_checks()
            .await
            .map_err(VaultError::key_store("read root key checks"))?;
        let data_keys = keys
            .all_data_keys()
            .await
            .map_err(VaultError::key_store("list data keys"))?;
        let mut generated = false;
        let ring = match RootKeyring::load(&source)? {
            Some(ring) => ring,
            None => {
                if !checks.is_empty() || !data_keys.is_empty() {
                    let mut versions: BTreeSet<u32> = checks.iter().map(|c| c.version).collect();
                    versions.extend(data_keys.iter().map(|k| k.root_version));
                    return Err(VaultError::RootKeyMissing {
                        versions: versions.into_iter().collect(),
                        looked_in: format!(
                            "{} does not exist and neither PLUGBOARD_ROOT_KEY nor PLUGBOARD_ROOT_KEY_FILE is set",
                            source.describe()
                        ),
                    });
                }
                let ring = RootKeyring::generate();
                ring.save(&source, true)?;
                generated = true;
                ring
            }
        };
        Self::verify(&ring, &checks, &data_keys)?;
        if let Err(e) = Self::register_checks(&ring, &checks, keys).await {
            if generated {
                // Another replica registered its own first key meanwhile:
                // ours guards nothing, so do not leave it behind.
                if let Some(p) = source_path(&source) {
                    let _ = std::fs::remove_file(p);
                }
            }
            return Err(e);
        }
        Ok(Self {
            source: Some(source),
            ring: RwLock::new(ring),
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// A vault over a key ring held in memory only (tests, benchmarks),
    /// still checked against `keys`. Rotation can add versions (in memory).
    pub async fn open_with_keyring(
        ring: RootKeyring,
        keys: &dyn KeyStore,
    ) -> Result<Self, VaultError> {
        let checks = keys
            .root_key_checks()
            .await
            .map_err(VaultError::key_store("read root key checks"))?;
        let data_keys = keys
            .all_data_keys()
            .await
            .map_err(VaultError::key_store("list data keys"))?;
        Self::verify(&ring, &checks, &data_keys)?;
        Self::register_checks(&ring, &checks, keys).await?;
        Ok(Self {
            source: None,
            ring: RwLock::new(ring),
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Stores check values for versions the key store lacks, then reads
    /// them back: when two processes raced to register different keys under
    /// one version, the loser finds out here.
    async fn register_checks(
        ring: &RootKeyring,
        known: &[crate::RootKeyCheck],
        keys: &dyn KeyStore,
    ) -> Result<(), VaultError> {
        let mut added = false;
        for v in ring.versions() {
            if !known.iter().any(|c| c.version == v) {
                keys.add_root_key_check(&ring.check(v).expect("version exists"))
                    .await
                    .map_err(VaultError::key_store("store root key check"))?;
                added = true;
            }
        }
        if added {
            let checks = keys
                .root_key_checks()
                .await
                .map_err(VaultError::key_store("read root key checks"))?;
            Self::verify(ring, &checks, &[])?;
        }
        Ok(())
    }

    fn verify(
        ring: &RootKeyring,
        checks: &[crate::RootKeyCheck],
        data_keys: &[crate::WrappedDataKey],
    ) -> Result<(), VaultError> {
        for c in checks {
            if let Some(mine) = ring.check(c.version)
                && mine.check_value != c.check_value
            {
                return Err(VaultError::WrongRootKey { version: c.version });
            }
        }
        let used: BTreeSet<u32> = data_keys.iter().map(|k| k.root_version).collect();
        for v in used {
            if ring.check(v).is_none() {
                return Err(VaultError::RootKeyVersionMissing {
                    version: v,
                    have: ring.versions(),
                });
            }
        }
        Ok(())
    }

    /// Root key versions in the ring, ascending.
    pub fn root_versions(&self) -> Vec<u32> {
        self.ring.read().expect("poisoned").versions()
    }

    /// Seals `plaintext` with the tenant's newest data key (created on first
    /// use), bound to `aad`.
    pub async fn seal(
        &self,
        keys: &dyn KeyStore,
        aad: &Aad<'_>,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let key = self.current_data_key(keys, aad.tenant).await?;
        key.seal(aad, plaintext)
    }

    /// Opens a sealed secret.
    ///
    /// # Errors
    /// [`VaultError::Decrypt`] when the ciphertext was altered or belongs to
    /// another tenant, row or field; [`VaultError::DataKeyMissing`] when the
    /// tenant has no such data key version.
    pub async fn unseal(
        &self,
        keys: &dyn KeyStore,
        aad: &Aad<'_>,
        sealed: &Sealed,
    ) -> Result<SecretBytes, VaultError> {
        let key = match self.data_key(keys, aad.tenant, sealed.key_version).await? {
            Some(k) => k,
            None => {
                return Err(VaultError::DataKeyMissing {
                    tenant: aad.tenant,
                    owner: aad.owner,
                    field: aad.field.to_owned(),
                    version: sealed.key_version,
                });
            }
        };
        key.open(aad, sealed)
    }

    /// The tenant's newest data key version, if it has one.
    pub async fn current_data_key_version(
        &self,
        keys: &dyn KeyStore,
        tenant: Uuid,
    ) -> Result<Option<u32>, VaultError> {
        Ok(keys
            .latest_data_key(tenant)
            .await
            .map_err(VaultError::key_store("read latest data key"))?
            .map(|k| k.version))
    }

    /// Adds a new data key version for `tenant` (wrapped with the newest
    /// root key) and returns it; new seals use it from now on. Used by the
    /// re-encrypt pass.
    pub async fn new_data_key_version(
        &self,
        keys: &dyn KeyStore,
        tenant: Uuid,
    ) -> Result<u32, VaultError> {
        loop {
            let next = self
                .current_data_key_version(keys, tenant)
                .await?
                .unwrap_or(0)
                + 1;
            let key = DataKey::generate(tenant, next);
            let wrapped = {
                let ring = self.ring.read().expect("poisoned");
                let (rv, root) = ring.newest();
                key.wrap(rv, root)
            };
            if keys
                .insert_data_key(&wrapped)
                .await
                .map_err(VaultError::key_store("insert data key"))?
            {
                self.cache
                    .write()
                    .expect("poisoned")
                    .insert((tenant, next), Arc::new(key));
                return Ok(next);
            }
        }
    }

    async fn current_data_key(
        &self,
        keys: &dyn KeyStore,
        tenant: Uuid,
    ) -> Result<Arc<DataKey>, VaultError> {
        loop {
            match keys
                .latest_data_key(tenant)
                .await
                .map_err(VaultError::key_store("read latest data key"))?
            {
                Some(w) => return self.unwrap_cached(&w),
                None => {
                    let key = DataKey::generate(tenant, 1);
                    let wrapped = {
                        let ring = self.ring.read().expect("poisoned");
                        let (rv, root) = ring.newest();
                        key.wrap(rv, root)
                    };
                    if keys
                        .insert_data_key(&wrapped)
                        .await
                        .map_err(VaultError::key_store("insert data key"))?
                    {
                        let key = Arc::new(key);
                        self.cache
                            .write()
                            .expect("poisoned")
                            .insert((tenant, 1), key.clone());
                        return Ok(key);
                    }
                    // another writer created version 1 first: use theirs
                }
            }
        }
    }

    async fn data_key(
        &self,
        keys: &dyn KeyStore,
        tenant: Uuid,
        version: u32,
    ) -> Result<Option<Arc<DataKey>>, VaultError> {
        if let Some(k) = self.cache.read().expect("poisoned").get(&(tenant, version)) {
            return Ok(Some(k.clone()));
        }
        match keys
            .data_key(tenant, version)
            .await
            .map_err(VaultError::key_store("read data key"))?
        {
            Some(w) => self.unwrap_cached(&w).map(Some),
            None => Ok(None),
        }
    }

    fn unwrap_cached(&self, w: &crate::WrappedDataKey) -> Result<Arc<DataKey>, VaultError> {
        if let Some(k) = self
            .cache
            .read()
            .expect("poisoned")
            .get(&(w.tenant, w.version))
        {
            return Ok(k.clone());
        }
        if self
            .ring
            .read()
            .expect("poisoned")
            .key(w.root_version)
            .is_none()
        {
            // Another process may have rotated: pick up new versions from the file.
            self.reload_ring()?;
        }
        let key = {
            let ring = self.ring.read().expect("poisoned");
            let root =
                ring.key(w.root_version)
                    .ok_or_else(|| VaultError::RootKeyVersionMissing {
                        version: w.root_version,
                        have: ring.versions(),
                    })?;
            Arc::new(DataKey::unwrap(w, root)?)
        };
        debug_assert_eq!((key.tenant, key.version), (w.tenant, w.version));
        self.cache
            .write()
            .expect("poisoned")
            .insert((w.tenant, w.version), key.clone());
        Ok(key)
    }

    fn reload_ring(&self) -> Result<(), VaultError> {
        if let Some(source) = &self.source
            && let Some(fresh) = RootKeyring::load(source)?
        {
            let mut ring = self.ring.write().expect("poisoned");
            // keep versions we know, and add the ones we did not
            if fresh.versions().len() >= ring.versions().len() {
                *ring = fresh;
            }
        }
        Ok(())
    }

    /// Root key rotation without downtime: makes sure the ring has a version
    /// newer than every data key's wrapping (generating and saving one for
    /// file sources; for `PLUGBOARD_ROOT_KEY` the operator must have added
    /// it), then re-wraps every data key with it. Data keys themselves do not
    /// change, so every ciphertext stays readable throughout. Idempotent:
    /// rerunning after a crash finishes the re-wrap.
    pub async fn rotate_root(
        &self,
        keys: &dyn KeyStore,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<RootRotation, VaultError> {
        let data_keys = keys
            .all_data_keys()
            .await
            .map_err(VaultError::key_store("list data keys"))?;
        let max_used = data_keys.iter().map(|k| k.root_version).max().unwrap_or(0);
        self.reload_ring()?;
        enum Plan {
            Use(u32),
            Generate,
        }
        let plan = {
            let ring = self.ring.read().expect("poisoned");
            let newest = ring.newest_version();
            if max_used > 0 && newest > max_used {
                // a newer version is present (operator added it, or an earlier
                // rotation stopped before re-wrapping everything): finish with it
                Plan::Use(newest)
            } else if max_used == 0 && matches!(self.source, Some(RootKeySource::Inline(_))) {
                // nothing is wrapped yet: nothing to rotate
                Plan::Use(newest)
            } else if let Some(RootKeySource::Inline(_)) = &self.source {
                return Err(VaultError::RootKeyReadOnly {
                    source_name: self.source.as_ref().expect("some").describe(),
                    next: newest + 1,
                });
            } else {
                Plan::Generate
            }
        };
        let (target, added) = match plan {
            Plan::Use(v) => {
                let check = self
                    .ring
                    .read()
                    .expect("poisoned")
                    .check(v)
                    .expect("version exists");
                keys.add_root_key_check(&check)
                    .await
                    .map_err(VaultError::key_store("store root key check"))?;
                (v, false)
            }
            Plan::Generate => {
                // The check value goes to the database before the key goes to
                // the file: of two concurrent rotations only the one whose
                // check was stored writes its key, so no data key is ever
                // wrapped by a key the file does not hold. A version whose
                // check exists without a key (a crash between the two steps)
                // is skipped.
                let checks = keys
                    .root_key_checks()
                    .await
                    .map_err(VaultError::key_store("read root key checks"))?;
                let max_checked = checks.iter().map(|c| c.version).max().unwrap_or(0);
                let mut next = self.ring.read().expect("poisoned").clone();
                let v = next.newest_version().max(max_checked) + 1;
                next.add_generated_version(v);
                let check = next.check(v).expect("just added");
                keys.add_root_key_check(&check)
                    .await
                    .map_err(VaultError::key_store("store root key check"))?;
                let stored = keys
                    .root_key_checks()
                    .await
                    .map_err(VaultError::key_store("read root key checks"))?;
                if !stored.contains(&check) {
                    return Err(VaultError::RotationRace { version: v });
                }
                if let Some(source) = &self.source {
                    next.save(source, false)?;
                }
                *self.ring.write().expect("poisoned") = next;
                (v, true)
            }
        };
        let total = data_keys.len() as u64;
        let mut rewrapped = 0;
        progress(&Progress {
            phase: "rewrap data keys",
            done: 0,
            total,
        });
        for (i, w) in data_keys.iter().enumerate() {
            if w.root_version != target {
                let new = {
                    let ring = self.ring.read().expect("poisoned");
                    let old_root = ring.key(w.root_version).ok_or_else(|| {
                        VaultError::RootKeyVersionMissing {
                            version: w.root_version,
                            have: ring.versions(),
                        }
                    })?;
                    let key = DataKey::unwrap(w, old_root)?;
                    key.wrap(target, ring.key(target).expect("target exists"))
                };
                if keys
                    .replace_data_key(&new, w.root_version)
                    .await
                    .map_err(VaultError::key_store("replace data key"))?
                {
                    rewrapped += 1;
                }
            }
            progress(&Progress {
                phase: "rewrap data keys",
                done: i as u64 + 1,
                total,
            });
        }
        Ok(RootRotation {
            root_version: target,
            added_version: added,
            rewrapped,
        })
    }
}
