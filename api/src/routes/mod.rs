//! Route handlers, by area.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod invitations;
pub mod mfa;
pub mod organizations;
pub mod privacy;
pub mod profiles;
pub mod queries;
pub mod users;
pub mod verification;
