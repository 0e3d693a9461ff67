//! Connectors a tenant can use: the bundled ones (loaded once at start)
//! and components a tenant uploads (validated by the runtime, versioned by
//! content hash, usable at once), plus their routes.
//!
//! Owns the registry of loaded components and the rules of upload and
//! removal. Never runs a call itself (that is `connections`), never shows a
//! component of one tenant to another.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_manifest::Manifest;
use plugboard_runtime::{LoadedConnector, Runtime};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::identity::Caller;
use crate::model::{StoredComponent, TenantId};
use crate::repo::ConnectionFilter;

/// Where a connector comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorSource {
    /// Ships inside Plugboard; every tenant has it.
    Bundled,
    /// Uploaded to this tenant.
    Custom,
}

/// A loaded connector and where it came from.
#[derive(Clone)]
pub struct ConnectorEntry {
    pub loaded: Arc<LoadedConnector>,
    pub source: ConnectorSource,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
}

impl ConnectorEntry {
    pub fn manifest(&self) -> &Manifest {
        self.loaded.manifest()
    }
}

/// Every loaded component: bundled for all, custom per tenant.
pub struct Registry {
    pub runtime: Runtime,
    bundled: HashMap<String, ConnectorEntry>,
    custom: RwLock<HashMap<(TenantId, String), ConnectorEntry>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    /// Load the bundled connectors.
    ///
    /// # Errors
    /// None today; kept fallible for bundled sources that may fail to read.
    pub async fn new(runtime: Runtime) -> anyhow::Result<Self> {
        let mut bundled = HashMap::new();
        for c in plugboard_connectors::bundled() {
            // A bundled connector that does not load is a build problem; the
            // server still serves the others rather than not starting at all.
            let loaded = match runtime.load_named(Some(c.id), c.wasm).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::error!(connector = c.id, error = %e, "bundled connector failed to load; it is unavailable");
                    continue;
                }
            };
            tracing::info!(connector = c.id, version = %loaded.manifest().version, "bundled connector loaded");
            bundled.insert(
                loaded.manifest().id.clone(),
                ConnectorEntry {
                    loaded,
                    source: ConnectorSource::Bundled,
                    content_hash: sha256_hex(c.wasm),
                },
            );
        }
        Ok(Registry {
            runtime,
            bundled,
            custom: RwLock::new(HashMap::new()),
        })
    }

    /// The connector `id` as `tenant` sees it.
    pub fn get(&self, tenant: TenantId, id: &str) -> Option<ConnectorEntry> {
        if let Some(e) = self.bundled.get(id) {
            return Some(e.clone());
        }
        self.custom
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(tenant, id.to_string()))
            .cloned()
    }

    /// Every connector `tenant` sees, by id.
    pub fn list(&self, tenant: TenantId) -> Vec<ConnectorEntry> {
        let mut v: Vec<ConnectorEntry> = self.bundled.values().cloned().collect();
        v.extend(
            self.custom
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|((t, _), _)| *t == tenant)
                .map(|(_, e)| e.clone()),
        );
        v.sort_by(|a, b| a.manifest().id.cmp(&b.manifest().id));
        v
    }

    pub fn is_bundled(&self, id: &str) -> bool {
        self.bundled.contains_key(id)
    }

    /// Load a tenant's component and make it visible at once.
    pub fn insert_custom(&self, tenant: TenantId, entry: ConnectorEntry) {
        self.custom
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((tenant, entry.manifest().id.clone()), entry);
    }

    pub fn remove_custom(&self, tenant: TenantId, id: &str) {
        self.custom
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(tenant, id.to_string()));
    }
}

/// The connector routes. Uploads carry whole components, so these routes
/// take bodies up to `component_bytes` instead of the JSON limit.
pub fn routes(component_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors, upload_connector))
        .routes(routes!(get_connector, delete_connector))
        .layer(axum::extract::DefaultBodyLimit::max(
            component_bytes.saturating_add(1),
        ))
}

/// A connector as the API shows it: its whole manifest plus its origin.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub source: ConnectorSource,
    pub content_hash: String,
    /// Auth types offered; when there is one, creating a connection needs no choice.
    pub auth_kinds: Vec<String>,
    /// The full manifest: auth methods, scopes, config fields, operations
    /// with JSON Schemas and required scopes, triggers.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

/// Short form for lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorSummary {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub source: ConnectorSource,
    pub auth_kinds: Vec<String>,
    pub operations: Vec<String>,
}

fn summary(e: &ConnectorEntry) -> ConnectorSummary {
    let m = e.manifest();
    ConnectorSummary {
        id: m.id.clone(),
        name: m.name.clone(),
        version: m.version.clone(),
        description: m.description.clone(),
        source: e.source.clone(),
        auth_kinds: m.auth_methods.iter().map(|a| a.kind.to_string()).collect(),
        operations: m.operations.iter().map(|o| o.name.clone()).collect(),
    }
}

