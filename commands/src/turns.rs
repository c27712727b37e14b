//! Commands on one stream take turns within a process: of many at once, each decides on the
//! state the one before it left, instead of all deciding on the same state and all but one
//! losing the append's version check and reading again. Across processes the version check
//! still decides (optimistic concurrency); within one, no work is thrown away, and a hot stream
//! (a wallet debited by many requests at once) never runs out of retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Past this many queues in the map, taking a turn first drops those nobody holds or waits on
/// (left by a waiter that gave up), so the map stays the size of the streams in use.
const SWEEP_ABOVE: usize = 1024;

/// The streams commands are running on in this process, each with its queue.
#[derive(Debug, Default)]
pub(crate) struct StreamTurns {
    queues: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// A stream's turn: the next command on it waits until this is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a StreamTurns,
    stream_id: String,
    queue: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl StreamTurns {
    /// Waits for `stream_id`'s turn.
    pub(crate) async fn take(&self, stream_id: &str) -> Turn<'_> {
        let queue = {
            let mut queues = self
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if queues.len() > SWEEP_ABOVE {
                queues.retain(|_, queue| queue.strong_count() > 0);
            }
            match queues.get(stream_id).and_then(Weak::upgrade) {
                Some(queue) => queue,
                None => {
                    let queue = Arc::new(tokio::sync::Mutex::new(()));
                    queues.insert(stream_id.to_owned(), Arc::downgrade(&queue));
                    queue
                }
            }
        };
        let held = Some(queue.clone().lock_owned().await);
        Turn {
            turns: self,
            stream_id: stream_id.to_owned(),
            queue,
            held,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queues.lock().map_or(0, |queues| queues.len())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queues = self
            .turns
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.held = None;
        // Only this turn holds the queue: nobody waits, so it goes. (A newcomer upgrades the
        // queue under the map's lock, which is held here.)
        if Arc::strong_count(&self.queue) == 1 {
            queues.remove(&self.stream_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_at_a_time_per_stream_and_no_queue_left_behind() {
        let turns = Arc::new(StreamTurns::default());
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (turns, running, most) = (turns.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = turns.take("wallet-1").await;
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        // Another stream's turn is not held up.
        let other = turns.take("wallet-2").await;
        drop(other);
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(turns.len(), 0);
    }
}
