//! Wiring: open the log, build the application, serve.

use crate::config::{Settings, parse_key};
use anyhow::{Context, bail};
use api::{AppState, Application};
use commands::{ClaimHasher, CommandHandler};
use eventstore::{Database, Opened};
use rand::RngCore;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::path::Path;

/// Logs to standard error with the configured filter.
pub fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Creates the data folder with the places the embedded defaults write to.
fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
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

/// Opens (and migrates) the configured database.
#[tracing::instrument(skip_all)]
async fn open(settings: &Settings) -> anyhow::Result<Opened> {
    prepare_data_dir(settings)?;
    let url = settings.database_url();
    eventstore::open(&url, settings.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", eventstore::redact_url(&url)))
}

/// The claim key from configuration, or the one generated into the data folder.
fn claim_key(settings: &Settings) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = &settings.security.claim_key {
        return parse_key(key.expose_secret())
            .map_err(|message| anyhow::anyhow!("security.claim_key: {message}"));
    }
    let path = settings.data.dir.join("claim.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return parse_key(&text)
            .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()));
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    write_private(&path, &hex::encode(key))?;
    tracing::info!(path = %path.display(), "generated a claim key");
    Ok(key)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Checks that this process hashes claims with the key the database was first used with.
async fn check_claim_key(database: &Database, hasher: &ClaimHasher) -> anyhow::Result<()> {
    let mine = hasher.key_fingerprint();
    let stored = database
        .settle_setting("claim_key_fingerprint", &mine)
        .await?;
    if stored != mine {
        bail!(
            "security.claim_key does not match the key this database was first used with \
             (fingerprint {stored}); every idlog process on one database needs the same key"
        );
    }
    Ok(())
}

/// `idlog serve`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let Opened { log, database } = open(&settings).await?;
    let hasher = ClaimHasher::new(claim_key(&settings)?);
    check_claim_key(&database, &hasher).await?;
    let state = AppState {
        commands: CommandHandler::new(log, hasher),
    };
    let address = SocketAddr::new(settings.server.host, settings.server.port);
    let app = Application::build(address, state)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let bound = app.local_addr()?;
    println!(
        "idlog {} listening on http://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "database: {}",
        eventstore::redact_url(&settings.database_url())
    );
    println!("data folder: {}", settings.data.dir.display());
    app.run(shutdown_signal()).await.context("serving HTTP")?;
    println!("idlog stopped");
    Ok(())
}

/// `idlog migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    open(&settings).await?;
    println!(
        "database schema is up to date: {}",
        eventstore::redact_url(&settings.database_url())
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