fn view(e: &ConnectorEntry) -> ConnectorView {
    let m = e.manifest();
    ConnectorView {
        id: m.id.clone(),
        name: m.name.clone(),
        version: m.version.clone(),
        description: m.description.clone(),
        source: e.source.clone(),
        content_hash: e.content_hash.clone(),
        auth_kinds: m.auth_methods.iter().map(|a| a.kind.to_string()).collect(),
        manifest: serde_json::to_value(m).unwrap_or(serde_json::Value::Null),
    }
}

pub fn connector_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "connector_not_found",
        format!(
            "no connector `{id}` in this tenant; `GET /api/v1/connectors` lists the available ones"
        ),
    )
}

/// List the connectors available to the caller's tenant.
#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ConnectorSummary>), (status = 401, body = ErrorBody)))]
async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
) -> Json<Vec<ConnectorSummary>> {
    Json(
        state
            .registry
            .list(caller.tenant_id)
            .iter()
            .map(summary)
            .collect(),
    )
}

/// Inspect one connector: auth types, scopes, operations and their JSON Schemas.
#[utoipa::path(get, path = "/api/v1/connectors/{id}", tag = "connectors",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connector id, e.g. `zoom`")),
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody)))]
async fn get_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorView>> {
    let e = state
        .registry
        .get(caller.tenant_id, &id)
        .ok_or_else(|| connector_not_found(&id))?;
    Ok(Json(view(&e)))
}

/// A WebAssembly component, as raw bytes (documentation type only).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct ComponentBytes(Vec<u8>);

/// Upload a custom connector component (`application/wasm` body) to your
/// tenant. It is validated (a component, this host's contract, a valid
/// manifest), stored by content hash and usable at once. Uploading a new
/// version of the same id replaces it.
#[utoipa::path(post, path = "/api/v1/connectors", tag = "connectors",
    security(("bearer" = [])),
    request_body(description = "The component's bytes (the server reads the body as is, whatever its type)",
        content((ComponentBytes = "application/wasm"), (ComponentBytes = "application/octet-stream"))),
    responses(
        (status = 201, body = ConnectorView),
        (status = 400, description = "Not a valid connector component", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The id belongs to a bundled connector", body = ErrorBody),
        (status = 413, description = "Larger than the component size limit", body = ErrorBody)))]
async fn upload_connector(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    if !caller.is_admin {
        return Err(ApiError::forbidden(
            "admin_required",
            "only a tenant administrator may upload connectors",
        ));
    }
    let limit = state.config.limits.component_bytes;
    if body.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "component_too_large",
            format!(
                "the component is {} bytes; the limit is {limit} bytes (limits.component_bytes)",
                body.len()
            ),
        ));
    }
    let loaded = state
        .registry
        .runtime
        .load_named(Some("uploaded component"), &body)
        .await
        .map_err(|e| ApiError::bad_request("invalid_component", e.to_string()))?;
    let id = loaded.manifest().id.clone();
    if state.registry.is_bundled(&id) {
        return Err(ApiError::conflict(
            "connector_id_taken",
            format!(
                "`{id}` is a bundled connector; give your connector another id in its manifest"
            ),
        ));
    }
    let hash = sha256_hex(&body);
    let entry = ConnectorEntry {
        loaded,
        source: ConnectorSource::Custom,
        content_hash: hash.clone(),
    };
    state
        .repo
        .put_component(StoredComponent {
            tenant_id: caller.tenant_id,
            connector_id: id.clone(),
            version: entry.manifest().version.clone(),
            content_hash: hash,
            bytes: Arc::new(body.to_vec()),
            uploaded_by: caller.user_id,
            uploaded_at: OffsetDateTime::now_utc(),
        })
        .await
        .map_err(ApiError::internal)?;
    state
        .registry
        .insert_custom(caller.tenant_id, entry.clone());
    crate::audit(&state, &caller, "connector.upload", &id).await;
    Ok((StatusCode::CREATED, Json(view(&entry))))
}

/// Remove a custom connector. Refused while connections use it.
#[utoipa::path(delete, path = "/api/v1/connectors/{id}", tag = "connectors",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Connector id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Connections use it, or it is bundled", body = ErrorBody)))]
async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !caller.is_admin {
        return Err(ApiError::forbidden(
            "admin_required",
            "only a tenant administrator may remove connectors",
        ));
    }
    if state.registry.is_bundled(&id) {
        return Err(ApiError::conflict(
            "connector_bundled",
            format!("`{id}` ships with Plugboard and cannot be removed"),
        ));
    }
    if state.registry.get(caller.tenant_id, &id).is_none() {
        return Err(connector_not_found(&id));
    }
    let users = state
        .repo
        .connections(
            caller.tenant_id,
            &ConnectionFilter {
                connector_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(ApiError::internal)?;
    if !users.is_empty() {
        let list: Vec<_> = users
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "name": c.name}))
            .collect();
        return Err(ApiError::conflict(
            "connector_in_use",
            format!(
                "{} connection(s) use `{id}`; delete them first",
                users.len()
            ),
        )
        .with_details(serde_json::json!({ "connections": list })));
    }
    state
        .repo
        .delete_component(caller.tenant_id, &id)
        .await
        .map_err(ApiError::internal)?;
    state.registry.remove_custom(caller.tenant_id, &id);
    crate::audit(&state, &caller, "connector.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}
