//! The reconciler: heals what lost webhooks left wrong. Every interval, on exactly one
//! instance (the holder of the `reconciler` lease), it compares active streams with LiveKit's
//! rooms and participants and records the missing changes through
//! [`StreamService::reconcile_stream`]. Its LiveKit calls are paced to a configured rate, and
//! each write first checks that the lease's fencing token is still current, so an instance
//! that lost the lease (a long pause) stops writing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::coordination::LeaseStore;
use domain::ports::MediaServer;
use domain::{ListStreams, StreamError, StreamService, StreamStatus};
use tokio::time::Instant;

/// The lease only one instance holds.
const LEASE: &str = "reconciler";

/// How the reconciler runs.
#[derive(Debug, Clone, Copy)]
pub struct ReconcilerConfig {
    /// Pause between passes.
    pub interval: Duration,
    /// Most LiveKit calls per second.
    pub livekit_calls_per_sec: u32,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Active streams compared with LiveKit.
    pub streams_checked: usize,
    /// Events recorded to heal drift.
    pub events: usize,
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store or LiveKit failed; the next pass retries.
    #[error(transparent)]
    Service(#[from] StreamError),
    /// Another instance took the lease during the pass.
    #[error("lost the reconciler lease")]
    LostLease,
}

/// Compares streams with LiveKit and heals the difference.
#[derive(Clone)]
pub struct Reconciler {
    service: StreamService,
    media: Arc<dyn MediaServer>,
    leases: Arc<dyn LeaseStore>,
    holder: String,
    config: ReconcilerConfig,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("holder", &self.holder)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Spaces calls at least `gap` apart.
struct Pacer {
    gap: Duration,
    next: Instant,
}

impl Pacer {
    fn new(calls_per_sec: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / calls_per_sec.max(1),
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = Instant::now() + self.gap;
    }
}

impl Reconciler {
    /// A reconciler for this instance (`holder` names it in the lease).
    pub fn new(
        service: StreamService,
        media: Arc<dyn MediaServer>,
        leases: Arc<dyn LeaseStore>,
        holder: impl Into<String>,
        config: ReconcilerConfig,
    ) -> Self {
        Self {
            service,
            media,
            leases,
            holder: holder.into(),
            config,
        }
    }

    /// One pass, if this instance holds (or can take) the lease; `None` otherwise.
    ///
    /// # Errors
    /// [`ReconcileError`]; nothing half-done is left behind, the next pass retries.
    pub async fn run_once(&self) -> Result<Option<Report>, ReconcileError> {
        let ttl = self.config.interval * 3;
        let grant = self
            .leases
            .acquire(LEASE, &self.holder, ttl)
            .await
            .map_err(StreamError::from)?;
        let Some(grant) = grant else {
            return Ok(None);
        };
        let mut pacer = Pacer::new(self.config.livekit_calls_per_sec);
        let mut active = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .service
                .list(ListStreams {
                    status: Some(StreamStatus::Active),
                    limit: Some(ListStreams::MAX_LIMIT),
                    cursor,
                })
                .await?;
            active.extend(page.items);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let mut report = Report::default();
        if active.is_empty() {
            return Ok(Some(report));
        }
        pacer.wait().await;
        let rooms: HashMap<String, ()> = self
            .media
            .list_rooms()
            .await
            .map_err(StreamError::from)?
            .into_iter()
            .map(|room| (room.name, ()))
            .collect();
        for stream in active {
            let participants = if rooms.contains_key(stream.room_name.as_str()) {
                pacer.wait().await;
                match self.media.list_participants(&stream.room_name).await {
                    Ok(participants) => Some(participants),
                    // Closed between the two calls.
                    Err(domain::ports::MediaError::NotFound(_)) => None,
                    Err(err) => return Err(StreamError::from(err).into()),
                }
            } else {
                None
            };
            let current = self
                .leases
                .is_current(LEASE, grant.token)
                .await
                .map_err(StreamError::from)?;
            if !current {
                return Err(ReconcileError::LostLease);
            }
            let events = self
                .service
                .reconcile_stream(stream.id, participants.as_deref())
                .await?;
            report.streams_checked += 1;
            report.events += events.len();
        }
        Ok(Some(report))
    }

