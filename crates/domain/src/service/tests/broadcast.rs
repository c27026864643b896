//! Ingest and outputs through the use cases: LiveKit's Ingress and Egress as a fake that
//! records what it was asked, background work on tokio with paused time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::broadcast::{
    BroadcastError, BroadcastPolicy, Desired, EgressReport, EgressStatus, IngestKind, IngestState,
    IngressReport, Observed, OutputId, OutputKind, RtmpTarget, Secret,
};
use crate::broadcast::{
    BroadcastMedia, BroadcastRepository, BroadcastWrite, BroadcastWriteError, CreatedIngress,
    Observation, Runtime, StartedEgress, Task,
};
use crate::service::broadcast::NewOutput;

// ---- the fakes ----

impl Stored {
    fn outputs(&self) -> Vec<crate::broadcast::Output> {
        self.broadcast.lock().unwrap().outputs.clone()
    }

    fn output_named(&self, name: &str) -> crate::broadcast::Output {
        self.outputs()
            .into_iter()
            .find(|o| o.id.as_str() == name)
            .expect("the output is stored")
    }
}

#[async_trait]
impl BroadcastRepository for Stored {
    async fn broadcast(&self, _: StreamId) -> Result<BroadcastState, StoreError> {
        Ok(self.broadcast.lock().unwrap().clone())
    }

    async fn write_broadcast(
        &self,
        stream_id: StreamId,
        write: BroadcastWrite,
        ctx: ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError> {
        let mut slot = self.stream.lock().unwrap();
        let stream = slot.as_mut().ok_or(BroadcastWriteError::NotFound)?;
        if write.require_active && stream.status != StreamStatus::Active {
            return Err(BroadcastWriteError::NotActive(stream.status));
        }
        self.broadcast.lock().unwrap().apply(&write)?;
        let Some((kind, data)) = write.event else {
            return Ok(None);
        };
        stream.seq += 1;
        let event = StreamEvent::for_broadcast(stream_id, stream.seq, kind, data, &ctx);
        self.events.lock().unwrap().push(event.clone());
        Ok(Some(event))
    }
}

/// LiveKit's Ingress and Egress: hands out ids, records starts and stops, fails on demand.
#[derive(Default)]
pub(super) struct FakeLiveKit {
    next: AtomicU64,
    /// Egress starts asked for, by output name.
    starts: Mutex<HashMap<String, u32>>,
    stops: Mutex<Vec<String>>,
    deleted_ingresses: Mutex<Vec<String>>,
    /// The next this many starts answer "unavailable".
    failing_starts: AtomicU32,
    /// How long each start waits for its paced turn, in milliseconds.
    turn_ms: AtomicU64,
}

impl FakeLiveKit {
    fn starts_of(&self, output: &str) -> u32 {
        self.starts
            .lock()
            .unwrap()
            .get(output)
            .copied()
            .unwrap_or(0)
    }

    fn fail_next_starts(&self, count: u32) {
        self.failing_starts.store(count, Ordering::SeqCst);
    }
}

#[async_trait]
impl BroadcastMedia for FakeLiveKit {
    async fn create_ingress(
        &self,
        _room: &RoomName,
        _kind: &IngestKind,
    ) -> Result<CreatedIngress, MediaError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        Ok(CreatedIngress {
            ingress_id: format!("IN_{n}"),
            url: "rtmp://media.test/live".into(),
            stream_key: Secret::new(format!("key-number-{n}-0123456789")),
        })
    }

    async fn delete_ingress(&self, ingress_id: &str) -> Result<(), MediaError> {
        self.deleted_ingresses
            .lock()
            .unwrap()
            .push(ingress_id.into());
        Ok(())
    }

    async fn list_ingress(&self, _room: &RoomName) -> Result<Vec<IngressReport>, MediaError> {
        Ok(Vec::new())
    }

    fn start_turn(&self) -> Duration {
        Duration::from_millis(self.turn_ms.load(Ordering::SeqCst))
    }

