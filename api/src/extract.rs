//! Extractors whose failures are problem+json, and the request context recorded with events.

use crate::REQUEST_ID;
use crate::problem::Problem;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// A JSON body; malformed, mistyped or oversized bodies are refused as problem+json.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = object_bytes(&parts, body, state).await?;
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

/// The body's bytes, under the body limit, refused unless they start a JSON object.
async fn object_bytes<S: Send + Sync>(
    parts: &Parts,
    body: axum::body::Body,
    state: &S,
) -> Result<axum::body::Bytes, Problem> {
    let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::body_too_large()
            } else {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable-body",
                    "The body could not be read",
                )
            }
        })?;
    refuse_non_objects(&bytes)?;
    Ok(bytes)
}

/// Every body this API takes is a JSON object: serde would read an array into a struct field by
/// field (`[null, null]` as a lock request), which no schema here describes.
fn refuse_non_objects(bytes: &[u8]) -> Result<(), Problem> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_none_or(|byte| *byte == b'{') {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
        "The body does not fit this request",
    )
    .with_detail("The body must be a JSON object."))
}

fn json_problem(rejection: &JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonSyntaxError(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
                .with_detail(rejection.body_text())
        }
        JsonRejection::JsonDataError(error) => {
            let problem = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "The body does not fit this request",
            )
            .with_detail(rejection.body_text());
            // Name the field when serde says where it failed ("address.country" -> "/address/country").
            let mut source = std::error::Error::source(error);
            let mut located = None;
            while let Some(error) = source {
                located = located
                    .or(error.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>());
                source = error.source();
            }
            match located {
                Some(located) if located.path().iter().next().is_some() => {
                    let pointer: String = located
                        .path()
                        .iter()
                        .map(|segment| format!("/{segment}"))
                        .collect();
                    let detail = located.inner().to_string();
                    let detail = detail
                        .split(" at line ")
                        .next()
                        .unwrap_or(&detail)
                        .to_owned();
                    problem.with_field(pointer, detail)
                }
                _ => problem,
            }
        }
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

pub use application::RequestContext;

/// Where the request comes from: its connection and headers.
impl FromRequestParts<crate::AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| {
                client_address(info.0.ip(), &forwarded, &state.trusted_proxies).to_string()
            });
        let user_agent = header("user-agent").map(|agent| agent.chars().take(512).collect());
        Ok(Self {
            ip,
            user_agent,
            request_id: header(REQUEST_ID.as_str()),
        })
    }
}

/// The client's address: the connection's, unless it comes from a trusted proxy
/// (`server.trusted_proxies`); then `X-Forwarded-For` is read from the right, past every
/// trusted proxy, to the first address that is not one. An entry that does not read as an
/// address ends the walk at the proxy that passed it on, so a client cannot forge what lies
/// beyond the proxies.
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    // An IPv4 address seen as IPv6 (a dual-stack listener's `::ffff:10.0.0.1`) is the IPv4
    // address, for the trusted ranges as for whoever reads the result.
    let peer = peer.to_canonical();
    let is_trusted = |address: &std::net::IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded_for
        .iter()
        .flat_map(|header| header.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(address) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        let address = address.to_canonical();
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// The header a client sends to make a command safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` of a request, bound to what the request asks: the same key with another
/// method, path or body is refused rather than answered with the first result.
fn idempotency_key(
    parts: &Parts,
    body: &[u8],
) -> Result<Option<eventstore::IdempotencyKey>, Problem> {
    let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .and_then(eventstore::IdempotencyKey::client_key)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
            )
            .with_detail("Idempotency-Key must be 1 to 255 visible ASCII characters.")
        })?;
    let mut digest = Sha256::new();
    for part in [
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        body,
    ] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    Ok(Some(eventstore::IdempotencyKey {
        key: key.to_owned(),
        fingerprint: digest.finalize().into(),
    }))
}

