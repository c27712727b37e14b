//! Wiring: open the log, build the application, serve.

use crate::Usage;
use crate::config::{Settings, parse_key};
use anyhow::{Context, bail};
use api::accounts::{CreateAccountError, Creator, NewAccount, RoleCatalog};
use api::auth::jwt::{AccessTokenKeys, AccessTokenSettings, AccessTokens, KeySetFile};
use api::auth::password::{PasswordSettings, Passwords};
use api::auth::rate_limit::{RateLimitSettings, RateLimits};
use api::auth::sessions::SessionSettings;
use api::auth::tokens::{TokenMinter, hash_token};
use api::{AppServices, AppState, Application, AuthSettings};
use commands::CommandContext;
use commands::{ClaimHasher, CommandHandler};
use domain::Duration;
use domain::UserId;
use domain::user::LockoutPolicy;
use domain::user::UserState;
use domain::values::{Email, Permission, Role};
use eventstore::encryption::{MasterKey, MasterKeys};
use eventstore::{Database, Opened};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Logs to standard error with the configured filter.
pub fn init_tracing(level: &str) {
    // PostgreSQL's notices ("relation ... already exists, skipping" on every migration check)
    // are not news, unless asked for by name.
    let level = if level.contains("sqlx") {
        level.to_owned()
    } else {
        format!("{level},sqlx::postgres::notice=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| "info".into());
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

/// Opens (and migrates) the configured database, personal data encrypted per person.
#[tracing::instrument(skip_all)]
pub async fn open(settings: &Settings) -> anyhow::Result<Opened> {
    open_with_master_keys(settings, master_keys(settings)?).await
}

async fn open_with_master_keys(settings: &Settings, masters: MasterKeys) -> anyhow::Result<Opened> {
    prepare_data_dir(settings)?;
    let url = settings.database_url();
    eventstore::open_with(&url, settings.database.max_connections, |builder| {
        builder.encrypt_personal_data(masters)
    })
    .await
    .with_context(|| format!("opening the database {}", eventstore::redact_url(&url)))
}

/// Where `idlog keys rotate-master` keeps the new master key until every data key is
/// re-wrapped under it.
const NEXT_MASTER_KEY_FILE: &str = "master.key.next";

/// `security.master_key` (or the data folder's `master.key`), with the previous keys and a
/// rotation's unfinished next key.
fn master_keys(settings: &Settings) -> anyhow::Result<MasterKeys> {
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

/// `idlog keys rewrap`: re-wraps every data key under `security.master_key`, unwrapping with
/// `security.previous_master_keys`; afterwards the previous keys can be dropped.
pub async fn rewrap_data_keys(settings: &Settings) -> anyhow::Result<()> {
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

/// `idlog keys rotate-master`: for the data folder's master key (stop the servers first: they
/// know only the key they started with). A new key is written beside the old one, every data
/// key is re-wrapped under it, then it replaces the old one. Interrupted, it picks up where it
/// left off; the log itself is never touched.
pub async fn rotate_master_key(settings: &Settings) -> anyhow::Result<()> {
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

/// A 32-byte key from configuration (`key_name`), or the one generated into the data folder as
/// `file_name` on first start.
fn key(
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

/// Where the JWT key set lives.
fn jwt_keys_path(settings: &Settings) -> PathBuf {
    settings
        .security
        .jwt_keys_file
        .clone()
        .unwrap_or_else(|| settings.data.dir.join("jwt-keys.json"))
}

/// Access token settings from configuration.
fn token_settings(settings: &Settings) -> AccessTokenSettings {
    AccessTokenSettings {
        issuer: settings.auth.token_issuer.clone(),
        audience: settings.auth.token_audience.clone(),
        lifetime: Duration::minutes(settings.auth.access_token_minutes),
    }
}

/// Access tokens from a key set, with keys whose tokens have all expired dropped.
fn access_tokens_from(
    token_settings: &AccessTokenSettings,
    mut keys: KeySetFile,
) -> anyhow::Result<AccessTokens> {
    keys.prune(chrono::Utc::now(), token_settings.lifetime);
    Ok(AccessTokens::new(&keys, token_settings.clone())?)
}

/// How often a running server looks whether the key set file changed (a rotation).
const KEY_SET_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Puts a changed key set file in force, and drops retired keys once their tokens expired.
async fn follow_key_set(
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

/// `idlog keys rotate-jwt`: a fresh signing key; the current one keeps verifying its tokens.
pub fn rotate_jwt_key(settings: &Settings) -> anyhow::Result<()> {
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

/// What running commands needs, for the server and the command line alike.
pub(crate) struct Core {
    pub(crate) commands: CommandHandler,
    pub(crate) database: eventstore::Database,
    token_key: [u8; 32],
    passwords: Passwords,
    tokens: TokenMinter,
    pub(crate) log: eventstore::EventLog,
}

impl Core {
    /// Opens the database and loads (or on first start generates) the keys.
    pub(crate) async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let Opened { log, database } = open(settings).await?;
        let claim_key = key(
            settings,
            settings.security.claim_key.as_ref(),
            "security.claim_key",
            "claim.key",
        )?;
        let hasher = ClaimHasher::new(claim_key);
        check_claim_key(&database, &hasher).await?;
        let token_key = key(
            settings,
            settings.security.token_key.as_ref(),
            "security.token_key",
            "token.key",
        )?;
        let auth = &settings.auth;
        let passwords = Passwords::with_core_count(PasswordSettings {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
            min_length: auth.password_min_length,
        })?;
        Ok(Self {
            commands: CommandHandler::new(log.clone(), hasher),
            database,
            token_key,
            passwords,
            tokens: TokenMinter::new(token_key),
            log,
        })
    }

    fn creator<'a>(&'a self, settings: &Settings) -> Creator<'a> {
        Creator {
            commands: &self.commands,
            passwords: &self.passwords,
            tokens: &self.tokens,
            invitation_lifetime: Duration::hours(settings.auth.invitation_hours),
        }
    }
}

/// The role catalog: built-in roles and the configured ones.
fn role_catalog(settings: &Settings) -> anyhow::Result<RoleCatalog> {
    let parse = |key: &str, names: &[String]| {
        names
            .iter()
            .map(|name| {
                Role::parse(name)
                    .map_err(|error| anyhow::anyhow!("{key}: {name}: {}", error.message))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let extra = parse("auth.roles", &settings.auth.roles)?;
    let privileged = parse("auth.privileged_roles", &settings.auth.privileged_roles)?;
    RoleCatalog::new(&extra)
        .with_privileged(&privileged)
        .map_err(|role| {
            anyhow::anyhow!("auth.privileged_roles: {role} is not a role (add it to auth.roles)")
        })
}

/// Creates a user from the command line or the bootstrap settings, as the system. Bad input (an
/// unknown role, an invalid email, a weak password, a taken email) is a [`Usage`] error, and
/// then nothing is appended.
pub(crate) async fn create_account(
    creator: &Creator<'_>,
    catalog: &RoleCatalog,
    request: AccountRequest,
) -> anyhow::Result<UserId> {
    let roles = request
        .roles
        .iter()
        .map(|name| {
            catalog.role(name).ok_or_else(|| {
                Usage(format!(
                    "unknown role {name}; the catalog has {}",
                    catalog.names().join(", ")
                ))
            })
        })
        .collect::<Result<_, Usage>>()?;
    let email = Email::parse(&request.email)
        .map_err(|error| Usage(format!("{}: {}", request.email, error.message)))?;
    let account = NewAccount {
        email,
        username: None,
        phone: None,
        first_name: None,
        last_name: None,
        roles,
        password: request.password,
    };
    let metadata = eventstore::EventMetadata {
        actor: request.actor,
        ..Default::default()
    };
    let executed = creator
        .create(
            account,
            CommandContext {
                metadata,
                ..Default::default()
            },
        )
        .await
        .map_err(|error| -> anyhow::Error {
            match error {
                CreateAccountError::Command(commands::CommandError::Duplicate { kind }) => {
                    Usage(format!("that {kind} is already taken")).into()
                }
                CreateAccountError::Password(rejection) => {
                    Usage(format!("the password {rejection}")).into()
                }
                other => anyhow::anyhow!("{other}"),
            }
        })?;
    match executed.state {
        UserState::Present(user) => Ok(user.id),
        UserState::Absent | UserState::Forgotten(_) => bail!("the user was not created"),
    }
}

/// A user to create from the command line or the bootstrap settings.
pub struct AccountRequest {
    /// Email address.
    pub email: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The password, or none for an invitation.
    pub password: Option<SecretString>,
    /// Who is creating it, for the events' metadata.
    pub actor: eventstore::Actor,
}

/// Creates the first administrator from `[bootstrap]`, once: only while the log is empty.
async fn bootstrap_admin(core: &Core, settings: &Settings) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (
        &settings.bootstrap.admin_email,
        &settings.bootstrap.admin_password,
    ) else {
        return Ok(());
    };
    if core.log.head().await?.position > 0 {
        return Ok(());
    }
    let request = AccountRequest {
        email: email.clone(),
        roles: vec!["admin".into()],
        password: Some(password.clone()),
        actor: eventstore::Actor {
            kind: eventstore::ActorKind::System,
            id: Some("system:bootstrap".into()),
        },
    };
    let user_id = create_account(&core.creator(settings), &role_catalog(settings)?, request)
        .await
        .context("bootstrap.admin_email")?;
    tracing::info!(%user_id, "created the first administrator from the bootstrap settings");
    Ok(())
}

/// The projector of every read model over `database` and `log`, as configured.
pub fn projector_over(
    database: Database,
    log: eventstore::EventLog,
    settings: &Settings,
) -> projections::Projector {
    projections::Projector::new(
        database,
        log,
        projections::all(),
        projections::ProjectorSettings {
            batch_size: settings.projections.batch_size.max(1),
            max_attempts: settings.projections.max_attempts.max(1),
            ..projections::ProjectorSettings::default()
        },
    )
}

/// The configured object store: the data folder's `objects/` (the embedded default), or an S3
/// bucket (created if missing).
pub async fn object_store(settings: &Settings) -> anyhow::Result<Arc<dyn objects::ObjectStore>> {
    let storage = &settings.storage;
    match storage.backend {
        crate::config::StorageBackend::Local => Ok(Arc::new(objects::LocalFolder::new(
            settings.data.dir.join("objects"),
        ))),
        crate::config::StorageBackend::S3 => {
            let (Some(access_key_id), Some(secret_access_key)) =
                (&storage.access_key_id, &storage.secret_access_key)
            else {
                bail!(
                    "storage.backend = \"s3\" needs storage.access_key_id and storage.secret_access_key"
                );
            };
            let store = objects::S3Store::new(&objects::S3Settings {
                bucket: storage.bucket.clone(),
                endpoint: storage.endpoint.clone(),
                region: storage.region.clone(),
                path_style: storage.path_style,
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
            });
            store
                .ensure_bucket()
                .await
                .with_context(|| format!("opening the S3 bucket {}", storage.bucket))?;
            Ok(Arc::new(store))
        }
    }
}

/// The storage worker over the configured object store.
pub fn storage_worker(
    commands: CommandHandler,
    objects: Arc<dyn objects::ObjectStore>,
) -> workers::storage::StorageWorker {
    workers::storage::StorageWorker::new(objects, commands)
}

/// The configured mail transport: `.eml` files in the data folder, or SMTP.
fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn workers::email::Mailer>> {
    let email = &settings.email;
    Ok(match email.transport {
        crate::config::EmailTransport::File => Arc::new(workers::email::EmlFolder::new(
            settings.data.dir.join("mail"),
        )),
        crate::config::EmailTransport::Smtp => Arc::new(workers::email::SmtpMailer::new(
            &workers::email::SmtpSettings {
                host: email.smtp_host.clone(),
                port: email.smtp_port,
                tls: email.smtp_tls,
                username: email.smtp_username.clone(),
                password: email.smtp_password.clone(),
                timeout: std::time::Duration::from_secs(email.smtp_timeout_secs.max(1)),
            },
        )?),
    })
}

/// The configured SMS sender: files in the data folder, or a webhook.
fn sms_sender(settings: &Settings) -> anyhow::Result<Arc<dyn workers::sms::SmsSender>> {
    let sms = &settings.sms;
    Ok(match sms.transport {
        crate::config::SmsTransport::File => {
            Arc::new(workers::sms::SmsFolder::new(settings.data.dir.join("sms")))
        }
        crate::config::SmsTransport::Webhook => {
            let (Some(url), Some(token)) = (&sms.webhook_url, &sms.webhook_token) else {
                bail!("sms.transport = \"webhook\" needs sms.webhook_url and sms.webhook_token");
            };
            Arc::new(workers::sms::WebhookSender::new(
                url.clone(),
                token.clone(),
                std::time::Duration::from_secs(sms.webhook_timeout_secs.max(1)),
            )?)
        }
    })
}

/// Kafka, when `kafka.brokers` is configured.
pub(crate) fn kafka_settings(settings: &Settings) -> Option<workers::kafka::KafkaSettings> {
    let kafka = &settings.kafka;
    kafka
        .brokers
        .as_ref()
        .map(|brokers| workers::kafka::KafkaSettings {
            brokers: brokers.clone(),
            topic: kafka.topic.clone(),
            partitions: kafka.partitions,
            replication: kafka.replication,
            group_prefix: kafka.group_prefix.clone(),
            batch_messages: kafka.batch_messages,
            debug: kafka.debug.clone(),
        })
}

/// Every worker, on the configured bus (Kafka when `kafka.brokers` is set, else embedded).
pub(crate) fn worker_runner(
    core: &Core,
    settings: &Settings,
    objects: Arc<dyn objects::ObjectStore>,
) -> anyhow::Result<workers::WorkerRunner> {
    let email = &settings.email;
    let deliveries = workers::deliveries::DeliveryLog::new(core.database.clone());
    let emails = workers::email::EmailWorker::new(
        mailer(settings)?,
        deliveries.clone(),
        core.commands.clone(),
        core.tokens.clone(),
        workers::email::EmailSettings {
            product: email.product.clone(),
            from: email.from.clone(),
            public_url: email.public_url.clone(),
            reset_url: email.reset_url.clone(),
        },
        workers::email::Templates::english(),
    );
    let texts = workers::sms::SmsWorker::new(
        sms_sender(settings)?,
        deliveries,
        core.commands.clone(),
        core.tokens.clone(),
        email.product.clone(),
    );
    let bus = kafka_settings(settings).map_or(workers::Bus::Embedded, workers::Bus::Kafka);
    Ok(workers::WorkerRunner::new(
        core.database.clone(),
        core.log.clone(),
        vec![
            Arc::new(storage_worker(core.commands.clone(), objects)),
            Arc::new(emails),
            Arc::new(texts),
        ],
        worker_settings(settings),
    )
    .with_bus(bus))
}

/// How workers retry, as configured.
fn worker_settings(settings: &Settings) -> workers::WorkerSettings {
    workers::WorkerSettings {
        max_attempts: settings.workers.max_attempts.max(1),
        ..workers::WorkerSettings::default()
    }
}

/// `idlog worker`: the workers alone, on the configured bus, until Ctrl-C or SIGTERM. With Kafka,
/// several such processes share the partitions of each worker's consumer group.
pub async fn work(settings: Settings) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    let objects = object_store(&settings).await?;
    let runner = worker_runner(&core, &settings, objects)?;
    if let Some(kafka) = kafka_settings(&settings) {
        workers::kafka::ensure_topic(&kafka)
            .await
            .with_context(|| format!("reaching Kafka at {}", kafka.brokers))?;
    }
    let working = runner.spawn();
    tracing::info!(bus = ?runner.bus(), "workers running");
    shutdown_signal().await;
    tracing::info!("stopping the workers");
    // Dropping the set stops the workers between events (a started effect runs to its end in its
    // own task; Kafka consumers commit what is done as they leave).
    drop(working);
    Ok(())
}

/// The application's state over `core`: what the API serves with, and what the operators'
/// commands run the same handlers with.
pub(crate) fn app_state(
    core: Core,
    settings: &Settings,
    read: api::ReadSide,
    objects: Arc<dyn objects::ObjectStore>,
    workers: Option<workers::WorkerRunner>,
) -> anyhow::Result<AppState> {
    let auth = &settings.auth;
    let keys = KeySetFile::load_or_create(&jwt_keys_path(settings), chrono::Utc::now())?;
    let access_tokens = Arc::new(AccessTokenKeys::new(access_tokens_from(
        &token_settings(settings),
        keys,
    )?));
    let limits = &settings.limits;
    let per_minute = |limit: u32| (limit > 0).then_some(limit);
    Ok(AppState::new(AppServices {
        read,
        metrics: api::metrics::Metrics::new(api::metrics::MetricsAccess {
            credential_hash: settings
                .metrics
                .credential
                .as_ref()
                .map(|credential| hash_token(credential.expose_secret())),
            separate_listener: settings.metrics.listen.is_some(),
        }),
        workers,
        commands: core.commands,
        passwords: core.passwords,
        tokens: core.tokens,
        totp: api::auth::totp::SecretSealer::new(&core.token_key),
        objects,
        access_tokens,
        rate_limits: RateLimits::new(RateLimitSettings {
            login_per_ip: per_minute(limits.login_per_ip),
            login_per_account: per_minute(limits.login_per_account),
            register_per_ip: per_minute(limits.register_per_ip),
            refresh_per_ip: per_minute(limits.refresh_per_ip),
            forgot_per_ip: per_minute(limits.forgot_per_ip),
            forgot_per_account: per_minute(limits.forgot_per_account),
        }),
        background: Default::default(),
        auth: AuthSettings {
            hide_account_existence: auth.hide_account_existence,
            email_verification_lifetime: Duration::hours(auth.email_verification_hours),
            phone_code_lifetime: Duration::minutes(10),
            password_reset_lifetime: Duration::hours(auth.password_reset_hours),
            sessions: SessionSettings {
                idle_timeout: Duration::minutes(auth.session_idle_minutes),
                absolute_lifetime: Duration::days(auth.session_lifetime_days),
                max_per_user: (auth.max_sessions_per_user > 0)
                    .then_some(auth.max_sessions_per_user),
            },
            lockout: LockoutPolicy {
                max_failed_attempts: auth.lockout_attempts,
                lock_duration: Duration::minutes(auth.lockout_minutes),
                max_lock_duration: Duration::minutes(auth.lockout_max_minutes),
            },
            introspection_credential_hash: settings
                .security
                .introspection_credential
                .as_ref()
                .map(|credential| hash_token(credential.expose_secret())),
            roles: role_catalog(settings)?,
            member_permissions: auth
                .member_permissions
                .iter()
                .map(|name| {
                    Permission::parse(name).map_err(|error| {
                        anyhow::anyhow!("auth.member_permissions: {name}: {}", error.message)
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            invitation_lifetime: Duration::hours(auth.invitation_hours),
            reauth_window: Duration::minutes(auth.reauth_minutes),
        },
    }))
}

/// `idlog serve`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let core = Core::open(&settings).await?;
    bootstrap_admin(&core, &settings).await?;
    let projector = projector_over(core.database.clone(), core.log.clone(), &settings);
    projector
        .prepare()
        .await
        .context("preparing the read models")?;
    // The read models follow the log for as long as this set lives.
    let _following = projector.spawn();
    let objects = object_store(&settings).await?;
    // Embedded bus: the workers follow the log in this process for as long as this set lives.
    // Kafka: this process relays the log (while it holds the relay's lease) and `idlog worker`
    // processes consume it.
    let runner = worker_runner(&core, &settings, objects.clone())?;
    let _working = match kafka_settings(&settings) {
        None => runner.spawn(),
        Some(kafka) => {
            let mut relay = tokio::task::JoinSet::new();
            relay.spawn(
                workers::kafka::Relay::new(core.database.clone(), core.log.clone(), kafka)?.run(),
            );
            relay
        }
    };
    let read = api::ReadSide {
        wait_timeout: std::time::Duration::from_millis(settings.projections.wait_timeout_ms),
        max_ready_lag: settings.projections.max_ready_lag,
        ..api::ReadSide::new(projector)
    };
    let state = app_state(core, &settings, read, objects, Some(runner))?;
    tokio::spawn(follow_key_set(
        jwt_keys_path(&settings),
        token_settings(&settings),
        state.access_tokens.clone(),
    ));
    let address = SocketAddr::new(settings.server.host, settings.server.port);
    let metrics_state = state.clone();
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
    if let Some(address) = settings.metrics.listen {
        let metrics = Application::metrics(address, metrics_state)
            .await
            .with_context(|| format!("listening for metrics on {address}"))?;
        println!("metrics on http://{}/metrics", metrics.local_addr()?);
        tokio::spawn(async move {
            if let Err(error) = metrics.run(std::future::pending()).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
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
