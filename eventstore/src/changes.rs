//! Which streams changed, in log order: what a cache of folded streams needs to stay true
//! without reading the log on every use.
//!
//! This process's appends are told as they commit (before their callers hear back); other
//! processes' are read (positions, stream ids and versions only) once their wake-up arrives:
//! `NOTIFY` on PostgreSQL, a poll of the head on SQLite. [`ChangeFeed::through`] says how far
//! the observers have been told; compared with the head this process knows of, it says whether
//! a cached state can be trusted without a read.

use crate::error::StoreError;
use crate::storage::LogStorage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// How many changes the follower reads at a time.
const READ_CHANGES: usize = 1000;

/// How often the head is read for appends that sent no wake-up: every append on SQLite (no
/// cross-process notification), and on PostgreSQL any whose notification was lost.
pub(crate) const HEAD_POLL: Duration = Duration::from_millis(100);

/// A stream's new version, at the log position of the event that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChange {
    /// The event's position.
    pub position: u64,
    /// The stream.
    pub stream_id: String,
    /// The stream's version after the event.
    pub stream_version: u64,
}

/// Told of every stream change, once each, in log order.
pub trait ChangeObserver: Send + Sync {
    /// `changes` follow those of the previous call without a gap. Called with the feed locked
    /// and on the appender's path: keep it short and never block.
    fn changed(&self, changes: &[StreamChange]);
}

#[derive(Default)]
struct Observers {
    observers: Vec<Weak<dyn ChangeObserver>>,
}

/// The log's changes, handed to observers in order.
pub(crate) struct ChangeFeed {
    observers: Mutex<Observers>,
    /// Every change up to here has been handed on.
    through: AtomicU64,
    /// The commit this process's appender has under way, as (the head it expects, its last
    /// position): a wake-up up to its last position is its own commit, which it hands on
    /// itself, so the follower need not read it, provided nothing else is missing before it.
    committing: Mutex<Option<(u64, u64)>>,
    /// Told when a commit settled (handed on, or failed).
    settled: tokio::sync::Notify,
}

/// While alive, says that this process is committing up to a position.
pub(crate) struct Committing<'a>(&'a ChangeFeed);

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        if let Ok(mut committing) = self.0.committing.lock() {
            *committing = None;
        }
        // A permit is kept if the follower is not waiting yet: it cannot miss this.
        self.0.settled.notify_one();
    }
}

impl ChangeFeed {
    pub(crate) fn new(head: u64) -> Self {
        Self {
            observers: Mutex::new(Observers::default()),
            through: AtomicU64::new(head),
            committing: Mutex::new(None),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Marks a commit of this process, after the head `after` up to `last`, as under way until
    /// the result is dropped (after its changes were handed on, or it failed).
    pub(crate) fn committing(&self, after: u64, last: u64) -> Committing<'_> {
        if let Ok(mut committing) = self.committing.lock() {
            *committing = Some((after, last));
        }
        Committing(self)
    }

    /// Whether a wake-up for `head` is this process's own commit under way, which will hand on
    /// everything up to `head` once it commits: it starts where the feed is (no other
    /// process's appends before it) and reaches `head`.
    fn own_commit_covers(&self, head: u64, through: u64) -> bool {
        self.committing
            .lock()
            .ok()
            .and_then(|committing| *committing)
            .is_some_and(|(after, last)| after <= through && head <= last)
    }

    pub(crate) fn through(&self) -> u64 {
        self.through.load(Ordering::Acquire)
    }

    /// Adds an observer; it hears of changes after [`Self::through`] at the time of the call.
    /// Held weakly: dropping it unsubscribes.
    pub(crate) fn observe(&self, observer: &Arc<dyn ChangeObserver>) {
        if let Ok(mut guard) = self.observers.lock() {
            guard.observers.push(Arc::downgrade(observer));
        }
    }

    /// Hands on the `changes` read after position `after`, up to `last`, if they join what was
    /// handed on so far (those already handed on are skipped). Returns false, and hands on
    /// nothing, when they leave a gap: the follower reads the gap and these from the log.
    pub(crate) fn publish(&self, after: u64, last: u64, changes: &[StreamChange]) -> bool {
        let Ok(mut guard) = self.observers.lock() else {
            return false;
        };
        let through = self.through();
        if after > through {
            return false;
        }
        if last <= through {
            return true;
        }
        let new = &changes[changes.partition_point(|change| change.position <= through)..];
        guard.observers.retain(|observer| match observer.upgrade() {
            Some(observer) => {
                if !new.is_empty() {
                    observer.changed(new);
                }
                true
            }
            None => false,
        });
        self.through.store(last, Ordering::Release);
        true
    }

    /// Follows other processes' appends: whenever the known head is ahead of what was handed
    /// on, reads the changes in between. Reads the head itself every [`HEAD_POLL`].
    pub(crate) fn follow(
        self: Arc<Self>,
        storage: Arc<dyn LogStorage>,
        head_tx: watch::Sender<u64>,
    ) -> AbortHandle {
        tokio::spawn(async move {
            let mut head_rx = head_tx.subscribe();
            let mut outage = Outage::default();
            loop {
                let head = *head_rx.borrow_and_update();
                let through = self.through();
                // A wake-up by this process's own commit, whose answer is on its way: the
                // appender hands it on (or, if it failed, wakes this loop to read).
                if through < head && !self.own_commit_covers(head, through) {
                    match storage.stream_changes_after(through, READ_CHANGES).await {
                        Ok(changes) => {
                            outage.over();
                            if let Some(last) = changes.last().map(|change| change.position) {
                                self.publish(through, last, &changes);
                                continue;
                            }
                        }
                        Err(error) => outage.failed(&error),
                    }
                }
                tokio::select! {
                    _ = head_rx.changed() => {}
                    () = self.settled.notified() => {}
                    () = tokio::time::sleep(HEAD_POLL) => {
                        match storage.head().await {
                            Ok(stored) => {
                                outage.over();
                                head_tx.send_if_modified(|seen| {
                                    let advanced = stored.position > *seen;
                                    *seen = (*seen).max(stored.position);
                                    advanced
                                });
                            }
                            Err(error) => outage.failed(&error),
                        }
                    }
                }
            }
        })
        .abort_handle()
    }
}

/// Whether the database answers the follower: a warning when it stops, not every poll.
#[derive(Default)]
struct Outage {
    failing: bool,
}

impl Outage {
    fn failed(&mut self, error: &StoreError) {
        if self.failing {
            tracing::debug!(%error, "still cannot follow the log's changes");
        } else {
            tracing::warn!(%error, "cannot follow the log's changes; retrying");
        }
        self.failing = true;
    }

