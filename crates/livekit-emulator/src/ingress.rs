//! In-memory ingresses: LiveKit's Ingress records and their state machine.
//!
//! Pure bookkeeping like `state`: changes report their webhooks as [`Event`]s. What an
//! ingress does in its room (joining, publishing, leaving) is the caller's business; this
//! module only knows which room session belongs to which ingress.
//!
//! The rules follow LiveKit's ingress service: RTMP and WHIP ingresses are reusable and wait
//! in `ENDPOINT_INACTIVE` for an encoder; a URL ingress is pulled at once and completes when
//! its media ends. `ingress_started` goes out when the state becomes `ENDPOINT_PUBLISHING`,
//! `ingress_ended` when it becomes inactive, complete or errored from another state.

use std::collections::{BTreeMap, HashMap};

use livekit_protocol as proto;
use proto::ingress_state::Status;

use crate::config::BroadcastLimits;
use crate::state::{new_id, new_secret, now_ms, now_ns, Event};
use crate::EmulatorError;

/// LiveKit's error for a stream whose source disappeared from the room.
pub(crate) const ROOM_DISCONNECTED: &str = "room disconnected";

/// The addresses encoders are told to push to.
#[derive(Debug, Clone)]
pub(crate) struct IngressUrls {
    pub rtmp: String,
    pub whip: String,
}

/// The room session of an ingress whose encoder is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub room: String,
    pub identity: String,
    pub participant_sid: String,
}

/// Whether a simulated encoder may start publishing to an ingress.
#[derive(Debug)]
pub(crate) enum Admission {
    /// It may: the ingress as it stands.
    Ready(Box<proto::IngressInfo>),
    /// The connection is refused and the ingress records the error, as LiveKit's ingress
    /// service does for a disabled ingress or one without a room.
    Refused(EmulatorError),
}

/// How an encoder session ended.
#[derive(Debug, Clone)]
pub(crate) enum Ending {
    /// The encoder stopped (or the pulled media ended).
    Stopped,
    /// The encoder or the pipeline failed.
    Failed(String),
}

#[derive(Debug)]
struct Entry {
    info: proto::IngressInfo,
    /// Creation order, so listings are stable.
    seq: u64,
    session: Option<Session>,
}

/// All ingresses of one emulator.
#[derive(Debug, Default)]
pub(crate) struct Ingresses {
    entries: BTreeMap<String, Entry>,
    by_key: HashMap<String, String>,
    next_seq: u64,
}

impl Ingresses {
    /// CreateIngress: validates like LiveKit and hands out an id, a stream key and the URL.
    pub fn create(
        &mut self,
        req: proto::CreateIngressRequest,
        urls: &IngressUrls,
        limits: &BroadcastLimits,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let input = proto::IngressInput::try_from(req.input_type)
            .map_err(|_| EmulatorError::InvalidArgument("invalid ingress type".into()))?;
        let url = match input {
            proto::IngressInput::RtmpInput => urls.rtmp.clone(),
            proto::IngressInput::WhipInput => urls.whip.clone(),
            proto::IngressInput::UrlInput => pull_url(&req.url)?,
        };
        let pulled = input == proto::IngressInput::UrlInput;
        let bypass = bypass_requested(&req);
        let mut info = proto::IngressInfo {
            ingress_id: self.fresh_id(),
            name: req.name,
            stream_key: if pulled {
                String::new()
            } else {
                self.fresh_key()
            },
            url,
            input_type: req.input_type,
            enable_transcoding: req.enable_transcoding,
            audio: req.audio,
            video: req.video,
            room_name: req.room_name,
            participant_identity: req.participant_identity,
            participant_name: req.participant_name,
            participant_metadata: req.participant_metadata,
            reusable: !pulled,
            state: Some(proto::IngressState::default()),
            enabled: req.enabled,
            ..Default::default()
        };
        set_bypass(&mut info, bypass);
        validate(&info)?;
        if pulled {
            if info.room_name.is_empty() {
                return Err(invalid("no room name"));
            }
            if info.enabled == Some(false) {
                return Err(invalid("disabled non reusable ingress"));
            }
        }
        self.check_total_capacity(limits)?;
        self.check_room_capacity(&info.room_name, limits)?;
        default_transcoding(&mut info);
        if pulled {
            // LiveKit launches a URL ingress at once; it answers while the pull buffers.
            let now = now_ns();
            info.state = Some(proto::IngressState {
                status: Status::EndpointBuffering as i32,
                started_at: now,
                updated_at: now,
                resource_id: new_id("IR_"),
                ..Default::default()
            });
        }
        self.insert(info.clone());
        Ok(info)
    }

