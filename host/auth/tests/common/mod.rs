//! Set-up shared by the auth tests: a real store (SQLite in a temp dir),
//! a tenant with a folder, connections, and the manifests' auth methods
//! pointing at the fake Zoom or oidc-provider.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugboard_auth::{
    AppCredentials, AuthFlows, BeginAuthorization, ClientChoice, CompletedAuthorization,
    ConnectionRef, FlowSettings, ManagerSettings, ManualClock, OAuthHttp, OperatorApps,
    TokenManager,
};
use plugboard_manifest::{AuthKind, AuthMethod, ClientAuth, OAuth2Settings};
use plugboard_store::{Connection, FolderId, NewConnection, Scope, Store};
use plugboard_test_support::browser::{Consent, authorize_with_zoom};
use plugboard_test_support::{FakeZoom, TEST_PUBLIC_BASE, test_redirect_uri};
use tempfile::TempDir;
use url::Url;

pub struct Env {
    pub dir: TempDir,
    pub store: Store,
    pub scope: Scope,
    pub folder: FolderId,
    pub clock: Arc<ManualClock>,
}

impl Env {
    pub async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path(), None).await.unwrap();
        Env::with_store(dir, store).await
    }

    pub async fn with_store(dir: TempDir, store: Store) -> Env {
        let org = store.create_organization("Acme").await.unwrap();
        let tenant = store.create_tenant(org.id, "default").await.unwrap();
        let scope = tenant.scope();
        let user = store
            .create_user(org.id, "alice", "Alice", None)
            .await
            .unwrap();
        let folder = store.personal_folder(&scope, user.id).await.unwrap();
        Env {
            dir,
            store,
            scope,
            folder: folder.id,
            clock: Arc::new(ManualClock::new()),
        }
    }

    /// Another `Store` on the same database: what a second replica sees.
    pub async fn second_replica(&self) -> Store {
        Store::open_data_dir(self.dir.path(), None).await.unwrap()
    }

    pub async fn new_connection(&self, connector: &str, kind: AuthKind) -> ConnectionRef {
        let c = self
            .store
            .create_connection(
                &self.scope,
                NewConnection::new(self.folder, connector, kind.as_str(), connector),
            )
            .await
            .unwrap();
        ConnectionRef {
            scope: self.scope,
            connection: c.id,
        }
    }

    pub async fn connection(&self, conn: ConnectionRef) -> Connection {
        self.store
            .get_connection(&conn.scope, conn.connection)
            .await
            .unwrap()
            .unwrap()
    }

    pub fn flows(&self, apps: &Arc<OperatorApps>) -> AuthFlows {
        AuthFlows::new(
            self.store.clone(),
            OAuthHttp::new(Duration::from_secs(5)),
            apps.clone(),
            self.clock.clone(),
            FlowSettings::new(Url::parse(TEST_PUBLIC_BASE).unwrap()),
        )
    }

    pub fn manager(&self, apps: &Arc<OperatorApps>) -> TokenManager {
        self.manager_on(
            self.store.clone(),
            apps,
            fast_settings(),
            Duration::from_secs(5),
        )
    }

    pub fn manager_on(
        &self,
        store: Store,
        apps: &Arc<OperatorApps>,
        settings: ManagerSettings,
        timeout: Duration,
    ) -> TokenManager {
        TokenManager::new(
            store,
            OAuthHttp::new(timeout),
            apps.clone(),
            self.clock.clone(),
            settings,
        )
    }
}

/// Production logic, test-sized waits.
pub fn fast_settings() -> ManagerSettings {
    ManagerSettings {
        lease_poll: Duration::from_millis(10),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(2),
        ..ManagerSettings::default()
    }
}

pub fn zoom_apps() -> Arc<OperatorApps> {
    let mut apps = OperatorApps::new();
    apps.insert(
        "zoom",
        AppCredentials {
            client_id: FakeZoom::CLIENT_ID.into(),
            client_secret: FakeZoom::CLIENT_SECRET.into(),
        },
    );
    Arc::new(apps)
}

/// The Zoom connector's auth method, endpoints filled from config
/// (`{zoom_base}`), as a manifest would declare it.
pub fn zoom_method(kind: AuthKind) -> AuthMethod {
    AuthMethod {
        kind,
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

pub fn zoom_config(zoom: &FakeZoom) -> BTreeMap<String, String> {
    BTreeMap::from([("zoom_base".to_string(), zoom.base_url())])
}

pub fn begin<'a>(
    conn: ConnectionRef,
    connector_id: &'a str,
    method: &'a AuthMethod,
    config: &'a BTreeMap<String, String>,
    client: ClientChoice,
) -> BeginAuthorization<'a> {
    BeginAuthorization {
        conn,
        connector_id,
        method,
        config,
        client,
        scopes: None,
        issuer: None,
        created_by: None,
        reconnect: false,
    }
}

pub fn callback_params(url: &Url) -> plugboard_auth::CallbackParams {
    assert!(
        url.as_str().starts_with(&test_redirect_uri()),
        "redirected to {url}, not to the callback"
    );
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    plugboard_auth::CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        error: q.get("error").cloned(),
        error_description: q.get("error_description").cloned(),
        iss: q.get("iss").cloned(),
    }
}

/// A new authorization-code connection to `connector`, and the provider
/// URL its flow starts at (with the operator's app).
pub async fn start_operator_flow(
    env: &Env,
    flows: &AuthFlows,
    connector: &str,
    method: &AuthMethod,
    config: &BTreeMap<String, String>,
) -> (ConnectionRef, Url) {
    let conn = env
        .new_connection(connector, AuthKind::Oauth2AuthorizationCode)
        .await;
    let url = flows
        .begin_authorization(begin(
            conn,
            connector,
            method,
            config,
            ClientChoice::Operator,
        ))
        .await
        .unwrap();
    (conn, url)
}

/// The user allows the authorization at the fake Zoom: the callback's
/// parameters.
pub async fn allow_at_zoom(url: &Url) -> plugboard_auth::CallbackParams {
    let callback = authorize_with_zoom(url, &test_redirect_uri(), Consent::Allow)
        .await
        .unwrap();
    callback_params(&callback)
}

/// Connect a new Zoom connection through the whole authorization-code flow
/// and install its credential.
pub async fn connect_zoom(
    env: &Env,
    zoom: &FakeZoom,
    apps: &Arc<OperatorApps>,
) -> (ConnectionRef, CompletedAuthorization) {
    let method = zoom_method(AuthKind::Oauth2AuthorizationCode);
    let config = zoom_config(zoom);
    let flows = env.flows(apps);
    let (conn, url) = start_operator_flow(env, &flows, "zoom", &method, &config).await;
    let done = flows
        .complete_authorization(&allow_at_zoom(&url).await)
        .await
        .unwrap();
    env.manager(apps)
        .install(conn, &done.credential)
        .await
        .unwrap();
    (conn, done)
}

/// `GET /v2/users/me` with `token`: (status, JSON body).
pub async fn zoom_me(zoom: &FakeZoom, token: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/users/me", zoom.api_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}
