//! A small in-process memory of database answers on the hot path, kept for
//! a short time (the TTL) and forgotten at once when this store changes
//! what they depend on.
//!
//! The two users are [`crate::token_cache`] (whose API token is this?) and
//! the cached read of [`Store::connection_for_call`](crate::Store::connection_for_call)
//! (the connection a call goes through). Both follow the same rules:
//! - an answer is served for at most the TTL after the query that found it
//!   *started*, so a change made elsewhere (another replica on PostgreSQL,
//!   a tool writing the database directly) is seen within the TTL;
//! - a change made through this store forgets the affected entries when it
//!   has been written, and a query that started before that cannot put its
//!   (possibly older) answer back;
//! - a TTL of zero turns the cache off; it never holds more than
//!   `max_entries`.
//!
//! Only found answers are kept ("not found" is always asked again), so a
//! new row is seen at once and a flood of unknown keys cannot fill it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) struct TtlCache<K, V> {
    inner: Mutex<Entries<K, V>>,
    max_entries: usize,
}

struct Entries<K, V> {
    ttl: Duration,
    by_key: HashMap<K, (V, Instant)>,
    /// When something was last forgotten: a lookup that started before it
    /// may have read the row just changed, so its answer is not kept.
    forgot_at: Option<Instant>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache {
            inner: Mutex::new(Entries {
                ttl,
                by_key: HashMap::new(),
                forgot_at: None,
            }),
            max_entries,
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries<K, V>> {
        // The map holds no invariant a panic elsewhere could break.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        let mut e = self.entries();
        e.ttl = ttl;
        e.by_key.clear();
    }

    /// The value of `key` if its query started less than the TTL ago.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let e = self.entries();
        match e.by_key.get(key) {
            Some((value, at)) if at.elapsed() < e.ttl => Some(value.clone()),
            _ => None,
        }
    }

    /// Remember `value`, found by a query that started at `looked_up` (taken
    /// before the query, so a change that lands while it runs is not kept
    /// for longer than the TTL).
    pub(crate) fn put(&self, key: K, value: V, looked_up: Instant) {
        let mut e = self.entries();
        if e.ttl.is_zero() || e.forgot_at.is_some_and(|f| f >= looked_up) {
            return;
        }
        if e.by_key.len() >= self.max_entries {
            let ttl = e.ttl;
            e.by_key.retain(|_, (_, at)| at.elapsed() < ttl);
            if e.by_key.len() >= self.max_entries {
                e.by_key.clear();
            }
        }
        e.by_key.insert(key, (value, looked_up));
    }

    /// Forget the entries `affected` picks; a query already running is not
    /// remembered either.
    pub(crate) fn forget(&self, mut affected: impl FnMut(&K, &V) -> bool) {
        let mut e = self.entries();
        e.by_key.retain(|k, (v, _)| !affected(k, v));
        e.forgot_at = Some(Instant::now());
    }

    /// Forget everything (a change whose reach is not worth working out).
    pub(crate) fn forget_all(&self) {
        self.forget(|_, _| true);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(2);

    #[test]
    fn remembers_until_the_ttl_and_forgets_what_changed() {
        let cache = TtlCache::new(TTL, 100);
        cache.put("a", 1, Instant::now());
        cache.put("b", 2, Instant::now());
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"unknown"), None);

        cache.forget(|k, _| *k == "a");
        assert_eq!(cache.get(&"a"), None, "a changed entry is forgotten");
        assert_eq!(cache.get(&"b"), Some(2), "the others are kept");

        cache.forget(|_, v| *v == 2);
        assert_eq!(cache.get(&"b"), None, "entries can be picked by value");

        cache.put("c", 3, Instant::now());
        cache.forget_all();
        assert_eq!(cache.get(&"c"), None);

        // An entry looked up longer ago than the TTL is not served.
        cache.put("d", 4, Instant::now() - TTL - Duration::from_millis(1));
        assert_eq!(cache.get(&"d"), None);
    }

    #[test]
    fn a_lookup_older_than_a_change_is_not_kept() {
        let cache = TtlCache::new(TTL, 100);
        let before = Instant::now();
        // The change lands (and is forgotten) while the lookup runs: the
        // lookup may have read the row as it was.
        cache.forget(|k, _| *k == "e");
        cache.put("e", 5, before);
        assert_eq!(cache.get(&"e"), None);
        // A lookup that starts afterwards is kept.
        cache.put("e", 6, Instant::now());
        assert_eq!(cache.get(&"e"), Some(6));
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let cache = TtlCache::new(TTL, 100);
        cache.set_ttl(Duration::ZERO);
        cache.put("a", 1, Instant::now());
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = TtlCache::new(TTL, 100);
        for i in 0..110 {
            cache.put(i, i, Instant::now());
        }
        assert!(cache.len() <= 100);
        assert_eq!(cache.get(&109), Some(109), "the newest entry is kept");
    }
}
