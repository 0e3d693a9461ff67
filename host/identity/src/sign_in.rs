//! The one password check: console sign-in (in the server) and the
//! identity API's change-password both go through here.
//!
//! An unknown organization, an unknown user, a user without a password and
//! a wrong password take the same code path (an argon2 verification,
//! against a dummy hash when there is no real one) and give the same
//! answer. Attempts of known users are recorded in the store; failures of
//! names that match no user are counted in memory by [`UnknownNameThrottle`],
//! so both are throttled alike and a 429 does not tell which users exist.
//! Verification runs on tokio's blocking pool. Every recorded failure
//! says why (`wrong_password`, `throttled`, `no_tenant`), and only a
//! sign-in that lets the user in is recorded as a success.

use std::collections::HashMap;
use std::sync::Mutex;

use plugboard_store::{OrganizationId, Store, User, UserId};
use time::OffsetDateTime;

use crate::ApiError;
use crate::auth::{DUMMY_HASH, verify_secret_off_runtime};

/// Failed attempts a user name may have in [`THROTTLE_WINDOW`] before every
/// further attempt is refused ([`ApiError::Throttled`], 429) without
/// checking the password.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;
/// The throttling window.
pub const THROTTLE_WINDOW: time::Duration = time::Duration::minutes(15);

/// Shortest password that may be set, in characters (not bytes): the
/// identity API's users and change-password, and the console's
/// set-password, all use [`password_long_enough`].
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Whether `password` has at least [`MIN_PASSWORD_CHARS`] characters.
pub fn password_long_enough(password: &str) -> bool {
    password.chars().count() >= MIN_PASSWORD_CHARS
}

/// One password attempt for a known user of `org`, recorded as a login
/// attempt (`client` says where it came from): `Ok(true)` if it matches.
/// After [`MAX_FAILED_ATTEMPTS`] failures in [`THROTTLE_WINDOW`] every
/// attempt is refused with [`ApiError::Throttled`] and recorded as failed.
/// A user without a password is verified against the dummy hash.
pub(crate) async fn password_attempt(
    store: &Store,
    org: OrganizationId,
    user: UserId,
    password: &str,
    client: &str,
) -> Result<bool, ApiError> {
    let ok = password_matches(store, org, user, password, client).await?;
    let refused = (!ok).then_some(WRONG_PASSWORD);
    store
        .record_login_attempt(org, user, refused, client)
        .await?;
    Ok(ok)
}

/// Why a failed attempt failed, as recorded.
const WRONG_PASSWORD: &str = "wrong_password";
const THROTTLED: &str = "throttled";
const NO_TENANT: &str = "no_tenant";

/// The throttle, then the password check; records nothing but a refusal
/// by the throttle.
async fn password_matches(
    store: &Store,
    org: OrganizationId,
    user: UserId,
    password: &str,
    client: &str,
) -> Result<bool, ApiError> {
    let since = OffsetDateTime::now_utc() - THROTTLE_WINDOW;
    if store.failed_login_attempts_since(org, user, since).await? >= MAX_FAILED_ATTEMPTS {
        store
            .record_login_attempt(org, user, Some(THROTTLED), client)
            .await?;
        return Err(ApiError::Throttled);
    }
    let stored = store.user_password_hash(org, user).await?;
    let has_password = stored.is_some();
    let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
    Ok(verify_secret_off_runtime(password.to_owned(), hash).await? && has_password)
}

/// Checks an organization name, user name and password for a sign-in: the
/// user if they match and work in a tenant, `None` if not (whichever of
/// the three is wrong). A known user's attempt is recorded and throttled
/// as in [`password_attempt`]; a name that matches no user is verified
/// against the dummy hash and throttled in `unknown`.
///
/// # Errors
/// [`ApiError::Throttled`] after too many failures of this name;
/// [`ApiError::NoTenant`] when the password is right but the user works in
/// no tenant (recorded as a failed attempt, reason `no_tenant`: said only
/// to someone who knows the password); the store's.
pub async fn sign_in(
    store: &Store,
    unknown: &UnknownNameThrottle,
    organization: &str,
    user_name: &str,
    password: &str,
    client: &str,
) -> Result<Option<User>, ApiError> {
    let user = match store.find_organization(organization).await? {
        Some(org) => store.find_user(org.id, user_name).await?,
        None => None,
    };
    let Some(user) = user else {
        let now = OffsetDateTime::now_utc();
        if unknown.is_throttled(organization, user_name, now) {
            // Counted like a known user's refused attempt, so the window
            // slides the same way for both.
            unknown.record(organization, user_name, now);
            return Err(ApiError::Throttled);
        }
        verify_secret_off_runtime(password.to_owned(), DUMMY_HASH.clone()).await?;
        unknown.record(organization, user_name, now);
        return Ok(None);
    };
    if !password_matches(store, user.org, user.id, password, client).await? {
        store
            .record_login_attempt(user.org, user.id, Some(WRONG_PASSWORD), client)
            .await?;
        return Ok(None);
    }
    if store.tenant_user(user.id).await?.is_none() {
        store
            .record_login_attempt(user.org, user.id, Some(NO_TENANT), client)
            .await?;
        return Err(ApiError::NoTenant(user.user_name));
    }
    store
        .record_login_attempt(user.org, user.id, None, client)
        .await?;
    Ok(Some(user))
}

