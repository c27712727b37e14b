//! Cross-site request forgery: every state-changing page request must come from idlog's own
//! pages, shown twice over.
//! - Its `Origin` (or, without one, `Sec-Fetch-Site`) names this site ([`check_origin`]).
//! - Its form carries a token signed over the browser's CSRF cookie ([`PageForm`]): a signed
//!   double submit, so that a cookie planted by a sibling domain does not forge one.
//!
//! The cookie is `HttpOnly` and `SameSite=Strict`; it is set on the first page a browser sees
//! and replaced at sign-in.

use super::error::PageError;
use super::session::cookie_name;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The base name of the CSRF cookie (`__Host-` is put before it over https).
const COOKIE: &str = "idlog_csrf";

/// The browser's CSRF cookie value, as this request has it (new if it had none).
#[derive(Debug, Clone)]
pub struct CsrfCookie(String);

impl CsrfCookie {
    /// A fresh random value.
    pub fn fresh() -> Self {
        let mut bytes = [0_u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Self(data_encoding::BASE64URL_NOPAD.encode(&bytes))
    }

    /// The token forms carry for this cookie.
    pub fn token(&self, state: &AppState) -> String {
        data_encoding::BASE64URL_NOPAD.encode(&signature(state, &self.0))
    }

    /// Whether `token` is this cookie's (in constant time).
    pub fn accepts(&self, state: &AppState, token: &str) -> bool {
        let Ok(presented) = data_encoding::BASE64URL_NOPAD.decode(token.as_bytes()) else {
            return false;
        };
        let mut mac = mac(state);
        mac.update(self.0.as_bytes());
        mac.verify_slice(&presented).is_ok()
    }

    /// The `Set-Cookie` value that gives the browser this cookie.
    pub fn set_cookie(&self, state: &AppState) -> Option<HeaderValue> {
        let cookie = Cookie::build((cookie_name(state, COOKIE), self.0.clone()))
            .path("/")
            .http_only(true)
            .secure(state.pages.secure)
            .same_site(SameSite::Strict)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

fn mac(state: &AppState) -> Hmac<sha2::Sha256> {
    // An HMAC takes a key of any length: this cannot fail.
    <Hmac<sha2::Sha256> as Mac>::new_from_slice(&state.pages.csrf_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

fn signature(state: &AppState, value: &str) -> Vec<u8> {
    let mut mac = mac(state);
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Middleware on every page: refuses a state-changing request from another site, and makes
/// sure the browser has a CSRF cookie (setting one on the response when it had none).
pub async fn check_origin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, PageError> {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe && !same_site(&state, request.headers()) {
        tracing::info!(path = %request.uri().path(), "cross-site page request refused");
        return Err(PageError::CrossSite);
    }
    let jar = CookieJar::from_headers(request.headers());
    let existing = jar
        .get(&cookie_name(&state, COOKIE))
        .map(|cookie| CsrfCookie(cookie.value().to_owned()));
    let cookie = existing.clone().unwrap_or_else(CsrfCookie::fresh);
    request.extensions_mut().insert(cookie.clone());
    let mut response = next.run(request).await;
    let replaced = response.extensions().get::<Replaced>().is_some();
    if existing.is_none()
        && !replaced
        && let Some(value) = cookie.set_cookie(&state)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Marks a response that sets a new CSRF cookie itself (a sign-in), so the middleware does not
/// set another.
#[derive(Debug, Clone, Copy)]
pub struct Replaced;

/// Whether the request's `Origin` is this site (the public origin, or the `Host` it was sent
/// to); without `Origin`, whether `Sec-Fetch-Site` says same-origin. A client that sends
/// neither is not a browser that could be tricked, and still needs the form token.
fn same_site(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        if origin == state.pages.public_origin {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .map(str::to_ascii_lowercase);
        return match (origin.split_once("://"), host) {
            (Some((_, authority)), Some(host)) => authority == host,
            _ => false,
        };
    }
    match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
        Some(site) => site == b"same-origin" || site == b"none",
        None => true,
    }
}

impl FromRequestParts<AppState> for CsrfCookie {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(PageError::CrossSite)
    }
}

/// A page form (`application/x-www-form-urlencoded`) whose CSRF token was checked.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let cookie = CsrfCookie::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| PageError::BadForm)?;
        let token: Token = serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::BadForm)?;
        if !cookie.accepts(state, &token.csrf) {
            tracing::info!(path = %parts.uri.path(), "page form without a valid CSRF token");
            return Err(PageError::CrossSite);
        }
        let form = serde_html_form::from_bytes(&bytes).map_err(|error| {
            tracing::info!(%error, "page form did not read");
            PageError::BadForm
        })?;
        Ok(Self(form))
    }
}
