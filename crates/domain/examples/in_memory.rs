//! The stream and participant use cases on ports this file defines: a store in a mutex, rooms
//! in a set, tokens that are not signed. A real project puts its database and its media server
//! behind the same traits; the rules (the status machine, membership, counters, gapless event
//! seqs) come from the domain whatever the ports are.
//!
//! Run it with `cargo run -p orchestrator-domain --example in_memory`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures_util::StreamExt;
use orchestrator_domain::change::{Applied, Change, ChangeContext};
use orchestrator_domain::event::{EventType, StreamEvent};
use orchestrator_domain::follow::follow;
use orchestrator_domain::membership::{ParticipantApplied, ParticipantChange};
use orchestrator_domain::participant::{Participant, Role};
use orchestrator_domain::ports::{
    ApplyError, EventFeed, EventLog, InsertError, JoinGrant, ListError, ListQuery, MediaError,
    MediaParticipant, MediaRoom, MediaServer, Page, ParticipantPage, ParticipantQuery, RandomIds,
    StoreError, StreamRepository, SystemClock, TokenError, TokenIssuer,
};
use orchestrator_domain::service::commands::{CreateStream, JoinStream, ListParticipants};
use orchestrator_domain::service::{Ports, StreamService};
use orchestrator_domain::stream::Stream;
use orchestrator_domain::values::{Cursor, Identity, Metadata, RoomName, StreamId};
use tokio::sync::broadcast;

#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(Store::default());
    let ports = Ports::new(
        store.clone(),
        store.clone(),
        Arc::new(Rooms::default()),
        Arc::new(UnsignedTokens),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
    );
    let service = StreamService::new(ports, "example");

    let stream = service
        .create(CreateStream {
            room_name: Some(RoomName::new("launch-party")?),
            metadata: Metadata::from_value("metadata", serde_json::json!({ "title": "Launch" }))?,
            ..CreateStream::default()
        })
        .await?;
    println!(
        "created {} in room {} ({})",
        stream.id, stream.room_name, stream.status
    );

    // Everything that happens to the stream from now on, in order, without gaps.
    let mut events = std::pin::pin!(follow(store.clone(), stream.id, stream.seq));

    for (who, role) in [
        ("host", Role::Host),
        ("ada", Role::Viewer),
        ("ada", Role::Viewer),
    ] {
        let ticket = service
            .join(
                stream.id,
                JoinStream {
                    identity: Identity::new(who)?,
                    role,
                    metadata: None,
                },
            )
            .await?;
        println!(
            "{} joins {} with token {}",
            ticket.identity, ticket.ws_url, ticket.token
        );
    }
    service.leave(stream.id, Identity::new("ada")?).await?;
    let present = service
        .participants(
            stream.id,
            ListParticipants {
                active_only: true,
                ..ListParticipants::default()
            },
        )
        .await?;
    println!(
        "present: {:?}",
        present
            .items
            .iter()
            .map(|p| p.identity.as_str())
            .collect::<Vec<_>>()
    );
    let stopped = service.stop(stream.id).await?;
    println!(
        "stopped: {} with {} joined in all",
        stopped.status, stopped.audience.total_joined
    );

    // Ada joining twice was one join: host and ada joined, ada left, the stream stopping, then
    // stopped — each change one event, numbered without gaps after the creation's seq 1.
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        let event = event?;
        println!("event {}: {}", event.seq, event.kind);
        seen.push((event.seq, event.kind));
        if event.kind == EventType::StreamStopped {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            (2, EventType::ParticipantJoined),
            (3, EventType::ParticipantJoined),
            (4, EventType::ParticipantLeft),
            (5, EventType::StreamUpdated),
            (6, EventType::StreamStopped),
        ]
    );
    Ok(())
}

/// Streams, their participants and their events, in one mutex: each change is decided by the
/// domain (`Stream::apply`, `ParticipantChange::apply`) and recorded in the same critical
/// section, which is all the atomicity the rules ask of a store.
struct Store {
    state: Mutex<State>,
    live: broadcast::Sender<StreamEvent>,
}

