//! The activity log: one row per event, saying who did what to which resource, from where.
//! Pruning its old rows (`idlog maintenance prune-activity`) never touches the log.

use crate::{ApplyError, Fact, Projection, Table, Tables};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::DomainEvent;
use domain::organization::OrganizationEvent;
use domain::session::SessionEvent;
use domain::user::USER_FORGOTTEN;
use eventstore::sql::{Arg, Tx, fetch_in, insert_rows};
use eventstore::{EventMetadata, RecordedEvent};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// The activity projection.
#[derive(Debug, Clone, Copy)]
pub struct Activity;

/// Its name.
pub const NAME: &str = "activity";

const TABLES: &[Table] = &[
    Table {
        name: "activity",
        columns: "position {int} PRIMARY KEY,
            event_id TEXT NOT NULL,
            at {time} NOT NULL,
            actor_id TEXT,
            actor_kind TEXT NOT NULL,
            action TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            subject_user_id TEXT,
            organization_id TEXT,
            ip TEXT,
            user_agent TEXT,
            details {json} NOT NULL",
        indexes: &[
            ("at", "at, position"),
            ("actor", "actor_id, position"),
            ("subject", "subject_user_id, position"),
            ("organization", "organization_id, position"),
            ("action", "action, position"),
            ("resource", "resource_id, position"),
        ],
    },
    // Whose session a session stream is: its later events do not say.
    Table {
        name: "activity_sessions",
        columns: "session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL",
        indexes: &[],
    },
];

const COLUMNS: &[&str] = &[
    "position",
    "event_id",
    "at",
    "actor_id",
    "actor_kind",
    "action",
    "resource_type",
    "resource_id",
    "subject_user_id",
    "organization_id",
    "ip",
    "user_agent",
    "details",
];

/// A row of the activity log.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ActivityRow {
    /// The event's log position (also the row's id; newest first is position order).
    pub position: i64,
    /// The event's id.
    pub event_id: String,
    /// When.
    #[serde(serialize_with = "domain::time::micros")]
    pub at: DateTime<Utc>,
    /// Who (a user id, a service, `system:cli:…`).
    pub actor_id: Option<String>,
    /// `user`, `admin`, `service` or `system`.
    pub actor_kind: String,
    /// What happened: the event type.
    pub action: String,
    /// `user`, `organization` or `session`.
    pub resource_type: String,
    /// Which one.
    pub resource_id: String,
    /// The user it concerns.
    pub subject_user_id: Option<String>,
    /// The organization it concerns.
    pub organization_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The event's fields, secrets and personal data left out.
    #[schema(value_type = Object)]
    pub details: sqlx::types::Json<Value>,
}

/// The columns of the activity table, in order.
pub(crate) fn columns() -> String {
    COLUMNS.join(", ")
}

/// What a person's own activity list shows of a row: when, what, from where, and the details.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct ActivityLine {
    /// The event's log position.
    pub position: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened: the event type.
    pub action: String,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The event's fields, secrets and personal data left out.
    pub details: sqlx::types::Json<Value>,
}

/// The columns of [`ActivityLine`], in order.
pub(crate) const LINE_COLUMNS: &[&str] =
    &["position", "at", "action", "ip", "user_agent", "details"];

impl From<ActivityRow> for ActivityLine {
    fn from(row: ActivityRow) -> Self {
        Self {
            position: row.position,
            at: row.at,
            action: row.action,
            ip: row.ip,
            user_agent: row.user_agent,
            details: row.details,
        }
    }
}

