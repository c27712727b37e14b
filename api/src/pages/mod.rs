//! Idlog's pages: server-rendered HTML for people, on the same use cases as the REST API.
//!
//! Handlers only translate: read the form, call the [`application::App`] use case, render the
//! answer or the error. The foundation every page stands on is here:
//! - [`session`]: the page session cookie (an opaque secret of a revocable session, stored
//!   hashed) and the extractors that check it;
//! - [`csrf`]: a signed double-submit token on every form, and an `Origin` check on every
//!   state-changing request;
//! - [`render`]: templates (askama, checked at compile time), the common chrome, times;
//! - [`error`]: the error pages (403, 404, 429 with the wait, 500), from the same mapping of
//!   [`application::AppError`] that REST uses;
//! - [`assets`]: the stylesheet, script and icons, embedded in the binary;
//! - [`texts`]: every English text, in one place.

pub mod account;
pub mod assets;
pub mod console;
pub mod csrf;
pub mod docs;
pub mod error;
pub mod fields;
pub mod render;
pub mod session;
pub mod texts;

use crate::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

/// What the pages need to know about where they are served.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// The origin people reach the pages at (`https://id.example.com`), from `email.public_url`.
    pub public_origin: String,
    /// Whether the pages are served over https: cookies are then `Secure` with the `__Host-`
    /// prefix.
    pub secure: bool,
    /// The key CSRF tokens are signed with (derived from the token key, so that every process
    /// of one installation accepts the others' tokens).
    csrf_key: [u8; 32],
}

impl PageSettings {
    /// The settings for pages reached at `public_url`, signing CSRF tokens with a key derived
    /// from `token_key`.
    pub fn new(public_url: &str, token_key: &[u8; 32]) -> Self {
        let public_origin = origin_of(public_url);
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(b"idlog page csrf key\0");
        digest.update(token_key);
        Self {
            secure: public_origin.starts_with("https://"),
            public_origin,
            csrf_key: digest.finalize().into(),
        }
    }
}

