//! The HTTP clients of client-certificate (mTLS) connections, kept across
//! calls so that a connection's requests share one client: one TLS
//! handshake, then pooled keep-alive connections, instead of a new client
//! and handshake per request.
//!
//! Owns: the bound (at most `capacity` clients; the least recently used
//! goes first) and the key, a [`Fingerprint`] of the certificate and key.
//! Must never: keep or log the PEM text (only its SHA-256 is kept), or
//! hand one certificate's client to a request made with another: a new
//! certificate has a new fingerprint and so gets its own client.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

/// SHA-256 of a client certificate and its key, the only thing the cache
/// keeps of them. Not `Debug`: it has no business in logs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert_pem` with `key_pem`. The certificate's
    /// length goes first so that no other split of the same bytes into a
    /// certificate and a key has the same input.
    pub(crate) fn of(cert_pem: &str, key_pem: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"plugboard mtls client\0");
        hash.update((cert_pem.len() as u64).to_le_bytes());
        hash.update(cert_pem.as_bytes());
        hash.update(key_pem.as_bytes());
        Fingerprint(hash.finalize().into())
    }
}

/// At most `capacity` clients by fingerprint, least recently used first.
/// A linear scan: the bound is small and a scan of it costs less than the
/// request it serves.
pub(crate) struct ClientCache<C> {
    capacity: usize,
    entries: Mutex<VecDeque<(Fingerprint, C)>>,
}

impl<C: Clone> ClientCache<C> {
    /// An empty cache holding at most `capacity` (at least one) clients.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ClientCache {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// The client for `key`, built by `build` if there is none. `build`
    /// runs without the lock held; if two requests race to build the same
    /// client, the first one stored wins and the other is dropped. A
    /// failed build stores nothing.
    pub(crate) fn get_or_try_insert<E>(
        &self,
        key: Fingerprint,
        build: impl FnOnce() -> Result<C, E>,
    ) -> Result<C, E> {
        if let Some(client) = self.get(key) {
            return Ok(client);
        }
        let built = build()?;
        let mut entries = self.lock();
        if let Some(client) = take(&mut entries, key) {
            entries.push_back((key, client.clone()));
            return Ok(client);
        }
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back((key, built.clone()));
        Ok(built)
    }

    /// The client for `key`, now the most recently used, if cached.
    fn get(&self, key: Fingerprint) -> Option<C> {
        let mut entries = self.lock();
        let client = take(&mut entries, key)?;
        entries.push_back((key, client.clone()));
        Some(client)
    }

    /// How many clients are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(Fingerprint, C)>> {
        // The entries stay consistent whatever panicked while holding them.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Remove and return `key`'s client.
fn take<C>(entries: &mut VecDeque<(Fingerprint, C)>, key: Fingerprint) -> Option<C> {
    let at = entries.iter().position(|(k, _)| *k == key)?;
    entries.remove(at).map(|(_, client)| client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Fingerprint {
        Fingerprint::of(&format!("cert {n}"), "key")
    }

    fn insert(cache: &ClientCache<u32>, k: Fingerprint, value: u32) -> u32 {
        cache.get_or_try_insert(k, || Ok::<_, ()>(value)).unwrap()
    }

    #[test]
    fn the_same_certificate_gets_the_same_client() {
        let cache = ClientCache::new(4);
        assert_eq!(insert(&cache, key(1), 10), 10);
        // A second build would give 11: the cached client is returned instead.
        assert_eq!(insert(&cache, key(1), 11), 10);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_changed_certificate_or_key_gets_a_new_client() {
        let cache = ClientCache::new(4);
        insert(&cache, Fingerprint::of("cert", "key"), 1);
        assert_eq!(insert(&cache, Fingerprint::of("cert2", "key"), 2), 2);
        assert_eq!(insert(&cache, Fingerprint::of("cert", "key2"), 3), 3);
        // The same bytes split differently between certificate and key.
        assert_eq!(insert(&cache, Fingerprint::of("cer", "tkey"), 4), 4);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn the_least_recently_used_client_is_evicted_at_the_bound() {
        let cache = ClientCache::new(2);
        insert(&cache, key(1), 1);
        insert(&cache, key(2), 2);
        // Using 1 makes 2 the oldest, so 3 evicts 2.
        assert_eq!(insert(&cache, key(1), 99), 1);
        insert(&cache, key(3), 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(insert(&cache, key(1), 99), 1);
        assert_eq!(insert(&cache, key(2), 20), 20, "2 was evicted and rebuilt");
    }

    #[test]
    fn a_failed_build_stores_nothing() {
        let cache: ClientCache<u32> = ClientCache::new(2);
        assert_eq!(
            cache.get_or_try_insert(key(1), || Err("bad pem")),
            Err("bad pem")
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(insert(&cache, key(1), 5), 5);
    }
}
