//! The page session: a cookie holding the opaque secret of a revocable session (the same kind
//! a REST login starts, listed and limited alike), stored hashed in the log, never a JWT.
//! REST accepts only bearer tokens and pages only this cookie.

use super::csrf::{CsrfCookie, Replaced};
use super::error::PageError;
use super::render::{Chrome, Person};
use crate::AppState;
use crate::extract::RequestContext;
use application::authentication::Caller;
use application::authority::Authority;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use secrecy::{ExposeSecret, SecretString};

/// The base name of the session cookie (`__Host-` is put before it over https).
const COOKIE: &str = "idlog_session";

/// A cookie's name: `__Host-` before it when the pages are served over https, which binds it
/// to this host, `Secure`, with path `/`.
pub fn cookie_name(state: &AppState, base: &str) -> String {
    if state.pages.secure {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The session cookie's secret, if the request has one.
fn session_secret(state: &AppState, parts: &Parts) -> Option<SecretString> {
    CookieJar::from_headers(&parts.headers)
        .get(&cookie_name(state, COOKIE))
        .map(|cookie| SecretString::from(cookie.value().to_owned()))
}

/// Gives `response` the new session's cookie and a fresh CSRF cookie: nothing a browser held
/// before signing in is trusted after.
pub fn start(state: &AppState, response: &mut Response, secret: &SecretString) {
    let session = Cookie::build((
        cookie_name(state, COOKIE),
        secret.expose_secret().to_owned(),
    ))
    .path("/")
    .http_only(true)
    .secure(state.pages.secure)
    // Lax: a link in an email opens the signed-in page; a cross-site form post does not
    // carry the cookie.
    .same_site(SameSite::Lax)
    .build();
    append_cookie(response, &session.to_string());
    if let Some(csrf) = CsrfCookie::fresh().set_cookie(state) {
        response.headers_mut().append(header::SET_COOKIE, csrf);
        response.extensions_mut().insert(Replaced);
    }
}

/// Removes the session cookie from the browser.
pub fn end(state: &AppState, response: &mut Response) {
    let gone = Cookie::build((cookie_name(state, COOKIE), ""))
        .path("/")
        .http_only(true)
        .secure(state.pages.secure)
        .same_site(SameSite::Lax)
        .removal()
        .build();
    append_cookie(response, &gone.to_string());
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A signed-in person on a page: their session checked, their rights as the policy gives
/// them. Without a usable session the request is sent to sign in, and back here after.
#[derive(Debug)]
pub struct SignedIn {
    /// The person and their session.
    pub caller: Caller,
    /// Their rights.
    pub authority: Authority,
    /// Where the request came from.
    pub context: RequestContext,
    /// The chrome of their pages.
    pub chrome: Chrome,
}

impl SignedIn {
    /// The chrome with `notice` shown.
    pub fn chrome_with(&self, notice: Option<&'static str>) -> Chrome {
        self.chrome.clone().with_notice(notice)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|path| path.as_str().to_owned());
        let sign_in = || PageError::SignIn { next: next.clone() };
        let Ok(context) = RequestContext::from_request_parts(parts, state).await;
        let secret = session_secret(state, parts).ok_or_else(sign_in)?;
        let current = match state.authenticate_page(&context, &secret).await {
            Ok(current) => current,
            Err(application::AppError::InvalidToken) => return Err(sign_in()),
            Err(error) => return Err(error.into()),
        };
        let caller = match state.caller(current).await {
            Ok(caller) => caller,
            Err(application::AppError::InvalidToken) => return Err(sign_in()),
            Err(error) => return Err(error.into()),
        };
        let authority = Authority::of(state, &caller).await?;
        let csrf = CsrfCookie::from_request_parts(parts, state).await?;
        let mut chrome = Chrome::anonymous(csrf.token(state));
        chrome.person = Some(Person {
            name: display_name(&caller),
            console: super::console::sections(state, &authority),
        });
        Ok(Self {
            caller,
            authority,
            context,
            chrome,
        })
    }
}

/// A signed-in person, if the request's session is usable; a visitor otherwise.
#[derive(Debug)]
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        if !has_session_cookie(state, parts) {
            return Ok(Self(None));
        }
        match SignedIn::from_request_parts(parts, state).await {
            Ok(signed_in) => Ok(Self(Some(signed_in))),
            Err(PageError::SignIn { .. }) => Ok(Self(None)),
            Err(error) => Err(error),
        }
    }
}

/// How the navigation names a person: first name, else username, else email address.
fn display_name(caller: &Caller) -> String {
    let user = &caller.user;
    if let Some(first) = user.first_name.as_ref() {
        return first.to_string();
    }
    user.username
        .as_ref()
        .map_or_else(|| user.email.to_string(), ToString::to_string)
}

/// An anonymous page's chrome (sign in, sign up, ...), with its form token.
#[derive(Debug)]
pub struct Anonymous {
    /// The chrome.
    pub chrome: Chrome,
    /// Where the request came from.
    pub context: RequestContext,
}

impl FromRequestParts<AppState> for Anonymous {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let csrf = CsrfCookie::from_request_parts(parts, state).await?;
        let Ok(context) = RequestContext::from_request_parts(parts, state).await;
        Ok(Self {
            chrome: Chrome::anonymous(csrf.token(state)),
            context,
        })
    }
}

/// Whether the request carries a session cookie at all (to send a signed-in visitor of the
/// sign-in page on).
pub fn has_session_cookie(state: &AppState, parts: &Parts) -> bool {
    session_secret(state, parts).is_some()
}
