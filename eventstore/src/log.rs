//! [`EventLog`]: the log as the rest of idlog sees it, over any [`LogStorage`].

use crate::appender::{self, Job, SealedEvent, SealedRequest};
use crate::chain::{BrokenLink, ChainVerifier};
use crate::changes::{ChangeFeed, ChangeObserver};
use crate::codec::{PersonalDataCodec, PlainCodec};
use crate::encryption::{EncryptingCodec, MasterKeys};
use crate::error::{AppendError, StoreError};
use crate::model::{
    AppendRequest, Appended, CanonicalJson, EventMetadata, ExpectedVersion, Head,
    IdempotencyRecord, RecordedEvent,
};
use crate::storage::{DataKeyRecord, LogStorage, StoredEvent};
use crate::upcast::Upcasters;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tracing::Instrument;
use uuid::Uuid;

/// How many events a reader fetches at a time.
pub const READ_BATCH: usize = 1000;

/// Subscribers look for new events at least this often, for appends by other processes that
/// sent no wake-up (SQLite has no cross-process notification).
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Longest stream id, event type or idempotency key accepted.
const MAX_NAME_LEN: usize = 200;

/// The event log: appends (group-committed), reads, subscriptions and chain verification.
/// Cheap to clone; all clones share one appender.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn LogStorage>,
    jobs: mpsc::Sender<Job>,
    head_rx: watch::Receiver<u64>,
    changes: Arc<ChangeFeed>,
    codec: Arc<dyn PersonalDataCodec>,
    /// The same codec when it encrypts (for re-wrapping data keys).
    encryption: Option<Arc<EncryptingCodec>>,
    upcasters: Upcasters,
    background: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("head_seen", &*self.inner.head_rx.borrow())
            .finish_non_exhaustive()
    }
}

/// Builds an [`EventLog`].
pub struct EventLogBuilder {
    storage: Arc<dyn LogStorage>,
    codec: Arc<dyn PersonalDataCodec>,
    encryption: Option<Arc<EncryptingCodec>>,
    upcasters: Upcasters,
    wake_ups: Option<Box<dyn FnOnce(watch::Sender<u64>) -> AbortHandle + Send>>,
}

impl EventLogBuilder {
    /// Sets the personal-data codec (default: [`PlainCodec`]).
    pub fn codec(mut self, codec: Arc<dyn PersonalDataCodec>) -> Self {
        self.codec = codec;
        self.encryption = None;
        self
    }

    /// Encrypts personal data with one data key per subject, kept in the log's database and
    /// wrapped by `masters.current` ([`EncryptingCodec`]).
    pub fn encrypt_personal_data(mut self, masters: MasterKeys) -> Self {
        let codec = Arc::new(EncryptingCodec::new(self.storage.clone(), masters));
        self.codec = codec.clone();
        self.encryption = Some(codec);
        self
    }

    /// Sets the upcasters applied on read.
    pub fn upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Starts a task that wakes subscribers when another process appends.
    pub(crate) fn wake_ups(
        mut self,
        start: impl FnOnce(watch::Sender<u64>) -> AbortHandle + Send + 'static,
    ) -> Self {
        self.wake_ups = Some(Box::new(start));
        self
    }

    /// Starts the appender. Must be called inside a Tokio runtime.
    pub async fn build(self) -> Result<EventLog, StoreError> {
        let head = self.storage.head().await?;
        let (head_tx, head_rx) = watch::channel(head.position);
        let (jobs, job_rx) = mpsc::channel(4096);
        let changes = Arc::new(ChangeFeed::new(head.position));
        let mut background = Vec::new();
        if let Some(start) = self.wake_ups {
            background.push(start(head_tx.clone()));
        }
        background.push(
            changes
                .clone()
                .follow(self.storage.clone(), head_tx.clone()),
        );
        tokio::spawn(appender::run(
            self.storage.clone(),
            job_rx,
            head_tx,
            changes.clone(),
        ));
        Ok(EventLog {
            inner: Arc::new(Inner {
                storage: self.storage,
                jobs,
                head_rx,
                changes,
                codec: self.codec,
                encryption: self.encryption,
                upcasters: self.upcasters,
                background,
            }),
        })
    }
}

