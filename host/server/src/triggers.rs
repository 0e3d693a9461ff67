//! Trigger subscriptions over REST (`/api/v1/triggers`): create, list,
//! get, pause, resume, delete; the pull API (events since a cursor),
//! deliveries, dead letters, replay; the tenant's operator events and
//! operator webhooks. Also the glue that runs `plugboard-triggers` inside
//! `plugboard serve`: the poller builds each poll's services with the
//! server's own [`crate::services::for_connection`], and the scheduler and
//! deliverer start with the server and stop on graceful shutdown.
//!
//! Rules kept here:
//! - a subscription is visible exactly when its connection is (its folder,
//!   see [`visible_connection`]); anything else is 404, across tenants too;
//! - operator events and operator webhooks are for tenant administrators;
//! - a webhook secret is returned once, at creation, and never logged;
//! - every change is audited.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use plugboard_runtime::{CallContext, ConnectionServices};
use plugboard_store as st;
use plugboard_triggers::{
    Clock, Deliverer, DeliveryConfig, Destination, EventRecord, EventState, NewSubscription,
    PollError, RuntimePoller, Scheduler, SchedulerConfig, SchedulerHandle, ServicesFactory,
    Subscription, TriggerError, Triggers,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::connections::{call_context, connection_not_found, parse_id, visible_connection};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::identity::Caller;
use crate::model::{ConnectionId, Reference, TenantId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(get_subscription, delete_subscription))
        .routes(routes!(pause_subscription))
        .routes(routes!(resume_subscription))
        .routes(routes!(list_events))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay))
        .routes(routes!(list_dead_letters))
        .routes(routes!(list_operator_events))
        .routes(routes!(list_operator_webhooks, create_operator_webhook))
        .routes(routes!(delete_operator_webhook))
}

// ---------------------------------------------------------------------------
// Types

/// Where a subscription's events go.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationView {
    /// Signed HTTP POST to `url` (http or https; public addresses unless
    /// the operator allows loopback / private egress).
    Webhook { url: String },
    /// Kept for `GET /api/v1/triggers/{id}/events`.
    Pull,
}

impl From<&Destination> for DestinationView {
    fn from(d: &Destination) -> Self {
        match d {
            Destination::Webhook { url } => DestinationView::Webhook { url: url.clone() },
            Destination::Pull => DestinationView::Pull,
        }
    }
}

/// A subscription: a connector trigger polled through a connection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: st::TriggerId,
    pub connection_id: ConnectionId,
    /// The connector's trigger, e.g. `new_recording`.
    pub trigger: String,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub destination: DestinationView,
    /// Not paused by a user. A subscription of a Disconnected connection
    /// is not polled either, until the connection is reconnected.
    pub enabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_polled_at: Option<time::OffsetDateTime>,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        SubscriptionView {
            id: s.id,
            connection_id: ConnectionId(s.connection.0),
            trigger: s.trigger.clone(),
            parameters: s.parameters.clone(),
            destination: DestinationView::from(&s.destination),
            enabled: s.enabled,
            last_polled_at: s.last_polled_at,
            last_error: s.last_error.clone(),
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    pub connection_id: ConnectionId,
    /// A trigger the connection's connector declares.
    pub trigger: String,
    /// Passed to every poll.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub destination: DestinationView,
}

// No `Debug`: it carries the webhook secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedSubscriptionView {
    pub subscription: SubscriptionView,
    /// For a webhook: the signing secret (`whsec_…`). Shown this once;
    /// keep it to verify the `Plugboard-Signature` header.
    pub webhook_secret: Option<String>,
}

