//! Extractors whose failures are problem+json, and the request context recorded with events.

use crate::REQUEST_ID;
use crate::problem::Problem;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use eventstore::{Actor, ActorKind, EventMetadata};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// A JSON body; malformed, mistyped or oversized bodies are refused as problem+json.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonSyntaxError(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
                .with_detail(rejection.body_text())
        }
        JsonRejection::JsonDataError(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "The body does not fit this request",
        )
        .with_detail(rejection.body_text()),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Send JSON",
        )
        .with_detail("Content-Type must be application/json."),
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::body_too_large()
        }
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "The body could not be read",
        ),
    }
}

/// Who is asking and from where: the metadata every event of this request carries.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// Event metadata for an action by `actor`.
    pub fn metadata(&self, actor: Actor) -> EventMetadata {
        EventMetadata {
            actor,
            correlation_id: Some(uuid::Uuid::now_v7()),
            command_id: Some(uuid::Uuid::now_v7()),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            ..Default::default()
        }
    }

    /// Event metadata for a user acting for themself.
    pub fn user_metadata(&self, user_id: &str) -> EventMetadata {
        self.metadata(Actor {
            kind: ActorKind::User,
            id: Some(user_id.to_owned()),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let user_agent = header("user-agent").map(|agent| agent.chars().take(512).collect());
        Ok(Self {
            ip,
            user_agent,
            request_id: header(REQUEST_ID.as_str()),
        })
    }
}