/// The scheme, host and port of `url`, without path or trailing slash.
fn origin_of(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// The Content-Security-Policy of every page: nothing but idlog's own files, no inline script
/// or style, no framing, forms only to idlog.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' routes with their headers and their CSRF `Origin` check.
pub fn router(state: AppState) -> Router<AppState> {
    // A form carries the picture and a little more.
    let picture_cap = crate::routes::profiles::MAX_PICTURE_BYTES + 64 * 1024;
    let pages = Router::new()
        .route("/", get(account::dashboard::home))
        .route(
            "/sign-in",
            get(account::sign_in::form).post(account::sign_in::submit),
        )
        .route("/sign-in/code", post(account::sign_in::second_factor))
        .route(
            "/sign-in/new-password",
            post(account::sign_in::required_change),
        )
        .route("/sign-out", post(account::sign_in::sign_out))
        .route(
            "/sign-up",
            get(account::sign_up::form).post(account::sign_up::submit),
        )
        .route(
            "/forgot-password",
            get(account::recovery::forgot_form).post(account::recovery::forgot),
        )
        .route(
            "/reset-password",
            get(account::recovery::reset_form).post(account::recovery::reset),
        )
        .route(
            "/verify-email",
            get(account::verification::email_link).post(account::verification::resend_email),
        )
        .route(
            "/account/phone",
            get(account::verification::phone_form).post(account::verification::verify_phone),
        )
        .route(
            "/account/phone/send",
            post(account::verification::send_phone_code),
        )
        .route("/account", get(account::dashboard::dashboard))
        .route(
            "/account/profile",
            get(account::profile::form).post(account::profile::save),
        )
        .route(
            "/account/profile/preferences",
            post(account::profile::save_preferences),
        )
        .route("/account/profile/picture", get(account::profile::picture))
        .route(
            "/account/profile/picture/remove",
            post(account::profile::remove_picture),
        )
        .route("/account/security", get(account::security::page))
        .route(
            "/account/security/password",
            post(account::security::change_password),
        )
        .route(
            "/account/security/totp",
            post(account::security::start_totp),
        )
        .route(
            "/account/security/totp/confirm",
            post(account::security::confirm_totp),
        )
        .route(
            "/account/security/totp/disable",
            post(account::security::disable_totp),
        )
        .route(
            "/account/sessions/{id}/revoke",
            post(account::security::revoke_session),
        )
        .route(
            "/account/sessions/sign-out-everywhere",
            post(account::security::sign_out_everywhere),
        )
        .route("/account/invitations", get(account::invitations::list))
        .route(
            "/account/invitations/{organization_id}/{answer}",
            post(account::invitations::answer),
        )
        .route("/account/privacy", get(account::privacy::page))
        .route(
            "/console/users",
            get(console::users::list).post(console::users::create),
        )
        .route("/console/users/{id}", get(console::user::page))
        .route("/console/users/{id}/{action}", post(console::user::act))
        .route(
            "/console/users/{id}/role-profiles/{role}",
            post(console::user::set_role_profile),
        )
        .route(
            "/console/users/{id}/sessions/{session_id}/revoke",
            post(console::user::revoke_session),
        )
        .route(
            "/console/organizations",
            get(console::organizations::list).post(console::organizations::create),
        )
        .route(
            "/console/organizations/{id}",
            get(console::organizations::page),
        )
        .route(
            "/console/permissions",
            post(console::organizations::change_catalog),
        )
        .route(
            "/console/permissions/{action}",
            post(console::organizations::change_catalog),
        )
        .route(
            "/console/organizations/{id}/details",
            post(console::organizations::change),
        )
        .route(
            "/console/organizations/{id}/partner",
            post(console::organizations::set_partner),
        )
        .route(
            "/console/organizations/{id}/members",
            post(console::organizations::add_member),
        )
        .route(
            "/console/organizations/{id}/members/{user_id}",
            post(console::organizations::change_member),
        )
        .route(
            "/console/organizations/{id}/members/{user_id}/remove",
            post(console::organizations::remove_member),
        )
        .route(
            "/console/organizations/{id}/api-keys",
            post(console::organizations::create_key),
        )
        .route(
            "/console/organizations/{id}/api-keys/{key_id}/revoke",
            post(console::organizations::revoke_key),
        )
        .route(
            "/console/organizations/{id}/invitations/{user_id}/revoke",
            post(console::organizations::revoke_invitation),
        )
        .route("/console/partners", get(console::partners::page))
        .route(
            "/console/partner-actions",
            post(console::partners::change_actions),
        )
        .route(
            "/console/partner-actions/{action}",
            post(console::partners::change_actions),
        )
        .route(
            "/console/roles",
            get(console::roles::page).post(console::roles::change),
        )
        .route(
            "/console/roles/{role}/{action}",
            post(console::roles::change),
        )
        .route(
            "/console/ip-blocks",
            get(console::ip_blocks::page).post(console::ip_blocks::change),
        )
        .route(
            "/console/ip-blocks/{action}",
            post(console::ip_blocks::change),
        )
        .route("/console/activity", get(console::activity::list))
        .route("/console/analytics", get(console::analytics::page))
        .route("/console/audit", get(console::audit::page))
        .route("/console/operations", get(console::operations::page))
        .route(
            "/console/operations/read-models/{name}/{action}",
            post(console::operations::resolve_read_model),
        )
        .route(
            "/console/operations/workers/retry",
            post(console::operations::retry_workers),
        )
        .route(
            "/console/operations/storage/rebuild",
            post(console::operations::rebuild_storage),
        )
        .route("/console/audit/export", get(console::audit::export))
        .route("/console/activity/export", get(console::activity::export))
        .route("/account/privacy/export", get(account::privacy::export))
        .route("/account/privacy/forget", post(account::privacy::forget))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            crate::MAX_BODY_BYTES,
        ))
        // The picture form is the one page body over 1 MiB.
        .merge(
            Router::new()
                .route(
                    "/account/profile/picture/upload",
                    post(account::profile::upload_picture),
                )
                .layer(axum::extract::DefaultBodyLimit::max(picture_cap))
                .layer(tower_http::limit::RequestBodyLimitLayer::new(picture_cap)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state,
            csrf::check_origin,
        ))
        // Pages show personal data: never cached; a handler may say otherwise.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ));
    Router::new()
        .merge(pages)
        .merge(assets::router())
        .merge(docs::router())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_public_url_is_its_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://ID.example.com/"),
            "https://id.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x?y"),
            "http://127.0.0.1:8080"
        );
        let settings = PageSettings::new("https://id.example.com", &[7; 32]);
        assert!(settings.secure);
        assert!(!PageSettings::new("http://127.0.0.1:1", &[7; 32]).secure);
    }
}
