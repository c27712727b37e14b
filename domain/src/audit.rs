//! The audit trail: signed checkpoints of the log, recorded in the log itself.
//!
//! A checkpoint says "the log's event at `position` has hash `head_hash`", signed (Ed25519) by
//! the operator's key. The signature is computed by the caller and carried in the command; the
//! domain only keeps checkpoints moving forward.

use crate::{Aggregate, DomainEvent, Timestamp};
use serde::{Deserialize, Serialize};

/// The one stream holding every checkpoint.
pub const CHECKPOINT_STREAM: &str = "checkpoints";

/// A signed statement about the log's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The last event the checkpoint covers.
    pub position: u64,
    /// That event's hash, hex.
    pub head_hash: String,
    /// When it was signed.
    pub signed_at: Timestamp,
    /// The signing key's public half, hex (32 bytes).
    pub public_key: String,
    /// Ed25519 signature over the checkpoint's canonical bytes, hex (64 bytes).
    pub signature: String,
}

/// Commands of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCommand {
    /// Records a checkpoint signed by the caller.
    RecordCheckpoint(SignedCheckpoint),
}

/// Events of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type", content = "data")]
pub enum AuditEvent {
    /// A checkpoint was signed.
    CheckpointSigned(SignedCheckpoint),
}

impl DomainEvent for AuditEvent {
    fn event_type(&self) -> &'static str {
        self.into()
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// There is nothing to sign yet.
    #[error("the log is empty: there is nothing to sign")]
    EmptyLog,
    /// A checkpoint at or after this position exists already.
    #[error("a checkpoint already covers position {covered}")]
    AlreadyCovered {
        /// The latest checkpoint's position.
        covered: u64,
    },
}

/// What the audit trail remembers: the latest checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditState {
    /// The latest checkpoint, if any.
    pub latest: Option<SignedCheckpoint>,
}

/// The audit trail aggregate.
#[derive(Debug, Clone, Copy)]
pub struct AuditAggregate;

impl Aggregate for AuditAggregate {
    const STREAM_TYPE: &'static str = "audit";
    type State = AuditState;
    type Command = AuditCommand;
    type Event = AuditEvent;
    type Error = AuditError;

    fn decide(state: &AuditState, command: AuditCommand) -> Result<Vec<AuditEvent>, AuditError> {
        match command {
            AuditCommand::RecordCheckpoint(checkpoint) => {
                if checkpoint.position == 0 {
                    return Err(AuditError::EmptyLog);
                }
                if let Some(latest) = &state.latest
                    && latest.position >= checkpoint.position
                {
                    return Err(AuditError::AlreadyCovered {
                        covered: latest.position,
                    });
                }
                Ok(vec![AuditEvent::CheckpointSigned(checkpoint)])
            }
        }
    }

    fn evolve(_state: AuditState, event: &AuditEvent) -> AuditState {
        match event {
            AuditEvent::CheckpointSigned(checkpoint) => AuditState {
                latest: Some(checkpoint.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn checkpoint(position: u64) -> SignedCheckpoint {
        SignedCheckpoint {
            position,
            head_hash: "ab".repeat(32),
            signed_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time"),
            public_key: "cd".repeat(32),
            signature: "ef".repeat(64),
        }
    }

    #[test]
    fn a_first_checkpoint_is_recorded() {
        given::<AuditAggregate>([])
            .when(AuditCommand::RecordCheckpoint(checkpoint(7)))
            .then([AuditEvent::CheckpointSigned(checkpoint(7))]);
    }

    #[test]
    fn checkpoints_only_move_forward() {
        given::<AuditAggregate>([AuditEvent::CheckpointSigned(checkpoint(7))])
            .when(AuditCommand::RecordCheckpoint(checkpoint(7)))
            .then_err(AuditError::AlreadyCovered { covered: 7 });
        given::<AuditAggregate>([AuditEvent::CheckpointSigned(checkpoint(7))])
            .when(AuditCommand::RecordCheckpoint(checkpoint(8)))
            .then([AuditEvent::CheckpointSigned(checkpoint(8))]);
    }

    #[test]
    fn an_empty_log_cannot_be_signed() {
        given::<AuditAggregate>([])
            .when(AuditCommand::RecordCheckpoint(checkpoint(0)))
            .then_err(AuditError::EmptyLog);
    }
}
