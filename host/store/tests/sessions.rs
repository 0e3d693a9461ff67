//! Console sign-in sessions (0005_sessions): stored by hash, owned by one
//! tenant user, dead after expiry or sign-out, on both backends.

mod common;

use common::{Backend, TestDb};
use plugboard_store::Store;
use time::{Duration, OffsetDateTime};

on_both_backends!(
    a_session_resolves_to_its_user_until_it_expires_or_is_deleted,
    organizations_are_found_by_name,
);

async fn tenant_user(
    store: &Store,
    name: &str,
) -> (plugboard_store::Scope, plugboard_store::UserId) {
    let org = store
        .create_organization(&format!("org-{name}-{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let t = store.create_tenant(org.id, name).await.unwrap();
    let u = store.create_user(org.id, "ada", "Ada", None).await.unwrap();
    store
        .add_tenant_user(&t.scope(), u.id, false)
        .await
        .unwrap();
    (t.scope(), u.id)
}

async fn a_session_resolves_to_its_user_until_it_expires_or_is_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (scope, user) = tenant_user(&store, "a").await;
    let (_, other) = tenant_user(&store, "b").await;
    let now = OffsetDateTime::now_utc();
    let live = "1".repeat(64);
    let expired = "2".repeat(64);
    let others = "3".repeat(64);
    store
        .create_session(user, &live, now + Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session(user, &expired, now - Duration::seconds(1))
        .await
        .unwrap();
    store
        .create_session(other, &others, now + Duration::hours(1))
        .await
        .unwrap();

    let owner = store.session_owner(&live, now).await.unwrap().unwrap();
    assert_eq!(
        (owner.scope, owner.user, owner.user_name.as_str()),
        (scope, user, "ada")
    );
    assert!(
        store.session_owner(&expired, now).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        store
            .session_owner(&"4".repeat(64), now)
            .await
            .unwrap()
            .is_none(),
        "unknown"
    );
    assert!(
        store
            .session_owner(&live, now + Duration::hours(2))
            .await
            .unwrap()
            .is_none(),
        "the same session is dead once its expiry passes"
    );

    assert_eq!(store.delete_expired_sessions(now).await.unwrap(), 1);
    assert!(store.delete_session(&live).await.unwrap());
    assert!(!store.delete_session(&live).await.unwrap(), "already gone");
    assert!(store.session_owner(&live, now).await.unwrap().is_none());
    // The other user's session is untouched by all of the above.
    assert!(store.session_owner(&others, now).await.unwrap().is_some());
    assert_eq!(store.delete_user_sessions(other).await.unwrap(), 1);
    assert!(store.session_owner(&others, now).await.unwrap().is_none());

    // A user who works in no tenant gets no session.
    let org = store.create_organization("lonely").await.unwrap();
    let loner = store.create_user(org.id, "x", "X", None).await.unwrap();
    assert!(
        store
            .create_session(loner.id, &"5".repeat(64), now + Duration::hours(1))
            .await
            .is_err()
    );
}

async fn organizations_are_found_by_name(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let org = store.create_organization("acme").await.unwrap();
    assert_eq!(
        store.find_organization("acme").await.unwrap().map(|o| o.id),
        Some(org.id)
    );
    assert!(store.find_organization("ACME ").await.unwrap().is_none());
}
