//! Configuration, typed once at start-up: defaults, then `idlog.toml`, then `IDLOG_SECTION_KEY`
//! environment variables (`IDLOG_DATABASE_URL` sets `database.url`). Unknown keys and bad values
//! fail start-up with a message naming the key. Secrets are wrapped so they never print.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// All of idlog's settings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[data]`
    pub data: DataSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[security]`
    pub security: SecuritySettings,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[limits]`
    pub limits: LimitSettings,
    /// `[bootstrap]`
    pub bootstrap: BootstrapSettings,
    /// `[projections]`
    pub projections: ProjectionSettings,
    /// `[workers]`
    pub workers: WorkerConfig,
    /// `[storage]`
    pub storage: StorageSettings,
    /// `[email]`
    pub email: EmailConfig,
    /// `[sms]`
    pub sms: SmsConfig,
    /// `[kafka]`
    pub kafka: KafkaConfig,
    /// `[metrics]`
    pub metrics: MetricsSettings,
}

/// `[metrics]`: who reads `/metrics`. With neither set, loopback clients of the API's listener.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A bearer credential scrapers must send, wherever metrics are served.
    pub credential: Option<SecretString>,
    /// An address of their own to serve metrics on (e.g. `10.0.0.5:9464`); the API's listener
    /// then has no `/metrics`.
    pub listen: Option<SocketAddr>,
}

/// `[email]`: what messages say and where their links point.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The product's name in messages.
    pub product: String,
    /// The sender address.
    pub from: String,
    /// The base URL people reach idlog's pages at, used in every emailed link. Default: the
    /// server's own address (`http://{server.host}:{server.port}`, 127.0.0.1 for an unspecified
    /// host). When it is https, the page session cookie is `Secure` with the `__Host-` prefix.
    pub public_url: Option<String>,
    /// Where password reset and invitation links point; the token is appended. Default:
    /// `{public_url}/reset-password?token=`.
    pub reset_url: Option<String>,
    /// `file` (`.eml` files in the data folder's `mail/`) or `smtp`.
    pub transport: EmailTransport,
    /// The SMTP server's host.
    pub smtp_host: String,
    /// The SMTP server's port.
    pub smtp_port: u16,
    /// `none` (loopback only), `starttls` or `tls` (implicit).
    pub smtp_tls: workers::email::SmtpTls,
    /// SMTP user name.
    pub smtp_username: Option<String>,
    /// SMTP password.
    pub smtp_password: Option<SecretString>,
    /// Seconds one SMTP exchange may take.
    pub smtp_timeout_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            product: "idlog".into(),
            from: "idlog <no-reply@localhost>".into(),
            public_url: None,
            reset_url: None,
            transport: EmailTransport::File,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 587,
            smtp_tls: workers::email::SmtpTls::StartTls,
            smtp_username: None,
            smtp_password: None,
            smtp_timeout_secs: 15,
        }
    }
}

/// How email leaves.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    /// `.eml` files in the data folder (the embedded default).
    #[default]
    File,
    /// An SMTP server.
    Smtp,
}

/// How text messages leave.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmsTransport {
    /// Files in the data folder's `sms/` (the embedded default).
    #[default]
    File,
    /// POST JSON to `sms.webhook_url` with `sms.webhook_token`.
    Webhook,
}

/// `[sms]`: how phone verification codes are sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `file` or `webhook`.
    pub transport: SmsTransport,
    /// The provider's (or gateway's) URL.
    pub webhook_url: Option<String>,
    /// Sent as `Authorization: Bearer`.
    pub webhook_token: Option<SecretString>,
    /// Seconds the webhook may take to answer.
    pub webhook_timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            transport: SmsTransport::File,
            webhook_url: None,
            webhook_token: None,
            webhook_timeout_secs: 10,
        }
    }
}

