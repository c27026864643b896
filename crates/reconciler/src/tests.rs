use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use orchestrator_domain::broadcast::Task;
use orchestrator_domain::broadcast::{
    BroadcastMedia, CreatedIngress, EgressReport, EgressStatus, IngestKind, IngestState,
    IngressReport, Observed, Output, OutputId, OutputKind, Runtime, Secret, StartedEgress,
};
use orchestrator_domain::coordination::{LeaseGrant, LeaseStore};
use orchestrator_domain::ports::{
    MediaError, MediaParticipant, MediaRoom, RandomIds, StoreError, SystemClock, TokenError,
    TokenIssuer,
};
use orchestrator_domain::service::Ports;
use orchestrator_domain::{
    service::commands::CreateStream, stream::StreamStatus, values::Identity, values::RoomName,
    values::StreamId,
};
use orchestrator_store_memory::coordination::MemoryCoordination;
use orchestrator_store_memory::MemoryStore;
use tokio::time::Instant;

use super::*;

/// A LiveKit with fixed rooms, each reporting `participants_per_room` participants (but
/// listing none), that records when each call was made. `unlisted` rooms exist but are
/// missing from `ListRooms` (created after it).
#[derive(Default)]
struct RecordingLiveKit {
    rooms: Mutex<Vec<String>>,
    unlisted: Mutex<Vec<String>>,
    participants_per_room: u32,
    calls: Mutex<Vec<Instant>>,
    /// DeleteRoom fails as if LiveKit were unreachable.
    unreachable_for_deletes: Mutex<bool>,
    /// The egresses LiveKit lists (every start adds one), and the ingresses.
    egresses: Mutex<Vec<EgressReport>>,
    ingresses: Mutex<Vec<IngressReport>>,
    egress_starts: Mutex<u32>,
}

