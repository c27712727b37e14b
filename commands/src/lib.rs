//! Application services: one generic command handler for every aggregate.
//!
//! `execute` loads the stream (folding its events), lets the pure domain decide, hashes the
//! unique values the events claim, and appends with the version it loaded. If another writer got
//! there first it decides again on the new state (bounded), unless the caller pinned the version
//! it saw (`If-Match`), in which case the conflict is the caller's to resolve.

mod claims;
pub mod tokens;

pub use claims::ClaimHasher;

use domain::{Aggregate, ClaimAction, ClaimKind, DomainEvent};
use eventstore::{
    AppendError, AppendRequest, ChangeObserver, Claim, EventLog, EventMetadata, ExpectedVersion,
    IdempotencyKey, NewEvent, RecordedEvent, StoreError, StreamChange,
};
use lru::LruCache;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// How often a command is decided again after losing a race, by default.
pub const DEFAULT_MAX_RETRIES: usize = 32;

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The domain refused it.
    #[error(transparent)]
    Rejected(E),
    /// The stream is not at the version the caller expected (If-Match), or it kept changing.
    #[error("the resource changed: expected version {expected}, it is at {actual}")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The stream's version.
        actual: u64,
    },
    /// A unique value (email, username, ...) belongs to someone else.
    #[error("the {kind} is already taken")]
    Duplicate {
        /// Which kind of value.
        kind: String,
    },
    /// The idempotency key was used before for a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The request cannot be stored as given.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The id names a stream of another kind (a user id where an organization id was
    /// expected): to this aggregate, no such stream exists.
    #[error("no {expected} has this id")]
    OtherKind {
        /// The kind asked for.
        expected: &'static str,
    },
    /// A stored event could not be read as a domain event.
    #[error("event at position {position} cannot be read: {message}")]
    Corrupt {
        /// Where.
        position: u64,
        /// Why.
        message: String,
    },
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the caller adds to a command: who and from where, and the HTTP preconditions.
#[derive(Debug, Clone, Default)]
pub struct CommandContext {
    /// Recorded with every event.
    pub metadata: EventMetadata,
    /// Replays the first result when seen again.
    pub idempotency: Option<IdempotencyKey>,
    /// The version the caller saw (`If-Match`); no retry when set.
    pub expected_version: Option<u64>,
    /// Whose personal data the events hold, if not the stream's own id.
    pub data_subject: Option<String>,
}

/// A command's outcome.
#[derive(Debug, Clone)]
pub struct Executed<A: Aggregate> {
    /// The state after the command.
    pub state: A::State,
    /// The events it appended (empty when it changed nothing, or when replayed).
    pub events: Vec<A::Event>,
    /// The stream's version after the command.
    pub stream_version: u64,
    /// The log position of the last event appended (or replayed), for read-your-writes.
    pub position: Option<u64>,
    /// True when an idempotency key replayed an earlier result.
    pub replayed: bool,
}

/// A stream's state and version.
#[derive(Debug, Clone)]
pub struct Loaded<A: Aggregate> {
    /// The folded state.
    pub state: A::State,
    /// The stream's version (0 when it does not exist).
    pub version: u64,
    /// The events it was folded from, with their records.
    pub history: Vec<(RecordedEvent, A::Event)>,
}

/// A stream's state at a past point.
#[derive(Debug, Clone)]
pub struct AsOf<A: Aggregate> {
    /// The folded state.
    pub state: A::State,
    /// The stream's version then (0: it did not exist yet).
    pub version: u64,
    /// The log position and time of the last event folded.
    pub last_event: Option<(u64, chrono::DateTime<chrono::Utc>)>,
}

/// A stream's current state and version.
#[derive(Debug, Clone)]
pub struct Current<A: Aggregate> {
    /// The folded state.
    pub state: A::State,
    /// The stream's version (0 when it does not exist).
    pub version: u64,
}

/// How many streams' states are kept folded in memory by default.
pub const DEFAULT_CACHED_STREAMS: usize = 10_000;

