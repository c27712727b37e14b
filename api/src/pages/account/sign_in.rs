//! Signing in (password, then the second factor when it is on, or the forced change of a
//! temporary password) and out.

use super::Empty;
use crate::AppState;
use crate::pages::csrf::PageForm;
use crate::pages::error::PageError;
use crate::pages::render::{self, Chrome, same_origin_path};
use crate::pages::session::{self, Anonymous, MaybeSignedIn, SignedIn};
use crate::problem::Problem;
use application::AppError;
use application::login::{PageSession, PasswordLogin, SecondFactorLogin, SignIn};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The sign-in page.
#[derive(Template)]
#[template(path = "account/sign_in.html")]
struct SignInPage {
    c: Chrome,
    error: Option<String>,
    login: String,
    next: String,
}

/// The second step: a code of the authenticator or a recovery code.
#[derive(Template)]
#[template(path = "account/sign_in_code.html")]
struct CodePage {
    c: Chrome,
    error: Option<String>,
    mfa_token: String,
    next: String,
}

/// Setting a new password with a token (a forced change, or a reset link).
#[derive(Template)]
#[template(path = "account/new_password.html")]
pub struct NewPasswordPage {
    /// The chrome.
    pub c: Chrome,
    /// Heading.
    pub heading: &'static str,
    /// Why a new password is asked for.
    pub lead: &'static str,
    /// What went wrong last time.
    pub error: Option<String>,
    /// Where the form posts.
    pub action: &'static str,
    /// The token that allows it.
    pub token: String,
    /// The shortest password the policy takes.
    pub min_length: usize,
    /// The policy in words.
    pub rules: String,
}

/// `?next=` on the sign-in page.
#[derive(Debug, Deserialize)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /sign-in`: a browser signed in already goes on to `next`.
pub async fn form(
    MaybeSignedIn(signed_in): MaybeSignedIn,
    page: Anonymous,
    Query(query): Query<Next>,
) -> Response {
    if signed_in.is_some() {
        return render::see_other(same_origin_path(query.next.as_deref()));
    }
    let t = page.chrome.t;
    render::ok(&SignInPage {
        c: page.chrome.with_notice(t.notice(query.done.as_deref())),
        error: None,
        login: String::new(),
        next: same_origin_path(query.next.as_deref()).to_owned(),
    })
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    login: String,
    password: SecretString,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /sign-in`.
pub async fn submit(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(form): PageForm<SignInForm>,
) -> Result<Response, PageError> {
    let next = same_origin_path(form.next.as_deref()).to_owned();
    let login = PasswordLogin {
        login: form.login.clone(),
        password: form.password,
        device_name: None,
    };
    let t = page.chrome.t;
    match state.login::<PageSession>(&page.context, login).await {
        Ok(SignIn::Session(started)) => Ok(signed_in(&state, &next, &started.secret)),
        Ok(SignIn::SecondFactorRequired { mfa_token, .. }) => Ok(render::ok(&CodePage {
            c: page.chrome,
            error: None,
            mfa_token,
            next,
        })),
        Ok(SignIn::PasswordChangeRequired { change_token, .. }) => {
            Ok(render::ok(&NewPasswordPage {
                heading: t.change_required_heading,
                lead: t.change_required_lead,
                error: None,
                action: "/sign-in/new-password",
                token: change_token.expose_secret().to_owned(),
                min_length: state.passwords.min_length(),
                rules: t.password_rules(state.passwords.min_length()),
                c: page.chrome,
            }))
        }
        Err(error) => {
            let (problem, message) = refusal(error)?;
            Ok(render::refused(
                problem,
                &SignInPage {
                    c: page.chrome,
                    error: Some(message),
                    login: form.login,
                    next,
                },
            ))
        }
    }
}

/// How a refused sign-in is told on the form: the one answer for wrong credentials (whatever
/// was wrong, as REST says it), the wait when rate limited, what an organization says.
fn refusal(error: AppError) -> Result<(Problem, String), PageError> {
    match error {
        error @ (AppError::InvalidCredentials
        | AppError::RateLimited(_)
        | AppError::OrganizationOutOfService(_)
        | AppError::AddressBlocked
        | AppError::Invalid(_)
        | AppError::Malformed(_)) => {
            let problem = Problem::from(error);
            let message = problem.detail_text().into_owned();
            Ok((problem, message))
        }
        error => Err(error.into()),
    }
}

/// The answer to a sign-in that started a session: its cookie, and on to `next`.
fn signed_in(state: &AppState, next: &str, secret: &SecretString) -> Response {
    let mut response = render::see_other(next);
    session::start(state, &mut response, secret);
    response
}

/// The second step's form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    mfa_token: SecretString,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /sign-in/code`.
pub async fn second_factor(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let next = same_origin_path(form.next.as_deref()).to_owned();
    let filled = |value: &str| {
        let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        (!value.is_empty()).then(|| SecretString::from(value))
    };
    let login = SecondFactorLogin {
        mfa_token: form.mfa_token.clone(),
        code: filled(&form.code),
        recovery_code: filled(&form.recovery_code),
        device_name: None,
    };
    match state
        .login_with_second_factor::<PageSession>(&page.context, login)
        .await
    {
        Ok(started) => Ok(signed_in(&state, &next, &started.secret)),
        Err(error) => {
            let (problem, message) = refusal(error)?;
            Ok(render::refused(
                problem,
                &CodePage {
                    c: page.chrome,
                    error: Some(message),
                    mfa_token: form.mfa_token.expose_secret().to_owned(),
                    next,
                },
            ))
        }
    }
}

/// A new password with the token that allows it.
#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    /// The token.
    pub token: SecretString,
    /// The new password.
    pub new_password: SecretString,
}

/// `POST /sign-in/new-password`: the forced change; then the person signs in with it.
pub async fn required_change(
    State(state): State<AppState>,
    page: Anonymous,
    PageForm(form): PageForm<NewPasswordForm>,
) -> Result<Response, PageError> {
    let t = page.chrome.t;
    super::recovery::set_password(
        &state,
        page,
        form,
        t.change_required_heading,
        t.change_required_lead,
        "/sign-in/new-password",
    )
    .await
}

/// `POST /sign-out`: ends this session.
pub async fn sign_out(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(_): PageForm<Empty>,
) -> Result<Response, PageError> {
    state
        .logout(&signed_in.context, &signed_in.caller.session)
        .await?;
    let mut response = render::see_other("/sign-in?done=signed-out");
    session::end(&state, &mut response);
    Ok(response)
}
