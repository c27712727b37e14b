//! Security: the password, the second factor (TOTP with a QR code rendered here, recovery codes
//! shown once), and the sessions, each revocable, with "sign out everywhere".

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::error::problem_text;
use crate::pages::render::{self, Chrome, When, describe_agent};
use crate::pages::session::{self, SignedIn};
use crate::problem::Problem;
use application::AppError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::SessionId;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// One open session as the list shows it.
struct SessionLine {
    id: String,
    device: String,
    ip: Option<String>,
    started: When,
    last_used: When,
    current: bool,
}

/// A kind of device the person signed in from.
struct DeviceLine {
    device: String,
    first_seen: When,
    last_seen: When,
    last_ip: Option<String>,
    last_country: Option<String>,
    sign_ins: i64,
}

/// The security page.
#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage {
    c: Chrome,
    error: Option<String>,
    two_factor: bool,
    sessions: Vec<SessionLine>,
    devices: Vec<DeviceLine>,
    min_length: usize,
    rules: String,
}

async fn security_page(
    state: &AppState,
    signed_in: &SignedIn,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<SecurityPage, PageError> {
    let t = signed_in.chrome.t;
    let current = signed_in.caller.session.session_id;
    let mut open = state.own_sessions(&signed_in.caller.session).await?;
    open.reverse();
    let sessions = open
        .into_iter()
        .map(|session| SessionLine {
            id: session.id.to_string(),
            device: session
                .device
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| {
                    session
                        .user_agent
                        .as_ref()
                        .map(|agent| describe_agent(agent.as_str()))
                })
                .unwrap_or_else(|| t.unknown_device.to_owned()),
            ip: session.ip.map(|ip| ip.to_string()),
            started: When::new(session.started_at),
            last_used: When::new(session.last_used_at),
            current: session.id == current,
        })
        .collect();
    let devices = state
        .devices(&signed_in.authority, signed_in.caller.user.id, None)
        .await?
        .into_iter()
        .map(|device| DeviceLine {
            device: device.seen.device,
            first_seen: When::new(device.seen.first_seen_at),
            last_seen: When::new(device.seen.last_seen_at),
            last_ip: device.seen.last_ip,
            last_country: device.last_country,
            sign_ins: device.seen.sign_ins,
        })
        .collect();
    Ok(SecurityPage {
        devices,
        c: signed_in.chrome_with(notice),
        error,
        two_factor: signed_in.caller.user.has_mfa(),
        sessions,
        min_length: state.passwords.min_length(),
        rules: t.password_rules(state.passwords.min_length()),
    })
}

/// `GET /account/security`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(done): Query<super::Done>,
) -> Result<Response, PageError> {
    let notice = signed_in.chrome.t.notice(done.done.as_deref());
    Ok(render::ok(
        &security_page(&state, &signed_in, None, notice).await?,
    ))
}

/// What a refused form on this page says, on the page itself.
async fn refused(
    state: &AppState,
    signed_in: &SignedIn,
    error: AppError,
) -> Result<Response, PageError> {
    match error {
        error @ (AppError::Password { .. }
        | AppError::WrongPassword { .. }
        | AppError::WrongCode
        | AppError::RateLimited(_)
        | AppError::User(_)
        | AppError::NotFound(_)) => {
            let problem = Problem::from(error);
            let page = security_page(state, signed_in, Some(problem_text(&problem)), None).await?;
            Ok(render::refused(problem, &page))
        }
        error => Err(error.into()),
    }
}

/// The password change form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    #[serde(default)]
    end_other_sessions: Option<String>,
}

/// `POST /account/security/password`.
pub async fn change_password(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    match state
        .change_password(
            &mut signed_in.authority,
            &signed_in.context,
            form.current_password,
            form.new_password,
            form.end_other_sessions.is_some(),
        )
        .await
    {
        Ok(()) => Ok(render::see_other("/account/security?done=password-changed")),
        Err(error) => refused(&state, &signed_in, error).await,
    }
}

