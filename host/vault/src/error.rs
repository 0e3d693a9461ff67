//! The vault's one error type. Every variant names the step that failed and
//! its message says what the operator should do. It must never carry secret
//! material (no key bytes, no plaintext): these messages reach logs.

use std::path::PathBuf;

/// Boxed error from a [`crate::KeyStore`] implementation (e.g. a database error).
pub type KeyStoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No root key was found, but the key store already holds data sealed by one.
    #[error(
        "root key missing: the database holds secrets sealed with root key version(s) {versions:?}, \
         but {looked_in}; restore the root key file, or set PLUGBOARD_ROOT_KEY / PLUGBOARD_ROOT_KEY_FILE \
         to the key used before (a new key is never generated over existing data)"
    )]
    RootKeyMissing {
        /// Versions the key store knows about.
        versions: Vec<u32>,
        /// Where we looked, in words.
        looked_in: String,
    },
    /// The root key given does not match the key check value stored with the data.
    #[error(
        "wrong root key: version {version} does not match the key check value stored in the database; \
         this database was sealed with another root key (check PLUGBOARD_ROOT_KEY / PLUGBOARD_ROOT_KEY_FILE \
         or the root key file in the data directory)"
    )]
    WrongRootKey {
        /// The root key version whose check value differs.
        version: u32,
    },
    /// The key ring lacks a version that wrapped data keys still use.
    #[error(
        "root key version {version} missing: data keys are wrapped with it, but the configured key ring \
         only has versions {have:?}; keep every old version in the key ring until a rotation has re-wrapped \
         all data keys"
    )]
    RootKeyVersionMissing {
        /// The missing version.
        version: u32,
        /// Versions present in the key ring.
        have: Vec<u32>,
    },
    /// The root key text (env var or file) could not be parsed.
    #[error(
        "root key from {source_name} is malformed: {reason}; expected lines `VERSION:BASE64` with 32-byte keys, \
         e.g. `1:` followed by the output of `head -c32 /dev/urandom | base64`"
    )]
    RootKeyFormat {
        /// Where the key came from (never the key itself).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the root key file failed.
    #[error("root key file `{path}`: {step} failed: {source}")]
    RootKeyFile {
        /// The file.
        path: PathBuf,
        /// read, create, write, rename, set permissions...
        step: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The root key file is readable by others.
    #[error(
        "root key file `{path}` has permissions {mode:o}; it must be readable by its owner only: run `chmod 600 {path}`"
    )]
    RootKeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its current mode bits.
        mode: u32,
    },
    /// Rotation was asked for, but the key ring comes from the operator and has no newer version.
    #[error(
        "cannot add a root key version: the root key comes from {source_name}, which the vault does not write; \
         add a new version there first (e.g. `{next}:<base64 of 32 random bytes>` beside the existing ones) and rerun"
    )]
    RootKeyReadOnly {
        /// Where the key came from.
        source_name: String,
        /// The version number to add.
        next: u32,
    },
    /// Another rotation registered the same new root key version first.
    #[error(
        "root key rotation raced another one: version {version} was registered by another process first; \
         nothing was changed here, rerun `plugboard keys rotate` once the other rotation is done"
    )]
    RotationRace {
        /// The contested version.
        version: u32,
    },
    /// A data key could not be unwrapped with the root key.
    #[error(
        "data key version {version} of tenant {tenant} failed to unwrap with root key version {root_version}: \
         the wrapped key was altered or the root key is wrong"
    )]
    UnwrapDataKey {
        /// Tenant owning the data key.
        tenant: uuid::Uuid,
        /// Data key version.
        version: u32,
        /// Root key version used to wrap it.
        root_version: u32,
    },
    /// The ciphertext names a data key the tenant does not have.
    #[error(
        "secret `{field}` of {owner} in tenant {tenant} names data key version {version}, which this tenant \
         does not have: the ciphertext was copied from another tenant or the key table was altered"
    )]
    DataKeyMissing {
        /// Tenant.
        tenant: uuid::Uuid,
        /// Owner (e.g. connection id).
        owner: uuid::Uuid,
        /// Field name.
        field: String,
        /// Data key version named by the ciphertext.
        version: u32,
    },
    /// Authenticated decryption failed.
    #[error(
        "secret `{field}` of {owner} in tenant {tenant} failed to decrypt: it was tampered with, or moved from \
         another row, tenant or field (the ciphertext is bound to all three)"
    )]
    Decrypt {
        /// Tenant.
        tenant: uuid::Uuid,
        /// Owner (e.g. connection id).
        owner: uuid::Uuid,
        /// Field name.
        field: String,
    },
    /// A sealed blob is not in the vault's format.
    #[error("sealed secret is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// Encryption failed (only on absurd input sizes).
    #[error("encrypting secret `{field}` failed")]
    Encrypt {
        /// Field name.
        field: String,
    },
    /// The key store (database) failed.
    #[error("vault key store: {step} failed: {source}")]
    KeyStore {
        /// Which key store call.
        step: &'static str,
        /// Backend error.
        #[source]
        source: KeyStoreError,
    },
}

impl VaultError {
    pub(crate) fn key_store(step: &'static str) -> impl FnOnce(KeyStoreError) -> VaultError {
        move |source| VaultError::KeyStore { step, source }
    }
}
