//! One pass over the live streams: active ones compared with their rooms and their broadcast
//! with LiveKit's egresses and ingresses, stopping ones finished.

use std::collections::HashMap;

use orchestrator_domain::broadcast::Observed;
use orchestrator_domain::ports::{MediaError, MediaParticipant};
use orchestrator_domain::{
    error::StreamError, service::commands::ListStreams, stream::Stream, stream::StreamStatus,
};

use crate::lease::Held;
use crate::pacer::Pacer;
use crate::{ReconcileError, Reconciler, Report};

/// Streams read per store round trip.
const PAGE: usize = ListStreams::MAX_LIMIT;

pub(crate) struct Pass<'a> {
    reconciler: &'a Reconciler,
    lease: Held<'a>,
    pacer: Pacer,
    report: Report,
}

impl<'a> Pass<'a> {
    pub(crate) fn new(reconciler: &'a Reconciler, lease: Held<'a>) -> Self {
        Self {
            pacer: Pacer::new(reconciler.config.livekit_calls_per_sec),
            reconciler,
            lease,
            report: Report::default(),
        }
    }

    pub(crate) async fn run(mut self) -> Result<Report, ReconcileError> {
        self.pacer.wait().await;
        let rooms: HashMap<String, u32> = self
            .reconciler
            .media
            .list_rooms()
            .await
            .map_err(StreamError::from)?
            .into_iter()
            .map(|room| (room.name, room.num_participants))
            .collect();
        let mut cursor = None;
        loop {
            self.lease.keep().await?;
            let page = self
                .reconciler
                .service
                .list(ListStreams {
                    status: Some(StreamStatus::Active),
                    limit: Some(PAGE),
                    cursor,
                })
                .await?;
            for stream in page.items {
                let room = rooms.get(stream.room_name.as_str()).copied();
                self.check(&stream, room).await?;
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        self.finish_stops().await?;
        Ok(self.report)
    }

    /// Finishes the stops a LiveKit outage (or an instance that died mid-stop) left `stopping`:
    /// the room is deleted and the stream `stopped`, as the stop that was asked for would have.
    /// A stop still running elsewhere is finished twice, harmlessly: both steps are idempotent.
    async fn finish_stops(&mut self) -> Result<(), ReconcileError> {
        let mut cursor = None;
        loop {
            self.lease.keep().await?;
            let page = self
                .reconciler
                .service
                .list(ListStreams {
                    status: Some(StreamStatus::Stopping),
                    limit: Some(PAGE),
                    cursor,
                })
                .await?;
            for stream in page.items {
                self.pacer.wait().await;
                self.lease.fence().await?;
                self.reconciler.service.stop(stream.id).await?;
                self.report.stops_finished += 1;
            }
            cursor = page.next;
            if cursor.is_none() {
                return Ok(());
            }
        }
    }

    /// Compares one stream with its room (`None`: LiveKit has no such room) and its broadcast
    /// with LiveKit's egresses and ingresses, and heals both.
    async fn check(&mut self, stream: &Stream, room: Option<u32>) -> Result<(), ReconcileError> {
        self.report.streams_checked += 1;
        crate::metered::stream_checked();
        // A long pass keeps the lag current, so a pass that never ends shows as one.
        self.reconciler.tracker.report_lag();
        self.check_room(stream, room).await?;
        self.check_broadcast(stream).await
    }

    async fn check_room(
        &mut self,
        stream: &Stream,
        room: Option<u32>,
    ) -> Result<(), ReconcileError> {
        let participants = match room {
            Some(count) if u64::from(count) == stream.audience.connected => return Ok(()),
            // Missing from the listing: gone, or created after it; LiveKit says which. None
            // when the room is gone (or closed since the listing).
            None | Some(_) => self.list_participants(stream).await?,
        };
        self.lease.fence().await?;
        let events = self
            .reconciler
            .service
            .reconcile_stream(stream.id, participants.as_deref())
            .await?;
        self.report.events += events.len();
        crate::metered::repaired(events.len());
        Ok(())
    }

    /// Outputs and the ingest against what LiveKit lists for the room: one read of the
    /// stream's broadcast, and a LiveKit listing only for what may have drifted (an egress
    /// we think runs, an ingest). The read comes first: a listing can only judge what was
    /// recorded before it was taken (an egress started meanwhile is not in it).
    async fn check_broadcast(&mut self, stream: &Stream) -> Result<(), ReconcileError> {
        let state = self.reconciler.service.broadcast(stream.id).await?;
        let running = state
            .outputs
            .iter()
            .any(|o| o.egress_id.is_some() && o.observed.is_running());
        let claimed = state
            .outputs
            .iter()
            .any(|o| o.egress_id.is_none() && o.observed == Observed::Starting);
        if !running && !claimed && state.ingest.is_none() {
            return Ok(());
        }
        let egresses = match running {
            true => Some(
                self.listed(self.reconciler.broadcast.list_egress(&stream.room_name))
                    .await?,
            ),
            false => None,
        };
        let ingresses = match state.ingest {
            Some(_) => Some(
                self.listed(self.reconciler.broadcast.list_ingress(&stream.room_name))
                    .await?,
            ),
            None => None,
        };
        self.lease.fence().await?;
        let events = self
            .reconciler
            .service
            .reconcile_broadcast(stream, &state, egresses.as_deref(), ingresses.as_deref())
            .await?;
        self.report.events += events.len();
        crate::metered::repaired(events.len());
        Ok(())
    }

    /// One paced LiveKit listing; a room LiveKit does not know lists nothing.
    async fn listed<T>(
        &mut self,
        call: impl std::future::Future<Output = Result<Vec<T>, MediaError>>,
    ) -> Result<Vec<T>, ReconcileError> {
        self.pacer.wait().await;
        match call.await {
            Ok(items) => Ok(items),
            Err(MediaError::NotFound(_)) => Ok(Vec::new()),
            Err(err) => Err(StreamError::from(err).into()),
        }
    }

    async fn list_participants(
        &mut self,
        stream: &Stream,
    ) -> Result<Option<Vec<MediaParticipant>>, ReconcileError> {
        self.pacer.wait().await;
        self.report.rooms_listed += 1;
        match self
            .reconciler
            .media
            .list_participants(&stream.room_name)
            .await
        {
            Ok(participants) => Ok(Some(participants)),
            Err(MediaError::NotFound(_)) => Ok(None),
            Err(err) => Err(StreamError::from(err).into()),
        }
    }
}
