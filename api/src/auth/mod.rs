//! Authentication building blocks: passwords, access tokens and their keys, sessions and
//! refresh tokens, single-use tokens, rate limits, and the authenticated caller.

pub mod current;
pub mod jwt;
pub mod password;
pub mod rate_limit;
pub mod sessions;
pub mod tokens;
pub mod totp;