/// The result of checking the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// How many events were checked and found intact.
    pub verified: u64,
    /// The hash of the last intact event.
    pub last_hash: [u8; 32],
    /// The first break, if any.
    pub broken: Option<BrokenLink>,
}

impl EventLog {
    /// A builder over `storage`.
    pub fn builder(storage: Arc<dyn LogStorage>) -> EventLogBuilder {
        EventLogBuilder {
            storage,
            codec: Arc::new(PlainCodec),
            encryption: None,
            upcasters: Upcasters::new(),
            wake_ups: None,
        }
    }

    /// Appends events to one stream, atomically, with the request's expected version, claims and
    /// idempotency key. Concurrent calls are committed together.
    #[tracing::instrument(skip_all, fields(stream_id = %request.stream_id, stream_type = %request.stream_type, events = request.events.len()))]
    pub async fn append(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let forgotten = request
            .forget_data_subject
            .then(|| request.data_subject.clone())
            .flatten();
        // Where new keys go in with the events, another process may store a different key for
        // the same subject first: then the request is sealed again, with the stored key.
        let subjects: Vec<&str> = request
            .data_subject
            .iter()
            .chain(&request.metadata.actor.id)
            .map(String::as_str)
            .collect();
        let retry = (self.inner.storage.stores_new_keys_with_events()
            && self.inner.codec.may_create_keys(&subjects))
        .then(|| request.clone());
        let appended = match self.seal_and_commit(request).await {
            Err(AppendError::Store(StoreError::DataKeyConflict { subject })) if retry.is_some() => {
                self.inner.codec.drop_cached(&subject);
                let request = retry.ok_or(StoreError::Closed)?;
                self.seal_and_commit(request).await?
            }
            other => other?,
        };
        if let Some(subject) = forgotten {
            self.inner.codec.forget(&subject);
        }
        Ok(appended)
    }