/// `[kafka]`: with `brokers` set, the log is relayed to Kafka and workers consume from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`; unset: the embedded bus.
    pub brokers: Option<String>,
    /// The topic carrying the log (created if missing).
    pub topic: String,
    /// Partitions of the topic when idlog creates it.
    pub partitions: i32,
    /// Replication factor of the topic when idlog creates it.
    pub replication: i32,
    /// Consumer groups are `{group_prefix}{worker}`.
    pub group_prefix: String,
    /// Most events per record batch the relay produces (1 for brokers that cannot serve a
    /// consumer from the middle of a batch, like tansu 0.6.0).
    pub batch_messages: u32,
    /// librdkafka debug contexts, e.g. `cgrp,fetch` (logged with `log.level` at debug for
    /// `librdkafka`).
    pub debug: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: None,
            topic: "idlog.events".into(),
            partitions: 6,
            replication: 1,
            group_prefix: "idlog-".into(),
            batch_messages: 10_000,
            debug: None,
        }
    }
}

/// Where users' folders and files are stored.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// The data folder's `objects/` (the embedded default).
    #[default]
    Local,
    /// An S3 bucket (Amazon S3, MinIO, ...).
    S3,
}

/// `[storage]`: the object store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `local` or `s3`.
    pub backend: StorageBackend,
    /// The S3 bucket (created at start-up if missing).
    pub bucket: String,
    /// The S3 endpoint, e.g. `http://minio:9000`; unset for Amazon S3.
    pub endpoint: Option<String>,
    /// The S3 region.
    pub region: String,
    /// Path-style addressing (MinIO and most self-hosted servers need it).
    pub path_style: bool,
    /// The S3 access key id.
    pub access_key_id: Option<String>,
    /// The S3 secret access key.
    pub secret_access_key: Option<SecretString>,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            bucket: "idlog".into(),
            endpoint: None,
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// `[workers]`: how the workers retry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Attempts at an event (with exponential backoff and jitter) before it is dead-lettered.
    pub max_attempts: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { max_attempts: 8 }
    }
}

/// `[projections]`: how the read models follow the log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectionSettings {
    /// Events applied per transaction.
    pub batch_size: usize,
    /// Attempts at an event before it is dead-lettered and its projection stops.
    pub max_attempts: u32,
    /// The longest a query waits for its `min_position`, in milliseconds.
    pub wait_timeout_ms: u64,
    /// Readiness fails while a read model lags by more events than this.
    pub max_ready_lag: u64,
}

impl Default for ProjectionSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_attempts: 5,
            wait_timeout_ms: 5000,
            max_ready_lag: 10_000,
        }
    }
}

/// `[bootstrap]`: the first administrator, created at start-up while the log is empty.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapSettings {
    /// Email address of the first administrator.
    pub admin_email: Option<String>,
    /// Their password.
    pub admin_password: Option<SecretString>,
}

/// `[limits]`: requests per minute per client address or account; 0 turns a limit off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Login attempts per client address.
    pub login_per_ip: u32,
    /// Login attempts per account.
    pub login_per_account: u32,
    /// Registrations per client address.
    pub register_per_ip: u32,
    /// Token refreshes per client address.
    pub refresh_per_ip: u32,
    /// Password-forgot requests per client address.
    pub forgot_per_ip: u32,
    /// Password-forgot requests per email address.
    pub forgot_per_account: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let defaults = application::rate_limit::RateLimitSettings::default();
        let per_minute = |limit: Option<u32>| limit.unwrap_or(0);
        Self {
            login_per_ip: per_minute(defaults.login_per_ip),
            login_per_account: per_minute(defaults.login_per_account),
            register_per_ip: per_minute(defaults.register_per_ip),
            refresh_per_ip: per_minute(defaults.refresh_per_ip),
            forgot_per_ip: per_minute(defaults.forgot_per_ip),
            forgot_per_account: per_minute(defaults.forgot_per_account),
        }
    }
}

