//! What the server and the command line are built from: the database (opened with the master
//! keys), the [`Core`] every command runs with, the application over it, the read models'
//! projector, the object store, and the workers with their mail, SMS and Kafka settings.

use super::keys::{
    access_tokens_from, check_claim_key, jwt_keys_path, key, master_keys, token_settings,
};
use super::prepare_data_dir;
use crate::config::{EmailTransport, Settings, SmsTransport, StorageBackend};
use anyhow::{Context, bail};
use application::accounts::Creator;
use application::administration::WorkerAdministration;
use application::credentials::jwt::{AccessTokenKeys, KeySetFile};
use application::credentials::password::{PasswordSettings, Passwords};
use application::places::Places;
use application::rate_limit::{RateLimitSettings, RateLimits};
use application::roles::RoleSeed;
use application::sessions::SessionSettings;
use application::{App, AuthSettings};
use commands::tokens::{TokenMinter, hash_token};
use commands::{ClaimHasher, CommandHandler};
use domain::Duration;
use domain::role_catalog::RoleCatalog;
use domain::user::LockoutPolicy;
use domain::values::{LanguageTag, Permission, Role};
use eventstore::encryption::MasterKeys;
use eventstore::{Database, Opened};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Opens (and migrates) the configured database, personal data encrypted per person.
#[tracing::instrument(skip_all)]
pub async fn open(settings: &Settings) -> anyhow::Result<Opened> {
    open_with_master_keys(settings, master_keys(settings)?).await
}

/// Opens (and migrates) the configured database with `masters` (a master key rotation opens
/// it with the next key).
pub async fn open_with_master_keys(
    settings: &Settings,
    masters: MasterKeys,
) -> anyhow::Result<Opened> {
    prepare_data_dir(settings)?;
    let url = settings.database_url();
    eventstore::open_with(&url, settings.database.max_connections, |builder| {
        builder.encrypt_personal_data(masters)
    })
    .await
    .with_context(|| format!("opening the database {}", eventstore::redact_url(&url)))
}

/// What running commands needs, for the server and the command line alike.
pub struct Core {
    /// The command handlers over the log.
    pub commands: CommandHandler,
    /// The database the read models and the workers' state live in.
    pub database: eventstore::Database,
    token_key: [u8; 32],
    passwords: Passwords,
    tokens: TokenMinter,
    /// The log.
    pub log: eventstore::EventLog,
}

impl Core {
    /// Opens the database and loads (or on first start generates) the keys.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
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

    /// Creates accounts with this core's handlers, passwords and tokens.
    pub(crate) fn creator<'a>(
        &'a self,
        settings: &Settings,
        role_seed: &'a RoleSeed,
    ) -> Creator<'a> {
        Creator {
            commands: &self.commands,
            passwords: &self.passwords,
            tokens: &self.tokens,
            invitation_lifetime: Duration::hours(settings.auth.invitation_hours),
            email_verification_lifetime: Duration::hours(settings.auth.email_verification_hours),
            // Checked when the settings were loaded.
            default_language: LanguageTag::parse(&settings.server.default_language)
                .unwrap_or_else(|_| LanguageTag::english()),
            role_seed,
        }
    }
}