    async fn start_egress(
        &self,
        _room: &RoomName,
        _stream: StreamId,
        output: &crate::broadcast::Output,
    ) -> Result<StartedEgress, MediaError> {
        *self
            .starts
            .lock()
            .unwrap()
            .entry(output.id.to_string())
            .or_default() += 1;
        let failing = self.failing_starts.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_starts.store(failing - 1, Ordering::SeqCst);
            return Err(MediaError::Unavailable("egress is down".into()));
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        Ok(StartedEgress {
            egress_id: format!("EG_{n}"),
            playback_url: matches!(output.kind, OutputKind::Hls)
                .then(|| format!("https://cdn.test/{}/index.m3u8", output.id)),
            location: None,
        })
    }

    async fn stop_egress(&self, egress_id: &str) -> Result<(), MediaError> {
        self.stops.lock().unwrap().push(egress_id.into());
        Ok(())
    }

    async fn list_egress(&self, _room: &RoomName) -> Result<Vec<EgressReport>, MediaError> {
        Ok(Vec::new())
    }
}

/// Background work on the test's tokio runtime; what it notes, kept.
#[derive(Default)]
pub(super) struct TestRuntime {
    notes: Mutex<Vec<String>>,
    observed: Mutex<Vec<Observation>>,
}

#[async_trait]
impl Runtime for TestRuntime {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    async fn sleep(&self, delay: Duration) {
        tokio::time::sleep(delay).await;
    }

    fn note(&self, what: &str) {
        self.notes.lock().unwrap().push(what.to_owned());
    }

    fn observe(&self, observation: Observation) {
        self.observed.lock().unwrap().push(observation);
    }
}

// ---- helpers ----

fn name(raw: &str) -> OutputId {
    OutputId::new(raw).unwrap()
}

fn hls(auto_start: bool) -> NewOutput {
    NewOutput {
        id: None,
        kind: OutputKind::Hls,
        auto_start,
    }
}

fn rtmp_to(url: &str) -> NewOutput {
    NewOutput {
        id: Some(name("restream")),
        kind: OutputKind::rtmp(vec![RtmpTarget::new(url).unwrap()]).unwrap(),
        auto_start: true,
    }
}

/// An active stream with a host present, and what runs it.
fn broadcasting() -> (StreamService, Stored, Arc<FakeLiveKit>, StreamId) {
    broadcasting_with(BroadcastPolicy::default())
}

fn broadcasting_with(
    policy: BroadcastPolicy,
) -> (StreamService, Stored, Arc<FakeLiveKit>, StreamId) {
    let (mut harness, id) = Harness::with_stream(StreamStatus::Active);
    harness.issue_tokens();
    harness.policy = policy;
    let livekit = harness.livekit.clone();
    let (service, stored) = harness.service();
    (service, stored, livekit, id)
}

/// Lets the background tasks run, retries and their backoff included (time is paused in
/// these tests: a minute of sleeps passes at once).
async fn settle() {
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kinds_after(stored: &Stored, seq: u64) -> Vec<EventType> {
    stored
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.seq > seq)
        .map(|e| e.kind)
        .collect()
}

async fn host_publishes(service: &StreamService, stored: &Stored) {
    let room = stored.current().room_name.to_string();
    service
        .apply_media_event(media(
            &room,
            "",
            MediaEventKind::ParticipantJoined {
                identity: "studio".into(),
                sid: "PA_1".into(),
                can_publish: true,
            },
        ))
        .await
        .unwrap();
    service
        .apply_media_event(media(
            &room,
            "",
            MediaEventKind::Track {
                identity: "studio".into(),
                sid: "PA_1".into(),
                track_sid: "TR_1".into(),
                published: true,
            },
        ))
        .await
        .unwrap();
}

fn egress_report(egress_id: &str, status: EgressStatus, error: Option<&str>) -> MediaEventKind {
    MediaEventKind::Egress {
        status: format!("{status:?}"),
        report: EgressReport {
            egress_id: egress_id.into(),
            status,
            error: error.map(str::to_owned),
            playback_url: None,
            location: None,
        },
    }
}

// ---- outputs ----

