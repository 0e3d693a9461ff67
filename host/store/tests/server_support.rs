//! The rows `plugboard serve` adds (0003_server): tenant users, API tokens by
//! hash, connection references, account e-mail, connection settings, and
//! (0006) organization default OAuth apps. Every one stays inside its
//! tenant, on both backends. Console sessions (0005_sessions) resolve like
//! tokens and die on expiry or sign-out.

mod common;

use common::{Backend, TestDb};
use plugboard_store::{
    ApiToken, ConnectionId, ConnectionPatch, ConnectionReference, ConnectionSettings,
    ConnectionState, ConnectionStatus, FolderKind, NewConnection, Scope, SecretString, Store,
};
use time::OffsetDateTime;

on_both_backends!(
    tokens_resolve_to_their_tenant_user_and_references_stay_in_their_tenant,
    connection_ids_chosen_by_the_caller_and_checked_state_round_trip,
    a_session_resolves_to_its_user_until_it_expires_or_is_deleted,
    organizations_are_found_by_name,
    default_oauth_apps_are_sealed_and_stay_in_their_tenant,
    a_token_owner_is_remembered_briefly_and_forgotten_with_its_user,
    a_connection_for_use_carries_its_folder_access_and_the_asked_secret,
    a_connection_for_a_call_is_remembered_until_this_store_changes_it,
    named_tokens_are_listed_and_a_revoked_one_is_refused_at_once,
    a_tokens_last_use_is_written_at_most_once_an_hour,
);

