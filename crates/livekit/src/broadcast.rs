//! Broadcast on LiveKit: the domain's [`BroadcastMedia`] port on LiveKit's Ingress and Egress
//! Twirp services (the crate's Twirp client, with the grants LiveKit checks: `ingressAdmin`,
//! `roomRecord`; the request's trace goes along), where files go ([`Storage`]), and LiveKit's
//! reports translated into the domain's.
//!
//! An `hls` output is a room-composite egress writing HLS segments and playlists under
//! `<stream>/<output>/`; a `recording`, one MP4 file there; an `rtmp` output, a stream egress to
//! its targets. Starts are paced to `egress_starts_per_sec`, so a thousand streams going live at
//! once reach LiveKit at a rate it accepts; each call is counted and timed like the others.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livekit_api::access_token::VideoGrants;
use livekit_protocol as proto;
use orchestrator_domain::broadcast::{
    BroadcastMedia, CreatedIngress, EgressReport, EgressStatus, IngestKind, IngestState,
    IngressReport, Output, OutputKind, Secret, StartedEgress,
};
use orchestrator_domain::ports::MediaError;
use orchestrator_domain::{values::RoomName, values::StreamId};
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

use crate::config::LiveKitConfig;
use crate::media::classify;
use crate::metered::observed;
use crate::twirp::Twirp;

/// Where egresses write files (HLS segments, recordings).
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// Nowhere: `hls` and `recording` outputs are refused.
    None,
    /// Where LiveKit's egress is configured to write (LiveKit Cloud's storage, a self-hosted
    /// egress's own settings, the emulator): the requests name no upload.
    LiveKit,
    /// An S3-compatible bucket.
    S3 {
        /// The endpoint (empty for AWS itself).
        endpoint: String,
        /// The region.
        region: String,
        /// The bucket.
        bucket: String,
        /// Access key id.
        access_key: String,
        /// Secret access key. Never logged.
        secret: String,
        /// Path-style addressing (MinIO and most S3-compatible stores).
        force_path_style: bool,
    },
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::None => f.write_str("None"),
            Storage::LiveKit => f.write_str("LiveKit"),
            Storage::S3 {
                endpoint, bucket, ..
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .finish_non_exhaustive(),
        }
    }
}

/// How broadcast runs on LiveKit.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    /// Where files go.
    pub storage: Storage,
    /// The public address players read HLS from (a CDN in front of the bucket), if any: a
    /// playback URL is `<base>/<stream>/<output>/live.m3u8`. Without it, the playlist location
    /// LiveKit reports.
    pub playback_base_url: Option<String>,
    /// Length of an HLS segment.
    pub segment_secs: u32,
    /// Most egress starts per second (paced, not refused).
    pub egress_starts_per_sec: u32,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            storage: Storage::LiveKit,
            playback_base_url: None,
            segment_secs: 6,
            egress_starts_per_sec: 20,
        }
    }
}

/// The domain's broadcast port on LiveKit's Ingress and Egress services.
pub struct LiveKitBroadcast {
    twirp: Twirp,
    config: BroadcastConfig,
    pacer: Arc<Mutex<Instant>>,
}

