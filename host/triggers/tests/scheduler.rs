//! The scheduler against a real store (SQLite temp file; PostgreSQL for the
//! two-replica test) with a fake poller and a controllable clock: no test
//! sleeps for a period or asserts on timing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakePoller, Mode};
use plugboard_store::{ConnectionStatus, TriggerId};
use plugboard_triggers::{Destination, NewSubscription, Outbox, Scheduler, Triggers};

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

async fn subscribe(env: &common::Env, api: &Triggers) -> TriggerId {
    api.create_subscription(
        &env.scope,
        NewSubscription {
            connection: env.conn,
            trigger: "new_recording".into(),
            parameters: serde_json::json!({}),
            destination: Destination::Pull,
            created_by: None,
        },
    )
    .await
    .unwrap()
    .subscription
    .id
}

fn api(env: &common::Env) -> Triggers {
    Triggers::new(env.store.clone(), env.outbox.clone(), env.clock.clone())
        .with_address_policy(plugboard_runtime::AddressPolicy::allow_loopback())
}

async fn event_ids(env: &common::Env, api: &Triggers, id: TriggerId) -> Vec<String> {
    api.list_events(&env.scope, id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

#[tokio::test]
async fn events_are_queued_once_per_event_id_across_a_scheduler_restart() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let poller = Arc::new(FakePoller::default());
    poller.add(&["rec-1", "rec-2"]);

    let first = env.scheduler(poller.clone());
    assert_eq!(first.tick().await.unwrap().queued, 2);
    drop(first);

    // "Restart": new store handle, outbox and scheduler on the same file.
    let store = common::open_store(&env.dir, &env.database).await;
    let outbox = Outbox::new(&store);
    let second = Arc::new(Scheduler::new(
        store,
        outbox,
        poller.clone(),
        env.clock.clone(),
        env.config("b"),
    ));
    poller.add(&["rec-3"]);
    // Not due yet: nothing polled.
    env.clock.advance(mins(2));
    assert_eq!(second.tick().await.unwrap().polled, 0);
    env.clock.advance(mins(4));
    let r = second.tick().await.unwrap();
    assert_eq!((r.polled, r.queued), (1, 1));
    assert_eq!(event_ids(&env, &api, id).await, ["rec-1", "rec-2", "rec-3"]);
    assert_eq!(poller.calls(id), 2);
}

#[tokio::test]
async fn a_crash_between_queueing_and_saving_the_cursor_loses_nothing() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let poller = Arc::new(FakePoller::default());
    poller.add(&["rec-1", "rec-2"]);

    // Dies right after the events are queued, before the cursor is saved.
    let crashing = Arc::new(
        Scheduler::new(
            env.store.clone(),
            env.outbox.clone(),
            poller.clone(),
            env.clock.clone(),
            env.config("a"),
        )
        .with_failpoint(Arc::new(|_| true)),
    );
    crashing.tick().await.unwrap();
    drop(crashing);
    let t = env
        .store
        .get_trigger(&env.scope, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.cursor, None, "the cursor was not saved");
    // The poll lease is released; the lease would also expire on a real crash.

    poller.add(&["rec-3"]);
    let restarted = env.scheduler(poller.clone());
    let r = restarted.tick().await.unwrap();
    assert_eq!(r.polled, 1, "still due: its cursor was never saved");
    // The repeat poll saw rec-1 and rec-2 again; the outbox kept one of each.
    assert_eq!(poller.cursors_seen.lock().unwrap().as_slice(), [None, None]);
    assert_eq!(event_ids(&env, &api, id).await, ["rec-1", "rec-2", "rec-3"]);
    let t = env
        .store
        .get_trigger(&env.scope, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.cursor.as_deref(), Some("3"));
}

#[tokio::test]
async fn a_polling_frequency_change_takes_effect_at_the_next_tick() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let poller = Arc::new(FakePoller::default());
    let s = env.scheduler(poller.clone());
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 1);

    // At 5 minutes (plus jitter up to 30 s), 2 minutes in is not due.
    env.clock.advance(mins(2));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 1);

    // Edited to 1 minute: the very next tick polls, no restart.
    env.set_frequency(60).await;
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 2);
    env.clock.advance(Duration::from_secs(30));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 2, "within the new minute");
    env.clock.advance(Duration::from_secs(37));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 3);

    // Below the minimum is clamped to one minute.
    env.set_frequency(5).await;
    env.clock.advance(Duration::from_secs(30));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 3);
}

#[tokio::test]
async fn failing_polls_back_off_exponentially_and_recover() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    env.set_frequency(60).await;
    let poller = Arc::new(FakePoller::default());
    poller.set_mode(Mode::Failing);
    let s = env.scheduler(poller.clone());
    let r = s.tick().await.unwrap();
    assert_eq!((r.polled, r.failed), (1, 1));
    let t = env
        .store
        .get_trigger(&env.scope, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.last_error.as_deref(), Some("provider answered 500"));

    // First backoff 30 s, then 60 s.
    env.clock.advance(Duration::from_secs(29));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 1);
    env.clock.advance(Duration::from_secs(1));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 2);
    env.clock.advance(Duration::from_secs(59));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 2);
    env.clock.advance(Duration::from_secs(1));
    poller.set_mode(Mode::Ok);
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 3);
    let t = env
        .store
        .get_trigger(&env.scope, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.last_error, None);
}