async fn tenant(store: &Store, name: &str, admin: bool) -> (Scope, plugboard_store::UserId) {
    let org = store
        .create_organization(&format!("org-{name}-{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let t = store.create_tenant(org.id, name).await.unwrap();
    let u = store.create_user(org.id, "ada", "Ada", None).await.unwrap();
    store
        .add_tenant_user(&t.scope(), u.id, admin)
        .await
        .unwrap();
    (t.scope(), u.id)
}

async fn tokens_resolve_to_their_tenant_user_and_references_stay_in_their_tenant(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    store.ping().await.unwrap();
    let (a, ua) = tenant(&store, "a", true).await;
    let (b, ub) = tenant(&store, "b", false).await;
    assert!(store.has_users().await.unwrap());
    store.add_api_token(ua, &"a".repeat(64)).await.unwrap();
    store.add_api_token(ub, &"b".repeat(64)).await.unwrap();
    let oa = store.token_owner(&"a".repeat(64)).await.unwrap().unwrap();
    assert_eq!((oa.scope, oa.user, oa.is_admin), (a, ua, true));
    let ob = store.token_owner(&"b".repeat(64)).await.unwrap().unwrap();
    assert_eq!((ob.scope, ob.user, ob.is_admin), (b, ub, false));
    assert!(store.token_owner(&"c".repeat(64)).await.unwrap().is_none());
    assert_eq!(store.tenant_scope(a.tenant).await.unwrap(), Some(a));

    let folder = store.personal_folder(&a, ua).await.unwrap();
    let c = store
        .create_connection(
            &a,
            NewConnection::new(folder.id, "pat", "personal_access_token", "P"),
        )
        .await
        .unwrap();
    let r = ConnectionReference {
        kind: "process".into(),
        id: "p1".into(),
        name: "Payroll".into(),
    };
    store.add_connection_reference(&a, c.id, &r).await.unwrap();
    assert_eq!(
        store.connection_references(&a, c.id).await.unwrap(),
        vec![r.clone()]
    );
    // Tenant b neither sees nor adds to a's connection.
    assert!(
        store
            .connection_references(&b, c.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.add_connection_reference(&b, c.id, &r).await.is_err());
    assert!(
        !store
            .remove_connection_reference(&b, c.id, "process", "p1")
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_connection_reference(&a, c.id, "process", "p1")
            .await
            .unwrap()
    );

    assert_eq!(
        store.connection_settings(a.org).await.unwrap(),
        ConnectionSettings::default(),
        "never set: no restriction, every connector allowed"
    );
    let set = ConnectionSettings {
        restrict_shared_connections: true,
        allowed_connectors: Some(vec!["pat".into(), "zoom".into()]),
    };
    store
        .set_connection_settings(a.org, set.clone())
        .await
        .unwrap();
    assert_eq!(store.connection_settings(a.org).await.unwrap(), set);
    assert_eq!(
        store.connection_settings(b.org).await.unwrap(),
        ConnectionSettings::default(),
        "another organization's settings are untouched"
    );
    // Back to "every connector" (stored as JSON null, read back as None).
    let open = ConnectionSettings {
        allowed_connectors: None,
        ..set
    };
    store
        .set_connection_settings(a.org, open.clone())
        .await
        .unwrap();
    assert_eq!(store.connection_settings(a.org).await.unwrap(), open);
    assert_eq!(store.list_tenant_folders(&b).await.unwrap().len(), 0);
    assert_eq!(store.list_tenant_folders(&a).await.unwrap().len(), 1);
}

async fn connection_ids_chosen_by_the_caller_and_checked_state_round_trip(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, ua) = tenant(&store, "a", true).await;
    let (b, _) = tenant(&store, "b", true).await;
    let folder = store.personal_folder(&a, ua).await.unwrap();
    let id = ConnectionId::new();
    let mut new = NewConnection::new(folder.id, "zoom", "oauth2_authorization_code", "Z");
    new.make_default = true;
    let c = store.create_connection_with_id(&a, id, new).await.unwrap();
    assert_eq!((c.id, c.is_default), (id, true));
    // Someone renames it while a check is running...
    let patch = ConnectionPatch {
        name: Some("Renamed".into()),
        ..ConnectionPatch::default()
    };
    store
        .update_connection(&a, id, &patch, None, Some(ua))
        .await
        .unwrap();
    // ...and the check then saves what it found.
    let state = ConnectionState {
        status: ConnectionStatus::Connected,
        status_message: None,
        provider_error: None,
        account_id: Some("u1".into()),
        account_display_name: Some("Ada".into()),
        account_email: Some("ada@example.com".into()),
        granted_scopes: vec!["meeting:write".into()],
        updated_by: Some(ua),
        updated_at: OffsetDateTime::now_utc(),
    };
    assert!(store.save_connection_state(&b, id, &state).await.is_err());
    let saved = store.save_connection_state(&a, id, &state).await.unwrap();
    let c = store.get_connection(&a, id).await.unwrap().unwrap();
    assert_eq!(c.name, "Renamed", "a state save keeps what people edited");
    assert_eq!(saved, c, "the save returns the row as saved");
    assert_eq!(c.status, ConnectionStatus::Connected);
    assert_eq!(c.account_id.as_deref(), Some("u1"));
    assert_eq!(c.granted_scopes, vec!["meeting:write".to_string()]);
    assert_eq!(c.account_email.as_deref(), Some("ada@example.com"));
    assert!(store.get_connection(&b, id).await.unwrap().is_none());
}

async fn a_session_resolves_to_its_user_until_it_expires_or_is_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (scope, user) = tenant(&store, "a", false).await;
    let (_, other) = tenant(&store, "b", false).await;
    let now = OffsetDateTime::now_utc();
    let live = "1".repeat(64);
    let expired = "2".repeat(64);
    let others = "3".repeat(64);
    store
        .create_session(user, &live, now + time::Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session(user, &expired, now - time::Duration::seconds(1))
        .await
        .unwrap();
    store
        .create_session(other, &others, now + time::Duration::hours(1))
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
            .session_owner(&live, now + time::Duration::hours(2))
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
            .create_session(loner.id, &"5".repeat(64), now + time::Duration::hours(1))
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

async fn default_oauth_apps_are_sealed_and_stay_in_their_tenant(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, _) = tenant(&store, "a", true).await;
    let (b, _) = tenant(&store, "b", true).await;
    let secret = SecretString::from("app-secret-do-not-leak".to_string());
    store
        .put_oauth_app_default(&a, "zoom", "acme-app", &secret)
        .await
        .unwrap();
    let got = store.oauth_app_default(&a, "zoom").await.unwrap().unwrap();
    assert_eq!(
        (got.client_id.as_str(), got.client_secret.expose()),
        ("acme-app", "app-secret-do-not-leak")
    );
    assert_eq!(
        store.list_oauth_app_defaults(&a).await.unwrap(),
        vec![("zoom".to_string(), "acme-app".to_string())]
    );
    // Replacing keeps one row; another tenant sees and removes nothing.
    let newer = SecretString::from("newer-secret".to_string());
    store
        .put_oauth_app_default(&a, "zoom", "acme-app-2", &newer)
        .await
        .unwrap();
    assert_eq!(store.list_oauth_app_defaults(&a).await.unwrap().len(), 1);
    assert!(store.oauth_app_default(&b, "zoom").await.unwrap().is_none());
    assert!(store.list_oauth_app_defaults(&b).await.unwrap().is_empty());
    assert!(!store.delete_oauth_app_default(&b, "zoom").await.unwrap());
    assert!(
        !String::from_utf8_lossy(&db.dump().await).contains("newer-secret"),
        "the secret is stored sealed"
    );
    assert!(store.delete_oauth_app_default(&a, "zoom").await.unwrap());
    assert!(store.oauth_app_default(&a, "zoom").await.unwrap().is_none());
}

async fn a_token_owner_is_remembered_briefly_and_forgotten_with_its_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, ua) = tenant(&store, "a", false).await;
    let hash = "d".repeat(64);
    store.add_api_token(ua, &hash).await.unwrap();
    assert_eq!(store.token_owner(&hash).await.unwrap().unwrap().user, ua);

    // A change behind the store's back (another replica, raw SQL) is seen
    // only when the remembered answer expires: the documented trade-off.
    db.exec(&format!(
        "DELETE FROM api_tokens WHERE token_sha256 = '{hash}'"
    ))
    .await
    .unwrap();
    assert!(
        store.token_owner(&hash).await.unwrap().is_some(),
        "answered from memory within the TTL"
    );
    store.set_token_cache_ttl(std::time::Duration::ZERO);
    assert!(
        store.token_owner(&hash).await.unwrap().is_none(),
        "a zero TTL reads the database every time"
    );

    // Deleting the user through the store forgets their tokens at once.
    store.set_token_cache_ttl(plugboard_store::DEFAULT_TOKEN_CACHE_TTL);
    let hash = "e".repeat(64);
    store.add_api_token(ua, &hash).await.unwrap();
    assert!(store.token_owner(&hash).await.unwrap().is_some());
    assert!(store.delete_user(a.org, ua).await.unwrap());
    assert!(
        store.token_owner(&hash).await.unwrap().is_none(),
        "a deleted user's token stops working at once"
    );
}