impl fmt::Debug for LiveKitBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitBroadcast")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LiveKitBroadcast {
    /// A client of LiveKit at `livekit.url`.
    pub fn new(livekit: &LiveKitConfig, config: BroadcastConfig) -> Self {
        Self {
            twirp: Twirp::new(livekit),
            config,
            pacer: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Calls `method` of the Ingress service (`ingressAdmin`), counted and timed as `metric`.
    async fn ingress<Q, A>(
        &self,
        metric: &'static str,
        method: &str,
        request: &Q,
    ) -> Result<A, MediaError>
    where
        Q: prost::Message,
        A: prost::Message + Default,
    {
        let grants = VideoGrants {
            ingress_admin: true,
            ..VideoGrants::default()
        };
        let call = self.twirp.call("Ingress", method, request, grants);
        observed(metric, async { call.await.map_err(classify) }).await
    }

    /// Calls `method` of the Egress service (`roomRecord`), counted and timed as `metric`.
    async fn egress<Q, A>(
        &self,
        metric: &'static str,
        method: &str,
        request: &Q,
    ) -> Result<A, MediaError>
    where
        Q: prost::Message,
        A: prost::Message + Default,
    {
        let grants = VideoGrants {
            room_record: true,
            ..VideoGrants::default()
        };
        let call = self.twirp.call("Egress", method, request, grants);
        observed(metric, async { call.await.map_err(classify) }).await
    }

    /// Reserves the next start's turn: starts are spaced `1 / egress_starts_per_sec` apart.
    fn reserve_turn(&self) -> Duration {
        let gap = Duration::from_secs(1) / self.config.egress_starts_per_sec.max(1);
        let now = Instant::now();
        let mut next = self.pacer.lock().unwrap_or_else(PoisonError::into_inner);
        let turn = (*next).max(now);
        *next = turn + gap;
        turn - now
    }

    /// The room-composite egress of `output`: its files under `<stream>/<output>/`.
    fn request_for(
        &self,
        room: &RoomName,
        stream: StreamId,
        output: &Output,
    ) -> proto::RoomCompositeEgressRequest {
        let dir = format!("{stream}/{}", output.id);
        let mut request = proto::RoomCompositeEgressRequest {
            room_name: room.to_string(),
            ..proto::RoomCompositeEgressRequest::default()
        };
        match &output.kind {
            OutputKind::Rtmp { targets } => request.stream_outputs.push(proto::StreamOutput {
                protocol: proto::StreamProtocol::Rtmp.into(),
                urls: targets
                    .iter()
                    .map(|t| t.url().expose().to_owned())
                    .collect(),
            }),
            OutputKind::Hls => request.segment_outputs.push(proto::SegmentedFileOutput {
                protocol: proto::SegmentedFileProtocol::HlsProtocol.into(),
                filename_prefix: format!("{dir}/segment"),
                playlist_name: format!("{dir}/index.m3u8"),
                live_playlist_name: format!("{dir}/live.m3u8"),
                segment_duration: self.config.segment_secs,
                output: self.upload().map(proto::segmented_file_output::Output::S3),
                ..proto::SegmentedFileOutput::default()
            }),
            OutputKind::Recording => request.file_outputs.push(proto::EncodedFileOutput {
                file_type: proto::EncodedFileType::Mp4.into(),
                filepath: format!("{dir}/{{time}}.mp4"),
                output: self.upload().map(proto::encoded_file_output::Output::S3),
                ..proto::EncodedFileOutput::default()
            }),
        }
        request
    }

    fn upload(&self) -> Option<proto::S3Upload> {
        match &self.config.storage {
            Storage::S3 {
                endpoint,
                region,
                bucket,
                access_key,
                secret,
                force_path_style,
            } => Some(proto::S3Upload {
                endpoint: endpoint.clone(),
                region: region.clone(),
                bucket: bucket.clone(),
                access_key: access_key.clone(),
                secret: secret.clone(),
                force_path_style: *force_path_style,
                ..proto::S3Upload::default()
            }),
            Storage::None | Storage::LiveKit => None,
        }
    }

    fn playback_url(&self, stream: StreamId, output: &Output) -> Option<String> {
        let base = self.config.playback_base_url.as_deref()?;
        matches!(output.kind, OutputKind::Hls).then(|| {
            format!(
                "{}/{stream}/{}/live.m3u8",
                base.trim_end_matches('/'),
                output.id
            )
        })
    }
}

#[async_trait]
impl BroadcastMedia for LiveKitBroadcast {
    async fn create_ingress(
        &self,
        room: &RoomName,
        kind: &IngestKind,
    ) -> Result<CreatedIngress, MediaError> {
        let (input, url) = match kind {
            IngestKind::Rtmp => (proto::IngressInput::RtmpInput, String::new()),
            IngestKind::Whip => (proto::IngressInput::WhipInput, String::new()),
            IngestKind::Url { source } => (proto::IngressInput::UrlInput, source.clone()),
        };
        let request = proto::CreateIngressRequest {
            input_type: input.into(),
            name: format!("{room} ingest"),
            room_name: room.to_string(),
            participant_identity: INGEST_IDENTITY.to_owned(),
            participant_name: "Ingest".to_owned(),
            url,
            ..proto::CreateIngressRequest::default()
        };
        let info: proto::IngressInfo = self
            .ingress("create_ingress", "CreateIngress", &request)
            .await?;
        Ok(CreatedIngress {
            ingress_id: info.ingress_id,
            url: info.url,
            stream_key: Secret::new(info.stream_key),
        })
    }

    async fn delete_ingress(&self, ingress_id: &str) -> Result<(), MediaError> {
        let request = proto::DeleteIngressRequest {
            ingress_id: ingress_id.to_owned(),
        };
        self.ingress::<_, proto::IngressInfo>("delete_ingress", "DeleteIngress", &request)
            .await
            .map(drop)
    }

    async fn list_ingress(&self, room: &RoomName) -> Result<Vec<IngressReport>, MediaError> {
        let request = proto::ListIngressRequest {
            room_name: room.to_string(),
            ..proto::ListIngressRequest::default()
        };
        let listed: proto::ListIngressResponse = self
            .ingress("list_ingress", "ListIngress", &request)
            .await?;
        Ok(listed.items.iter().map(ingress_report).collect())
    }

    fn start_turn(&self) -> Duration {
        self.reserve_turn()
    }

    async fn start_egress(
        &self,
        room: &RoomName,
        stream: StreamId,
        output: &Output,
    ) -> Result<StartedEgress, MediaError> {
        let request = self.request_for(room, stream, output);
        let info: proto::EgressInfo = self
            .egress("start_egress", "StartRoomCompositeEgress", &request)
            .await?;
        let report = egress_report(&info);
        Ok(StartedEgress {
            egress_id: info.egress_id,
            playback_url: self.playback_url(stream, output).or(report.playback_url),
            location: report.location,
        })
    }

    async fn stop_egress(&self, egress_id: &str) -> Result<(), MediaError> {
        let request = proto::StopEgressRequest {
            egress_id: egress_id.to_owned(),
        };
        let stopped = self
            .egress::<_, proto::EgressInfo>("stop_egress", "StopEgress", &request)
            .await
            .map(drop);
        match stopped {
            // LiveKit answers "failed precondition" for an egress that already ended: gone.
            Err(MediaError::Rejected(why)) if why.contains("failed_precondition") => {
                Err(MediaError::NotFound(why))
            }
            other => other,
        }
    }

    async fn list_egress(&self, room: &RoomName) -> Result<Vec<EgressReport>, MediaError> {
        let request = proto::ListEgressRequest {
            room_name: room.to_string(),
            ..proto::ListEgressRequest::default()
        };
        let listed: proto::ListEgressResponse =
            self.egress("list_egress", "ListEgress", &request).await?;
        Ok(listed.items.iter().map(egress_report).collect())
    }
}

/// The identity an ingest publishes under in its room: a host of the stream.
pub const INGEST_IDENTITY: &str = "ingest";

/// LiveKit's report of an egress, as the domain reads it.
pub fn egress_report(info: &proto::EgressInfo) -> EgressReport {
    let status = match proto::EgressStatus::try_from(info.status) {
        Ok(proto::EgressStatus::EgressStarting) => EgressStatus::Starting,
        Ok(proto::EgressStatus::EgressActive) => EgressStatus::Active,
        Ok(proto::EgressStatus::EgressEnding) => EgressStatus::Ending,
        Ok(proto::EgressStatus::EgressComplete) => EgressStatus::Complete,
        Ok(
            proto::EgressStatus::EgressFailed
            | proto::EgressStatus::EgressAborted
            | proto::EgressStatus::EgressLimitReached,
        )
        | Err(_) => EgressStatus::Failed,
    };
    let segments = info.segment_results.first();
    let playlist = segments
        .map(|segments| segments.playlist_location.clone())
        .filter(|location| !location.is_empty());
    // Viewers want the live playlist (a sliding window that starts near the live edge); the full
    // playlist is the recording, and stands in only when LiveKit wrote no live one.
    let live_playlist = segments
        .map(|segments| segments.live_playlist_location.clone())
        .filter(|location| !location.is_empty());
    let file = info
        .file_results
        .first()
        .map(|file| file.location.clone())
        .filter(|location| !location.is_empty());
    EgressReport {
        egress_id: info.egress_id.clone(),
        status,
        error: Some(info.error.clone()).filter(|error| !error.is_empty()),
        playback_url: live_playlist.or_else(|| playlist.clone()),
        location: file.or(playlist),
    }
}

/// LiveKit's report of an ingress, as the domain reads it.
pub fn ingress_report(info: &proto::IngressInfo) -> IngressReport {
    let state = info.state.as_ref();
    let status = state.map(|state| proto::ingress_state::Status::try_from(state.status));
    let state_now = match status {
        Some(Ok(proto::ingress_state::Status::EndpointBuffering)) => IngestState::Buffering,
        Some(Ok(proto::ingress_state::Status::EndpointPublishing)) => IngestState::Publishing,
        Some(Ok(proto::ingress_state::Status::EndpointError)) => IngestState::Error,
        Some(Ok(
            proto::ingress_state::Status::EndpointInactive
            | proto::ingress_state::Status::EndpointComplete,
        ))
        | Some(Err(_))
        | None => IngestState::Inactive,
    };
    IngressReport {
        ingress_id: info.ingress_id.clone(),
        state: Some(state_now),
        error: state
            .map(|state| state.error.clone())
            .filter(|error| !error.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced_at(starts_per_sec: u32) -> LiveKitBroadcast {
        let livekit = LiveKitConfig {
            url: "http://127.0.0.1:1".into(),
            api_key: "key".into(),
            api_secret: "a-secret-of-at-least-32-characters-long".into(),
            token_ttl: Duration::from_secs(60),
            empty_timeout_secs: 0,
            departure_timeout_secs: 0,
            max_participants: 0,
            request_timeout: Duration::from_secs(2),
        };
        LiveKitBroadcast::new(
            &livekit,
            BroadcastConfig {
                egress_starts_per_sec: starts_per_sec,
                ..BroadcastConfig::default()
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn starts_reserve_turns_spaced_by_the_pace_and_time_frees_them() {
        let broadcast = paced_at(20);

        let queued: Vec<Duration> = (0..3).map(|_| broadcast.start_turn()).collect();
        tokio::time::advance(Duration::from_secs(5)).await;
        let after_a_quiet_spell = broadcast.start_turn();

        assert_eq!(
            queued,
            [
                Duration::ZERO,
                Duration::from_millis(50),
                Duration::from_millis(100)
            ]
        );
        assert_eq!(after_a_quiet_spell, Duration::ZERO, "no debt from the past");
    }

    #[test]
    fn egress_statuses_become_the_domains() {
        let info = |status: proto::EgressStatus| proto::EgressInfo {
            egress_id: "EG_1".into(),
            status: status.into(),
            ..proto::EgressInfo::default()
        };

        let statuses: Vec<EgressStatus> = [
            proto::EgressStatus::EgressStarting,
            proto::EgressStatus::EgressActive,
            proto::EgressStatus::EgressEnding,
            proto::EgressStatus::EgressComplete,
            proto::EgressStatus::EgressFailed,
            proto::EgressStatus::EgressAborted,
            proto::EgressStatus::EgressLimitReached,
        ]
        .into_iter()
        .map(|status| egress_report(&info(status)).status)
        .collect();

        assert_eq!(
            statuses,
            [
                EgressStatus::Starting,
                EgressStatus::Active,
                EgressStatus::Ending,
                EgressStatus::Complete,
                EgressStatus::Failed,
                EgressStatus::Failed,
                EgressStatus::Failed,
            ]
        );
    }

    #[test]
    fn an_egress_report_carries_its_playlist_file_and_error() {
        let info = proto::EgressInfo {
            egress_id: "EG_1".into(),
            status: proto::EgressStatus::EgressFailed.into(),
            error: "upload refused".into(),
            segment_results: vec![proto::SegmentsInfo {
                playlist_location: "https://bucket/s/hls/index.m3u8".into(),
                ..proto::SegmentsInfo::default()
            }],
            ..proto::EgressInfo::default()
        };

        let report = egress_report(&info);

        assert_eq!(report.error.as_deref(), Some("upload refused"));
        assert_eq!(
            report.playback_url.as_deref(),
            Some("https://bucket/s/hls/index.m3u8")
        );
    }

    #[test]
    fn viewers_are_given_the_live_playlist_and_the_full_one_is_kept_as_the_recording() {
        let info = proto::EgressInfo {
            egress_id: "EG_1".into(),
            status: proto::EgressStatus::EgressActive.into(),
            segment_results: vec![proto::SegmentsInfo {
                playlist_location: "https://bucket/s/hls/index.m3u8".into(),
                live_playlist_location: "https://bucket/s/hls/live.m3u8".into(),
                ..proto::SegmentsInfo::default()
            }],
            ..proto::EgressInfo::default()
        };

        let report = egress_report(&info);

        assert_eq!(
            report.playback_url.as_deref(),
            Some("https://bucket/s/hls/live.m3u8")
        );
        assert_eq!(
            report.location.as_deref(),
            Some("https://bucket/s/hls/index.m3u8")
        );
    }

    #[test]
    fn ingress_states_become_the_domains_with_their_error() {
        let info = |status: proto::ingress_state::Status, error: &str| proto::IngressInfo {
            ingress_id: "IN_1".into(),
            state: Some(proto::IngressState {
                status: status.into(),
                error: error.into(),
                ..proto::IngressState::default()
            }),
            ..proto::IngressInfo::default()
        };

        let publishing =
            ingress_report(&info(proto::ingress_state::Status::EndpointPublishing, ""));
        let failed = ingress_report(&info(
            proto::ingress_state::Status::EndpointError,
            "bad codec",
        ));

        assert_eq!(publishing.state, Some(IngestState::Publishing));
        assert_eq!(failed.state, Some(IngestState::Error));
        assert_eq!(failed.error.as_deref(), Some("bad codec"));
    }

    #[test]
    fn storage_credentials_never_print() {
        let storage = Storage::S3 {
            endpoint: "https://minio:9000".into(),
            region: "eu".into(),
            bucket: "streams".into(),
            access_key: "AKIA-VISIBLE".into(),
            secret: "very-secret-key".into(),
            force_path_style: true,
        };

        let printed = format!("{storage:?}");

        assert!(printed.contains("streams") && !printed.contains("very-secret-key"));
        assert!(!printed.contains("AKIA-VISIBLE"));
    }
}
