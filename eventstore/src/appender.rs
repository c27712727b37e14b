//! Group commit: one appender task per process takes the appends of every caller that arrived
//! while the previous transaction ran, and writes them in one transaction.
//!
//! Each request is still checked on its own (stream version, claims, idempotency key); only the
//! failing ones are refused. Requests in one batch never share a stream, a claim or a key, so
//! those checks are independent; a request that collides with an earlier one waits for the next
//! batch, which keeps per-stream order. Positions and hashes are computed here from the cached
//! head; the storage verifies that head under its lock, so another process appending in between
//! only costs a retry.

use crate::chain::{HashedFields, event_hash};
use crate::changes::{ChangeFeed, StreamChange};
use crate::error::{AppendError, StoreError};
use crate::model::{
    Appended, CanonicalJson, ExpectedVersion, Head, IdempotencyKey, IdempotencyRecord,
};
use crate::storage::{Batch, BatchOutcome, BatchRequest, LogStorage, StoredEvent};
use chrono::{DateTime, Utc};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// The most requests one transaction takes.
const MAX_BATCH_REQUESTS: usize = 512;
/// The most events one transaction takes (a single larger request still goes alone).
const MAX_BATCH_EVENTS: usize = 4096;
/// How often a batch is re-tried after rejections or a moved head before giving up.
const MAX_ATTEMPTS: usize = 64;

/// An event sealed and serialized by the caller, waiting for its position.
#[derive(Debug)]
pub(crate) struct SealedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: CanonicalJson,
    pub metadata: CanonicalJson,
}

/// A request as the appender sees it.
#[derive(Debug)]
pub(crate) struct SealedRequest {
    pub stream_id: String,
    pub stream_type: String,
    pub expected: ExpectedVersion,
    pub events: Vec<SealedEvent>,
    pub claims: Vec<crate::model::Claim>,
    pub idempotency: Option<IdempotencyKey>,
    pub forget_subject: Option<String>,
    pub new_keys: Vec<crate::storage::DataKeyRecord>,
}

pub(crate) struct Job {
    pub request: SealedRequest,
    pub reply: oneshot::Sender<Result<Appended, AppendError>>,
}

struct Pending {
    job: Job,
    /// The version the stream is believed to have now.
    assumed_version: u64,
}

impl Pending {
    fn new(job: Job) -> Self {
        let assumed_version = match job.request.expected {
            ExpectedVersion::Exact(version) => version,
            ExpectedVersion::NoStream | ExpectedVersion::Any => 0,
        };
        Self {
            job,
            assumed_version,
        }
    }

    fn reply(self, result: Result<Appended, AppendError>) {
        // The caller may have given up waiting; the append stands either way.
        let _ = self.job.reply.send(result);
    }
}

/// Runs until every sender is dropped.
pub(crate) async fn run(
    storage: Arc<dyn LogStorage>,
    mut jobs: mpsc::Receiver<Job>,
    head_tx: watch::Sender<u64>,
    changes: Arc<ChangeFeed>,
) {
    let mut head: Option<Head> = None;
    let mut backlog: VecDeque<Job> = VecDeque::new();
    loop {
        if backlog.is_empty() {
            match jobs.recv().await {
                Some(job) => backlog.push_back(job),
                None => return,
            }
        }
        while backlog.len() < MAX_BATCH_REQUESTS * 2 {
            match jobs.try_recv() {
                Ok(job) => backlog.push_back(job),
                Err(_) => break,
            }
        }
        let batch = take_disjoint(&mut backlog);
        commit_jobs(storage.as_ref(), &mut head, batch, &head_tx, &changes).await;
    }
}

/// Takes, in arrival order, the jobs that share no stream, claim or key with an earlier one.
fn take_disjoint(backlog: &mut VecDeque<Job>) -> Vec<Job> {
    let mut streams = HashSet::new();
    let mut claims = HashSet::new();
    let mut keys = HashSet::new();
    let mut events = 0;
    let mut batch = Vec::new();
    let mut deferred = VecDeque::new();
    while let Some(job) = backlog.pop_front() {
        let request = &job.request;
        let fits = batch.is_empty()
            || (batch.len() < MAX_BATCH_REQUESTS
                && events + request.events.len() <= MAX_BATCH_EVENTS);
        let disjoint = !streams.contains(&request.stream_id)
            && request
                .claims
                .iter()
                .all(|c| !claims.contains(&(c.kind.clone(), c.value_hash)))
            && request
                .idempotency
                .as_ref()
                .is_none_or(|k| !keys.contains(&k.key));
        if fits && disjoint {
            streams.insert(request.stream_id.clone());
            claims.extend(
                request
                    .claims
                    .iter()
                    .map(|c| (c.kind.clone(), c.value_hash)),
            );
            keys.extend(request.idempotency.as_ref().map(|k| k.key.clone()));
            events += request.events.len();
            batch.push(job);
        } else {
            deferred.push_back(job);
        }
    }
    *backlog = deferred;
    batch
}