#[tokio::test(start_paused = true)]
async fn an_auto_start_output_waits_for_the_stream_to_go_live_then_starts_once() {
    let (service, stored, livekit, id) = broadcasting();
    let added = service.add_output(id, hls(true)).await.unwrap();
    assert_eq!(
        (added.desired, added.observed),
        (Desired::On, Observed::Idle)
    );
    assert_eq!(livekit.starts_of("hls"), 0, "not live yet");

    host_publishes(&service, &stored).await;
    host_publishes(&service, &stored).await;
    settle().await;

    let output = stored.output_named("hls");
    assert_eq!(livekit.starts_of("hls"), 1);
    assert_eq!(output.observed, Observed::Starting);
    assert_eq!(output.egress_id.as_deref(), Some("EG_0"));
    assert_eq!(
        output.playback_url.as_deref(),
        Some("https://cdn.test/hls/index.m3u8")
    );
}

#[tokio::test(start_paused = true)]
async fn egress_reports_move_the_observed_state_each_with_an_event() {
    let (service, stored, _, id) = broadcasting();
    service.add_output(id, hls(false)).await.unwrap();
    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;
    let room = stored.current().room_name.to_string();
    let seq = stored.current().seq;

    service
        .apply_media_event(media(
            &room,
            "",
            egress_report("EG_0", EgressStatus::Active, None),
        ))
        .await
        .unwrap();
    let active = stored.output_named("hls");
    service.stop_output(id, &name("hls")).await.unwrap();
    settle().await;
    service
        .apply_media_event(media(
            &room,
            "",
            egress_report("EG_0", EgressStatus::Complete, None),
        ))
        .await
        .unwrap();

    assert_eq!(active.observed, Observed::Active);
    let done = stored.output_named("hls");
    assert_eq!(
        (done.desired, done.observed),
        (Desired::Off, Observed::Complete)
    );
    assert_eq!(
        kinds_after(&stored, seq),
        [EventType::OutputUpdated; 3],
        "active, ending, complete"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_is_retried_with_backoff_then_reported_failed() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(false)).await.unwrap();
    livekit.fail_next_starts(100);

    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;

    let failed = stored.output_named("hls");
    assert_eq!(livekit.starts_of("hls"), crate::broadcast::MAX_ATTEMPTS);
    assert_eq!(failed.observed, Observed::Failed);
    assert_eq!(failed.attempts, crate::broadcast::MAX_ATTEMPTS);
    assert!(failed
        .failure
        .as_deref()
        .unwrap()
        .contains("egress is down"));
}

#[tokio::test(start_paused = true)]
async fn a_start_that_fails_once_then_succeeds_runs_one_egress() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(false)).await.unwrap();
    livekit.fail_next_starts(1);

    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;

    let output = stored.output_named("hls");
    assert_eq!(livekit.starts_of("hls"), 2);
    assert_eq!((output.observed, output.attempts), (Observed::Starting, 2));
    assert!(output.egress_id.is_some() && output.failure.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_egress_that_breaks_while_wanted_is_started_again() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(false)).await.unwrap();
    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;
    let room = stored.current().room_name.to_string();

    service
        .apply_media_event(media(
            &room,
            "",
            egress_report("EG_0", EgressStatus::Failed, Some("encoder crashed")),
        ))
        .await
        .unwrap();
    settle().await;

    let output = stored.output_named("hls");
    assert_eq!(livekit.starts_of("hls"), 2);
    assert_eq!(output.attempts, 2);
    assert_ne!(output.egress_id.as_deref(), Some("EG_0"));
}

