//! Broadcast use cases: a stream's ingest (create, read, rotate its key, delete) and outputs
//! (add, read, start, stop, remove), orchestrated with its life: outputs that start with the
//! stream start when it goes live, everything stops when it stops, and what LiveKit reports
//! moves the observed states.
//!
//! Every change is decided on the record as read and written with that revision as fence
//! ([`BroadcastRepository::write_broadcast`](crate::broadcast::BroadcastRepository::write_broadcast)); a conflict means another instance changed it
//! first, and the change is decided again on what it wrote. LiveKit calls that follow a
//! decision (start or stop an egress, retry after a failure) run in the background on the
//! instance whose write won, so a request, a webhook or a retry never starts a second egress.

use crate::broadcast::{
    BroadcastError, BroadcastPolicy, BroadcastState, EgressReport, FollowUp, Ingest, IngestKind,
    IngestState, IngressReport, Output, OutputCommand, OutputId, OutputKind,
};
use crate::broadcast::{BroadcastRecord, BroadcastWrite, BroadcastWriteError, Observation};
use crate::broadcast::{Exposure, IngestView, OutputView};
use crate::error::StreamError;
use crate::event::{EventType, StreamEvent};
use crate::ports::MediaError;
use crate::stream::{Stream, StreamStatus};
use crate::values::{StreamId, ValidationError};

use super::StreamService;

/// Times a change is decided again after losing a race before giving up (409).
const MAX_RACES: usize = 16;

/// An output to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutput {
    /// Its name; the kind's name (`hls`, `rtmp-2`, …) when not given.
    pub id: Option<OutputId>,
    /// What it produces.
    pub kind: OutputKind,
    /// Whether it starts when the stream goes live (and at once if it is live already).
    pub auto_start: bool,
}

impl StreamService {
    /// The broadcast policy this service enforces.
    pub fn broadcast_policy(&self) -> BroadcastPolicy {
        self.policy
    }

    // ---- ingest ----

