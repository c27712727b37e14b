//! `idlog analysts grant`: analysts' read-only access to the read models over SQL (PostgreSQL).

use super::read_password;
use clap::Subcommand;
use eventstore::{Database, Opened};
use idlog::Usage;
use idlog::config::Settings;
use idlog::server::wiring::{open, projector_over};
use secrecy::{ExposeSecret, SecretString};

/// `idlog analysts ...`.
#[derive(Debug, Subcommand)]
pub enum AnalystsCommand {
    /// Creates (or updates) a read-only PostgreSQL role that may read the `analytics` views.
    Grant {
        /// The role's name.
        role: String,
        /// Set its password from standard input's first line.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `idlog analysts ...`.
pub async fn run(settings: &Settings, command: AnalystsCommand) -> anyhow::Result<()> {
    match command {
        AnalystsCommand::Grant {
            role,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            grant(settings, &role, password).await
        }
    }
}

/// `idlog analysts grant ROLE [--password-stdin]`: a read-only PostgreSQL role for analysts'
/// SQL, limited to the `analytics` schema's views.
async fn grant(
    settings: &Settings,
    role: &str,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && role.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid {
        return Err(Usage(format!(
            "{role:?}: a role name is lower-case letters, digits and _, starting with a letter"
        ))
        .into());
    }
    let Opened { log, database } = open(settings).await?;
    projector_over(database.clone(), log, settings)
        .prepare()
        .await?;
    let Database::Postgres(pool) = &database else {
        return Err(Usage(
            "analysts' roles are PostgreSQL roles; on the embedded SQLite file, give analysts a read-only copy of it".into(),
        )
        .into());
    };
    let mut tx = pool.begin().await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
    // Identifiers cannot be bound; `role` was checked to be a plain lower-case name above.
    if exists.is_none() {
        sqlx::query(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
        ))
        .execute(&mut *tx)
        .await?;
    }
    if let Some(password) = password {
        // The password travels as a literal (roles take no bound parameters): quote it.
        let quoted = password.expose_secret().replace('\'', "''");
        sqlx::query(&format!("ALTER ROLE {role} PASSWORD '{quoted}'"))
            .execute(&mut *tx)
            .await?;
    }
    let database_name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut *tx)
        .await?;
    for statement in [
        format!("GRANT CONNECT ON DATABASE \"{database_name}\" TO {role}"),
        format!(
            "GRANT USAGE ON SCHEMA {} TO {role}",
            projections::names::VIEW_SCHEMA
        ),
        format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {role}",
            projections::names::VIEW_SCHEMA
        ),
        // Rebuilds replace the views: new ones are granted too.
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {role}",
            projections::names::VIEW_SCHEMA
        ),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    println!(
        "{role} may now read the views of schema {} (and nothing else)",
        projections::names::VIEW_SCHEMA
    );
    Ok(())
}
