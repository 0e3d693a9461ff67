//! The real Zoom connector in the runtime, polled by the scheduler against
//! the fake Zoom on loopback (loopback egress explicitly allowed), with the
//! credential from a real authorization-code flow in the token manager.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugboard_auth::{
    AppCredentials, AuthFlows, BeginAuthorization, ClientChoice, ConnectionRef, FlowSettings,
    ManagerSettings, OAuthHttp, OperatorApps, TokenManager,
};
use plugboard_manifest::{AuthKind, AuthMethod, ClientAuth, OAuth2Settings};
use plugboard_runtime::{AddressPolicy, Runtime, RuntimeConfig};
use plugboard_test_support::Recording;
use plugboard_test_support::browser::{Consent, authorize_with_zoom};
use plugboard_test_support::{FakeZoom, TEST_PUBLIC_BASE, test_redirect_uri};
use plugboard_triggers::{
    Destination, NewSubscription, Outbox, RuntimePoller, Scheduler, TokenManagerServices, Triggers,
};
use url::Url;

fn zoom_method() -> AuthMethod {
    AuthMethod {
        kind: AuthKind::Oauth2AuthorizationCode,
        label: "Zoom".into(),
        oauth2: Some(OAuth2Settings {
            authorize_url: Some("{zoom_base}/oauth/authorize".into()),
            token_url: "{zoom_base}/oauth/token".into(),
            revoke_url: Some("{zoom_base}/oauth/revoke".into()),
            pkce: true,
            client_auth: ClientAuth::Basic,
            scope_separator: ",".into(),
            extra_authorize_params: vec![],
        }),
        token_placement: None,
        scopes_offered: vec![],
        scopes_default: vec![
            "meeting:write".into(),
            "recording:read".into(),
            "user_info:read".into(),
        ],
    }
}

async fn connect(
    env: &common::Env,
    zoom: &FakeZoom,
    apps: &Arc<OperatorApps>,
    tokens: &TokenManager,
) {
    let conn = ConnectionRef {
        scope: env.scope,
        connection: env.conn,
    };
    let clock = Arc::new(plugboard_auth::ManualClock::new());
    let flows = AuthFlows::new(
        env.store.clone(),
        OAuthHttp::new(Duration::from_secs(5)),
        apps.clone(),
        clock,
        FlowSettings::new(Url::parse(TEST_PUBLIC_BASE).unwrap()),
    );
    let method = zoom_method();
    let config = BTreeMap::from([("zoom_base".to_string(), zoom.base_url())]);
    let url = flows
        .begin_authorization(BeginAuthorization {
            conn,
            connector_id: "zoom",
            method: &method,
            config: &config,
            client: ClientChoice::Operator,
            scopes: None,
            issuer: None,
            created_by: None,
            reconnect: false,
        })
        .await
        .unwrap();
    let callback = authorize_with_zoom(&url, &test_redirect_uri(), Consent::Allow)
        .await
        .unwrap();
    assert!(callback.as_str().starts_with(&test_redirect_uri()));
    let q: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    let done = flows
        .complete_authorization(&plugboard_auth::CallbackParams {
            code: q.get("code").cloned(),
            state: q.get("state").cloned(),
            error: q.get("error").cloned(),
            error_description: q.get("error_description").cloned(),
            iss: q.get("iss").cloned(),
        })
        .await
        .unwrap();
    tokens.install(conn, &done.credential).await.unwrap();
    env.store
        .set_connection_account(
            &env.scope,
            env.conn,
            Some("zu-alice"),
            Some("alice@example.com"),
            &[
                "meeting:write".into(),
                "recording:read".into(),
                "user_info:read".into(),
            ],
        )
        .await
        .unwrap();
}

fn recording(id: u64) -> Recording {
    Recording {
        meeting_id: id,
        topic: format!("meeting {id}"),
        start_time: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    }
}

#[tokio::test]
async fn zoom_new_recordings_are_events_once_per_id_across_a_scheduler_restart() {
    let zoom = FakeZoom::start().await;
    let env = common::sqlite().await;
    let mut apps = OperatorApps::new();
    apps.insert(
        "zoom",
        AppCredentials {
            client_id: FakeZoom::CLIENT_ID.into(),
            client_secret: FakeZoom::CLIENT_SECRET.into(),
        },
    );
    let apps = Arc::new(apps);
    let tokens = TokenManager::new(
        env.store.clone(),
        OAuthHttp::new(Duration::from_secs(5)),
        apps.clone(),
        Arc::new(plugboard_auth::ManualClock::new()),
        ManagerSettings::default(),
    );
    connect(&env, &zoom, &apps, &tokens).await;

    let runtime = Runtime::new(RuntimeConfig {
        address_policy: AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = plugboard_connectors::bundled_by_id("zoom").unwrap().wasm;
    let connector = runtime.load(wasm).await.unwrap();
    let poller = Arc::new(RuntimePoller::new(
        [connector],
        TokenManagerServices::factory(env.store.clone(), tokens.clone(), Some(zoom.api_url())),
    ));
    let api = Triggers::new(env.store.clone(), env.outbox.clone(), env.clock.clone())
        .with_address_policy(plugboard_runtime::AddressPolicy::allow_loopback());
    let id = api
        .create_subscription(
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
        .id;
    let scheduler = |outbox: Outbox, store| {
        Arc::new(Scheduler::new(
            store,
            outbox,
            poller.clone(),
            env.clock.clone(),
            env.config("zoom"),
        ))
    };

    zoom.add_recordings("alice@example.com", [recording(1)]);
    let first = scheduler(env.outbox.clone(), env.store.clone());
    let r = first.tick().await.unwrap();
    assert_eq!((r.polled, r.failed), (1, 0), "{r:?}");
    // The first poll sets the baseline: recordings from before are not news.
    assert!(
        api.list_events(&env.scope, id, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    zoom.add_recordings("alice@example.com", [recording(2)]);
    env.clock.advance(Duration::from_secs(331));
    assert_eq!(first.tick().await.unwrap().queued, 1);
    drop(first);

    // Restart between polls.
    let store = common::open_store(&env.dir, &env.database).await;
    let second = scheduler(Outbox::new(&store), store);
    zoom.add_recordings("alice@example.com", [recording(3)]);
    env.clock.advance(Duration::from_secs(331));
    assert_eq!(second.tick().await.unwrap().queued, 1);
    env.clock.advance(Duration::from_secs(331));
    assert_eq!(second.tick().await.unwrap().queued, 0);

    let events = api.list_events(&env.scope, id, 0, 100).await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids, unique);
    assert_eq!(events[0].kind, "new_recording");
}