impl RecordingLiveKit {
    fn reporting(participants_per_room: u32) -> Arc<Self> {
        Arc::new(Self {
            participants_per_room,
            ..Self::default()
        })
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl MediaServer for RecordingLiveKit {
    async fn create_room(&self, room: &RoomName) -> Result<MediaRoom, MediaError> {
        self.rooms.lock().unwrap().push(room.to_string());
        Ok(MediaRoom {
            sid: format!("RM_{room}"),
            name: room.to_string(),
            num_participants: 0,
        })
    }
    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError> {
        if *self.unreachable_for_deletes.lock().unwrap() {
            return Err(MediaError::Unavailable("connection refused".into()));
        }
        self.rooms.lock().unwrap().retain(|r| r != room.as_str());
        Ok(())
    }
    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
        self.calls.lock().unwrap().push(Instant::now());
        let rooms = self.rooms.lock().unwrap();
        Ok(rooms
            .iter()
            .map(|name| MediaRoom {
                sid: format!("RM_{name}"),
                name: name.clone(),
                num_participants: self.participants_per_room,
            })
            .collect())
    }
    async fn list_participants(
        &self,
        room: &RoomName,
    ) -> Result<Vec<MediaParticipant>, MediaError> {
        self.calls.lock().unwrap().push(Instant::now());
        let name = room.to_string();
        let exists = self.rooms.lock().unwrap().contains(&name)
            || self.unlisted.lock().unwrap().contains(&name);
        if exists {
            Ok(Vec::new())
        } else {
            Err(MediaError::NotFound(name))
        }
    }
    async fn remove_participant(&self, _: &RoomName, _: &Identity) -> Result<(), MediaError> {
        Ok(())
    }
    async fn update_room_metadata(&self, _: &RoomName, _: &str) -> Result<(), MediaError> {
        Ok(())
    }
}

struct NoTokens;

impl TokenIssuer for NoTokens {
    fn issue(&self, _: &orchestrator_domain::ports::JoinGrant) -> Result<String, TokenError> {
        Err(TokenError("not in these tests".into()))
    }
    fn ws_url(&self) -> String {
        String::new()
    }
}

#[async_trait]
impl BroadcastMedia for RecordingLiveKit {
    async fn create_ingress(
        &self,
        room: &RoomName,
        _: &IngestKind,
    ) -> Result<CreatedIngress, MediaError> {
        let id = format!("IN_{room}");
        self.ingresses.lock().unwrap().push(IngressReport {
            ingress_id: id.clone(),
            state: Some(IngestState::Inactive),
            error: None,
        });
        Ok(CreatedIngress {
            ingress_id: id,
            url: "rtmp://media/live".into(),
            stream_key: Secret::new("key"),
        })
    }
    async fn delete_ingress(&self, id: &str) -> Result<(), MediaError> {
        self.ingresses
            .lock()
            .unwrap()
            .retain(|i| i.ingress_id != id);
        Ok(())
    }
    async fn list_ingress(&self, _: &RoomName) -> Result<Vec<IngressReport>, MediaError> {
        self.calls.lock().unwrap().push(Instant::now());
        Ok(self.ingresses.lock().unwrap().clone())
    }
    fn start_turn(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    async fn start_egress(
        &self,
        _: &RoomName,
        _: StreamId,
        _: &Output,
    ) -> Result<StartedEgress, MediaError> {
        let mut starts = self.egress_starts.lock().unwrap();
        *starts += 1;
        let id = format!("EG_{starts}");
        self.egresses.lock().unwrap().push(EgressReport {
            egress_id: id.clone(),
            status: EgressStatus::Active,
            error: None,
            playback_url: None,
            location: None,
        });
        Ok(StartedEgress {
            egress_id: id,
            playback_url: None,
            location: None,
        })
    }
    async fn stop_egress(&self, _: &str) -> Result<(), MediaError> {
        Ok(())
    }
    async fn list_egress(&self, _: &RoomName) -> Result<Vec<EgressReport>, MediaError> {
        self.calls.lock().unwrap().push(Instant::now());
        Ok(self.egresses.lock().unwrap().clone())
    }
}

/// Background work on the test's runtime.
struct Spawner;

#[async_trait]
impl Runtime for Spawner {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }
    async fn sleep(&self, delay: Duration) {
        tokio::time::sleep(delay).await;
    }
    fn note(&self, _: &str) {}
    fn observe(&self, _: orchestrator_domain::broadcast::Observation) {}
}

fn service(livekit: Arc<RecordingLiveKit>) -> StreamService {
    let store = Arc::new(MemoryStore::default());
    StreamService::new(
        Ports::new(
            store.clone(),
            store.clone(),
            livekit.clone(),
            Arc::new(NoTokens),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        )
        .with_broadcast(store, livekit, Arc::new(Spawner)),
        "test",
    )
}

async fn create_streams(service: &StreamService, count: usize) {
    for n in 0..count {
        service
            .create(CreateStream {
                room_name: Some(RoomName::new(format!("room-{n}")).unwrap()),
                ..CreateStream::default()
            })
            .await
            .unwrap();
    }
}

fn reconciler(
    service: &StreamService,
    livekit: &Arc<RecordingLiveKit>,
    leases: Arc<dyn LeaseStore>,
    holder: &str,
    calls_per_sec: u32,
) -> Reconciler {
    Reconciler::new(
        service.clone(),
        livekit.clone(),
        livekit.clone(),
        leases,
        holder,
        ReconcilerConfig {
            interval: Duration::from_millis(100),
            livekit_calls_per_sec: calls_per_sec,
        },
    )
}

/// Leases on tokio's clock (so paused-time tests can let them expire), counting renewals; a
/// lease can be taken away to simulate another instance winning it.
#[derive(Default)]
struct TokioLeases {
    held: Mutex<HashMap<String, (String, u64, Instant)>>,
    tokens: Mutex<u64>,
    renewals: Mutex<usize>,
}

impl TokioLeases {
    fn steal(&self, name: &str) {
        let mut tokens = self.tokens.lock().unwrap();
        *tokens += 1;
        let far = Instant::now() + Duration::from_secs(3600);
        self.held
            .lock()
            .unwrap()
            .insert(name.into(), ("thief".into(), *tokens, far));
    }

