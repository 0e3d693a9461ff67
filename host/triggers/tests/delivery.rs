//! Webhook delivery to a real loopback receiver: signatures, retries with
//! backoff on the controllable clock, dead letters and replay.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::FakePoller;
use plugboard_triggers::{
    Deliverer, DeliveryConfig, Destination, EventState, NewSubscription, Triggers, verify,
};

type WebhookEnv = (
    common::Env,
    Triggers,
    plugboard_store::TriggerId,
    String,
    Deliverer,
);

async fn webhook_env(url: &str) -> WebhookEnv {
    webhook_env_on(common::sqlite().await, url).await
}

async fn webhook_env_on(env: common::Env, url: &str) -> WebhookEnv {
    let api = Triggers::new(env.store.clone(), env.outbox.clone(), env.clock.clone())
        .with_address_policy(plugboard_runtime::AddressPolicy::allow_loopback());
    let created = api
        .create_subscription(
            &env.scope,
            NewSubscription {
                connection: env.conn,
                trigger: "new_recording".into(),
                parameters: serde_json::json!({}),
                destination: Destination::Webhook { url: url.into() },
                created_by: None,
            },
        )
        .await
        .unwrap();
    let secret = created.webhook_secret.clone().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(
        !format!("{created:?}").contains(&secret),
        "Debug redacts the secret"
    );
    let d = Deliverer::new(
        env.store.clone(),
        env.outbox.clone(),
        env.clock.clone(),
        DeliveryConfig {
            max_attempts: 3,
            base_backoff: Duration::from_secs(10),
            address_policy: plugboard_runtime::AddressPolicy::allow_loopback(),
            ..DeliveryConfig::default()
        },
    );
    (env, api, created.subscription.id, secret, d)
}

async fn poll_once(env: &common::Env, ids: &[&str]) {
    let poller = Arc::new(FakePoller::default());
    poller.add(ids);
    env.scheduler(poller).tick().await.unwrap();
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_retries_then_the_signed_event() {
    let rx = common::receiver().await;
    let (env, api, id, secret, d) = webhook_env(&rx.url).await;
    poll_once(&env, &["rec-1"]).await;

    rx.up.store(false, Ordering::SeqCst);
    assert_eq!(d.deliver_due().await.unwrap().retrying, 1);
    // Backoff: not again before 10 s, then 20 s.
    assert_eq!(d.deliver_due().await.unwrap().retrying, 0);
    env.clock.advance(Duration::from_secs(10));
    assert_eq!(d.deliver_due().await.unwrap().retrying, 1);
    rx.up.store(true, Ordering::SeqCst);
    env.clock.advance(Duration::from_secs(19));
    assert_eq!(d.deliver_due().await.unwrap().delivered, 0);
    env.clock.advance(Duration::from_secs(1));
    assert_eq!(d.deliver_due().await.unwrap().delivered, 1);

    let got = rx.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (sig, body) = &got[0];
    assert!(verify(secret.as_bytes(), sig, body), "signature {sig}");
    assert!(!verify(b"whsec_wrong", sig, body));
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["id"], "rec-1");
    assert_eq!(json["type"], "new_recording");
    let delivered = api
        .list_deliveries(&env.scope, id, Some(EventState::Delivered))
        .await
        .unwrap();
    assert_eq!((delivered.len(), delivered[0].attempts), (1, 3));
}

#[tokio::test]
async fn a_receiver_down_for_good_dead_letters_and_replay_delivers() {
    let rx = common::receiver().await;
    let (env, api, id, _secret, d) = webhook_env(&rx.url).await;
    poll_once(&env, &["rec-1", "rec-2"]).await;
    rx.up.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        d.deliver_due().await.unwrap();
        env.clock.advance(Duration::from_secs(3600));
    }
    let dead = api.list_dead_letters(&env.scope).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(dead[0].last_error.as_deref().unwrap().contains("503"));
    assert_eq!(d.deliver_due().await.unwrap(), Default::default());

    rx.up.store(true, Ordering::SeqCst);
    assert_eq!(
        api.replay(&env.scope, id, Some(dead[0].seq)).await.unwrap(),
        1
    );
    assert_eq!(d.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(api.replay(&env.scope, id, None).await.unwrap(), 1);
    assert_eq!(d.deliver_due().await.unwrap().delivered, 1);
    assert!(api.list_dead_letters(&env.scope).await.unwrap().is_empty());
    let ids: Vec<_> = rx
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, ["rec-1", "rec-2"]);
}

