//! Route handlers, by area.

pub mod auth;
