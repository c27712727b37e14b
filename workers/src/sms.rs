//! Phone verification codes by SMS. The code is rebuilt from the token key and the event (the log
//! holds only its keyed hash) and appears only in the message, never in the log or the events.
//! The embedded default writes each message to a file in the data folder's `sms/`, named by event.

use crate::deliveries::{Channel, DeliveryLog, Outgoing};
use crate::{Worker, WorkerError};
use async_trait::async_trait;
use commands::StateReader;
use commands::tokens::TokenMinter;
use domain::user::{UserAggregate, UserEvent, UserEventType, UserState};
use domain::{Aggregate, DomainEvent};
use eventstore::RecordedEvent;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::Arc;

/// The SMS worker's name.
pub const NAME: &str = "sms";

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// Unique per event.
    pub id: String,
    /// The phone number (E.164).
    pub to: String,
    /// The text (holds the code: never log it).
    pub text: String,
}

/// Sends text messages.
#[async_trait]
pub trait SmsSender: Send + Sync + std::fmt::Debug {
    /// Sends `message`.
    async fn send(&self, message: &TextMessage) -> Result<(), WorkerError>;
}

/// Text messages as files in a folder, one per message id (a redelivery rewrites the same one).
#[derive(Debug, Clone)]
pub struct SmsFolder {
    dir: PathBuf,
}

impl SmsFolder {
    /// Messages go to `dir` (created as needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl SmsSender for SmsFolder {
    async fn send(&self, message: &TextMessage) -> Result<(), WorkerError> {
        let io =
            |error: std::io::Error| WorkerError::Other(format!("writing a text message: {error}"));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let path = self.dir.join(format!("{}.txt", message.id));
        let temporary = self.dir.join(format!(".{}.txt.tmp", message.id));
        tokio::fs::write(
            &temporary,
            format!("To: {}\n\n{}\n", message.to, message.text),
        )
        .await
        .map_err(io)?;
        tokio::fs::rename(&temporary, &path).await.map_err(io)?;
        // The code stays in the message: the log says only that one went out.
        tracing::info!(id = %message.id, "text message written");
        Ok(())
    }
}

/// Text messages POSTed as JSON `{id, to, text}` to a provider's (or a gateway's) URL with a
/// bearer token; the message id goes as `Idempotency-Key` so providers that honour it drop a
/// redelivery.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    token: secrecy::SecretString,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// Posts to `url` with `token`, waiting at most `timeout` for an answer.
    pub fn new(
        url: impl Into<String>,
        token: secrecy::SecretString,
        timeout: std::time::Duration,
    ) -> Result<Self, WorkerError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| WorkerError::Other(format!("SMS webhook client: {error}")))?;
        Ok(Self {
            client,
            url: url.into(),
            token,
        })
    }
}

#[async_trait]
impl SmsSender for WebhookSender {
    async fn send(&self, message: &TextMessage) -> Result<(), WorkerError> {
        // reqwest's errors name the URL, never the body or the token.
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .header("Idempotency-Key", &message.id)
            .json(&serde_json::json!({
                "id": message.id,
                "to": message.to,
                "text": message.text,
            }))
            .send()
            .await
            .map_err(|error| WorkerError::Other(format!("SMS webhook: {error}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(WorkerError::Other(format!(
                "SMS webhook {} answered {status}",
                self.url
            )))
        }
    }
}

/// Sends phone verification codes.
#[derive(Debug, Clone)]
pub struct SmsWorker {
    sender: Arc<dyn SmsSender>,
    deliveries: DeliveryLog,
    states: StateReader,
    tokens: TokenMinter,
    product: String,
}

impl SmsWorker {
    /// A worker sending through `sender`, naming `product` in messages, recording each message
    /// in `deliveries`.
    pub fn new(
        sender: Arc<dyn SmsSender>,
        deliveries: DeliveryLog,
        states: StateReader,
        tokens: TokenMinter,
        product: impl Into<String>,
    ) -> Self {
        Self {
            sender,
            deliveries,
            states,
            tokens,
            product: product.into(),
        }
    }
}

#[async_trait]
impl Worker for SmsWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, event: &RecordedEvent) -> bool {
        event.stream_type == UserAggregate::STREAM_TYPE
            && event.event_type.parse() == Ok(UserEventType::PhoneVerificationRequested)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        let UserEvent::PhoneVerificationRequested {
            issued_at,
            expires_at,
            ..
        } = UserEvent::from_payload(&event.event_type, event.payload.clone())
            .map_err(|error| WorkerError::Other(format!("{}: {error}", event.event_type)))?
        else {
            return Ok(());
        };
        // The number as of the request.
        let loaded = self
            .states
            .load::<UserAggregate>(&event.stream_id, Some(event.global_position))
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        let UserState::Present(user) = loaded.state else {
            return Ok(());
        };
        let Some(phone) = &user.phone else {
            return Ok(());
        };
        let (code, _) = self.tokens.phone_code(user.id, issued_at);
        let minutes = (expires_at - issued_at).num_minutes();
        let message = TextMessage {
            id: event.event_id.to_string(),
            to: phone.to_string(),
            text: format!(
                "{} code: {} (valid {minutes} minutes)",
                self.product,
                code.expose_secret()
            ),
        };
        let outgoing = Outgoing {
            message_id: &message.id,
            worker: NAME,
            channel: Channel::Sms,
            template: "phone_verification",
            recipient: &message.to,
        };
        self.deliveries
            .send_once(event, &outgoing, self.sender.send(&message))
            .await
    }

    async fn gave_up(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        self.deliveries
            .dead(&event.event_id.to_string(), NAME)
            .await
    }
}