#[tokio::test(start_paused = true)]
async fn many_concurrent_went_live_signals_start_each_output_once() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(true)).await.unwrap();
    service
        .add_output(id, rtmp_to("rtmp://live.example.com/app/key"))
        .await
        .unwrap();
    let stream = stored.current();

    let signals: Vec<_> = (0..32)
        .map(|_| {
            let (service, stream) = (service.clone(), stream.clone());
            tokio::spawn(async move { service.went_live(&stream).await })
        })
        .collect();
    for signal in signals {
        signal.await.unwrap().unwrap();
    }
    settle().await;

    assert_eq!(livekit.starts_of("hls"), 1);
    assert_eq!(livekit.starts_of("restream"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_auto_start_output_added_to_a_live_stream_starts_at_once() {
    let (service, stored, livekit, id) = broadcasting();
    host_publishes(&service, &stored).await;

    service.add_output(id, hls(true)).await.unwrap();
    settle().await;

    assert_eq!(livekit.starts_of("hls"), 1);
}

#[tokio::test(start_paused = true)]
async fn stopping_the_stream_stops_every_output_and_removes_its_ingest() {
    let (mut harness, id) = Harness::with_stream(StreamStatus::Active);
    harness.issue_tokens();
    harness.media.expect_delete_room().returning(|_| Ok(()));
    let livekit = harness.livekit.clone();
    let (service, stored) = harness.service();
    service.add_output(id, hls(true)).await.unwrap();
    service
        .add_output(id, rtmp_to("rtmp://live.example.com/app/key"))
        .await
        .unwrap();
    let ingest = service.create_ingest(id, IngestKind::Rtmp).await.unwrap();
    host_publishes(&service, &stored).await;
    settle().await;

    service.stop(id).await.unwrap();
    settle().await;

    let outputs = stored.outputs();
    assert!(
        outputs
            .iter()
            .all(|o| o.desired == Desired::Off && o.observed == Observed::Ending),
        "{outputs:?}"
    );
    assert_eq!(livekit.stops.lock().unwrap().len(), 2);
    assert_eq!(
        *livekit.deleted_ingresses.lock().unwrap(),
        [ingest.ingress_id]
    );
    assert!(stored.broadcast.lock().unwrap().ingest.is_none());
}

#[tokio::test(start_paused = true)]
async fn outputs_are_bounded_and_named_uniquely() {
    let (service, _, _, id) = broadcasting();
    for _ in 0..crate::broadcast::MAX_OUTPUTS {
        service.add_output(id, hls(false)).await.unwrap();
    }

    let one_more = service.add_output(id, hls(false)).await;
    let names: Vec<String> = service
        .outputs(id)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id.to_string())
        .collect();

    assert_eq!(
        one_more,
        Err(StreamError::Broadcast(BroadcastError::TooManyOutputs))
    );
    assert_eq!(names[..3], ["hls", "hls-2", "hls-3"]);
    let dup = service
        .add_output(
            id,
            NewOutput {
                id: Some(name("hls")),
                ..hls(false)
            },
        )
        .await;
    assert!(matches!(dup, Err(StreamError::Broadcast(_))));
}

#[tokio::test(start_paused = true)]
async fn a_deployment_without_storage_refuses_outputs_that_write_files() {
    let policy = BroadcastPolicy {
        storage: false,
        ..BroadcastPolicy::default()
    };
    let (service, _, _, id) = broadcasting_with(policy);

    let refused = service.add_output(id, hls(false)).await;
    let rtmp = service
        .add_output(id, rtmp_to("rtmp://live.example.com/app/key"))
        .await;

    assert_eq!(
        refused,
        Err(StreamError::Broadcast(
            BroadcastError::StorageNotConfigured("hls")
        ))
    );
    assert!(rtmp.is_ok());
}

#[tokio::test(start_paused = true)]
async fn production_refuses_rtmp_targets_on_internal_addresses() {
    let policy = BroadcastPolicy {
        internal_targets: false,
        ..BroadcastPolicy::default()
    };
    let (service, stored, _, id) = broadcasting_with(policy);

    let refused = service
        .add_output(id, rtmp_to("rtmp://169.254.169.254/latest/meta"))
        .await;

    let Err(StreamError::Invalid(invalid)) = refused else {
        panic!("refused as invalid: {refused:?}");
    };
    assert_eq!(invalid.field, "targets");
    assert!(stored.outputs().is_empty(), "nothing recorded");
}

#[tokio::test(start_paused = true)]
async fn events_show_rtmp_targets_only_up_to_their_host() {
    let (service, stored, _, id) = broadcasting();

    service
        .add_output(id, rtmp_to("rtmps://live.example.com/app/the-secret-key"))
        .await
        .unwrap();

    let events = stored.events.lock().unwrap();
    let added = events.last().unwrap();
    assert_eq!(added.kind, EventType::OutputAdded);
    let data = added.data.to_string();
    assert!(!data.contains("the-secret-key"), "{data}");
    assert!(data.contains("rtmps://live.example.com/…"), "{data}");
}

#[tokio::test(start_paused = true)]
async fn removing_a_running_output_stops_its_egress_first() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(false)).await.unwrap();
    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;

    service.remove_output(id, &name("hls")).await.unwrap();

    assert!(stored.outputs().is_empty());
    assert_eq!(*livekit.stops.lock().unwrap(), ["EG_0"]);
    assert_eq!(
        stored.events.lock().unwrap().last().unwrap().kind,
        EventType::OutputRemoved
    );
}

