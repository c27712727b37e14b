//! Auditors' reads (global `auditor` or `admin` role): the log as stored, chain verification,
//! signed checkpoints; and a user's history and past states (auditors, administrators, the
//! person).

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, Resource};
use audit::history::HistoryEntry;
use audit::{Bound, ExportFilter, Selection};
use domain::audit::SignedCheckpoint;
use domain::user::{User, UserAggregate, UserState};
use domain::{Timestamp, UserId};
use eventstore::ChainReport;

/// A user as they were at a past point of the log.
#[derive(Debug)]
pub struct PastUser {
    /// The user then.
    pub user: Box<User>,
    /// The position of the last event folded.
    pub position: u64,
    /// When that event was recorded.
    pub recorded_at: Timestamp,
}

/// The most checkpoints one read lists.
pub const MAX_CHECKPOINTS: usize = 100;

impl App {
    /// The user `user_id` if the policy lets `who` read their history (auditors,
    /// administrators, the person). A forgotten or deleted user's past stays readable to
    /// auditors.
    pub async fn history_subject(
        &self,
        who: &Authority,
        user_id: UserId,
    ) -> Result<UserId, AppError> {
        let loaded = self
            .commands
            .current::<UserAggregate>(&user_id.to_string())
            .await?;
        let person = who.person_in(self, user_id, &loaded.state).await?;
        who.require(
            Operation::ReadUserHistory,
            Target::Person(&person),
            Resource::User,
        )?;
        Ok(user_id)
    }

    /// The events of a user's stream, decrypted (secrets left out).
    #[tracing::instrument(skip(self, who))]
    pub async fn user_history(
        &self,
        who: &Authority,
        user_id: UserId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        self.history_subject(who, user_id).await?;
        let events = audit::history::stream_history(self.log(), &user_id.to_string())
            .await
            .map_err(AppError::internal)?;
        if events.is_empty() {
            return Err(AppError::NotFound(Resource::User));
        }
        Ok(events)
    }

    /// The user as of `as_of` (every event recorded at or before it) or `at_position` (at most
    /// one of the two).
    #[tracing::instrument(skip(self, who))]
    pub async fn user_as_of(
        &self,
        who: &Authority,
        user_id: UserId,
        as_of: Option<Timestamp>,
        at_position: Option<u64>,
    ) -> Result<PastUser, AppError> {
        self.history_subject(who, user_id).await?;
        if as_of.is_some() && at_position.is_some() {
            return Err(AppError::InvalidQuery {
                field: "/as_of",
                message: "give as_of or at_position, not both".into(),
            });
        }
        if at_position.is_some_and(|position| position > eventstore::MAX_POSITION) {
            return Err(AppError::InvalidQuery {
                field: "/at_position",
                message: format!("log positions go up to {}", eventstore::MAX_POSITION),
            });
        }
        // Positions are stored as signed 64-bit numbers: anything beyond is the whole log.
        let at_position = at_position.map(|position| position.min(i64::MAX as u64));
        let past = self
            .commands
            .load_as_of::<UserAggregate>(&user_id.to_string(), at_position, as_of)
            .await?;
        let (UserState::Present(user), Some((position, recorded_at))) =
            (past.state, past.last_event)
        else {
            return Err(AppError::NotThen);
        };
        Ok(PastUser {
            user,
            position,
            recorded_at,
        })
    }

    /// The stored events `filter` selects between the bounds `from` and `to` (positions or
    /// times, as typed), to read batch by batch (auditors).
    pub fn audit_events(
        &self,
        who: &Authority,
        filter: ExportFilter,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Selection, AppError> {
        who.require(Operation::ReadAuditLog, Target::Everything, Resource::User)?;
        let bound = |field: &'static str, raw: Option<&str>| {
            raw.map(|text| {
                Bound::parse(text).map_err(|message| AppError::InvalidQuery { field, message })
            })
            .transpose()
        };
        let filter = filter.between(bound("/from", from)?, bound("/to", to)?);
        Ok(Selection::new(self.log(), filter))
    }

    /// Verifies the hash chain from `from` (default 1) to `to` (default the head): the first
    /// position checked and the report.
    #[tracing::instrument(skip(self, who))]
    pub async fn verify_log(
        &self,
        who: &Authority,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<(u64, ChainReport), AppError> {
        who.require(Operation::ReadAuditLog, Target::Everything, Resource::User)?;
        for (field, position) in [("/from", from), ("/to", to)] {
            if position.is_some_and(|position| position > eventstore::MAX_POSITION) {
                return Err(AppError::InvalidQuery {
                    field,
                    message: format!("log positions go up to {}", eventstore::MAX_POSITION),
                });
            }
        }
        let from = from.unwrap_or(1).max(1);
        if to.is_some_and(|to| to < from) {
            return Err(AppError::InvalidQuery {
                field: "/to",
                message: "to comes before from".into(),
            });
        }
        let head = self.head_position().await?;
        if from > head.max(1) {
            return Err(AppError::InvalidQuery {
                field: "/from",
                message: format!("from is past the head of the log ({head})"),
            });
        }
        let report = self
            .log()
            .verify_chain_range(from, to.map(|to| to.min(head)), |_| {})
            .await
            .map_err(AppError::internal)?;
        Ok((from, report))
    }

    /// The latest signed checkpoints, newest first (1 to [`MAX_CHECKPOINTS`]).
    #[tracing::instrument(skip(self, who))]
    pub async fn checkpoints(
        &self,
        who: &Authority,
        limit: usize,
    ) -> Result<Vec<SignedCheckpoint>, AppError> {
        who.require(Operation::ReadAuditLog, Target::Everything, Resource::User)?;
        if !(1..=MAX_CHECKPOINTS).contains(&limit) {
            return Err(AppError::InvalidQuery {
                field: "/limit",
                message: format!("must be 1 to {MAX_CHECKPOINTS}"),
            });
        }
        audit::checkpoint::latest_checkpoints(self.log(), limit)
            .await
            .map_err(AppError::internal)
    }
}
