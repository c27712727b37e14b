//! `idlog keys ...`: a fresh JWT signing key, the checkpoint key's public half, and the master
//! key's rotation (and re-wrapping the data keys under a configured one). The keys themselves
//! are the server's: [`idlog::server::keys`].

use anyhow::{Context, bail};
use application::credentials::jwt::KeySetFile;
use clap::Subcommand;
use domain::Duration;
use eventstore::Opened;
use eventstore::encryption::{MasterKey, MasterKeys};
use idlog::config::{Settings, parse_key};
use idlog::server::keys::{
    KEY_SET_POLL, NEXT_MASTER_KEY_FILE, checkpoint_key, jwt_keys_path, master_keys, write_private,
};
use idlog::server::prepare_data_dir;
use idlog::server::wiring::{open, open_with_master_keys};
use rand::RngCore;

/// `idlog keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Makes a fresh key sign access tokens; the previous one still verifies the tokens it
    /// signed until they expire (running servers pick the change up by themselves).
    RotateJwt,
    /// Prints the public half of the checkpoint signing key, for auditors.
    CheckpointPublic,
    /// Replaces the data folder's master key: every person's data key is re-wrapped under a
    /// new one (the log is not touched). Stop the servers first.
    RotateMaster,
    /// Re-wraps every data key under `security.master_key`, unwrapping with
    /// `security.previous_master_keys` (after changing a configured master key).
    Rewrap,
}

/// `idlog keys ...`.
pub async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::RotateJwt => rotate_jwt_key(settings),
        KeysCommand::CheckpointPublic => checkpoint_public_key(settings).await,
        KeysCommand::RotateMaster => rotate_master_key(settings).await,
        KeysCommand::Rewrap => rewrap_data_keys(settings).await,
    }
}

/// `idlog keys rotate-jwt`: a fresh signing key; the current one keeps verifying its tokens.
fn rotate_jwt_key(settings: &Settings) -> anyhow::Result<()> {
    prepare_data_dir(settings)?;
    let path = jwt_keys_path(settings);
    let now = chrono::Utc::now();
    let mut keys = KeySetFile::load_or_create(&path, now)?;
    keys.prune(now, Duration::minutes(settings.auth.access_token_minutes));
    let kid = keys.rotate(now)?;
    keys.save(&path)?;
    println!("new signing key {kid} in {}", path.display());
    println!(
        "running servers pick it up within {} s; the previous key verifies its tokens for {} more minutes",
        KEY_SET_POLL.as_secs(),
        settings.auth.access_token_minutes
    );
    Ok(())
}

/// `idlog keys checkpoint-public`: the public half auditors verify checkpoints with.
#[tracing::instrument(skip_all)]
async fn checkpoint_public_key(settings: &Settings) -> anyhow::Result<()> {
    let eventstore::Opened { database, .. } = open(settings).await?;
    println!(
        "{}",
        checkpoint_key(settings, &database).await?.public_key()
    );
    Ok(())
}

/// `idlog keys rotate-master`: for the data folder's master key (stop the servers first: they
/// know only the key they started with). A new key is written beside the old one, every data
/// key is re-wrapped under it, then it replaces the old one. Interrupted, it picks up where it
/// left off; the log itself is never touched.
async fn rotate_master_key(settings: &Settings) -> anyhow::Result<()> {
    if settings.security.master_key.is_some() {
        bail!(
            "security.master_key is configured: put the new key there, the old one in \
             security.previous_master_keys, and run `idlog keys rewrap`"
        );
    }
    let old = master_keys(settings)?.current;
    let next_path = settings.data.dir.join(NEXT_MASTER_KEY_FILE);
    if !next_path.exists() {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        write_private(&next_path, &hex::encode(fresh))?;
    }
    let next_text = std::fs::read_to_string(&next_path)
        .with_context(|| format!("reading {}", next_path.display()))?;
    let next = MasterKey::from_bytes(
        parse_key(&next_text)
            .map_err(|message| anyhow::anyhow!("{}: {message}", next_path.display()))?,
    );
    let Opened { log, .. } = open_with_master_keys(
        settings,
        MasterKeys {
            current: next.clone(),
            previous: vec![old.clone()],
        },
    )
    .await?;
    let rewrapped = rewrap_with_progress(&log).await?;
    let current_path = settings.data.dir.join("master.key");
    std::fs::rename(&next_path, &current_path)
        .with_context(|| format!("replacing {}", current_path.display()))?;
    println!(
        "master key {} replaced by {}: {rewrapped} data keys re-wrapped",
        old.id(),
        next.id()
    );
    Ok(())
}

/// `idlog keys rewrap`: re-wraps every data key under `security.master_key`, unwrapping with
/// `security.previous_master_keys`; afterwards the previous keys can be dropped.
async fn rewrap_data_keys(settings: &Settings) -> anyhow::Result<()> {
    let Opened { log, .. } = open(settings).await?;
    let rewrapped = rewrap_with_progress(&log).await?;
    println!("{rewrapped} data keys re-wrapped under the current master key");
    Ok(())
}

async fn rewrap_with_progress(log: &eventstore::EventLog) -> anyhow::Result<u64> {
    // How many keys there are is not known up front: a counter, not a bar.
    let bar = indicatif::ProgressBar::new_spinner().with_message("data keys re-wrapped or checked");
    let rewrapped = log
        .rewrap_data_keys(|seen| bar.set_position(seen))
        .await
        .context("re-wrapping data keys")?;
    bar.finish_and_clear();
    Ok(rewrapped)
}