    /// Creates the stream's ingest: LiveKit makes the ingress, then it is recorded (and
    /// removed from LiveKit again if recording fails, so no key works unrecorded).
    ///
    /// # Errors
    /// `Unsupported` (a service without broadcast ports), `NotFound`, `NotActive`,
    /// `IngestExists`, `MediaUnavailable`, `MediaRejected`, `StoreUnavailable`.
    pub async fn create_ingest(
        &self,
        id: StreamId,
        kind: IngestKind,
    ) -> Result<Ingest, StreamError> {
        self.check_broadcast_supported()?;
        let stream = self.active_stream(id).await?;
        if self.broadcast_of(id).await?.ingest.is_some() {
            return Err(BroadcastError::IngestExists.into());
        }
        let created = self
            .ports
            .broadcast_media
            .create_ingress(&stream.room_name, &kind)
            .await?;
        let now = self.ports.clock.now();
        let ingest = Ingest {
            ingress_id: created.ingress_id,
            kind,
            url: created.url,
            stream_key: created.stream_key,
            state: IngestState::Inactive,
            error: None,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        let write = ingest_write(Some(ingest.clone()), None, EventType::IngestCreated, true);
        if let Err(err) = self.write(id, write).await {
            self.forget_ingress(&ingest.ingress_id).await;
            // Another ingest was recorded first.
            let raced = matches!(err, StreamError::Broadcast(BroadcastError::Contended(_)));
            return Err(if raced {
                BroadcastError::IngestExists.into()
            } else {
                err
            });
        }
        Ok(ingest)
    }

    /// The stream's ingest.
    ///
    /// # Errors
    /// `NotFound`, `IngestNotFound`, `StoreUnavailable`.
    pub async fn ingest(&self, id: StreamId) -> Result<Ingest, StreamError> {
        self.get(id).await?;
        self.broadcast_of(id)
            .await?
            .ingest
            .ok_or_else(|| BroadcastError::IngestNotFound.into())
    }

    /// A new stream key: a new ingress replaces the old one, which LiveKit deletes first, so
    /// the old key stops working before the new one is shown.
    ///
    /// # Errors
    /// As [`StreamService::create_ingest`], and `IngestNotFound`.
    pub async fn rotate_ingest_key(&self, id: StreamId) -> Result<Ingest, StreamError> {
        let stream = self.active_stream(id).await?;
        let current = self
            .broadcast_of(id)
            .await?
            .ingest
            .ok_or(BroadcastError::IngestNotFound)?;
        let media = &self.ports.broadcast_media;
        let created = media
            .create_ingress(&stream.room_name, &current.kind)
            .await?;
        if let Err(err) = ignore_not_found(media.delete_ingress(&current.ingress_id).await) {
            self.forget_ingress(&created.ingress_id).await;
            return Err(err.into());
        }
        let now = self.ports.clock.now();
        let rotated = Ingest {
            ingress_id: created.ingress_id,
            url: created.url,
            stream_key: created.stream_key,
            state: IngestState::Inactive,
            error: None,
            revision: current.revision + 1,
            created_at: now,
            updated_at: now,
            ..current.clone()
        };
        let write = ingest_write(
            Some(rotated.clone()),
            Some(current.revision),
            EventType::IngestUpdated,
            true,
        );
        // On failure the old key is gone either way, and the new ingress is left unrecorded.
        self.write(id, write).await?;
        Ok(rotated)
    }

    /// Deletes the stream's ingest (its key stops working at once).
    ///
    /// # Errors
    /// `NotFound`, `IngestNotFound`, `MediaUnavailable`, `StoreUnavailable`.
    pub async fn delete_ingest(&self, id: StreamId) -> Result<(), StreamError> {
        self.get(id).await?;
        let current = self
            .broadcast_of(id)
            .await?
            .ingest
            .ok_or(BroadcastError::IngestNotFound)?;
        self.remove_ingest(id, &current).await
    }

    async fn remove_ingest(&self, id: StreamId, current: &Ingest) -> Result<(), StreamError> {
        ignore_not_found(
            self.ports
                .broadcast_media
                .delete_ingress(&current.ingress_id)
                .await,
        )?;
        let write = ingest_write(
            None,
            Some(current.revision),
            EventType::IngestRemoved,
            false,
        );
        match self.write(id, write).await {
            // Removed meanwhile (a second delete, the stop): what was asked is done.
            Err(StreamError::Broadcast(BroadcastError::Contended(_))) => Ok(()),
            other => other.map(drop),
        }
    }

    async fn forget_ingress(&self, ingress_id: &str) {
        if let Err(err) = self.ports.broadcast_media.delete_ingress(ingress_id).await {
            self.note(&format!(
                "ingress {ingress_id} left for the reconciler: {err}"
            ));
        }
    }

    // ---- outputs ----

    /// Adds an output. One that starts with the stream starts at once if the stream is live.
    ///
    /// # Errors
    /// `Unsupported` (a service without broadcast ports), `Invalid` (a target this deployment
    /// refuses), `NotFound`, `NotActive`, `OutputExists`, `TooManyOutputs`,
    /// `StorageNotConfigured`, `StoreUnavailable`.
    pub async fn add_output(&self, id: StreamId, new: NewOutput) -> Result<Output, StreamError> {
        self.check_policy(&new.kind)?;
        let stream = self.active_stream(id).await?;
        let state = self.broadcast_of(id).await?;
        let output_id = match new.id {
            Some(output_id) => output_id,
            None => free_name(&state, &new.kind).ok_or(BroadcastError::TooManyOutputs)?,
        };
        if state.output(&output_id).is_some() {
            return Err(BroadcastError::OutputExists(output_id).into());
        }
        let mut output = Output::new(
            output_id.clone(),
            new.kind,
            new.auto_start,
            self.ports.clock.now(),
        );
        output.revision = 1;
        let write = output_write(&output, None, EventType::OutputAdded, true);
        match self.write(id, write).await {
            Err(StreamError::Broadcast(BroadcastError::Contended(_))) => {
                return Err(BroadcastError::OutputExists(output_id).into())
            }
            other => other?,
        };
        if state.live && output.auto_start {
            return self
                .command_output(&stream, &output_id, OutputCommand::WentLive)
                .await;
        }
        Ok(output)
    }

    /// The stream's outputs.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`.
    pub async fn outputs(&self, id: StreamId) -> Result<Vec<Output>, StreamError> {
        self.get(id).await?;
        Ok(self.broadcast_of(id).await?.outputs)
    }

    /// One output.
    ///
    /// # Errors
    /// `NotFound`, `OutputNotFound`, `StoreUnavailable`.
    pub async fn output(&self, id: StreamId, output: &OutputId) -> Result<Output, StreamError> {
        self.get(id).await?;
        self.broadcast_of(id)
            .await?
            .output(output)
            .cloned()
            .ok_or_else(|| BroadcastError::OutputNotFound(output.to_string()).into())
    }

    /// Starts an output now (its egress starts in the background; events follow it).
    ///
    /// # Errors
    /// `NotFound`, `NotActive`, `OutputNotFound`, `OutputBusy`, `StoreUnavailable`.
    pub async fn start_output(
        &self,
        id: StreamId,
        output: &OutputId,
    ) -> Result<Output, StreamError> {
        let stream = self.active_stream(id).await?;
        self.command_output(&stream, output, OutputCommand::Start)
            .await
    }

    /// Stops an output (its egress stops in the background).
    ///
    /// # Errors
    /// `NotFound`, `OutputNotFound`, `StoreUnavailable`.
    pub async fn stop_output(
        &self,
        id: StreamId,
        output: &OutputId,
    ) -> Result<Output, StreamError> {
        let stream = self.get(id).await?;
        self.command_output(&stream, output, OutputCommand::Stop)
            .await
    }

    /// Removes an output, stopping its egress first if it runs.
    ///
    /// # Errors
    /// `NotFound`, `OutputNotFound`, `MediaUnavailable`, `StoreUnavailable`.
    pub async fn remove_output(
        &self,
        id: StreamId,
        output_id: &OutputId,
    ) -> Result<(), StreamError> {
        self.get(id).await?;
        for _ in 0..MAX_RACES {
            let state = self.broadcast_of(id).await?;
            let output = state
                .output(output_id)
                .ok_or_else(|| BroadcastError::OutputNotFound(output_id.to_string()))?;
            if let Some(egress) = output
                .egress_id
                .as_deref()
                .filter(|_| output.observed.is_running())
            {
                ignore_not_found(self.ports.broadcast_media.stop_egress(egress).await)?;
            }
            let write = BroadcastWrite {
                record: BroadcastRecord::Output {
                    id: output_id.clone(),
                    output: None,
                },
                expected: Some(output.revision),
                event: Some((
                    EventType::OutputRemoved,
                    serde_json::json!({ "outputId": output_id }),
                )),
                require_active: false,
            };
            match self.write(id, write).await {
                Err(StreamError::Broadcast(BroadcastError::Contended(_))) => continue,
                other => return other.map(drop),
            }
        }
        Err(BroadcastError::Contended("output").into())
    }

    // ---- the stream's life ----

    /// The stream went live (a host publishes, or its ingest does): the outputs that start
    /// with it start, each claimed once whoever else decides the same at the same time.
    ///
    /// # Errors
    /// `StoreUnavailable` (the next signal, or the reconciler, tries again).
    pub(crate) async fn went_live(&self, stream: &Stream) -> Result<(), StreamError> {
        let state = self.broadcast_of(stream.id).await?;
        if !state.live {
            let mark = BroadcastWrite {
                record: BroadcastRecord::Live,
                expected: None,
                event: None,
                require_active: true,
            };
            match self.write(stream.id, mark).await {
                Ok(_) | Err(StreamError::Broadcast(BroadcastError::Contended(_))) => {}
                Err(StreamError::Rejected(_)) => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        for output in &state.outputs {
            match self
                .command_output(stream, &output.id, OutputCommand::WentLive)
                .await
            {
                Ok(_) | Err(StreamError::Broadcast(BroadcastError::OutputNotFound(_))) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// The stream stopped: every output stops and its ingest is deleted. Best effort per
    /// record (a LiveKit or store failure is left for the reconciler), never failing the stop.
    pub(crate) async fn stop_broadcast(&self, stream: &Stream) {
        let state = match self.broadcast_of(stream.id).await {
            Ok(state) => state,
            Err(err) => {
                self.note(&format!(
                    "stream {} stopped; its outputs are left for the reconciler: {err}",
                    stream.id
                ));
                return;
            }
        };
        for output in &state.outputs {
            if let Err(err) = self
                .command_output(stream, &output.id, OutputCommand::Stop)
                .await
            {
                self.note(&format!(
                    "output {} of {} not stopped: {err}",
                    output.id, stream.id
                ));
            }
        }
        if let Some(ingest) = &state.ingest {
            if let Err(err) = self.remove_ingest(stream.id, ingest).await {
                self.note(&format!("ingest of {} not removed: {err}", stream.id));
            }
        }
    }

    // ---- what LiveKit reports ----

    /// Applies LiveKit's report of an egress to the output that owns it. `Ok(None)` when no
    /// output of the stream has that egress (one started elsewhere).
    ///
    /// # Errors
    /// `StoreUnavailable`.
    pub(crate) async fn apply_egress_report(
        &self,
        stream: &Stream,
        report: EgressReport,
    ) -> Result<Option<Vec<StreamEvent>>, StreamError> {
        let state = self.broadcast_of(stream.id).await?;
        let Some(output) = state
            .outputs
            .iter()
            .find(|o| o.egress_id.as_deref() == Some(report.egress_id.as_str()))
        else {
            return Ok(None);
        };
        let (_, events) = self
            .command_output_events(stream, &output.id, OutputCommand::Egress(report))
            .await?;
        Ok(Some(events))
    }

    /// Applies LiveKit's report of an ingress to the stream's ingest; when it starts
    /// publishing, the stream goes live. `Ok(None)` when it is not the stream's ingest.
    ///
    /// # Errors
    /// `StoreUnavailable`.
    pub(crate) async fn apply_ingress_report(
        &self,
        stream: &Stream,
        report: IngressReport,
    ) -> Result<Option<Vec<StreamEvent>>, StreamError> {
        for _ in 0..MAX_RACES {
            let state = self.broadcast_of(stream.id).await?;
            let Some(current) = state.ingest.filter(|i| i.ingress_id == report.ingress_id) else {
                return Ok(None);
            };
            if report.state.is_none() {
                // LiveKit no longer has it (deleted behind our back): the key works no more.
                let write = ingest_write(
                    None,
                    Some(current.revision),
                    EventType::IngestRemoved,
                    false,
                );
                return match self.write(stream.id, write).await {
                    Err(StreamError::Broadcast(BroadcastError::Contended(_))) => continue,
                    other => other.map(|event| Some(event.into_iter().collect())),
                };
            }
            let Some(mut next) = current.reported(&report, self.ports.clock.now()) else {
                return Ok(Some(Vec::new()));
            };
            next.revision = current.revision + 1;
            let goes_live = current.starts_publishing(&next);
            let write = ingest_write(
                Some(next),
                Some(current.revision),
                EventType::IngestUpdated,
                false,
            );
            match self.write(stream.id, write).await {
                Err(StreamError::Broadcast(BroadcastError::Contended(_))) => continue,
                Err(err) => return Err(err),
                Ok(event) => {
                    if goes_live && stream.status == StreamStatus::Active {
                        self.went_live(stream).await?;
                    }
                    return Ok(Some(event.into_iter().collect()));
                }
            }
        }
        Err(BroadcastError::Contended("ingest").into())
    }

    // ---- healing drift ----

    /// The stream's ingest, outputs and live mark, for the reconciler to decide what to ask
    /// LiveKit about.
    ///
    /// # Errors
    /// `StoreUnavailable`.
    pub async fn broadcast(&self, id: StreamId) -> Result<BroadcastState, StreamError> {
        self.broadcast_of(id).await
    }

    /// Heals what lost webhooks and stopped instances left wrong in a stream's broadcast, from
    /// what LiveKit lists for its room (`None`: not asked): an egress LiveKit no longer lists
    /// (or lists as ended) moves its output as the webhook would have; a start whose instance
    /// stopped before LiveKit answered, or a retry nobody ran, is tried again; an ingress
    /// deleted behind our back removes the ingest. Returns the events recorded.
    ///
    /// `seen` is the broadcast as read *before* the listings were asked for: only what it
    /// records can be judged by them (an egress started after a listing is not in it, and is
    /// not missing), and only an output or ingest still as `seen` is healed (one that changed
    /// meanwhile is looked at again by the next pass).
    ///
    /// # Errors
    /// `StoreUnavailable`, `Internal`.
    pub async fn reconcile_broadcast(
        &self,
        stream: &Stream,
        seen: &BroadcastState,
        egresses: Option<&[EgressReport]>,
        ingresses: Option<&[IngressReport]>,
    ) -> Result<Vec<StreamEvent>, StreamError> {
        let now = self.ports.clock.now();
        let mut events = Vec::new();
        for output in &seen.outputs {
            let Some(command) = drift(output, egresses, now, &self.policy) else {
                continue;
            };
            match self.command_output_as_seen(stream, output, command).await {
                Ok((_, recorded)) => events.extend(recorded),
                // Removed meanwhile, or the stream stopped: nothing to heal any more.
                Err(StreamError::Broadcast(BroadcastError::OutputNotFound(_)))
                | Err(StreamError::Rejected(_)) => {}
                Err(err) => return Err(err),
            }
        }
        if let (Some(ingest), Some(listed)) = (&seen.ingest, ingresses) {
            let report = listed
                .iter()
                .find(|i| i.ingress_id == ingest.ingress_id)
                .cloned()
                .unwrap_or(IngressReport {
                    ingress_id: ingest.ingress_id.clone(),
                    state: None,
                    error: None,
                });
            events.extend(
                self.apply_ingress_report(stream, report)
                    .await?
                    .unwrap_or_default(),
            );
        }
        Ok(events)
    }

    // ---- the machinery ----

    /// Decides `command` on the output as stored, records it, and starts what follows (an
    /// egress to start or stop, a retry to schedule) in the background.
    async fn command_output(
        &self,
        stream: &Stream,
        output_id: &OutputId,
        command: OutputCommand,
    ) -> Result<Output, StreamError> {
        self.command_output_events(stream, output_id, command)
            .await
            .map(|(output, _)| output)
    }

    async fn command_output_events(
        &self,
        stream: &Stream,
        output_id: &OutputId,
        command: OutputCommand,
    ) -> Result<(Output, Vec<StreamEvent>), StreamError> {
        self.decide_and_record(stream, output_id, None, command)
            .await
    }

    /// `command` on `seen` only while the output is still at `seen`'s revision: a reconciler's
    /// finding is about what it saw, and says nothing of what changed since.
    async fn command_output_as_seen(
        &self,
        stream: &Stream,
        seen: &Output,
        command: OutputCommand,
    ) -> Result<(Output, Vec<StreamEvent>), StreamError> {
        self.decide_and_record(stream, &seen.id, Some(seen.revision), command)
            .await
    }

    /// Decides `command` on the output as stored (when at revision `only_at`, if given),
    /// records it, and starts what follows in the background.
    async fn decide_and_record(
        &self,
        stream: &Stream,
        output_id: &OutputId,
        only_at: Option<u64>,
        command: OutputCommand,
    ) -> Result<(Output, Vec<StreamEvent>), StreamError> {
        // A claimed start's turn, reserved once however many races the write loses.
        let mut turn = None;
        for _ in 0..MAX_RACES {
            let state = self.broadcast_of(stream.id).await?;
            let current = state
                .output(output_id)
                .ok_or_else(|| BroadcastError::OutputNotFound(output_id.to_string()))?;
            if only_at.is_some_and(|revision| revision != current.revision) {
                return Ok((current.clone(), Vec::new()));
            }
            let decision = current
                .decide(&command, self.ports.clock.now())
                .map_err(BroadcastError::from)?;
            let mut events = Vec::new();
            let output = match decision.output {
                Some(mut next) => {
                    next.revision = current.revision + 1;
                    let require_active = matches!(decision.follow_up, FollowUp::StartEgress);
                    if require_active {
                        let wait = *turn.get_or_insert_with(|| self.start_turn());
                        next.start_at = Some(self.ports.clock.now() + wait);
                    }
                    let write = output_write(
                        &next,
                        Some(current.revision),
                        EventType::OutputUpdated,
                        require_active,
                    );
                    match self.write(stream.id, write).await {
                        Err(StreamError::Broadcast(BroadcastError::Contended(_))) => continue,
                        Err(err) => return Err(err),
                        Ok(event) => events.extend(event),
                    }
                    if next.observed != current.observed {
                        self.ports
                            .runtime
                            .observe(Observation::Entered(next.observed));
                    }
                    next
                }
                None => current.clone(),
            };
            self.follow_up(stream, &output, decision.follow_up);
            return Ok((output, events));
        }
        Err(BroadcastError::Contended("output").into())
    }

    /// Runs what a recorded decision asks of LiveKit, in the background.
    fn follow_up(&self, stream: &Stream, output: &Output, follow_up: FollowUp) {
        let task = match follow_up {
            FollowUp::None => return,
            FollowUp::StartEgress => {
                let (service, stream, output) = (self.clone(), stream.clone(), output.clone());
                Box::pin(async move { service.start_egress(&stream, &output).await })
                    as crate::broadcast::Task
            }
            FollowUp::StopEgress(egress) => {
                let service = self.clone();
                Box::pin(async move {
                    let stopped = service.ports.broadcast_media.stop_egress(&egress).await;
                    if let Err(err) = ignore_not_found(stopped) {
                        service.note(&format!("egress {egress} not stopped yet: {err}"));
                    }
                })
            }
            FollowUp::RetryAfter { attempt } => {
                self.ports.runtime.observe(Observation::Retry);
                let delay = self.policy.backoff(attempt);
                let (service, stream, id) = (self.clone(), stream.clone(), output.id.clone());
                Box::pin(async move {
                    service.ports.runtime.sleep(delay).await;
                    let retried = service
                        .command_output(&stream, &id, OutputCommand::Retry)
                        .await;
                    if let Err(err) = retried {
                        service.note(&format!("retry of output {id} of {}: {err}", stream.id));
                    }
                })
            }
        };
        self.ports.runtime.spawn(task);
    }

    /// The wait before a claimed start may be sent, as the media server's pacing reserves it.
    fn start_turn(&self) -> chrono::Duration {
        let wait = self.ports.broadcast_media.start_turn();
        chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
    }

    /// Asks LiveKit for the claimed attempt's egress when its turn comes, and records the
    /// answer.
    async fn start_egress(&self, stream: &Stream, output: &Output) {
        if let Some(start_at) = output.start_at {
            let wait = (start_at - self.ports.clock.now())
                .to_std()
                .unwrap_or_default();
            self.ports.runtime.sleep(wait).await;
        }
        let started = self
            .ports
            .broadcast_media
            .start_egress(&stream.room_name, stream.id, output)
            .await;
        self.ports
            .runtime
            .observe(Observation::EgressStart(started.is_ok()));
        let command = match started {
            Ok(started) => OutputCommand::Started(started),
            Err(err) => OutputCommand::StartFailed {
                retryable: matches!(err, MediaError::Unavailable(_)),
                reason: err.to_string(),
            },
        };
        if let Err(err) = self.command_output(stream, &output.id, command).await {
            self.note(&format!("output {} of {}: {err}", output.id, stream.id));
        }
    }

    /// What a background task could not do (the reconciler repairs it): for the logs.
    fn note(&self, what: &str) {
        self.ports.runtime.note(what);
    }

    async fn broadcast_of(&self, id: StreamId) -> Result<BroadcastState, StreamError> {
        Ok(self.ports.broadcasts.broadcast(id).await?)
    }

    async fn active_stream(&self, id: StreamId) -> Result<Stream, StreamError> {
        let stream = self.get(id).await?;
        if stream.status != StreamStatus::Active {
            return Err(crate::change::TransitionError::NotActive(stream.status).into());
        }
        Ok(stream)
    }

    async fn write(
        &self,
        id: StreamId,
        write: BroadcastWrite,
    ) -> Result<Option<StreamEvent>, StreamError> {
        self.ports
            .broadcasts
            .write_broadcast(id, write, self.context())
            .await
            .map_err(|err| match err {
                BroadcastWriteError::NotFound => StreamError::NotFound(id.to_string()),
                BroadcastWriteError::NotActive(status) => {
                    crate::change::TransitionError::NotActive(status).into()
                }
                BroadcastWriteError::Conflict => BroadcastError::Contended("record").into(),
                BroadcastWriteError::TooManyOutputs => BroadcastError::TooManyOutputs.into(),
                BroadcastWriteError::Store(err) => err.into(),
            })
    }

    /// Refuses to make an ingest or an output on a service built without broadcast ports.
    fn check_broadcast_supported(&self) -> Result<(), StreamError> {
        if self.ports.broadcast_supported {
            Ok(())
        } else {
            Err(BroadcastError::Unsupported.into())
        }
    }

    /// Outputs declared with a new stream: each allowed, names unique, within the limit.
    pub(crate) fn check_declared_outputs(&self, outputs: &[NewOutput]) -> Result<(), StreamError> {
        if outputs.len() > crate::broadcast::MAX_OUTPUTS {
            return Err(BroadcastError::TooManyOutputs.into());
        }
        let mut named = std::collections::HashSet::new();
        for output in outputs {
            self.check_policy(&output.kind)?;
            if let Some(id) = &output.id {
                if !named.insert(id) {
                    return Err(BroadcastError::OutputExists(id.clone()).into());
                }
            }
        }
        Ok(())
    }

    fn check_policy(&self, kind: &OutputKind) -> Result<(), StreamError> {
        self.check_broadcast_supported()?;
        if kind.needs_storage() && !self.policy.storage {
            return Err(BroadcastError::StorageNotConfigured(kind.name()).into());
        }
        if let (OutputKind::Rtmp { targets }, false) = (kind, self.policy.internal_targets) {
            if let Some(internal) = targets.iter().find(|t| t.is_internal()) {
                return Err(ValidationError::new(
                    "targets",
                    format!(
                        "{} is a loopback, link-local or private address, which this \
                         deployment does not send streams to",
                        internal.host()
                    ),
                )
                .into());
            }
        }
        Ok(())
    }
}

/// The first free name for a kind: `hls`, then `hls-2`, `hls-3` … (one is free: a stream has
/// at most [`MAX_OUTPUTS`](crate::broadcast::MAX_OUTPUTS) outputs).
fn free_name(state: &BroadcastState, kind: &OutputKind) -> Option<OutputId> {
    let base = kind.name();
    (1..=crate::broadcast::MAX_OUTPUTS + 1)
        .map(|n| match n {
            1 => base.to_owned(),
            n => format!("{base}-{n}"),
        })
        .filter_map(|name| OutputId::new(name).ok())
        .find(|id| state.output(id).is_none())
}

fn ingest_write(
    ingest: Option<Ingest>,
    expected: Option<u64>,
    kind: EventType,
    require_active: bool,
) -> BroadcastWrite {
    let data = match (&ingest, kind) {
        (Some(ingest), _) => {
            serde_json::json!({ "ingest": IngestView::of(ingest, Exposure::Redacted) })
        }
        (None, _) => serde_json::json!({ "ingest": null }),
    };
    BroadcastWrite {
        record: BroadcastRecord::Ingest(ingest),
        expected,
        event: Some((kind, data)),
        require_active,
    }
}

fn output_write(
    output: &Output,
    expected: Option<u64>,
    kind: EventType,
    require_active: bool,
) -> BroadcastWrite {
    BroadcastWrite {
        record: BroadcastRecord::Output {
            id: output.id.clone(),
            output: Some(output.clone()),
        },
        expected,
        event: Some((
            kind,
            serde_json::json!({ "output": OutputView::of(output, Exposure::Redacted) }),
        )),
        require_active,
    }
}

/// A LiveKit answer where "not found" means the thing is gone already: done.
fn ignore_not_found(result: Result<(), MediaError>) -> Result<(), MediaError> {
    match result {
        Err(MediaError::NotFound(_)) => Ok(()),
        other => other,
    }
}

/// A claimed start whose instance has not recorded LiveKit's answer for this long stopped
/// before it could: the start is tried again.
const STALE_CLAIM_SECS: i64 = 60;

/// What an output's drift from LiveKit's listing asks for, if anything.
fn drift(
    output: &Output,
    egresses: Option<&[EgressReport]>,
    now: chrono::DateTime<chrono::Utc>,
    policy: &BroadcastPolicy,
) -> Option<OutputCommand> {
    // A claim waiting for its paced turn is not late until its turn has come and gone.
    let since = output
        .start_at
        .map_or(output.updated_at, |turn| turn.max(output.updated_at));
    let claim_age = (now - since).num_seconds();
    match (&output.egress_id, output.observed.is_running()) {
        (Some(egress_id), true) => {
            let listed = egresses?;
            let report = listed
                .iter()
                .find(|e| e.egress_id == *egress_id)
                .cloned()
                .unwrap_or(EgressReport {
                    egress_id: egress_id.clone(),
                    status: crate::broadcast::EgressStatus::Missing,
                    error: None,
                    playback_url: None,
                    location: None,
                });
            Some(OutputCommand::Egress(report))
        }
        (None, true) if output.observed == crate::broadcast::Observed::Starting => {
            let due = match &output.failure {
                None => STALE_CLAIM_SECS,
                Some(_) => {
                    let backoff = policy.backoff(output.attempts).as_secs();
                    i64::try_from(backoff)
                        .unwrap_or(i64::MAX)
                        .saturating_add(STALE_CLAIM_SECS)
                }
            };
            (claim_age >= due).then(|| match &output.failure {
                None => OutputCommand::StartFailed {
                    reason: "the start was interrupted (its instance stopped)".to_owned(),
                    retryable: true,
                },
                Some(_) => OutputCommand::Retry,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::broadcast::{Observed, OutputId, OutputKind};

    /// An output whose start was claimed at `claimed`, its turn coming `wait` later.
    fn claimed(claimed: chrono::DateTime<Utc>, wait: Duration) -> Output {
        let mut output = Output::new(
            OutputId::new("hls").expect("a valid name"),
            OutputKind::Hls,
            true,
            claimed,
        );
        output.observed = Observed::Starting;
        output.attempts = 1;
        output.start_at = Some(claimed + wait);
        output
    }

    #[test]
    fn a_claim_waiting_for_its_paced_turn_is_not_taken_for_an_interrupted_start() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let output = claimed(t0, Duration::seconds(90));
        let policy = BroadcastPolicy::default();

        let while_waiting = drift(&output, Some(&[]), t0 + Duration::seconds(61), &policy);
        let just_after_its_turn = drift(&output, Some(&[]), t0 + Duration::seconds(120), &policy);
        let long_after_its_turn = drift(&output, Some(&[]), t0 + Duration::seconds(151), &policy);

        assert_eq!(while_waiting, None);
        assert_eq!(just_after_its_turn, None);
        assert!(matches!(
            long_after_its_turn,
            Some(OutputCommand::StartFailed {
                retryable: true,
                ..
            })
        ));
    }

    #[test]
    fn a_claim_without_a_recorded_turn_is_late_a_minute_after_it_was_made() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let mut output = claimed(t0, Duration::zero());
        output.start_at = None;

        let late = drift(
            &output,
            Some(&[]),
            t0 + Duration::seconds(61),
            &BroadcastPolicy::default(),
        );

        assert!(matches!(late, Some(OutputCommand::StartFailed { .. })));
    }
}
