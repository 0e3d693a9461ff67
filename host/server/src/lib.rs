//! `plugboard serve`: the REST API over connections, connectors and folders.
//!
//! This crate owns HTTP (axum), request identity, the rules of connections
//! (seeds 000–002) and the glue between the runtime, auth and the store. It
//! never logs a secret or returns one in a response: credentials go from
//! the request straight into the repository's secret slots.
//!
//! Layout: one module per resource (`connections`, `connectors`, `folders`,
//! `oauth_apps`, `tokens`), each with its routes, request/response types and OpenAPI
//! annotations; `oauth` runs the OAuth flows of connections and serves
//! `/provisioning_/callback`; `services` hands a connection's credential
//! (through the token manager) to the runtime; `session` signs console users
//! in; `console` serves the web console's static files; `system` holds health,
//! readiness and the OpenAPI document.

pub mod config;
pub mod connections;
pub mod connectors;
pub mod console;
pub mod edge;
pub mod error;
pub mod etag;
pub mod external_apps;
pub mod folders;
pub mod identity;
pub mod model;
pub mod oauth;
pub mod oauth_apps;
pub mod repo;
pub mod services;
pub mod session;
mod system;
pub mod tokens;
pub mod triggers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use http::{HeaderName, Request};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use url::Url;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use config::{Config, Overrides};
use repo::Repo;
use system::BearerAuth;

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Config,
    pub repo: Arc<dyn Repo>,
    pub registry: connectors::Registry,
    /// The database and vault (SQLite file + root key in the data directory
    /// by default). `repo` is the server's model over this same store; the
    /// token manager, triggers and identity use it directly.
    pub store: plugboard_store::Store,
    pub public_url: Url,
    pub redirect_uri: Url,
    /// OAuth flows (authorize URL, callback, client credentials, password
    /// grant) over the same store.
    pub flows: plugboard_auth::AuthFlows,
    /// Every OAuth credential's access token, refreshed single-flight;
    /// revocation; reconnect-required marking.
    pub tokens: plugboard_auth::TokenManager,
    /// Trigger subscriptions, the pull API and operator webhooks.
    pub triggers: plugboard_triggers::Triggers,
}

/// Record an audit event; a failure to record is logged, not fatal.
pub async fn audit(state: &AppState, caller: &identity::Caller, action: &str, target: &str) {
    let event = model::AuditEvent {
        at: time::OffsetDateTime::now_utc(),
        actor: caller.user_id,
        tenant_id: caller.tenant_id,
        action: action.to_string(),
        target: target.to_string(),
        source: caller.1.source.clone(),
        request_id: caller.1.request_id.clone(),
    };
    tracing::info!(action, target, actor = %caller.user_id, tenant = %caller.tenant_id, "audit");
    if let Err(e) = state.repo.audit(event).await {
        tracing::warn!(error = %e, action, "could not record audit event");
    }
}

/// The runtime configuration derived from the server's.
pub fn runtime_config(config: &Config) -> plugboard_runtime::RuntimeConfig {
    let l = &config.limits;
    let limits = plugboard_runtime::CallLimits {
        max_memory_bytes: (l.memory_mib as usize).saturating_mul(1 << 20),
        cpu_time: Duration::from_millis(l.cpu_ms),
        wall_time: Duration::from_millis(l.call_timeout_ms),
        max_http_calls: l.http_calls,
        max_http_response_bytes: l.response_bytes,
        ..Default::default()
    };
    plugboard_runtime::RuntimeConfig {
        cache_dir: Some(config.data_dir.join("component-cache")),
        limits,
        max_concurrent_instances: l.max_instances.max(1),
        concurrency: plugboard_runtime::ConcurrencyLimits {
            per_tenant: l.tenant_calls,
            per_connection: l.connection_calls,
        },
        address_policy: plugboard_runtime::AddressPolicy {
            allow_loopback: config.egress.allow_loopback,
            allow_private: config.egress.allow_private,
        },
        ..Default::default()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The OpenAPI document's fixed parts; paths are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plugboard API",
        description = "Connections to third-party APIs through sandboxed connector plugins."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health, readiness, this document"),
        (name = "connections", description = "Connections in folders: the whole lifecycle, and invoking operations"),
        (name = "connectors", description = "Bundled and uploaded connectors"),
        (name = "folders", description = "Folders, identity, organization settings, audit"),
        (name = "tokens", description = "Your API tokens: list, create, revoke"),
        (name = "triggers", description = "Trigger subscriptions, the pull API, deliveries, dead letters, operator events")
    )
)]
struct ApiDoc;

