//! What a partner's systems did: file transfers and EDI transactions, each recorded by the
//! partner's API keys or members as a stream of its own (so records of one partner never contend),
//! and the catalog of actions a record may name: four built in, more defined by administrators.
//!
//! Directions are the partner's: `sent` is what the partner sent (uploaded) to the installation,
//! `received` what it received (downloaded) from it.

use crate::values::{ActionName, DocumentType, FileName, ResourceRef, ResourceType};
use crate::{Aggregate, DomainEvent, OrganizationId, RecordId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stream holding the catalog of actions administrators added.
pub const ACTION_CATALOG_STREAM: &str = "partner-action-catalog";

/// Whether a record is about a file or a transaction.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActionKind {
    /// A file transfer.
    File,
    /// An EDI transaction.
    Transaction,
}

/// Which way it went, as the partner sees it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Direction {
    /// The partner sent (uploaded) it.
    Sent,
    /// The partner received (downloaded) it.
    Received,
}

/// How a transaction ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TransactionStatus {
    /// It went through.
    Ok,
    /// It failed.
    Error,
}

/// The folder a transaction's document is filed in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Folder {
    /// Documents the partner sent.
    Sent,
    /// Documents the partner received.
    Received,
    /// Documents that failed.
    Error,
}

/// What an action is: its kind and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionMeaning {
    /// File or transaction.
    pub kind: ActionKind,
    /// Sent or received.
    pub direction: Direction,
}

/// The actions every installation has.
pub const BUILT_IN_ACTIONS: [(&str, ActionKind, Direction); 4] = [
    ("file_uploaded", ActionKind::File, Direction::Sent),
    ("file_downloaded", ActionKind::File, Direction::Received),
    ("transaction_sent", ActionKind::Transaction, Direction::Sent),
    (
        "transaction_received",
        ActionKind::Transaction,
        Direction::Received,
    ),
];

/// The catalog of actions: the built-in ones and those defined in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionCatalog {
    /// Actions administrators defined and have not retired.
    pub defined: BTreeMap<ActionName, ActionMeaning>,
    /// Actions retired (records naming them stay; no new record may).
    pub retired: BTreeMap<ActionName, ActionMeaning>,
}

impl ActionCatalog {
    /// What `name` means, if a record may name it now.
    pub fn meaning(&self, name: &ActionName) -> Option<ActionMeaning> {
        built_in(name).or_else(|| self.defined.get(name).copied())
    }

    /// Every action a record may name now, built-in ones first.
    pub fn actions(&self) -> Vec<(ActionName, ActionMeaning)> {
        BUILT_IN_ACTIONS
            .iter()
            .filter_map(|(name, kind, direction)| {
                Some((
                    ActionName::parse(name).ok()?,
                    ActionMeaning {
                        kind: *kind,
                        direction: *direction,
                    },
                ))
            })
            .chain(
                self.defined
                    .iter()
                    .map(|(name, meaning)| (name.clone(), *meaning)),
            )
            .collect()
    }
}

/// A built-in action's meaning.
fn built_in(name: &ActionName) -> Option<ActionMeaning> {
    BUILT_IN_ACTIONS
        .iter()
        .find(|(built_in, _, _)| *built_in == name.as_str())
        .map(|(_, kind, direction)| ActionMeaning {
            kind: *kind,
            direction: *direction,
        })
}

/// What can be asked of the action catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCatalogCommand {
    /// Defines an action (again, if it was retired: with this meaning).
    Define {
        /// Its name.
        name: ActionName,
        /// What it means.
        meaning: ActionMeaning,
        /// When.
        at: Timestamp,
    },
    /// Retires an action: no new record may name it.
    Retire {
        /// Its name.
        name: ActionName,
        /// When.
        at: Timestamp,
    },
}

/// What happened to the action catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum ActionCatalogEvent {
    /// An action was defined.
    PartnerActionDefined {
        name: ActionName,
        kind: ActionKind,
        direction: Direction,
        at: Timestamp,
    },
    /// An action was retired.
    PartnerActionRetired { name: ActionName, at: Timestamp },
}

impl DomainEvent for ActionCatalogEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::PartnerActionDefined { .. } => "PartnerActionDefined",
            Self::PartnerActionRetired { .. } => "PartnerActionRetired",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why the action catalog refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionCatalogError {
    /// Built-in actions are neither defined nor retired.
    #[error("built-in actions cannot be changed")]
    BuiltIn,
    /// The action is in the catalog already.
    #[error("the action is defined already")]
    AlreadyDefined,
    /// The action is not in the catalog (or retired already).
    #[error("no such action in the catalog")]
    NotDefined,
}

/// The action catalog aggregate.
#[derive(Debug, Clone, Copy)]
pub struct ActionCatalogAggregate;

impl Aggregate for ActionCatalogAggregate {
    const STREAM_TYPE: &'static str = "partner-action-catalog";
    type State = ActionCatalog;
    type Command = ActionCatalogCommand;
    type Event = ActionCatalogEvent;
    type Error = ActionCatalogError;