    /// UpdateIngress: only reusable ingresses change; an errored one is reset to inactive
    /// first, which LiveKit reports as `ingress_ended`.
    pub fn update(
        &mut self,
        req: proto::UpdateIngressRequest,
        limits: &BroadcastLimits,
        events: &mut Vec<Event>,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let current = self.entry(&req.ingress_id)?.info.clone();
        if !current.reusable {
            return Err(EmulatorError::InvalidArgument(
                "ingress is not reusable and cannot be modified".into(),
            ));
        }
        let mut info = current.clone();
        apply_update(&mut info, req);
        validate(&info)?;
        if info.room_name != current.room_name {
            self.check_room_capacity(&info.room_name, limits)?;
        }
        default_transcoding(&mut info);
        if status_of(&info) == Status::EndpointError {
            let state = info.state.get_or_insert_with(Default::default);
            state.status = Status::EndpointInactive as i32;
            state.updated_at = now_ns();
            events.push(Event::ingress("ingress_ended", &info));
        }
        self.entry_mut(&info.ingress_id)?.info = info.clone();
        Ok(info)
    }

    /// ListIngress: one by id (which must exist), else all or those of one room.
    pub fn list(&self, room: &str, id: &str) -> Result<Vec<proto::IngressInfo>, EmulatorError> {
        if !id.is_empty() {
            return Ok(vec![self.entry(id)?.info.clone()]);
        }
        let mut found: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| room.is_empty() || e.info.room_name == room)
            .collect();
        found.sort_by_key(|e| e.seq);
        Ok(found.into_iter().map(|e| e.info.clone()).collect())
    }

    /// DeleteIngress: forgets the ingress and its key. Returns it (state inactive, as LiveKit
    /// answers) and the room session the caller must close.
    pub fn delete(
        &mut self,
        id: &str,
    ) -> Result<(proto::IngressInfo, Option<Session>), EmulatorError> {
        let entry = self.entries.remove(id).ok_or_else(|| not_found(id))?;
        self.by_key.remove(&entry.info.stream_key);
        let mut info = entry.info;
        if let Some(state) = info.state.as_mut() {
            state.status = Status::EndpointInactive as i32;
        }
        Ok((info, entry.session))
    }

    /// The ingress a stream key belongs to; rotated and deleted keys belong to none.
    pub fn id_for_key(&self, stream_key: &str) -> Option<String> {
        if stream_key.is_empty() {
            return None;
        }
        self.by_key.get(stream_key).cloned()
    }

    /// Decides whether an encoder may start publishing to `id`.
    pub fn admit(&self, id: &str) -> Result<Admission, EmulatorError> {
        let entry = self.entry(id)?;
        let info = &entry.info;
        let status = status_of(info);
        if entry.session.is_some() {
            return Err(EmulatorError::FailedPrecondition(format!(
                "ingress {id} is already publishing"
            )));
        }
        if !info.reusable && status != Status::EndpointBuffering {
            return Err(EmulatorError::FailedPrecondition(format!(
                "ingress {id} has ended and is not reusable"
            )));
        }
        if info.enabled == Some(false) {
            return Ok(Admission::Refused(EmulatorError::PermissionDenied(
                "session is disabled".into(),
            )));
        }
        if info.room_name.is_empty() {
            return Ok(Admission::Refused(invalid("no room name")));
        }
        Ok(Admission::Ready(Box::new(info.clone())))
    }

    /// The encoder's participant is in the room with its tracks: the ingress publishes.
    pub fn mark_publishing(
        &mut self,
        id: &str,
        session: Session,
        room_sid: &str,
        tracks: Vec<proto::TrackInfo>,
        events: &mut Vec<Event>,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let entry = self.entry_mut(id)?;
        let now = now_ns();
        let state = entry.info.state.get_or_insert_with(Default::default);
        let resource_id = if state.resource_id.is_empty() || entry.info.reusable {
            new_id("IR_")
        } else {
            state.resource_id.clone()
        };
        let started_at = if entry.info.reusable || state.started_at == 0 {
            now
        } else {
            state.started_at
        };
        *state = proto::IngressState {
            status: Status::EndpointPublishing as i32,
            room_id: room_sid.to_owned(),
            started_at,
            updated_at: now,
            resource_id,
            tracks,
            ..Default::default()
        };
        entry.session = Some(session);
        events.push(Event::ingress("ingress_started", &entry.info));
        Ok(entry.info.clone())
    }

    /// The session of an ingress that is buffering or publishing, if it has one.
    pub fn session(&self, id: &str) -> Result<Option<Session>, EmulatorError> {
        let entry = self.entry(id)?;
        match status_of(&entry.info) {
            Status::EndpointBuffering | Status::EndpointPublishing => Ok(entry.session.clone()),
            Status::EndpointInactive | Status::EndpointError | Status::EndpointComplete => Err(
                EmulatorError::FailedPrecondition(format!("ingress {id} is not publishing")),
            ),
        }
    }

    /// Ends the encoder session: inactive (reusable), complete (pulled) or errored.
    pub fn end(
        &mut self,
        id: &str,
        ending: Ending,
        events: &mut Vec<Event>,
    ) -> Result<proto::IngressInfo, EmulatorError> {
        let entry = self.entry_mut(id)?;
        let (status, error) = match ending {
            Ending::Stopped if entry.info.reusable => (Status::EndpointInactive, String::new()),
            Ending::Stopped => (Status::EndpointComplete, String::new()),
            Ending::Failed(reason) => (Status::EndpointError, reason),
        };
        let now = now_ns();
        let state = entry.info.state.get_or_insert_with(Default::default);
        let changed = state.status != status as i32;
        state.status = status as i32;
        state.error = error;
        state.ended_at = now;
        state.updated_at = now;
        state.tracks.clear();
        entry.session = None;
        if changed {
            events.push(Event::ingress("ingress_ended", &entry.info));
        }
        Ok(entry.info.clone())
    }

    /// A refused connection leaves the ingress errored, as LiveKit's ingress service records
    /// it; `ingress_ended` goes out if that is a change.
    pub fn record_refusal(&mut self, id: &str, error: &EmulatorError, events: &mut Vec<Event>) {
        let Ok(entry) = self.entry_mut(id) else {
            return;
        };
        let state = entry.info.state.get_or_insert_with(Default::default);
        let changed = state.status != Status::EndpointError as i32;
        state.status = Status::EndpointError as i32;
        state.error = error.message().to_owned();
        state.updated_at = now_ns();
        if changed {
            events.push(Event::ingress("ingress_ended", &entry.info));
        }
    }

    /// The ingress whose encoder session is this participant, if any.
    pub fn id_for_participant(&self, participant_sid: &str) -> Option<String> {
        self.entries
            .values()
            .find(|e| {
                e.session
                    .as_ref()
                    .is_some_and(|s| s.participant_sid == participant_sid)
            })
            .map(|e| e.info.ingress_id.clone())
    }

    /// Every ingress, in creation order.
    pub fn all(&self) -> Vec<proto::IngressInfo> {
        self.list("", "").unwrap_or_default()
    }

    fn insert(&mut self, info: proto::IngressInfo) {
        if !info.stream_key.is_empty() {
            self.by_key
                .insert(info.stream_key.clone(), info.ingress_id.clone());
        }
        self.next_seq += 1;
        self.entries.insert(
            info.ingress_id.clone(),
            Entry {
                info,
                seq: self.next_seq,
                session: None,
            },
        );
    }

    fn check_total_capacity(&self, limits: &BroadcastLimits) -> Result<(), EmulatorError> {
        if self.entries.len() >= limits.max_ingresses {
            return Err(EmulatorError::ResourceExhausted(format!(
                "too many ingresses (limit {})",
                limits.max_ingresses
            )));
        }
        Ok(())
    }

    fn check_room_capacity(
        &self,
        room: &str,
        limits: &BroadcastLimits,
    ) -> Result<(), EmulatorError> {
        let in_room = self
            .entries
            .values()
            .filter(|e| e.info.room_name == room)
            .count();
        if in_room >= limits.max_ingresses_per_room {
            return Err(EmulatorError::ResourceExhausted(format!(
                "too many ingresses for room {room:?} (limit {})",
                limits.max_ingresses_per_room
            )));
        }
        Ok(())
    }

    fn fresh_id(&self) -> String {
        loop {
            let id = new_id("IN_");
            if !self.entries.contains_key(&id) {
                return id;
            }
        }
    }

    fn fresh_key(&self) -> String {
        loop {
            let key = new_secret();
            if !self.by_key.contains_key(&key) {
                return key;
            }
        }
    }

    fn entry(&self, id: &str) -> Result<&Entry, EmulatorError> {
        self.entries.get(id).ok_or_else(|| not_found(id))
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry, EmulatorError> {
        self.entries.get_mut(id).ok_or_else(|| not_found(id))
    }
}

