//! Connectors, triggers and audit events, on both backends.

mod common;

use common::{Backend, TestDb};
use plugboard_store::{
    AuditFilter, ConnectorOrigin, NewAuditEvent, NewConnection, NewConnector, NewTrigger, Scope,
    Store, StoreError,
};
use time::OffsetDateTime;

on_both_backends!(
    connectors_are_registered_by_content_hash_per_tenant,
    triggers_are_scheduled_and_cursor_writes_are_compare_and_swap,
    audit_events_are_listed_newest_first_with_filters,
);

async fn tenant(
    store: &Store,
    name: &str,
) -> (Scope, plugboard_store::FolderId, plugboard_store::UserId) {
    let org = store
        .create_organization(&format!("org-{name}-{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let t = store.create_tenant(org.id, name).await.unwrap();
    let u = store.create_user(org.id, "u", "U", None).await.unwrap();
    let f = store.personal_folder(&t.scope(), u.id).await.unwrap();
    (t.scope(), f.id, u.id)
}

async fn connectors_are_registered_by_content_hash_per_tenant(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, folder, user) = tenant(&store, "a").await;
    let (b, _, _) = tenant(&store, "b").await;
    let wasm = b"\0asm fake component v1".to_vec();
    let new = |bytes: &'static [u8], version: &'static str| NewConnector {
        connector: "acme",
        version,
        origin: ConnectorOrigin::Uploaded,
        component: bytes,
        created_by: Some(user),
    };
    let leaked: &'static [u8] = Box::leak(wasm.into_boxed_slice());
    let rec = store
        .register_connector(&a, new(leaked, "1.0.0"))
        .await
        .unwrap();
    assert_eq!(rec.content_hash, plugboard_store::content_hash(leaked));
    // idempotent for the same bytes, refused for other bytes
    assert_eq!(
        store
            .register_connector(&a, new(leaked, "1.0.0"))
            .await
            .unwrap()
            .id,
        rec.id
    );
    let e = store
        .register_connector(&a, new(b"other bytes", "1.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Duplicate { .. }), "{e}");
    assert_eq!(
        store
            .connector_component(&a, rec.id)
            .await
            .unwrap()
            .unwrap(),
        leaked
    );
    // tenant B neither sees the row nor reaches the bytes
    assert!(store.get_connector(&b, rec.id).await.unwrap().is_none());
    assert!(
        store
            .connector_component(&b, rec.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_connectors(&b).await.unwrap().is_empty());
    // bundled: recorded by hash, bytes not stored
    let zoom = store
        .register_connector(
            &a,
            NewConnector {
                connector: "zoom",
                version: "0.1.0",
                origin: ConnectorOrigin::Bundled,
                component: b"bundled zoom bytes",
                created_by: None,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .connector_component(&a, zoom.id)
            .await
            .unwrap()
            .is_none()
    );
    let v2 = store
        .register_connector(&a, new(b"\0asm v2", "2.0.0"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_connector(&a, "acme", None)
            .await
            .unwrap()
            .unwrap()
            .id,
        v2.id
    );
    store.set_connector_enabled(&a, v2.id, false).await.unwrap();
    assert_eq!(
        store
            .find_connector(&a, "acme", None)
            .await
            .unwrap()
            .unwrap()
            .id,
        rec.id
    );
    assert_eq!(store.list_connectors(&a).await.unwrap().len(), 3);
    // in use: the last version of a connector with connections cannot go
    store
        .create_connection(&a, NewConnection::new(folder, "acme", "pat", "c"))
        .await
        .unwrap();
    assert!(store.delete_connector(&a, v2.id).await.unwrap());
    let e = store.delete_connector(&a, rec.id).await.unwrap_err();
    assert!(matches!(e, StoreError::InUse { .. }), "{e}");
    assert!(!store.delete_connector(&b, rec.id).await.unwrap());
}

async fn triggers_are_scheduled_and_cursor_writes_are_compare_and_swap(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, folder, user) = tenant(&store, "a").await;
    let (b, _, _) = tenant(&store, "b").await;
    let c = store
        .create_connection(
            &a,
            NewConnection::new(folder, "zoom", "oauth2_authorization_code", "z"),
        )
        .await
        .unwrap();
    let t = store
        .create_trigger(
            &a,
            NewTrigger {
                connection: c.id,
                trigger_name: "recording_completed".into(),
                config: serde_json::json!({"user": "me"}),
                poll_interval_seconds: 300,
                created_by: Some(user),
            },
        )
        .await
        .unwrap();
    assert!(t.enabled && t.cursor.is_none());
    let e = store
        .create_trigger(
            &b,
            NewTrigger {
                connection: c.id,
                trigger_name: "x".into(),
                config: serde_json::json!({}),
                poll_interval_seconds: 60,
                created_by: None,
            },
        )
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let now = OffsetDateTime::now_utc();
    let due = store
        .due_triggers(now + time::Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), vec![t.id]);
    assert_eq!(due[0].scope, a);
    let next = now + time::Duration::minutes(5);
    let v = store
        .record_trigger_poll(&a, t.id, t.version, Some("cursor-1"), next, None)
        .await
        .unwrap();
    // a second poller with the old version loses
    let e = store
        .record_trigger_poll(&a, t.id, t.version, Some("cursor-x"), next, None)
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e}");
    let t2 = store.get_trigger(&a, t.id).await.unwrap().unwrap();
    assert_eq!((t2.cursor.as_deref(), t2.version), (Some("cursor-1"), v));
    assert!(
        store
            .due_triggers(now + time::Duration::seconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_trigger(&b, t.id).await.unwrap().is_none());
    assert!(store.list_triggers(&b, None).await.unwrap().is_empty());
    assert_eq!(store.list_triggers(&a, Some(c.id)).await.unwrap().len(), 1);
    // a connection with triggers cannot be deleted
    let e = store.delete_connection(&a, c.id).await.unwrap_err();
    assert!(matches!(e, StoreError::InUse { .. }), "{e}");
    assert!(e.to_string().contains("trigger"), "{e}");
    let off = store.set_trigger_enabled(&a, t.id, false).await.unwrap();
    assert!(!off.enabled);
    assert!(!store.delete_trigger(&b, t.id).await.unwrap());
    assert!(store.delete_trigger(&a, t.id).await.unwrap());
    assert!(store.delete_connection(&a, c.id).await.unwrap());
}

async fn audit_events_are_listed_newest_first_with_filters(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let (a, _, _) = tenant(&store, "a").await;
    let (b, _, _) = tenant(&store, "b").await;
    for (i, action) in [
        "connection.create",
        "connection.delete",
        "connection.create",
    ]
    .iter()
    .enumerate()
    {
        store
            .record_audit(
                a.org,
                NewAuditEvent {
                    tenant: Some(a.tenant),
                    actor: format!("user-{i}"),
                    action: (*action).into(),
                    target_kind: Some("connection".into()),
                    target_id: Some(format!("c{i}")),
                    outcome: "success".into(),
                    details: serde_json::json!({"i": i}),
                },
            )
            .await
            .unwrap();
    }
    store
        .record_audit(
            b.org,
            NewAuditEvent {
                tenant: None,
                actor: "system".into(),
                action: "keys.rotate".into(),
                target_kind: None,
                target_id: None,
                outcome: "success".into(),
                details: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let all = store
        .list_audit(a.org, &AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].target_id.as_deref(), Some("c2"), "newest first");
    let creates = store
        .list_audit(
            a.org,
            &AuditFilter {
                action: Some("connection.create".into()),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].details["i"], 2);
    let page2 = store
        .list_audit(
            a.org,
            &AuditFilter {
                action: Some("connection.create".into()),
                offset: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page2[0].details["i"], 0);
    assert_eq!(
        store
            .list_audit(b.org, &AuditFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}
