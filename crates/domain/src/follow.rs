//! Following one stream's events from a seq on, with no gap and no duplicate.
//!
//! The live feed is at most once (pub/sub, a lagging broadcast), the event log is complete but
//! bounded. [`follow`] combines them: it subscribes first (so nothing slips between backfill
//! and live), replays the log after `after_seq`, then passes live events through, filling any
//! seq gap from the log and dropping anything already delivered. If the log no longer holds
//! the position asked for, the follower says so ([`FollowError::ResyncRequired`]) instead of
//! silently skipping events.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::stream::{self, Stream, StreamExt};

use crate::event::StreamEvent;
use crate::ports::{EventFeed, EventLog, StoreError};
use crate::values::StreamId;

/// Events read from the log per round trip while backfilling.
const BACKFILL_PAGE: usize = 500;

/// Why a follower stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// Events after the requested seq are no longer in the log (trimmed, or the store lost its
    /// data): the client must reload the state and follow from its current seq.
    #[error("events after seq {after_seq} are no longer available; reload the state")]
    ResyncRequired {
        /// The seq the follower could not continue from.
        after_seq: u64,
    },
    /// The store failed while backfilling.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Follower {
    log: Arc<dyn EventLog>,
    feed: EventFeed,
    stream: StreamId,
    last: u64,
    pending: VecDeque<StreamEvent>,
    caught_up: bool,
    failed: bool,
}

/// The events of `stream` with seq above `after_seq`, in order, without gaps or duplicates,
/// first from the log, then live. The stream ends after yielding an error.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use futures_util::StreamExt;
/// use orchestrator_domain::follow::follow;
/// use orchestrator_domain::ports::EventLog;
/// use orchestrator_domain::values::StreamId;
///
/// async fn watch(log: Arc<dyn EventLog>, stream: StreamId, last_seen: u64) {
///     let mut events = std::pin::pin!(follow(log, stream, last_seen));
///     while let Some(Ok(event)) = events.next().await {
///         println!("{} {}", event.seq, event.kind); // last_seen + 1, + 2, … never a gap
///     }
/// }
/// ```
pub fn follow(
    log: Arc<dyn EventLog>,
    stream: StreamId,
    after_seq: u64,
) -> impl Stream<Item = Result<StreamEvent, FollowError>> + Send {
    // Subscribed before the first read, so an event appended during the backfill is either
    // in what the backfill reads or arrives on the feed (and is deduplicated by seq).
    let feed = log.subscribe();
    let follower = Follower {
        log,
        feed,
        stream,
        last: after_seq,
        pending: VecDeque::new(),
        caught_up: false,
        failed: false,
    };
    stream::unfold(follower, |mut follower| async move {
        if follower.failed {
            return None;
        }
        let item = follower.next().await?;
        follower.failed = item.is_err();
        Some((item, follower))
    })
}

