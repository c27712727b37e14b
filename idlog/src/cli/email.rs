//! `idlog email test ADDRESS`: one message through the configured transport, to check the
//! email settings before users depend on them.

use clap::Subcommand;
use domain::values::Email;
use idlog::Usage;
use idlog::config::{EmailTransport, Settings};
use idlog::server::wiring::{email_settings, mailer};

/// `idlog email ...`.
#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Sends a test message to ADDRESS through the configured transport and says how it went
    /// (exit 1 if it could not be sent).
    Test {
        /// Where to send it.
        address: String,
    },
}

/// `idlog email ...`.
pub async fn run(settings: &Settings, command: EmailCommand) -> anyhow::Result<()> {
    match command {
        EmailCommand::Test { address } => test(settings, &address).await,
    }
}

#[tracing::instrument(skip_all)]
async fn test(settings: &Settings, address: &str) -> anyhow::Result<()> {
    let to =
        Email::parse(address).map_err(|error| Usage(format!("{address}: {}", error.message)))?;
    let message = workers::email::test_message(
        &email_settings(settings),
        &workers::email::Templates::english(),
        to.as_str(),
        chrono::Utc::now(),
    )?;
    let email = &settings.email;
    let through = match email.transport {
        EmailTransport::File => format!("the folder {}", settings.data.dir.join("mail").display()),
        EmailTransport::Smtp => format!("SMTP {}:{}", email.smtp_host, email.smtp_port),
    };
    mailer(settings)?.send(&message).await.map_err(|error| {
        anyhow::anyhow!("the test message to {to} could not be sent through {through}: {error}")
    })?;
    println!(
        "sent a test message to {to} through {through} (message id {})",
        message.id
    );
    Ok(())
}
