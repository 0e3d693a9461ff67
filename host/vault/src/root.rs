//! Root keys: the versioned key ring that wraps every tenant's data keys,
//! where it comes from (a generated 0600 file in the data directory, a file
//! the operator names, or the `PLUGBOARD_ROOT_KEY` environment variable), and
//! the key check values that prove a key ring matches the data it guards.
//!
//! This module must never encrypt user secrets directly (only data keys are
//! wrapped by root keys), never print key bytes, and never write a key file
//! over an existing one: adding a version rewrites the file atomically with
//! every old version kept.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{KeyInit, OsRng};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::VaultError;

/// Environment variable holding the root key ring (`VERSION:BASE64`, several
/// separated by commas or newlines; a bare base64 key is version 1).
pub const ROOT_KEY_ENV: &str = "PLUGBOARD_ROOT_KEY";
/// Environment variable naming a root key file (same format).
pub const ROOT_KEY_FILE_ENV: &str = "PLUGBOARD_ROOT_KEY_FILE";
/// File name of the generated root key inside the data directory.
pub const ROOT_KEY_FILE_NAME: &str = "root.key";

/// Where the root key ring comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum RootKeySource {
    /// `<data dir>/root.key`, generated on first start (0600) when the
    /// database holds no sealed data yet; rotation appends versions to it.
    DataDir(PathBuf),
    /// A file the operator manages; it must exist. Rotation appends to it.
    File(PathBuf),
    /// Key ring text given directly (from `PLUGBOARD_ROOT_KEY`). Read-only:
    /// to rotate, the operator adds a version (`2:<base64>` beside `1:…`) to
    /// the variable on every replica, restarts them, then runs
    /// `plugboard keys rotate`; the old version can be dropped once the
    /// rotation has re-wrapped every data key.
    Inline(Zeroizing<String>),
}

impl fmt::Debug for RootKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataDir(p) => f.debug_tuple("DataDir").field(p).finish(),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Inline(_) => f.write_str("Inline([redacted])"),
        }
    }
}

impl RootKeySource {
    /// The operator's choice from the environment: `PLUGBOARD_ROOT_KEY`,
    /// else `PLUGBOARD_ROOT_KEY_FILE`, else `<data_dir>/root.key`.
    pub fn from_env(data_dir: &Path) -> Self {
        if let Ok(v) = std::env::var(ROOT_KEY_ENV)
            && !v.trim().is_empty()
        {
            return Self::Inline(Zeroizing::new(v));
        }
        if let Ok(p) = std::env::var(ROOT_KEY_FILE_ENV)
            && !p.trim().is_empty()
        {
            return Self::File(PathBuf::from(p));
        }
        Self::DataDir(data_dir.join(ROOT_KEY_FILE_NAME))
    }

    /// Human description, for error messages (never the key).
    pub fn describe(&self) -> String {
        match self {
            Self::DataDir(p) => format!("root key file `{}` (data directory)", p.display()),
            Self::File(p) => format!("root key file `{}` ({ROOT_KEY_FILE_ENV})", p.display()),
            Self::Inline(_) => format!("environment variable {ROOT_KEY_ENV}"),
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Self::DataDir(p) | Self::File(p) => Some(p),
            Self::Inline(_) => None,
        }
    }
}

/// One 256-bit root key.
#[derive(Clone)]
pub(crate) struct RootKey(pub(crate) Zeroizing<[u8; 32]>);

impl RootKey {
    fn generate() -> Self {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        Self(bytes)
    }
}

/// The key check value of one root key version, stored beside the data so a
/// wrong key is detected before anything is sealed with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootKeyCheck {
    /// Root key version.
    pub version: u32,
    /// SHA-256 over a domain label, the version and the key (reveals nothing
    /// usable about a 256-bit random key).
    pub check_value: Vec<u8>,
}

/// The versioned root key ring. Newest version wraps new data keys; older
/// versions stay to unwrap data keys not yet re-wrapped.
#[derive(Clone, Default)]
pub struct RootKeyring {
    keys: BTreeMap<u32, RootKey>,
}

impl fmt::Debug for RootKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKeyring")
            .field("versions", &self.versions())
            .finish()
    }
}

