//! The server as `idlog` runs it, by concern: the keys it loads or generates ([`keys`]), what
//! it is built from ([`wiring`]), the accounts it creates itself ([`accounts`]), and its
//! processes (`idlog serve`, `idlog worker`, `idlog migrate`).

pub mod accounts;
pub mod keys;
mod serve;
pub mod wiring;

pub use serve::{init_tracing, migrate, serve, work};

use crate::config::Settings;
use anyhow::Context;

/// Creates the data folder with the places the embedded defaults write to.
pub fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    for dir in [
        settings.data.dir.clone(),
        settings.data.dir.join("objects"),
        settings.data.dir.join("mail"),
    ] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the data folder {}", dir.display()))?;
    }
    Ok(())
}
