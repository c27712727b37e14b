//! Route handlers, by area.

pub mod auth;
pub mod organizations;
pub mod users;
pub mod verification;