// ---- ingest ----

#[tokio::test(start_paused = true)]
async fn an_ingest_is_created_once_and_its_key_never_reaches_an_event() {
    let (service, stored, _, id) = broadcasting();

    let ingest = service.create_ingest(id, IngestKind::Rtmp).await.unwrap();
    let again = service.create_ingest(id, IngestKind::Rtmp).await;

    assert_eq!(ingest.state, IngestState::Inactive);
    assert_eq!(
        again,
        Err(StreamError::Broadcast(BroadcastError::IngestExists))
    );
    let events = stored.events.lock().unwrap();
    let created = events.last().unwrap();
    assert_eq!(created.kind, EventType::IngestCreated);
    assert!(!created
        .data
        .to_string()
        .contains(ingest.stream_key.expose()));
}

#[tokio::test(start_paused = true)]
async fn rotating_the_key_deletes_the_old_ingress_before_showing_the_new_key() {
    let (service, _, livekit, id) = broadcasting();
    let first = service.create_ingest(id, IngestKind::Rtmp).await.unwrap();

    let rotated = service.rotate_ingest_key(id).await.unwrap();

    assert_ne!(rotated.stream_key, first.stream_key);
    assert_ne!(rotated.ingress_id, first.ingress_id);
    assert_eq!(
        *livekit.deleted_ingresses.lock().unwrap(),
        [first.ingress_id]
    );
    assert_eq!(service.ingest(id).await.unwrap(), rotated);
}

