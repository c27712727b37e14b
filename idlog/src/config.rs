//! Configuration, typed once at start-up: defaults, then `idlog.toml`, then `IDLOG_SECTION_KEY`
//! environment variables (`IDLOG_DATABASE_URL` sets `database.url`). Unknown keys and bad values
//! fail start-up with a message naming the key. Secrets are wrapped so they never print.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::IpAddr;
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
}

/// `[server]`: where the HTTP API listens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind (default 127.0.0.1; 0.0.0.0 to listen on every interface).
    pub host: IpAddr,
    /// Port (default 8080).
    pub port: u16,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
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
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
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
