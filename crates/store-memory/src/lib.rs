//! In-memory implementations of the orchestrator's storage ports: the embedded default (no
//! `REDIS_URL`) and the fast backend of tests.
//!
//! One process owns the data, so atomicity comes from a mutex held for the few microseconds of
//! each change (never across an `.await`), and live fan-out from a tokio broadcast channel.
//! Participants are records of their own beside the stream's counters, exactly as on Redis, so
//! a join costs the same with 10 or 100,000 people present. Everything is lost when the process
//! exits; stopped streams (with their participants and events) are evicted
//! [`MemoryStoreConfig::stopped_retention`] after they stop, so a long-running embedded
//! instance does not grow without end.
//!
//! # Layout
//!
//! - [`MemoryStore`]: implements [`StreamRepository`], [`EventLog`] and
//!   [`BroadcastRepository`] (each stream's ingest and outputs beside it).
//! - `state` (private): the maps behind the mutex — each stream with its event log and its
//!   roster, the insertion-ordered index for cursor pagination, the room-name index for
//!   uniqueness among streams that are not stopped, and the eviction queue.
//! - [`coordination`]: leases, idempotency records and webhook dedupe in memory.

pub mod coordination;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use orchestrator_domain::broadcast::{
    BroadcastRepository, BroadcastState, BroadcastWrite, BroadcastWriteError,
};
use orchestrator_domain::ports::{
    ApplyError, EventFeed, EventLog, InsertError, ListError, ListQuery, Page, ParticipantPage,
    ParticipantQuery, StoreError, StreamRepository,
};
use orchestrator_domain::{
    change::Applied, change::Change, change::ChangeContext, event::StreamEvent,
    membership::ParticipantApplied, membership::ParticipantChange, participant::Participant,
    stream::Stream, values::Identity, values::RoomName, values::StreamId,
};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use state::State;

/// Tuning of a [`MemoryStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// Events kept per stream; older ones are dropped (a resume from before them must resync).
    pub max_events_per_stream: usize,
    /// Events buffered for a live subscriber before it starts missing some (it then backfills
    /// from the log by seq).
    pub feed_capacity: usize,
    /// How long a stopped stream, its participants and its events are kept after it stopped.
    pub stopped_retention: Duration,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            max_events_per_stream: 10_000,
            feed_capacity: 4096,
            stopped_retention: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Streams, participants and event logs in process memory. Cheap to clone; clones share the
/// data.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Memory is lost only with the process, so one epoch per store is exact.
    epoch: Arc<str>,
    /// `Arc`s: tokio writes every slot when the channel is made, and a slot holding an event
    /// inline is 144 bytes of idle memory (576 KiB at the default capacity), a pointer 24.
    feed: broadcast::Sender<Arc<StreamEvent>>,
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
            state: Arc::new(Mutex::new(State::new(config))),
            epoch: uuid::Uuid::new_v4().to_string().into(),
            feed,
        }
    }

    /// Streams held, stopped ones not yet evicted included.
    pub fn stream_count(&self) -> usize {
        self.lock().stream_count()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is decided before anything is written, and the writes themselves cannot
        // panic, so a poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes under the lock, so subscribers see each stream's events in seq order.
    fn publish(&self, event: Option<&StreamEvent>) {
        if let Some(event) = event {
            // The instance's live feed: what `orchestrator_events_published_total` counts (the
            // Redis store counts the same where its subscription receives events).
            metrics::counter!("orchestrator_events_published_total", "type" => event.kind.as_str())
                .increment(1);
            // No subscriber is not an error: the event is in the log.
            let _ = self.feed.send(Arc::new(event.clone()));
        }
    }
}

#[async_trait]
impl StreamRepository for MemoryStore {
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        let mut state = self.lock();
        state.insert(stream, event.clone())?;
        self.publish(Some(&event));
        Ok(())
    }

    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().stream(id).cloned())
    }

    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().live_by_room(room).cloned())
    }

    async fn find_latest_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().latest_by_room(room).cloned())
    }

    async fn list(&self, query: ListQuery) -> Result<Page, ListError> {
        self.lock().list(&query)
    }

    async fn apply(
        &self,
        id: StreamId,
        change: Change,
        ctx: ChangeContext,
    ) -> Result<Applied, ApplyError> {
        let mut state = self.lock();
        let applied = state.apply(id, &change, &ctx)?;
        self.publish(applied.event.as_ref());
        Ok(applied)
    }

    async fn apply_participant(
        &self,
        id: StreamId,
        change: ParticipantChange,
        ctx: ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        let mut state = self.lock();
        let applied = state.apply_participant(id, &change, &ctx)?;
        self.publish(applied.event.as_ref());
        Ok(applied)
    }

    async fn participant(
        &self,
        id: StreamId,
        identity: &Identity,
    ) -> Result<Option<Participant>, StoreError> {
        Ok(self.lock().participant(id, identity).cloned())
    }

    async fn participants(
        &self,
        id: StreamId,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, ListError> {
        self.lock().participants(id, &query)
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
        Ok(self.lock().events_after(stream, after_seq, limit))
    }

    fn subscribe(&self) -> EventFeed {
        // A lagging subscriber loses events here; its seq tracking notices and backfills.
        Box::pin(
            BroadcastStream::new(self.feed.subscribe())
                .filter_map(|item| async move { item.ok().map(Arc::unwrap_or_clone) }),
        )
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        Ok(self.epoch.to_string())
    }
}

#[cfg(test)]
mod tests;

#[async_trait]
impl BroadcastRepository for MemoryStore {
    async fn broadcast(&self, stream: StreamId) -> Result<BroadcastState, StoreError> {
        Ok(self.lock().broadcast(stream))
    }

    async fn write_broadcast(
        &self,
        stream: StreamId,
        write: BroadcastWrite,
        ctx: ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError> {
        let mut state = self.lock();
        let event = state.write_broadcast(stream, write, &ctx)?;
        self.publish(event.as_ref());
        Ok(event)
    }
}
