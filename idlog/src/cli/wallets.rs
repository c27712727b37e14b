//! `idlog wallets ...`: a user's wallet and its history, and the administrators' credits,
//! debits, freezes and unfreezes, through the application's use cases as the API runs them.

use super::confirm;
use super::operator::{Operator, app_error};
use application::RequestContext;
use application::wallets::{WalletChange, WalletView};
use clap::Subcommand;
use domain::values::Reason;
use domain::wallet::WalletEvent;
use idlog::Usage;
use idlog::config::Settings;

/// `idlog wallets ...`.
#[derive(Debug, Subcommand)]
pub enum WalletsCommand {
    /// Prints a user's wallet: balance and status.
    Show {
        /// The user's id, email address or username.
        user: String,
    },
    /// Prints a user's wallet history from the log, newest first.
    History {
        /// The user's id, email address or username.
        user: String,
        /// How many entries (at most 200).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Adds credits to a user's wallet.
    Credit {
        /// The user's id, email address or username.
        user: String,
        /// How many credits.
        amount: u64,
        /// Why (recorded for auditors).
        #[arg(long)]
        reason: String,
        /// This change's key: running the same command again moves nothing.
        #[arg(long)]
        idempotency_key: String,
    },
    /// Takes credits from a user's wallet, if its balance holds them.
    Debit {
        /// The user's id, email address or username.
        user: String,
        /// How many credits.
        amount: u64,
        /// Why (recorded for auditors).
        #[arg(long)]
        reason: String,
        /// This change's key: running the same command again moves nothing.
        #[arg(long)]
        idempotency_key: String,
    },
    /// Freezes a user's wallet: no credits or debits until unfrozen.
    Freeze {
        /// The user's id, email address or username.
        user: String,
        /// Why (recorded for auditors).
        #[arg(long)]
        reason: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Makes a frozen wallet active again.
    Unfreeze {
        /// The user's id, email address or username.
        user: String,
    },
}

fn reason(text: &str) -> Result<Reason, Usage> {
    Reason::parse(text).map_err(|error| Usage(format!("--reason: {}", error.message)))
}

fn print(view: &WalletView) {
    println!(
        "balance {} credits, {}{}",
        view.wallet.balance,
        view.wallet.status,
        if view.replayed {
            " (already done: nothing moved)"
        } else {
            ""
        }
    );
}

/// Runs a `wallets` command.
pub async fn run(settings: &Settings, command: WalletsCommand) -> anyhow::Result<()> {
    let operator = Operator::open(settings).await?;
    let context = RequestContext::default();
    let (user, change, idempotency) = match command {
        WalletsCommand::Show { user } => {
            let user_id = operator.resolve(&user).await?;
            let view = operator
                .app
                .wallet(&operator.authority, user_id)
                .await
                .map_err(|error| app_error(&user, error))?
                .ok_or_else(|| Usage(format!("{user}: no wallet yet")))?;
            print(&view);
            return Ok(());
        }
        WalletsCommand::History { user, limit } => {
            let user_id = operator.resolve(&user).await?;
            let entries = operator
                .app
                .wallet_history(&operator.authority, user_id, None, limit)
                .await
                .map_err(|error| app_error(&user, error))?;
            for entry in entries {
                let reason = entry.event.reason().map(ToString::to_string);
                let what = match (&entry.event, entry.event.moved()) {
                    (WalletEvent::WalletCredited { .. }, Some((amount, balance))) => {
                        format!("credited {amount} (balance {balance})")
                    }
                    (WalletEvent::WalletDebited { .. }, Some((amount, balance))) => {
                        format!("debited {amount} (balance {balance})")
                    }
                    (WalletEvent::WalletFrozen { .. }, _) => "frozen".to_owned(),
                    (WalletEvent::WalletUnfrozen { .. }, _) => "unfrozen".to_owned(),
                    _ => "opened".to_owned(),
                };
                let what = match reason {
                    Some(reason) => format!("{what}: {reason}"),
                    None => what,
                };
                println!(
                    "{}\t{}\t{what}",
                    entry.recorded_at.to_rfc3339(),
                    entry.actor.as_deref().unwrap_or("-")
                );
            }
            return Ok(());
        }
        WalletsCommand::Credit {
            user,
            amount,
            reason: why,
            idempotency_key,
        } => {
            let reason = reason(&why)?;
            let credit = WalletChange::Credit { amount, reason };
            (user, credit, Some(idempotency_key))
        }
        WalletsCommand::Debit {
            user,
            amount,
            reason: why,
            idempotency_key,
        } => {
            let reason = reason(&why)?;
            let debit = WalletChange::Debit { amount, reason };
            (user, debit, Some(idempotency_key))
        }
        WalletsCommand::Freeze {
            user,
            reason: why,
            yes,
        } => {
            let reason = reason(&why)?;
            confirm(
                yes,
                &format!("Freeze the wallet of {user}? No credits or debits until unfrozen."),
                "yes",
            )?;
            (user, WalletChange::Freeze { reason }, None)
        }
        WalletsCommand::Unfreeze { user } => (user, WalletChange::Unfreeze, None),
    };
    let user_id = operator.resolve(&user).await?;
    let idempotency = idempotency
        .map(|key| change.keyed(user_id, &key))
        .transpose()
        .map_err(|error| app_error("--idempotency-key", error))?;
    let view = operator
        .app
        .change_wallet(&operator.authority, &context, user_id, change, idempotency)
        .await
        .map_err(|error| app_error(&user, error))?;
    print(&view);
    Ok(())
}
