//! The data behind the store's mutex, and every operation on it. Nothing here awaits, and every
//! change is decided (by the domain's pure functions) before anything is written.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use orchestrator_domain::broadcast::{BroadcastState, BroadcastWrite, BroadcastWriteError};
use orchestrator_domain::ports::{
    ApplyError, InsertError, ListError, ListQuery, Page, ParticipantPage, ParticipantQuery,
};
use orchestrator_domain::stream::StreamStatus;
use orchestrator_domain::{
    change::Applied, change::Change, change::ChangeContext, event::StreamEvent,
    membership::ParticipantApplied, membership::ParticipantChange, participant::Participant,
    stream::Stream, values::Cursor, values::Identity, values::RoomName, values::StreamId,
};

use crate::MemoryStoreConfig;

/// Everything the store holds.
#[derive(Debug)]
pub(crate) struct State {
    config: MemoryStoreConfig,
    streams: HashMap<StreamId, Stored>,
    /// Insertion order → id: the listing order and what cursors point into.
    order: BTreeMap<u64, StreamId>,
    next_ordinal: u64,
    /// Room name → the stream that is not stopped and uses it.
    live_rooms: HashMap<RoomName, StreamId>,
    /// Room name → the last stream that used it (live or stopped, until evicted).
    last_rooms: HashMap<RoomName, StreamId>,
    /// Stopped streams in the order they stopped, to evict once their retention is over.
    stopped: VecDeque<(Instant, StreamId)>,
}

/// One stream with everything that belongs to it.
#[derive(Debug)]
struct Stored {
    stream: Stream,
    ordinal: u64,
    events: VecDeque<StreamEvent>,
    roster: Roster,
    /// Its ingest, outputs and live mark.
    broadcast: BroadcastState,
}

/// A stream's participant records, in order of first join.
#[derive(Debug, Default)]
struct Roster {
    people: HashMap<Identity, (u64, Participant)>,
    /// Place in the roster (1 = first to join) → identity.
    order: BTreeMap<u64, Identity>,
    /// Places of those whose record says present.
    present: BTreeSet<u64>,
}

impl State {
    pub(crate) fn new(config: MemoryStoreConfig) -> Self {
        Self {
            config,
            streams: HashMap::new(),
            order: BTreeMap::new(),
            next_ordinal: 0,
            live_rooms: HashMap::new(),
            last_rooms: HashMap::new(),
            stopped: VecDeque::new(),
        }
    }

    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    pub(crate) fn stream(&self, id: StreamId) -> Option<&Stream> {
        self.streams.get(&id).map(|s| &s.stream)
    }

    pub(crate) fn live_by_room(&self, room: &RoomName) -> Option<&Stream> {
        self.live_rooms.get(room).and_then(|id| self.stream(*id))
    }

    pub(crate) fn latest_by_room(&self, room: &RoomName) -> Option<&Stream> {
        self.live_by_room(room)
            .or_else(|| self.last_rooms.get(room).and_then(|id| self.stream(*id)))
    }

    pub(crate) fn insert(&mut self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        self.evict_expired();
        if self.streams.contains_key(&stream.id) {
            return Err(InsertError::DuplicateId(stream.id));
        }
        if !stream.is_stopped() {
            if self.live_rooms.contains_key(&stream.room_name) {
                return Err(InsertError::RoomNameTaken(stream.room_name));
            }
            self.live_rooms.insert(stream.room_name.clone(), stream.id);
        }
        self.last_rooms.insert(stream.room_name.clone(), stream.id);
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.order.insert(ordinal, stream.id);
        let mut stored = Stored {
            stream,
            ordinal,
            events: VecDeque::new(),
            roster: Roster::default(),
            broadcast: BroadcastState::default(),
        };
        stored.append(event, self.config.max_events_per_stream);
        self.streams.insert(stored.stream.id, stored);
        Ok(())
    }

    pub(crate) fn list(&self, query: &ListQuery) -> Result<Page, ListError> {
        let start = match &query.after {
            Some(cursor) => parse_cursor(cursor, 'm')?.saturating_add(1),
            None => 0,
        };
        let mut matching = self
            .order
            .range(start..)
            .filter_map(|(ordinal, id)| self.stream(*id).map(|s| (*ordinal, s)))
            .filter(|(_, stream)| query.status.is_none_or(|status| stream.status == status));
        let mut items = Vec::with_capacity(query.limit.min(1024));
        let mut last = None;
        for (ordinal, stream) in matching.by_ref().take(query.limit) {
            items.push(stream.clone());
            last = Some(ordinal);
        }
        let next = match (last, matching.next()) {
            (Some(ordinal), Some(_)) => Some(cursor_for('m', ordinal)),
            _ => None,
        };
        Ok(Page { items, next })
    }

    pub(crate) fn apply(
        &mut self,
        id: StreamId,
        change: &Change,
        ctx: &ChangeContext,
    ) -> Result<Applied, ApplyError> {
        self.evict_expired();
        let max_events = self.config.max_events_per_stream;
        let stored = self.streams.get_mut(&id).ok_or(ApplyError::NotFound)?;
        let applied = stored.stream.apply(change, ctx)?;
        let Some(event) = applied.event.clone() else {
            return Ok(applied);
        };
        let was_stopped = stored.stream.is_stopped();
        stored.stream = applied.stream.clone();
        stored.append(event, max_events);
        if applied.stream.is_stopped() && !was_stopped {
            self.live_rooms.remove(&applied.stream.room_name);
            self.stopped.push_back((Instant::now(), id));
        }
        Ok(applied)
    }