async fn a_connection_for_use_carries_its_folder_access_and_the_asked_secret(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, ua) = tenant(&store, "a", true).await;
    let (b, _) = tenant(&store, "b", true).await;
    let bob = store.create_user(a.org, "bob", "Bob", None).await.unwrap();
    store.add_tenant_user(&a, bob.id, false).await.unwrap();

    let personal = store.personal_folder(&a, ua).await.unwrap();
    let c = store
        .create_connection(
            &a,
            NewConnection::new(personal.id, "pat", "personal_access_token", "P"),
        )
        .await
        .unwrap();
    store
        .put_connector_secret(&a, c.id, "token", b"pat-value")
        .await
        .unwrap();

    let found = store
        .connection_for_use(&a, c.id, ua, Some("token"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.connection,
        store.get_connection(&a, c.id).await.unwrap().unwrap()
    );
    assert_eq!(found.folder_kind, FolderKind::Personal);
    assert_eq!(found.folder_owner, Some(ua));
    assert!(!found.user_is_member, "a personal workspace has no members");
    assert_eq!(found.secret.unwrap().expose(), b"pat-value");

    let without = store
        .connection_for_use(&a, c.id, ua, None)
        .await
        .unwrap()
        .unwrap();
    assert!(without.secret.is_none(), "no secret unless asked for");
    let absent = store
        .connection_for_use(&a, c.id, ua, Some("other"))
        .await
        .unwrap()
        .unwrap();
    assert!(absent.secret.is_none(), "a slot that is not there");

    // Another tenant does not find it.
    assert!(
        store
            .connection_for_use(&b, c.id, ua, Some("token"))
            .await
            .unwrap()
            .is_none()
    );

    // In a shared folder, membership is answered for the user asked about.
    let shared = store
        .create_shared_folder(&a, "Team", Some(ua))
        .await
        .unwrap();
    let s = store
        .create_connection(
            &a,
            NewConnection::new(shared.id, "pat", "personal_access_token", "S"),
        )
        .await
        .unwrap();
    let for_ada = store
        .connection_for_use(&a, s.id, ua, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (for_ada.folder_kind, for_ada.user_is_member),
        (FolderKind::Shared, true)
    );
    let for_bob = store
        .connection_for_use(&a, s.id, bob.id, None)
        .await
        .unwrap()
        .unwrap();
    assert!(!for_bob.user_is_member);
    store
        .add_folder_member(&a, shared.id, bob.id, "member")
        .await
        .unwrap();
    let for_bob = store
        .connection_for_use(&a, s.id, bob.id, None)
        .await
        .unwrap()
        .unwrap();
    assert!(for_bob.user_is_member);
}

