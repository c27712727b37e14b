//! The workers against real databases (SQLite and PostgreSQL): on the embedded bus with local
//! sinks (`local`: the folder object store, EML and SMS folders), against services that go away
//! and come back (`outages`), the Kafka relay (`relay`) and the SMS webhook sender (`webhook`);
//! the shared helpers in [`common`].

mod common;
mod local;
mod outages;
mod relay;
mod webhook;
