//! The keys the server loads, or generates into the data folder on first start: the master keys
//! that wrap each person's data key (and a rotation's next one), the claim, token and checkpoint
//! keys, and the JWT key set file that running servers follow.

use super::prepare_data_dir;
use crate::config::{Settings, parse_key};
use anyhow::{Context, bail};
use application::credentials::jwt::{
    AccessTokenKeys, AccessTokenSettings, AccessTokens, KeySetFile,
};
use commands::ClaimHasher;
use domain::Duration;
use eventstore::Database;
use eventstore::encryption::{MasterKey, MasterKeys};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where `idlog keys rotate-master` keeps the new master key until every data key is
/// re-wrapped under it.
pub const NEXT_MASTER_KEY_FILE: &str = "master.key.next";

/// `security.master_key` (or the data folder's `master.key`), with the previous keys and a
/// rotation's unfinished next key.
pub fn master_keys(settings: &Settings) -> anyhow::Result<MasterKeys> {
    prepare_data_dir(settings)?;
    let current = MasterKey::from_bytes(key(
        settings,
        settings.security.master_key.as_ref(),
        "security.master_key",
        "master.key",
    )?);
    let mut previous = settings
        .security
        .previous_master_keys
        .iter()
        .map(|key| {
            parse_key(key.expose_secret())
                .map(MasterKey::from_bytes)
                .map_err(|message| anyhow::anyhow!("security.previous_master_keys: {message}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = settings.data.dir.join(NEXT_MASTER_KEY_FILE);
    if settings.security.master_key.is_none() && next.exists() {
        let text = std::fs::read_to_string(&next)
            .with_context(|| format!("reading {}", next.display()))?;
        previous.push(MasterKey::from_bytes(parse_key(&text).map_err(
            |message| anyhow::anyhow!("{}: {message}", next.display()),
        )?));
    }
    Ok(MasterKeys { current, previous })
}

/// A 32-byte key from configuration (`key_name`), or the one generated into the data folder as
/// `file_name` on first start.
pub(crate) fn key(
    settings: &Settings,
    configured: Option<&SecretString>,
    key_name: &str,
    file_name: &str,
) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = configured {
        return parse_key(key.expose_secret())
            .map_err(|message| anyhow::anyhow!("{key_name}: {message}"));
    }
    let path = settings.data.dir.join(file_name);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return parse_key(&text)
            .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()));
    }
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    write_private(&path, &hex::encode(key))?;
    tracing::info!(path = %path.display(), "generated {key_name}");
    Ok(key)
}

/// The Ed25519 key checkpoints are signed with: `security.checkpoint_key`, or the one generated
/// into the data folder on first use. The first key used with a database is the database's: a
/// process with another one (another host's data folder) refuses, so auditors are never handed
/// a key that does not match the checkpoints in the log.
pub async fn checkpoint_key(
    settings: &Settings,
    database: &Database,
) -> anyhow::Result<audit::CheckpointKey> {
    prepare_data_dir(settings)?;
    let seed = key(
        settings,
        settings.security.checkpoint_key.as_ref(),
        "security.checkpoint_key",
        "checkpoint.key",
    )?;
    let key = audit::CheckpointKey::from_seed(&seed);
    let mine = key.public_key().to_string();
    let stored = database
        .settle_setting("checkpoint_public_key", &mine)
        .await?;
    if stored != mine {
        bail!(
            "security.checkpoint_key is not the key this database's checkpoints are signed with \
             (public key {stored}); configure that key"
        );
    }
    Ok(key)
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
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

/// Where the JWT key set lives.
pub fn jwt_keys_path(settings: &Settings) -> PathBuf {
    settings
        .security
        .jwt_keys_file
        .clone()
        .unwrap_or_else(|| settings.data.dir.join("jwt-keys.json"))
}

/// Access token settings from configuration.
pub(crate) fn token_settings(settings: &Settings) -> AccessTokenSettings {
    AccessTokenSettings {
        issuer: settings.auth.token_issuer.clone(),
        audience: settings.auth.token_audience.clone(),
        lifetime: Duration::minutes(settings.auth.access_token_minutes),
    }
}

/// Access tokens from a key set, with keys whose tokens have all expired dropped.
pub(crate) fn access_tokens_from(
    token_settings: &AccessTokenSettings,
    mut keys: KeySetFile,
) -> anyhow::Result<AccessTokens> {
    keys.prune(chrono::Utc::now(), token_settings.lifetime);
    Ok(AccessTokens::new(&keys, token_settings.clone())?)
}

/// How often a running server looks whether the key set file changed (a rotation).
pub const KEY_SET_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Puts a changed key set file in force, and drops retired keys once their tokens expired.
pub(crate) async fn follow_key_set(
    path: PathBuf,
    token_settings: AccessTokenSettings,
    keys: Arc<AccessTokenKeys>,
) {
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    let mut seen = modified(&path);
    let mut interval = tokio::time::interval(KEY_SET_POLL);
    loop {
        interval.tick().await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        match KeySetFile::load(&path)
            .map_err(anyhow::Error::from)
            .and_then(|set| {
                let kids = set.kids().join(", ");
                access_tokens_from(&token_settings, set).map(|tokens| (tokens, kids))
            }) {
            Ok((tokens, kids)) => {
                keys.replace(tokens);
                tracing::info!(path = %path.display(), kids, "JWT key set reloaded");
            }
            Err(error) => {
                tracing::error!(%error, "the changed JWT key set is unusable; keeping the one in force")
            }
        }
    }
}

/// Checks that this process hashes claims with the key the database was first used with.
pub(crate) async fn check_claim_key(
    database: &Database,
    hasher: &ClaimHasher,
) -> anyhow::Result<()> {
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
