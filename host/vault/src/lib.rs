//! Envelope encryption of secrets at rest, with key rotation.
//!
//! This crate owns every cryptographic decision about stored secrets: the
//! versioned root key ring ([`RootKeyring`], from a 0600 file in the data
//! directory or from the operator), per-tenant data keys wrapped by it,
//! XChaCha20-Poly1305 sealing bound to tenant + owner + field ([`Aad`]), and
//! rotation. It must never depend on the store, open a database, log a
//! secret, or return plaintext other than as [`SecretBytes`] /
//! [`SecretString`], which zeroize on drop and print `[redacted]`.
//!
//! Wrapped data keys live behind the small [`KeyStore`] trait, which
//! `plugboard-store` implements (arrow store → vault, as in DESIGN.md).
//!
//! ```
//! # tokio_test_block_on(async {
//! use plugboard_vault::{Aad, MemoryKeyStore, RootKeyring, Vault};
//! let keys = MemoryKeyStore::default();
//! let vault = Vault::open_with_keyring(RootKeyring::generate(), &keys).await.unwrap();
//! let (tenant, connection) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
//! let aad = Aad::new(tenant, connection, "credential");
//! let sealed = vault.seal(&keys, &aad, b"refresh-token").await.unwrap();
//! let plain = vault.unseal(&keys, &aad, &sealed).await.unwrap();
//! assert_eq!(plain.expose(), b"refresh-token");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

#![deny(missing_docs)]

mod envelope;
mod error;
mod keystore;
mod progress;
mod root;
mod secret;
mod vault;

pub use envelope::{Aad, NONCE_LEN, Sealed, WrappedDataKey};
pub use error::{KeyStoreError, VaultError};
pub use keystore::{KeyStore, MemoryKeyStore};
pub use progress::{Progress, progress_bar};
pub use root::{
    ROOT_KEY_ENV, ROOT_KEY_FILE_ENV, ROOT_KEY_FILE_NAME, RootKeyCheck, RootKeySource, RootKeyring,
};
pub use secret::{SecretBytes, SecretString};
pub use vault::{RootRotation, Vault};