#[tokio::test(start_paused = true)]
async fn the_ingest_publishing_makes_the_stream_live() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(true)).await.unwrap();
    let ingest = service.create_ingest(id, IngestKind::Whip).await.unwrap();
    let room = stored.current().room_name.to_string();

    let outcome = service
        .apply_media_event(media(
            &room,
            "",
            MediaEventKind::Ingress {
                status: "ENDPOINT_PUBLISHING".into(),
                report: IngressReport {
                    ingress_id: ingest.ingress_id.clone(),
                    state: Some(IngestState::Publishing),
                    error: None,
                },
            },
        ))
        .await
        .unwrap();
    settle().await;

    assert!(
        matches!(outcome, MediaEventOutcome::Applied(ref e) if e.kind == EventType::IngestUpdated)
    );
    assert_eq!(
        service.ingest(id).await.unwrap().state,
        IngestState::Publishing
    );
    assert_eq!(livekit.starts_of("hls"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_ingress_deleted_behind_our_back_removes_the_ingest() {
    let (service, stored, _, id) = broadcasting();
    let ingest = service.create_ingest(id, IngestKind::Rtmp).await.unwrap();

    service
        .apply_ingress_report(
            &stored.current(),
            IngressReport {
                ingress_id: ingest.ingress_id,
                state: None,
                error: None,
            },
        )
        .await
        .unwrap();

    assert_eq!(
        service.ingest(id).await,
        Err(StreamError::Broadcast(BroadcastError::IngestNotFound))
    );
    assert_eq!(
        stored.events.lock().unwrap().last().unwrap().kind,
        EventType::IngestRemoved
    );
}

#[tokio::test(start_paused = true)]
async fn starts_retries_and_states_are_observed_for_the_metrics() {
    let (mut harness, id) = Harness::with_stream(StreamStatus::Active);
    harness.issue_tokens();
    let (livekit, runtime) = (harness.livekit.clone(), harness.runtime.clone());
    let (service, _) = harness.service();
    service.add_output(id, hls(false)).await.unwrap();
    livekit.fail_next_starts(100);

    service.start_output(id, &name("hls")).await.unwrap();
    settle().await;

    let observed = runtime.observed.lock().unwrap().clone();
    let count = |wanted: Observation| observed.iter().filter(|o| **o == wanted).count();
    assert_eq!(count(Observation::EgressStart(false)), 4);
    assert_eq!(count(Observation::Retry), 3);
    assert_eq!(count(Observation::Entered(Observed::Starting)), 1);
    assert_eq!(count(Observation::Entered(Observed::Failed)), 1);
}

// ---- a service without broadcast ports ----

#[tokio::test]
async fn a_service_built_without_broadcast_ports_has_no_outputs_and_refuses_to_make_any() {
    let (harness, id) = Harness::with_stream(StreamStatus::Active);
    // The media server mock expects nothing: a refusal that asked it for a room would panic.
    let service = harness.service_without_broadcast();

    let outputs = service.outputs(id).await;
    let ingest = service
        .create_ingest(id, IngestKind::Rtmp)
        .await
        .unwrap_err();
    let output = service
        .add_output(
            id,
            NewOutput {
                id: None,
                kind: OutputKind::Hls,
                auto_start: false,
            },
        )
        .await
        .unwrap_err();
    let declared = service
        .create(CreateStream {
            outputs: vec![NewOutput {
                id: None,
                kind: OutputKind::Hls,
                auto_start: true,
            }],
            ..CreateStream::default()
        })
        .await
        .unwrap_err();

    assert_eq!(outputs, Ok(Vec::new()));
    for refused in [ingest, output, declared] {
        assert_eq!(refused, StreamError::Broadcast(BroadcastError::Unsupported));
    }
    assert_eq!(
        crate::policy::codes::of(&StreamError::Broadcast(BroadcastError::Unsupported)),
        "broadcast_unsupported"
    );
}

// ---- paced starts ----

#[tokio::test(start_paused = true)]
async fn a_claimed_start_waits_for_its_paced_turn_and_records_when_it_comes() {
    let (service, stored, livekit, id) = broadcasting();
    livekit.turn_ms.store(90_000, Ordering::SeqCst);
    service.add_output(id, hls(true)).await.unwrap();

    host_publishes(&service, &stored).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = stored.output_named("hls");
    let starts_while_waiting = livekit.starts_of("hls");
    tokio::time::sleep(Duration::from_secs(90)).await;

    assert_eq!(waiting.observed, Observed::Starting, "claimed");
    let turn = waiting.start_at.expect("the claim records its turn") - waiting.updated_at;
    assert!(
        (89..=91).contains(&turn.num_seconds()),
        "the turn is the pacing wait: {turn}"
    );
    assert_eq!(starts_while_waiting, 0, "not sent before its turn");
    assert_eq!(livekit.starts_of("hls"), 1, "sent once its turn came");
}

// ---- reconciling with LiveKit's listings ----

#[tokio::test(start_paused = true)]
async fn an_egress_started_after_the_listing_is_not_taken_for_a_missing_one() {
    let (service, stored, livekit, id) = broadcasting();
    livekit.turn_ms.store(1_000, Ordering::SeqCst);
    service.add_output(id, hls(true)).await.unwrap();
    host_publishes(&service, &stored).await;
    // What a reconciler reads before it asks LiveKit: the start claimed, not yet sent.
    let seen = service.broadcast(id).await.unwrap();
    let listed_before_the_start: Vec<EgressReport> = Vec::new();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stored.output_named("hls").egress_id.as_deref(),
        Some("EG_0")
    );

    let events = service
        .reconcile_broadcast(
            &stored.current(),
            &seen,
            Some(&listed_before_the_start),
            None,
        )
        .await
        .unwrap();
    settle().await;

    assert!(events.is_empty(), "{events:?}");
    assert_eq!(livekit.starts_of("hls"), 1, "no second egress");
    assert_eq!(
        stored.output_named("hls").egress_id.as_deref(),
        Some("EG_0")
    );
}

#[tokio::test(start_paused = true)]
async fn an_egress_missing_from_a_listing_taken_after_it_was_recorded_is_started_again() {
    let (service, stored, livekit, id) = broadcasting();
    service.add_output(id, hls(true)).await.unwrap();
    host_publishes(&service, &stored).await;
    settle().await;
    let seen = service.broadcast(id).await.unwrap();
    let listed_without_it: Vec<EgressReport> = Vec::new();

    service
        .reconcile_broadcast(&stored.current(), &seen, Some(&listed_without_it), None)
        .await
        .unwrap();
    settle().await;

    assert_eq!(livekit.starts_of("hls"), 2, "the lost egress is replaced");
}