#[async_trait]
impl Projection for Activity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [Table] {
        TABLES
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError> {
        let sessions_table = tables.get("activity_sessions");
        // The log is the record: an event whose payload no longer reads still gets its row.
        let facts: Vec<(&RecordedEvent, Fact)> = events
            .iter()
            .map(|record| (record, Fact::parse(record).unwrap_or(Fact::Other)))
            .collect();
        // Whose sessions: those started in this batch, then those started before.
        let mut session_users: HashMap<String, String> = HashMap::new();
        let mut started = Vec::new();
        for (record, fact) in &facts {
            if let Fact::Session(SessionEvent::SessionStarted { user_id, .. }) = fact {
                session_users.insert(record.stream_id.clone(), user_id.to_string());
                started.push(vec![
                    Arg::from(record.stream_id.as_str()),
                    Arg::from(user_id.to_string()),
                ]);
            }
        }
        let unknown: Vec<&str> = facts
            .iter()
            .filter(|(record, fact)| {
                matches!(fact, Fact::Session(_)) && !session_users.contains_key(&record.stream_id)
            })
            .map(|(record, _)| record.stream_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let statement =
            format!("SELECT session_id, user_id FROM {sessions_table} WHERE session_id IN");
        session_users.extend(fetch_in::<(String, String)>(tx, &statement, &unknown).await?);
        insert_rows(
            tx,
            &sessions_table,
            &["session_id", "user_id"],
            "ON CONFLICT (session_id) DO NOTHING",
            started,
        )
        .await?;
        let mut rows = Vec::with_capacity(facts.len());
        let mut forgotten = Vec::new();
        for (record, fact) in &facts {
            let metadata: EventMetadata = record.metadata().unwrap_or_default();
            let (subject, organization) = match fact {
                Fact::User(_) => (Some(record.stream_id.clone()), None),
                Fact::Session(_) => (session_users.get(&record.stream_id).cloned(), None),
                Fact::Organization(event) => {
                    let member = match event {
                        OrganizationEvent::MemberAdded { user_id, .. }
                        | OrganizationEvent::MemberChanged { user_id, .. }
                        | OrganizationEvent::MemberRemoved { user_id, .. }
                        | OrganizationEvent::MemberInvited { user_id, .. }
                        | OrganizationEvent::InvitationAccepted { user_id, .. }
                        | OrganizationEvent::InvitationDeclined { user_id, .. }
                        | OrganizationEvent::InvitationRevoked { user_id, .. }
                        | OrganizationEvent::InvitationExpired { user_id, .. } => {
                            Some(user_id.to_string())
                        }
                        _ => None,
                    };
                    (member, Some(record.stream_id.clone()))
                }
                Fact::ApiKey(domain::api_key::ApiKeyEvent::ApiKeyUsed {
                    organization_id, ..
                }) => (None, Some(organization_id.to_string())),
                Fact::PartnerRecord(domain::partner::RecordEvent::PartnerActivityRecorded {
                    organization_id,
                    ..
                }) => (None, Some(organization_id.to_string())),
                Fact::Other => (None, None),
            };
            let personal_fields = match fact {
                Fact::User(event) => event.personal_fields(),
                Fact::Session(event) => event.personal_fields(),
                Fact::Organization(event) => event.personal_fields(),
                Fact::ApiKey(event) => event.personal_fields(),
                Fact::PartnerRecord(event) => event.personal_fields(),
                Fact::Other => &[],
            };
            let details = domain::without_personal_data(
                domain::without_secrets(record.payload.clone()),
                personal_fields,
            );
            // A key's use is a stream of its own: the row is about the key.
            let (resource_type, resource_id) = match fact {
                Fact::ApiKey(domain::api_key::ApiKeyEvent::ApiKeyUsed { key_id, .. }) => {
                    ("api-key".to_owned(), key_id.to_string())
                }
                _ => (record.stream_type.clone(), record.stream_id.clone()),
            };
            if record.event_type == USER_FORGOTTEN {
                forgotten.push(record.stream_id.as_str());
            }
            rows.push(vec![
                Arg::Int(Some(crate::projector::to_db(record.global_position))),
                record.event_id.to_string().into(),
                record.recorded_at.into(),
                metadata.actor.id.clone().into(),
                eventstore::sql::label(&metadata.actor.kind).into(),
                record.event_type.clone().into(),
                resource_type.into(),
                resource_id.into(),
                subject.into(),
                organization.into(),
                metadata.ip.clone().into(),
                metadata.user_agent.clone().into(),
                Arg::Json(Some(details)),
            ]);
        }
        let table = tables.get("activity");
        insert_rows(
            tx,
            &table,
            COLUMNS,
            "ON CONFLICT (position) DO NOTHING",
            rows,
        )
        .await?;
        // A forgotten user's address and user agent were sealed under their key, wherever they
        // acted: what a rebuild from the erased log leaves too.
        for user_id in forgotten {
            tx.execute(
                &format!(
                    "UPDATE {table} SET ip = NULL, user_agent = NULL \
                     WHERE actor_id = $1 OR (actor_id IS NULL AND subject_user_id = $2)"
                ),
                &[Arg::from(user_id), Arg::from(user_id)],
            )
            .await?;
        }
        Ok(())
    }
}