    fn over(&mut self) {
        if self.failing {
            tracing::info!("following the log's changes again");
        }
        self.failing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl ChangeObserver for Recorder {
        fn changed(&self, changes: &[StreamChange]) {
            if let Ok(mut seen) = self.0.lock() {
                seen.extend(changes.iter().map(|change| change.position));
            }
        }
    }

    fn change(position: u64) -> StreamChange {
        StreamChange {
            position,
            stream_id: format!("s{position}"),
            stream_version: 1,
        }
    }

    #[test]
    fn changes_are_handed_on_once_in_order_and_never_across_a_gap() {
        let feed = ChangeFeed::new(10);
        let recorder = Arc::new(Recorder::default());
        let observer: Arc<dyn ChangeObserver> = recorder.clone();
        feed.observe(&observer);
        // 11 and 12 are someone else's: ours at 13 must wait for them.
        assert!(!feed.publish(12, 13, &[change(13)]));
        assert_eq!(feed.through(), 10);
        // The follower reads 11 to 13; then ours at 12-13 arrive again late, and 14 joins.
        assert!(feed.publish(10, 13, &[change(11), change(12), change(13)]));
        assert!(feed.publish(11, 13, &[change(12), change(13)]));
        assert!(feed.publish(13, 14, &[change(14)]));
        assert_eq!(feed.through(), 14);
        assert_eq!(*recorder.0.lock().expect("lock"), vec![11, 12, 13, 14]);
        // A dropped observer is forgotten.
        drop(observer);
        drop(recorder);
        assert!(feed.publish(14, 15, &[change(15)]));
        assert!(feed.observers.lock().expect("lock").observers.is_empty());
    }

    #[test]
    fn a_wake_up_is_left_to_our_commit_only_when_that_commit_joins_the_feed_and_reaches_it() {
        let feed = ChangeFeed::new(10);
        let ours = feed.committing(10, 13);
        assert!(feed.own_commit_covers(12, 10));
        assert!(feed.own_commit_covers(13, 10));
        // Someone else appended past our batch: read it.
        assert!(!feed.own_commit_covers(14, 10));
        drop(ours);
        assert!(!feed.own_commit_covers(12, 10));
        // Our batch expects a head that the feed has not reached (another process's appends
        // came first): our commit would not join, so the follower must read.
        let _ours = feed.committing(12, 15);
        assert!(!feed.own_commit_covers(14, 10));
        assert!(feed.own_commit_covers(14, 12));
    }
}
