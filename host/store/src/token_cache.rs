//! A short-lived, in-process memory of who API tokens belong to.
//!
//! Every API request starts with "whose token is this?"; a busy client
//! sends the same token thousands of times a second, and answering each
//! from the database is a round trip that costs more than the rest of a
//! small request. [`Store::token_owner`](crate::Store::token_owner) keeps
//! found owners here for a short time (default
//! [`DEFAULT_TOKEN_CACHE_TTL`]).
//!
//! What changes an answer, and how this cache keeps up:
//! - a user deleted through this store (`Store::delete_user`) is forgotten
//!   at once, and so is a token revoked through it
//!   (`Store::delete_api_token`, `Store::delete_tenant_api_token`);
//! - anything else, or a change made by another process (another replica
//!   on PostgreSQL, a CLI writing the database directly), is seen when the
//!   entry expires: at most the TTL later. A TTL of zero turns the cache
//!   off.
//!
//! Unknown tokens are never remembered, so a new token works at once and a
//! flood of wrong tokens cannot fill the map. Keys are the tokens' SHA-256,
//! never the tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::UserId;
use crate::server_support::TokenOwner;

/// How long a token's owner is remembered unless told otherwise.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// At most this many tokens are remembered; past it, expired entries are
/// dropped, and if that is not enough, all of them.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct TokenOwnerCache {
    inner: Mutex<Entries>,
}

struct Entries {
    ttl: Duration,
    by_hash: HashMap<String, (TokenOwner, Instant)>,
    /// When something was last forgotten: a lookup that started before it
    /// may have read the row just deleted, so its answer is not kept.
    forgot_at: Option<Instant>,
}

impl TokenOwnerCache {
    pub(crate) fn new() -> Self {
        TokenOwnerCache {
            inner: Mutex::new(Entries {
                ttl: DEFAULT_TOKEN_CACHE_TTL,
                by_hash: HashMap::new(),
                forgot_at: None,
            }),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map holds no invariant a panic elsewhere could break.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        let mut e = self.entries();
        e.ttl = ttl;
        e.by_hash.clear();
    }

    /// The owner of `token_sha256` if it was looked up less than the TTL ago.
    pub(crate) fn get(&self, token_sha256: &str) -> Option<TokenOwner> {
        let e = self.entries();
        match e.by_hash.get(token_sha256) {
            Some((owner, at)) if at.elapsed() < e.ttl => Some(owner.clone()),
            _ => None,
        }
    }

    /// Remember `owner`, looked up (in the database) at `looked_up`. The
    /// time is taken before the query, so a change that lands while the
    /// query runs is not remembered for longer than the TTL.
    pub(crate) fn put(&self, token_sha256: &str, owner: TokenOwner, looked_up: Instant) {
        let mut e = self.entries();
        if e.ttl.is_zero() || e.forgot_at.is_some_and(|f| f >= looked_up) {
            return;
        }
        if e.by_hash.len() >= MAX_ENTRIES {
            let ttl = e.ttl;
            e.by_hash.retain(|_, (_, at)| at.elapsed() < ttl);
            if e.by_hash.len() >= MAX_ENTRIES {
                e.by_hash.clear();
            }
        }
        e.by_hash
            .insert(token_sha256.to_owned(), (owner, looked_up));
    }

    /// Forget one token (revoked).
    pub(crate) fn forget_token(&self, token_sha256: &str) {
        let mut e = self.entries();
        e.by_hash.remove(token_sha256);
        e.forgot_at = Some(Instant::now());
    }

    /// Forget every token of `user` (deleted).
    pub(crate) fn forget_user(&self, user: UserId) {
        let mut e = self.entries();
        e.by_hash.retain(|_, (owner, _)| owner.user != user);
        e.forgot_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrganizationId, Scope, TenantId};
    use uuid::Uuid;

    fn owner(user: Uuid) -> TokenOwner {
        TokenOwner {
            scope: Scope::new(OrganizationId(Uuid::nil()), TenantId(Uuid::nil())),
            user: UserId(user),
            user_name: "u".into(),
            is_admin: false,
        }
    }

    #[test]
    fn remembers_until_the_ttl_and_forgets_deleted_users_and_revoked_tokens() {
        let cache = TokenOwnerCache::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        cache.put("ha", owner(a), Instant::now());
        cache.put("hb", owner(b), Instant::now());
        assert_eq!(cache.get("ha"), Some(owner(a)));
        assert_eq!(cache.get("unknown"), None);

        cache.forget_user(UserId(a));
        assert_eq!(cache.get("ha"), None, "a deleted user's token is forgotten");
        assert_eq!(cache.get("hb"), Some(owner(b)), "other users are kept");

        cache.put("hd", owner(b), Instant::now());
        cache.forget_token("hd");
        assert_eq!(cache.get("hd"), None, "a revoked token is forgotten");
        assert_eq!(
            cache.get("hb"),
            Some(owner(b)),
            "the user's other tokens are kept"
        );

        // A lookup that started before the revocation may have read the
        // deleted row: its answer is not remembered.
        let before = Instant::now();
        cache.forget_token("he");
        cache.put("he", owner(b), before);
        assert_eq!(
            cache.get("he"),
            None,
            "a lookup older than a revocation is not kept"
        );

        // An entry looked up longer ago than the TTL is not served.
        let old = Instant::now() - DEFAULT_TOKEN_CACHE_TTL - Duration::from_millis(1);
        cache.put("hc", owner(a), old);
        assert_eq!(cache.get("hc"), None);
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let cache = TokenOwnerCache::new();
        cache.set_ttl(Duration::ZERO);
        cache.put("ha", owner(Uuid::new_v4()), Instant::now());
        assert_eq!(cache.get("ha"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = TokenOwnerCache::new();
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("h{i}"), owner(Uuid::new_v4()), Instant::now());
        }
        assert!(cache.entries().by_hash.len() <= MAX_ENTRIES);
        assert!(cache.get(&format!("h{}", MAX_ENTRIES + 9)).is_some());
    }
}
