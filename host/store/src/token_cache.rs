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
//! never the tokens. The rules are those of every [`crate::ttl_cache`].

use std::time::Duration;

use crate::UserId;
use crate::server_support::TokenOwner;
use crate::ttl_cache::TtlCache;

/// How long a token's owner is remembered unless told otherwise.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// At most this many tokens are remembered.
const MAX_ENTRIES: usize = 10_000;

/// Token owners by token SHA-256 (hex).
pub(crate) struct TokenOwnerCache(TtlCache<String, TokenOwner>);

impl TokenOwnerCache {
    pub(crate) fn new() -> Self {
        TokenOwnerCache(TtlCache::new(DEFAULT_TOKEN_CACHE_TTL, MAX_ENTRIES))
    }

    pub(crate) fn cache(&self) -> &TtlCache<String, TokenOwner> {
        &self.0
    }

    /// Forget one token (revoked).
    pub(crate) fn forget_token(&self, token_sha256: &str) {
        self.0.forget(|hash, _| hash == token_sha256);
    }

    /// Forget every token of `user` (deleted).
    pub(crate) fn forget_user(&self, user: UserId) {
        self.0.forget(|_, owner| owner.user == user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrganizationId, Scope, TenantId};
    use std::time::Instant;
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
    fn forgets_deleted_users_and_revoked_tokens_only() {
        let owners = TokenOwnerCache::new();
        let cache = owners.cache();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for (hash, user) in [("ha", a), ("hb", b), ("hd", b)] {
            cache.put(hash.to_owned(), owner(user), Instant::now());
        }
        owners.forget_user(UserId(a));
        assert_eq!(cache.get("ha"), None, "a deleted user's token is forgotten");
        assert_eq!(cache.get("hb"), Some(owner(b)), "other users are kept");

        owners.forget_token("hd");
        assert_eq!(cache.get("hd"), None, "a revoked token is forgotten");
        assert_eq!(
            cache.get("hb"),
            Some(owner(b)),
            "the user's other tokens are kept"
        );
    }
}
