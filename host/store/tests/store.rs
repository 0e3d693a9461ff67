//! The store suite. Every test runs twice, on SQLite and on PostgreSQL
//! (see `common`), against a fresh database.

mod common;

use std::time::Duration;

use common::{Backend, TestDb};
use plugboard_store::{
    ConnectionFilter, ConnectionPatch, ConnectionStatus, NewConnection, NewPendingAuthorization,
    Scope, SecretString, Store, StoreError,
};
use time::OffsetDateTime;

on_both_backends!(
    migrations_apply_once_and_reopen_cleanly,
    schema_newer_than_the_binary_is_refused,
    connections_round_trip_with_status_and_account,
    tenant_b_cannot_read_use_or_learn_of_tenant_a_connections,
    one_default_per_connector_per_folder_enforced_by_the_database,
    credential_compare_and_swap_detects_stale_writers,
    concurrent_writers_exactly_one_cas_wins_and_none_are_lost,
    connector_secrets_are_scoped_to_their_connection,
    pending_authorization_state_is_single_use_and_expires,
    lease_is_exclusive_and_expired_leases_can_be_taken_over,
    no_plaintext_secret_reaches_the_database,
    credential_ciphertext_copied_to_another_tenant_does_not_decrypt,
    wrong_or_missing_root_key_is_refused_at_open,
    folders_personal_and_shared_membership,
    two_replicas_share_leases_and_one_credential,
    identity_apps_roles_and_templates_of_another_organization_are_untouched,
);

struct World {
    store: Store,
    scope: Scope,
    folder: plugboard_store::FolderId,
    user: plugboard_store::UserId,
}

