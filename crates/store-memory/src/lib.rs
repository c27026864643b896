//! In-memory implementations of the orchestrator's storage ports: the embedded default (no
//! `REDIS_URL`) and the fast backend of tests.
//!
//! One process owns the data, so atomicity comes from a mutex held for the few microseconds of
//! each change (never across an `.await`), and live fan-out from a tokio broadcast channel.
//! Everything is lost when the process exits; stopped streams are kept until then.
//!
//! # Layout
//!
//! - [`MemoryStore`]: implements [`StreamRepository`] and [`EventLog`].
//! - `Inner` (private): the maps behind the mutex, with an insertion-ordered index for
//!   cursor pagination and a room-name index for uniqueness among streams that are not stopped.

pub mod coordination;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::ports::{
    ApplyError, EventFeed, EventLog, InsertError, ListError, ListQuery, Page, StoreError,
    StreamRepository,
};
use domain::{Applied, Change, ChangeContext, Cursor, RoomName, Stream, StreamEvent, StreamId};
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Tuning of a [`MemoryStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// Events kept per stream; older ones are dropped (a resume from before them must resync).
    pub max_events_per_stream: usize,
    /// Events buffered for a live subscriber before it starts missing some (it then backfills
    /// from the log by seq).
    pub feed_capacity: usize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            max_events_per_stream: 10_000,
            feed_capacity: 4096,
        }
    }
}

/// Streams and event logs in process memory. Cheap to clone; clones share the data.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    /// Memory is lost only with the process, so one epoch per store is exact.
    epoch: Arc<str>,
    feed: broadcast::Sender<StreamEvent>,
    config: MemoryStoreConfig,
}

#[derive(Debug, Default)]
struct Inner {
    streams: HashMap<StreamId, Stored>,
    /// Insertion order → id: the listing order and what cursors point into.
    order: BTreeMap<u64, StreamId>,
    next_ordinal: u64,
    /// Room name → the stream that is not stopped and uses it.
    live_rooms: HashMap<RoomName, StreamId>,
}

#[derive(Debug)]
struct Stored {
    stream: Stream,
    events: VecDeque<StreamEvent>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(MemoryStoreConfig::default())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new(config: MemoryStoreConfig) -> Self {
        let (feed, _) = broadcast::channel(config.feed_capacity.max(1));
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            epoch: uuid::Uuid::new_v4().to_string().into(),
            feed,
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change: every change is
        // computed on a copy and swapped in at the end. So a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, event: StreamEvent) {
        // No subscriber is not an error: the event is in the log.
        let _ = self.feed.send(event);
    }

    fn append(&self, stored: &mut Stored, event: StreamEvent) {
        if stored.events.len() >= self.config.max_events_per_stream {
            stored.events.pop_front();
        }
        stored.events.push_back(event);
    }
}

fn cursor_for(ordinal: u64) -> Cursor {
    Cursor::new(format!("m{ordinal}"))
}

fn parse_cursor(cursor: &Cursor) -> Result<u64, ListError> {
    cursor
        .as_str()
        .strip_prefix('m')
        .and_then(|n| n.parse().ok())
        .ok_or(ListError::InvalidCursor)
}

#[async_trait]
impl StreamRepository for MemoryStore {
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        {
            let mut inner = self.lock();
            if inner.streams.contains_key(&stream.id) {
                return Err(InsertError::DuplicateId(stream.id));
            }
            if !stream.is_stopped() {
                if inner.live_rooms.contains_key(&stream.room_name) {
                    return Err(InsertError::RoomNameTaken(stream.room_name));
                }
                inner.live_rooms.insert(stream.room_name.clone(), stream.id);
            }
            let ordinal = inner.next_ordinal;
            inner.next_ordinal += 1;
            inner.order.insert(ordinal, stream.id);
            let mut stored = Stored {
                stream,
                events: VecDeque::new(),
            };
            self.append(&mut stored, event.clone());
            inner.streams.insert(stored.stream.id, stored);
            // Published under the lock so subscribers see each stream's events in seq order.
            self.publish(event);
        }
        Ok(())
    }

    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().streams.get(&id).map(|s| s.stream.clone()))
    }

    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .live_rooms
            .get(room)
            .and_then(|id| inner.streams.get(id))
            .map(|s| s.stream.clone()))
    }

    async fn list(&self, query: ListQuery) -> Result<Page, ListError> {
        let start = match &query.after {
            Some(cursor) => parse_cursor(cursor)?.saturating_add(1),
            None => 0,
        };
        let inner = self.lock();
        let mut matching = inner
            .order
            .range(start..)
            .filter_map(|(ordinal, id)| inner.streams.get(id).map(|s| (*ordinal, &s.stream)))
            .filter(|(_, stream)| query.status.is_none_or(|status| stream.status == status));
        let mut items = Vec::with_capacity(query.limit.min(1024));
        let mut last = None;
        for (ordinal, stream) in matching.by_ref().take(query.limit) {
            items.push(stream.clone());
            last = Some(ordinal);
        }
        let next = match (last, matching.next()) {
            (Some(ordinal), Some(_)) => Some(cursor_for(ordinal)),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn apply(
        &self,
        id: StreamId,
        change: Change,
        ctx: ChangeContext,
    ) -> Result<Applied, ApplyError> {
        let mut inner = self.lock();
        let stored = inner.streams.get_mut(&id).ok_or(ApplyError::NotFound)?;
        let applied = stored.stream.apply(&change, &ctx)?;
        let Some(event) = applied.event.clone() else {
            return Ok(applied);
        };
        let was_stopped = stored.stream.is_stopped();
        stored.stream = applied.stream.clone();
        self.append(stored, event.clone());
        if applied.stream.is_stopped() && !was_stopped {
            inner.live_rooms.remove(&applied.stream.room_name);
        }
        self.publish(event);
        Ok(applied)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let inner = self.lock();
        let Some(stored) = inner.streams.get(&stream) else {
            return Ok(Vec::new());
        };
        // Seqs are contiguous in the deque, so the start is an offset from the oldest kept.
        let oldest = stored.events.front().map_or(1, |e| e.seq);
        let skip = usize::try_from(after_seq.saturating_add(1).saturating_sub(oldest))
            .unwrap_or(usize::MAX);
        Ok(stored
            .events
            .iter()
            .skip(skip)
            .take(limit)
            .cloned()
            .collect())
    }

    fn subscribe(&self) -> EventFeed {
        // A lagging subscriber loses events here; its seq tracking notices and backfills.
        Box::pin(
            BroadcastStream::new(self.feed.subscribe()).filter_map(|item| async move { item.ok() }),
        )
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        Ok(self.epoch.to_string())
    }
}

#[cfg(test)]
mod tests;