    async fn seal_and_commit(&self, request: AppendRequest) -> Result<Appended, AppendError> {
        let sealed = self.seal(request).await?;
        let subjects: Vec<String> = sealed
            .new_keys
            .iter()
            .map(|key| key.subject.clone())
            .collect();
        let (reply, answer) = oneshot::channel();
        self.inner
            .jobs
            .send(Job {
                request: sealed,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        let appended = answer.await.map_err(|_| StoreError::Closed)??;
        if !subjects.is_empty() {
            let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
            self.inner.codec.keys_stored(&subjects);
        }
        Ok(appended)
    }

    async fn seal(&self, request: AppendRequest) -> Result<SealedRequest, AppendError> {
        let invalid = |message: &str| Err(AppendError::Invalid(message.to_owned()));
        if request.events.is_empty() {
            return invalid("an append needs at least one event");
        }
        if request.stream_id.is_empty() || request.stream_id.len() > MAX_NAME_LEN {
            return invalid("the stream id must be 1 to 200 characters");
        }
        if request.stream_type.is_empty() || request.stream_type.len() > MAX_NAME_LEN {
            return invalid("the stream type must be 1 to 200 characters");
        }
        if request
            .idempotency
            .as_ref()
            .is_some_and(|k| k.key.is_empty() || k.key.len() > MAX_NAME_LEN)
        {
            return invalid("an idempotency key must be 1 to 200 characters");
        }
        if request.forget_data_subject && request.data_subject.is_none() {
            return invalid("forgetting needs a data subject");
        }
        let codec = &self.inner.codec;
        let subject = request.data_subject.as_deref();
        if request.expected_version == ExpectedVersion::NoStream
            && subject == Some(request.stream_id.as_str())
        {
            codec.expect_new_subject(&request.stream_id);
        }
        // The actor's address and user agent are theirs, not the stream's subject's.
        let metadata_subject = request
            .metadata
            .actor
            .id
            .clone()
            .or_else(|| subject.map(str::to_owned));
        let forget_subject = request
            .forget_data_subject
            .then(|| subject.map(str::to_owned))
            .flatten();
        let mut metadata = request.metadata;
        metadata.forgot_subject = forget_subject.clone();
        let mut metadata =
            serde_json::to_value(&metadata).map_err(|e| AppendError::Invalid(e.to_string()))?;
        // The keys sealed with that are not stored yet: they go in with the events.
        let mut new_keys: Vec<DataKeyRecord> = Vec::new();
        let mut keep_new = |key: Option<DataKeyRecord>| {
            if let Some(key) = key
                && !new_keys.iter().any(|known| known.subject == key.subject)
            {
                new_keys.push(key);
            }
        };
        if let Some(owner) = &metadata_subject {
            keep_new(
                codec
                    .seal(
                        owner,
                        &request.stream_id,
                        &mut metadata,
                        EventMetadata::PERSONAL_FIELDS,
                    )
                    .await
                    .map_err(StoreError::Codec)?,
            );
        }
        let metadata = CanonicalJson::from_value(&metadata);
        let mut events = Vec::with_capacity(request.events.len());
        for event in request.events {
            if event.event_type.is_empty() || event.event_type.len() > MAX_NAME_LEN {
                return invalid("an event type must be 1 to 200 characters");
            }
            let mut payload = event.payload;
            if let Some(reason) = unstorable(&payload) {
                return invalid(reason);
            }
            if let Some(owner) = subject {
                let pointers: Vec<&str> =
                    event.personal_fields.iter().map(String::as_str).collect();
                keep_new(
                    codec
                        .seal(owner, &request.stream_id, &mut payload, &pointers)
                        .await
                        .map_err(StoreError::Codec)?,
                );
            }
            events.push(SealedEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: CanonicalJson::from_value(&payload),
                metadata: metadata.clone(),
            });
        }
        Ok(SealedRequest {
            stream_id: request.stream_id,
            stream_type: request.stream_type,
            expected: request.expected_version,
            events,
            claims: request.claims,
            idempotency: request.idempotency,
            forget_subject,
            new_keys,
        })
    }

    /// Opens sealed fields (one key look-up for the whole batch) and upcasts each payload to
    /// the current schema. An event that forgot someone makes this process forget them too.
    async fn decode_all(
        &self,
        events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode(events, true).await
    }

    /// `from_log`: the events were read from this log's database, so an event that forgot
    /// someone is trusted to say so; events from elsewhere (a Kafka topic anyone with access
    /// may write to) only make this process read that person's key again.
    async fn decode(
        &self,
        mut events: Vec<RecordedEvent>,
        from_log: bool,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let codec = &self.inner.codec;
        let mut documents: Vec<(&str, &mut Value)> = events
            .iter_mut()
            .flat_map(|event| {
                let stream = event.stream_id.as_str();
                [(stream, &mut event.payload), (stream, &mut event.metadata)]
            })
            .collect();
        codec
            .open(&mut documents)
            .await
            .map_err(StoreError::Codec)?;
        for event in &mut events {
            if let Some(subject) = event.metadata.get("forgot_subject").and_then(Value::as_str) {
                if from_log {
                    codec.forget(subject);
                } else {
                    codec.drop_cached(subject);
                }
            }
            let payload = std::mem::take(&mut event.payload);
            let (version, payload) =
                self.inner
                    .upcasters
                    .upcast(&event.event_type, event.schema_version, payload);
            event.schema_version = version;
            event.payload = payload;
        }
        Ok(events)
    }

    /// Decodes events read as stored (from a Kafka topic, say): opens their sealed fields and
    /// upcasts them, as every read of the log does.
    pub async fn decode_stored(
        &self,
        events: Vec<RecordedEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode(events, false).await
    }

    /// Re-wraps every data key under the current master key (after a master key rotation);
    /// returns how many were re-wrapped. An error if personal data is not encrypted.
    pub async fn rewrap_data_keys(&self, progress: impl FnMut(u64)) -> Result<u64, StoreError> {
        match &self.inner.encryption {
            Some(codec) => codec.rewrap_all(progress).await,
            None => Err(StoreError::Codec(
                "personal data is not encrypted: there are no data keys to re-wrap".into(),
            )),
        }
    }

    /// Whether personal data is encrypted.
    pub fn encrypts_personal_data(&self) -> bool {
        self.inner.encryption.is_some()
    }

    /// A whole stream, decoded.
    #[tracing::instrument(skip(self))]
    pub async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode_all(self.inner.storage.read_stream(stream_id, 0, None).await?)
            .await
    }

