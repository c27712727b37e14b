//! Route handlers, by area.

pub mod auth;
pub mod users;