#[derive(Default)]
struct State {
    streams: HashMap<StreamId, Stored>,
    /// Creation order, for listing.
    order: BTreeMap<u64, StreamId>,
}

struct Stored {
    stream: Stream,
    ordinal: u64,
    participants: BTreeMap<u64, Participant>,
    by_identity: HashMap<Identity, u64>,
    events: Vec<StreamEvent>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            live: broadcast::channel(1024).0,
        }
    }
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, event: Option<&StreamEvent>) {
        if let Some(event) = event {
            // Nobody listening is fine: followers backfill from the log.
            let _ = self.live.send(event.clone());
        }
    }
}

fn position(cursor: Option<&Cursor>) -> Result<u64, ListError> {
    cursor.map_or(Ok(0), |cursor| {
        cursor
            .as_str()
            .parse::<u64>()
            .map(|at| at + 1)
            .map_err(|_| ListError::InvalidCursor)
    })
}

#[async_trait]
impl StreamRepository for Store {
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        let mut state = self.lock();
        let taken = state
            .streams
            .values()
            .any(|s| s.stream.room_name == stream.room_name && !s.stream.is_stopped());
        if taken {
            return Err(InsertError::RoomNameTaken(stream.room_name));
        }
        let ordinal = state.order.len() as u64;
        state.order.insert(ordinal, stream.id);
        let stored = Stored {
            stream,
            ordinal,
            participants: BTreeMap::new(),
            by_identity: HashMap::new(),
            events: vec![event.clone()],
        };
        state.streams.insert(stored.stream.id, stored);
        drop(state);
        self.publish(Some(&event));
        Ok(())
    }

    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        Ok(self.lock().streams.get(&id).map(|s| s.stream.clone()))
    }

    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        let state = self.lock();
        let live = state
            .streams
            .values()
            .find(|s| &s.stream.room_name == room && !s.stream.is_stopped());
        Ok(live.map(|s| s.stream.clone()))
    }

    async fn find_latest_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        let state = self.lock();
        let latest = state
            .streams
            .values()
            .filter(|s| &s.stream.room_name == room)
            .max_by_key(|s| s.ordinal);
        Ok(latest.map(|s| s.stream.clone()))
    }

    async fn list(&self, query: ListQuery) -> Result<Page, ListError> {
        let state = self.lock();
        let start = position(query.after.as_ref())?;
        let mut matching = state
            .order
            .range(start..)
            .map(|(ordinal, id)| (*ordinal, &state.streams[id].stream))
            .filter(|(_, s)| query.status.is_none_or(|status| s.status == status));
        let items: Vec<(u64, Stream)> = matching
            .by_ref()
            .take(query.limit)
            .map(|(ordinal, s)| (ordinal, s.clone()))
            .collect();
        let more = matching.next().is_some();
        Ok(Page {
            next: items
                .last()
                .filter(|_| more)
                .map(|(ordinal, _)| Cursor::new(ordinal.to_string())),
            items: items.into_iter().map(|(_, s)| s).collect(),
        })
    }

    async fn apply(
        &self,
        id: StreamId,
        change: Change,
        ctx: ChangeContext,
    ) -> Result<Applied, ApplyError> {
        let mut state = self.lock();
        let stored = state.streams.get_mut(&id).ok_or(ApplyError::NotFound)?;
        let applied = stored.stream.apply(&change, &ctx)?;
        if let Some(event) = &applied.event {
            stored.stream = applied.stream.clone();
            stored.events.push(event.clone());
        }
        drop(state);
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
        let stored = state.streams.get_mut(&id).ok_or(ApplyError::NotFound)?;
        let current = stored
            .by_identity
            .get(change.identity())
            .and_then(|at| stored.participants.get(at));
        let (applied, decision) = change.apply(&stored.stream, current, &ctx)?;
        if let (Some(decision), Some(event)) = (decision, &applied.event) {
            let next = stored.participants.len() as u64;
            let identity = decision.participant.identity.clone();
            let at = *stored.by_identity.entry(identity).or_insert(next);
            stored.participants.insert(at, decision.participant);
            stored.stream.audience = applied.audience;
            stored.stream.seq = event.seq;
            stored.events.push(event.clone());
        }
        drop(state);
        self.publish(applied.event.as_ref());
        Ok(applied)
    }

    async fn participant(
        &self,
        id: StreamId,
        identity: &Identity,
    ) -> Result<Option<Participant>, StoreError> {
        let state = self.lock();
        let found = state.streams.get(&id).and_then(|stored| {
            let at = stored.by_identity.get(identity)?;
            stored.participants.get(at).cloned()
        });
        Ok(found)
    }

    async fn participants(
        &self,
        id: StreamId,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, ListError> {
        let state = self.lock();
        let start = position(query.after.as_ref())?;
        let Some(stored) = state.streams.get(&id) else {
            return Ok(ParticipantPage {
                items: Vec::new(),
                next: None,
            });
        };
        let mut matching = stored
            .participants
            .range(start..)
            .filter(|(_, p)| !query.active_only || p.left_at.is_none());
        let items: Vec<(u64, Participant)> = matching
            .by_ref()
            .take(query.limit)
            .map(|(at, p)| (*at, p.clone()))
            .collect();
        let more = matching.next().is_some();
        Ok(ParticipantPage {
            next: items
                .last()
                .filter(|_| more)
                .map(|(at, _)| Cursor::new(at.to_string())),
            items: items.into_iter().map(|(_, p)| p).collect(),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl EventLog for Store {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let state = self.lock();
        let events = state.streams.get(&stream).map_or_else(Vec::new, |stored| {
            let after = stored.events.iter().filter(|e| e.seq > after_seq);
            after.take(limit).cloned().collect()
        });
        Ok(events)
    }

    fn subscribe(&self) -> EventFeed {
        let live = self.live.subscribe();
        // A lagging receiver skips events; `follow` notices the gap and reads the log.
        Box::pin(futures_util::stream::unfold(live, |mut live| async move {
            loop {
                match live.recv().await {
                    Ok(event) => return Some((event, live)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        // One log for the process's life: seqs never restart under a follower.
        Ok("in-memory".to_owned())
    }
}

/// A media server that only remembers room names.
#[derive(Default)]
struct Rooms(Mutex<HashSet<String>>);

#[async_trait]
impl MediaServer for Rooms {
    async fn create_room(&self, room: &RoomName) -> Result<MediaRoom, MediaError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(room.to_string());
        Ok(MediaRoom {
            sid: format!("RM_{room}"),
            name: room.to_string(),
            num_participants: 0,
        })
    }

    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(room.as_str());
        Ok(())
    }

    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
        let rooms = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms
            .iter()
            .map(|name| MediaRoom {
                sid: format!("RM_{name}"),
                name: name.clone(),
                num_participants: 0,
            })
            .collect())
    }

    async fn list_participants(
        &self,
        _room: &RoomName,
    ) -> Result<Vec<MediaParticipant>, MediaError> {
        Ok(Vec::new())
    }

    async fn remove_participant(
        &self,
        _room: &RoomName,
        _identity: &Identity,
    ) -> Result<(), MediaError> {
        Ok(())
    }

    async fn update_room_metadata(
        &self,
        _room: &RoomName,
        _metadata: &str,
    ) -> Result<(), MediaError> {
        Ok(())
    }
}

/// Tokens that say what they grant; a real issuer signs them (LiveKit: a JWT with the room
/// grant, publish only for hosts).
struct UnsignedTokens;

impl TokenIssuer for UnsignedTokens {
    fn issue(&self, grant: &JoinGrant) -> Result<String, TokenError> {
        let publish = grant.role == Role::Host;
        Ok(format!(
            "{}@{}:publish={publish}",
            grant.identity, grant.room
        ))
    }

    fn ws_url(&self) -> String {
        "ws://media.example".to_owned()
    }
}