/// `[auth]`: passwords, tokens, account existence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Register and password-forgot answer alike whether or not the account exists.
    pub hide_account_existence: bool,
    /// How long email verification links work, in hours.
    pub email_verification_hours: i64,
    /// The shortest password accepted.
    pub password_min_length: usize,
    /// argon2id memory in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id passes (OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id lanes (OWASP: 1).
    pub argon2_parallelism: u32,
    /// How long password reset links work, in hours.
    pub password_reset_hours: i64,
    /// Access token lifetime, in minutes.
    pub access_token_minutes: i64,
    /// `iss` of access tokens.
    pub token_issuer: String,
    /// `aud` of access tokens.
    pub token_audience: String,
    /// A session unused this long (no login or refresh) expires, in minutes.
    pub session_idle_minutes: i64,
    /// A session expires this long after login whatever its use, in days.
    pub session_lifetime_days: i64,
    /// At most this many open sessions per user (0: no limit); a login beyond ends the oldest.
    pub max_sessions_per_user: usize,
    /// Consecutive failed logins that lock the account.
    pub lockout_attempts: u32,
    /// The first lock's length in minutes; each further lock doubles it.
    pub lockout_minutes: i64,
    /// The longest lock, in minutes.
    pub lockout_max_minutes: i64,
    /// Global roles beyond the built-in admin, auditor, analyst and user (e.g. `["COACH"]`).
    pub roles: Vec<String>,
    /// Global roles whose holders only they themselves and administrators act on, beside the
    /// built-in admin, auditor and analyst (e.g. `["COACH"]`; each must be in `roles`).
    pub privileged_roles: Vec<String>,
    /// How long an invitation works, to set a first password or to join an organization, in
    /// hours.
    pub invitation_hours: i64,
    /// How long after a deletion an administrator may restore the user, in days (after that the
    /// deletion stands; the user is not forgotten by it).
    pub restore_days: i64,
    /// A sign-in this recent lets a person change their own email or phone without their
    /// current password, in minutes.
    pub reauth_minutes: i64,
    /// The permission flags organization memberships may carry.
    pub member_permissions: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            hide_account_existence: false,
            email_verification_hours: 48,
            password_min_length: 8,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_reset_hours: 24,
            access_token_minutes: 15,
            token_issuer: "idlog".into(),
            token_audience: "idlog".into(),
            session_idle_minutes: 30,
            session_lifetime_days: 30,
            max_sessions_per_user: 0,
            lockout_attempts: 5,
            lockout_minutes: 15,
            lockout_max_minutes: 24 * 60,
            roles: Vec::new(),
            privileged_roles: Vec::new(),
            invitation_hours: 7 * 24,
            restore_days: 30,
            reauth_minutes: 5,
            member_permissions: application::settings::DEFAULT_MEMBER_PERMISSIONS
                .map(String::from)
                .to_vec(),
        }
    }
}

/// `[server]`: where the HTTP API listens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind (default 127.0.0.1; 0.0.0.0 to listen on every interface).
    pub host: IpAddr,
    /// Port (default 8080).
    pub port: u16,
    /// The language a new user's `preferred_language` starts from (a BCP 47 tag; default `en`).
    pub default_language: String,
    /// A GeoIP2 or GeoLite2 Country database (`.mmdb`): sign-ins are then placed in a country
    /// as well as at their address. Unset: the address alone.
    pub geoip_database: Option<PathBuf>,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed: the client's
    /// address is then the first one, from the right, that is not a trusted proxy. Empty (the
    /// default): the connection's address, whatever the headers say.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            default_language: "en".into(),
            geoip_database: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[database]`: the event log and read models.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://...` or `sqlite:PATH`; default: a SQLite file in the data folder.
    pub url: Option<SecretString>,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
        }
    }
}

