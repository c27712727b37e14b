//! Verifying an export with no database: the chain inside it, and (with a signed checkpoint and
//! the trusted public key) that it holds every event up to the checkpoint, unaltered.

use crate::checkpoint::{CheckpointError, PublicKey, verify_signature};
use crate::export::{ExportReader, UnreadableLine};
use domain::audit::SignedCheckpoint;
use eventstore::chain::{BrokenLink, ChainVerifier};
use std::io::BufRead;

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportVerdict {
    /// Events checked.
    pub events: u64,
    /// The first event's position.
    pub first_position: u64,
    /// The last event's position.
    pub last_position: u64,
    /// The last event's hash.
    pub last_hash: [u8; 32],
    /// The checkpoint position the export was proven complete up to, if a checkpoint was given.
    pub proven_up_to: Option<u64>,
}

/// Why an export does not verify. Each names where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportProblem {
    /// The export file could not be read.
    #[error("cannot read the export: {0}")]
    Io(String),
    /// A line does not read as an event.
    #[error(transparent)]
    Unreadable(#[from] UnreadableLine),
    /// The chain breaks.
    #[error("line {line}: {link}")]
    Broken {
        /// The line of the offending event (or of the event found where another was due).
        line: u64,
        /// Where and how.
        link: BrokenLink,
    },
    /// There are no events.
    #[error("the export holds no events")]
    Empty,
    /// The checkpoint is not trustworthy.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint needs the export from position 1.
    #[error(
        "the export starts at position {first}; proving it complete up to a checkpoint needs it from position 1"
    )]
    NotFromStart {
        /// The first position in the export.
        first: u64,
    },
    /// The export ends before the checkpoint's position.
    #[error(
        "the export ends at position {last}, before the checkpoint's position {checkpoint}: events are missing"
    )]
    EndsEarly {
        /// The last position in the export.
        last: u64,
        /// The checkpoint's position.
        checkpoint: u64,
    },
    /// The event at the checkpoint's position is not the one signed.
    #[error(
        "the event at the checkpoint's position {position} has hash {found}, the checkpoint signed {expected}"
    )]
    CheckpointMismatch {
        /// The position.
        position: u64,
        /// The signed hash (hex).
        expected: String,
        /// The export's hash there (hex).
        found: String,
    },
}

/// Verifies the export read from `input`. With `checkpoint` (and the key trusted for it), the
/// export must start at position 1 and reach the checkpoint with the signed hash. Without one,
/// the chain is checked from the export's first event, trusting that event's link.
/// `progress` is told each verified position every 10,000 events.
pub fn verify_export(
    input: impl BufRead,
    checkpoint: Option<(&SignedCheckpoint, &PublicKey)>,
    mut progress: impl FnMut(u64),
) -> Result<ExportVerdict, ExportProblem> {
    if checkpoint.is_some_and(|(checkpoint, _)| checkpoint.position == 0) {
        return Err(
            CheckpointError::Malformed("a checkpoint covers position 1 or later".into()).into(),
        );
    }
    let signed = checkpoint
        .map(|(checkpoint, key)| {
            verify_signature(checkpoint, key).map(|hash| (checkpoint.position, hash))
        })
        .transpose()?;
    let reader = ExportReader::new(input).map_err(|error| ExportProblem::Io(error.to_string()))?;
    let mut verifier: Option<ChainVerifier> = None;
    let mut first_position = 0;
    let mut events = 0_u64;
    let mut hash_at_checkpoint = None;
    for item in reader {
        let (line, event) = item?;
        if verifier.is_none() {
            first_position = event.global_position;
            if signed.is_some() && first_position != 1 {
                return Err(ExportProblem::NotFromStart {
                    first: first_position,
                });
            }
        }
        let chain = verifier.get_or_insert_with(|| {
            if event.global_position <= 1 {
                ChainVerifier::new()
            } else {
                ChainVerifier::resume(event.global_position - 1, event.prev_hash)
            }
        });
        chain
            .push(&event)
            .map_err(|link| ExportProblem::Broken { line, link })?;
        events += 1;
        if let Some((position, _)) = signed
            && position == event.global_position
        {
            hash_at_checkpoint = Some(event.hash);
        }
        if events % 10_000 == 0 {
            progress(event.global_position);
        }
    }
    let Some(chain) = verifier else {
        return Err(ExportProblem::Empty);
    };
    let verdict = ExportVerdict {
        events,
        first_position,
        last_position: chain.position(),
        last_hash: chain.hash(),
        proven_up_to: signed.map(|(position, _)| position),
    };
    if let Some((position, signed_hash)) = signed {
        let Some(found) = hash_at_checkpoint else {
            return Err(ExportProblem::EndsEarly {
                last: verdict.last_position,
                checkpoint: position,
            });
        };
        if found != signed_hash {
            return Err(ExportProblem::CheckpointMismatch {
                position,
                expected: hex::encode(signed_hash),
                found: hex::encode(found),
            });
        }
    }
    Ok(verdict)
}
