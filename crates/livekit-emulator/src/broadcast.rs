//! Ingress and egress operations of the [`Emulator`]: the ones the Twirp services call, and
//! the simulation controls a test or the dashboard uses to play encoders and egress workers.

use livekit_protocol as proto;

use crate::egress::StartRequest;
use crate::ingress::{Ending, IngressUrls};
use crate::{Emulator, EmulatorError};

impl Emulator {
    /// Simulates an encoder connecting to the ingress `ingress_id`: its participant joins
    /// the room and publishes an audio and a video track, then the ingress is
    /// `ENDPOINT_PUBLISHING` (`ingress_started`). A disabled ingress, or one without a room,
    /// refuses the encoder and records the error, as LiveKit's ingress service does.
    ///
    /// # Errors
    /// `NotFound` for an unknown ingress, `FailedPrecondition` when it is already publishing
    /// or has ended for good (URL ingresses), and the refusal otherwise.
    pub async fn publish_encoder(
        &self,
        ingress_id: &str,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.publish_encoder(ingress_id, fx))
    }

    /// Like [`Emulator::publish_encoder`], for an encoder that knows only its stream key,
    /// as an RTMP or WHIP encoder does. Keys of deleted ingresses are refused.
    ///
    /// # Errors
    /// `PermissionDenied` for a key no ingress has, else as [`Emulator::publish_encoder`].
    pub async fn publish_encoder_with_key(
        &self,
        stream_key: &str,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.publish_with_key(stream_key, fx))
    }

    /// Simulates the encoder stopping: its participant leaves, then the ingress is
    /// `ENDPOINT_INACTIVE` (`ENDPOINT_COMPLETE` for a URL ingress) with `ingress_ended`.
    ///
    /// # Errors
    /// `NotFound` for an unknown ingress, `FailedPrecondition` when it is not publishing.
    pub async fn stop_encoder(
        &self,
        ingress_id: &str,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.end_encoder(ingress_id, Ending::Stopped, fx))
    }

    /// Simulates the encoder failing: its participant leaves, then the ingress is
    /// `ENDPOINT_ERROR` with `reason` as its error (`ingress_ended`).
    ///
    /// # Errors
    /// As [`Emulator::stop_encoder`].
    pub async fn fail_encoder(
        &self,
        ingress_id: &str,
        reason: &str,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let ending = Ending::Failed(reason.to_owned());
        self.mutate(|world, fx| world.end_encoder(ingress_id, ending, fx))
    }

    /// Simulates the egress worker failing: the egress is `EGRESS_FAILED` with `reason` as
    /// its error and its streams failed (`egress_ended`).
    ///
    /// # Errors
    /// `NotFound` for an unknown egress, `FailedPrecondition` when it has already ended.
    pub async fn fail_egress(
        &self,
        egress_id: &str,
        reason: &str,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        self.mutate(|world, fx| world.fail_egress(egress_id, reason, fx))
    }

    /// The next `count` egresses started are created as usual (`egress_started`) but fail
    /// with `reason` instead of going live (`egress_ended`, `EGRESS_FAILED`). Replaces any
    /// earlier such request; 0 cancels it.
    pub fn fail_next_egress_starts(&self, count: u32, reason: &str) {
        self.lock().fail_next_starts(count, reason);
    }

    /// The next `count` Start*Egress calls are answered Twirp `unavailable` and create
    /// nothing, as when no egress worker answers. Replaces any earlier such request.
    pub fn refuse_next_egress_starts(&self, count: u32) {
        self.lock().refuse_next_starts(count);
    }

    /// How many egresses were started for `room` since the emulator began (refused starts
    /// do not count; starts told to fail do).
    pub fn egress_starts(&self, room: &str) -> u64 {
        self.lock().egresses.starts(room)
    }

    /// A snapshot of every ingress, in creation order.
    pub fn ingresses(&self) -> Vec<proto::IngressInfo> {
        self.lock().ingresses.all()
    }

    /// A snapshot of every egress still remembered, in creation order.
    pub fn egresses(&self) -> Vec<proto::EgressInfo> {
        self.lock().egresses.list("", "", false).unwrap_or_default()
    }

    pub(crate) fn create_ingress(
        &self,
        req: proto::CreateIngressRequest,
        urls: &IngressUrls,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.create_ingress(req, urls, fx))
    }

    pub(crate) fn update_ingress(
        &self,
        req: proto::UpdateIngressRequest,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.update_ingress(req, fx))
    }

    pub(crate) fn list_ingress(
        &self,
        room: &str,
        ingress_id: &str,
    ) -> Result<Vec<proto::IngressInfo>, EmulatorError> {
        self.lock().ingresses.list(room, ingress_id)
    }

    pub(crate) fn delete_ingress(
        &self,
        ingress_id: &str,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        self.mutate(|world, fx| world.delete_ingress(ingress_id, fx))
    }

    pub(crate) fn start_egress(
        &self,
        request: StartRequest,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        self.mutate(|world, fx| world.start_egress(request, fx))
    }

    pub(crate) fn stop_egress(&self, egress_id: &str) -> Result<proto::EgressInfo, EmulatorError> {
        self.mutate(|world, fx| world.stop_egress(egress_id, fx))
    }

    pub(crate) fn update_stream(
        &self,
        req: &proto::UpdateStreamRequest,
    ) -> Result<proto::EgressInfo, EmulatorError> {
        self.mutate(|world, fx| world.update_stream(req, fx))
    }

    pub(crate) fn list_egress(
        &self,
        req: &proto::ListEgressRequest,
    ) -> Result<Vec<proto::EgressInfo>, EmulatorError> {
        self.lock()
            .egresses
            .list(&req.room_name, &req.egress_id, req.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmulatorConfig;

    #[test]
    fn without_a_runtime_timed_steps_happen_at_once() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let room = crate::state::RoomSpec {
            name: "show".into(),
            ..Default::default()
        };
        assert!(emulator.create_room(room).is_ok());
        let request = StartRequest::RoomComposite(proto::RoomCompositeEgressRequest {
            room_name: "show".into(),
            file_outputs: vec![proto::EncodedFileOutput::default()],
            ..Default::default()
        });

        let started = emulator.start_egress(request);

        assert_eq!(
            started.map(|info| info.status).ok(),
            Some(proto::EgressStatus::EgressStarting as i32),
            "the answer is the state at the time of the call"
        );
        let now = emulator.egresses();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].status, proto::EgressStatus::EgressActive as i32);
    }
}