/// Failed sign-ins of names that match no user, per process (the store
/// keeps attempts per user). Bounded: at most [`Self::MAX_NAMES`] names
/// are tracked, and names whose failures all left the window are dropped
/// first. Share one per server.
#[derive(Default)]
pub struct UnknownNameThrottle {
    failures: Mutex<HashMap<(String, String), Vec<OffsetDateTime>>>,
}

impl UnknownNameThrottle {
    const MAX_NAMES: usize = 10_000;

    fn is_throttled(&self, org: &str, user: &str, now: OffsetDateTime) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(org.to_string(), user.to_string()))
            .is_some_and(|times| {
                times
                    .iter()
                    .filter(|t| **t >= now - THROTTLE_WINDOW)
                    .count() as i64
                    >= MAX_FAILED_ATTEMPTS
            })
    }

    fn record(&self, org: &str, user: &str, now: OffsetDateTime) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX_NAMES {
            map.retain(|_, times| times.iter().any(|t| *t >= now - THROTTLE_WINDOW));
            if map.len() >= Self::MAX_NAMES {
                map.clear();
            }
        }
        let times = map.entry((org.to_string(), user.to_string())).or_default();
        times.retain(|t| *t >= now - THROTTLE_WINDOW);
        times.push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_secret;

    #[test]
    fn unknown_names_are_throttled_after_the_same_number_of_failures() {
        let t = UnknownNameThrottle::default();
        let now = OffsetDateTime::now_utc();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            assert!(!t.is_throttled("default", "ghost", now));
            t.record("default", "ghost", now);
        }
        assert!(t.is_throttled("default", "ghost", now));
        assert!(!t.is_throttled("default", "other", now));
        assert!(!t.is_throttled(
            "default",
            "ghost",
            now + THROTTLE_WINDOW + time::Duration::SECOND
        ));
    }

    #[tokio::test]
    async fn unknown_names_wrong_passwords_and_unknown_organizations_answer_alike_and_are_throttled()
     {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path(), None).await.unwrap();
        let org = store.create_organization("o").await.unwrap().id;
        let tenant = store.create_tenant(org, "t").await.unwrap();
        let u = store
            .create_user(org, "carol", "Carol", None)
            .await
            .unwrap();
        store
            .add_tenant_user(&tenant.scope(), u.id, false)
            .await
            .unwrap();
        let nopw = store.create_user(org, "dave", "Dave", None).await.unwrap();
        store
            .set_user_password_hash(org, u.id, &hash_secret("Secret#123"))
            .await
            .unwrap();
        let unknown = UnknownNameThrottle::default();
        let attempt = |org: &'static str, name: &'static str, pw: &'static str| {
            sign_in(&store, &unknown, org, name, pw, "console")
        };

        let nobody = attempt("o", "nobody", "guess").await.unwrap();
        let no_org = attempt("elsewhere", "carol", "Secret#123").await.unwrap();
        let wrong = attempt("o", "carol", "guess").await.unwrap();
        let no_password = attempt("o", "dave", "").await.unwrap();
        assert_eq!(
            (nobody, no_org, wrong, no_password),
            (None, None, None, None)
        );
        let right = attempt("o", "carol", "Secret#123").await.unwrap();
        assert_eq!(right.map(|u| u.id), Some(u.id));
        assert_eq!(
            store.list_login_attempts(org, nopw.id).await.unwrap().len(),
            1
        );

        // A known user: throttled after MAX_FAILED_ATTEMPTS failures, even
        // with the right password, and the refusal is recorded.
        for _ in 0..MAX_FAILED_ATTEMPTS - 1 {
            attempt("o", "carol", "guess").await.unwrap();
        }
        let throttled = attempt("o", "carol", "Secret#123").await;
        assert!(matches!(throttled, Err(ApiError::Throttled)));
        let attempts = store.list_login_attempts(org, u.id).await.unwrap();
        assert_eq!(attempts.len(), 7);
        assert_eq!(
            (attempts[0].client.as_str(), attempts[0].reason.as_deref()),
            ("console", Some("throttled"))
        );
        assert!(!attempts[0].succeeded);

        // Unknown names and organizations are throttled after as many.
        for (org, name) in [("o", "nobody"), ("elsewhere", "carol")] {
            for _ in 1..MAX_FAILED_ATTEMPTS {
                assert!(attempt(org, name, "guess").await.unwrap().is_none());
            }
            let throttled = attempt(org, name, "guess").await;
            assert!(
                matches!(throttled, Err(ApiError::Throttled)),
                "{org}/{name}"
            );
        }
        // Another unknown name is not.
        assert!(attempt("o", "ghost", "guess").await.unwrap().is_none());
    }
}