    /// Runs a pass every interval until `shutdown` resolves, then releases the lease.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => {}
            }
            match self.run_once().await {
                Ok(Some(report)) if report.events > 0 => {
                    tracing::info!(
                        streams = report.streams_checked,
                        events = report.events,
                        "reconciler healed drift from LiveKit"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "reconciler pass failed"),
            }
        }
        // Let another instance take over at once rather than after the lease expires.
        if let Ok(Some(grant)) = self
            .leases
            .acquire(LEASE, &self.holder, Duration::from_millis(1))
            .await
        {
            let _ = self.leases.release(LEASE, &self.holder, grant.token).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use domain::ports::{
        MediaError, MediaParticipant, MediaRoom, RandomIds, SystemClock, TokenError, TokenIssuer,
    };
    use domain::service::Ports;
    use domain::{CreateStream, Identity, RoomName};
    use store_memory::coordination::MemoryCoordination;
    use store_memory::MemoryStore;

    use super::*;

    /// A LiveKit with fixed rooms (all empty) that records when each call was made.
    #[derive(Default)]
    struct RecordingLiveKit {
        rooms: Mutex<Vec<String>>,
        calls: Mutex<Vec<Instant>>,
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
        async fn delete_room(&self, _: &RoomName) -> Result<(), MediaError> {
            Ok(())
        }
        async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
            self.calls.lock().unwrap().push(Instant::now());
            Ok(self
                .rooms
                .lock()
                .unwrap()
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
            _: &RoomName,
        ) -> Result<Vec<MediaParticipant>, MediaError> {
            self.calls.lock().unwrap().push(Instant::now());
            Ok(Vec::new())
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
        fn issue(&self, _: &domain::ports::JoinGrant) -> Result<String, TokenError> {
            Err(TokenError("not in these tests".into()))
        }
        fn ws_url(&self) -> String {
            String::new()
        }
    }

    fn service(livekit: Arc<RecordingLiveKit>) -> StreamService {
        StreamService::new(
            Ports {
                streams: Arc::new(MemoryStore::default()),
                media: livekit,
                tokens: Arc::new(NoTokens),
                clock: Arc::new(SystemClock),
                ids: Arc::new(RandomIds),
            },
            "test",
        )
    }

    fn reconciler(
        service: &StreamService,
        livekit: &Arc<RecordingLiveKit>,
        leases: &Arc<MemoryCoordination>,
        holder: &str,
        calls_per_sec: u32,
    ) -> Reconciler {
        Reconciler::new(
            service.clone(),
            livekit.clone(),
            leases.clone(),
            holder,
            ReconcilerConfig {
                interval: Duration::from_millis(100),
                livekit_calls_per_sec: calls_per_sec,
            },
        )
    }

    #[tokio::test]
    async fn only_the_lease_holder_reconciles_and_a_successor_takes_over_after_release() {
        let livekit = Arc::new(RecordingLiveKit::default());
        let service = service(livekit.clone());
        let leases = Arc::new(MemoryCoordination::new());
        let a = reconciler(&service, &livekit, &leases, "a", 1000);
        let b = reconciler(&service, &livekit, &leases, "b", 1000);

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
        let livekit = Arc::new(RecordingLiveKit::default());
        let service = service(livekit.clone());
        for n in 0..4 {
            service
                .create(CreateStream {
                    room_name: Some(RoomName::new(format!("room-{n}")).unwrap()),
                    ..CreateStream::default()
                })
                .await
                .unwrap();
        }
        let leases = Arc::new(MemoryCoordination::new());
        let reconciler = reconciler(&service, &livekit, &leases, "a", 10);

        let report = reconciler.run_once().await.unwrap().unwrap();

        assert_eq!(report.streams_checked, 4);
        let calls = livekit.calls.lock().unwrap().clone();
        assert_eq!(
            calls.len(),
            5,
            "one ListRooms, one ListParticipants per stream"
        );
        for pair in calls.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(100),
                "at most 10 calls/s"
            );
        }
    }

    #[tokio::test]
    async fn a_stream_whose_room_is_gone_is_stopped() {
        let livekit = Arc::new(RecordingLiveKit::default());
        let service = service(livekit.clone());
        let stream = service.create(CreateStream::default()).await.unwrap();
        livekit.rooms.lock().unwrap().clear();
        let leases = Arc::new(MemoryCoordination::new());

        let report = reconciler(&service, &livekit, &leases, "a", 1000)
            .run_once()
            .await
            .unwrap()
            .unwrap();

        assert_eq!(report.events, 1);
        assert!(service.get(stream.id).await.unwrap().is_stopped());
    }
}
