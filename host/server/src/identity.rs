//! Who is calling: bearer API tokens (or the console's session cookie, see
//! `session.rs`), and the zero-configuration first start.
//!
//! A token is 32 random bytes shown once (written to a 0600 file on first
//! start, or returned once by the call that creates it); only its SHA-256
//! is stored. Every handler takes a [`Caller`], which rejects a missing or
//! unknown token with 401 before the handler runs. This module never logs
//! a token. Issue 7 deepens identity (users, scopes, external apps).

use std::path::{Path, PathBuf};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::model::{Principal, TenantId};
use crate::repo::{Bootstrap, Repo, RepoError};

/// File in the data directory holding the first admin's API token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A fresh API token: `pb_` + 64 hex characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("pb_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What first start did, for the operator.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub token_file: PathBuf,
    /// Whether this start created the admin (false: it already existed).
    pub created: bool,
}

/// On a database without users, create the default organization, tenant
/// and admin user (with a personal workspace), and write an admin API token
/// to `<data_dir>/admin-token` with mode 0600.
///
/// # Errors
/// The repository failed, or the token file could not be written.
pub async fn ensure_first_admin(repo: &dyn Repo, data_dir: &Path) -> anyhow::Result<FirstStart> {
    let token_file = data_dir.join(ADMIN_TOKEN_FILE);
    if repo.has_users().await? {
        return Ok(FirstStart {
            token_file,
            created: false,
        });
    }
    let boot = repo
        .create_tenant_with_admin("default", "default", "admin")
        .await?;
    let token = new_token();
    repo.add_api_token(boot.principal.user_id, &token_hash(&token))
        .await?;
    write_private_file(&token_file, format!("{token}\n").as_bytes())?;
    Ok(FirstStart {
        token_file,
        created: true,
    })
}

/// Create a tenant with its admin and return the admin's token (tests and
/// the future tenants API).
///
/// # Errors
/// The repository failed.
pub async fn create_tenant(repo: &dyn Repo, name: &str) -> Result<(Bootstrap, String), RepoError> {
    let boot = repo.create_tenant_with_admin(name, name, "admin").await?;
    let token = new_token();
    repo.add_api_token(boot.principal.user_id, &token_hash(&token))
        .await?;
    Ok((boot, token))
}

/// Create a user in a tenant and return their token.
///
/// # Errors
/// The repository failed or the tenant does not exist.
pub async fn create_user(
    repo: &dyn Repo,
    tenant: TenantId,
    name: &str,
    is_admin: bool,
) -> Result<(Bootstrap, String), RepoError> {
    let boot = repo.create_user(tenant, name, is_admin).await?;
    let token = new_token();
    repo.add_api_token(boot.principal.user_id, &token_hash(&token))
        .await?;
    Ok((boot, token))
}

/// Write `bytes` to `path` readable by the owner only.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

/// The authenticated caller of a request, and where the request came from
/// (for audit events).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal, pub RequestMeta);

/// Client address and request id of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub source: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        RequestMeta {
            source: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }
}

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
            // No bearer token: the console's session cookie, if any.
            if let Some(id) = crate::session::cookie_session_id(&parts.headers) {
                let principal = crate::session::principal_from_cookie(parts, state, &id).await?;
                return Ok(Caller(principal, RequestMeta::from_parts(parts)));
            }
            return Err(ApiError::unauthorized(
                "this API needs `Authorization: Bearer <token>` or a console session (sign in at /console/); the first admin token is in the data directory's `admin-token` file",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        match state.repo.principal_by_token(&token_hash(token)).await {
            Ok(Some(p)) => Ok(Caller(p, RequestMeta::from_parts(parts))),
            Ok(None) => Err(ApiError::unauthorized(
                "this API token is not valid (unknown or revoked); use a current token",
            )),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}
