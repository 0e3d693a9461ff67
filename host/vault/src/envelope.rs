//! The envelope: per-tenant data keys (wrapped by a root key) and sealed
//! secrets (encrypted by a data key), both with XChaCha20-Poly1305 and
//! random 192-bit nonces. Associated data binds a sealed secret to its
//! tenant, owner (connection id, pending authorization id...) and field, and
//! a wrapped data key to its tenant and version, so ciphertext moved to
//! another row, tenant or field fails to decrypt.
//!
//! This module is pure computation: it must never do I/O, cache keys, or
//! return plaintext in anything but [`SecretBytes`].

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::root::RootKey;
use crate::{SecretBytes, VaultError};

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
const SEALED_MAGIC: &[u8; 4] = b"PBS1";

/// What a sealed secret is bound to. Decryption succeeds only with the
/// same three values that sealed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aad<'a> {
    /// The tenant owning the secret.
    pub tenant: Uuid,
    /// The row owning the secret (connection id, pending authorization id...).
    pub owner: Uuid,
    /// The field within the row (`credential`, `connector-secret:webhook`...).
    pub field: &'a str,
}

impl<'a> Aad<'a> {
    /// Binds a secret to `tenant`, `owner` and `field`.
    pub fn new(tenant: Uuid, owner: Uuid, field: &'a str) -> Self {
        Self {
            tenant,
            owner,
            field,
        }
    }

    fn encode(&self, key_version: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(64 + self.field.len());
        v.extend_from_slice(b"plugboard/secret/v1\0");
        v.extend_from_slice(self.tenant.as_bytes());
        v.extend_from_slice(self.owner.as_bytes());
        v.extend_from_slice(&key_version.to_be_bytes());
        v.extend_from_slice(&(self.field.len() as u32).to_be_bytes());
        v.extend_from_slice(self.field.as_bytes());
        v
    }
}

/// A sealed secret as stored: the data key version that sealed it (the data
/// key id is the tenant's, which the row carries), the nonce and the
/// ciphertext with its tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Version of the tenant's data key.
    pub key_version: u32,
    /// 24-byte random nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_version", &self.key_version)
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

impl Sealed {
    /// One self-describing blob: `PBS1`, key version (u32 BE), nonce, ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + NONCE_LEN + self.ciphertext.len());
        v.extend_from_slice(SEALED_MAGIC);
        v.extend_from_slice(&self.key_version.to_be_bytes());
        v.extend_from_slice(&self.nonce);
        v.extend_from_slice(&self.ciphertext);
        v
    }

    /// Parses [`Sealed::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() < 8 + NONCE_LEN + 16 || &bytes[..4] != SEALED_MAGIC {
            return Err(VaultError::Malformed {
                reason: "not a Plugboard sealed secret (bad magic or too short)".into(),
            });
        }
        Ok(Self {
            key_version: u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
            nonce: bytes[8..8 + NONCE_LEN].to_vec(),
            ciphertext: bytes[8 + NONCE_LEN..].to_vec(),
        })
    }
}

/// A tenant data key as stored: wrapped by root key `root_version`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// Tenant owning the key.
    pub tenant: Uuid,
    /// Version of the tenant's data key (1, 2, ... one per re-encrypt pass).
    pub version: u32,
    /// Root key version that wraps it.
    pub root_version: u32,
    /// 24-byte nonce.
    pub nonce: Vec<u8>,
    /// The wrapped key (32 bytes + 16-byte tag).
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("tenant", &self.tenant)
            .field("version", &self.version)
            .field("root_version", &self.root_version)
            .finish()
    }
}

/// An unwrapped data key. Lives only in memory, wiped on drop.
pub(crate) struct DataKey {
    pub(crate) tenant: Uuid,
    pub(crate) version: u32,
    key: Zeroizing<[u8; 32]>,
}

fn wrap_aad(tenant: Uuid, version: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(48);
    v.extend_from_slice(b"plugboard/data-key/v1\0");
    v.extend_from_slice(tenant.as_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v
}

impl DataKey {
    /// A fresh random data key.
    pub(crate) fn generate(tenant: Uuid, version: u32) -> Self {
        let k = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&k);
        Self {
            tenant,
            version,
            key,
        }
    }

    /// Wraps this key with root key `root_version`.
    pub(crate) fn wrap(&self, root_version: u32, root: &RootKey) -> WrappedDataKey {
        let cipher = XChaCha20Poly1305::new((&*root.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let wrapped = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &*self.key,
                    aad: &wrap_aad(self.tenant, self.version),
                },
            )
            .expect("encrypting 32 bytes cannot fail");
        WrappedDataKey {
            tenant: self.tenant,
            version: self.version,
            root_version,
            nonce: nonce.to_vec(),
            wrapped,
        }
    }

    /// Unwraps `w` with `root` (which must be version `w.root_version`).
    pub(crate) fn unwrap(w: &WrappedDataKey, root: &RootKey) -> Result<Self, VaultError> {
        let err = || VaultError::UnwrapDataKey {
            tenant: w.tenant,
            version: w.version,
            root_version: w.root_version,
        };
        if w.nonce.len() != NONCE_LEN {
            return Err(err());
        }
        let cipher = XChaCha20Poly1305::new((&*root.0).into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&w.nonce),
                    Payload {
                        msg: &w.wrapped,
                        aad: &wrap_aad(w.tenant, w.version),
                    },
                )
                .map_err(|_| err())?,
        );
        if plain.len() != 32 {
            return Err(err());
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(Self {
            tenant: w.tenant,
            version: w.version,
            key,
        })
    }

    /// Seals `plaintext` bound to `aad`.
    pub(crate) fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        debug_assert_eq!(aad.tenant, self.tenant);
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad.encode(self.version),
                },
            )
            .map_err(|_| VaultError::Encrypt {
                field: aad.field.to_owned(),
            })?;
        Ok(Sealed {
            key_version: self.version,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens `sealed`, which must have been sealed with this key and `aad`.
    pub(crate) fn open(&self, aad: &Aad<'_>, sealed: &Sealed) -> Result<SecretBytes, VaultError> {
        let err = || VaultError::Decrypt {
            tenant: aad.tenant,
            owner: aad.owner,
            field: aad.field.to_owned(),
        };
        if sealed.nonce.len() != NONCE_LEN || aad.tenant != self.tenant {
            return Err(err());
        }
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad.encode(sealed.key_version),
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| err())
    }
}
