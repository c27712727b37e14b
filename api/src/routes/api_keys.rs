//! An organization's API keys: list, create (the secret is answered once), revoke.

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{JsonCommand, RequestContext};
use crate::problem::{FieldErrors, Problem};
use crate::routes::organizations::permission_names;
use crate::routes::positioned;
use application::api_keys::NewApiKey;
use application::authority::Authority;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::organization::{ApiKey, ApiKeyStatus};
use domain::values::KeyName;
use domain::{ApiKeyId, OrganizationId, Timestamp};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API key as its organization's administrators see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    id: ApiKeyId,
    /// What it is for.
    name: String,
    /// The flags it acts with.
    permissions: Vec<String>,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = String)]
    status: ApiKeyStatus,
    /// When it was created.
    #[serde(serialize_with = "domain::time::micros")]
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// When it stops working, if ever.
    #[serde(serialize_with = "domain::time::micros_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(serialize_with = "domain::time::micros_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<Timestamp>,
}

impl ApiKeyView {
    /// The view of `key` at `now`.
    pub fn new(key: &ApiKey, now: Timestamp) -> Self {
        Self {
            id: key.id,
            name: key.name.to_string(),
            permissions: key.permissions.iter().map(ToString::to_string).collect(),
            status: key.status(now),
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just created, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedApiKeyView {
    /// The key.
    key: ApiKeyView,
    /// The whole key, to send as `Authorization: Bearer <token>`. idlog keeps only its hash:
    /// it cannot be shown again.
    token: String,
}

/// `POST /organizations/{id}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What it is for, unique among the organization's keys in use.
    #[schema(schema_with = crate::openapi::key_name)]
    name: String,
    /// Flags from the catalog it acts with.
    #[serde(default)]
    permissions: Vec<String>,
    /// When it stops working; without it, never.
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
}

fn organization_id(raw: &str) -> Result<OrganizationId, Problem> {
    raw.parse()
        .map_err(|_| crate::authz::not_found(application::Resource::Organization))
}

/// An organization's API keys, newest first, revoked ones too (administrators and the
/// organization's org_admins).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/api-keys", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Its keys", body = Vec<ApiKeyView>),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<ApiKeyView>>, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let keys = state.api_keys(&authority, organization_id(&id)?).await?;
    let now = chrono::Utc::now();
    Ok(axum::Json(
        keys.iter().map(|key| ApiKeyView::new(key, now)).collect(),
    ))
}

/// Creates an API key for the organization; the answer holds its secret, shown this once
/// (administrators and the organization's org_admins).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/api-keys", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")), request_body = CreateApiKeyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the token is not shown again", body = IssuedApiKeyView),
        crate::openapi::BodyErrors,
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A key in use has this name, or the organization has as many keys as it may", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn create_api_key(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    command: JsonCommand<CreateApiKeyRequest>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let id = organization_id(&id)?;
    let body = command.body;
    let mut fields = FieldErrors::default();
    let name = fields.parse(&body.name, KeyName::parse, "/name");
    let permissions = permission_names(&mut fields, &body.permissions);
    fields.finish()?;
    let Some(name) = name else {
        return Err(Problem::validation());
    };
    let issued = state
        .create_api_key(
            &authority,
            &context,
            id,
            NewApiKey {
                name,
                permissions,
                expires_at: body.expires_at,
            },
        )
        .await?;
    let mut headers = positioned(issued.position);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let view = IssuedApiKeyView {
        key: ApiKeyView::new(&issued.key, chrono::Utc::now()),
        token: issued.token.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, headers, axum::Json(view)).into_response())
}

/// Revokes an API key: it authenticates nothing from now on (administrators and the
/// organization's org_admins). Revoking a revoked key changes nothing.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/api-keys/{key_id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id"), ("key_id" = String, Path, description = "Key id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Not an org_admin of the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or key, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let id = organization_id(&id)?;
    let key_id: ApiKeyId = key_id
        .parse()
        .map_err(|_| crate::authz::not_found(application::Resource::ApiKey))?;
    let position = state
        .revoke_api_key(&authority, &context, id, key_id)
        .await?;
    Ok((StatusCode::NO_CONTENT, positioned(position)).into_response())
}
