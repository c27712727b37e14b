//! Partner activity: what a partner's systems (its API keys) or members record of the files
//! and transactions they sent and received, read back as lists and figures, and the catalog of
//! actions a record may name (four built in; administrators add more).
//!
//! Who records is the policy's: a sent action needs `can_upload_files`, a received one
//! `can_download_files` (org_admins and administrators record either). Who reads: transactions
//! with `can_view_transactions`, file transfers with either file flag; readers and org_admins
//! read both.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::queries::window;
use crate::{App, AppError, RequestContext, Resource};
use commands::CommandContext;
use domain::partner::{
    ACTION_CATALOG_STREAM, ActionCatalog, ActionCatalogAggregate, ActionCatalogCommand, ActionKind,
    ActionMeaning, Direction, Folder, NewRecord, RecordAggregate, RecordCommand, RecordDetails,
    RecordEvent, RecordState, TransactionStatus,
};
use domain::values::{ActionName, ResourceRef, ResourceType};
use domain::{OrganizationId, RecordId};
use projections::queries::{Page, PartnerLine, PartnerRecordRow, RecordFilter, TransactionFigures};
use projections::{directory, partners};

/// What a partner's system or member asks to record.
#[derive(Debug, Clone)]
pub struct ActivityReport {
    /// What happened: an action of the catalog.
    pub action: ActionName,
    /// The kind of thing it is about.
    pub resource_type: Option<ResourceType>,
    /// Which one.
    pub resource_id: Option<ResourceRef>,
    /// About the file or document.
    pub details: RecordDetails,
    /// How it ended (needed for transactions).
    pub status: Option<TransactionStatus>,
    /// Where it is filed (for a transaction without one: `error` if it failed, else its
    /// direction).
    pub folder: Option<Folder>,
}

/// A record made (or, for a retried idempotency key, the one made the first time).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its id (its stream's).
    pub record_id: RecordId,
    /// What it holds.
    pub event: RecordEvent,
    /// Its log position.
    pub position: Option<u64>,
    /// True when the idempotency key had recorded it before: nothing new was recorded.
    pub replayed: bool,
}

/// A partner's figures with its latest and its failed transactions.
#[derive(Debug, Clone)]
pub struct PartnerFigures {
    /// Sent, received, success rate and each day's volume.
    pub figures: TransactionFigures,
    /// The latest transactions.
    pub recent: Vec<PartnerRecordRow>,
    /// The latest failed transactions.
    pub failed: Vec<PartnerRecordRow>,
}

/// The namespace of record ids made from a partner's idempotency key (UUIDv5).
const RECORD_KEYS: uuid::Uuid = uuid::Uuid::from_u128(0x6964_6c6f_672d_7061_7274_6e65_722d_6b65);

/// How many recent and failed transactions the figures show.
const LATEST: u32 = 10;

/// The read models partner lists and figures come from.
const PARTNER_MODELS: &[&str] = &[partners::NAME, directory::NAME];

/// The operation that records an action going `direction`.
fn recording(direction: Direction) -> Operation {
    match direction {
        Direction::Sent => Operation::RecordSentActivity,
        Direction::Received => Operation::RecordReceivedActivity,
    }
}

/// The operation that reads records of `kind`.
fn reading(kind: ActionKind) -> Operation {
    match kind {
        ActionKind::Transaction => Operation::ReadTransactions,
        ActionKind::File => Operation::ReadFileTransfers,
    }
}

impl App {
    /// The action catalog as the log has it.
    async fn action_catalog(&self) -> Result<ActionCatalog, AppError> {
        Ok(self
            .commands
            .current::<ActionCatalogAggregate>(ACTION_CATALOG_STREAM)
            .await
            .map_err(AppError::internal)?
            .state)
    }

    /// The actions a record may name, and those retired, for those who record or read partner
    /// activity.
    #[tracing::instrument(skip_all)]
    pub async fn partner_actions(&self, who: &Authority) -> Result<ActionCatalog, AppError> {
        self.scope(who, Operation::ReadPartnerActions)?;
        self.action_catalog().await
    }