    fn decide(
        state: &ActionCatalog,
        command: ActionCatalogCommand,
    ) -> Result<Vec<ActionCatalogEvent>, ActionCatalogError> {
        match command {
            ActionCatalogCommand::Define { name, meaning, at } => {
                if built_in(&name).is_some() {
                    return Err(ActionCatalogError::BuiltIn);
                }
                if state.defined.contains_key(&name) {
                    return Err(ActionCatalogError::AlreadyDefined);
                }
                Ok(vec![ActionCatalogEvent::PartnerActionDefined {
                    name,
                    kind: meaning.kind,
                    direction: meaning.direction,
                    at,
                }])
            }
            ActionCatalogCommand::Retire { name, at } => {
                if built_in(&name).is_some() {
                    return Err(ActionCatalogError::BuiltIn);
                }
                if !state.defined.contains_key(&name) {
                    return Err(ActionCatalogError::NotDefined);
                }
                Ok(vec![ActionCatalogEvent::PartnerActionRetired { name, at }])
            }
        }
    }

    fn evolve(mut state: ActionCatalog, event: &ActionCatalogEvent) -> ActionCatalog {
        match event {
            ActionCatalogEvent::PartnerActionDefined {
                name,
                kind,
                direction,
                ..
            } => {
                state.retired.remove(name);
                state.defined.insert(
                    name.clone(),
                    ActionMeaning {
                        kind: *kind,
                        direction: *direction,
                    },
                );
            }
            ActionCatalogEvent::PartnerActionRetired { name, .. } => {
                if let Some(meaning) = state.defined.remove(name) {
                    state.retired.insert(name.clone(), meaning);
                }
            }
        }
        state
    }
}

/// What a record says about the file or document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDetails {
    /// The file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<FileName>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The EDI document type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<DocumentType>,
}

/// A record as asked for: the caller has resolved the action's meaning from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// A fresh id (the stream's).
    pub record_id: RecordId,
    /// The partner.
    pub organization_id: OrganizationId,
    /// What happened.
    pub action: ActionName,
    /// What the action means.
    pub meaning: ActionMeaning,
    /// The kind of thing it is about.
    pub resource_type: Option<ResourceType>,
    /// Which one.
    pub resource_id: Option<ResourceRef>,
    /// About the file or document.
    pub details: RecordDetails,
    /// How it ended (needed for transactions).
    pub status: Option<TransactionStatus>,
    /// Where it is filed; for a transaction without one, `error` if it failed, else its
    /// direction.
    pub folder: Option<Folder>,
    /// When.
    pub at: Timestamp,
}

/// What can be asked of a record's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCommand {
    /// Records what happened.
    Record(NewRecord),
}

/// What a record's stream holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum RecordEvent {
    /// A partner's file transfer or transaction was recorded.
    PartnerActivityRecorded {
        record_id: RecordId,
        organization_id: OrganizationId,
        action: ActionName,
        kind: ActionKind,
        direction: Direction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_type: Option<ResourceType>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_id: Option<ResourceRef>,
        #[serde(default)]
        details: RecordDetails,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<TransactionStatus>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<Folder>,
        at: Timestamp,
    },
}

impl DomainEvent for RecordEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::PartnerActivityRecorded { .. } => "PartnerActivityRecorded",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The stream holds another record: its idempotency key was used for another request.
    #[error("the idempotency key was used for another record")]
    AlreadyRecorded,
    /// A transaction says how it ended.
    #[error("/status: a transaction is ok or error")]
    StatusNeeded,
}

/// A record's stream: nothing yet, or what it recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RecordState {
    /// Nothing recorded.
    #[default]
    Absent,
    /// Recorded (the event is the whole record).
    Recorded(Box<RecordEvent>),
}

/// One partner activity record.
#[derive(Debug, Clone, Copy)]
pub struct RecordAggregate;

impl Aggregate for RecordAggregate {
    const STREAM_TYPE: &'static str = "partner-record";
    type State = RecordState;
    type Command = RecordCommand;
    type Event = RecordEvent;
    type Error = RecordError;

    /// A record's id is its stream: recording on a stream that holds a record is a retry,
    /// which changes nothing when it asks for the same record (whenever it comes) and is
    /// refused when it asks for another.
    fn decide(
        state: &RecordState,
        command: RecordCommand,
    ) -> Result<Vec<RecordEvent>, RecordError> {
        let RecordCommand::Record(record) = command;
        let transaction = record.meaning.kind == ActionKind::Transaction;
        if transaction && record.status.is_none() {
            return Err(RecordError::StatusNeeded);
        }
        let folder = record.folder.or_else(|| {
            transaction.then_some(match (record.status, record.meaning.direction) {
                (Some(TransactionStatus::Error), _) => Folder::Error,
                (_, Direction::Sent) => Folder::Sent,
                (_, Direction::Received) => Folder::Received,
            })
        });
        let recorded = |at| RecordEvent::PartnerActivityRecorded {
            record_id: record.record_id,
            organization_id: record.organization_id,
            action: record.action.clone(),
            kind: record.meaning.kind,
            direction: record.meaning.direction,
            resource_type: record.resource_type.clone(),
            resource_id: record.resource_id.clone(),
            details: record.details.clone(),
            status: record.status,
            folder,
            at,
        };
        match state {
            RecordState::Absent => Ok(vec![recorded(record.at)]),
            RecordState::Recorded(existing) => {
                let RecordEvent::PartnerActivityRecorded { at, .. } = existing.as_ref();
                if **existing == recorded(*at) {
                    Ok(vec![])
                } else {
                    Err(RecordError::AlreadyRecorded)
                }
            }
        }
    }

