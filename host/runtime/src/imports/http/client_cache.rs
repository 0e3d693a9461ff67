//! The HTTP clients of client-certificate (mTLS) connections, kept across
//! calls so that a connection's requests share one client: one TLS
//! handshake, then pooled keep-alive connections, instead of a new client
//! and handshake per request.
//!
//! Owns: the bounds (at most `capacity` clients, the least recently used
//! going first; a client unused for `idle` is dropped when any client is
//! next asked for, so the private key of a deleted or reconnected
//! connection does not stay in memory for long while mTLS calls go on) and
//! the key, a [`Fingerprint`] of the certificate and key.
//! Must never: keep or log the PEM text (only its SHA-256 is kept), or
//! hand one certificate's client to a request made with another: a new
//! certificate has a new fingerprint and so gets its own client.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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

/// At most `capacity` clients by fingerprint, least recently used first,
/// each with when it was last used. A linear scan: the bound is small and
/// a scan of it costs less than the request it serves.
pub(crate) struct ClientCache<C> {
    capacity: usize,
    idle: Duration,
    entries: Mutex<VecDeque<Entry<C>>>,
}

struct Entry<C> {
    key: Fingerprint,
    client: C,
    used: Instant,
}

impl<C: Clone> ClientCache<C> {
    /// An empty cache holding at most `capacity` (at least one) clients,
    /// each for at most `idle` after its last use.
    pub(crate) fn new(capacity: usize, idle: Duration) -> Self {
        let capacity = capacity.max(1);
        ClientCache {
            capacity,
            idle,
            entries: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// The client for `key`, built by `build` if there is none. `build`
    /// runs without the lock held; if two requests race to build the same
    /// client, the first one stored wins and the other is dropped. A
    /// failed build stores nothing. Clients idle for too long are dropped
    /// first (they are only looked at when a client is asked for).
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
            touch(&mut entries, key, &client);
            return Ok(client);
        }
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        touch(&mut entries, key, &built);
        Ok(built)
    }

    /// The client for `key`, now the most recently used, if cached (and
    /// not idle for too long).
    fn get(&self, key: Fingerprint) -> Option<C> {
        let mut entries = self.lock();
        // Least recently used first: the idle ones are at the front.
        let now = Instant::now();
        while entries
            .front()
            .is_some_and(|e| now.duration_since(e.used) >= self.idle)
        {
            entries.pop_front();
        }
        let client = take(&mut entries, key)?;
        touch(&mut entries, key, &client);
        Some(client)
    }

    /// How many clients are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Entry<C>>> {
        // The entries stay consistent whatever panicked while holding them.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Store `key`'s client as the most recently used, used now.
fn touch<C: Clone>(entries: &mut VecDeque<Entry<C>>, key: Fingerprint, client: &C) {
    entries.push_back(Entry {
        key,
        client: client.clone(),
        used: Instant::now(),
    });
}

/// Remove and return `key`'s client.
fn take<C>(entries: &mut VecDeque<Entry<C>>, key: Fingerprint) -> Option<C> {
    let at = entries.iter().position(|e| e.key == key)?;
    entries.remove(at).map(|e| e.client)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn key(n: u8) -> Fingerprint {
        Fingerprint::of(&format!("cert {n}"), "key")
    }

    fn insert(cache: &ClientCache<u32>, k: Fingerprint, value: u32) -> u32 {
        cache.get_or_try_insert(k, || Ok::<_, ()>(value)).unwrap()
    }

    #[test]
    fn the_same_certificate_gets_the_same_client() {
        let cache = ClientCache::new(4, HOUR);
        assert_eq!(insert(&cache, key(1), 10), 10);
        // A second build would give 11: the cached client is returned instead.
        assert_eq!(insert(&cache, key(1), 11), 10);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_changed_certificate_or_key_gets_a_new_client() {
        let cache = ClientCache::new(4, HOUR);
        insert(&cache, Fingerprint::of("cert", "key"), 1);
        assert_eq!(insert(&cache, Fingerprint::of("cert2", "key"), 2), 2);
        assert_eq!(insert(&cache, Fingerprint::of("cert", "key2"), 3), 3);
        // The same bytes split differently between certificate and key.
        assert_eq!(insert(&cache, Fingerprint::of("cer", "tkey"), 4), 4);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn the_least_recently_used_client_is_evicted_at_the_bound() {
        let cache = ClientCache::new(2, HOUR);
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
        let cache: ClientCache<u32> = ClientCache::new(2, HOUR);
        assert_eq!(
            cache.get_or_try_insert(key(1), || Err("bad pem")),
            Err("bad pem")
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(insert(&cache, key(1), 5), 5);
    }

    #[test]
    fn a_client_unused_for_the_idle_time_is_dropped() {
        // Nothing may stay unused for zero time: each request for another
        // client drops the ones before it.
        let cache = ClientCache::new(4, Duration::ZERO);
        insert(&cache, key(1), 1);
        insert(&cache, key(2), 2);
        assert_eq!(cache.len(), 1);
        assert_eq!(insert(&cache, key(1), 10), 10, "1 was dropped and rebuilt");
        assert_eq!(cache.len(), 1);
    }
}