    /// Defines an action with `meaning` (`Some`), or retires it (`None`): administrators.
    #[tracing::instrument(skip(self, who, context))]
    pub async fn change_partner_actions(
        &self,
        who: &Authority,
        context: &RequestContext,
        name: ActionName,
        meaning: Option<ActionMeaning>,
    ) -> Result<Option<u64>, AppError> {
        who.require(
            Operation::ManagePartnerActions,
            Target::Everything,
            Resource::Anything,
        )?;
        let at = chrono::Utc::now();
        let command = match meaning {
            Some(meaning) => ActionCatalogCommand::Define { name, meaning, at },
            None => ActionCatalogCommand::Retire { name, at },
        };
        let executed = self
            .commands
            .execute::<ActionCatalogAggregate>(
                ACTION_CATALOG_STREAM,
                command,
                CommandContext {
                    metadata: who.acting(context),
                    ..Default::default()
                },
            )
            .await
            .map_err(AppError::PartnerActions)?;
        Ok(executed.position)
    }

    /// Records what partner `id` sent or received. A retry with the same idempotency key
    /// answers the first record and records nothing (the key is the partner's own: another
    /// partner's same key is another record).
    #[tracing::instrument(skip_all, fields(organization_id = %id))]
    pub async fn record_partner_activity(
        &self,
        who: &Authority,
        context: &RequestContext,
        id: OrganizationId,
        report: ActivityReport,
        idempotency_key: Option<&str>,
    ) -> Result<Recorded, AppError> {
        let (organization, _) = self
            .organization(id)
            .await?
            .ok_or(AppError::NotFound(Resource::Organization))?;
        let catalog = self.action_catalog().await?;
        let target = Target::Organization(organization.id);
        let Some(meaning) = catalog.meaning(&report.action) else {
            // Only who may record hears which actions there are.
            if !who.allows(Operation::RecordReceivedActivity, target) {
                who.require(
                    Operation::RecordSentActivity,
                    target,
                    Resource::Organization,
                )?;
            }
            return Err(AppError::Unknown {
                field: "/action",
                resource: Resource::PartnerAction,
            });
        };
        who.require(recording(meaning.direction), target, Resource::Organization)?;
        // A retry names the same stream: the partner's key makes the record's id, so retries
        // meet there, concurrent ones too, and another partner's same key is another record.
        let record_id = RecordId::from_uuid(match idempotency_key {
            Some(key) => uuid::Uuid::new_v5(&RECORD_KEYS, format!("{id}\u{1f}{key}").as_bytes()),
            None => uuid::Uuid::now_v7(),
        });
        let command = RecordCommand::Record(NewRecord {
            record_id,
            organization_id: organization.id,
            action: report.action,
            meaning,
            resource_type: report.resource_type,
            resource_id: report.resource_id,
            details: report.details,
            status: report.status,
            folder: report.folder,
            at: chrono::Utc::now(),
        });
        let executed = self
            .commands
            .execute::<RecordAggregate>(
                &record_id.to_string(),
                command,
                CommandContext {
                    metadata: who.acting(context),
                    data_subject: Some(id.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(AppError::PartnerRecord)?;
        let RecordState::Recorded(event) = executed.state else {
            return Err(AppError::internal(std::io::Error::other(
                "a record's stream holds no record",
            )));
        };
        let RecordEvent::PartnerActivityRecorded {
            record_id,
            organization_id,
            ..
        } = event.as_ref();
        if *organization_id != id {
            // Another partner's record at this id: impossible while ids are made from the
            // partner and its key; refused rather than shown if it ever happens.
            return Err(AppError::NotFound(Resource::Organization));
        }
        Ok(Recorded {
            record_id: *record_id,
            event: *event,
            position: executed.position,
            replayed: executed.events.is_empty(),
        })
    }

    /// The kinds of partner record `who` may read of organization `id`; refused if none.
    fn readable_kinds(&self, who: &Authority, id: OrganizationId) -> Result<Vec<String>, AppError> {
        let target = Target::Organization(id);
        let kinds: Vec<String> = [ActionKind::Transaction, ActionKind::File]
            .into_iter()
            .filter(|kind| who.allows(reading(*kind), target))
            .map(|kind| kind.to_string())
            .collect();
        if kinds.is_empty() {
            who.require(Operation::ReadTransactions, target, Resource::Organization)?;
        }
        Ok(kinds)
    }

    /// Organization `id`'s records `who` may read, newest first: transactions with
    /// `can_view_transactions`, file transfers with a file flag (a kind asked for that the
    /// caller may not read is refused).
    #[tracing::instrument(skip_all, fields(organization_id = %id))]
    pub async fn partner_records(
        &self,
        who: &Authority,
        id: OrganizationId,
        kind: Option<ActionKind>,
        mut filter: RecordFilter,
        min_position: Option<u64>,
    ) -> Result<Page<PartnerRecordRow>, AppError> {
        self.organization(id)
            .await?
            .ok_or(AppError::NotFound(Resource::Organization))?;
        filter.kinds = match kind {
            Some(kind) => {
                who.require(
                    reading(kind),
                    Target::Organization(id),
                    Resource::Organization,
                )?;
                vec![kind.to_string()]
            }
            None => self.readable_kinds(who, id)?,
        };
        self.fresh(min_position, PARTNER_MODELS).await?;
        Ok(self
            .read
            .queries
            .partner_records(&id.to_string(), &filter)
            .await?)
    }

    /// Partner `id`'s transaction figures over `days` days, with its latest and its failed
    /// transactions (`can_view_transactions`, readers, org_admins).
    #[tracing::instrument(skip_all, fields(organization_id = %id))]
    pub async fn partner_figures(
        &self,
        who: &Authority,
        id: OrganizationId,
        days: Option<u32>,
        min_position: Option<u64>,
    ) -> Result<PartnerFigures, AppError> {
        let days = window(days)?;
        self.authorized_organization(who, id, Operation::ReadTransactions)
            .await?;
        self.fresh(min_position, PARTNER_MODELS).await?;
        let organization = id.to_string();
        let latest = |status: Option<&str>| RecordFilter {
            kinds: vec![ActionKind::Transaction.to_string()],
            status: status.map(str::to_owned),
            limit: Some(LATEST),
            ..RecordFilter::default()
        };
        let queries = &self.read.queries;
        let mut figures = queries
            .transaction_figures(days, Some(std::slice::from_ref(&organization)))
            .await?;
        if !who.allows(Operation::ReadFileTransfers, Target::Organization(id)) {
            figures.hide_files();
        }
        Ok(PartnerFigures {
            figures,
            recent: queries
                .partner_records(&organization, &latest(None))
                .await?
                .items,
            failed: queries
                .partner_records(&organization, &latest(Some("error")))
                .await?
                .items,
        })
    }

    /// Transaction figures across partners over `days` days, and each partner's line: everyone's
    /// for readers, their organizations' for org_admins and members holding
    /// `can_view_transactions`.
    #[tracing::instrument(skip_all)]
    pub async fn transactions_overview(
        &self,
        who: &Authority,
        days: Option<u32>,
        min_position: Option<u64>,
    ) -> Result<(TransactionFigures, Vec<PartnerLine>), AppError> {
        let days = window(days)?;
        let scope = self.scope(who, Operation::ReadTransactions)?;
        self.fresh(min_position, PARTNER_MODELS).await?;
        let queries = &self.read.queries;
        let lines = queries.partner_lines(days, scope.organizations()).await?;
        let mut figures = queries
            .transaction_figures(days, scope.organizations())
            .await?;
        // File counts only when the caller may read every counted partner's file transfers.
        let files_readable = match scope.organizations() {
            None => who.allows(Operation::ReadFileTransfers, Target::Everything),
            Some(ids) => ids.iter().all(|id| {
                id.parse::<OrganizationId>().is_ok_and(|id| {
                    who.allows(Operation::ReadFileTransfers, Target::Organization(id))
                })
            }),
        };
        if !files_readable {
            figures.hide_files();
        }
        Ok((figures, lines))
    }
}