/// Positions and hashes `pending` after `head`; returns the batch and each request's result.
fn build_batch(head: &Head, pending: &[Pending]) -> (Batch, Vec<Appended>) {
    // Recorded times never go backwards, even if the clock does.
    let now = truncate_to_micros(
        head.recorded_at
            .map_or_else(Utc::now, |last| Utc::now().max(last)),
    );
    let mut position = head.position;
    let mut prev_hash = head.hash;
    let mut requests = Vec::with_capacity(pending.len());
    let mut events = Vec::new();
    let mut results = Vec::with_capacity(pending.len());
    for Pending {
        job,
        assumed_version,
    } in pending
    {
        let request = &job.request;
        let first_position = position + 1;
        let mut version = *assumed_version;
        for event in &request.events {
            position += 1;
            version += 1;
            let hash = event_hash(
                &prev_hash,
                &HashedFields {
                    global_position: position,
                    stream_id: &request.stream_id,
                    stream_type: &request.stream_type,
                    stream_version: version,
                    event_id: event.event_id,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    payload: event.payload.as_str(),
                    metadata: event.metadata.as_str(),
                    recorded_at: now,
                },
            );
            events.push(StoredEvent {
                global_position: position,
                stream_id: request.stream_id.clone(),
                stream_type: request.stream_type.clone(),
                stream_version: version,
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                payload: event.payload.clone(),
                metadata: event.metadata.clone(),
                recorded_at: now,
                prev_hash,
                hash,
            });
            prev_hash = hash;
        }
        let result = Appended {
            stream_version: version,
            first_position,
            last_position: position,
            replayed: false,
        };
        requests.push(BatchRequest {
            stream_id: request.stream_id.clone(),
            current_version: *assumed_version,
            claims: request.claims.clone(),
            forget_subject: request.forget_subject.clone(),
            new_keys: request.new_keys.clone(),
            idempotency: request.idempotency.as_ref().map(|key| {
                (
                    key.key.clone(),
                    IdempotencyRecord {
                        fingerprint: key.fingerprint,
                        stream_id: request.stream_id.clone(),
                        stream_version: version,
                        first_position,
                        last_position: position,
                    },
                )
            }),
        });
        results.push(result);
    }
    (
        Batch {
            expected_head: head.position,
            requests,
            events,
        },
        results,
    )
}

pub(crate) fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

fn describe(expected: ExpectedVersion) -> String {
    match expected {
        ExpectedVersion::Any => "any".into(),
        ExpectedVersion::NoStream => "no stream".into(),
        ExpectedVersion::Exact(version) => version.to_string(),
    }
}