async fn a_connection_for_a_call_is_remembered_until_this_store_changes_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, ua) = tenant(&store, "a", true).await;
    let bob = store.create_user(a.org, "bob", "Bob", None).await.unwrap();
    store.add_tenant_user(&a, bob.id, false).await.unwrap();
    let shared = store
        .create_shared_folder(&a, "Team", Some(ua))
        .await
        .unwrap();
    let c = store
        .create_connection(
            &a,
            NewConnection::new(shared.id, "pat", "personal_access_token", "P"),
        )
        .await
        .unwrap();
    store
        .put_connector_secret(&a, c.id, "token", b"first")
        .await
        .unwrap();
    let call = |user| {
        let store = store.clone();
        async move {
            store
                .connection_for_call(&a, c.id, user, Some("token"))
                .await
                .unwrap()
        }
    };
    let token = |found: Option<plugboard_store::ConnectionForUse>| {
        found.unwrap().secret.map(|s| s.expose().to_vec())
    };
    assert_eq!(token(call(ua).await), Some(b"first".to_vec()));

    // A change behind the store's back (another replica, raw SQL) reaches
    // calls only when the remembered answer expires; the management read
    // sees it at once.
    db.exec("UPDATE connections SET name = 'renamed elsewhere' WHERE name = 'P'")
        .await
        .unwrap();
    assert_eq!(call(ua).await.unwrap().connection.name, "P", "from memory");
    let current = store
        .connection_for_use(&a, c.id, ua, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.connection.name, "renamed elsewhere");

    // Changes through the store apply to the very next call: the secret,
    // the status, membership, deletion.
    store
        .put_connector_secret(&a, c.id, "token", b"second")
        .await
        .unwrap();
    let found = call(ua).await.unwrap();
    assert_eq!(found.connection.name, "renamed elsewhere");
    assert_eq!(found.secret.unwrap().expose(), b"second");
    store
        .set_connection_status(&a, c.id, ConnectionStatus::Disconnected, Some("gone"), None)
        .await
        .unwrap();
    assert_eq!(
        call(ua).await.unwrap().connection.status,
        ConnectionStatus::Disconnected
    );
    assert!(!call(bob.id).await.unwrap().user_is_member);
    store
        .add_folder_member(&a, shared.id, bob.id, "member")
        .await
        .unwrap();
    assert!(call(bob.id).await.unwrap().user_is_member, "added: at once");
    store
        .remove_folder_member(&a, shared.id, bob.id)
        .await
        .unwrap();
    assert!(
        !call(bob.id).await.unwrap().user_is_member,
        "removed: at once"
    );
    assert!(store.delete_connection(&a, c.id).await.unwrap());
    assert!(call(ua).await.is_none(), "deleted: at once");

    // A zero TTL reads the database for every call.
    store.set_connection_cache_ttl(std::time::Duration::ZERO);
    let d = store
        .create_connection(
            &a,
            NewConnection::new(shared.id, "pat", "personal_access_token", "D"),
        )
        .await
        .unwrap();
    let name_of = || async {
        store
            .connection_for_call(&a, d.id, ua, None)
            .await
            .unwrap()
            .unwrap()
            .connection
            .name
    };
    assert_eq!(name_of().await, "D");
    db.exec("UPDATE connections SET name = 'E' WHERE name = 'D'")
        .await
        .unwrap();
    assert_eq!(name_of().await, "E");
}

