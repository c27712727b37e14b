//! Reading aggregates' states: streams folded from the log, with a cache of folded states kept
//! true by following the log's changes. A [`StateReader`] reads and never writes: what workers
//! hold. The command handler reads through one too, and hands out clones of it
//! ([`crate::CommandHandler::reader`]).

use crate::CommandError;
use domain::{Aggregate, DomainEvent};
use eventstore::{ChangeObserver, EventLog, RecordedEvent, StreamChange};
use lru::LruCache;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

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
pub(crate) struct StateCache {
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
    pub(crate) fn put<A: Aggregate>(
        &self,
        stream_id: &str,
        state: &A::State,
        version: u64,
        as_of: u64,
    ) {
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

/// Reads streams' states from the log, through a cache of folded states. Cheap to clone: clones
/// share the cache.
#[derive(Debug, Clone)]
pub struct StateReader {
    log: EventLog,
    pub(crate) cache: StateCache,
}

impl StateReader {
    /// A reader of `log` keeping up to `cached_streams` streams' folded states in memory.
    pub(crate) fn new(log: EventLog, cached_streams: usize) -> Self {
        Self {
            cache: StateCache::new(cached_streams, &log),
            log,
        }
    }

    /// The log.
    pub(crate) fn log(&self) -> &EventLog {
        &self.log
    }

    /// A stream's state now: the cached fold brought up to date with the events appended since
    /// (all of them the first time).
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn current<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        self.read_current::<A>(stream_id, false).await
    }

    /// As [`Self::current`]; with `keep_absent`, a stream that does not exist is cached too.
    async fn read_current<A: Aggregate>(
        &self,
        stream_id: &str,
        keep_absent: bool,
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
        if version > 0 || keep_absent {
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

    /// As [`Self::followed`], for a stream that stands for something every request of a kind
    /// reads (the IP block list): its absence is kept in memory too, so that an installation
    /// that never began the stream does not read it on each of those requests. (Other streams'
    /// absence is not kept: ids from requests would fill the cache with streams that never
    /// come to be.)
    #[tracing::instrument(skip(self), fields(stream_type = A::STREAM_TYPE))]
    pub async fn followed_singleton<A: Aggregate>(
        &self,
        stream_id: &str,
    ) -> Result<Current<A>, CommandError<A::Error>> {
        if self.log.changes_caught_up()
            && let Some((state, version, true)) = self.cache.get::<A>(stream_id)
        {
            return Ok(Current { state, version });
        }
        self.read_current::<A>(stream_id, true).await
    }

    /// As [`Self::followed`]; true with the state when it was read from the log just now.
    pub(crate) async fn followed_or_read<A: Aggregate>(
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
}