    /// A whole stream exactly as stored (personal data sealed).
    #[tracing::instrument(skip(self))]
    pub async fn read_stream_stored(
        &self,
        stream_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.storage.read_stream(stream_id, 0, None).await
    }

    /// The events of a stream after `after_version`, decoded: what brings a cached state up to date.
    #[tracing::instrument(skip(self))]
    pub async fn read_stream_after(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode_all(
            self.inner
                .storage
                .read_stream(stream_id, after_version, None)
                .await?,
        )
        .await
    }

    /// A stream up to and including `position` (its state at that point of the log), decoded.
    #[tracing::instrument(skip(self))]
    pub async fn read_stream_until(
        &self,
        stream_id: &str,
        position: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode_all(
            self.inner
                .storage
                .read_stream(stream_id, 0, Some(position))
                .await?,
        )
        .await
    }

    /// Up to `limit` events after `after_position`, decoded.
    #[tracing::instrument(skip(self))]
    pub async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.decode_all(self.inner.storage.read_all(after_position, limit).await?)
            .await
    }

    /// Up to `limit` events after `after_position` exactly as stored (sealed, not upcast, JSON as
    /// canonical text): what the hash chain covers, for verification and export.
    #[tracing::instrument(skip(self))]
    pub async fn read_all_stored(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner
            .storage
            .read_all_canonical(after_position, limit)
            .await
    }

    /// The last event's position and hash.
    pub async fn head(&self) -> Result<Head, StoreError> {
        self.inner.storage.head().await
    }

    /// Tells `observer` of every stream change after this call, in log order: this process's
    /// appends as they commit, other processes' once noticed. Held weakly: dropping it ends it.
    pub fn observe_changes(&self, observer: &Arc<dyn ChangeObserver>) {
        self.inner.changes.observe(observer);
    }

    /// Whether the observers have been told of every change up to the newest position this
    /// process knows of: its own appends at once, other processes' once their wake-up arrived
    /// (`NOTIFY` on PostgreSQL, a poll of the head every 100 ms on SQLite). Then a state that an
    /// observer keeps current is as current as a read of the log.
    pub fn changes_caught_up(&self) -> bool {
        self.inner.changes.through() >= *self.inner.head_rx.borrow()
    }

    /// The position up to which every change has been handed to the observers.
    pub fn changes_through(&self) -> u64 {
        self.inner.changes.through()
    }

    /// The highest position this process knows to be committed, updated by its own appends
    /// and by other processes' notifications (PostgreSQL): a wake-up for followers of the log,
    /// never a substitute for reading it.
    pub fn head_watch(&self) -> watch::Receiver<u64> {
        self.inner.head_rx.clone()
    }

    /// The first result of a command sent with `key`, if any.
    pub async fn idempotency_record(
        &self,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.storage.idempotency_record(key).await
    }

    /// The stream owning a claimed value.
    pub async fn claim_owner(
        &self,
        kind: &str,
        value_hash: &[u8; 32],
    ) -> Result<Option<String>, StoreError> {
        self.inner.storage.claim_owner(kind, value_hash).await
    }

    /// How many values of `kind` are claimed.
    pub async fn claim_count(&self, kind: &str) -> Result<u64, StoreError> {
        self.inner.storage.claim_count(kind).await
    }

    /// Follows the log from `after_position`: first what is there, then each new event as it
    /// is committed, decoded.
    pub fn subscribe(&self, after_position: u64) -> Subscription {
        self.subscribe_as(after_position)
    }

    /// Follows the log as stored (personal data sealed, JSON as canonical text): what leaves
    /// the database for other systems, such as the Kafka relay.
    pub fn subscribe_stored(&self, after_position: u64) -> Subscription<CanonicalJson> {
        self.subscribe_as(after_position)
    }

    fn subscribe_as<J: SubscribedJson>(&self, after_position: u64) -> Subscription<J> {
        Subscription {
            log: self.clone(),
            position: after_position,
            buffer: VecDeque::new(),
            head_rx: self.inner.head_rx.clone(),
            gather: Duration::ZERO,
            caught_up: false,
            poll_due: true,
        }
    }

    /// Checks the hash chain from position 1 to the head; `progress` is told how far it got.
    pub async fn verify_chain(&self, progress: impl FnMut(u64)) -> Result<ChainReport, StoreError> {
        self.verify_chain_range(1, None, progress).await
    }

    /// Checks the events from `from` (at least 1) up to `until` (the head when `None`): each
    /// event against its hash, and each link. A range starting after position 1 trusts its first
    /// event's link to the event before it. Reading runs one batch ahead of hashing, and hashing
    /// runs off the async threads.
    #[tracing::instrument(skip(self, progress))]
    pub async fn verify_chain_range(
        &self,
        from: u64,
        until: Option<u64>,
        mut progress: impl FnMut(u64),
    ) -> Result<ChainReport, StoreError> {
        let from = from.max(1);
        let mut batches = self.stored_batches(from - 1, until, VERIFY_BATCH);
        let mut verifier: Option<ChainVerifier> = (from == 1).then(ChainVerifier::new);
        let mut verified = 0;
        while let Some(batch) = batches.recv().await {
            let events = batch?;
            let Some(first) = events.first() else { break };
            // A range not from 1 trusts the first event's link, but not its position: a missing
            // event at `from` is a gap like any other.
            let start = verifier
                .take()
                .unwrap_or_else(|| ChainVerifier::resume(from - 1, first.prev_hash));
            let (checked, outcome, count) = tokio::task::spawn_blocking(move || {
                let mut verifier = start;
                let mut count = 0_u64;
                for event in &events {
                    if let Err(broken) = verifier.push(event) {
                        return (verifier, Err(broken), count);
                    }
                    count += 1;
                }
                (verifier, Ok(()), count)
            })
            .await
            .map_err(|error| StoreError::Batch(format!("verifying a batch: {error}")))?;
            verified += count;
            if let Err(broken) = outcome {
                return Ok(ChainReport {
                    verified,
                    last_hash: checked.hash(),
                    broken: Some(broken),
                });
            }
            progress(checked.position());
            verifier = Some(checked);
        }
        Ok(ChainReport {
            verified,
            last_hash: verifier.map_or([0; 32], |verifier| verifier.hash()),
            broken: None,
        })
    }

    /// The stored log after `after_position`, up to `until` if given, in batches of `batch`
    /// events, read by a task that stays one batch ahead of the consumer, as one streamed query.
    /// Reading stops when the receiver is dropped.
    pub fn stored_batches(
        &self,
        after_position: u64,
        until: Option<u64>,
        batch: usize,
    ) -> mpsc::Receiver<Result<Vec<StoredEvent>, StoreError>> {
        let (sender, receiver) = mpsc::channel(1);
        let log = self.clone();
        tokio::spawn(
            async move {
                let streamed = log
                    .inner
                    .storage
                    .stream_canonical(after_position, until, batch, &sender)
                    .await;
                if let Err(error) = streamed {
                    // The receiver may be gone; then nobody is left to tell.
                    let _ = sender.send(Err(error)).await;
                }
            }
            .in_current_span(),
        );
        receiver
    }
}

