//! Application services: one generic command handler for every aggregate.
//!
//! `execute` loads the stream (folding its events), lets the pure domain decide, hashes the
//! unique values the events claim, and appends with the version it loaded. If another writer got
//! there first it decides again on the new state (bounded), unless the caller pinned the version
//! it saw (`If-Match`), in which case the conflict is the caller's to resolve.

mod claims;
mod reader;
pub mod tokens;
mod turns;

pub use claims::ClaimHasher;
pub use reader::{AsOf, Current, DEFAULT_CACHED_STREAMS, Loaded, StateReader};

use domain::{Aggregate, ClaimAction, ClaimKind, DomainEvent};
use eventstore::{
    AppendError, AppendRequest, Appended, Claim, EventLog, EventMetadata, ExpectedVersion,
    IdempotencyKey, NewEvent, StoreError,
};

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

/// Runs commands against the log.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    reader: StateReader,
    claims: ClaimHasher,
    max_retries: usize,
    turns: std::sync::Arc<turns::StreamTurns>,
}

impl CommandHandler {
    /// A handler appending to `log`, hashing claims with `claims`.
    pub fn new(log: EventLog, claims: ClaimHasher) -> Self {
        Self {
            reader: StateReader::new(log, DEFAULT_CACHED_STREAMS),
            claims,
            max_retries: DEFAULT_MAX_RETRIES,
            turns: Default::default(),
        }
    }

    /// Sets how many streams' folded states are kept in memory.
    pub fn with_cached_streams(mut self, streams: usize) -> Self {
        self.reader = StateReader::new(self.reader.log().clone(), streams);
        self
    }

    /// Reads states and runs no commands: for components that only read (workers). Shares this
    /// handler's cache, which its appends keep current.
    pub fn reader(&self) -> StateReader {
        self.reader.clone()
    }

    /// A stream's state now: see [`StateReader::current`].
    pub async fn current<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        self.reader.current::<A>(stream_id).await
    }

    /// A stream's state as this process has followed the log: see [`StateReader::followed`].
    pub async fn followed<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        self.reader.followed::<A>(stream_id).await
    }

    /// A singleton stream's state as this process has followed the log: see
    /// [`StateReader::followed_singleton`].
    pub async fn followed_singleton<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        self.reader.followed_singleton::<A>(stream_id).await
    }

    /// Sets how often a command is decided again after losing a race.
    pub fn with_max_retries(mut self, max_retries: usize) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The log.
    pub fn log(&self) -> &EventLog {
        self.reader.log()
    }

    /// The stream that owns a unique value (e.g. the user with an email), if any.
    pub async fn find_owner(
        &self,
        kind: ClaimKind,
        normalized_value: &str,
    ) -> Result<Option<String>, StoreError> {
        let kind_name: &'static str = kind.into();
        self.log()
            .claim_owner(kind_name, &self.claims.hash(kind, normalized_value))
            .await
    }

    /// Folds a stream, up to `until_position` if given: see [`StateReader::load`].
    pub async fn load<A: Aggregate>(
        &self,
        stream_id: &str,
        until_position: Option<u64>,
    ) -> Result<Loaded<A>, CommandError<A::Error>> {
        self.reader.load::<A>(stream_id, until_position).await
    }

    /// Folds a stream up to a past point: see [`StateReader::load_as_of`].
    pub async fn load_as_of<A: Aggregate>(
        &self,
        stream_id: &str,
        at_position: Option<u64>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<AsOf<A>, CommandError<A::Error>> {
        self.reader
            .load_as_of::<A>(stream_id, at_position, as_of)
            .await
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

    /// Appends `event` to a stream that is only ever appended to, never folded (what an API key
    /// did), whatever the stream's version.
    #[tracing::instrument(skip_all, fields(stream_type, stream_id = %stream_id, event = event.event_type()))]
    pub async fn record<E: DomainEvent>(
        &self,
        stream_id: &str,
        stream_type: &str,
        event: &E,
        context: CommandContext,
    ) -> Result<Appended, AppendError> {
        let event = new_event(event).map_err(|e| AppendError::Invalid(e.to_string()))?;
        self.log()
            .append(AppendRequest {
                idempotency: context
                    .idempotency
                    .map(|key| scoped(key, &context.metadata.actor)),
                metadata: context.metadata,
                data_subject: context.data_subject,
                ..AppendRequest::new(stream_id, stream_type, ExpectedVersion::Any, vec![event])
            })
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
        let context = CommandContext {
            idempotency: context
                .idempotency
                .map(|key| scoped(key, &context.metadata.actor)),
            ..context
        };
        // One command at a time per stream in this process (see `turns`), taken before the
        // idempotency key is looked up: a retry racing its first request waits for it, then
        // finds its record and answers as it did.
        let _turn = self.turns.take(stream_id).await;
        if let Some(key) = &context.idempotency
            && let Some(record) = self.log().idempotency_record(&key.key).await?
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
                None if attempt == 0 => self.reader.followed_or_read::<A>(stream_id).await?,
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
            match self.log().append(request).await {
                Ok(appended) if appended.replayed => {
                    // A racing retry with the same key got there first.
                    return self
                        .replay(stream_id, appended.first_position, appended.last_position)
                        .await;
                }
                Ok(appended) => {
                    let state = events.iter().fold(loaded.state, A::evolve);
                    self.reader.cache.put::<A>(
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
            .map(new_event)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CommandError::Invalid(e.to_string()))?;
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

/// An event as the log takes it.
fn new_event<E: DomainEvent>(event: &E) -> Result<NewEvent, serde_json::Error> {
    Ok(NewEvent {
        event_type: event.event_type().to_owned(),
        schema_version: event.schema_version(),
        payload: event.to_payload()?,
        personal_fields: event
            .personal_fields()
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
    })
}

/// The longest idempotency key the log stores.
const MAX_STORED_KEY: usize = 200;

/// A client's idempotency key as the log keeps it: scoped to whoever acts, so that one caller's
/// key can neither replay nor block another's. A client may send up to 255 characters
/// ([`IdempotencyKey::client_key`]); a scoped key too long to store is stored as its SHA-256.
fn scoped(key: IdempotencyKey, actor: &eventstore::Actor) -> IdempotencyKey {
    use sha2::Digest;
    let scoped = format!("{}\u{1f}{}", actor.id.as_deref().unwrap_or("-"), key.key);
    IdempotencyKey {
        key: if scoped.len() <= MAX_STORED_KEY {
            scoped
        } else {
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(scoped)))
        },
        fingerprint: key.fingerprint,
    }
}