async fn commit_jobs(
    storage: &dyn LogStorage,
    head: &mut Option<Head>,
    jobs: Vec<Job>,
    head_tx: &watch::Sender<u64>,
    changes: &ChangeFeed,
) {
    let mut pending: Vec<Pending> = jobs.into_iter().map(Pending::new).collect();
    for _ in 0..MAX_ATTEMPTS {
        if pending.is_empty() {
            return;
        }
        let current = match *head {
            Some(current) => current,
            None => match storage.head().await {
                Ok(current) => *head.insert(current),
                Err(error) => return fail_all(pending, &error),
            },
        };
        let (batch, results) = build_batch(&current, &pending);
        // (A batch retried one request at a time below marks each of its commits in turn.)
        let _committing = batch
            .events
            .last()
            .map(|last| changes.committing(batch.expected_head, last.global_position));
        match storage.commit(&batch).await {
            Ok(BatchOutcome::Committed) => {
                return committed(head, head_tx, changes, &batch, pending, results);
            }
            Ok(BatchOutcome::Rejected(rejections)) => {
                if let Some(moved) = rejections.head_moved {
                    *head = Some(moved);
                }
                let mut resolved: Vec<Option<Result<Appended, AppendError>>> =
                    pending.iter().map(|_| None).collect();
                // A key seen before wins over any other failure: it is the retry of a command
                // that already went through, so its stream has of course moved on.
                for (index, record) in rejections.idempotency {
                    let same = pending[index]
                        .job
                        .request
                        .idempotency
                        .as_ref()
                        .is_some_and(|k| k.fingerprint == record.fingerprint);
                    resolved[index] = Some(if same {
                        Ok(Appended {
                            stream_version: record.stream_version,
                            first_position: record.first_position,
                            last_position: record.last_position,
                            replayed: true,
                        })
                    } else {
                        Err(AppendError::IdempotencyKeyReused)
                    });
                }
                for (index, subject) in rejections.keys {
                    resolved[index].get_or_insert(Err(AppendError::Store(
                        StoreError::DataKeyConflict { subject },
                    )));
                }
                for (index, kind) in rejections.claims {
                    resolved[index].get_or_insert(Err(AppendError::DuplicateClaim { kind }));
                }
                for (index, actual) in rejections.versions {
                    if resolved[index].is_some() {
                        continue;
                    }
                    let request = &pending[index].job.request;
                    if request.expected == ExpectedVersion::Any {
                        pending[index].assumed_version = actual;
                    } else {
                        resolved[index] = Some(Err(AppendError::WrongExpectedVersion {
                            stream_id: request.stream_id.clone(),
                            expected: describe(request.expected),
                            actual,
                        }));
                    }
                }
                let mut still_pending = Vec::with_capacity(pending.len());
                for (pending, resolution) in pending.into_iter().zip(resolved) {
                    match resolution {
                        Some(result) => pending.reply(result),
                        None => still_pending.push(pending),
                    }
                }
                pending = still_pending;
            }
            Err(error) => {
                *head = None;
                // The commit may have happened with only its answer lost: then the log's event at
                // our last position carries our hash, and the batch must not be written again.
                if committed_anyway(storage, &batch).await {
                    tracing::warn!(%error, "the database failed after committing a batch; it stands");
                    return committed(head, head_tx, changes, &batch, pending, results);
                }
                if pending.len() == 1 {
                    return fail_all(pending, &error);
                }
                // One bad request must not fail its neighbours: commit each alone.
                tracing::warn!(%error, requests = pending.len(), "group commit failed; committing its requests one by one");
                for single in pending {
                    Box::pin(commit_jobs(
                        storage,
                        head,
                        vec![single.job],
                        head_tx,
                        changes,
                    ))
                    .await;
                }
                return;
            }
        }
    }
    let error = StoreError::Batch("the log kept moving under this append; try again".into());
    fail_all(pending, &error);
}

/// Moves the head past a committed batch, tells the change observers, wakes subscribers and
/// answers its callers (in that order: a caller that hears back finds caches already told).
fn committed(
    head: &mut Option<Head>,
    head_tx: &watch::Sender<u64>,
    changes: &ChangeFeed,
    batch: &Batch,
    pending: Vec<Pending>,
    results: Vec<Appended>,
) {
    if let Some(last) = batch.events.last() {
        *head = Some(Head {
            position: last.global_position,
            hash: last.hash,
            recorded_at: Some(last.recorded_at),
        });
        let changed: Vec<StreamChange> = batch
            .events
            .iter()
            .map(|event| StreamChange {
                position: event.global_position,
                stream_id: event.stream_id.clone(),
                stream_version: event.stream_version,
            })
            .collect();
        changes.publish(batch.expected_head, last.global_position, &changed);
        head_tx.send_if_modified(|seen| {
            let advanced = last.global_position > *seen;
            *seen = (*seen).max(last.global_position);
            advanced
        });
    }
    for (pending, result) in pending.into_iter().zip(results) {
        pending.reply(Ok(result));
    }
}

/// Whether `batch` is in the log despite an error: its last event is there with its hash.
async fn committed_anyway(storage: &dyn LogStorage, batch: &Batch) -> bool {
    let Some(last) = batch.events.last() else {
        return false;
    };
    match storage.read_all(last.global_position - 1, 1).await {
        Ok(events) => events
            .first()
            .is_some_and(|stored| stored.hash == last.hash),
        Err(_) => false,
    }
}

fn fail_all(pending: Vec<Pending>, error: &StoreError) {
    tracing::error!(%error, requests = pending.len(), "append failed");
    for pending in pending {
        pending.reply(Err(AppendError::Store(StoreError::Batch(
            error.to_string(),
        ))));
    }
}