/// How many events chain verification and export read at a time.
pub const VERIFY_BATCH: usize = 2000;

/// What in `value` a database cannot store exactly, if anything: PostgreSQL's text refuses NUL
/// characters, and its numbers have no negative zero (`-0.0` would read back as `0.0`, which the
/// hash chain would take for tampering).
fn unstorable(value: &Value) -> Option<&'static str> {
    const NUL: &str = "text in an event may not contain NUL characters";
    match value {
        Value::String(text) if text.contains('\0') => Some(NUL),
        Value::Number(number)
            if number
                .as_f64()
                .is_some_and(|float| float == 0.0 && float.is_sign_negative())
                && number.is_f64() =>
        {
            Some("numbers in an event may not be negative zero")
        }
        Value::Array(items) => items.iter().find_map(unstorable),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(NUL)
            } else {
                unstorable(item)
            }
        }),
        _ => None,
    }
}

/// The forms of JSON a [`Subscription`] reads the log's events in.
pub trait SubscribedJson: Sized + Send {
    /// Up to `limit` events after `after_position`.
    fn read(
        log: &EventLog,
        after_position: u64,
        limit: usize,
    ) -> impl std::future::Future<Output = Result<Vec<RecordedEvent<Self>>, StoreError>> + Send;
}

/// Decoded events.
impl SubscribedJson for Value {
    async fn read(
        log: &EventLog,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        log.read_all(after_position, limit).await
    }
}