    fn renewals(&self) -> usize {
        *self.renewals.lock().unwrap()
    }
}

#[async_trait]
impl LeaseStore for TokioLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        let mut held = self.held.lock().unwrap();
        let now = Instant::now();
        match held.get(name) {
            Some((owner, token, until)) if *until > now && owner != holder => return Ok(None),
            Some((owner, token, until)) if *until > now && owner == holder => {
                let token = *token;
                held.insert(name.into(), (holder.into(), token, now + ttl));
                return Ok(Some(LeaseGrant { token }));
            }
            _ => {}
        }
        let mut tokens = self.tokens.lock().unwrap();
        *tokens += 1;
        held.insert(name.into(), (holder.into(), *tokens, now + ttl));
        Ok(Some(LeaseGrant { token: *tokens }))
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        token: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        *self.renewals.lock().unwrap() += 1;
        let mut held = self.held.lock().unwrap();
        let now = Instant::now();
        match held.get(name) {
            Some((owner, current, until))
                if owner == holder && *current == token && *until > now =>
            {
                held.insert(name.into(), (holder.into(), token, now + ttl));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, name: &str, holder: &str, token: u64) -> Result<(), StoreError> {
        let mut held = self.held.lock().unwrap();
        if held
            .get(name)
            .is_some_and(|(owner, current, _)| owner == holder && *current == token)
        {
            held.remove(name);
        }
        Ok(())
    }

    async fn is_current(&self, name: &str, token: u64) -> Result<bool, StoreError> {
        let held = self.held.lock().unwrap();
        Ok(held
            .get(name)
            .is_some_and(|(_, current, until)| *current == token && *until > Instant::now()))
    }

    async fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let held = self.held.lock().unwrap();
        Ok(held
            .get(name)
            .filter(|(_, _, until)| *until > Instant::now())
            .map(|(owner, _, _)| owner.clone()))
    }
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_a_successor_takes_over_after_release() {
    let livekit = Arc::new(RecordingLiveKit::default());
    let service = service(livekit.clone());
    let leases = Arc::new(MemoryCoordination::new());
    let a = reconciler(&service, &livekit, leases.clone(), "a", 1000);
    let b = reconciler(&service, &livekit, leases.clone(), "b", 1000);

    assert!(a.run_once().await.unwrap().is_some());
    assert!(b.run_once().await.unwrap().is_none(), "a holds the lease");
    assert!(a.run_once().await.unwrap().is_some(), "a keeps it");

    let grant = leases
        .acquire(LEASE, "a", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    leases.release(LEASE, "a", grant.token).await.unwrap();
    assert!(b.run_once().await.unwrap().is_some(), "b takes over");
    assert!(a.run_once().await.unwrap().is_none());
    assert!(
        !leases.is_current(LEASE, grant.token).await.unwrap(),
        "a's fence is stale"
    );
}

#[tokio::test(start_paused = true)]
async fn livekit_calls_are_paced_to_the_configured_rate() {
    let livekit = RecordingLiveKit::reporting(1);
    let service = service(livekit.clone());
    create_streams(&service, 4).await;
    let leases = Arc::new(MemoryCoordination::new());

    let report = reconciler(&service, &livekit, leases, "a", 10)
        .run_once()
        .await
        .unwrap()
        .unwrap();

    assert_eq!((report.streams_checked, report.rooms_listed), (4, 4));
    let calls = livekit.calls();
    assert_eq!(
        calls.len(),
        5,
        "one ListRooms, one ListParticipants per drifted room"
    );
    for pair in calls.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(100),
            "at most 10 calls/s"
        );
    }
}

#[tokio::test]
async fn rooms_whose_participant_count_matches_cost_no_livekit_call() {
    let livekit = RecordingLiveKit::reporting(0);
    let service = service(livekit.clone());
    create_streams(&service, 4).await;
    let leases = Arc::new(MemoryCoordination::new());

    let report = reconciler(&service, &livekit, leases, "a", 1000)
        .run_once()
        .await
        .unwrap()
        .unwrap();

    assert_eq!((report.streams_checked, report.rooms_listed), (4, 0));
    assert_eq!(livekit.calls().len(), 1, "only ListRooms");
}

#[tokio::test]
async fn a_stream_whose_room_is_gone_is_stopped() {
    let livekit = Arc::new(RecordingLiveKit::default());
    let service = service(livekit.clone());
    let stream = service.create(CreateStream::default()).await.unwrap();
    livekit.rooms.lock().unwrap().clear();
    let leases = Arc::new(MemoryCoordination::new());

    let report = reconciler(&service, &livekit, leases, "a", 1000)
        .run_once()
        .await
        .unwrap()
        .unwrap();

    assert_eq!((report.rooms_listed, report.events), (1, 1));
    assert!(service.get(stream.id).await.unwrap().is_stopped());
}

