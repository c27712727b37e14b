//! The credential machinery: password hashing, access tokens and their signing keys, TOTP.

pub mod jwt;
pub mod password;
pub mod totp;