#[tokio::test]
async fn delivery_checks_the_address_again_after_dns_and_refuses_a_rebound_name() {
    let rx = common::receiver().await;
    // Accepted at creation (loopback allowed then); at delivery time the
    // deliverer's policy refuses what `localhost` now resolves to, as it
    // would for a name re-pointed at a private address (DNS rebinding).
    let url = rx.url.replace("127.0.0.1", "localhost");
    let (env, api, id, _secret, _) = webhook_env(&url).await;
    poll_once(&env, &["rec-1"]).await;
    let strict = Deliverer::new(
        env.store.clone(),
        env.outbox.clone(),
        env.clock.clone(),
        DeliveryConfig::default(),
    );
    assert_eq!(strict.deliver_due().await.unwrap().retrying, 1);
    assert!(rx.received.lock().unwrap().is_empty(), "nothing was sent");
    let pending = api
        .list_deliveries(&env.scope, id, Some(EventState::Pending))
        .await
        .unwrap();
    let err = pending[0].last_error.as_deref().unwrap();
    assert!(err.contains("refused") && err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn operator_webhooks_receive_dead_letter_events_signed_with_their_own_secret() {
    let rx = common::receiver().await;
    let ops = common::receiver().await;
    let (env, api, id, _secret, d) = webhook_env(&rx.url).await;
    let hook = api
        .create_operator_webhook(&env.scope, &ops.url, None)
        .await
        .unwrap();
    assert!(!format!("{hook:?}").contains(&hook.secret));
    poll_once(&env, &["rec-1"]).await;
    rx.up.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        d.deliver_due().await.unwrap();
        env.clock.advance(Duration::from_secs(3600));
    }
    // The dead letter is in the pull feed and went to the operator webhook.
    let feed = api.list_operator_events(&env.scope, 0, 100).await.unwrap();
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0].kind, "delivery.dead_letter");
    assert_eq!(feed[0].payload["subscription"], id.to_string());
    d.deliver_due().await.unwrap();
    let got = ops.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (sig, body) = &got[0];
    assert!(verify(hook.secret.as_bytes(), sig, body), "signature {sig}");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["type"], "delivery.dead_letter");
    assert_eq!(json["data"]["event_id"], "rec-1");

    // Another tenant sees neither the webhook nor its deliveries.
    let (other, _) = env.other_tenant().await;
    assert!(api.list_operator_webhooks(&other).await.unwrap().is_empty());
    assert!(
        !api.delete_operator_webhook(&other, hook.webhook.id)
            .await
            .unwrap()
    );
    assert!(
        api.delete_operator_webhook(&env.scope, hook.webhook.id)
            .await
            .unwrap()
    );
}

/// A receiver whose first request waits until released, then fails (503);
/// later requests succeed. Returns its URL, a signal that the first
/// request arrived, the release, and the request count.
async fn stalling_receiver() -> (
    String,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use axum::http::StatusCode;
    use tokio::sync::oneshot;
    type Gate = std::sync::Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>;
    let (arrived_tx, arrived_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    let gate: Arc<Gate> = Arc::new(std::sync::Mutex::new(Some((arrived_tx, release_rx))));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let count = count.clone();
            move || {
                let gate = gate.clone();
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let first = gate.lock().unwrap().take();
                    match first {
                        Some((arrived, release)) => {
                            arrived.send(()).unwrap();
                            release.await.unwrap();
                            StatusCode::SERVICE_UNAVAILABLE
                        }
                        None => StatusCode::OK,
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, arrived_rx, release_tx, count)
}

#[tokio::test]
async fn a_worker_whose_claim_expired_cannot_overwrite_the_result_of_the_replica_that_took_over() {
    late_worker_loses(common::sqlite().await).await;
}

#[tokio::test]
async fn on_postgres_a_worker_whose_claim_expired_cannot_overwrite_the_newer_result() {
    late_worker_loses(common::postgres().await).await;
}

async fn late_worker_loses(env: common::Env) {
    let (url, arrived, release, count) = stalling_receiver().await;
    let (env, api, id, _secret, slow) = webhook_env_on(env, &url).await;
    let other = Deliverer::new(
        env.store.clone(),
        env.outbox.clone(),
        env.clock.clone(),
        DeliveryConfig {
            max_attempts: 3,
            address_policy: plugboard_runtime::AddressPolicy::allow_loopback(),
            ..DeliveryConfig::default()
        },
    );
    poll_once(&env, &["rec-1"]).await;

    // The first worker sends and its receiver stalls past the claim.
    let first = tokio::spawn(async move { slow.deliver_due().await });
    arrived.await.unwrap();
    assert_eq!(other.deliver_due().await.unwrap(), Default::default());
    env.clock
        .advance(DeliveryConfig::default().timeout * 2 + Duration::from_secs(1));

    // Another replica claims the event again and delivers it.
    assert_eq!(other.deliver_due().await.unwrap().delivered, 1);

    // The first worker's failure comes back late: it must not turn the
    // delivered event back into a pending one.
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap(), Default::default());
    let delivered = api
        .list_deliveries(&env.scope, id, Some(EventState::Delivered))
        .await
        .unwrap();
    assert_eq!((delivered.len(), delivered[0].attempts), (1, 1));
    assert_eq!(delivered[0].last_error, None);
    env.clock.advance(Duration::from_secs(3600));
    assert_eq!(other.deliver_due().await.unwrap(), Default::default());
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "sent once by each worker, no more"
    );
}
