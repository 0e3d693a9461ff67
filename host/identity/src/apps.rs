//! External applications over HTTP (`/identity/api/ExternalApplication`,
//! scope `PM.ExternalApplication.Read`/`.Write`): register (the client
//! secret is in that one response and in a rotation's, never again), list,
//! get, update name and scopes, rotate the secret, delete.
//!
//! Rules: [`check_app`] (a name, at least one scope, each one of
//! [`crate::all_scopes`] or an umbrella scope meaning two of them; 400
//! otherwise) and each scope one the caller's
//! own token holds (403 naming it otherwise), so an
//! application cannot mint a more powerful one. Changing the scopes or
//! rotating the secret revokes the application's access tokens; deleting
//! it deletes them. Only argon2 hashes of secrets are stored.

use plugboard_store::RegisteredApp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{hash_secret_off_runtime, new_client_secret, register};
use crate::request::{ApiResult, Body, Ctx, changed, created, found, no_content, ok};
use crate::{ApiError, all_scopes, expand_scopes};

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
    /// Scopes that are neither in [`all_scopes`] nor umbrella scopes.
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
/// [`all_scopes`] or an umbrella scope (`PM.User`: both `PM.User.Read` and
/// `PM.User.Write`, see [`expand_scopes`]); a scope given twice is kept once.
///
/// # Errors
/// [`AppRefusal`] saying what is wrong (all unknown scopes at once).
pub fn check_app<S: AsRef<str>>(name: &str, scopes: &[S]) -> Result<CheckedApp, AppRefusal> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_APP_NAME {
        return Err(AppRefusal::Name);
    }
    let kept = expand_scopes(scopes).map_err(AppRefusal::UnknownScopes)?;
    if kept.is_empty() {
        return Err(AppRefusal::NoScope);
    }
    Ok(CheckedApp {
        name: name.to_owned(),
        scopes: kept,
    })
}

/// `POST` and `PUT` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmExternalApplicationBody)]
pub(crate) struct AppBody {
    /// The organization's id, or one of its tenants'.
    partition_global_id: String,
    /// 1 to 256 characters.
    name: String,
    /// At least one; umbrella scopes (`PM.User`) mean `.Read` and `.Write`.
    #[serde(default)]
    scopes: Vec<String>,
}

/// A registered application, as listed: never a secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmExternalApplication)]
pub(crate) struct AppOut {
    id: String,
    name: String,
    client_id: String,
    scopes: Vec<String>,
    /// Unix seconds.
    created_on: i64,
    partition_global_id: String,
}

/// A registered application with its new client secret, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PmExternalApplicationWithSecret)]
pub(crate) struct NewAppOut {
    #[serde(flatten)]
    app: AppOut,
    client_secret: String,
}

impl AppBody {
    /// [`check_app`], then: the caller's own token must hold every scope.
    async fn checked(&self, ctx: &Ctx) -> Result<CheckedApp, ApiError> {
        ctx.partition(&self.partition_global_id).await?;
        let app = check_app(&self.name, &self.scopes)?;
        if let Some(s) = app.scopes().iter().find(|s| !ctx.caller.scopes.contains(s)) {
            return Err(ApiError::MissingScope(s.clone()));
        }
        Ok(app)
    }
}

pub(crate) async fn list(ctx: Ctx) -> ApiResult {
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    ok(apps.iter().map(app_out).collect::<Vec<_>>())
}

pub(crate) async fn get(ctx: Ctx) -> ApiResult {
    let id = ctx.id("external application")?;
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    ok(app_out(found(
        apps.iter().find(|a| a.id == id),
        "external application",
    )?))
}

/// 201 with the application and its `clientSecret`, shown this once.
pub(crate) async fn register_app(ctx: Ctx, Body(b): Body<AppBody>) -> ApiResult {
    let app = b.checked(&ctx).await?;
    let (id, _client_id, secret) = register(&ctx.store, ctx.org, &app).await?;
    let apps = ctx.store.list_external_apps(ctx.org).await?;
    let registered = found(apps.iter().find(|a| a.id == id), "external application")?;
    created(NewAppOut {
        app: app_out(registered),
        client_secret: secret,
    })
}

/// Renames and replaces the scopes; the application's tokens are revoked.
pub(crate) async fn update(ctx: Ctx, Body(b): Body<AppBody>) -> ApiResult {
    let id = ctx.id("external application")?;
    let app = b.checked(&ctx).await?;
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
    ok(NewAppOut {
        app: app_out(app),
        client_secret: secret,
    })
}

pub(crate) async fn delete(ctx: Ctx) -> ApiResult {
    let id = ctx.id("external application")?;
    changed(
        ctx.store.delete_external_app(ctx.org, id).await?,
        "external application",
    )?;
    no_content()
}

fn app_out(a: &RegisteredApp) -> AppOut {
    AppOut {
        id: a.id.to_string(),
        name: a.name.clone(),
        client_id: a.client_id.clone(),
        scopes: a.scopes.clone(),
        created_on: a.created_at.unix_timestamp(),
        partition_global_id: a.org.to_string(),
    }
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
    fn check_app_expands_umbrella_scopes() {
        let app = check_app("sync", &["PM.Group", "PM.Group.Read", "OR.Users"]).unwrap();
        assert_eq!(
            app.scopes(),
            [
                "PM.Group.Read",
                "PM.Group.Write",
                "OR.Users.Read",
                "OR.Users.Write"
            ]
        );
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
