//! `idlog ip-blocks ...`: the addresses and ranges from which nobody may sign up, sign in,
//! refresh a session or reset a password, through the application's use cases as the API runs
//! them.

use super::operator::Operator;
use super::organizations::refused;
use super::{at_or_from_now, confirm};
use application::RequestContext;
use clap::Subcommand;
use domain::ip_block::parse_network;
use domain::values::Reason;
use idlog::Usage;
use idlog::config::Settings;
use ipnet::IpNet;

/// `idlog ip-blocks ...`.
#[derive(Debug, Subcommand)]
pub enum IpBlocksCommand {
    /// Lists the blocks: network, whether in force, expiry, reason.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Blocks an address or a range in CIDR notation, or changes its block's reason and expiry.
    Block {
        /// `192.0.2.7`, `2001:db8::1`, or `198.51.100.0/24`.
        network: String,
        /// Why (for administrators; never shown to whoever is refused).
        #[arg(long)]
        reason: String,
        /// When the block ends (RFC 3339); default never.
        #[arg(long, conflicts_with = "expires_in_hours")]
        expires: Option<chrono::DateTime<chrono::Utc>>,
        /// It ends this many hours from now.
        #[arg(long)]
        expires_in_hours: Option<u32>,
    },
    /// Lifts the block of an address or range.
    Unblock {
        /// The address or range, as blocked.
        network: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn network(text: &str) -> Result<IpNet, Usage> {
    parse_network(text).ok_or_else(|| {
        Usage(format!(
            "{text:?} is neither an IP address nor a range in CIDR notation (198.51.100.0/24)"
        ))
    })
}

/// Runs an `ip-blocks` command.
pub async fn run(settings: &Settings, command: IpBlocksCommand) -> anyhow::Result<()> {
    match command {
        IpBlocksCommand::List { json } => {
            let operator = Operator::open(settings).await?;
            let list = operator
                .app
                .ip_blocks(&operator.authority)
                .await
                .map_err(|error| refused("ip-blocks", error))?;
            let now = chrono::Utc::now();
            for (network, block) in list.blocks.iter() {
                let expires = block.expires_at.map(|at| at.to_rfc3339());
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "network": network.to_string(),
                            "reason": block.reason,
                            "blocked_at": block.blocked_at.to_rfc3339(),
                            "expires_at": expires,
                            "in_force": block.in_force(now),
                        })
                    );
                } else {
                    let state = if block.in_force(now) {
                        "in force"
                    } else {
                        "expired"
                    };
                    println!(
                        "{network}\t{state}\t{}\t{}",
                        expires.as_deref().unwrap_or("never"),
                        block.reason
                    );
                }
            }
            Ok(())
        }
        IpBlocksCommand::Block {
            network: text,
            reason,
            expires,
            expires_in_hours,
        } => {
            let network = network(&text)?;
            let reason = Reason::parse(&reason)
                .map_err(|error| Usage(format!("--reason: {}", error.message)))?;
            let expires_at = at_or_from_now(
                expires,
                expires_in_hours.map(|hours| chrono::TimeDelta::hours(hours.into())),
                "--expires-in-hours",
            )?;
            let operator = Operator::open(settings).await?;
            operator
                .app
                .block_network(
                    &operator.authority,
                    &RequestContext::default(),
                    network,
                    reason,
                    expires_at,
                )
                .await
                .map_err(|error| refused(&text, error))?;
            println!("{network}: blocked");
            Ok(())
        }
        IpBlocksCommand::Unblock { network: text, yes } => {
            let network = network(&text)?;
            confirm(
                yes,
                &format!("Lift the block of {network}? Its requests will be served again."),
                "yes",
            )?;
            let operator = Operator::open(settings).await?;
            operator
                .app
                .unblock_network(&operator.authority, &RequestContext::default(), network)
                .await
                .map_err(|error| refused(&text, error))?;
            println!("{network}: unblocked");
            Ok(())
        }
    }
}
