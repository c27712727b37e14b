//! `/api/v1/users/{id}/profile` and `/api/v1/users/{id}/profile/picture`: a user's profile
//! (address, emergency contact, language, notification preferences) and profile picture.
//!
//! Who may read or change them is the policy's (`application::policy`: `ReadProfile`,
//! `ChangeProfile`); someone the caller may not see is "not found". Reads carry the user's
//! `ETag`; replacing the profile takes `If-Match` and `Idempotency-Key`. Pictures are the one
//! body over 1 MiB: their routes have their own cap, [`MAX_PICTURE_BYTES`].

use crate::AppState;
use crate::auth::current::Caller;
use crate::extract::{IfMatch, JsonCommand, RequestContext, etag};
use crate::problem::Problem;
use crate::routes::auth::LOG_POSITION;
use crate::routes::users::{user_for, user_id};
use application::Resource;
use application::authority::Authority;
use application::policy::Operation;
use application::users::{Preconditions, Read};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::user::UserState;
use serde::Deserialize;
use utoipa::ToSchema;

/// `PUT /users/{id}/profile`: the whole profile (names live on the user).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// `{line1, line2?, city, region?, postal_code?, country}` (ISO 3166-1 alpha-2).
    #[schema(value_type = Option<Object>)]
    address: Option<domain::values::Address>,
    /// `{name, phone}` (E.164).
    #[schema(value_type = Option<Object>)]
    emergency_contact: Option<domain::values::EmergencyContact>,
    /// A BCP 47 language tag, such as `en` or `pt-BR`.
    #[schema(value_type = Option<String>)]
    preferred_language: Option<domain::values::LanguageTag>,
    /// Any JSON object up to 4 KiB.
    #[serde(default)]
    #[schema(value_type = Object)]
    notification_preferences: domain::values::NotificationPreferences,
}

fn profile_answer(profile: &domain::values::Profile, version: u64) -> Response {
    let mut response = axum::Json(profile).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// A user's profile (the user themself, administrators, and org_admins of their organizations).
#[utoipa::path(get, path = "/api/v1/users/{id}/profile", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = Object),
        crate::openapi::AuthErrors,
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (user, version) =
        user_for(&state, &caller, &id, Read::Latest, Operation::ReadProfile).await?;
    Ok(profile_answer(&user.profile, version))
}

/// Replaces a user's profile (the user themself and administrators).
#[utoipa::path(put, path = "/api/v1/users/{id}/profile", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body = ProfileRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = Object),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's profile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn put_profile(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(expected_version): IfMatch,
    command: JsonCommand<ProfileRequest>,
) -> Result<Response, Problem> {
    let body = command.body;
    let profile = domain::values::Profile {
        address: body.address,
        emergency_contact: body.emergency_contact,
        preferred_language: body.preferred_language,
        notification_preferences: body.notification_preferences,
    };
    let authority = Authority::of(&state, &caller).await?;
    let preconditions = Preconditions {
        expected_version,
        idempotency: command.idempotency,
    };
    let executed = state
        .change_profile(&authority, &context, user_id(&id)?, profile, preconditions)
        .await?;
    let UserState::Present(after) = &executed.state else {
        return Err(crate::authz::not_found(Resource::User));
    };
    let mut response = profile_answer(&after.profile, executed.stream_version);
    if let Some(position) = executed.position {
        response
            .headers_mut()
            .insert(LOG_POSITION, HeaderValue::from(position));
    }
    Ok(response)
}

/// The largest profile picture accepted, in bytes.
pub const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

