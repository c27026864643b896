//! The use cases against mockall mocks of every port.

use std::sync::{Arc, Mutex};

use mockall::predicate::eq;

mod broadcast;
mod media;
mod participants;
mod streams;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::audience::Audience;
use crate::broadcast::BroadcastState;
use crate::change::{ChangeContext, ExpectedVersion, TransitionError};
use crate::event::{EventType, StreamEvent};
use crate::membership::{ParticipantApplied, ParticipantChange};
use crate::ports::{
    ApplyError, InsertError, ListQuery, MediaError, Page, ParticipantPage, ParticipantQuery,
    StoreError, TokenError,
};
use crate::ports::{
    MediaParticipant, MediaRoom, MockEventLog, MockMediaServer, MockStreamRepository,
    MockTokenIssuer, RandomIds, SystemClock,
};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Cursor, Identity, Metadata, RoomName, StreamId};
use crate::{
    participant::Participant, participant::Role, service::commands::CreateStream,
    service::commands::JoinStream, service::commands::ListEvents,
    service::commands::ListParticipants, service::commands::ListStreams,
    service::commands::UpdateStream, service::media::MediaEvent, service::media::MediaEventKind,
    service::media::MediaEventOutcome,
};

/// A stream held by a mocked repository that applies changes with the real [`Stream::apply`]
/// and [`ParticipantChange::apply`], its participant records in order of first join, plus
/// every event it recorded.
#[derive(Clone, Default)]
struct Stored {
    stream: Arc<Mutex<Option<Stream>>>,
    /// How many times the stream was read (`get`).
    reads: Arc<std::sync::atomic::AtomicUsize>,
    /// The streams whose participants were read (`participants`), in order.
    participant_reads: Arc<Mutex<Vec<StreamId>>>,
    people: Arc<Mutex<Vec<Participant>>>,
    events: Arc<Mutex<Vec<StreamEvent>>>,
    /// The stream's ingest, outputs and live mark.
    broadcast: Arc<Mutex<BroadcastState>>,
}

impl Stored {
    fn current(&self) -> Stream {
        self.stream
            .lock()
            .unwrap()
            .clone()
            .expect("a stream is stored")
    }

    fn people(&self) -> Vec<Participant> {
        self.people.lock().unwrap().clone()
    }

    fn person(&self, name: &str) -> Participant {
        self.people()
            .into_iter()
            .find(|p| p.identity.as_str() == name)
            .expect("the participant is stored")
    }

    fn apply_participant(
        &self,
        change: &ParticipantChange,
        ctx: &ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        let mut slot = self.stream.lock().unwrap();
        let stream = slot.as_mut().ok_or(ApplyError::NotFound)?;
        let mut people = self.people.lock().unwrap();
        let index = people.iter().position(|p| &p.identity == change.identity());
        let (applied, decision) = change.apply(stream, index.map(|i| &people[i]), ctx)?;
        if let (Some(decision), Some(event)) = (decision, &applied.event) {
            match index {
                Some(i) => people[i] = decision.participant,
                None => people.push(decision.participant),
            }
            stream.audience = applied.audience;
            stream.seq = event.seq;
            self.events.lock().unwrap().push(event.clone());
        }
        Ok(applied)
    }

    fn page(&self, query: &ParticipantQuery) -> ParticipantPage {
        let start = query
            .after
            .as_ref()
            .map_or(0, |c| c.as_str().parse::<usize>().unwrap());
        let people = self.people();
        let matching: Vec<(usize, Participant)> = people
            .into_iter()
            .enumerate()
            .skip(start)
            .filter(|(_, p)| !query.active_only || p.is_active())
            .collect();
        let next = (matching.len() > query.limit)
            .then(|| Cursor::new((matching[query.limit - 1].0 + 1).to_string()));
        ParticipantPage {
            items: matching
                .into_iter()
                .take(query.limit)
                .map(|(_, p)| p)
                .collect(),
            next,
        }
    }

    fn event_kinds(&self) -> Vec<EventType> {
        self.events.lock().unwrap().iter().map(|e| e.kind).collect()
    }
}

struct Harness {
    repo: MockStreamRepository,
    media: MockMediaServer,
    tokens: MockTokenIssuer,
    stored: Stored,
    /// LiveKit's Ingress and Egress, as a fake that records what it was asked.
    livekit: Arc<broadcast::FakeLiveKit>,
    runtime: Arc<broadcast::TestRuntime>,
    policy: crate::broadcast::BroadcastPolicy,
}

impl Harness {
    fn new() -> Self {
        Self {
            repo: MockStreamRepository::new(),
            media: MockMediaServer::new(),
            tokens: MockTokenIssuer::new(),
            stored: Stored::default(),
            livekit: Arc::default(),
            runtime: Arc::default(),
            policy: crate::broadcast::BroadcastPolicy::default(),
        }
    }

