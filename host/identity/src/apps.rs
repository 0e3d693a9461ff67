//! External applications over HTTP (`/identity/api/ExternalApplication`,
//! scope `PM.ExternalApplication.Read`/`.Write`): register (the client
//! secret is in that one response and in a rotation's, never again), list,
//! get, update name and scopes, rotate the secret, delete.
//!
//! Rules: a scope must be one of [`crate::all_scopes`] (400 otherwise) and
//! one the caller's own token holds (403 naming it otherwise), so an
//! application cannot mint a more powerful one. Changing the scopes or
//! rotating the secret revokes the application's access tokens; deleting
//! it deletes them. Only argon2 hashes of secrets are stored.

use plugboard_store::RegisteredApp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{hash_secret, new_client_secret, register};
use crate::request::{ApiResult, Body, Ctx, changed, created, found, no_content, ok};
use crate::{ApiError, all_scopes};

/// `POST` and `PUT` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppBody {
    partition_global_id: String,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
}

impl AppBody {
    /// The name and scopes, checked against the rules of this module.
    fn checked(&self, ctx: &Ctx) -> Result<(&str, Vec<String>), ApiError> {
        ctx.partition(&self.partition_global_id)?;
        crate::api::check_name("name", &self.name)?;
        let known = all_scopes();
        let mut scopes: Vec<String> = Vec::with_capacity(self.scopes.len());
        for s in &self.scopes {
            if !known.contains(s) {
                return Err(ApiError::BadRequest(format!(
                    "scope `{s}` does not exist; the scopes are {}",
                    known.join(", ")
                )));
            }
            if !ctx.caller.scopes.contains(s) {
                return Err(ApiError::MissingScope(s.clone()));
            }
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        Ok((self.name.trim(), scopes))
    }
}

pub(crate) async fn list(ctx: Ctx) -> ApiResult {
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    ok(apps.iter().map(app_json).collect::<Vec<_>>())
}

pub(crate) async fn get(ctx: Ctx) -> ApiResult {
    let id = ctx.id("external application")?;
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    ok(app_json(found(
        apps.iter().find(|a| a.id == id),
        "external application",
    )?))
}

/// 201 with the application and its `clientSecret`, shown this once.
pub(crate) async fn register_app(ctx: Ctx, Body(b): Body<AppBody>) -> ApiResult {
    let (name, scopes) = b.checked(&ctx)?;
    let (id, client_id, secret) = register(&ctx.store, ctx.org, name, &scopes).await?;
    created(json!({
        "id": id.to_string(),
        "name": name,
        "clientId": client_id,
        "clientSecret": secret,
        "scopes": scopes,
        "partitionGlobalId": ctx.org.to_string(),
    }))
}

/// Renames and replaces the scopes; the application's tokens are revoked.
pub(crate) async fn update(ctx: Ctx, Body(b): Body<AppBody>) -> ApiResult {
    let id = ctx.id("external application")?;
    let (name, scopes) = b.checked(&ctx)?;
    changed(
        ctx.store
            .update_external_app(ctx.org, id, name, &scopes)
            .await?,
        "external application",
    )?;
    get(ctx).await
}

/// A new secret (shown this once); the old one stops working and the
/// application's tokens are revoked.
pub(crate) async fn rotate_secret(ctx: Ctx) -> ApiResult {
    let id = ctx.id("external application")?;
    let secret = new_client_secret();
    changed(
        ctx.store
            .set_external_app_secret_hash(ctx.org, id, &hash_secret(&secret))
            .await?,
        "external application",
    )?;
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    let app = found(apps.iter().find(|a| a.id == id), "external application")?;
    let mut body = app_json(app);
    body["clientSecret"] = json!(secret);
    ok(body)
}

pub(crate) async fn delete(ctx: Ctx) -> ApiResult {
    let id = ctx.id("external application")?;
    changed(
        ctx.store.delete_external_app(ctx.org, id).await?,
        "external application",
    )?;
    no_content()
}

fn app_json(a: &RegisteredApp) -> Value {
    json!({
        "id": a.id.to_string(),
        "name": a.name,
        "clientId": a.client_id,
        "scopes": a.scopes,
        "createdOn": a.created_at.unix_timestamp(),
        "partitionGlobalId": a.org.to_string(),
    })
}
