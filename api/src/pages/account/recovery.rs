//! A forgotten password: asking for a reset link, and setting a new password with it (or
//! with the token of a forced change).

use super::Message;
use super::sign_in::{NewPasswordForm, NewPasswordPage};
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::{PageError, problem_text};
use crate::pages::render::{self, Chrome};
use crate::pages::session::Anonymous;
use crate::problem::Problem;
use application::AppError;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Deserialize;

/// The "forgot password" page.
#[derive(Template)]
#[template(path = "account/forgot.html")]
struct ForgotPage {
    c: Chrome,
    error: Option<String>,
}

/// `GET /forgot-password`.
pub async fn forgot_form(page: Anonymous) -> Response {
    render::ok(&ForgotPage {
        c: page.chrome,
        error: None,
    })
}

/// The "forgot password" form.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /forgot-password`: the same answer whether or not the address has an account.
pub async fn forgot(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(form): PageForm<ForgotForm>,
) -> Result<Response, PageError> {
    let t = page.chrome.t;
    match state.forgot_password(&page.context, &form.email).await {
        Ok(()) => Ok(render::ok(&Message {
            c: page.chrome,
            heading: t.check_your_email,
            body: t.reset_link_sent.to_owned(),
            tone: "success",
            link: Some(("/sign-in", t.back_to_sign_in)),
        })),
        Err(error @ (AppError::RateLimited(_) | AppError::AddressBlocked)) => {
            let problem = Problem::from(error);
            let error = Some(problem.detail_text().into_owned());
            Ok(render::refused(
                problem,
                &ForgotPage {
                    c: page.chrome,
                    error,
                },
            ))
        }
        Err(error) => Err(error.into()),
    }
}

/// `?token=` of a reset link.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /reset-password?token=`: the page every reset and invitation link opens.
pub async fn reset_form(
    State(state): State<AppState>,
    page: Anonymous,
    Query(query): Query<TokenQuery>,
) -> Response {
    let t = page.chrome.t;
    render::ok(&NewPasswordPage {
        heading: t.reset_heading,
        lead: t.reset_lead,
        error: None,
        action: "/reset-password",
        token: query.token,
        min_length: state.passwords.min_length(),
        rules: t.password_rules(state.passwords.min_length()),
        c: page.chrome,
    })
}

/// `POST /reset-password`.
pub async fn reset(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(form): PageForm<NewPasswordForm>,
) -> Result<Response, PageError> {
    let t = page.chrome.t;
    set_password(
        &state,
        page,
        form,
        t.reset_heading,
        t.reset_lead,
        "/reset-password",
    )
    .await
}

/// Sets the password a token allows; a refused password or token is told on the form.
pub async fn set_password(
    state: &AppState,
    page: Anonymous,
    form: NewPasswordForm,
    heading: &'static str,
    lead: &'static str,
    action: &'static str,
) -> Result<Response, PageError> {
    let token = form.token.expose_secret().to_owned();
    match state
        .reset_password(&page.context, form.token, form.new_password)
        .await
    {
        Ok(()) => Ok(render::see_other("/sign-in?done=password-set")),
        Err(error @ (AppError::Password { .. } | AppError::User(_) | AppError::AddressBlocked)) => {
            let problem = Problem::from(error);
            let t = page.chrome.t;
            let error = Some(problem_text(&problem));
            Ok(render::refused(
                problem,
                &NewPasswordPage {
                    heading,
                    lead,
                    error,
                    action,
                    token,
                    min_length: state.passwords.min_length(),
                    rules: t.password_rules(state.passwords.min_length()),
                    c: page.chrome,
                },
            ))
        }
        Err(error) => Err(error.into()),
    }
}