/// A queued event and its delivery record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the outbox: pass it as `since` to read what follows.
    pub seq: i64,
    /// Subscription id (or `operator`, `operator-webhook:<id>`).
    pub subscription: String,
    /// Stable id receivers dedupe on.
    pub event_id: String,
    /// Trigger name or operator event type.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `delivered`, `dead` or `pull`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        EventView {
            seq: e.seq,
            subscription: e.subscription.clone(),
            event_id: e.event_id.clone(),
            kind: e.kind.clone(),
            payload: e.payload.clone(),
            state: serde_json::to_value(e.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            created_at: e.created_at,
            next_attempt_at: e.next_attempt_at,
            delivered_at: e.delivered_at,
        }
    }
}

fn events(list: &[EventRecord]) -> Json<Vec<EventView>> {
    Json(list.iter().map(EventView::from).collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this connection's subscriptions.
    pub connection_id: Option<ConnectionId>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Return events after this `seq` (0 or absent: from the start).
    pub since: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered`, `dead` or `pull`.
    pub state: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Replay only this dead letter; absent: all of the subscription's.
    pub seq: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplayResult {
    /// Dead letters put back in the queue.
    pub replayed: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorWebhook {
    /// Receiver of the tenant's operator events.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperatorWebhookView {
    #[schema(value_type = String, format = Uuid)]
    pub id: st::OperatorWebhookId,
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

impl From<&st::OperatorWebhook> for OperatorWebhookView {
    fn from(w: &st::OperatorWebhook) -> Self {
        OperatorWebhookView {
            id: w.id,
            url: w.url.clone(),
            created_at: w.created_at,
        }
    }
}

// No `Debug`: it carries the webhook secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedOperatorWebhookView {
    pub webhook: OperatorWebhookView,
    /// The signing secret, shown this once.
    pub secret: String,
}

// ---------------------------------------------------------------------------
// Helpers

fn subscription_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(
        "subscription_not_found",
        format!(
            "no trigger subscription `{id}` in your folders; `GET /api/v1/triggers` lists them"
        ),
    )
}

/// A [`TriggerError`] as an HTTP error; `Store`/`Outbox` failures are ours.
fn trigger_error(e: TriggerError) -> ApiError {
    match e {
        TriggerError::Invalid { what, reason } => {
            ApiError::bad_request("invalid_subscription", format!("invalid {what}: {reason}"))
        }
        e @ TriggerError::RefusedDestination { .. } => {
            ApiError::bad_request("webhook_url_refused", format!("{e}; nothing was created"))
        }
        TriggerError::NotFound {
            what: "connection",
            id,
        } => connection_not_found(id),
        TriggerError::NotFound {
            what: "subscription",
            id,
        } => subscription_not_found(id),
        TriggerError::NotFound { what, id } => {
            ApiError::not_found("not_found", format!("no {what} `{id}` in your tenant"))
        }
        e => ApiError::internal(e),
    }
}

/// The subscription `id` if the caller may see its connection; else 404.
async fn visible_subscription(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> ApiResult<Subscription> {
    let id: st::TriggerId = parse_id(raw_id, "subscription")?;
    let sub = match state
        .triggers
        .get_subscription(&caller.store_scope(), id)
        .await
    {
        Ok(s) => s,
        Err(TriggerError::NotFound { .. }) => return Err(subscription_not_found(id)),
        Err(e) => return Err(trigger_error(e)),
    };
    visible_connection(state, caller, ConnectionId(sub.connection.0))
        .await
        .map_err(|_| subscription_not_found(id))?;
    Ok(sub)
}

fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "admin_required",
            "operator events and operator webhooks are for tenant administrators; ask one",
        ))
    }
}

fn parse_state(raw: Option<&str>) -> ApiResult<Option<EventState>> {
    raw.map(|s| {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            ApiError::bad_request(
                "invalid_state",
                format!("unknown state `{s}`; expected pending, delivered, dead or pull"),
            )
        })
    })
    .transpose()
}

/// The connection's trigger subscriptions, as references that block
/// deleting it (seed 001).
pub async fn connection_references(
    state: &AppState,
    caller: &Caller,
    connection: ConnectionId,
) -> ApiResult<Vec<Reference>> {
    let subs = state
        .triggers
        .references(&caller.store_scope(), st::ConnectionId(connection.0))
        .await
        .map_err(trigger_error)?;
    Ok(subs
        .iter()
        .map(|s| Reference {
            kind: "trigger".into(),
            id: s.id.to_string(),
            name: s.trigger.clone(),
        })
        .collect())
}

/// Deletes the connection's subscriptions (a forced connection delete).
pub async fn delete_connection_subscriptions(
    state: &AppState,
    caller: &Caller,
    connection: ConnectionId,
) -> ApiResult<()> {
    let scope = caller.store_scope();
    let subs = state
        .triggers
        .references(&scope, st::ConnectionId(connection.0))
        .await
        .map_err(trigger_error)?;
    for s in subs {
        state
            .triggers
            .delete_subscription(&scope, s.id)
            .await
            .map_err(trigger_error)?;
        crate::audit(state, caller, "trigger.delete", &s.id.to_string()).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Running inside `plugboard serve`

/// Builds each poll's context and services exactly as an API call on the
/// connection would ([`call_context`], [`crate::services::for_connection`]).
struct ServerServices(AppState);

#[async_trait]
impl ServicesFactory for ServerServices {
    async fn services(
        &self,
        c: &st::Connection,
    ) -> Result<(CallContext, Arc<dyn ConnectionServices>), PollError> {
        let state = &self.0;
        // The scheduler has just read this row: convert it, don't read it again.
        let conn = crate::repo::store::StoreRepo::connection_of(c.clone()).map_err(|e| {
            PollError::Failed {
                message: format!("reading the connection failed: {e}"),
            }
        })?;
        let ctx = call_context(state, &conn);
        let services: Arc<dyn ConnectionServices> = crate::services::for_connection(state, &conn);
        Ok((ctx, services))
    }
}

/// How the background scheduler runs.
pub struct TriggerOptions {
    /// Time for due polls and delivery backoff.
    pub clock: Arc<dyn Clock>,
    /// Pause between background passes (scheduling, then delivery).
    pub tick: std::time::Duration,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        TriggerOptions {
            clock: Arc::new(plugboard_triggers::SystemClock),
            tick: SchedulerConfig::default().tick,
        }
    }
}

/// The background scheduler and deliverer of `plugboard serve`.
pub struct TriggerTasks {
    /// Runs one scheduling pass now (tests drive it with a manual clock).
    pub scheduler: Arc<Scheduler>,
    /// Runs one delivery pass now.
    pub deliverer: Arc<Deliverer>,
    handle: Option<SchedulerHandle>,
}

impl TriggerTasks {
    /// Stops the background loop after its current pass.
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop().await;
        }
    }
}

/// The subscription API for the server: webhook URLs follow the operator's
/// egress setting, like connector HTTP.
pub fn api(store: &st::Store, config: &crate::Config, clock: Arc<dyn Clock>) -> Triggers {
    Triggers::new(store.clone(), plugboard_triggers::Outbox::new(store), clock)
        .with_address_policy(crate::runtime_config(config).address_policy)
}

/// Starts polling and delivery in the background.
pub fn start(state: &AppState, options: TriggerOptions) -> TriggerTasks {
    let TriggerOptions { clock, tick } = options;
    let registry_state = state.clone();
    let lookup: plugboard_triggers::ConnectorLookup = Arc::new(move |c: &st::Connection| {
        registry_state
            .registry
            .get(TenantId(c.scope.tenant.0), &c.connector)
            .map(|e| e.loaded)
    });
    let poller = Arc::new(RuntimePoller::with_lookup(
        lookup,
        Arc::new(ServerServices(state.clone())),
    ));
    let outbox = plugboard_triggers::Outbox::new(&state.store);
    let scheduler = Arc::new(Scheduler::new(
        state.store.clone(),
        outbox.clone(),
        poller,
        clock.clone(),
        SchedulerConfig {
            tick,
            ..SchedulerConfig::default()
        },
    ));
    let deliverer = Arc::new(Deliverer::new(
        state.store.clone(),
        outbox,
        clock,
        DeliveryConfig {
            address_policy: crate::runtime_config(&state.config).address_policy,
            ..DeliveryConfig::default()
        },
    ));
    let handle = scheduler.clone().start(Some(deliverer.clone()));
    TriggerTasks {
        scheduler,
        deliverer,
        handle: Some(handle),
    }
}

// ---------------------------------------------------------------------------
// Handlers

/// List trigger subscriptions on connections in your folders.
#[utoipa::path(get, path = "/api/v1/triggers", tag = "triggers",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Vec<SubscriptionView>), (status = 404, body = ErrorBody)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<SubscriptionView>>> {
    let Query(q) = query?;
    if let Some(c) = q.connection_id {
        visible_connection(&state, &caller, c).await?;
    }
    let all = state
        .triggers
        .list_subscriptions(
            &caller.store_scope(),
            q.connection_id.map(|c| st::ConnectionId(c.0)),
        )
        .await
        .map_err(trigger_error)?;
    let mut out = Vec::new();
    for s in &all {
        if visible_connection(&state, &caller, ConnectionId(s.connection.0))
            .await
            .is_ok()
        {
            out.push(SubscriptionView::from(s));
        }
    }
    Ok(Json(out))
}

/// Subscribe to a connector trigger of a connection. The trigger must be
/// one the connector declares; a webhook URL must be http(s), carry no
/// credentials and resolve to addresses the egress policy allows. For a
/// webhook the signing secret is returned this once.
#[utoipa::path(post, path = "/api/v1/triggers", tag = "triggers",
    security(("bearer" = [])),
    request_body = CreateSubscription,
    responses((status = 201, body = CreatedSubscriptionView),
        (status = 400, description = "Bad input, unknown trigger or refused webhook URL", body = ErrorBody),
        (status = 403, description = "The connection lacks the trigger's scopes", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateSubscription>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedSubscriptionView>)> {
    let Json(req) = body?;
    let conn = visible_connection(&state, &caller, req.connection_id).await?;
    let entry = state
        .registry
        .get(caller.tenant_id, &conn.connector_id)
        .ok_or_else(|| crate::connectors::connector_not_found(&conn.connector_id))?;
    let manifest = entry.manifest();
    let Some(trigger) = manifest.triggers.iter().find(|t| t.name == req.trigger) else {
        let known: Vec<&str> = manifest.triggers.iter().map(|t| t.name.as_str()).collect();
        return Err(ApiError::bad_request(
            "unknown_trigger",
            format!(
                "connector `{}` has no trigger `{}`; it has: {}",
                conn.connector_id,
                req.trigger,
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    if conn.auth_kind.is_oauth2() {
        let missing =
            plugboard_manifest::missing_scopes(&trigger.required_scopes, &conn.granted_scopes);
        if !missing.is_empty() {
            return Err(ApiError::forbidden(
                "missing_scopes",
                format!(
                    "trigger `{}` needs the scope(s) {} which this connection was not granted; reconnect and grant them",
                    req.trigger,
                    missing.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "missing_scopes": missing })));
        }
    }
    let parameters = match req.parameters {
        serde_json::Value::Null => serde_json::json!({}),
        p => p,
    };
    let destination = match req.destination {
        DestinationView::Webhook { url } => Destination::Webhook { url },
        DestinationView::Pull => Destination::Pull,
    };
    let created = state
        .triggers
        .create_subscription(
            &caller.store_scope(),
            NewSubscription {
                connection: st::ConnectionId(conn.id.0),
                trigger: req.trigger,
                parameters,
                destination,
                created_by: Some(st::UserId(caller.user_id.0)),
            },
        )
        .await
        .map_err(trigger_error)?;
    let id = created.subscription.id.to_string();
    crate::audit(&state, &caller, "trigger.create", &id).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscriptionView {
            subscription: SubscriptionView::from(&created.subscription),
            webhook_secret: created.webhook_secret,
        }),
    ))
}

/// Get one subscription.
#[utoipa::path(get, path = "/api/v1/triggers/{id}", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionView>> {
    let sub = visible_subscription(&state, &caller, &id).await?;
    Ok(Json(SubscriptionView::from(&sub)))
}

/// Delete a subscription, its webhook secret and its queued events.
#[utoipa::path(delete, path = "/api/v1/triggers/{id}", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let sub = visible_subscription(&state, &caller, &id).await?;
    state
        .triggers
        .delete_subscription(&caller.store_scope(), sub.id)
        .await
        .map_err(trigger_error)?;
    crate::audit(&state, &caller, "trigger.delete", &sub.id.to_string()).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_paused(
    state: &AppState,
    caller: &Caller,
    id: &str,
    paused: bool,
) -> ApiResult<Json<SubscriptionView>> {
    let sub = visible_subscription(state, caller, id).await?;
    let scope = caller.store_scope();
    let sub = if paused {
        state.triggers.pause(&scope, sub.id).await
    } else {
        state.triggers.resume(&scope, sub.id).await
    }
    .map_err(trigger_error)?;
    let action = if paused {
        "trigger.pause"
    } else {
        "trigger.resume"
    };
    crate::audit(state, caller, action, &sub.id.to_string()).await;
    Ok(Json(SubscriptionView::from(&sub)))
}

/// Pause a subscription: no more polls (queued events are still delivered).
#[utoipa::path(post, path = "/api/v1/triggers/{id}/pause", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
async fn pause_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionView>> {
    set_paused(&state, &caller, &id, true).await
}

/// Resume a paused subscription.
#[utoipa::path(post, path = "/api/v1/triggers/{id}/resume", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
async fn resume_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionView>> {
    set_paused(&state, &caller, &id, false).await
}

/// The pull API: a subscription's events after `since`, oldest first.
/// Read `seq` of the last one and pass it as `since` next time.
#[utoipa::path(get, path = "/api/v1/triggers/{id}/events", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id"), FeedQuery),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<EventView>>> {
    let Query(q) = query?;
    let sub = visible_subscription(&state, &caller, &id).await?;
    let list = state
        .triggers
        .list_events(
            &caller.store_scope(),
            sub.id,
            q.since.unwrap_or(0),
            q.limit.unwrap_or(100),
        )
        .await
        .map_err(trigger_error)?;
    Ok(events(&list))
}

/// A subscription's deliveries, optionally in one state.
#[utoipa::path(get, path = "/api/v1/triggers/{id}/deliveries", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id"), DeliveriesQuery),
    responses((status = 200, body = Vec<EventView>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<EventView>>> {
    let Query(q) = query?;
    let wanted = parse_state(q.state.as_deref())?;
    let sub = visible_subscription(&state, &caller, &id).await?;
    let list = state
        .triggers
        .list_deliveries(&caller.store_scope(), sub.id, wanted)
        .await
        .map_err(trigger_error)?;
    Ok(events(&list))
}

/// Put a subscription's dead letters (or the one with `seq`) back in the
/// delivery queue with a fresh attempt budget.
#[utoipa::path(post, path = "/api/v1/triggers/{id}/replay", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    request_body = ReplayRequest,
    responses((status = 200, body = ReplayResult), (status = 404, body = ErrorBody)))]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> ApiResult<Json<ReplayResult>> {
    let Json(req) = body?;
    let sub = visible_subscription(&state, &caller, &id).await?;
    let replayed = state
        .triggers
        .replay(&caller.store_scope(), sub.id, req.seq)
        .await
        .map_err(trigger_error)?;
    crate::audit(&state, &caller, "trigger.replay", &sub.id.to_string()).await;
    Ok(Json(ReplayResult { replayed }))
}

/// Dead letters of the subscriptions you can see, oldest first.
#[utoipa::path(get, path = "/api/v1/triggers/dead-letters", tag = "triggers",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<EventView>)))]
async fn list_dead_letters(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<EventView>>> {
    let scope = caller.store_scope();
    let dead = state
        .triggers
        .list_dead_letters(&scope)
        .await
        .map_err(trigger_error)?;
    let mut out = Vec::new();
    for e in &dead {
        let visible = match e.subscription.parse::<st::TriggerId>() {
            Ok(_) => visible_subscription(&state, &caller, &e.subscription)
                .await
                .is_ok(),
            // Operator-webhook deliveries: administrators only.
            Err(_) => caller.is_admin,
        };
        if visible {
            out.push(EventView::from(e));
        }
    }
    Ok(Json(out))
}

/// The tenant's operator events after `since`: `connection.disconnected`,
/// `connection.reconnected`, `delivery.dead_letter`. Administrators only.
#[utoipa::path(get, path = "/api/v1/triggers/operator-events", tag = "triggers",
    security(("bearer" = [])),
    params(FeedQuery),
    responses((status = 200, body = Vec<EventView>), (status = 403, body = ErrorBody)))]
async fn list_operator_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<EventView>>> {
    let Query(q) = query?;
    require_admin(&caller)?;
    let list = state
        .triggers
        .list_operator_events(
            &caller.store_scope(),
            q.since.unwrap_or(0),
            q.limit.unwrap_or(100),
        )
        .await
        .map_err(trigger_error)?;
    Ok(events(&list))
}

/// The tenant's operator webhooks. Administrators only.
#[utoipa::path(get, path = "/api/v1/triggers/operator-webhooks", tag = "triggers",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<OperatorWebhookView>), (status = 403, body = ErrorBody)))]
async fn list_operator_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<OperatorWebhookView>>> {
    require_admin(&caller)?;
    let list = state
        .triggers
        .list_operator_webhooks(&caller.store_scope())
        .await
        .map_err(trigger_error)?;
    Ok(Json(list.iter().map(OperatorWebhookView::from).collect()))
}

/// Send the tenant's operator events to a webhook, signed like
/// subscription webhooks; the secret is returned this once.
/// Administrators only.
#[utoipa::path(post, path = "/api/v1/triggers/operator-webhooks", tag = "triggers",
    security(("bearer" = [])),
    request_body = CreateOperatorWebhook,
    responses((status = 201, body = CreatedOperatorWebhookView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn create_operator_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateOperatorWebhook>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedOperatorWebhookView>)> {
    let Json(req) = body?;
    require_admin(&caller)?;
    let created = state
        .triggers
        .create_operator_webhook(
            &caller.store_scope(),
            &req.url,
            Some(st::UserId(caller.user_id.0)),
        )
        .await
        .map_err(trigger_error)?;
    crate::audit(
        &state,
        &caller,
        "operator_webhook.create",
        &created.webhook.id.to_string(),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOperatorWebhookView {
            webhook: OperatorWebhookView::from(&created.webhook),
            secret: created.secret,
        }),
    ))
}

/// Stop sending operator events to a webhook. Administrators only.
#[utoipa::path(delete, path = "/api/v1/triggers/operator-webhooks/{id}", tag = "triggers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Operator webhook id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_operator_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_admin(&caller)?;
    let id: st::OperatorWebhookId = parse_id(&id, "operator webhook")?;
    let gone = state
        .triggers
        .delete_operator_webhook(&caller.store_scope(), id)
        .await
        .map_err(trigger_error)?;
    if !gone {
        return Err(ApiError::not_found(
            "operator_webhook_not_found",
            format!(
                "no operator webhook `{id}` in your tenant; `GET /api/v1/triggers/operator-webhooks` lists them"
            ),
        ));
    }
    crate::audit(&state, &caller, "operator_webhook.delete", &id.to_string()).await;
    Ok(StatusCode::NO_CONTENT)
}