    /// A harness whose repository holds one stream with `status` (created through `create`'s
    /// own recording, so seq and version are real).
    fn with_stream(status: StreamStatus) -> (Self, StreamId) {
        let mut harness = Self::new();
        let id = StreamId::from_uuid(Uuid::new_v4());
        let mut stream = Stream::new_active(
            id,
            RoomName::for_stream(&id),
            Some("RM_1".into()),
            Metadata::default(),
            SystemClock.now(),
        );
        let created = stream.record_creation(&ChangeContext {
            event_id: Uuid::new_v4(),
            at: stream.created_at,
            instance_id: "test".into(),
        });
        stream.status = status;
        *harness.stored.stream.lock().unwrap() = Some(stream);
        harness.stored.events.lock().unwrap().push(created);
        harness.serve_stored_stream();
        (harness, id)
    }

    /// An active stream that participants can join: the service it is served by and what the
    /// repository holds.
    fn joinable_stream() -> (StreamService, Stored, StreamId) {
        let (mut harness, id) = Self::with_stream(StreamStatus::Active);
        harness.issue_tokens();
        let (service, stored) = harness.service();
        (service, stored, id)
    }

    fn serve_stored_stream(&mut self) {
        let stored = self.stored.clone();
        self.repo.expect_get().returning(move |_| {
            stored
                .reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(stored.stream.lock().unwrap().clone())
        });
        let stored = self.stored.clone();
        self.repo.expect_find_live_by_room().returning(move |_| {
            Ok(stored
                .stream
                .lock()
                .unwrap()
                .clone()
                .filter(|s| !s.is_stopped()))
        });
        let stored = self.stored.clone();
        self.repo
            .expect_find_latest_by_room()
            .returning(move |_| Ok(stored.stream.lock().unwrap().clone()));
        let stored = self.stored.clone();
        self.repo
            .expect_apply_participant()
            .returning(move |_, change, ctx| stored.apply_participant(&change, &ctx));
        let stored = self.stored.clone();
        self.repo
            .expect_participant()
            .returning(move |_, identity| {
                Ok(stored
                    .people()
                    .into_iter()
                    .find(|p| &p.identity == identity))
            });
        let stored = self.stored.clone();
        self.repo.expect_participants().returning(move |id, query| {
            stored.participant_reads.lock().unwrap().push(id);
            Ok(stored.page(&query))
        });
        let stored = self.stored.clone();
        self.repo.expect_apply().returning(move |_, change, ctx| {
            let mut slot = stored.stream.lock().unwrap();
            let stream = slot.as_ref().ok_or(ApplyError::NotFound)?;
            let applied = stream.apply(&change, &ctx)?;
            *slot = Some(applied.stream.clone());
            stored.events.lock().unwrap().extend(applied.event.clone());
            Ok(applied)
        });
    }

    fn issue_tokens(&mut self) {
        self.tokens
            .expect_issue()
            .returning(|grant| Ok(format!("token-for-{}-{}", grant.identity, grant.role)));
        self.tokens
            .expect_ws_url()
            .return_const("ws://media.test".to_owned());
    }

    /// The service without broadcast ports ([`Ports::new`] alone).
    fn service_without_broadcast(self) -> StreamService {
        let ports = Ports::new(
            Arc::new(self.repo),
            Arc::new(MockEventLog::new()),
            Arc::new(self.media),
            Arc::new(self.tokens),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        );
        StreamService::new(ports, "test-instance")
    }

    fn service(self) -> (StreamService, Stored) {
        let stored = self.stored.clone();
        let mut log = MockEventLog::new();
        let recorded = self.stored.clone();
        log.expect_read_after().returning(move |_, after, limit| {
            let events = recorded.events.lock().unwrap();
            Ok(events
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect())
        });
        let ports = Ports::new(
            Arc::new(self.repo),
            Arc::new(log),
            Arc::new(self.media),
            Arc::new(self.tokens),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        )
        .with_broadcast(
            Arc::new(self.stored.clone()),
            self.livekit.clone(),
            self.runtime.clone(),
        );
        let service = StreamService::new(ports, "test-instance").with_broadcast_policy(self.policy);
        (service, stored)
    }
}

fn room(sid: &str) -> MediaRoom {
    MediaRoom {
        sid: sid.into(),
        name: "ignored".into(),
        num_participants: 0,
    }
}

fn media(room: &str, room_sid: &str, kind: MediaEventKind) -> MediaEvent {
    MediaEvent {
        room: room.into(),
        room_sid: room_sid.into(),
        reported_at: None,
        kind,
    }
}

fn ada() -> Identity {
    identity("ada")
}

fn identity(name: &str) -> Identity {
    Identity::new(name).unwrap()
}

fn viewer(identity: Identity) -> JoinStream {
    JoinStream {
        identity,
        role: Role::Viewer,
        metadata: None,
    }
}