/// `[data]`: where the embedded defaults keep their files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// The data folder (default `./idlog-data`): SQLite database, `objects/`, `mail/`, keys.
    pub dir: PathBuf,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./idlog-data"),
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `idlog=debug,sqlx=warn`.
    pub level: String,
    /// `text` (lines for people; coloured only on a terminal) or `json` (one object a line,
    /// for log collectors).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `[security]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// 64 hex characters: the key unique values (emails, ...) are hashed with. Every idlog
    /// process on one database must use the same key. Default: generated into the data folder.
    pub claim_key: Option<SecretString>,
    /// 64 hex characters: the key email verification and reset tokens are derived from. Every
    /// idlog process (API and workers) must use the same key. Default: generated into the data folder.
    pub token_key: Option<SecretString>,
    /// The JWT key set file (signing key and recently retired keys). Default:
    /// `jwt-keys.json` in the data folder, generated on first start.
    pub jwt_keys_file: Option<PathBuf>,
    /// The bearer credential services present to `POST /api/v1/auth/introspect`; unset turns
    /// introspection off.
    pub introspection_credential: Option<SecretString>,
    /// 64 hex characters: the Ed25519 seed `idlog events checkpoint` signs with (auditors get
    /// its public half from `idlog keys checkpoint-public`). Default: generated into the data folder.
    pub checkpoint_key: Option<SecretString>,
    /// 64 hex characters: the master key that wraps each person's data key (personal data in
    /// the log is encrypted per person, so a person can be forgotten). Every idlog process on
    /// one database needs it. Default: generated into the data folder.
    pub master_key: Option<SecretString>,
    /// Master keys being replaced (64 hex characters each): they still unwrap the data keys
    /// `idlog keys rewrap` has not re-wrapped yet.
    pub previous_master_keys: Vec<SecretString>,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read as settings.
    #[error("invalid configuration: {key}: {message} (from {origin})")]
    Parse {
        /// The key, e.g. `server.port`.
        key: String,
        /// What is wrong.
        message: String,
        /// Where the value came from (the file, or the environment).
        origin: String,
    },
    /// A value is of the right type but not acceptable.
    #[error("invalid configuration: {key}: {message}")]
    Invalid {
        /// The key, e.g. `database.url`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// The base URL of idlog's pages, without a trailing slash: `email.public_url`, or the
    /// server's own address.
    pub fn public_url(&self) -> String {
        match &self.email.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = if self.server.host.is_unspecified() {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    self.server.host
                };
                format!("http://{}", SocketAddr::new(host, self.server.port))
            }
        }
    }

    /// Where password reset and invitation links point (the token is appended):
    /// `email.reset_url`, or the reset page under [`Self::public_url`].
    pub fn reset_url(&self) -> String {
        self.email
            .reset_url
            .clone()
            .unwrap_or_else(|| format!("{}/reset-password?token=", self.public_url()))
    }

    /// Loads defaults, then the file (which must exist if `explicit`), then the environment.
    pub fn load(file: &Path, explicit: bool) -> Result<Self, ConfigError> {
        if explicit && !file.exists() {
            return Err(ConfigError::Invalid {
                key: "--config",
                message: format!("{} does not exist", file.display()),
            });
        }
        let settings: Settings = Figment::new()
            .merge(Toml::file(file))
            // IDLOG_DATABASE_URL -> database.url: the first underscore separates the section.
            .merge(
                Env::prefixed("IDLOG_")
                    .map(|key| key.as_str().to_lowercase().replacen('_', ".", 1).into()),
            )
            .extract()
            .map_err(parse_error)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            let known = ["postgres://", "postgresql://", "sqlite:"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(ConfigError::Invalid {
                    key: "database.url",
                    message: "must start with postgres://, postgresql:// or sqlite:".into(),
                });
            }
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "database.max_connections",
                message: "must be at least 1".into(),
            });
        }
        if let Some(key) = &self.security.claim_key {
            parse_key(key.expose_secret()).map_err(|message| ConfigError::Invalid {
                key: "security.claim_key",
                message,
            })?;
        }
        let auth = &self.auth;
        let positive = [
            (
                "auth.email_verification_hours",
                auth.email_verification_hours,
            ),
            ("auth.password_reset_hours", auth.password_reset_hours),
            ("auth.access_token_minutes", auth.access_token_minutes),
            ("auth.session_idle_minutes", auth.session_idle_minutes),
            ("auth.session_lifetime_days", auth.session_lifetime_days),
            ("auth.lockout_minutes", auth.lockout_minutes),
            ("auth.lockout_max_minutes", auth.lockout_max_minutes),
            ("auth.invitation_hours", auth.invitation_hours),
            ("auth.restore_days", auth.restore_days),
            ("auth.reauth_minutes", auth.reauth_minutes),
            ("auth.lockout_attempts", i64::from(auth.lockout_attempts)),
            (
                "auth.password_min_length",
                i64::try_from(auth.password_min_length).unwrap_or(i64::MAX),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value < 1) {
            return Err(ConfigError::Invalid {
                key,
                message: "must be at least 1".into(),
            });
        }
        if let Err(error) = domain::values::LanguageTag::parse(&self.server.default_language) {
            return Err(ConfigError::Invalid {
                key: "server.default_language",
                message: error.message,
            });
        }
        if auth.password_min_length > application::credentials::password::MAX_PASSWORD_CHARS {
            return Err(ConfigError::Invalid {
                key: "auth.password_min_length",
                message: format!(
                    "must be at most {}",
                    application::credentials::password::MAX_PASSWORD_CHARS
                ),
            });
        }
        if self.bootstrap.admin_email.is_some() != self.bootstrap.admin_password.is_some() {
            return Err(ConfigError::Invalid {
                key: "bootstrap.admin_email",
                message: "bootstrap.admin_email and bootstrap.admin_password go together".into(),
            });
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|error| {
            ConfigError::Invalid {
                key: "log.level",
                message: error.to_string(),
            }
        })?;
        Ok(())
    }

    /// The database URL: the configured one, or the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}", self.data.dir.join("idlog.db").display()),
        }
    }
}