/// A command's JSON body, with the request's idempotency key (bound to the body).
#[derive(Debug)]
pub struct JsonCommand<T> {
    /// The body.
    pub body: T,
    /// The `Idempotency-Key`, if sent.
    pub idempotency: Option<eventstore::IdempotencyKey>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonCommand<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let is_json = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<mime::Mime>().ok())
            .is_some_and(|mime| {
                mime.type_() == "application"
                    && (mime.subtype() == "json"
                        || mime.suffix().is_some_and(|suffix| suffix == "json"))
            });
        if !is_json {
            return Err(json_problem(&JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = object_bytes(&parts, body, state).await?;
        let axum::Json(body) =
            axum::Json::<T>::from_bytes(&bytes).map_err(|rejection| json_problem(&rejection))?;
        let idempotency = idempotency_key(&parts, &bytes)?;
        Ok(Self { body, idempotency })
    }
}

/// The idempotency key of a command without a body. A body, if sent, is an empty JSON object:
/// a field such a command does not take is refused, as every other command refuses one.
#[derive(Debug)]
pub struct Idempotency(pub Option<eventstore::IdempotencyKey>);

impl<S: Send + Sync> FromRequest<S> for Idempotency {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        /// What a command without a body takes: nothing.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoFields {}

        let (parts, body) = request.into_parts();
        let bytes = object_bytes(&parts, body, state).await?;
        if bytes.iter().any(|byte| !byte.is_ascii_whitespace()) {
            let axum::Json(NoFields {}) =
                axum::Json::from_bytes(&bytes).map_err(|rejection| json_problem(&rejection))?;
        }
        Ok(Self(idempotency_key(&parts, b"")?))
    }
}

/// `If-Match`: the stream version the client last saw (from an `ETag`), for optimistic
/// concurrency over HTTP. Absent or `*` means "whatever it is now".
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(Self(None));
        }
        text.trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .map(|version| Self(Some(version)))
            .map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-if-match",
                    "Invalid If-Match",
                )
                .with_detail("If-Match takes an ETag this API sent, such as \"3\".")
            })
    }
}

/// The `ETag` of a stream at `version`.
pub fn etag(version: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or(axum::http::HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(ranges: &[&str]) -> Vec<ipnet::IpNet> {
        ranges
            .iter()
            .map(|range| range.parse().expect("range"))
            .collect()
    }

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // Not through a trusted proxy: the connection's address, whatever the header says.
        assert_eq!(
            client_address(ip("203.0.113.5"), &["198.51.100.7"], &proxies),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["198.51.100.7"], &[]),
            ip("127.0.0.1")
        );
        // Through two proxies: the first address from the right that is not one.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                &["6.6.6.6, 198.51.100.7", "10.1.2.3"],
                &proxies
            ),
            ip("198.51.100.7")
        );
        // Nothing forwarded, or garbage: the nearest trusted hop.
        assert_eq!(
            client_address(ip("10.0.0.9"), &[], &proxies),
            ip("10.0.0.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.9"), &["not-an-address, 10.0.0.2"], &proxies),
            ip("10.0.0.2")
        );
        // IPv6 too.
        assert_eq!(
            client_address(ip("10.0.0.9"), &["2001:db8::1"], &proxies),
            ip("2001:db8::1")
        );
        // A dual-stack listener sees an IPv4 proxy, and IPv4 hops, written as IPv6.
        assert_eq!(
            client_address(ip("::ffff:10.0.0.9"), &["::ffff:198.51.100.7"], &proxies),
            ip("198.51.100.7")
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Inner {
        number: u32,
    }

    #[test]
    fn an_idempotency_key_with_a_tab_or_a_space_inside_is_refused() {
        for raw in [&b"a\tb"[..], b"a b", b"ok-key"] {
            let request = axum::http::Request::builder()
                .header(
                    IDEMPOTENCY_KEY,
                    axum::http::HeaderValue::from_bytes(raw).expect("a header value"),
                )
                .body(())
                .expect("request");
            let (parts, ()) = request.into_parts();
            let key = idempotency_key(&parts, b"");
            if raw == b"ok-key" {
                assert!(key.is_ok_and(|key| key.is_some()));
            } else {
                let problem = key.expect_err("refused");
                assert_eq!(problem.status, 400);
                assert!(problem.problem_type.ends_with("invalid-idempotency-key"));
            }
        }
    }

    #[test]
    fn a_mistyped_field_is_named_by_its_pointer() {
        let rejection = axum::Json::<Outer>::from_bytes(br#"{"inner": {"number": "five"}}"#)
            .expect_err("mistyped");
        let problem = json_problem(&rejection);
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.errors.first().map(|error| error.pointer.as_str()),
            Some("/inner/number"),
            "{problem:?}"
        );
    }
}

/// A query string; one that does not fit is refused as problem+json naming what is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(invalid_query(&rejection.body_text())),
        }
    }
}

/// 400 for a query string that does not fit the request, saying why.
pub fn invalid_query(detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "The query string does not fit this request",
    )
    .with_detail(detail)
}

/// A `PATCH` field that may be absent (leave it: `None`), `null` (remove it: `Some(None)`) or
/// a value; for `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
