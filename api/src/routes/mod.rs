//! Route handlers, by area.

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod invitations;
pub mod ip_blocks;
pub mod mfa;
pub mod organizations;
pub mod partners;
pub mod privacy;
pub mod profiles;
pub mod queries;
pub mod roles;
pub mod users;
pub mod verification;
pub mod wallets;

/// `X-Log-Position` for what a command appended, so that reads can wait for it.
pub(crate) fn positioned(position: Option<u64>) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    if let Some(position) = position {
        headers.insert(auth::LOG_POSITION, axum::http::HeaderValue::from(position));
    }
    headers
}
