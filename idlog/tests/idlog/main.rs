//! The real `idlog` binary end to end, on SQLite and PostgreSQL (and on S3, an SMTP sink and
//! Kafka where a module says so): a module per group of commands, the helpers in [`common`].

mod analysts;
mod common;
mod documentation;
mod email;
mod events;
mod ip_blocks;
mod kafka;
mod maintenance;
mod organizations;
mod partners;
mod privacy;
mod projections;
mod roles;
mod serve;
mod storage;
mod users;
mod wallets;
