//! API token management: a user lists, creates and revokes their own
//! bearer tokens; a tenant administrator may revoke any token of the
//! tenant's users (a leaked token no longer lives until its user is
//! deleted).
//!
//! A new token is in the creation response once; only its SHA-256 is
//! kept, and listings show the public id, name and creation time — never
//! the token or its hash. A revoked token is refused from the next request
//! on (the store forgets it from its token cache as it deletes it).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::connections::parse_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::identity::{Caller, new_token, token_hash};
use crate::model::{ApiToken, ApiTokenId};
use crate::repo::RepoError;

/// Longest token name accepted.
const MAX_NAME_CHARS: usize = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// An API token as listings show it: never the token or its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: ApiTokenId,
    /// The label given at creation, e.g. `ci`.
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the token was last used, to within an hour; `null` if never.
    /// A token nothing uses any more is one to revoke.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label you will recognise in listings, e.g. `ci` (1–100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// A new token, with the token itself (shown in this response only).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// `pb_…`: use as `Authorization: Bearer <token>`. Shown once; only a
    /// hash is kept.
    pub token: String,
}

/// Your API tokens, oldest first (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = state
        .repo
        .api_tokens(caller.user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Create an API token for yourself; the token is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken),
        (status = 400, description = "No name, or one too long (`invalid_name`)", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let Json(req) = body?;
    let name = req.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!(
                "give the token a name of 1 to {MAX_NAME_CHARS} printable characters, e.g. `ci`"
            ),
        ));
    }
    let token = new_token();
    let created = state
        .repo
        .create_api_token(caller.user_id, name, &token_hash(&token))
        .await
        .map_err(ApiError::internal)?;
    crate::audit(
        &state,
        &caller,
        "api_token.create",
        &format!("{} ({})", created.name, created.id),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            view: created.into(),
            token,
        }),
    ))
}

/// Revoke an API token: yours, or (administrators) any of the tenant's
/// users'. It is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The token's id (from the listing)", format = Uuid)),
    responses((status = 204, description = "Revoked"),
        (status = 400, description = "Not a token id (`invalid_id`)", body = ErrorBody),
        (status = 404, description = "You have no such token (`token_not_found`)", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ApiTokenId = parse_id(&id, "token")?;
    let owner = if caller.is_admin {
        state
            .repo
            .revoke_tenant_api_token(caller.tenant_id, id)
            .await
    } else {
        state
            .repo
            .revoke_api_token(caller.user_id, id)
            .await
            .map(|()| caller.user_id)
    };
    let owner = match owner {
        Ok(owner) => owner,
        Err(RepoError::NotFound) => {
            return Err(ApiError::not_found(
                "token_not_found",
                format!(
                    "there is no API token `{id}` you may revoke; `GET /api/v1/tokens` lists yours"
                ),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    crate::audit(
        &state,
        &caller,
        "api_token.revoke",
        &format!("{id} (of user {owner})"),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