#[tokio::test]
async fn an_unauthorized_poll_disconnects_pauses_and_a_reconnect_resumes_with_operator_events() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let poller = Arc::new(FakePoller::default());
    poller.set_mode(Mode::Unauthorized("Invalid access token.".into()));
    let s = env.scheduler(poller.clone());
    s.tick().await.unwrap();

    let c = env
        .store
        .get_connection(&env.scope, env.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, ConnectionStatus::Disconnected);
    assert_eq!(c.provider_error.as_deref(), Some("Invalid access token."));
    let ops = api.list_operator_events(&env.scope, 0, 100).await.unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, "connection.disconnected");
    assert_eq!(ops[0].payload["provider_error"], "Invalid access token.");

    // Paused: however long we wait, no poll, no second operator event.
    poller.set_mode(Mode::Ok);
    env.clock.advance(mins(60));
    let r = s.tick().await.unwrap();
    assert_eq!((r.polled, r.paused_by_connection), (0, 1));
    assert_eq!(poller.calls(id), 1);
    assert_eq!(
        api.list_operator_events(&env.scope, 0, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // The user reconnects (the auth flow sets Connected): polling resumes.
    env.store
        .set_connection_status(
            &env.scope,
            env.conn,
            ConnectionStatus::Connected,
            None,
            None,
        )
        .await
        .unwrap();
    let r = s.tick().await.unwrap();
    assert_eq!(r.polled, 1);
    let ops = api.list_operator_events(&env.scope, 0, 100).await.unwrap();
    let kinds: Vec<_> = ops.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["connection.disconnected", "connection.reconnected"]);
    s.tick().await.unwrap();
    assert_eq!(
        api.list_operator_events(&env.scope, 0, 100)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn paused_subscriptions_are_not_polled_and_resume_polls_them_again() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let poller = Arc::new(FakePoller::default());
    let s = env.scheduler(poller.clone());
    api.pause(&env.scope, id).await.unwrap();
    env.clock.advance(mins(10));
    assert_eq!(s.tick().await.unwrap().considered, 0);
    assert!(!api.get_subscription(&env.scope, id).await.unwrap().enabled);
    api.resume(&env.scope, id).await.unwrap();
    env.clock.advance(mins(1));
    s.tick().await.unwrap();
    assert_eq!(poller.calls(id), 1);
}

#[tokio::test]
async fn subscriptions_block_deleting_their_connection_and_other_tenants_see_nothing() {
    let env = common::sqlite().await;
    let api = api(&env);
    let id = subscribe(&env, &api).await;
    let refs = api.references(&env.scope, env.conn).await.unwrap();
    assert_eq!(refs.iter().map(|s| s.id).collect::<Vec<_>>(), [id]);

    let (other, other_conn) = env.other_tenant().await;
    assert!(
        api.list_subscriptions(&other, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(api.get_subscription(&other, id).await.is_err());
    assert!(api.pause(&other, id).await.is_err());
    assert!(api.list_events(&other, id, 0, 10).await.is_err());
    assert!(!api.delete_subscription(&other, id).await.unwrap());
    // A subscription on another tenant's connection is refused.
    let err = api
        .create_subscription(
            &env.scope,
            NewSubscription {
                connection: other_conn,
                trigger: "new_recording".into(),
                parameters: serde_json::json!({}),
                destination: Destination::Pull,
                created_by: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    assert!(api.delete_subscription(&env.scope, id).await.unwrap());
    assert!(
        api.references(&env.scope, env.conn)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn two_schedulers_on_postgres_never_poll_a_subscription_twice_in_one_period() {
    let env = common::postgres().await;
    let api = api(&env);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(subscribe(&env, &api).await);
    }
    let poller = Arc::new(FakePoller::default());
    poller.slow.store(true, std::sync::atomic::Ordering::SeqCst);
    poller.add(&["rec-1"]);
    let replica = |name: &str| {
        Arc::new(Scheduler::new(
            env.store.clone(),
            Outbox::clone(&env.outbox),
            poller.clone(),
            env.clock.clone(),
            env.config(name),
        ))
    };
    let (a, b) = (replica("a"), replica("b"));
    for period in 1..=3 {
        // Both replicas tick at the same time, several times in the period.
        for _ in 0..3 {
            let (ra, rb) = tokio::join!(a.tick(), b.tick());
            ra.unwrap();
            rb.unwrap();
        }
        for id in &ids {
            assert_eq!(
                poller.calls(*id),
                period,
                "subscription {id} in period {period}"
            );
        }
        env.clock.advance(mins(6));
    }
    for id in &ids {
        assert_eq!(event_ids(&env, &api, *id).await, ["rec-1"]);
    }
}