/// How many of the log's latest changes the cache remembers, to refuse a state read before one
/// of them (about 20 s of appends at 3,000 a second).
const REMEMBERED_CHANGES: usize = 65_536;

/// Folded states of recently used streams, kept true by following the log's changes.
///
/// A stream's events never change, so any cached state is a true prefix of its stream: reading
/// only the events after it brings it up to date. Beyond that, a state is *current* if no change
/// after it has been seen: it enters current only if no change after the position it was known
/// at (`as_of`: the changes handed on before its read began, or its own append) moved the stream
/// past it, and a later change makes it stale. So while the log's observers are caught up
/// ([`EventLog::changes_caught_up`]), every current state is the stream's state now.
#[derive(Clone)]
struct StateCache {
    inner: Arc<SharedCache>,
}

/// The cache's contents, told of the log's changes.
struct SharedCache(Mutex<CacheInner>);

struct CacheInner {
    /// Stream id: its folded state (of the aggregate that folded it).
    entries: LruCache<String, CachedState>,
    /// The latest change of each stream among the last [`REMEMBERED_CHANGES`]: (position, version).
    recent: HashMap<String, (u64, u64)>,
    /// The same changes in log order, to forget the oldest.
    recent_order: VecDeque<(u64, String)>,
    /// Changes up to here may have been forgotten.
    forgotten_through: u64,
}

/// A folded state, the stream version it is at, and whether it is current.
struct CachedState {
    state: Arc<dyn Any + Send + Sync>,
    version: u64,
    current: bool,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCache(..)")
    }
}

impl StateCache {
    fn new(capacity: usize, log: &EventLog) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        let cache = Self {
            inner: Arc::new(SharedCache(Mutex::new(CacheInner {
                entries: LruCache::new(capacity),
                recent: HashMap::new(),
                recent_order: VecDeque::new(),
                forgotten_through: log.changes_through(),
            }))),
        };
        let observer: Arc<dyn ChangeObserver> = cache.inner.clone();
        log.observe_changes(&observer);
        cache
    }

    /// The cached state of a stream (a prefix of it), and whether it is current.
    fn get<A: Aggregate>(&self, stream_id: &str) -> Option<(A::State, u64, bool)> {
        let mut inner = self.inner.0.lock().ok()?;
        let entry = inner.entries.get(stream_id)?;
        Some((
            entry.state.downcast_ref::<A::State>()?.clone(),
            entry.version,
            entry.current,
        ))
    }

    /// Keeps `state` at `version`, known current as of log position `as_of`, unless a newer
    /// state is kept; it counts as current unless a change after `as_of` moved the stream past
    /// it (or may have: one already forgotten).
    fn put<A: Aggregate>(&self, stream_id: &str, state: &A::State, version: u64, as_of: u64) {
        let Ok(mut inner) = self.inner.0.lock() else {
            return;
        };
        if inner
            .entries
            .peek(stream_id)
            .is_some_and(|entry| entry.version > version)
        {
            return;
        }
        let current = as_of >= inner.forgotten_through
            && inner
                .recent
                .get(stream_id)
                .is_none_or(|(_, changed_to)| *changed_to <= version);
        // The same state again (a read that found nothing new): confirm it, no copy.
        if let Some(entry) = inner.entries.get_mut(stream_id)
            && entry.version == version
        {
            entry.current |= current;
            return;
        }
        inner.entries.put(
            stream_id.to_owned(),
            CachedState {
                state: Arc::new(state.clone()),
                version,
                current,
            },
        );
    }
}

impl ChangeObserver for SharedCache {
    fn changed(&self, changes: &[StreamChange]) {
        let Ok(mut inner) = self.0.lock() else {
            return;
        };
        let inner = &mut *inner;
        for change in changes {
            if let Some(entry) = inner.entries.peek_mut(&change.stream_id)
                && entry.version < change.stream_version
            {
                entry.current = false;
            }
            inner.recent.insert(
                change.stream_id.clone(),
                (change.position, change.stream_version),
            );
            inner
                .recent_order
                .push_back((change.position, change.stream_id.clone()));
        }
        while inner.recent_order.len() > REMEMBERED_CHANGES {
            let Some((position, stream_id)) = inner.recent_order.pop_front() else {
                break;
            };
            if inner
                .recent
                .get(&stream_id)
                .is_some_and(|(latest, _)| *latest == position)
            {
                inner.recent.remove(&stream_id);
            }
            inner.forgotten_through = position;
        }
    }
}