#[tokio::test]
async fn a_stop_that_livekit_interrupted_is_finished_once_it_answers() {
    let livekit = Arc::new(RecordingLiveKit::default());
    let service = service(livekit.clone());
    let stream = service.create(CreateStream::default()).await.unwrap();
    *livekit.unreachable_for_deletes.lock().unwrap() = true;
    assert!(service.stop(stream.id).await.is_err());
    assert_eq!(
        service.get(stream.id).await.unwrap().status,
        StreamStatus::Stopping
    );
    *livekit.unreachable_for_deletes.lock().unwrap() = false;
    let leases = Arc::new(MemoryCoordination::new());

    let report = reconciler(&service, &livekit, leases, "a", 1000)
        .run_once()
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.stops_finished, 1);
    assert!(service.get(stream.id).await.unwrap().is_stopped());
    assert!(
        livekit.rooms.lock().unwrap().is_empty(),
        "the room is deleted"
    );
}

#[tokio::test]
async fn a_room_missing_from_the_listing_is_confirmed_gone_before_its_stream_stops() {
    let livekit = Arc::new(RecordingLiveKit::default());
    let service = service(livekit.clone());
    let stream = service.create(CreateStream::default()).await.unwrap();
    // Created after the listing: LiveKit has it, ListRooms did not show it.
    let room = livekit.rooms.lock().unwrap().remove(0);
    livekit.unlisted.lock().unwrap().push(room);
    let leases = Arc::new(MemoryCoordination::new());

    let report = reconciler(&service, &livekit, leases, "a", 1000)
        .run_once()
        .await
        .unwrap()
        .unwrap();

    assert_eq!((report.rooms_listed, report.events), (1, 0));
    assert!(!service.get(stream.id).await.unwrap().is_stopped());
}

