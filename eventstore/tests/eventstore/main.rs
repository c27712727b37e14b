//! The event store against real databases, SQLite and PostgreSQL alike: the log (`log`),
//! per-person encryption and crypto-shredding (`encryption`), and SQLite's one write lock
//! shared by a process's writers (`sqlite_turns`).

mod encryption;
mod log;
mod sqlite_turns;
