//! `idlog partners ...`: record a partner's file transfer or transaction, list its records,
//! its figures and the figures across partners, and the catalog of actions, through the
//! application's use cases as the API runs them.

use super::confirm;
use super::operator::Operator;
use super::organizations::refused;
use application::RequestContext;
use application::partners::ActivityReport;
use clap::Subcommand;
use domain::OrganizationId;
use domain::partner::{
    ActionKind, ActionMeaning, Direction, Folder, RecordDetails, TransactionStatus,
};
use domain::values::{ActionName, DocumentType, FileName, ResourceRef, ResourceType};
use idlog::Usage;
use idlog::config::Settings;
use projections::queries::RecordFilter;

/// `idlog partners ...`.
#[derive(Debug, Subcommand)]
pub enum PartnersCommand {
    /// Records a partner's file transfer or transaction (prints the record as JSON).
    Record {
        /// The partner organization's id.
        organization: String,
        /// `file_uploaded`, `file_downloaded`, `transaction_sent`, `transaction_received`, or
        /// an action of the catalog.
        action: String,
        /// `ok` or `error` (needed for a transaction).
        #[arg(long)]
        status: Option<String>,
        /// `sent`, `received` or `error`.
        #[arg(long)]
        folder: Option<String>,
        /// The kind of thing it is about (`edi_document`).
        #[arg(long)]
        resource_type: Option<String>,
        /// Which one, in the partner's terms.
        #[arg(long)]
        resource_id: Option<String>,
        /// The file's name.
        #[arg(long)]
        filename: Option<String>,
        /// Its size in bytes.
        #[arg(long)]
        size: Option<u64>,
        /// The EDI document type (`850`, `INVOIC`).
        #[arg(long)]
        document_type: Option<String>,
        /// The partner's key for this record: running the same command again records nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Lists a partner's records, newest first (the read models brought up to date first).
    Activity {
        /// The partner organization's id.
        organization: String,
        /// `file` or `transaction`.
        #[arg(long)]
        kind: Option<String>,
        /// `ok` or `error`.
        #[arg(long)]
        status: Option<String>,
        /// How many (at most 200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Prints a partner's transaction figures as JSON: sent, received, success rate, each
    /// day's volume, its latest and its failed transactions.
    Figures {
        /// The partner organization's id.
        organization: String,
        /// Days up to today.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Prints the transactions across partners: totals, success rate and each partner's line.
    Transactions {
        /// Days up to today.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Lists the actions records may name, then the retired ones.
    Actions,
    /// Defines an action of the catalog (or a retired one again).
    DefineAction {
        /// Its name, e.g. `acknowledgment_received`.
        name: String,
        /// `file` or `transaction`.
        #[arg(long)]
        kind: String,
        /// `sent` or `received`, as the partner sees it.
        #[arg(long)]
        direction: String,
    },
    /// Retires an action: no new record may name it.
    RetireAction {
        /// Its name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn organization_id(text: &str) -> Result<OrganizationId, Usage> {
    text.parse()
        .map_err(|_| Usage(format!("{text:?} is not an organization id")))
}

/// `value` parsed as one of `choices`, or the caller's error naming `option`.
fn choice<T: std::str::FromStr>(value: &str, option: &str, choices: &str) -> Result<T, Usage> {
    value
        .parse()
        .map_err(|_| Usage(format!("{option} {value:?}: one of {choices}")))
}

/// An optional value parsed with `parse`, or the caller's error naming `option`.
fn optional<T>(
    value: Option<&str>,
    option: &str,
    parse: impl FnOnce(&str) -> Result<T, domain::values::InvalidValue>,
) -> Result<Option<T>, Usage> {
    value
        .map(|value| parse(value).map_err(|error| Usage(format!("{option}: {}", error.message))))
        .transpose()
}

/// Runs `command`.
pub async fn run(settings: &Settings, command: PartnersCommand) -> anyhow::Result<()> {
    match command {
        PartnersCommand::Record {
            organization,
            action,
            status,
            folder,
            resource_type,
            resource_id,
            filename,
            size,
            document_type,
            idempotency_key,
        } => {
            let id = organization_id(&organization)?;
            let report = ActivityReport {
                action: ActionName::parse(&action)
                    .map_err(|error| Usage(format!("action: {}", error.message)))?,
                resource_type: optional(
                    resource_type.as_deref(),
                    "--resource-type",
                    ResourceType::parse,
                )?,
                resource_id: optional(resource_id.as_deref(), "--resource-id", ResourceRef::parse)?,
                details: RecordDetails {
                    filename: optional(filename.as_deref(), "--filename", FileName::parse)?,
                    size,
                    document_type: optional(
                        document_type.as_deref(),
                        "--document-type",
                        DocumentType::parse,
                    )?,
                },
                status: status
                    .as_deref()
                    .map(|status| choice::<TransactionStatus>(status, "--status", "ok, error"))
                    .transpose()?,
                folder: folder
                    .as_deref()
                    .map(|folder| choice::<Folder>(folder, "--folder", "sent, received, error"))
                    .transpose()?,
            };
            let operator = Operator::open(settings).await?;
            let recorded = operator
                .app
                .record_partner_activity(
                    &operator.authority,
                    &RequestContext::default(),
                    id,
                    report,
                    idempotency_key.as_deref(),
                )
                .await
                .map_err(|error| refused(&organization, error))?;
            if recorded.replayed {
                eprintln!("Recorded before with this key: nothing new was recorded.");
            }
            println!("{}", serde_json::to_string_pretty(&recorded.event)?);
            Ok(())
        }
        PartnersCommand::Activity {
            organization,
            kind,
            status,
            limit,
            json,
        } => {
            let id = organization_id(&organization)?;
            let kind = kind
                .as_deref()
                .map(|kind| choice::<ActionKind>(kind, "--kind", "file, transaction"))
                .transpose()?;
            let operator = Operator::open(settings).await?;
            operator.queries().await?;
            let page = operator
                .app
                .partner_records(
                    &operator.authority,
                    id,
                    kind,
                    RecordFilter {
                        status,
                        limit: Some(limit),
                        ..RecordFilter::default()
                    },
                    None,
                )
                .await
                .map_err(|error| refused(&organization, error))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page.items)?);
                return Ok(());
            }
            println!(
                "{:<27} {:<22} {:<8} {:<8} {:<24} document",
                "at", "action", "status", "folder", "resource"
            );
            for row in page.items {
                println!(
                    "{:<27} {:<22} {:<8} {:<8} {:<24} {}",
                    row.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    row.action,
                    row.status.unwrap_or_default(),
                    row.folder.unwrap_or_default(),
                    row.resource_id.or(row.filename).unwrap_or_default(),
                    row.document_type.unwrap_or_default()
                );
            }
            Ok(())
        }
        PartnersCommand::Figures { organization, days } => {
            let id = organization_id(&organization)?;
            let operator = Operator::open(settings).await?;
            operator.queries().await?;
            let figures = operator
                .app
                .partner_figures(&operator.authority, id, Some(days), None)
                .await
                .map_err(|error| refused(&organization, error))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "figures": figures.figures,
                    "recent": figures.recent,
                    "failed": figures.failed,
                }))?
            );
            Ok(())
        }
        PartnersCommand::Transactions { days } => {
            let operator = Operator::open(settings).await?;
            operator.queries().await?;
            let (figures, lines) = operator
                .app
                .transactions_overview(&operator.authority, Some(days), None)
                .await
                .map_err(|error| refused("transactions", error))?;
            println!(
                "{} sent, {} received, {} failed; success rate {}",
                figures.sent,
                figures.received,
                figures.failed,
                figures
                    .success_rate
                    .map(|rate| format!("{:.1}%", rate * 100.0))
                    .unwrap_or_else(|| "none".into())
            );
            println!(
                "{:<12} {:<24} {:>8} {:>8} {:>8}",
                "partner", "name", "sent", "received", "failed"
            );
            for line in lines {
                println!(
                    "{:<12} {:<24} {:>8} {:>8} {:>8}",
                    line.partner_code.unwrap_or_default(),
                    line.name.unwrap_or(line.organization_id),
                    line.sent,
                    line.received,
                    line.failed
                );
            }
            Ok(())
        }
        PartnersCommand::Actions => {
            let operator = Operator::open(settings).await?;
            let catalog = operator
                .app
                .partner_actions(&operator.authority)
                .await
                .map_err(|error| refused("actions", error))?;
            for (name, meaning) in catalog.actions() {
                println!("{name} ({} {})", meaning.kind, meaning.direction);
            }
            for (name, meaning) in catalog.retired {
                println!("{name} ({} {}, retired)", meaning.kind, meaning.direction);
            }
            Ok(())
        }
        PartnersCommand::DefineAction {
            name,
            kind,
            direction,
        } => {
            let meaning = ActionMeaning {
                kind: choice(&kind, "--kind", "file, transaction")?,
                direction: choice::<Direction>(&direction, "--direction", "sent, received")?,
            };
            change_actions(settings, &name, Some(meaning)).await
        }
        PartnersCommand::RetireAction { name, yes } => {
            confirm(
                yes,
                &format!("Retire the action {name}? No new record may name it."),
                "yes",
            )?;
            change_actions(settings, &name, None).await
        }
    }
}

async fn change_actions(
    settings: &Settings,
    name: &str,
    meaning: Option<ActionMeaning>,
) -> anyhow::Result<()> {
    let action =
        ActionName::parse(name).map_err(|error| Usage(format!("{name:?}: {}", error.message)))?;
    let operator = Operator::open(settings).await?;
    operator
        .app
        .change_partner_actions(
            &operator.authority,
            &RequestContext::default(),
            action,
            meaning,
        )
        .await
        .map_err(|error| refused(name, error))?;
    println!(
        "{name}: {}",
        if meaning.is_some() {
            "defined"
        } else {
            "retired"
        }
    );
    Ok(())
}