/// The enrolment page: the QR code, the secret to type instead, and the first code.
#[derive(Template)]
#[template(path = "account/totp.html")]
struct TotpPage {
    c: Chrome,
    error: Option<String>,
    qr_data_uri: String,
    secret: String,
}

/// `otpauth_uri` as a QR code, an SVG image in a `data:` URI.
fn qr_code(otpauth_uri: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(otpauth_uri.as_bytes()).map_err(|error| {
        PageError::Problem(Problem::internal(&std::io::Error::other(error.to_string())))
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        data_encoding::BASE64.encode(svg.as_bytes())
    ))
}

/// `POST /account/security/totp`: starts an enrolment.
pub async fn start_totp(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    match state
        .enroll_totp(&signed_in.authority, &signed_in.context)
        .await
    {
        Ok(enrollment) => Ok(render::ok(&TotpPage {
            c: signed_in.chrome.clone(),
            error: None,
            qr_data_uri: qr_code(&enrollment.otpauth_uri)?,
            secret: enrollment.secret,
        })),
        Err(error) => refused(&state, &signed_in, error).await,
    }
}

/// The recovery codes, shown once.
#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage {
    c: Chrome,
    codes: Vec<String>,
}

/// The first code of the authenticator.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    code: SecretString,
}

/// `POST /account/security/totp/confirm`: turns TOTP on and shows the recovery codes once.
pub async fn confirm_totp(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let code: String = form
        .code
        .expose_secret()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match state
        .confirm_totp(
            &signed_in.authority,
            &signed_in.context,
            &SecretString::from(code),
        )
        .await
    {
        Ok(codes) => Ok(render::ok(&RecoveryCodesPage {
            c: signed_in.chrome_with(signed_in.chrome.t.notice(Some("two-factor-on"))),
            codes,
        })),
        Err(AppError::WrongCode) => {
            // The enrolment stays as it was: show the same secret again.
            let t = signed_in.chrome.t;
            let Some(enrollment) = state.pending_totp(&signed_in.authority)? else {
                return Ok(render::see_other("/account/security"));
            };
            Ok(render::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &TotpPage {
                    c: signed_in.chrome.clone(),
                    error: Some(t.wrong_totp_code.to_owned()),
                    qr_data_uri: qr_code(&enrollment.otpauth_uri)?,
                    secret: enrollment.secret,
                },
            ))
        }
        Err(error) => refused(&state, &signed_in, error).await,
    }
}

/// The password that turns the second factor off.
#[derive(Debug, Deserialize)]
pub struct DisableForm {
    password: SecretString,
}

/// `POST /account/security/totp/disable`.
pub async fn disable_totp(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    PageForm(form): PageForm<DisableForm>,
) -> Result<Response, PageError> {
    match state
        .disable_totp(&mut signed_in.authority, &signed_in.context, form.password)
        .await
    {
        Ok(()) => Ok(render::see_other("/account/security?done=two-factor-off")),
        Err(error) => refused(&state, &signed_in, error).await,
    }
}

/// `POST /account/sessions/{id}/revoke`: ends one of the person's sessions.
pub async fn revoke_session(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    let Ok(session_id) = id.parse::<SessionId>() else {
        return refused(
            &state,
            &signed_in,
            AppError::NotFound(application::Resource::Session),
        )
        .await;
    };
    match state
        .end_own_session(&signed_in.context, &signed_in.caller.session, session_id)
        .await
    {
        Ok(()) if session_id == signed_in.caller.session.session_id => {
            let mut response = render::see_other("/sign-in?done=signed-out");
            session::end(&state, &mut response);
            Ok(response)
        }
        Ok(()) => Ok(render::see_other("/account/security?done=session-ended")),
        Err(error) => refused(&state, &signed_in, error).await,
    }
}

/// `POST /account/sessions/sign-out-everywhere`: ends every session, this one too.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<super::Empty>,
) -> Result<Response, PageError> {
    state
        .logout_everywhere(&signed_in.context, &signed_in.caller.session)
        .await?;
    let mut response = render::see_other("/sign-in?done=signed-out-everywhere");
    session::end(&state, &mut response);
    Ok(response)
}