/// The participant an ingress publishes as: LiveKit's ingress token makes it an INGRESS
/// participant that publishes but does not subscribe.
pub(crate) fn ingress_participant(info: &proto::IngressInfo) -> proto::ParticipantInfo {
    let now = now_ms();
    proto::ParticipantInfo {
        sid: new_id("PA_"),
        identity: info.participant_identity.clone(),
        name: info.participant_name.clone(),
        metadata: info.participant_metadata.clone(),
        attributes: HashMap::from([("ingress.ingressID".to_owned(), info.ingress_id.clone())]),
        state: proto::participant_info::State::Active as i32,
        joined_at: now / 1000,
        joined_at_ms: now,
        version: 1,
        kind: proto::participant_info::Kind::Ingress as i32,
        permission: Some(proto::ParticipantPermission {
            can_subscribe: false,
            can_publish: true,
            can_publish_data: true,
            can_update_metadata: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The tracks an encoder's stream becomes: one audio and one video track.
pub(crate) fn ingress_tracks(info: &proto::IngressInfo) -> Vec<proto::TrackInfo> {
    let audio = info.audio.clone().unwrap_or_default();
    let video = info.video.clone().unwrap_or_default();
    let source_or = |source: i32, default: proto::TrackSource| {
        if source == proto::TrackSource::Unknown as i32 {
            default as i32
        } else {
            source
        }
    };
    vec![
        proto::TrackInfo {
            sid: new_id("TR_"),
            r#type: proto::TrackType::Audio as i32,
            name: audio.name,
            source: source_or(audio.source, proto::TrackSource::Microphone),
            mime_type: "audio/opus".into(),
            ..Default::default()
        },
        proto::TrackInfo {
            sid: new_id("TR_"),
            r#type: proto::TrackType::Video as i32,
            name: video.name,
            source: source_or(video.source, proto::TrackSource::Camera),
            mime_type: "video/H264".into(),
            width: 1280,
            height: 720,
            ..Default::default()
        },
    ]
}

pub(crate) fn status_of(info: &proto::IngressInfo) -> Status {
    info.state
        .as_ref()
        .and_then(|s| Status::try_from(s.status).ok())
        .unwrap_or(Status::EndpointInactive)
}

/// A URL ingress pulls over HTTP(S) or SRT only.
fn pull_url(url: &str) -> Result<String, EmulatorError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(invalid("missing URL parameter"));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid(&format!("invalid url {url:?}")))?;
    if rest.is_empty() {
        return Err(invalid(&format!("invalid url {url:?}")));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" | "srt" => Ok(url.to_owned()),
        other => Err(invalid(&format!("invalid url scheme {other}"))),
    }
}

/// The consistency rules LiveKit checks before it stores an ingress.
fn validate(info: &proto::IngressInfo) -> Result<(), EmulatorError> {
    if info.participant_identity.is_empty() {
        return Err(invalid("no participant identity"));
    }
    let whip = info.input_type == proto::IngressInput::WhipInput as i32;
    let transcoding = info.enable_transcoding.unwrap_or(!whip);
    if !whip && !transcoding {
        return Err(bypass_error(
            "bypassing transcoding impossible with selected input type",
        ));
    }
    let has_encoding = |audio: bool| {
        if audio {
            info.audio
                .as_ref()
                .is_some_and(|a| a.encoding_options.is_some())
        } else {
            info.video
                .as_ref()
                .is_some_and(|v| v.encoding_options.is_some())
        }
    };
    if !transcoding && has_encoding(false) {
        return Err(bypass_error(
            "video encoding options must be empty if transcoding is disabled",
        ));
    }
    if !transcoding && has_encoding(true) {
        return Err(bypass_error(
            "audio encoding options must be empty if transcoding is disabled",
        ));
    }
    Ok(())
}

/// LiveKit's defaults: WHIP passes media through, everything else is transcoded; the
/// deprecated `bypass_transcoding` mirrors the choice for older clients.
#[allow(deprecated)]
fn default_transcoding(info: &mut proto::IngressInfo) {
    let whip = info.input_type == proto::IngressInput::WhipInput as i32;
    let enabled = *info.enable_transcoding.get_or_insert(!whip);
    info.bypass_transcoding = !enabled;
}

#[allow(deprecated)]
fn bypass_requested(req: &proto::CreateIngressRequest) -> bool {
    req.bypass_transcoding
}

/// The deprecated request flag, honoured when the new one is absent.
#[allow(deprecated)]
fn set_bypass(info: &mut proto::IngressInfo, bypass: bool) {
    if bypass && info.enable_transcoding.is_none() {
        info.enable_transcoding = Some(false);
    }
    info.bypass_transcoding = bypass;
}

/// UpdateIngress semantics: empty strings and absent options leave a field as it is.
#[allow(deprecated)]
fn apply_update(info: &mut proto::IngressInfo, req: proto::UpdateIngressRequest) {
    let keep_or = |field: &mut String, value: String| {
        if !value.is_empty() {
            *field = value;
        }
    };
    keep_or(&mut info.name, req.name);
    keep_or(&mut info.room_name, req.room_name);
    keep_or(&mut info.participant_identity, req.participant_identity);
    keep_or(&mut info.participant_name, req.participant_name);
    keep_or(&mut info.participant_metadata, req.participant_metadata);
    if req.enable_transcoding.is_some() {
        info.enable_transcoding = req.enable_transcoding;
    } else if let Some(bypass) = req.bypass_transcoding {
        info.enable_transcoding = Some(!bypass);
    }
    if req.audio.is_some() {
        info.audio = req.audio;
    }
    if req.video.is_some() {
        info.video = req.video;
    }
    if req.enabled.is_some() {
        info.enabled = req.enabled;
    }
}

fn invalid(reason: &str) -> EmulatorError {
    EmulatorError::InvalidArgument(format!("invalid ingress: {reason}"))
}

fn bypass_error(reason: &str) -> EmulatorError {
    EmulatorError::InvalidArgument(format!(
        "invalid transcoding bypass configuration: {reason}"
    ))
}

fn not_found(id: &str) -> EmulatorError {
    EmulatorError::NotFound(format!("ingress {id} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> IngressUrls {
        IngressUrls {
            rtmp: "rtmp://host:1935/live".into(),
            whip: "http://host:7880/w".into(),
        }
    }

    fn request(input: proto::IngressInput, room: &str) -> proto::CreateIngressRequest {
        proto::CreateIngressRequest {
            input_type: input as i32,
            room_name: room.into(),
            participant_identity: "encoder".into(),
            ..Default::default()
        }
    }

    fn created(ingresses: &mut Ingresses, room: &str) -> proto::IngressInfo {
        ingresses
            .create(
                request(proto::IngressInput::RtmpInput, room),
                &urls(),
                &BroadcastLimits::default(),
            )
            .unwrap_or_default()
    }

    #[test]
    fn an_rtmp_ingress_waits_inactive_with_a_key_and_the_rtmp_url() {
        let mut ingresses = Ingresses::default();
        let info = created(&mut ingresses, "show");
        assert!(info.ingress_id.starts_with("IN_"));
        assert!(info.stream_key.len() >= 20);
        assert_eq!(info.url, "rtmp://host:1935/live");
        assert!(info.reusable);
        assert_eq!(info.enable_transcoding, Some(true));
        assert_eq!(status_of(&info), Status::EndpointInactive);
        assert_eq!(
            ingresses.id_for_key(&info.stream_key),
            Some(info.ingress_id)
        );
    }

    #[test]
    fn a_url_ingress_needs_an_http_or_srt_url_and_a_room_and_starts_buffering() {
        let mut ingresses = Ingresses::default();
        let limits = BroadcastLimits::default();
        let mut ftp = request(proto::IngressInput::UrlInput, "show");
        ftp.url = "ftp://x/y".into();
        let refused = ingresses.create(ftp, &urls(), &limits);
        assert!(matches!(refused, Err(EmulatorError::InvalidArgument(_))));

        let mut roomless = request(proto::IngressInput::UrlInput, "");
        roomless.url = "https://media/x.m3u8".into();
        assert!(ingresses.create(roomless, &urls(), &limits).is_err());

        let mut good = request(proto::IngressInput::UrlInput, "show");
        good.url = "https://media/x.m3u8".into();
        let info = ingresses.create(good, &urls(), &limits).unwrap_or_default();
        assert_eq!(info.url, "https://media/x.m3u8");
        assert!(info.stream_key.is_empty());
        assert!(!info.reusable);
        assert_eq!(status_of(&info), Status::EndpointBuffering);
    }

    #[test]
    fn transcoding_can_only_be_disabled_for_whip() {
        let mut ingresses = Ingresses::default();
        let mut rtmp = request(proto::IngressInput::RtmpInput, "show");
        rtmp.enable_transcoding = Some(false);
        let refused = ingresses.create(rtmp, &urls(), &BroadcastLimits::default());
        assert!(matches!(refused, Err(EmulatorError::InvalidArgument(_))));

        let whip = request(proto::IngressInput::WhipInput, "show");
        let info = ingresses
            .create(whip, &urls(), &BroadcastLimits::default())
            .unwrap_or_default();
        assert_eq!(info.enable_transcoding, Some(false));
        assert_eq!(info.url, "http://host:7880/w");
    }

    #[test]
    fn deleting_forgets_the_key() {
        let mut ingresses = Ingresses::default();
        let info = created(&mut ingresses, "show");
        assert!(ingresses.delete(&info.ingress_id).is_ok());
        assert_eq!(ingresses.id_for_key(&info.stream_key), None);
        assert!(matches!(
            ingresses.delete(&info.ingress_id),
            Err(EmulatorError::NotFound(_))
        ));
    }

    #[test]
    fn the_per_room_cap_is_a_clear_error() {
        let mut ingresses = Ingresses::default();
        let limits = BroadcastLimits {
            max_ingresses_per_room: 1,
            ..BroadcastLimits::default()
        };
        let req = || request(proto::IngressInput::RtmpInput, "show");
        assert!(ingresses.create(req(), &urls(), &limits).is_ok());
        let refused = ingresses.create(req(), &urls(), &limits);
        assert!(matches!(refused, Err(EmulatorError::ResourceExhausted(_))));
        let other = request(proto::IngressInput::RtmpInput, "other");
        let moved = ingresses
            .create(other, &urls(), &limits)
            .unwrap_or_default();
        let into_full_room = proto::UpdateIngressRequest {
            ingress_id: moved.ingress_id,
            room_name: "show".into(),
            ..Default::default()
        };
        let refused = ingresses.update(into_full_room, &limits, &mut Vec::new());
        assert!(matches!(refused, Err(EmulatorError::ResourceExhausted(_))));
    }

    #[test]
    fn an_update_at_the_total_cap_is_still_allowed() {
        let mut ingresses = Ingresses::default();
        let limits = BroadcastLimits {
            max_ingresses: 1,
            ..BroadcastLimits::default()
        };
        let req = request(proto::IngressInput::RtmpInput, "show");
        let info = ingresses.create(req, &urls(), &limits).unwrap_or_default();
        let rename = proto::UpdateIngressRequest {
            ingress_id: info.ingress_id,
            name: "renamed".into(),
            room_name: "elsewhere".into(),
            ..Default::default()
        };
        let updated = ingresses.update(rename, &limits, &mut Vec::new());
        assert_eq!(
            updated.map(|i| i.room_name).ok(),
            Some("elsewhere".to_owned())
        );
    }

    #[test]
    fn updating_an_errored_ingress_resets_it_with_ingress_ended() {
        let mut ingresses = Ingresses::default();
        let info = created(&mut ingresses, "show");
        let mut events = Vec::new();
        let failure = EmulatorError::PermissionDenied("x".into());
        ingresses.record_refusal(&info.ingress_id, &failure, &mut events);
        let update = proto::UpdateIngressRequest {
            ingress_id: info.ingress_id.clone(),
            name: "renamed".into(),
            ..Default::default()
        };
        let updated = ingresses
            .update(update, &BroadcastLimits::default(), &mut events)
            .unwrap_or_default();
        assert_eq!(updated.name, "renamed");
        assert_eq!(status_of(&updated), Status::EndpointInactive);
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(names, ["ingress_ended", "ingress_ended"]);
    }
}