/// Events as stored.
impl SubscribedJson for CanonicalJson {
    async fn read(
        log: &EventLog,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        log.read_all_stored(after_position, limit).await
    }
}

/// A live tail of the log. Never skips: it reads strictly after the last position it returned,
/// and positions are commit order.
pub struct Subscription<J = Value> {
    log: EventLog,
    position: u64,
    buffer: VecDeque<RecordedEvent<J>>,
    head_rx: watch::Receiver<u64>,
    gather: Duration,
    /// The last read found fewer events than it asked for.
    caught_up: bool,
    /// Read even if no wake-up came: the first read, and after every [`POLL_INTERVAL`].
    poll_due: bool,
}

impl<J: SubscribedJson> Subscription<J> {
    /// The next event, waiting for it if need be.
    pub async fn next(&mut self) -> Result<RecordedEvent<J>, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position = event.global_position;
                return Ok(event);
            }
            // Mark the current head as seen *before* reading, so an append that lands after
            // the read wakes us instead of being missed until the next poll.
            let head = *self.head_rx.borrow_and_update();
            if head > self.position || std::mem::take(&mut self.poll_due) {
                if self.caught_up && !self.gather.is_zero() {
                    tokio::time::sleep(self.gather).await;
                }
                let events = J::read(&self.log, self.position, READ_BATCH).await?;
                self.caught_up = events.len() < READ_BATCH;
                if !events.is_empty() {
                    self.buffer.extend(events);
                    continue;
                }
            }
            tokio::select! {
                changed = self.head_rx.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL_INTERVAL).await;
                        self.poll_due = true;
                    }
                }
                () = tokio::time::sleep(POLL_INTERVAL) => self.poll_due = true,
            }
        }
    }

    /// Once caught up with the log, lets new events gather for `gather` before reading them:
    /// under load, one read (and decode) for many commits rather than one each.
    pub fn gathering(mut self, gather: Duration) -> Self {
        self.gather = gather;
        self
    }

    /// The next event if it is already read (no waiting, no I/O): for gathering a batch.
    pub fn next_buffered(&mut self) -> Option<RecordedEvent<J>> {
        let event = self.buffer.pop_front()?;
        self.position = event.global_position;
        Some(event)
    }

    /// The position of the last event returned.
    pub fn position(&self) -> u64 {
        self.position
    }
}
