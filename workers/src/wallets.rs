//! Wallets: every user gets one. A user registering or being created opens their wallet
//! (`WalletOpened` on the stream `wallet-{user_id}`); opening is idempotent in the domain, so
//! an event handled twice, or the whole log replayed by a new installation of this worker (its
//! checkpoint at 0), opens each existing user's wallet once. A forgotten user gets none.

use crate::{Worker, WorkerError};
use async_trait::async_trait;
use commands::{CommandContext, CommandHandler};
use domain::Aggregate;
use domain::user::{UserAggregate, UserEventType, UserState};
use domain::wallet::{WalletAggregate, WalletCommand, wallet_stream};
use eventstore::{Actor, ActorKind, EventMetadata, RecordedEvent};

/// The wallet worker's name.
pub const NAME: &str = "wallets";

/// Wallets one Kafka consumer opens at once: each is a stream of its own.
const CONCURRENT_WALLETS: usize = 16;

/// Opens users' wallets.
#[derive(Debug, Clone)]
pub struct WalletWorker {
    commands: CommandHandler,
}

impl WalletWorker {
    /// A worker appending with `commands`.
    pub fn new(commands: CommandHandler) -> Self {
        Self { commands }
    }
}

#[async_trait]
impl Worker for WalletWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, event: &RecordedEvent) -> bool {
        event.stream_type == UserAggregate::STREAM_TYPE
            && matches!(
                event.event_type.parse(),
                Ok(UserEventType::UserRegistered | UserEventType::UserCreated)
            )
    }

    /// Opening a wallet that is open changes nothing.
    fn concurrency(&self) -> usize {
        CONCURRENT_WALLETS
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError> {
        let user = self
            .commands
            .current::<UserAggregate>(&event.stream_id)
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        let UserState::Present(user) = user.state else {
            // Forgotten since (or, absent, never readable here): no wallet.
            return Ok(());
        };
        let metadata = EventMetadata {
            actor: Actor {
                kind: ActorKind::System,
                id: Some(format!("worker:{NAME}")),
            },
            causation_id: Some(event.event_id),
            correlation_id: event.metadata().ok().and_then(|m| m.correlation_id),
            ..Default::default()
        };
        let open = WalletCommand::Open {
            user_id: user.id,
            at: chrono::Utc::now(),
        };
        self.commands
            .execute::<WalletAggregate>(
                &wallet_stream(user.id),
                open,
                CommandContext {
                    metadata,
                    data_subject: Some(user.id.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| WorkerError::Other(error.to_string()))?;
        Ok(())
    }
}