/// Refuses to fold `record` into `A` when its stream is of another kind: ids of all kinds are
/// UUIDs, so a caller may name an organization where a user is expected, and its events are
/// not corrupt, only not this aggregate's.
fn same_kind<A: Aggregate>(record: &RecordedEvent) -> Result<(), CommandError<A::Error>> {
    if record.stream_type == A::STREAM_TYPE {
        Ok(())
    } else {
        Err(CommandError::OtherKind {
            expected: A::STREAM_TYPE,
        })
    }
}

/// Runs commands against the log.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    log: EventLog,
    claims: ClaimHasher,
    max_retries: usize,
    cache: StateCache,
}

impl CommandHandler {
    /// A handler appending to `log`, hashing claims with `claims`.
    pub fn new(log: EventLog, claims: ClaimHasher) -> Self {
        Self {
            claims,
            max_retries: DEFAULT_MAX_RETRIES,
            cache: StateCache::new(DEFAULT_CACHED_STREAMS, &log),
            log,
        }
    }

    /// Sets how many streams' folded states are kept in memory.
    pub fn with_cached_streams(mut self, streams: usize) -> Self {
        self.cache = StateCache::new(streams, &self.log);
        self
    }

    /// A stream's state now: the cached fold brought up to date with the events appended since
    /// (all of them the first time).
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn current<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        // Taken before the read: every change up to here is in what the read sees.
        let as_of = self.log.changes_through();
        let (mut state, mut version) = self
            .cache
            .get::<A>(stream_id)
            .map(|(state, version, _)| (state, version))
            .unwrap_or_default();
        let records = self.log.read_stream_after(stream_id, version).await?;
        for record in records {
            same_kind::<A>(&record)?;
            let event =
                A::Event::from_payload(&record.event_type, record.payload).map_err(|error| {
                    CommandError::Corrupt {
                        position: record.global_position,
                        message: error.to_string(),
                    }
                })?;
            state = A::evolve(state, &event);
            version = record.stream_version;
        }
        if version > 0 {
            // Also when nothing was new: the state is now known current as of `as_of`.
            self.cache.put::<A>(stream_id, &state, version, as_of);
        }
        Ok(Current { state, version })
    }

    /// A stream's state as this process has followed the log: from memory, with no read, when
    /// the stream is cached and every change this process knows of has reached the cache (its
    /// own appends at once; other processes' when their wake-up arrives). Otherwise read as
    /// [`Self::current`] does. For authenticating requests and deciding commands (whose append
    /// checks the version anyway); answers that promise the latest state read with `current`.
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn followed<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        Ok(self.followed_or_read::<A>(stream_id).await?.0)
    }

    /// As [`Self::followed`]; true with the state when it was read from the log just now.
    async fn followed_or_read<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<(Current<A>, bool), CommandError<A::Error>> {
        if self.log.changes_caught_up()
            && let Some((state, version, true)) = self.cache.get::<A>(stream_id)
        {
            return Ok((Current { state, version }, false));
        }
        Ok((self.current::<A>(stream_id).await?, true))
    }

    /// Sets how often a command is decided again after losing a race.
    pub fn with_max_retries(mut self, max_retries: usize) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The stream that owns a unique value (e.g. the user with an email), if any.
    pub async fn find_owner(
        &self,
        kind: ClaimKind,
        normalized_value: &str,
    ) -> Result<Option<String>, StoreError> {
        let kind_name: &'static str = kind.into();
        self.log
            .claim_owner(kind_name, &self.claims.hash(kind, normalized_value))
            .await
    }

    /// Folds a stream, up to `until_position` if given (its state as of then).
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn load<A: Aggregate>(
        &self,
        stream_id: &str,
        until_position: Option<u64>,
    ) -> Result<Loaded<A>, CommandError<A::Error>> {
        let records = match until_position {
            Some(position) => self.log.read_stream_until(stream_id, position).await?,
            None => self.log.read_stream(stream_id).await?,
        };
        let mut state = A::State::default();
        let mut history = Vec::with_capacity(records.len());
        let mut version = 0;
        for record in records {
            same_kind::<A>(&record)?;
            let event = A::Event::from_payload(&record.event_type, record.payload.clone())
                .map_err(|error| CommandError::Corrupt {
                    position: record.global_position,
                    message: error.to_string(),
                })?;
            state = A::evolve(state, &event);
            version = record.stream_version;
            history.push((record, event));
        }
        Ok(Loaded {
            state,
            version,
            history,
        })
    }

    /// Folds a stream up to a past point: every event up to `at_position` if given, and
    /// recorded at or before `as_of` if given. Says which event it stopped at.
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn load_as_of<A: Aggregate>(
        &self,
        stream_id: &str,
        at_position: Option<u64>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<AsOf<A>, CommandError<A::Error>> {
        let loaded = self.load::<A>(stream_id, at_position).await?;
        let mut past = AsOf {
            state: A::State::default(),
            version: 0,
            last_event: None,
        };
        for (record, event) in &loaded.history {
            if as_of.is_some_and(|as_of| record.recorded_at > as_of) {
                break;
            }
            past.state = A::evolve(past.state, event);
            past.version = record.stream_version;
            past.last_event = Some((record.global_position, record.recorded_at));
        }
        Ok(past)
    }

    /// Decides `command` on the stream and appends the events.
    #[tracing::instrument(skip_all, fields(stream_type = A::STREAM_TYPE, stream_id = %stream_id, command = ?std::mem::discriminant(&command)))]
    pub async fn execute<A: Aggregate>(
        &self,
        stream_id: &str,
        command: A::Command,
        context: CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        self.decide_and_append(stream_id, None, command, context)
            .await
    }

    /// Like [`Self::execute`], deciding first on a state the caller has just loaded (saving a
    /// read); a lost race reloads and decides again as usual. `version` 0 means no stream yet.
    #[tracing::instrument(skip_all, fields(stream_type = A::STREAM_TYPE, stream_id = %stream_id, command = ?std::mem::discriminant(&command)))]
    pub async fn execute_on<A: Aggregate>(
        &self,
        stream_id: &str,
        state: A::State,
        version: u64,
        command: A::Command,
        context: CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let known = Current { state, version };
        self.decide_and_append(stream_id, Some(known), command, context)
            .await
    }

    async fn decide_and_append<A: Aggregate>(
        &self,
        stream_id: &str,
        known: Option<Current<A>>,
        command: A::Command,
        context: CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        if let Some(key) = &context.idempotency
            && let Some(record) = self.log.idempotency_record(&key.key).await?
        {
            if record.fingerprint != key.fingerprint {
                return Err(CommandError::IdempotencyKeyReused);
            }
            return self
                .replay(
                    &record.stream_id,
                    record.first_position,
                    record.last_position,
                )
                .await;
        }
        let mut attempt = 0;
        // The first decision may be on a state from memory (the caller's, or as followed): the
        // append's version check catches one that is out of date. Refusals, If-Match conflicts
        // and "nothing to do" are only answered on a state read just now.
        let mut next: Option<(Current<A>, bool)> = known.map(|given| (given, false));
        loop {
            let (loaded, read_now) = match next.take() {
                Some(given) => given,
                None if attempt == 0 => self.followed_or_read::<A>(stream_id).await?,
                None => (self.current::<A>(stream_id).await?, true),
            };
            let decided = match context.expected_version {
                Some(expected) if expected != loaded.version => Err(CommandError::Conflict {
                    expected,
                    actual: loaded.version,
                }),
                _ => A::decide(&loaded.state, command.clone()).map_err(CommandError::Rejected),
            };
            let events = match decided {
                Ok(events) if !events.is_empty() => events,
                _ if !read_now => {
                    next = Some((self.current::<A>(stream_id).await?, true));
                    continue;
                }
                Ok(events) => {
                    return Ok(Executed {
                        state: loaded.state,
                        events,
                        stream_version: loaded.version,
                        position: None,
                        replayed: false,
                    });
                }
                Err(error) => return Err(error),
            };
            let request = self.append_request::<A>(stream_id, &loaded, &events, &context)?;
            match self.log.append(request).await {
                Ok(appended) if appended.replayed => {
                    // A racing retry with the same key got there first.
                    return self
                        .replay(stream_id, appended.first_position, appended.last_position)
                        .await;
                }
                Ok(appended) => {
                    let state = events.iter().fold(loaded.state, A::evolve);
                    self.cache.put::<A>(
                        stream_id,
                        &state,
                        appended.stream_version,
                        appended.last_position,
                    );
                    return Ok(Executed {
                        state,
                        events,
                        stream_version: appended.stream_version,
                        position: Some(appended.last_position),
                        replayed: false,
                    });
                }
                Err(AppendError::WrongExpectedVersion { actual, .. }) => {
                    if context.expected_version.is_some() || attempt >= self.max_retries {
                        return Err(CommandError::Conflict {
                            expected: loaded.version,
                            actual,
                        });
                    }
                    attempt += 1;
                    tracing::debug!(attempt, actual, "lost a race; deciding again");
                }
                // Claims are checked before versions: one decided on an older state than the
                // stream's is decided again before it is refused.
                Err(AppendError::DuplicateClaim { .. }) if !read_now => {
                    next = Some((self.current::<A>(stream_id).await?, true));
                }
                Err(AppendError::DuplicateClaim { kind }) => {
                    return Err(CommandError::Duplicate { kind });
                }
                Err(AppendError::IdempotencyKeyReused) => {
                    return Err(CommandError::IdempotencyKeyReused);
                }
                Err(AppendError::Invalid(message)) => return Err(CommandError::Invalid(message)),
                Err(AppendError::Store(error)) => return Err(CommandError::Store(error)),
            }
        }
    }

    fn append_request<A: Aggregate>(
        &self,
        stream_id: &str,
        loaded: &Current<A>,
        events: &[A::Event],
        context: &CommandContext,
    ) -> Result<AppendRequest, CommandError<A::Error>> {
        let new_events = events
            .iter()
            .map(|event| {
                Ok(NewEvent {
                    event_type: event.event_type().to_owned(),
                    schema_version: event.schema_version(),
                    payload: event
                        .to_payload()
                        .map_err(|e| CommandError::Invalid(e.to_string()))?,
                    personal_fields: event
                        .personal_fields()
                        .iter()
                        .map(|p| (*p).to_owned())
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, CommandError<A::Error>>>()?;
        let claims = A::claims(&loaded.state, events)
            .into_iter()
            .map(|change| Claim {
                kind: <&'static str>::from(change.kind).to_owned(),
                value_hash: self.claims.hash(change.kind, &change.value),
                take: change.action == ClaimAction::Take,
            })
            .collect();
        Ok(AppendRequest {
            stream_id: stream_id.to_owned(),
            stream_type: A::STREAM_TYPE.to_owned(),
            expected_version: if loaded.version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(loaded.version)
            },
            events: new_events,
            metadata: context.metadata.clone(),
            data_subject: Some(
                context
                    .data_subject
                    .clone()
                    .unwrap_or_else(|| stream_id.to_owned()),
            ),
            forget_data_subject: events.iter().any(DomainEvent::forgets_data_subject),
            claims,
            idempotency: context.idempotency.clone(),
        })
    }

    /// The result of an earlier append, rebuilt from the log.
    async fn replay<A: Aggregate>(
        &self,
        stream_id: &str,
        first_position: u64,
        last_position: u64,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        let loaded = self.load::<A>(stream_id, Some(last_position)).await?;
        let events = loaded
            .history
            .iter()
            .filter(|(record, _)| record.global_position >= first_position)
            .map(|(_, event)| event.clone())
            .collect();
        Ok(Executed {
            state: loaded.state,
            events,
            stream_version: loaded.version,
            position: Some(last_position),
            replayed: true,
        })
    }
}
