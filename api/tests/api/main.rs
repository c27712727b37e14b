//! The HTTP API over real HTTP, on SQLite and PostgreSQL: a module per group of endpoints. The
//! server is `idlog::testing`'s (the whole server as the binary wires it); the helpers for
//! problem+json answers and raw requests are in [`common`].

mod admin;
mod api_keys;
mod audit;
mod auth;
mod authorization;
mod common;
mod ip_blocks;
mod mfa;
mod organizations;
mod partners;
mod privacy;
mod queries;
mod roles;
mod service;
mod users;
mod verification;
mod wallets;
