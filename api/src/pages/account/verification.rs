//! Verifying an email address (the page every emailed link opens) and a phone number (a code
//! sent by text message).

use super::Message;
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::error::problem_text;
use crate::pages::render::{self, Chrome, When};
use crate::pages::session::{Anonymous, SignedIn};
use crate::problem::Problem;
use application::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use commands::CommandError;
use domain::user::{RESEND_COOLDOWN, UserError};
use secrecy::SecretString;
use serde::Deserialize;

/// `?token=` of a verification link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /verify-email?token=`: verified, expired, or already used, each with what to do next.
pub async fn email_link(
    State(state): State<AppState>,
    page: Anonymous,
    Query(query): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let t = page.chrome.t;
    let token = SecretString::from(query.token);
    let (status, heading, body, tone, link) = match state.verify_email(&page.context, &token).await
    {
        Ok(_) => (
            StatusCode::OK,
            t.email_verified_heading,
            t.email_verified_body,
            "success",
            ("/account", t.go_to_dashboard),
        ),
        Err(AppError::User(CommandError::Rejected(UserError::EmailAlreadyVerified))) => (
            StatusCode::OK,
            t.email_already_verified_heading,
            t.email_already_verified_body,
            "success",
            ("/account", t.go_to_dashboard),
        ),
        Err(AppError::User(CommandError::Rejected(UserError::TokenExpired))) => (
            StatusCode::GONE,
            t.link_expired_heading,
            t.email_link_expired_body,
            "warning",
            ("/account", t.send_new_link_from_dashboard),
        ),
        Err(AppError::User(CommandError::Rejected(UserError::InvalidToken))) => (
            StatusCode::BAD_REQUEST,
            t.link_invalid_heading,
            t.email_link_invalid_body,
            "warning",
            ("/account", t.send_new_link_from_dashboard),
        ),
        Err(error) => return Err(error.into()),
    };
    Ok(render::page(
        status,
        &Message {
            c: page.chrome,
            heading,
            body: body.to_owned(),
            tone,
            link: Some(link),
        },
    ))
}

/// `POST /verify-email`: sends a new link to the signed-in person's address.
pub async fn resend_email(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    match state
        .send_email_verification(&signed_in.authority, &signed_in.context)
        .await
    {
        Ok(()) => Ok(render::see_other("/account?done=link-sent")),
        Err(AppError::User(CommandError::Rejected(UserError::TooSoon { .. }))) => {
            Ok(render::see_other("/account?done=too-soon"))
        }
        Err(AppError::User(CommandError::Rejected(UserError::EmailAlreadyVerified))) => {
            Ok(render::see_other("/account"))
        }
        Err(error) => Err(error.into()),
    }
}

/// The phone verification page.
#[derive(Template)]
#[template(path = "account/phone.html")]
struct PhonePage {
    c: Chrome,
    error: Option<String>,
    phone: Option<String>,
    verified: bool,
    /// The code waiting to be entered: when it expires and how many tries are left.
    pending: Option<(When, u32)>,
    /// Seconds until another code may be sent (0: now).
    resend_in: i64,
}

impl PhonePage {
    fn of(signed_in: &SignedIn, error: Option<String>, notice: Option<&'static str>) -> Self {
        let user = &signed_in.caller.user;
        let now = chrono::Utc::now();
        let pending = user
            .phone_verification
            .as_ref()
            .filter(|code| code.expires_at > now);
        let resend_in = user
            .phone_verification
            .as_ref()
            .map_or(0, |code| {
                (code.issued_at + RESEND_COOLDOWN - now).num_seconds()
            })
            .max(0);
        Self {
            c: signed_in.chrome_with(notice),
            error,
            phone: user.phone.as_ref().map(ToString::to_string),
            verified: user.phone_verified_at.is_some(),
            pending: pending.map(|code| (When::new(code.expires_at), code.attempts_left)),
            resend_in,
        }
    }
}

/// `GET /account/phone`.
pub async fn phone_form(signed_in: SignedIn, Query(done): Query<super::Done>) -> Response {
    let notice = signed_in.chrome.t.notice(done.done.as_deref());
    render::ok(&PhonePage::of(&signed_in, None, notice))
}

/// `POST /account/phone/send`: a new code, once the cooldown has passed.
pub async fn send_phone_code(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    match state
        .send_phone_code(&signed_in.authority, &signed_in.context)
        .await
    {
        Ok(()) => Ok(render::see_other("/account/phone?done=code-sent")),
        Err(error @ AppError::User(CommandError::Rejected(_))) => {
            let problem = Problem::from(error);
            let page = PhonePage::of(&signed_in, Some(problem_text(&problem)), None);
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}

/// The code as typed.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    code: SecretString,
}

/// `POST /account/phone`: checks the code; a wrong one says how many tries are left.
pub async fn verify_phone(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    match state
        .verify_phone(&signed_in.authority, &signed_in.context, &form.code)
        .await
    {
        Ok(_) => Ok(render::see_other("/account?done=phone-verified")),
        Err(AppError::WrongPhoneCode { attempts_left }) => {
            let t = signed_in.chrome.t;
            let mut page = PhonePage::of(&signed_in, Some(t.wrong_code(attempts_left)), None);
            if let Some((_, left)) = page.pending.as_mut() {
                *left = attempts_left;
            }
            Ok(render::page(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(error @ (AppError::User(CommandError::Rejected(_)) | AppError::Invalid(_))) => {
            let problem = Problem::from(error);
            let page = PhonePage::of(&signed_in, Some(problem_text(&problem)), None);
            Ok(render::refused(problem, &page))
        }
        Err(error) => Err(error.into()),
    }
}