impl Follower {
    async fn next(&mut self) -> Option<Result<StreamEvent, FollowError>> {
        if !self.caught_up {
            self.caught_up = true;
            if let Err(err) = self.backfill(None).await {
                return Some(Err(err));
            }
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.seq;
                return Some(Ok(event));
            }
            let live = self.feed.next().await?;
            if live.stream_id != self.stream || live.seq <= self.last {
                continue;
            }
            if live.seq == self.last + 1 {
                self.last = live.seq;
                return Some(Ok(live));
            }
            // A gap: the feed lost something. The log has it.
            if let Err(err) = self.backfill(Some(live.seq)).await {
                return Some(Err(err));
            }
        }
    }

    /// Queues the log's events after `last` (up to `until`, or all of them).
    async fn backfill(&mut self, until: Option<u64>) -> Result<(), FollowError> {
        let mut cursor = self.pending.back().map_or(self.last, |e| e.seq);
        loop {
            let page = self
                .log
                .read_after(self.stream, cursor, BACKFILL_PAGE)
                .await?;
            let Some(first) = page.first() else {
                return Ok(());
            };
            if first.seq != cursor + 1 {
                return Err(FollowError::ResyncRequired { after_seq: cursor });
            }
            let full = page.len() == BACKFILL_PAGE;
            for event in page {
                if until.is_some_and(|until| event.seq > until) {
                    return Ok(());
                }
                cursor = event.seq;
                self.pending.push_back(event);
            }
            if !full || until.is_some_and(|until| cursor >= until) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::Utc;
    use tokio::sync::mpsc;
    use uuid::Uuid;

    use super::*;
    use crate::event::EventType;

    /// A log holding `kept` events, with a live feed the test pushes into by hand.
    struct FakeLog {
        kept: Mutex<Vec<StreamEvent>>,
        feed: Mutex<Option<mpsc::UnboundedReceiver<StreamEvent>>>,
    }

    #[async_trait]
    impl EventLog for FakeLog {
        async fn read_after(
            &self,
            _: StreamId,
            after_seq: u64,
            limit: usize,
        ) -> Result<Vec<StreamEvent>, StoreError> {
            let kept = self.kept.lock().unwrap();
            Ok(kept
                .iter()
                .filter(|e| e.seq > after_seq)
                .take(limit)
                .cloned()
                .collect())
        }

        fn subscribe(&self) -> EventFeed {
            let rx = self.feed.lock().unwrap().take().expect("one subscriber");
            Box::pin(stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|e| (e, rx))
            }))
        }

        async fn epoch(&self) -> Result<String, StoreError> {
            Ok("e".into())
        }
    }

    fn event(stream: StreamId, seq: u64) -> StreamEvent {
        StreamEvent {
            id: Uuid::new_v4(),
            seq,
            kind: EventType::StreamUpdated,
            stream_id: stream,
            timestamp: Utc::now(),
            data: serde_json::Value::Null,
            instance_id: "test".into(),
        }
    }

    fn setup(kept: &[u64]) -> (Arc<FakeLog>, mpsc::UnboundedSender<StreamEvent>, StreamId) {
        let stream = StreamId::from_uuid(Uuid::new_v4());
        let (tx, rx) = mpsc::unbounded_channel();
        let log = Arc::new(FakeLog {
            kept: Mutex::new(kept.iter().map(|s| event(stream, *s)).collect()),
            feed: Mutex::new(Some(rx)),
        });
        (log, tx, stream)
    }

    async fn take(
        follower: impl Stream<Item = Result<StreamEvent, FollowError>>,
        n: usize,
    ) -> Vec<Result<u64, FollowError>> {
        let items = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            follower.take(n).collect::<Vec<_>>(),
        )
        .await
        .expect("within 5 s");
        items.into_iter().map(|r| r.map(|e| e.seq)).collect()
    }

    #[tokio::test]
    async fn replays_the_log_after_the_seq_then_continues_live_without_duplicates() {
        let (log, live, stream) = setup(&[1, 2, 3]);
        live.send(event(stream, 3)).unwrap(); // already replayed from the log
        live.send(event(stream, 4)).unwrap();

        let seqs = take(follow(log, stream, 1), 3).await;

        assert_eq!(seqs, [Ok(2), Ok(3), Ok(4)]);
    }

    #[tokio::test]
    async fn a_gap_in_the_live_feed_is_filled_from_the_log() {
        let (log, live, stream) = setup(&[1]);
        let follower = follow(log.clone(), stream, 1);
        log.kept
            .lock()
            .unwrap()
            .extend([event(stream, 2), event(stream, 3)]);
        live.send(event(stream, 3)).unwrap(); // 2 was lost by the feed

        assert_eq!(take(follower, 2).await, [Ok(2), Ok(3)]);
    }

    #[tokio::test]
    async fn other_streams_events_are_ignored() {
        let (log, live, stream) = setup(&[]);
        live.send(event(StreamId::from_uuid(Uuid::new_v4()), 1))
            .unwrap();
        live.send(event(stream, 1)).unwrap();

        assert_eq!(take(follow(log, stream, 0), 1).await, [Ok(1)]);
    }

    #[tokio::test]
    async fn a_position_the_log_no_longer_holds_requires_a_resync() {
        let (log, _live, stream) = setup(&[5, 6]);

        let items = take(follow(log, stream, 2), 2).await;

        assert_eq!(items, [Err(FollowError::ResyncRequired { after_seq: 2 })]);
    }
}
