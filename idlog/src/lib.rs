//! idlog's composition root as a library: what the `idlog` binary wires together, for the
//! binary and for tests that run the whole server. The binary adds the command line (`src/cli/`).

pub mod administration;
pub mod config;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;

/// Bad input (from the command line, or an account the bootstrap settings describe): a plain
/// message, and exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}