    pub(crate) fn apply_participant(
        &mut self,
        id: StreamId,
        change: &ParticipantChange,
        ctx: &ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        let max_events = self.config.max_events_per_stream;
        let stored = self.streams.get_mut(&id).ok_or(ApplyError::NotFound)?;
        let current = stored.roster.get(change.identity());
        let (applied, decision) = change.apply(&stored.stream, current, ctx)?;
        if let (Some(decision), Some(event)) = (decision, &applied.event) {
            stored.roster.record(decision.participant);
            stored.stream.audience = applied.audience;
            stored.stream.seq = event.seq;
            stored.append(event.clone(), max_events);
        }
        Ok(applied)
    }

    pub(crate) fn broadcast(&self, id: StreamId) -> BroadcastState {
        self.streams
            .get(&id)
            .map(|stored| stored.broadcast.clone())
            .unwrap_or_default()
    }

    /// A broadcast change and its event, decided by the domain's fence
    /// ([`BroadcastState::apply`]) under the store's lock.
    pub(crate) fn write_broadcast(
        &mut self,
        id: StreamId,
        write: BroadcastWrite,
        ctx: &ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError> {
        let max_events = self.config.max_events_per_stream;
        let stored = self
            .streams
            .get_mut(&id)
            .ok_or(BroadcastWriteError::NotFound)?;
        if write.require_active && stored.stream.status != StreamStatus::Active {
            return Err(BroadcastWriteError::NotActive(stored.stream.status));
        }
        stored.broadcast.apply(&write)?;
        let Some((kind, data)) = write.event else {
            return Ok(None);
        };
        stored.stream.seq += 1;
        let event = StreamEvent::for_broadcast(id, stored.stream.seq, kind, data, ctx);
        stored.append(event.clone(), max_events);
        Ok(Some(event))
    }

    pub(crate) fn participant(&self, id: StreamId, identity: &Identity) -> Option<&Participant> {
        self.streams.get(&id)?.roster.get(identity)
    }

    pub(crate) fn participants(
        &self,
        id: StreamId,
        query: &ParticipantQuery,
    ) -> Result<ParticipantPage, ListError> {
        let after = query
            .after
            .as_ref()
            .map(|cursor| parse_cursor(cursor, 'p'))
            .transpose()?;
        let Some(stored) = self.streams.get(&id) else {
            return Ok(ParticipantPage {
                items: Vec::new(),
                next: None,
            });
        };
        Ok(stored.roster.page(query, after))
    }

    pub(crate) fn events_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Vec<StreamEvent> {
        let Some(stored) = self.streams.get(&stream) else {
            return Vec::new();
        };
        // Seqs are contiguous in the deque, so the start is an offset from the oldest kept.
        let oldest = stored.events.front().map_or(1, |e| e.seq);
        let skip = usize::try_from(after_seq.saturating_add(1).saturating_sub(oldest))
            .unwrap_or(usize::MAX);
        stored
            .events
            .iter()
            .skip(skip)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Drops the streams whose retention is over. Amortised O(1): each stopped stream is
    /// queued once, in stop order, and removed once.
    fn evict_expired(&mut self) {
        let retention = self.config.stopped_retention;
        while let Some((stopped_at, id)) = self.stopped.front().copied() {
            if stopped_at.elapsed() < retention {
                return;
            }
            self.stopped.pop_front();
            if let Some(stored) = self.streams.remove(&id) {
                self.order.remove(&stored.ordinal);
                let room = &stored.stream.room_name;
                if self.last_rooms.get(room) == Some(&id) {
                    self.last_rooms.remove(room);
                }
            }
        }
    }
}

impl Stored {
    fn append(&mut self, event: StreamEvent, max_events: usize) {
        if self.events.len() >= max_events {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

impl Roster {
    fn get(&self, identity: &Identity) -> Option<&Participant> {
        self.people.get(identity).map(|(_, p)| p)
    }

    /// Stores a participant's record after a change, giving a newcomer the next place.
    fn record(&mut self, participant: Participant) {
        let next_place = self.people.len() as u64 + 1;
        let place = self
            .people
            .get(&participant.identity)
            .map_or(next_place, |(place, _)| *place);
        self.order.insert(place, participant.identity.clone());
        if participant.is_active() {
            self.present.insert(place);
        } else {
            self.present.remove(&place);
        }
        self.people
            .insert(participant.identity.clone(), (place, participant));
    }

    fn page(&self, query: &ParticipantQuery, after: Option<u64>) -> ParticipantPage {
        let start = after.map_or(0, |place| place.saturating_add(1));
        let places: Vec<u64> = if query.active_only {
            self.present
                .range(start..)
                .take(query.limit + 1)
                .copied()
                .collect()
        } else {
            self.order
                .range(start..)
                .take(query.limit + 1)
                .map(|(place, _)| *place)
                .collect()
        };
        let next = if places.len() > query.limit {
            let last = query.limit.checked_sub(1).and_then(|i| places.get(i));
            last.map(|place| cursor_for('p', *place))
        } else {
            None
        };
        let items = places
            .iter()
            .take(query.limit)
            .filter_map(|place| self.order.get(place))
            .filter_map(|identity| self.get(identity).cloned())
            .collect();
        ParticipantPage { items, next }
    }
}

fn cursor_for(kind: char, position: u64) -> Cursor {
    Cursor::new(format!("{kind}{position}"))
}

fn parse_cursor(cursor: &Cursor, kind: char) -> Result<u64, ListError> {
    cursor
        .as_str()
        .strip_prefix(kind)
        .and_then(|n| n.parse().ok())
        .ok_or(ListError::InvalidCursor)
}