async fn world(store: &Store, tenant_name: &str) -> World {
    let org = store
        .create_organization(&format!("org-{tenant_name}-{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let tenant = store.create_tenant(org.id, tenant_name).await.unwrap();
    let user = store
        .create_user(org.id, "alice", "Alice", Some("alice@example.com"))
        .await
        .unwrap();
    let scope = tenant.scope();
    let folder = store.personal_folder(&scope, user.id).await.unwrap();
    World {
        store: store.clone(),
        scope,
        folder: folder.id,
        user: user.id,
    }
}

impl World {
    async fn connection(&self, connector: &str, name: &str) -> plugboard_store::Connection {
        let mut new = NewConnection::new(self.folder, connector, "oauth2_authorization_code", name);
        new.created_by = Some(self.user);
        self.store
            .create_connection(&self.scope, new)
            .await
            .unwrap()
    }
}

async fn migrations_apply_once_and_reopen_cleanly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    assert_eq!(
        store.backend(),
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let w = world(&store, "t").await;
    let c = w.connection("zoom", "Zoom").await;
    store.close().await;
    let again = db.open().await;
    assert!(
        again
            .get_connection(&w.scope, c.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn schema_newer_than_the_binary_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.open().await.close().await;
    db.exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, X'00', 0)"
            .replace(
                "X'00'",
                if backend == Backend::Sqlite {
                    "X'00'"
                } else {
                    "'\\x00'::bytea"
                },
            )
            .as_str(),
    )
    .await
    .unwrap();
    let e = Store::open(db.options()).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::SchemaTooNew {
                found: 99990101000000,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("newer Plugboard"), "{e}");
}

async fn connections_round_trip_with_status_and_account(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let mut new = NewConnection::new(w.folder, "zoom", "oauth2_authorization_code", "My Zoom");
    new.config = serde_json::json!({"base_url": "https://api.zoom.us/v2"});
    new.polling_frequency_seconds = Some(300);
    new.created_by = Some(w.user);
    let c = store.create_connection(&w.scope, new).await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Pending);
    assert_eq!(c.version, 1);
    assert_eq!(c.config["base_url"], "https://api.zoom.us/v2");
    assert_eq!(c.created_by, Some(w.user));

    let c2 = store
        .set_connection_account(
            &w.scope,
            c.id,
            Some("u-123"),
            Some("alice@example.com"),
            &["meeting:write".into()],
        )
        .await
        .unwrap();
    assert_eq!(c2.granted_scopes, vec!["meeting:write".to_string()]);
    let c3 = store
        .set_connection_status(
            &w.scope,
            c.id,
            ConnectionStatus::Disconnected,
            Some("reconnect required"),
            Some("invalid_grant: token revoked"),
        )
        .await
        .unwrap();
    assert_eq!(c3.status, ConnectionStatus::Disconnected);
    assert_eq!(
        c3.provider_error.as_deref(),
        Some("invalid_grant: token revoked")
    );

    let patch = ConnectionPatch {
        name: Some("Renamed".into()),
        polling_frequency_seconds: Some(Some(60)),
        config: None,
    };
    let c4 = store
        .update_connection(&w.scope, c.id, &patch, Some(c3.version), Some(w.user))
        .await
        .unwrap();
    assert_eq!(
        (c4.name.as_str(), c4.polling_frequency_seconds),
        ("Renamed", Some(60))
    );
    // a stale editor loses
    let e = store
        .update_connection(&w.scope, c.id, &patch, Some(c3.version), None)
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e}");

    w.connection("pat", "GitHub").await;
    let all = store
        .list_connections(&w.scope, &ConnectionFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let zoom = store
        .list_connections(
            &w.scope,
            &ConnectionFilter {
                connector: Some("zoom".into()),
                status: Some(ConnectionStatus::Disconnected),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(zoom.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id]);
    let by_name = store
        .list_connections(
            &w.scope,
            &ConnectionFilter {
                name_contains: Some("git".into()),
                folders: Some(vec![w.folder]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);

    assert!(store.delete_connection(&w.scope, c.id).await.unwrap());
    assert!(!store.delete_connection(&w.scope, c.id).await.unwrap());
    assert!(
        store
            .get_connection(&w.scope, c.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn tenant_b_cannot_read_use_or_learn_of_tenant_a_connections(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let a = world(&store, "a").await;
    let b = world(&store, "b").await;
    let c = a.connection("zoom", "A's Zoom").await;
    store
        .compare_and_swap_credential(&a.scope, c.id, None, b"a-token", None)
        .await
        .unwrap();
    store
        .put_connector_secret(&a.scope, c.id, "webhook", b"a-hook")
        .await
        .unwrap();

    // same organization, other tenant, and other organization: nothing
    let same_org_other_tenant = Scope::new(a.scope.org, b.scope.tenant);
    for scope in [
        b.scope,
        same_org_other_tenant,
        Scope::new(b.scope.org, a.scope.tenant),
    ] {
        assert!(store.get_connection(&scope, c.id).await.unwrap().is_none());
        assert!(
            store
                .list_connections(&scope, &ConnectionFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.get_credential(&scope, c.id).await.unwrap().is_none());
        assert!(
            store
                .get_connector_secret(&scope, c.id, "webhook")
                .await
                .unwrap()
                .is_none()
        );
        let e = store
            .compare_and_swap_credential(&scope, c.id, Some(1), b"evil", None)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let e = store
            .compare_and_swap_credential(&scope, c.id, None, b"evil", None)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let e = store
            .set_connection_status(&scope, c.id, ConnectionStatus::Connected, None, None)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let e = store
            .update_connection(&scope, c.id, &ConnectionPatch::default(), None, None)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(
            store
                .set_default_connection(&scope, c.id, None)
                .await
                .unwrap_err()
                .is_not_found()
        );
        assert!(!store.delete_connection(&scope, c.id).await.unwrap());
        assert!(!store.delete_credential(&scope, c.id).await.unwrap());
        // creating into A's folder from another tenant is refused too
        let e = store
            .create_connection(
                &scope,
                NewConnection::new(a.folder, "zoom", "pat", "sneaky"),
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }
    // A still sees everything intact
    let cred = store.get_credential(&a.scope, c.id).await.unwrap().unwrap();
    assert_eq!(cred.secret.expose(), b"a-token");
    assert_eq!(cred.version, 1);
}

async fn one_default_per_connector_per_folder_enforced_by_the_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let one = w.connection("zoom", "one").await;
    let two = w.connection("zoom", "two").await;
    let other = w.connection("pat", "other").await;
    store
        .set_default_connection(&w.scope, one.id, Some(w.user))
        .await
        .unwrap();
    store
        .set_default_connection(&w.scope, other.id, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .default_connection(&w.scope, w.folder, "zoom")
            .await
            .unwrap()
            .unwrap()
            .id,
        one.id
    );
    store
        .set_default_connection(&w.scope, two.id, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .default_connection(&w.scope, w.folder, "zoom")
            .await
            .unwrap()
            .unwrap()
            .id,
        two.id
    );
    assert!(
        !store
            .get_connection(&w.scope, one.id)
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    assert!(
        store
            .get_connection(&w.scope, other.id)
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    // creating with make_default moves it as well
    let mut new = NewConnection::new(w.folder, "zoom", "pat", "three");
    new.make_default = true;
    let three = store.create_connection(&w.scope, new).await.unwrap();
    assert!(three.is_default);
    assert!(
        !store
            .get_connection(&w.scope, two.id)
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    // the database itself refuses a second default
    let t = if backend == Backend::Sqlite {
        "1"
    } else {
        "TRUE"
    };
    let res = db
        .exec(&format!(
            "UPDATE connections SET is_default = {t} WHERE name = 'one'"
        ))
        .await;
    assert!(
        res.is_err(),
        "a second default must violate the unique index"
    );
}

async fn credential_compare_and_swap_detects_stale_writers(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c = w.connection("zoom", "z").await;
    assert!(
        store
            .get_credential(&w.scope, c.id)
            .await
            .unwrap()
            .is_none()
    );
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let v1 = store
        .compare_and_swap_credential(
            &w.scope,
            c.id,
            None,
            br#"{"refresh_token":"r1"}"#,
            Some(expires),
        )
        .await
        .unwrap();
    assert_eq!(v1, 1);
    // a second "first write" loses
    let e = store
        .compare_and_swap_credential(&w.scope, c.id, None, b"other", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                actual: Some(1),
                ..
            }
        ),
        "{e}"
    );
    let v2 = store
        .compare_and_swap_credential(&w.scope, c.id, Some(1), br#"{"refresh_token":"r2"}"#, None)
        .await
        .unwrap();
    assert_eq!(v2, 2);
    // the stale writer that read version 1 cannot overwrite the rotated token
    let e = store
        .compare_and_swap_credential(
            &w.scope,
            c.id,
            Some(1),
            br#"{"refresh_token":"stale"}"#,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                expected: Some(1),
                actual: Some(2),
                ..
            }
        ),
        "{e}"
    );
    let cred = store.get_credential(&w.scope, c.id).await.unwrap().unwrap();
    assert_eq!(cred.secret.expose(), br#"{"refresh_token":"r2"}"#);
    assert_eq!(cred.version, 2);
    assert_eq!(
        store.credential_version(&w.scope, c.id).await.unwrap(),
        Some(2)
    );
    // deleting the connection deletes the credential
    assert!(store.delete_connection(&w.scope, c.id).await.unwrap());
    assert!(
        store
            .credential_version(&w.scope, c.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_writers_exactly_one_cas_wins_and_none_are_lost(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c = w.connection("zoom", "z").await;
    store
        .compare_and_swap_credential(&w.scope, c.id, None, b"[]", None)
        .await
        .unwrap();
    // 1) many writers race from the same version: exactly one wins
    let writers = 24;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let (store, scope, id) = (store.clone(), w.scope, c.id);
        tasks.push(tokio::spawn(async move {
            store
                .compare_and_swap_credential(&scope, id, Some(1), format!("[{i}]").as_bytes(), None)
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(v) => {
                assert_eq!(v, 2);
                wins += 1;
            }
            Err(e) => assert!(e.is_conflict(), "{e}"),
        }
    }
    assert_eq!(wins, 1);
    // 2) read-modify-write with retries: every writer's entry survives
    let mut tasks = Vec::new();
    for i in 0..writers {
        let (store, scope, id) = (store.clone(), w.scope, c.id);
        tasks.push(tokio::spawn(async move {
            loop {
                let cred = store.get_credential(&scope, id).await.unwrap().unwrap();
                let mut list: Vec<u32> = serde_json::from_slice(cred.secret.expose()).unwrap();
                list.push(100 + i);
                let body = serde_json::to_vec(&list).unwrap();
                match store
                    .compare_and_swap_credential(&scope, id, Some(cred.version), &body, None)
                    .await
                {
                    Ok(_) => return,
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cred = store.get_credential(&w.scope, c.id).await.unwrap().unwrap();
    let mut list: Vec<u32> = serde_json::from_slice(cred.secret.expose()).unwrap();
    list.sort();
    let first = list.remove(0);
    assert!(first < writers, "the first race's winner is kept");
    assert_eq!(
        list,
        (100..100 + writers).collect::<Vec<_>>(),
        "no write lost"
    );
    assert_eq!(cred.version, 2 + writers as i64);
}

async fn connector_secrets_are_scoped_to_their_connection(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c1 = w.connection("zoom", "1").await;
    let c2 = w.connection("zoom", "2").await;
    store
        .put_connector_secret(&w.scope, c1.id, "webhook", b"s1")
        .await
        .unwrap();
    store
        .put_connector_secret(&w.scope, c1.id, "webhook", b"s1b")
        .await
        .unwrap();
    store
        .put_connector_secret(&w.scope, c1.id, "other", b"o")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_connector_secret(&w.scope, c1.id, "webhook")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        b"s1b"
    );
    assert!(
        store
            .get_connector_secret(&w.scope, c2.id, "webhook")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .list_connector_secret_names(&w.scope, c1.id)
            .await
            .unwrap(),
        vec!["other".to_string(), "webhook".to_string()]
    );
    assert!(
        store
            .delete_connector_secret(&w.scope, c1.id, "other")
            .await
            .unwrap()
    );
    // a secret row moved to another connection (or renamed) does not decrypt
    db.exec("UPDATE connector_secrets SET name = 'renamed' WHERE name = 'webhook'")
        .await
        .unwrap();
    let e = store
        .get_connector_secret(&w.scope, c1.id, "renamed")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Vault { .. }), "{e}");
}

async fn pending_authorization_state_is_single_use_and_expires(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c = w.connection("zoom", "z").await;
    let verifier = SecretString::from("pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz");
    let state = "state-0123456789abcdef";
    store
        .create_pending_authorization(
            &w.scope,
            NewPendingAuthorization {
                connection: c.id,
                state,
                pkce_verifier: Some(&verifier),
                redirect_uri: "https://pb.example/provisioning_/callback",
                extra: serde_json::json!({"return_to": "/connections"}),
                created_by: Some(w.user),
                expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(10),
            },
        )
        .await
        .unwrap();
    let p = store.consume_pending_authorization(state).await.unwrap();
    assert_eq!(p.scope, w.scope);
    assert_eq!(p.connection, c.id);
    assert_eq!(
        p.pkce_verifier.as_ref().unwrap().expose(),
        verifier.expose()
    );
    assert_eq!(p.redirect_uri, "https://pb.example/provisioning_/callback");
    let e = store
        .consume_pending_authorization(state)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    let e = store
        .consume_pending_authorization("never-issued-state-xyz")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown state"), "{e}");

    let expired = "expired-0123456789abcdef";
    store
        .create_pending_authorization(
            &w.scope,
            NewPendingAuthorization {
                connection: c.id,
                state: expired,
                pkce_verifier: None,
                redirect_uri: "https://pb.example/provisioning_/callback",
                extra: serde_json::json!({}),
                created_by: None,
                expires_at: OffsetDateTime::now_utc() - time::Duration::minutes(1),
            },
        )
        .await
        .unwrap();
    let e = store
        .consume_pending_authorization(expired)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");

    // A purge takes the expired one; the used one stays until it expires,
    // so a replay of its state is still told it was used.
    let now = OffsetDateTime::now_utc();
    assert_eq!(store.purge_pending_authorizations(now).await.unwrap(), 1);
    let e = store
        .consume_pending_authorization(expired)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown state"), "{e}");
    let e = store
        .consume_pending_authorization(state)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    let later = now + time::Duration::minutes(11);
    assert_eq!(store.purge_pending_authorizations(later).await.unwrap(), 1);
    let e = store
        .consume_pending_authorization(state)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown state"), "{e}");
}

async fn lease_is_exclusive_and_expired_leases_can_be_taken_over(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let ttl = Duration::from_secs(600);
    assert!(
        store
            .acquire_lease("refresh:c1", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("refresh:c1", "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("refresh:c1", "replica-a", ttl)
            .await
            .unwrap(),
        "re-entrant"
    );
    assert!(
        store
            .renew_lease("refresh:c1", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_lease("refresh:c1", "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .release_lease("refresh:c1", "replica-b")
            .await
            .unwrap()
    );
    assert!(
        store
            .release_lease("refresh:c1", "replica-a")
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("refresh:c1", "replica-b", ttl)
            .await
            .unwrap()
    );
    // an expired lease (TTL zero) is free for anyone, and its old holder cannot renew it
    assert!(
        store
            .acquire_lease("poll:t1", "replica-a", Duration::ZERO)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("poll:t1", "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_lease("poll:t1", "replica-a", ttl)
            .await
            .unwrap()
    );
    // many contenders at once: exactly one gets it
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("race", &format!("h{i}"), ttl)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn no_plaintext_secret_reaches_the_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c = w.connection("zoom", "z").await;
    let access = "ya29.ACCESS-TOKEN-7f3a9c";
    let refresh = "1//REFRESH-TOKEN-b81d20";
    let pat = "ghp_PERSONALACCESSTOKEN4411";
    let client_secret = "BYOA-CLIENT-SECRET-99e1";
    let webhook = "WEBHOOK-SECRET-c0ffee";
    let verifier = "PKCE-VERIFIER-5150-abcdefghijklmnopqrstuvwxyz";
    let token_set = format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","client_secret":"{client_secret}"}}"#
    );
    let v = store
        .compare_and_swap_credential(&w.scope, c.id, None, token_set.as_bytes(), None)
        .await
        .unwrap();
    let p = w.connection("pat", "p").await;
    store
        .compare_and_swap_credential(&w.scope, p.id, None, pat.as_bytes(), None)
        .await
        .unwrap();
    store
        .put_connector_secret(&w.scope, c.id, "webhook", webhook.as_bytes())
        .await
        .unwrap();
    store
        .create_pending_authorization(
            &w.scope,
            NewPendingAuthorization {
                connection: c.id,
                state: "STATE-VALUE-0123456789",
                pkce_verifier: Some(&SecretString::from(verifier)),
                redirect_uri: "https://pb.example/provisioning_/callback",
                extra: serde_json::json!({}),
                created_by: None,
                expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(5),
            },
        )
        .await
        .unwrap();
    // rewrite once more so old pages/WAL frames hold ciphertext only as well
    store
        .compare_and_swap_credential(&w.scope, c.id, Some(v), token_set.as_bytes(), None)
        .await
        .unwrap();
    let dump = db.dump().await;
    for needle in [
        access,
        refresh,
        pat,
        client_secret,
        webhook,
        verifier,
        "STATE-VALUE-0123456789",
    ] {
        assert!(
            !dump.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "plaintext `{needle}` found in the {backend:?} database"
        );
    }
    // the dump is real: non-secret values are there
    assert!(
        dump.windows(4).any(|w| w == b"zoom"),
        "dump should contain connector names"
    );
    // and the root key is not in the database either
    let key_file = std::fs::read_to_string(db.key_path()).unwrap();
    let key_b64 = key_file.lines().find(|l| l.starts_with("1:")).unwrap()[2..].to_owned();
    assert!(!dump.windows(key_b64.len()).any(|w| w == key_b64.as_bytes()));
}

async fn credential_ciphertext_copied_to_another_tenant_does_not_decrypt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let a = world(&store, "a").await;
    let b = world(&store, "b").await;
    let ca = a.connection("zoom", "a").await;
    let cb = b.connection("zoom", "b").await;
    store
        .compare_and_swap_credential(&a.scope, ca.id, None, b"A-SECRET", None)
        .await
        .unwrap();
    store
        .compare_and_swap_credential(&b.scope, cb.id, None, b"B-SECRET", None)
        .await
        .unwrap();
    // an attacker with SQL access copies A's ciphertext over B's row
    let sub = |col: &str| {
        format!(
            "(SELECT {col} FROM credentials WHERE connection_id = (SELECT id FROM connections WHERE name = 'a'))"
        )
    };
    db.exec(&format!(
        "UPDATE credentials SET nonce = {}, ciphertext = {}, key_version = {} \
         WHERE connection_id = (SELECT id FROM connections WHERE name = 'b')",
        sub("nonce"),
        sub("ciphertext"),
        sub("key_version")
    ))
    .await
    .unwrap();
    let e = store.get_credential(&b.scope, cb.id).await.unwrap_err();
    assert!(matches!(e, StoreError::Vault { .. }), "{e}");
    assert!(e.to_string().contains("failed to decrypt"), "{e}");
    // a ciphertext moved to another row of the same tenant fails too
    let ca2 = a.connection("zoom", "a2").await;
    store
        .compare_and_swap_credential(&a.scope, ca2.id, None, b"A2", None)
        .await
        .unwrap();
    db.exec(&format!(
        "UPDATE credentials SET nonce = {}, ciphertext = {} \
         WHERE connection_id = (SELECT id FROM connections WHERE name = 'a2')",
        sub("nonce"),
        sub("ciphertext")
    ))
    .await
    .unwrap();
    assert!(store.get_credential(&a.scope, ca2.id).await.is_err());
    // and a flipped byte is caught
    let flip = if backend == Backend::Sqlite {
        "UPDATE credentials SET ciphertext = CAST(X'00' || substr(ciphertext, 2) AS BLOB) \
         WHERE connection_id = (SELECT id FROM connections WHERE name = 'a')"
    } else {
        "UPDATE credentials SET ciphertext = set_byte(ciphertext, 0, 255 - get_byte(ciphertext, 0)) \
         WHERE connection_id = (SELECT id FROM connections WHERE name = 'a')"
    };
    db.exec(flip).await.unwrap();
    assert!(store.get_credential(&a.scope, ca.id).await.is_err());
}

async fn wrong_or_missing_root_key_is_refused_at_open(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let c = w.connection("pat", "p").await;
    store
        .compare_and_swap_credential(&w.scope, c.id, None, b"x", None)
        .await
        .unwrap();
    store.close().await;
    let good = std::fs::read(db.key_path()).unwrap();
    std::fs::remove_file(db.key_path()).unwrap();
    let e = Store::open(db.options()).await.unwrap_err();
    assert!(e.to_string().contains("root key missing"), "{e}");
    assert!(!db.key_path().exists(), "no new key over existing data");
    let mut other = db.options();
    other.root_key = plugboard_store::RootKeySource::Inline(zeroize_string(
        "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ));
    let e = Store::open(other).await.unwrap_err();
    assert!(e.to_string().contains("wrong root key"), "{e}");
    write_key(&db.key_path(), &good);
    let store = db.open().await;
    assert_eq!(
        store
            .get_credential(&w.scope, c.id)
            .await
            .unwrap()
            .unwrap()
            .secret
            .expose(),
        b"x"
    );
}

fn zeroize_string(s: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(s.to_owned())
}

fn write_key(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).unwrap().write_all(bytes).unwrap();
}

async fn folders_personal_and_shared_membership(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let w = world(&store, "t").await;
    let bob = store
        .create_user(w.scope.org, "bob", "Bob", None)
        .await
        .unwrap();
    // personal workspace is created once
    assert_eq!(
        store.personal_folder(&w.scope, w.user).await.unwrap().id,
        w.folder
    );
    let shared = store
        .create_shared_folder(&w.scope, "Finance", Some(w.user))
        .await
        .unwrap();
    assert_eq!(
        store
            .folder_role(&w.scope, shared.id, w.user)
            .await
            .unwrap()
            .as_deref(),
        Some("owner")
    );
    assert_eq!(
        store
            .folder_role(&w.scope, shared.id, bob.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.folder_role(&w.scope, w.folder, bob.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .folder_role(&w.scope, w.folder, w.user)
            .await
            .unwrap()
            .as_deref(),
        Some("owner")
    );
    store
        .add_folder_member(&w.scope, shared.id, bob.id, "editor")
        .await
        .unwrap();
    assert_eq!(
        store
            .folder_role(&w.scope, shared.id, bob.id)
            .await
            .unwrap()
            .as_deref(),
        Some("editor")
    );
    let bobs = store.list_folders_for_user(&w.scope, bob.id).await.unwrap();
    assert_eq!(
        bobs.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![shared.id]
    );
    let e = store
        .add_folder_member(&w.scope, w.folder, bob.id, "editor")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("personal workspace"), "{e}");
    assert!(
        store
            .remove_folder_member(&w.scope, shared.id, bob.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .folder_role(&w.scope, shared.id, bob.id)
            .await
            .unwrap(),
        None
    );
    let e = store
        .create_shared_folder(&w.scope, "Finance", None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Duplicate { .. }), "{e}");
    // another tenant does not see the folder
    let other = store.create_tenant(w.scope.org, "other").await.unwrap();
    assert!(
        store
            .get_folder(&other.scope(), shared.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn two_replicas_share_leases_and_one_credential(backend: Backend) {
    let db = TestDb::new(backend).await;
    let one = db.open().await;
    let two = db.open().await;
    let w = world(&one, "t").await;
    let c = w.connection("zoom", "z").await;
    // replica two sees replica one's connection and seals with the same data key
    assert!(two.get_connection(&w.scope, c.id).await.unwrap().is_some());
    one.compare_and_swap_credential(&w.scope, c.id, None, b"r1", None)
        .await
        .unwrap();
    let seen_by_two = two.get_credential(&w.scope, c.id).await.unwrap().unwrap();
    assert_eq!(seen_by_two.secret.expose(), b"r1");
    // single-flight refresh: only one replica gets the lease, the other waits
    let ttl = Duration::from_secs(600);
    let lease = format!("refresh:{}", c.id);
    assert!(one.acquire_lease(&lease, "replica-1", ttl).await.unwrap());
    assert!(!two.acquire_lease(&lease, "replica-2", ttl).await.unwrap());
    // the holder rotates the refresh token; the other's stale CAS loses
    one.compare_and_swap_credential(&w.scope, c.id, Some(1), b"r2", None)
        .await
        .unwrap();
    let e = two
        .compare_and_swap_credential(&w.scope, c.id, Some(seen_by_two.version), b"stale", None)
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert!(one.release_lease(&lease, "replica-1").await.unwrap());
    assert!(two.acquire_lease(&lease, "replica-2", ttl).await.unwrap());
    assert_eq!(
        two.get_credential(&w.scope, c.id)
            .await
            .unwrap()
            .unwrap()
            .secret
            .expose(),
        b"r2"
    );
}

/// External applications, roles and templates: another organization's
/// calls find nothing; rotating a secret revokes the app's tokens;
/// deleting a role removes its assignments.
async fn identity_apps_roles_and_templates_of_another_organization_are_untouched(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let a = s.create_organization("a").await.unwrap().id;
    let b = s.create_organization("b").await.unwrap().id;
    let scopes = vec!["PM.User.Read".to_owned()];
    let app = s
        .create_external_app(b, "ci", "client-b", "hash-1", &scopes)
        .await
        .unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    s.store_access_token(b, app, "token-1", &scopes, later)
        .await
        .unwrap();
    let u = s.create_user(b, "u", "U", None).await.unwrap();
    let role = s.create_role(b, "r", &[]).await.unwrap().id;
    s.assign_roles(b, u.id.0, &[role]).await.unwrap();
    let tpl = s.create_message_template(b, "t", "v").await.unwrap().id;

    assert!(s.list_external_apps(a).await.unwrap().is_empty());
    assert!(!s.update_external_app(a, app, "x", &[]).await.unwrap());
    assert!(!s.set_external_app_secret_hash(a, app, "h").await.unwrap());
    assert!(!s.delete_external_app(a, app).await.unwrap());
    assert_eq!(s.revoke_access_tokens(a, app).await.unwrap(), 0);
    assert!(!s.update_role(a, role, "x", &[]).await.unwrap());
    assert!(!s.delete_role(a, role).await.unwrap());
    assert!(!s.delete_message_template(a, tpl).await.unwrap());
    assert!(s.find_access_token("token-1").await.unwrap().is_some());
    assert_eq!(s.roles_of(b, u.id.0).await.unwrap(), [role]);

    let listed = s.list_external_apps(b).await.unwrap();
    assert_eq!(
        (
            listed.len(),
            listed[0].client_id.as_str(),
            &listed[0].scopes
        ),
        (1, "client-b", &scopes)
    );
    assert!(
        s.set_external_app_secret_hash(b, app, "hash-2")
            .await
            .unwrap()
    );
    assert!(s.find_access_token("token-1").await.unwrap().is_none());
    let found = s.find_external_app("client-b").await.unwrap().unwrap();
    assert_eq!(found.secret_hash, "hash-2");
    assert!(s.update_external_app(b, app, "ci-2", &[]).await.unwrap());
    assert!(s.list_external_apps(b).await.unwrap()[0].scopes.is_empty());
    assert!(s.delete_external_app(b, app).await.unwrap());
    assert!(s.find_external_app("client-b").await.unwrap().is_none());

    let perms = vec!["Users.View".to_owned()];
    assert!(s.update_role(b, role, "renamed", &perms).await.unwrap());
    let roles = s.list_roles(b).await.unwrap();
    assert_eq!(
        roles.iter().find(|r| r.id == role).unwrap().permissions,
        perms
    );
    assert!(s.delete_role(b, role).await.unwrap());
    assert!(s.roles_of(b, u.id.0).await.unwrap().is_empty());
    assert!(s.delete_message_template(b, tpl).await.unwrap());
    // What is left are the organization's built-in templates.
    assert!(
        s.find_message_templates(b, None, None)
            .await
            .unwrap()
            .iter()
            .all(|t| t.id != tpl && t.builtin.is_some())
    );
}