/// The configured roles (`auth.roles`, privileged where `auth.privileged_roles` says), which
/// seed an empty log's role catalog.
pub(crate) fn role_seed(settings: &Settings) -> anyhow::Result<RoleSeed> {
    let parse = |key: &str, names: &[String]| {
        names
            .iter()
            .map(|name| {
                Role::parse(name)
                    .map_err(|error| anyhow::anyhow!("{key}: {name}: {}", error.message))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let configured = parse("auth.roles", &settings.auth.roles)?;
    let privileged = parse("auth.privileged_roles", &settings.auth.privileged_roles)?;
    let seed = RoleCatalog::seed(&configured, &privileged);
    if let Some(role) = privileged.iter().find(|role| !seed.contains_key(*role)) {
        anyhow::bail!("auth.privileged_roles: {role} is not a role (add it to auth.roles)");
    }
    Ok(seed)
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
        StorageBackend::Local => Ok(Arc::new(objects::LocalFolder::new(
            settings.data.dir.join("objects"),
        ))),
        StorageBackend::S3 => {
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
    workers::storage::StorageWorker::new(objects, commands.reader())
}

/// Where the pages are served (`email.public_url`) and the key their forms are signed with.
pub fn page_settings(core: &Core, settings: &Settings) -> api::pages::PageSettings {
    api::pages::PageSettings::new(&settings.public_url(), &core.token_key)
}

/// What messages say and where their links point, from `[email]`.
pub fn email_settings(settings: &Settings) -> workers::email::EmailSettings {
    let email = &settings.email;
    workers::email::EmailSettings {
        product: email.product.clone(),
        from: email.from.clone(),
        public_url: settings.public_url(),
        reset_url: settings.reset_url(),
    }
}

/// The configured mail transport: `.eml` files in the data folder, or SMTP.
pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn workers::email::Mailer>> {
    let email = &settings.email;
    Ok(match email.transport {
        EmailTransport::File => Arc::new(workers::email::EmlFolder::new(
            settings.data.dir.join("mail"),
        )),
        EmailTransport::Smtp => Arc::new(workers::email::SmtpMailer::new(
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
        SmsTransport::File => Arc::new(workers::sms::SmsFolder::new(settings.data.dir.join("sms"))),
        SmsTransport::Webhook => {
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
pub fn worker_runner(
    core: &Core,
    settings: &Settings,
    objects: Arc<dyn objects::ObjectStore>,
) -> anyhow::Result<workers::WorkerRunner> {
    let email = &settings.email;
    let deliveries = workers::deliveries::DeliveryLog::new(core.database.clone());
    let emails = workers::email::EmailWorker::new(
        mailer(settings)?,
        deliveries.clone(),
        core.commands.reader(),
        core.tokens.clone(),
        email_settings(settings),
        workers::email::Templates::english(),
    );
    let texts = workers::sms::SmsWorker::new(
        sms_sender(settings)?,
        deliveries,
        core.commands.reader(),
        core.tokens.clone(),
        email.product.clone(),
    );
    let bus = kafka_settings(settings).map_or(workers::Bus::Embedded, workers::Bus::Kafka);
    Ok(workers::WorkerRunner::new(
        core.database.clone(),
        core.log.clone(),
        vec![
            Arc::new(storage_worker(core.commands.clone(), objects)),
            Arc::new(workers::wallets::WalletWorker::new(core.commands.clone())),
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

/// The application's state over `core`: what the API serves with, and what the operators'
/// commands run the same handlers with.
pub fn application(
    core: Core,
    settings: &Settings,
    read: application::ReadSide,
    objects: Arc<dyn objects::ObjectStore>,
    workers: Option<Arc<dyn WorkerAdministration>>,
) -> anyhow::Result<App> {
    let auth = &settings.auth;
    let keys = KeySetFile::load_or_create(&jwt_keys_path(settings), chrono::Utc::now())?;
    let access_tokens = Arc::new(AccessTokenKeys::new(access_tokens_from(
        &token_settings(settings),
        keys,
    )?));
    let limits = &settings.limits;
    let per_minute = |limit: u32| (limit > 0).then_some(limit);
    let places = match &settings.server.geoip_database {
        Some(path) => Places::with_countries(path)?,
        None => Places::addresses_only(),
    };
    Ok(App {
        read,
        places,
        workers,
        commands: core.commands,
        passwords: core.passwords,
        tokens: core.tokens,
        totp: application::credentials::totp::SecretSealer::new(&core.token_key),
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
            roles: role_seed(settings)?,
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
            restore_window: Duration::days(auth.restore_days),
            default_language: LanguageTag::parse(&settings.server.default_language)
                .map_err(|error| anyhow::anyhow!("server.default_language: {}", error.message))?,
            reauth_window: Duration::minutes(auth.reauth_minutes),
        },
    })
}

/// `server.trusted_proxies` as ranges: each a CIDR range or a single address.
pub fn trusted_proxies(settings: &Settings) -> anyhow::Result<Vec<ipnet::IpNet>> {
    settings
        .server
        .trusted_proxies
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "server.trusted_proxies: {entry:?} is neither an address nor a CIDR range"
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod trusted_proxy_tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_ranges_or_single_addresses_and_nothing_else() {
        let mut settings = Settings::default();
        settings.server.trusted_proxies = vec!["10.0.0.0/8".into(), " 127.0.0.1 ".into()];
        let ranges = trusted_proxies(&settings).expect("valid");
        assert_eq!(
            ranges,
            vec![
                "10.0.0.0/8".parse::<ipnet::IpNet>().expect("range"),
                "127.0.0.1/32".parse().expect("range"),
            ]
        );
        settings.server.trusted_proxies = vec!["proxy.internal".into()];
        let refused = trusted_proxies(&settings).expect_err("refused");
        assert!(
            refused.to_string().contains("server.trusted_proxies"),
            "{refused}"
        );
    }
}
