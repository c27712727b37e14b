//! Privacy: downloading one's data, and forgetting one's account (confirmed as the command line
//! confirms it: by typing "forget", and with the password).

use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::error::problem_text;
use crate::pages::render::{self, Chrome};
use crate::pages::session::{self, SignedIn};
use crate::problem::Problem;
use application::AppError;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;

/// The word that confirms forgetting, as `idlog users forget` asks for it.
const CONFIRMATION: &str = "forget";

/// The privacy page.
#[derive(Template)]
#[template(path = "account/privacy.html")]
struct PrivacyPage {
    c: Chrome,
    error: Option<String>,
    email: String,
    confirmation: &'static str,
}

/// `GET /account/privacy`.
pub async fn page(signed_in: SignedIn) -> Response {
    render::ok(&PrivacyPage {
        email: signed_in.caller.user.email.to_string(),
        c: signed_in.chrome.clone(),
        error: None,
        confirmation: CONFIRMATION,
    })
}

/// `GET /account/privacy/export`: everything idlog holds about the person, as a JSON file.
pub async fn export(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let user_id = signed_in.caller.user.id;
    let data = state.export_user(&signed_in.authority, user_id).await?;
    let mut response = (StatusCode::OK, axum::Json(data)).into_response();
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"idlog-user-{user_id}.json\""
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The forget form.
#[derive(Debug, Deserialize)]
pub struct ForgetForm {
    #[serde(default)]
    confirmation: String,
    password: SecretString,
}

/// `POST /account/privacy/forget`.
pub async fn forget(
    State(state): State<AppState>,
    mut signed_in: SignedIn,
    PageForm(form): PageForm<ForgetForm>,
) -> Result<Response, PageError> {
    let t = signed_in.chrome.t;
    let again = |signed_in: &SignedIn, error: String, problem: Problem| {
        render::refused(
            problem,
            &PrivacyPage {
                email: signed_in.caller.user.email.to_string(),
                c: signed_in.chrome.clone(),
                error: Some(error),
                confirmation: CONFIRMATION,
            },
        )
    };
    if form.confirmation.trim() != CONFIRMATION {
        return Ok(again(
            &signed_in,
            t.type_to_confirm(CONFIRMATION),
            Problem::validation(),
        ));
    }
    let user_id = signed_in.caller.user.id;
    match state
        .forget_user(
            &mut signed_in.authority,
            &signed_in.context,
            user_id,
            Some(form.password),
            None,
        )
        .await
    {
        Ok(_) => {
            let mut response = render::see_other("/sign-in?done=forgotten");
            session::end(&state, &mut response);
            Ok(response)
        }
        Err(error @ (AppError::WrongPassword { .. } | AppError::RateLimited(_))) => {
            let problem = Problem::from(error);
            let error = problem_text(&problem);
            Ok(again(&signed_in, error, problem))
        }
        Err(error) => Err(error.into()),
    }
}
