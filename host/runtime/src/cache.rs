//! The on-disk cache of compiled components: `Engine::precompile_component`
//! output stored under a name made of the component's SHA-256 and the
//! engine's compatibility hash, so a restart (or a second `Runtime`) skips
//! Cranelift.
//!
//! Owns: the cache directory's files, their header, atomic writes, and the
//! only `unsafe` in the crate (deserializing). Must never: deserialize a file
//! it did not write: every file carries a magic header and the SHA-256 of
//! its payload, checked before wasmtime sees a byte, and file names bind it
//! to the exact input bytes and engine configuration.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every cache file; bump the digit when the layout changes.
const MAGIC: &[u8; 16] = b"PLUGBOARD-CWASM1";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// A directory of precompiled components for one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    /// Use (and create) `dir`. The directory should belong to the host
    /// process alone: whoever can write there can run native code in it.
    pub(crate) fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ComponentCache {
            dir: dir.to_path_buf(),
            engine_key: engine_key(engine),
        })
    }

    /// Where the compiled form of `wasm` lives.
    pub(crate) fn path_for(&self, wasm_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached component, if a valid file is there. A file that fails
    /// the header or hash check is removed and reported as a miss.
    pub(crate) fn load(&self, engine: &Engine, wasm_sha256: &str) -> Option<Component> {
        let path = self.path_for(wasm_sha256);
        let bytes = std::fs::read(&path).ok()?;
        let Some(payload) = verified_payload(&bytes) else {
            tracing::warn!(path = %path.display(), "discarding a corrupt component cache file");
            let _ = std::fs::remove_file(&path);
            return None;
        };
        match deserialize(engine, payload) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "discarding an unusable component cache file");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Compile `wasm`, write the result atomically, and return the component.
    /// A failed write is logged, not fatal: the cache is an optimisation.
    pub(crate) fn compile_and_store(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> wasmtime::Result<Component> {
        let artifact = engine.precompile_component(wasm)?;
        let path = self.path_for(wasm_sha256);
        if let Err(error) = self.write_atomically(&path, &artifact) {
            tracing::warn!(path = %path.display(), %error, "could not write the component cache");
        }
        deserialize(engine, &artifact)
    }

    fn write_atomically(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(artifact))?;
        file.write_all(artifact)?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The payload of a cache file whose magic and SHA-256 check out.
fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    (Sha256::digest(payload).as_slice() == &header[MAGIC.len()..]).then_some(payload)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be wasmtime's own
    // compiler output. `artifact` is either what `precompile_component` just
    // returned in this process, or a file from the cache directory that this
    // module wrote (atomically, into a directory the host owns) and whose
    // magic header and SHA-256 were verified by `verified_payload`. The file
    // name also binds it to the engine's compatibility hash, and wasmtime
    // itself re-checks the engine configuration and version in the artifact.
    unsafe { Component::deserialize(engine, artifact) }
}

/// A stable key for "artifacts this engine can load": the engine's
/// precompile compatibility hash (wasmtime version, target, settings),
/// fed into SHA-256 rather than a process-random hasher.
fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// Hex SHA-256 of a component's bytes: its identity in the cache and logs.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_with_a_bad_header_or_hash_are_rejected() {
        let payload = b"compiled code";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&Sha256::digest(payload));
        file.extend_from_slice(payload);
        assert_eq!(verified_payload(&file), Some(&payload[..]));

        let mut tampered = file.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(verified_payload(&tampered), None);

        let mut wrong_magic = file.clone();
        wrong_magic[0] = b'X';
        assert_eq!(verified_payload(&wrong_magic), None);
        assert_eq!(verified_payload(b"short"), None);
    }
}