/// Stores a profile picture: the raw image is the body, a PNG, JPEG or WebP (told by its bytes)
/// of at most 5 MiB and 40 megapixels that decodes whole; what is stored is the image encoded
/// again, without metadata.
#[utoipa::path(post, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id")),
    request_body(
        description = "The image's bytes as the body, or a `multipart/form-data` form whose `picture` field is the image (the form counts toward the 5 MiB)",
        content(
            (Vec<u8> = "image/*"),
            (PictureForm = "multipart/form-data"),
        )
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored", body = Object),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's picture", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "A form that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG or WebP image", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The image does not decode, or has over 40 megapixels, or the form has no `picture` field", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn put_picture(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, Problem> {
    let body = picture_bytes(request, &state).await?;
    let authority = Authority::of(&state, &caller).await?;
    let executed = state
        .set_picture(&authority, &context, user_id(&id)?, body)
        .await?;
    let UserState::Present(after) = &executed.state else {
        return Err(crate::authz::not_found(Resource::User));
    };
    let mut response = axum::Json(&after.picture).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(executed.stream_version));
    Ok(response)
}

/// A picture sent as a form.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document")]
struct PictureForm {
    /// The image: PNG, JPEG or WebP.
    #[schema(value_type = String, format = Binary)]
    picture: Vec<u8>,
}

/// The image of an upload: the whole body, or a form's `picture` field.
async fn picture_bytes(
    request: axum::extract::Request,
    state: &AppState,
) -> Result<axum::body::Bytes, Problem> {
    use axum::extract::FromRequest;
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_form {
        return axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| unreadable(rejection.status(), &rejection.body_text()));
    }
    let mut form = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|rejection| unreadable(rejection.status(), &rejection.body_text()))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|error| unreadable(error.status(), &error.body_text()))?
    {
        if field.name() == Some("picture") {
            return field
                .bytes()
                .await
                .map_err(|error| unreadable(error.status(), &error.body_text()));
        }
    }
    Err(Problem::validation().with_field("/picture", "the form has no `picture` field"))
}

/// A body that could not be read: over the pictures' limit, or not a well-formed form.
fn unreadable(status: StatusCode, detail: &str) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::too_large("Pictures", MAX_PICTURE_BYTES);
    }
    Problem::new(
        StatusCode::BAD_REQUEST,
        "unreadable-body",
        "The body could not be read",
    )
    .with_detail(detail.to_owned())
}

/// `GET /users/{id}/profile/picture`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PictureQuery {
    /// A smaller rendition: 256 or 64 pixels on its longer side (a picture stored before
    /// renditions existed answers with itself).
    #[param(schema_with = crate::openapi::rendition_size)]
    #[serde(default, deserialize_with = "rendition_size")]
    size: Option<u32>,
}

/// A rendition size idlog stores.
fn rendition_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    let size = Option::<u32>::deserialize(deserializer)?;
    match size {
        Some(size) if !application::pictures::RENDITION_SIZES.contains(&size) => {
            Err(serde::de::Error::custom(format!(
                "size: one of {:?}",
                application::pictures::RENDITION_SIZES
            )))
        }
        size => Ok(size),
    }
}

/// The profile picture's bytes.
#[utoipa::path(get, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id"), PictureQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", content_type = "image/*"),
        crate::openapi::AuthErrors,
        crate::openapi::QueryErrors,
        (status = 404, description = "No such user or picture, or not one the caller may see", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn get_picture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<PictureQuery>,
) -> Result<Response, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    let stored = state.picture(&authority, user_id(&id)?, query.size).await?;
    Ok(picture_response(stored))
}

/// A stored picture as an answer: served as the image it was stored as and nothing else (no
/// sniffing, no active content).
pub(crate) fn picture_response(stored: application::profiles::StoredPicture) -> Response {
    let content_type = match stored.picture.content_type.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ),
        ],
        stored.bytes,
    )
        .into_response()
}

/// Removes the profile picture.
#[utoipa::path(delete, path = "/api/v1/users/{id}/profile/picture", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        crate::openapi::AuthErrors,
        (status = 403, description = "Someone else's picture", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or picture", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn delete_picture(
    State(state): State<AppState>,
    context: RequestContext,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let authority = Authority::of(&state, &caller).await?;
    state
        .remove_picture(&authority, &context, user_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
