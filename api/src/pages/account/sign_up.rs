//! Signing up: email, optional phone and names, a password; then "check your email".

use super::Message;
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::error::problem_text;
use crate::pages::render::{self, Chrome};
use crate::pages::session::Anonymous;
use crate::problem::Problem;
use application::AppError;
use application::accounts::{Registered, Registration};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use domain::values::{Email, PersonName, PhoneNumber};
use secrecy::SecretString;
use serde::Deserialize;

/// The sign-up form as typed (shown again with what was wrong).
#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    password: Option<SecretString>,
}

/// What is wrong with each field.
#[derive(Debug, Default)]
struct FieldErrors {
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    password: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        self.email.is_some()
            || self.phone.is_some()
            || self.first_name.is_some()
            || self.last_name.is_some()
            || self.password.is_some()
    }
}

/// The sign-up page.
#[derive(Template)]
#[template(path = "account/sign_up.html")]
struct SignUpPage {
    c: Chrome,
    error: Option<String>,
    form: SignUpForm,
    errors: FieldErrors,
    rules: String,
}

/// `GET /sign-up`.
pub async fn form(State(state): State<AppState>, page: Anonymous) -> Response {
    let t = page.chrome.t;
    render::ok(&SignUpPage {
        c: page.chrome,
        error: None,
        form: SignUpForm::default(),
        errors: FieldErrors::default(),
        rules: t.password_rules(state.passwords.min_length()),
    })
}

/// An optional field: empty is absent, anything else must parse.
fn optional<T, E: std::fmt::Display>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    error: &mut Option<String>,
) -> Option<T> {
    if raw.trim().is_empty() {
        return None;
    }
    parse(raw)
        .map_err(|rejection| *error = Some(rejection.to_string()))
        .ok()
}

/// `POST /sign-up`.
pub async fn submit(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(mut form): PageForm<SignUpForm>,
) -> Result<Response, PageError> {
    let t = page.chrome.t;
    let mut errors = FieldErrors::default();
    let email = Email::parse(&form.email)
        .map_err(|rejection| errors.email = Some(rejection.to_string()))
        .ok();
    let phone = optional(&form.phone, PhoneNumber::parse, &mut errors.phone);
    let first_name = optional(&form.first_name, PersonName::parse, &mut errors.first_name);
    let last_name = optional(&form.last_name, PersonName::parse, &mut errors.last_name);
    let password = form.password.take().unwrap_or_default();
    let answer = |errors: FieldErrors, error: Option<String>, problem: Problem| {
        render::refused(
            problem,
            &SignUpPage {
                c: page.chrome.clone(),
                error,
                form: SignUpForm {
                    password: None,
                    ..form
                },
                errors,
                rules: t.password_rules(state.passwords.min_length()),
            },
        )
    };
    let Some(email) = email.filter(|_| !errors.any()) else {
        return Ok(answer(errors, None, Problem::validation()));
    };
    let registration = Registration {
        email,
        username: None,
        phone,
        first_name,
        last_name,
        password,
    };
    match state.register(&page.context, registration).await {
        Ok(Registered::Created(_) | Registered::Hidden) => Ok(render::ok(&Message {
            c: page.chrome.clone(),
            heading: t.check_your_email,
            body: t.verification_sent.to_owned(),
            tone: "success",
            link: Some(("/sign-in", t.back_to_sign_in)),
        })),
        Err(AppError::Password { rejection, .. }) => {
            errors.password = Some(rejection.to_string());
            Ok(answer(errors, None, Problem::validation()))
        }
        Err(
            error @ (AppError::User(_)
            | AppError::Invalid(_)
            | AppError::RateLimited(_)
            | AppError::AddressBlocked),
        ) => {
            let problem = Problem::from(error);
            let error = Some(problem_text(&problem));
            Ok(answer(errors, error, problem))
        }
        Err(error) => Err(error.into()),
    }
}