/// Names the key in lower-case dotted form (figment would print an environment variable's key
/// upper-cased, as if it were the variable's name, which with our mapping it is not).
fn parse_error(error: figment::Error) -> ConfigError {
    let key = error
        .path
        .iter()
        .map(|part| part.to_lowercase())
        .collect::<Vec<_>>()
        .join(".");
    let origin = error.metadata.as_ref().map_or_else(
        || "defaults".to_owned(),
        |metadata| metadata.name.to_string(),
    );
    ConfigError::Parse {
        key,
        message: error.kind.to_string(),
        origin,
    }
}

/// Parses a 32-byte key written as 64 hex characters.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| "must be 64 hex characters (32 bytes)".to_owned())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    /// Every `IDLOG_` variable `docker-compose.yml` sets is a configuration key, with a value
    /// idlog accepts (`${VAR:?...}` placeholders stand for generated 64-hex-character keys).
    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closures return figment's own error type"
    )]
    fn docker_compose_sets_only_real_configuration_keys() {
        let compose = include_str!("../../docker-compose.yml");
        let variables: Vec<(String, String)> = compose
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("IDLOG_"))
            .filter_map(|line| line.split_once(": "))
            .map(|(key, value)| {
                let value = value.trim().trim_matches('"');
                let value = if value.starts_with("${") {
                    "ab".repeat(32)
                } else {
                    value.to_owned()
                };
                (key.to_owned(), value)
            })
            .collect();
        assert!(variables.len() >= 10, "{variables:?}");
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (key, value) in &variables {
                jail.set_env(key, value);
            }
            let settings = Settings::load(Path::new("no-such-file.toml"), false)
                .map_err(|error| error.to_string())?;
            assert_eq!(settings.storage.backend, StorageBackend::S3);
            assert_eq!(
                settings.storage.endpoint.as_deref(),
                Some("http://minio:9000")
            );
            assert_eq!(settings.kafka.brokers.as_deref(), Some("kafka:9092"));
            assert_eq!(settings.email.transport, EmailTransport::Smtp);
            assert_eq!(settings.email.smtp_tls, workers::email::SmtpTls::None);
            Ok(())
        });
        // And an unknown one is refused, so the check above means something.
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("IDLOG_STORAGE_BUCKETT", "idlog");
            assert!(Settings::load(Path::new("no-such-file.toml"), false).is_err());
            Ok(())
        });
    }

    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let settings = Settings::default();
        assert_eq!(
            (settings.server.host, settings.server.port),
            (IpAddr::from([127, 0, 0, 1]), 8080)
        );
        assert_eq!(settings.database_url(), "sqlite://./idlog-data/idlog.db");
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn keys_are_64_hex_characters() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abc").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }
}