impl RootKeyring {
    /// A ring with one freshly generated version 1 key (tests, first start).
    pub fn generate() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, RootKey::generate());
        Self { keys }
    }

    /// Versions present, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Newest version.
    pub fn newest_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    pub(crate) fn key(&self, version: u32) -> Option<&RootKey> {
        self.keys.get(&version)
    }

    pub(crate) fn newest(&self) -> (u32, &RootKey) {
        let (v, k) = self
            .keys
            .iter()
            .next_back()
            .expect("key ring is never empty");
        (*v, k)
    }

    /// Adds a freshly generated key as `version`.
    pub(crate) fn add_generated_version(&mut self, version: u32) {
        self.keys.insert(version, RootKey::generate());
    }

    /// Key check value of one version.
    pub fn check(&self, version: u32) -> Option<RootKeyCheck> {
        self.keys.get(&version).map(|k| RootKeyCheck {
            version,
            check_value: check_value(version, k),
        })
    }

    /// Parses the text format: `VERSION:BASE64` entries separated by commas,
    /// whitespace or newlines; `#` starts a comment line; a single bare
    /// base64 key is version 1.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, VaultError> {
        let bad = |reason: String| VaultError::RootKeyFormat {
            source_name: source_name.to_owned(),
            reason,
        };
        let mut keys = BTreeMap::new();
        let entries: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split([',', ' ', '\t']))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        for entry in &entries {
            let (version, b64) = match entry.split_once(':') {
                Some((v, k)) => {
                    let v: u32 = v
                        .parse()
                        .map_err(|_| bad(format!("version `{v}` is not a positive number")))?;
                    (v, k)
                }
                None if entries.len() == 1 => (1, *entry),
                None => {
                    return Err(bad(
                        "with several keys, each needs a `VERSION:` prefix".into()
                    ));
                }
            };
            if version == 0 {
                return Err(bad("versions start at 1".into()));
            }
            let raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| {
                        bad(format!("the key of version {version} is not valid base64"))
                    })?,
            );
            if raw.len() != 32 {
                return Err(bad(format!(
                    "the key of version {version} is {} bytes, expected 32",
                    raw.len()
                )));
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(&raw);
            if keys.insert(version, RootKey(bytes)).is_some() {
                return Err(bad(format!("version {version} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(bad("no key found".into()));
        }
        Ok(Self { keys })
    }

    /// The text format written to key files.
    pub(crate) fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::from(
            "# Plugboard root key ring. Keep this file secret and backed up:\n\
             # without it every stored token is lost. One `VERSION:BASE64` per line.\n",
        ));
        for (v, k) in &self.keys {
            s.push_str(&format!(
                "{v}:{}\n",
                base64::engine::general_purpose::STANDARD.encode(*k.0)
            ));
        }
        s
    }

    /// Reads the key ring from `source`. `Ok(None)` only for a
    /// [`RootKeySource::DataDir`] whose file does not exist yet.
    pub fn load(source: &RootKeySource) -> Result<Option<Self>, VaultError> {
        match source {
            RootKeySource::Inline(text) => Self::parse(text, &source.describe()).map(Some),
            RootKeySource::DataDir(path) | RootKeySource::File(path) => {
                let text = match std::fs::read_to_string(path) {
                    Ok(t) => Zeroizing::new(t),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && matches!(source, RootKeySource::DataDir(_)) =>
                    {
                        return Ok(None);
                    }
                    Err(source) => {
                        return Err(VaultError::RootKeyFile {
                            path: path.clone(),
                            step: "read",
                            source,
                        });
                    }
                };
                check_permissions(path)?;
                Self::parse(&text, &source.describe()).map(Some)
            }
        }
    }

    /// Writes the ring to the source's file, atomically (temp file with mode
    /// 0600, fsync, rename). `create_new` refuses to replace an existing file.
    pub(crate) fn save(&self, source: &RootKeySource, create_new: bool) -> Result<(), VaultError> {
        let Some(path) = source.path() else {
            return Err(VaultError::RootKeyReadOnly {
                source_name: source.describe(),
                next: self.newest_version() + 1,
            });
        };
        let io = |step: &'static str| {
            move |source: std::io::Error| VaultError::RootKeyFile {
                path: path.to_owned(),
                step,
                source,
            }
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(io("create directory"))?;
        }
        let text = self.to_text();
        let tmp = path.with_extension("key.tmp");
        let _ = std::fs::remove_file(&tmp);
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io("create"))?;
            f.write_all(text.as_bytes()).map_err(io("write"))?;
            f.sync_all().map_err(io("sync"))?;
        }
        if create_new && path.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("create")(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "refusing to replace an existing root key file",
            )));
        }
        std::fs::rename(&tmp, path).map_err(io("rename"))?;
        Ok(())
    }
}

fn check_value(version: u32, key: &RootKey) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"plugboard/root-key-check/v1\0");
    h.update(version.to_be_bytes());
    h.update(*key.0);
    h.finalize().to_vec()
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| VaultError::RootKeyFile {
        path: path.to_owned(),
        step: "stat",
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::RootKeyFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_round_trips() {
        let mut ring = RootKeyring::generate();
        ring.add_generated_version(2);
        let parsed = RootKeyring::parse(&ring.to_text(), "test").unwrap();
        assert_eq!(parsed.versions(), vec![1, 2]);
        assert_eq!(parsed.check(2), ring.check(2));
    }

    #[test]
    fn bare_key_is_version_one() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let ring = RootKeyring::parse(&b64, "test").unwrap();
        assert_eq!(ring.versions(), vec![1]);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        let e = RootKeyring::parse("1:notbase64!!", "env").unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let e = RootKeyring::parse(&format!("1:{short}"), "env").unwrap_err();
        assert!(e.to_string().contains("16 bytes, expected 32"), "{e}");
        // the message never contains the key itself
        assert!(!e.to_string().contains(&short));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let ring = RootKeyring::generate();
        assert_eq!(format!("{ring:?}"), "RootKeyring { versions: [1] }");
        let src = RootKeySource::Inline(Zeroizing::new("1:abc".into()));
        assert_eq!(format!("{src:?}"), "Inline([redacted])");
    }
}