async fn named_tokens_are_listed_and_a_revoked_one_is_refused_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, ua) = tenant(&store, "a", false).await;
    let (b, ub) = tenant(&store, "b", true).await;
    let (ci_hash, laptop_hash) = ("1".repeat(64), "2".repeat(64));
    let ci = store.create_api_token(ua, "ci", &ci_hash).await.unwrap();
    let laptop = store
        .create_api_token(ua, "laptop", &laptop_hash)
        .await
        .unwrap();
    store.add_api_token(ub, &"3".repeat(64)).await.unwrap();
    assert_ne!(ci.id, laptop.id);

    let listed = store.list_api_tokens(ua).await.unwrap();
    assert_eq!(listed, vec![ci.clone(), laptop.clone()]);
    let theirs = store.list_api_tokens(ub).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].name, "default");

    // Both tokens work and are now remembered by the token cache.
    assert_eq!(store.token_owner(&ci_hash).await.unwrap().unwrap().user, ua);
    assert_eq!(
        store.token_owner(&laptop_hash).await.unwrap().unwrap().user,
        ua
    );

    // Another user cannot revoke it; neither can another tenant's admin.
    assert!(!store.delete_api_token(ub, ci.id).await.unwrap());
    assert_eq!(
        store.delete_tenant_api_token(&b, ci.id).await.unwrap(),
        None
    );
    assert!(store.token_owner(&ci_hash).await.unwrap().is_some());

    // Its owner can, and it is refused at once although it was cached.
    assert!(store.delete_api_token(ua, ci.id).await.unwrap());
    assert!(
        store.token_owner(&ci_hash).await.unwrap().is_none(),
        "a revoked token stops working at once"
    );
    assert!(
        !store.delete_api_token(ua, ci.id).await.unwrap(),
        "only once"
    );
    // Only the laptop token is left, now with a last use (looked up above).
    let left = store.list_api_tokens(ua).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].last_used_at.is_some(), "{left:?}");
    assert_eq!(
        left[0],
        ApiToken {
            last_used_at: left[0].last_used_at,
            ..laptop.clone()
        }
    );

    // The tenant's admin variant revokes any token of the tenant.
    assert_eq!(
        store.delete_tenant_api_token(&a, laptop.id).await.unwrap(),
        Some(ua)
    );
    assert!(store.token_owner(&laptop_hash).await.unwrap().is_none());
    assert!(store.list_api_tokens(ua).await.unwrap().is_empty());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM api_tokens WHERE id IS NULL")
            .await,
        0
    );
}

async fn a_tokens_last_use_is_written_at_most_once_an_hour(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    // Every lookup reads the database: only the hourly rule limits writes.
    store.set_token_cache_ttl(std::time::Duration::ZERO);
    let (_, user) = tenant(&store, "a", false).await;
    let made = store
        .create_api_token(user, "ci", &"d".repeat(64))
        .await
        .unwrap();
    let last_used = |store: &Store| {
        let store = store.clone();
        async move {
            let tokens = store.list_api_tokens(user).await.unwrap();
            tokens
                .iter()
                .find(|t| t.id == made.id)
                .unwrap()
                .last_used_at
        }
    };
    assert_eq!(last_used(&store).await, None, "never used");
    store.token_owner(&"d".repeat(64)).await.unwrap().unwrap();
    let first = last_used(&store).await.expect("used once");
    // Used again within the hour: the stored time stays (no write).
    store.token_owner(&"d".repeat(64)).await.unwrap().unwrap();
    assert_eq!(last_used(&store).await, Some(first));
    // Once the stored time is over an hour old, the next use writes.
    let stale = (first - plugboard_store::TOKEN_LAST_USED_PRECISION).unix_timestamp() * 1000 - 1;
    db.exec(&format!("UPDATE api_tokens SET last_used_at = {stale}"))
        .await
        .unwrap();
    store.token_owner(&"d".repeat(64)).await.unwrap().unwrap();
    assert!(last_used(&store).await.unwrap() >= first);
}
