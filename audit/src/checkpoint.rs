//! Signed checkpoints: "the log's event at position P has hash H", signed with the operator's
//! Ed25519 key and appended to the log itself (stream `checkpoints`). With a checkpoint and the
//! public key, an auditor proves an export complete up to P and unaltered, with no database.

use chrono::{DateTime, Utc};
use commands::{CommandContext, CommandError, CommandHandler};
use domain::audit::{
    AuditAggregate, AuditCommand, AuditError, AuditEvent, CHECKPOINT_STREAM, SignedCheckpoint,
};
use domain::{Aggregate, DomainEvent};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use eventstore::{EventLog, EventMetadata, StoreError};

/// Domain separation: these signatures cannot be mistaken for signatures of anything else.
const CHECKPOINT_TAG: &[u8] = b"idlog.checkpoint.v1";

/// The bytes a checkpoint's signature covers.
pub fn signed_bytes(position: u64, head_hash: &[u8; 32], signed_at: DateTime<Utc>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CHECKPOINT_TAG.len() + 8 + 32 + 8);
    bytes.extend_from_slice(CHECKPOINT_TAG);
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(head_hash);
    bytes.extend_from_slice(&signed_at.timestamp_micros().to_be_bytes());
    bytes
}

/// The private key checkpoints are signed with.
pub struct CheckpointKey(SigningKey);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointKey(public {})", self.public_key())
    }
}

impl CheckpointKey {
    /// The key with this 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// Its public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs "position `position` has hash `head_hash`" as of `signed_at` (microseconds).
    pub fn sign(
        &self,
        position: u64,
        head_hash: &[u8; 32],
        signed_at: DateTime<Utc>,
    ) -> SignedCheckpoint {
        let signed_at =
            DateTime::from_timestamp_micros(signed_at.timestamp_micros()).unwrap_or(signed_at);
        let signature = self.0.sign(&signed_bytes(position, head_hash, signed_at));
        SignedCheckpoint {
            position,
            head_hash: hex::encode(head_hash),
            signed_at,
            public_key: self.public_key().to_string(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// A checkpoint key's public half: what auditors are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| {
            CheckpointError::Malformed("a public key is 64 hex digits (32 bytes)".into())
        })?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| CheckpointError::Malformed("not an Ed25519 public key".into()))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

/// Why a checkpoint cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// A field does not read.
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    /// It names another signing key than the one the auditor trusts.
    #[error("the checkpoint was signed by key {found}, not by the trusted key {trusted}")]
    OtherKey {
        /// The trusted key.
        trusted: String,
        /// The key the checkpoint names.
        found: String,
    },
    /// The signature does not match the checkpoint's content under the trusted key.
    #[error(
        "the checkpoint's signature does not verify: it was altered or not signed by the trusted key"
    )]
    BadSignature,
}

/// Checks `checkpoint`'s signature under `trusted`; returns the head hash it vouches for.
pub fn verify_signature(
    checkpoint: &SignedCheckpoint,
    trusted: &PublicKey,
) -> Result<[u8; 32], CheckpointError> {
    if !checkpoint
        .public_key
        .eq_ignore_ascii_case(&trusted.to_string())
    {
        return Err(CheckpointError::OtherKey {
            trusted: trusted.to_string(),
            found: checkpoint.public_key.clone(),
        });
    }
    let mut head_hash = [0_u8; 32];
    hex::decode_to_slice(&checkpoint.head_hash, &mut head_hash)
        .map_err(|_| CheckpointError::Malformed("head_hash is not 64 hex digits".into()))?;
    let mut signature = [0_u8; 64];
    hex::decode_to_slice(&checkpoint.signature, &mut signature)
        .map_err(|_| CheckpointError::Malformed("signature is not 128 hex digits".into()))?;
    let message = signed_bytes(checkpoint.position, &head_hash, checkpoint.signed_at);
    trusted
        .0
        .verify_strict(&message, &Signature::from_bytes(&signature))
        .map_err(|_| CheckpointError::BadSignature)?;
    Ok(head_hash)
}

/// Signs the log's current head and appends the checkpoint to the log.
#[tracing::instrument(skip_all)]
pub async fn record_checkpoint(
    commands: &CommandHandler,
    key: &CheckpointKey,
    metadata: EventMetadata,
    now: DateTime<Utc>,
) -> Result<SignedCheckpoint, CommandError<AuditError>> {
    let head = commands.log().head().await?;
    let checkpoint = key.sign(head.position, &head.hash, now);
    commands
        .execute::<AuditAggregate>(
            CHECKPOINT_STREAM,
            AuditCommand::RecordCheckpoint(checkpoint.clone()),
            CommandContext {
                metadata,
                ..Default::default()
            },
        )
        .await?;
    Ok(checkpoint)
}

/// The latest `limit` checkpoints recorded in the log, newest first.
#[tracing::instrument(skip(log))]
pub async fn latest_checkpoints(
    log: &EventLog,
    limit: usize,
) -> Result<Vec<SignedCheckpoint>, StoreError> {
    let mut checkpoints = Vec::new();
    for record in log.read_stream(CHECKPOINT_STREAM).await?.into_iter().rev() {
        if checkpoints.len() >= limit {
            break;
        }
        if record.stream_type != AuditAggregate::STREAM_TYPE {
            continue;
        }
        let event =
            AuditEvent::from_payload(&record.event_type, record.payload).map_err(|error| {
                StoreError::Corrupt {
                    position: record.global_position,
                    message: format!("a checkpoint does not read: {error}"),
                }
            })?;
        let AuditEvent::CheckpointSigned(checkpoint) = event;
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CheckpointKey {
        CheckpointKey::from_seed(&[7; 32])
    }

    #[test]
    fn a_signed_checkpoint_verifies_under_its_key() {
        let checkpoint = key().sign(42, &[9; 32], Utc::now());
        assert_eq!(
            verify_signature(&checkpoint, &key().public_key()),
            Ok([9; 32])
        );
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let trusted = key().public_key();
        let checkpoint = key().sign(42, &[9; 32], Utc::now());
        let mut moved = checkpoint.clone();
        moved.position = 43;
        let mut rehashed = checkpoint.clone();
        rehashed.head_hash = hex::encode([8; 32]);
        let mut redated = checkpoint.clone();
        redated.signed_at += chrono::TimeDelta::microseconds(1);
        for altered in [moved, rehashed, redated] {
            assert_eq!(
                verify_signature(&altered, &trusted),
                Err(CheckpointError::BadSignature)
            );
        }
    }

    #[test]
    fn another_key_is_named() {
        let other = CheckpointKey::from_seed(&[8; 32]);
        let checkpoint = other.sign(1, &[1; 32], Utc::now());
        assert!(matches!(
            verify_signature(&checkpoint, &key().public_key()),
            Err(CheckpointError::OtherKey { .. })
        ));
        // A forger who swaps in the trusted key's name still cannot make it verify.
        let mut forged = checkpoint;
        forged.public_key = key().public_key().to_string();
        assert_eq!(
            verify_signature(&forged, &key().public_key()),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn public_keys_round_trip_as_hex() {
        let public = key().public_key();
        assert_eq!(PublicKey::parse(&public.to_string()), Ok(public));
        assert!(PublicKey::parse("zz").is_err());
    }
}
