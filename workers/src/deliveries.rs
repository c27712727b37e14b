//! The delivery log: per message an event called for (email or SMS), its recipient, template,
//! attempts, status and last error. It is also what makes sending idempotent by event: a message
//! whose row says `sent` is not sent again when its event is redelivered (after a crash, a
//! rebalance of the consumer group, or an operator's retry).
//!
//! What remains is the moment between the transport accepting a message and the row saying so: a
//! process killed exactly then sends that one message again on restart (at least once; the
//! message id, `Message-ID` for email, is the same, so receivers that deduplicate see one).

use crate::WorkerError;
use chrono::{DateTime, Utc};
use eventstore::sql::{self, Arg};
use eventstore::{Database, RecordedEvent};

/// How a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email.
    Email,
    /// SMS.
    Sms,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// A message about to be sent.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Unique per event and template.
    pub message_id: &'a str,
    /// The worker sending it.
    pub worker: &'a str,
    /// Email or SMS.
    pub channel: Channel,
    /// The template's name.
    pub template: &'a str,
    /// Address or phone number.
    pub recipient: &'a str,
}

/// One message in the delivery log.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Delivery {
    /// Unique per event and template (the email's `Message-ID`).
    pub message_id: String,
    /// The worker that sends it.
    pub worker: String,
    /// The event that called for it.
    pub event_id: String,
    /// That event's position in the log.
    pub position: i64,
    /// `email` or `sms`.
    pub channel: String,
    /// The template's name.
    pub template: String,
    /// Address or phone number.
    pub recipient: String,
    /// Attempts so far.
    pub attempts: i32,
    /// `sending`, `sent`, `failed` (to be retried) or `dead` (dead-lettered).
    pub status: String,
    /// The last failure.
    pub last_error: Option<String>,
    /// First attempt.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the transport accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this template.
    pub template: Option<String>,
    /// Only to this recipient.
    pub recipient: Option<String>,
    /// Only for this event.
    pub event_id: Option<String>,
    /// Only messages of events before this position (the next page's cursor).
    pub before_position: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Reads and writes the delivery log.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    database: Database,
}

/// Whether to go ahead with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Send it (the attempt is recorded).
    Send,
    /// It was sent already: do nothing.
    AlreadySent,
}

const COLUMNS: &str = "message_id, worker, event_id, position, channel, template, recipient, attempts, status, last_error, created_at, updated_at, sent_at";

impl DeliveryLog {
    /// The delivery log in `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// Records an attempt at `message` for `event`, unless it was sent already.
    pub async fn attempt(
        &self,
        event: &RecordedEvent,
        message: &Outgoing<'_>,
    ) -> Result<Attempt, WorkerError> {
        let status: Option<(String,)> = sql::fetch_optional(
            &self.database,
            "SELECT status FROM deliveries WHERE message_id = $1",
            &[message.message_id.into()],
        )
        .await?;
        if status.is_some_and(|(status,)| status == "sent") {
            return Ok(Attempt::AlreadySent);
        }
        let now = Utc::now();
        sql::execute(
            &self.database,
            "INSERT INTO deliveries (message_id, worker, event_id, position, channel, template, recipient, attempts, status, created_at, updated_at, subject) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 'sending', $8, $8, $9) \
             ON CONFLICT (message_id) DO UPDATE SET attempts = deliveries.attempts + 1, status = 'sending', updated_at = excluded.updated_at",
            &[
                message.message_id.into(),
                message.worker.into(),
                event.event_id.to_string().into(),
                i64::try_from(event.global_position).unwrap_or(i64::MAX).into(),
                message.channel.name().into(),
                message.template.into(),
                message.recipient.into(),
                now.into(),
                event.stream_id.as_str().into(),
            ],
        )
        .await?;
        Ok(Attempt::Send)
    }

    /// Forgets the recipients of every message sent or due to `user_id` (their address or
    /// number, and errors that may quote it); the rows stay, as the record of what was sent.
    pub async fn forget_recipient(&self, user_id: &str) -> Result<(), WorkerError> {
        sql::execute(
            &self.database,
            "UPDATE deliveries SET recipient = '', last_error = NULL, updated_at = $2 WHERE subject = $1",
            &[user_id.into(), Utc::now().into()],
        )
        .await?;
        // The old addresses' page images leave the disk too.
        self.database.scrub_soon(vec!["deliveries".to_owned()]);
        Ok(())
    }

    /// Sends `message` through `send` once: skipped if the log says it was sent, recorded as
    /// sent or failed (with the error) afterwards.
    pub async fn send_once<F>(
        &self,
        event: &RecordedEvent,
        message: &Outgoing<'_>,
        send: F,
    ) -> Result<(), WorkerError>
    where
        F: std::future::Future<Output = Result<(), WorkerError>>,
    {
        if self.attempt(event, message).await? == Attempt::AlreadySent {
            tracing::debug!(message_id = message.message_id, "sent before: skipped");
            return Ok(());
        }
        match send.await {
            Ok(()) => self.sent(message.message_id).await,
            Err(error) => {
                if let Err(recording) = self.failed(message.message_id, &error).await {
                    tracing::warn!(%recording, "cannot record a failed delivery");
                }
                Err(error)
            }
        }
    }

    /// The transport accepted the message.
    pub async fn sent(&self, message_id: &str) -> Result<(), WorkerError> {
        let now = Utc::now();
        sql::execute(
            &self.database,
            "UPDATE deliveries SET status = 'sent', last_error = NULL, sent_at = $2, updated_at = $2 WHERE message_id = $1",
            &[message_id.into(), now.into()],
        )
        .await?;
        Ok(())
    }

    /// The attempt failed; it will be retried.
    pub async fn failed(&self, message_id: &str, error: &WorkerError) -> Result<(), WorkerError> {
        sql::execute(
            &self.database,
            "UPDATE deliveries SET status = 'failed', last_error = $2, updated_at = $3 WHERE message_id = $1",
            &[message_id.into(), error.to_string().into(), Utc::now().into()],
        )
        .await?;
        Ok(())
    }

    /// The worker gave up on `event_id`: its unsent messages are dead until an operator retries.
    pub async fn dead(&self, event_id: &str, worker: &str) -> Result<(), WorkerError> {
        sql::execute(
            &self.database,
            "UPDATE deliveries SET status = 'dead', updated_at = $3 WHERE event_id = $1 AND worker = $2 AND status <> 'sent'",
            &[event_id.into(), worker.into(), Utc::now().into()],
        )
        .await?;
        Ok(())
    }

    /// Messages, newest event first.
    pub async fn list(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, WorkerError> {
        let mut conditions = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut condition = |column: &str, value: Arg| {
            args.push(value);
            conditions.push(format!("{column} ${}", args.len()));
        };
        if let Some(status) = &filter.status {
            condition("status =", status.as_str().into());
        }
        if let Some(template) = &filter.template {
            condition("template =", template.as_str().into());
        }
        if let Some(recipient) = &filter.recipient {
            condition("recipient =", recipient.as_str().into());
        }
        if let Some(event_id) = &filter.event_id {
            condition("event_id =", event_id.as_str().into());
        }
        if let Some(before) = filter.before_position {
            condition("position <", before.into());
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        args.push(i64::from(filter.limit.clamp(1, 1000)).into());
        Ok(sql::fetch_all(
            &self.database,
            &format!(
                "SELECT {COLUMNS} FROM deliveries{filter_sql} ORDER BY position DESC, message_id LIMIT ${}",
                args.len()
            ),
            &args,
        )
        .await?)
    }
}