/// The router with every route, and the OpenAPI document built from them.
pub fn router(state: AppState) -> Router {
    let (api_routes, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::routes())
        .merge(connections::routes())
        .merge(connectors::routes(state.config.limits.component_bytes))
        .merge(folders::routes())
        .merge(session::routes())
        .merge(oauth::routes())
        .merge(oauth_apps::routes())
        .merge(external_apps::routes())
        .merge(tokens::routes())
        .merge(triggers::routes())
        .split_for_parts();
    // The identity and OData routes (merged below) document themselves.
    api.merge(plugboard_identity::openapi());
    utoipa::Modify::modify(&system::CommonErrors, &mut api);
    utoipa::Modify::modify(&system::SessionAlternative, &mut api);

    // The identity and management APIs of seeds 003/004 own their paths
    // (`/identity/...`, `/odata/...`) and their own token scheme.
    let identity =
        plugboard_identity::router(plugboard_identity::IdentityState::new(state.store.clone()));
    let body_limit = state.config.limits.request_body_bytes;
    let request_id_header = REQUEST_ID;
    api_routes
        .with_state(state)
        .layer(axum::middleware::from_fn(error::json_errors))
        .merge(identity)
        .merge(console::routes())
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", api))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            // Spans carry method, path (never the query: OAuth callbacks put
            // the authorization code there) and the request id. Headers are
            // never recorded.
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(&request_id_header)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(|res: &http::Response<_>, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_millis() as u64,
                        "response"
                    );
                }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// A server that is listening.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    /// `http://127.0.0.1:<port>/` or the configured public URL.
    pub public_url: Url,
    /// Where the first admin's token is (written on first start only).
    pub admin_token_file: PathBuf,
    /// Whether this start created the first admin.
    pub first_start: bool,
    pub state: AppState,
    /// The trigger scheduler and deliverer running in the background.
    pub triggers: triggers::TriggerTasks,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The base URL of the API on the bound address, e.g. `http://127.0.0.1:4321`.
    pub fn local_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Create a new tenant with an admin user; returns the admin's token.
    ///
    /// # Errors
    /// The repository failed.
    pub async fn create_tenant(&self, name: &str) -> anyhow::Result<(repo::Bootstrap, String)> {
        Ok(identity::create_tenant(self.state.repo.as_ref(), name).await?)
    }

    /// Create a user in a tenant; returns their token.
    ///
    /// # Errors
    /// The repository failed or the tenant is unknown.
    pub async fn create_user(
        &self,
        tenant: model::TenantId,
        name: &str,
        is_admin: bool,
    ) -> anyhow::Result<(repo::Bootstrap, String)> {
        Ok(identity::create_user(self.state.repo.as_ref(), tenant, name, is_admin).await?)
    }

    /// Stop accepting, finish in-flight requests, return.
    ///
    /// # Errors
    /// The server task failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await??;
        self.triggers.stop().await;
        self.state.store.close().await;
        Ok(())
    }

    /// Run until SIGINT/SIGTERM, then shut down gracefully.
    ///
    /// # Errors
    /// The server task failed.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        self.shutdown().await
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Prepare the data directory, open persistence, create the first admin if
/// needed, bind, and start serving in the background.
///
/// # Errors
/// The data directory, database or listen address is unusable; the error
/// says which.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    start_with_triggers(config, triggers::TriggerOptions::default()).await
}

/// [`start`] with the trigger scheduler's clock and tick (tests pass a
/// manual clock and drive the passes themselves).
///
/// # Errors
/// As [`start`].
pub async fn start_with_triggers(
    config: Config,
    trigger_options: triggers::TriggerOptions,
) -> anyhow::Result<RunningServer> {
    use anyhow::Context as _;
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory `{}`",
            config.data_dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let store = plugboard_store::Store::open_data_dir(&config.data_dir, Some(&config.database_url))
        .await
        .with_context(|| {
            format!(
                "opening the database `{}`",
                config::redact_url(&config.database_url)
            )
        })?;
    store.set_token_cache_ttl(Duration::from_millis(config.token_cache_ms));
    store.set_connection_cache_ttl(Duration::from_millis(config.connection_cache_ms));
    let repo: Arc<dyn Repo> = Arc::new(repo::store::StoreRepo::new(store.clone()));
    let first = identity::ensure_first_admin(repo.as_ref(), &config.data_dir).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let public_url = config.public_url_for(local_addr);
    let redirect_uri = config.redirect_uri_for(local_addr);

    let (flows, tokens) = oauth::auth_services(&config, &store, &public_url);

    let mut runtime_config = runtime_config(&config);
    if let Some(path) = &config.egress.ca_file {
        runtime_config.extra_ca_pem = Some(std::fs::read(path).with_context(|| {
            format!(
                "cannot read the egress CA file `{}` (egress.ca_file)",
                path.display()
            )
        })?);
    }
    let runtime = plugboard_runtime::Runtime::new(runtime_config)
        .map_err(|e| anyhow::anyhow!("starting the connector runtime: {e}"))?;
    let registry = connectors::Registry::new(runtime).await?;
    for c in repo.components(None).await? {
        match registry
            .runtime
            .load_named(Some(&c.connector_id), &c.bytes)
            .await
        {
            Ok(loaded) => registry.insert_custom(
                c.tenant_id,
                connectors::ConnectorEntry {
                    loaded,
                    source: connectors::ConnectorSource::Custom,
                    content_hash: c.content_hash.clone(),
                },
            ),
            Err(e) => {
                tracing::warn!(connector = %c.connector_id, error = %e, "uploaded connector no longer loads; skipped")
            }
        }
    }

    let trigger_api = triggers::api(&store, &config, trigger_options.clock.clone());
    let state = AppState {
        inner: Arc::new(Inner {
            config,
            repo,
            registry,
            store,
            public_url: public_url.clone(),
            redirect_uri,
            flows,
            tokens,
            triggers: trigger_api,
        }),
    };
    let trigger_tasks = triggers::start(&state, trigger_options);
    let app = router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let (edge_limits, descriptor_limit) = state.config.edge.limits().fit_to_descriptor_limit();
    if let Some(limit) = descriptor_limit {
        tracing::warn!(
            max_connections = edge_limits.max_connections,
            open_files_limit = limit,
            "the connection cap was lowered to fit the open-files limit; raise `ulimit -n` to allow more"
        );
    }
    let task = tokio::spawn(edge::serve(listener, app, edge_limits, async {
        let _ = rx.await;
    }));
    Ok(RunningServer {
        local_addr,
        public_url,
        admin_token_file: first.token_file,
        first_start: first.created,
        state,
        triggers: trigger_tasks,
        shutdown: Some(tx),
        task,
    })
}
