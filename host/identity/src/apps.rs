//! External applications over HTTP (`/identity/api/ExternalApplication`,
//! scope `PM.ExternalApplication.Read`/`.Write`): register (the client
//! secret is in that one response and in a rotation's, never again), list,
//! get, update name and scopes, rotate the secret, delete.
//!
//! Rules: [`check_app`] (a name, at least one scope, each one of
//! [`crate::all_scopes`]; 400 otherwise) and each scope one the caller's
//! own token holds (403 naming it otherwise), so an
//! application cannot mint a more powerful one. Changing the scopes or
//! rotating the secret revokes the application's access tokens; deleting
//! it deletes them. Only argon2 hashes of secrets are stored.

use plugboard_store::RegisteredApp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{hash_secret_off_runtime, new_client_secret, register};
use crate::request::{ApiResult, Body, Ctx, changed, created, found, no_content, ok};
use crate::{ApiError, all_scopes};

/// Longest application name, in bytes (after trimming).
const MAX_APP_NAME: usize = 256;

/// An application's name and scopes that passed [`check_app`]: the only
/// way to make one, so every registration (the identity API's and the
/// server's operator route) follows the same rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedApp {
    name: String,
    scopes: Vec<String>,
}

impl CheckedApp {
    /// The name, trimmed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scopes, each known, each once, in the order given.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Why [`check_app`] refused an application's name or scopes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppRefusal {
    /// The name is blank or longer than 256 bytes.
    #[error("`name` must be 1 to {MAX_APP_NAME} characters")]
    Name,
    /// No scope: an application without one could call nothing.
    #[error("give at least one scope; the scopes are {}", all_scopes().join(", "))]
    NoScope,
    /// Scopes that are not in [`all_scopes`].
    #[error(
        "{} `{}` {} not exist; the scopes are {}",
        if .0.len() == 1 { "scope" } else { "scopes" },
        .0.join("`, `"),
        if .0.len() == 1 { "does" } else { "do" },
        all_scopes().join(", ")
    )]
    UnknownScopes(Vec<String>),
}

impl From<AppRefusal> for ApiError {
    fn from(e: AppRefusal) -> Self {
        Self::BadRequest(e.to_string())
    }
}

/// The one rule for an external application's name and scopes: a name of
/// 1 to 256 bytes (trimmed), at least one scope, every scope one of
/// [`all_scopes`]; a scope given twice is kept once.
///
/// # Errors
/// [`AppRefusal`] saying what is wrong (all unknown scopes at once).
pub fn check_app<S: AsRef<str>>(name: &str, scopes: &[S]) -> Result<CheckedApp, AppRefusal> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_APP_NAME {
        return Err(AppRefusal::Name);
    }
    let known = all_scopes();
    let mut unknown: Vec<String> = Vec::new();
    let mut kept: Vec<String> = Vec::with_capacity(scopes.len());
    for s in scopes.iter().map(AsRef::as_ref) {
        if !known.iter().any(|k| k == s) {
            if !unknown.iter().any(|u| u == s) {
                unknown.push(s.to_owned());
            }
        } else if !kept.iter().any(|k| k == s) {
            kept.push(s.to_owned());
        }
    }
    if !unknown.is_empty() {
        return Err(AppRefusal::UnknownScopes(unknown));
    }
    if kept.is_empty() {
        return Err(AppRefusal::NoScope);
    }
    Ok(CheckedApp {
        name: name.to_owned(),
        scopes: kept,
    })
}

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
    /// [`check_app`], then: the caller's own token must hold every scope.
    fn checked(&self, ctx: &Ctx) -> Result<CheckedApp, ApiError> {
        ctx.partition(&self.partition_global_id)?;
        let app = check_app(&self.name, &self.scopes)?;
        if let Some(s) = app.scopes().iter().find(|s| !ctx.caller.scopes.contains(s)) {
            return Err(ApiError::MissingScope(s.clone()));
        }
        Ok(app)
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
    let app = b.checked(&ctx)?;
    let (id, client_id, secret) = register(&ctx.store, ctx.org, &app).await?;
    created(json!({
        "id": id.to_string(),
        "name": app.name(),
        "clientId": client_id,
        "clientSecret": secret,
        "scopes": app.scopes(),
        "partitionGlobalId": ctx.org.to_string(),
    }))
}

/// Renames and replaces the scopes; the application's tokens are revoked.
pub(crate) async fn update(ctx: Ctx, Body(b): Body<AppBody>) -> ApiResult {
    let id = ctx.id("external application")?;
    let app = b.checked(&ctx)?;
    changed(
        ctx.store
            .update_external_app(ctx.org, id, app.name(), app.scopes())
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
    let hash = hash_secret_off_runtime(secret.clone()).await?;
    changed(
        ctx.store
            .set_external_app_secret_hash(ctx.org, id, &hash)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_app_trims_the_name_and_keeps_each_scope_once() {
        let app = check_app(" sync ", &["PM.User.Read", "PM.Group.Read", "PM.User.Read"]).unwrap();
        assert_eq!(app.name(), "sync");
        assert_eq!(app.scopes(), ["PM.User.Read", "PM.Group.Read"]);
    }

    #[test]
    fn check_app_refuses_a_blank_or_long_name_no_scope_and_unknown_scopes() {
        assert_eq!(check_app("  ", &["PM.User.Read"]), Err(AppRefusal::Name));
        assert_eq!(
            check_app(&"x".repeat(257), &["PM.User.Read"]),
            Err(AppRefusal::Name)
        );
        assert!(check_app(&"x".repeat(256), &["PM.User.Read"]).is_ok());
        assert_eq!(check_app::<&str>("x", &[]), Err(AppRefusal::NoScope));
        let e = check_app("x", &["PM.User.Read", "PM.Nope", "PM.Nope", "X"]).unwrap_err();
        assert_eq!(
            e,
            AppRefusal::UnknownScopes(vec!["PM.Nope".into(), "X".into()])
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("scopes `PM.Nope`, `X` do not exist"),
            "{msg}"
        );
        assert!(msg.contains("PM.User.Read"), "{msg}");
    }
}