    fn evolve(_state: RecordState, event: &RecordEvent) -> RecordState {
        RecordState::Recorded(Box::new(event.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use chrono::TimeZone;

    fn at() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn action(name: &str) -> ActionName {
        ActionName::parse(name).expect("valid action")
    }

    fn record(name: &str, status: Option<TransactionStatus>) -> NewRecord {
        let catalog = ActionCatalog::default();
        NewRecord {
            record_id: RecordId::from_uuid(uuid::Uuid::from_u128(8)),
            organization_id: OrganizationId::from_uuid(uuid::Uuid::from_u128(7)),
            action: action(name),
            meaning: catalog.meaning(&action(name)).expect("built in"),
            resource_type: None,
            resource_id: None,
            details: RecordDetails::default(),
            status,
            folder: None,
            at: at(),
        }
    }

    fn folder_of(events: &[RecordEvent]) -> Option<Folder> {
        let [RecordEvent::PartnerActivityRecorded { folder, .. }] = events else {
            panic!("one record: {events:?}")
        };
        *folder
    }

    #[test]
    fn a_transaction_says_how_it_ended_and_is_filed_by_it() {
        given::<RecordAggregate>([])
            .when(RecordCommand::Record(record("transaction_sent", None)))
            .then_err(RecordError::StatusNeeded);
        for (name, status, folder) in [
            ("transaction_sent", TransactionStatus::Ok, Folder::Sent),
            (
                "transaction_received",
                TransactionStatus::Ok,
                Folder::Received,
            ),
            ("transaction_sent", TransactionStatus::Error, Folder::Error),
        ] {
            let events = given::<RecordAggregate>([])
                .when(RecordCommand::Record(record(name, Some(status))))
                .outcome()
                .expect("recorded");
            assert_eq!(folder_of(&events), Some(folder), "{name} {status}");
        }
        // A file transfer has no folder unless one is named.
        let events = given::<RecordAggregate>([])
            .when(RecordCommand::Record(record("file_uploaded", None)))
            .outcome()
            .expect("recorded");
        assert_eq!(folder_of(&events), None);
    }

    #[test]
    fn a_record_is_made_once_and_a_retry_for_another_is_refused() {
        let first = given::<RecordAggregate>([])
            .when(RecordCommand::Record(record("file_downloaded", None)))
            .outcome()
            .expect("recorded");
        // The same record asked again, later: nothing new.
        let mut again = record("file_downloaded", None);
        again.at += chrono::TimeDelta::seconds(5);
        given::<RecordAggregate>(first.clone())
            .when(RecordCommand::Record(again))
            .then([]);
        given::<RecordAggregate>(first)
            .when(RecordCommand::Record(record("file_uploaded", None)))
            .then_err(RecordError::AlreadyRecorded);
    }

    #[test]
    fn administrators_extend_the_catalog_but_not_its_built_in_actions() {
        let meaning = ActionMeaning {
            kind: ActionKind::Transaction,
            direction: Direction::Received,
        };
        let define = |name: &str| ActionCatalogCommand::Define {
            name: action(name),
            meaning,
            at: at(),
        };
        given::<ActionCatalogAggregate>([])
            .when(define("file_uploaded"))
            .then_err(ActionCatalogError::BuiltIn);
        let defined = ActionCatalogEvent::PartnerActionDefined {
            name: action("acknowledgment_received"),
            kind: meaning.kind,
            direction: meaning.direction,
            at: at(),
        };
        let catalog = given::<ActionCatalogAggregate>([])
            .when(define("acknowledgment_received"))
            .then([defined.clone()]);
        assert_eq!(
            catalog.meaning(&action("acknowledgment_received")),
            Some(meaning)
        );
        assert_eq!(catalog.actions().len(), 5);
        given::<ActionCatalogAggregate>([defined.clone()])
            .when(define("acknowledgment_received"))
            .then_err(ActionCatalogError::AlreadyDefined);
        let retired = given::<ActionCatalogAggregate>([defined])
            .when(ActionCatalogCommand::Retire {
                name: action("acknowledgment_received"),
                at: at(),
            })
            .then([ActionCatalogEvent::PartnerActionRetired {
                name: action("acknowledgment_received"),
                at: at(),
            }]);
        assert_eq!(retired.meaning(&action("acknowledgment_received")), None);
        given::<ActionCatalogAggregate>([])
            .when(ActionCatalogCommand::Retire {
                name: action("transaction_sent"),
                at: at(),
            })
            .then_err(ActionCatalogError::BuiltIn);
    }
}