#[tokio::test(start_paused = true)]
async fn a_pass_longer_than_the_lease_keeps_it_by_renewing() {
    let livekit = RecordingLiveKit::reporting(1);
    let service = service(livekit.clone());
    create_streams(&service, 60).await;
    let leases = Arc::new(TokioLeases::default());
    let reconciler = reconciler(&service, &livekit, leases.clone(), "a", 1);
    let ttl = reconciler.config.lease_ttl();

    let started = Instant::now();
    let report = reconciler.run_once().await.unwrap().unwrap();

    assert!(
        started.elapsed() > ttl * 3,
        "the pass outlived the ttl several times"
    );
    assert_eq!(report.streams_checked, 60, "and finished");
    assert!(leases.renewals() >= 3);
    let other = leases.acquire(LEASE, "b", ttl).await.unwrap();
    assert_eq!(other, None, "a still holds it");
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_lost_its_lease_stops_writing() {
    let livekit = RecordingLiveKit::reporting(1);
    let service = service(livekit.clone());
    create_streams(&service, 60).await;
    let leases = Arc::new(TokioLeases::default());
    let reconciler = reconciler(&service, &livekit, leases.clone(), "a", 1);

    let pass = tokio::spawn(async move { reconciler.run_once().await });
    tokio::time::sleep(Duration::from_secs(20)).await;
    leases.steal(LEASE);
    let outcome = pass.await.unwrap();

    assert!(matches!(outcome, Err(ReconcileError::LostLease)));
    assert!(livekit.calls().len() < 30, "it stopped long before the end");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_running_pass_and_hands_the_lease_over() {
    let livekit = RecordingLiveKit::reporting(1);
    let service = service(livekit.clone());
    create_streams(&service, 60).await;
    let leases = Arc::new(TokioLeases::default());
    let reconciler = reconciler(&service, &livekit, leases.clone(), "a", 1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();

    let running = tokio::spawn(reconciler.run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    running.await.unwrap();

    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "no waiting for the pass to end"
    );
    assert!(livekit.calls().len() < 20);
    let successor = leases
        .acquire(LEASE, "b", Duration::from_secs(15))
        .await
        .unwrap();
    assert!(successor.is_some(), "released for a successor");
}

#[tokio::test(start_paused = true)]
async fn a_pass_over_a_hundred_thousand_live_streams_calls_livekit_only_where_counts_drifted() {
    let livekit = RecordingLiveKit::reporting(0);
    let service = service(livekit.clone());
    create_streams(&service, 100_000).await;
    // One room whose LiveKit count (0) disagrees with its stream's: ten sessions we think are
    // connected left without their webhooks.
    for n in 0..10 {
        let change = orchestrator_domain::service::media::MediaEvent {
            room: "room-0".into(),
            room_sid: String::new(),
            reported_at: None,
            kind: orchestrator_domain::service::media::MediaEventKind::ParticipantJoined {
                identity: format!("ghost-{n}"),
                sid: format!("PA_{n}"),
                can_publish: false,
            },
        };
        service.apply_media_event(change).await.unwrap();
    }
    let leases = Arc::new(TokioLeases::default());
    let reconciler = reconciler(&service, &livekit, leases.clone(), "a", 10);

    let started = Instant::now();
    let report = reconciler.run_once().await.unwrap().unwrap();

    assert_eq!(report.streams_checked, 100_000);
    assert_eq!(report.rooms_listed, 1, "only the drifted room is listed");
    assert_eq!(report.events, 10, "every ghost left");
    assert_eq!(livekit.calls().len(), 2, "ListRooms + one ListParticipants");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "paced, not per stream"
    );
}

// ---- broadcast ----

/// Waits for the background egress work of the service to settle, a retry's backoff included
/// (the broadcast tests run on paused time: the seconds pass at once).
async fn settle() {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stream_with_hls(service: &StreamService) -> StreamId {
    create_streams(service, 1).await;
    let id = service
        .list(orchestrator_domain::service::commands::ListStreams::default())
        .await
        .unwrap()
        .items[0]
        .id;
    service
        .add_output(
            id,
            orchestrator_domain::service::broadcast::NewOutput {
                id: Some(OutputId::new("hls").unwrap()),
                kind: OutputKind::Hls,
                auto_start: false,
            },
        )
        .await
        .unwrap();
    id
}

#[tokio::test(start_paused = true)]
async fn an_egress_livekit_no_longer_lists_is_started_again() {
    let livekit = RecordingLiveKit::reporting(0);
    let service = service(livekit.clone());
    let id = stream_with_hls(&service).await;
    service
        .start_output(id, &OutputId::new("hls").unwrap())
        .await
        .unwrap();
    settle().await;
    livekit.egresses.lock().unwrap().clear();

    let report = reconciler(
        &service,
        &livekit,
        Arc::new(MemoryCoordination::new()),
        "a",
        1000,
    )
    .run_once()
    .await
    .unwrap()
    .unwrap();
    settle().await;

    assert!(report.events >= 1, "{report:?}");
    assert_eq!(*livekit.egress_starts.lock().unwrap(), 2);
    let output = service
        .output(id, &OutputId::new("hls").unwrap())
        .await
        .unwrap();
    assert_eq!((output.observed, output.attempts), (Observed::Starting, 2));
    assert_eq!(output.egress_id.as_deref(), Some("EG_2"));
}

#[tokio::test]
async fn an_ingress_deleted_behind_our_back_removes_the_ingest() {
    let livekit = RecordingLiveKit::reporting(0);
    let service = service(livekit.clone());
    create_streams(&service, 1).await;
    let id = service
        .list(orchestrator_domain::service::commands::ListStreams::default())
        .await
        .unwrap()
        .items[0]
        .id;
    service.create_ingest(id, IngestKind::Rtmp).await.unwrap();
    livekit.ingresses.lock().unwrap().clear();

    reconciler(
        &service,
        &livekit,
        Arc::new(MemoryCoordination::new()),
        "a",
        1000,
    )
    .run_once()
    .await
    .unwrap();

    assert!(service.ingest(id).await.is_err(), "the ingest is gone");
}

#[tokio::test]
async fn streams_without_outputs_or_ingest_cost_no_broadcast_call() {
    let livekit = RecordingLiveKit::reporting(0);
    let service = service(livekit.clone());
    create_streams(&service, 5).await;
    let calls_before = livekit.calls().len();

    reconciler(
        &service,
        &livekit,
        Arc::new(MemoryCoordination::new()),
        "a",
        1000,
    )
    .run_once()
    .await
    .unwrap();

    assert_eq!(livekit.calls().len(), calls_before + 1, "ListRooms only");
}
