//! The [`Emulator`] handle: shared state, webhook queue and every room operation.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use livekit_api::access_token::{Claims, TokenVerifier, VideoGrants};
use livekit_protocol as proto;
use proto::participant_info::{Kind as ParticipantKind, State as ParticipantState};

use crate::state::{new_id, now_ms, Event, ParticipantUpdate, RoomSpec, Rooms};
use crate::webhook::WebhookQueue;
use crate::{EmulatorConfig, EmulatorError};

/// Cheap-to-clone handle on the emulator's shared state (Arc inside).
#[derive(Clone, Debug)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: EmulatorConfig,
    verifier: TokenVerifier,
    rooms: Mutex<Rooms>,
    webhooks: WebhookQueue,
    /// The latest RoomService calls, oldest first (at most [`RECENT_CALLS`]).
    calls: Mutex<VecDeque<RecordedCall>>,
}

/// How many RoomService calls [`Emulator::recent_calls`] remembers.
pub const RECENT_CALLS: usize = 64;

/// A RoomService call as it reached the emulator: what tests may check of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// The method (`CreateRoom`, …).
    pub method: String,
    /// Its W3C `traceparent` header, if it sent one.
    pub traceparent: Option<String>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // EmulatorConfig's Debug redacts the secret; TokenVerifier's omits it.
        f.debug_struct("Emulator")
            .field("config", &self.config)
            .field("rooms", &self.rooms)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Creates an emulator with no rooms.
    ///
    /// Must be called inside a tokio runtime: the webhook delivery task is spawned on it.
    /// Without one the emulator still works but delivers no webhooks.
    pub fn new(config: EmulatorConfig) -> Self {
        let webhooks = WebhookQueue::start(
            config.webhook_urls.clone(),
            config.api_key.clone(),
            config.api_secret.clone(),
        );
        let verifier = TokenVerifier::with_api_key(&config.api_key, &config.api_secret);
        Self {
            inner: Arc::new(Inner {
                config,
                verifier,
                rooms: Mutex::new(Rooms::default()),
                webhooks,
                calls: Mutex::new(VecDeque::with_capacity(RECENT_CALLS)),
            }),
        }
    }

    /// Registers the RoomService routes and the simulated-client routes on an actix app.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        crate::clients::configure(cfg, self.clone());
        crate::twirp::configure(cfg, self.clone());
    }

    /// Simulates a media client connecting with a join token, as LiveKit's signal connection
    /// would: the room is created if missing and an earlier session of the same identity is
    /// replaced.
    pub async fn connect(&self, token: &str) -> Result<proto::ParticipantInfo, EmulatorError> {
        let claims = self.verify(token)?;
        let grants = &claims.video;
        if !grants.room_join {
            return Err(EmulatorError::PermissionDenied(
                "token lacks the roomJoin grant".into(),
            ));
        }
        if grants.room.is_empty() {
            return Err(EmulatorError::PermissionDenied(
                "token does not name a room".into(),
            ));
        }
        if claims.sub.is_empty() {
            return Err(EmulatorError::InvalidArgument(
                "token has no identity".into(),
            ));
        }
        let spec = room_spec_from(&claims);
        let participant = participant_from(&claims);
        self.mutate(|rooms, events| rooms.join(spec, participant, events))
    }

    /// Simulates the client of `identity` disconnecting from `room`.
    pub async fn disconnect(&self, room: &str, identity: &str) -> Result<(), EmulatorError> {
        self.mutate(|rooms, events| {
            rooms.leave(
                room,
                identity,
                proto::DisconnectReason::ClientInitiated,
                events,
            )
        })
    }

    /// A snapshot of every room, ordered by name.
    pub fn rooms(&self) -> Vec<proto::Room> {
        self.lock().list(&[])
    }

    /// A snapshot of the participants of `room` in join order; empty if the room is unknown.
    pub fn participants(&self, room: &str) -> Vec<proto::ParticipantInfo> {
        self.lock().participants(room).unwrap_or_default()
    }

    /// The latest RoomService calls (at most [`RECENT_CALLS`]), oldest first.
    pub fn recent_calls(&self) -> Vec<RecordedCall> {
        self.calls().iter().cloned().collect()
    }

    /// Remembers a RoomService call, forgetting the oldest beyond [`RECENT_CALLS`].
    pub(crate) fn record_call(&self, call: RecordedCall) {
        let mut calls = self.calls();
        if calls.len() == RECENT_CALLS {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    fn calls(&self) -> MutexGuard<'_, VecDeque<RecordedCall>> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Test hook: when false, webhooks are generated but dropped (simulates LiveKit dropping
    /// webhooks).
    pub fn set_webhooks_enabled(&self, enabled: bool) {
        self.inner.webhooks.set_enabled(enabled);
    }

    /// Waits until every webhook queued so far has been delivered (or given up on).
    /// Bounded by `timeout`; returns false on timeout.
    pub async fn flush_webhooks(&self, timeout: Duration) -> bool {
        self.inner.webhooks.flush(timeout).await
    }

    /// Checks a token's signature, issuer and validity period.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, EmulatorError> {
        self.inner
            .verifier
            .verify(token)
            .map_err(|e| EmulatorError::Unauthorized(format!("invalid token: {e}")))
    }

    pub(crate) fn create_room(&self, spec: RoomSpec) -> Result<proto::Room, EmulatorError> {
        self.mutate(|rooms, events| rooms.get_or_create(spec, events))
    }

    pub(crate) fn delete_room(&self, room: &str) -> Result<(), EmulatorError> {
        self.mutate(|rooms, events| rooms.delete(room, events))
    }

    pub(crate) fn list_rooms(&self, names: &[String]) -> Vec<proto::Room> {
        self.lock().list(names)
    }

    pub(crate) fn list_participants(
        &self,
        room: &str,
    ) -> Result<Vec<proto::ParticipantInfo>, EmulatorError> {
        self.lock().participants(room)
    }

    pub(crate) fn get_participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        self.lock().participant(room, identity)
    }

    pub(crate) fn remove_participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<(), EmulatorError> {
        self.mutate(|rooms, events| {
            rooms.leave(
                room,
                identity,
                proto::DisconnectReason::ParticipantRemoved,
                events,
            )
        })
    }

    pub(crate) fn update_room_metadata(
        &self,
        room: &str,
        metadata: String,
    ) -> Result<proto::Room, EmulatorError> {
        self.lock().update_room_metadata(room, metadata)
    }

    pub(crate) fn update_participant(
        &self,
        room: &str,
        identity: &str,
        update: ParticipantUpdate,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        self.lock().update_participant(room, identity, update)
    }

    pub(crate) fn mute_track(
        &self,
        room: &str,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<proto::TrackInfo, EmulatorError> {
        self.lock().mute_track(room, identity, track_sid, muted)
    }

    /// Runs a state change and queues its webhooks before releasing the lock, so webhook
    /// order always matches the order of changes.
    fn mutate<T>(
        &self,
        change: impl FnOnce(&mut Rooms, &mut Vec<Event>) -> Result<T, EmulatorError>,
    ) -> Result<T, EmulatorError> {
        let mut rooms = self.lock();
        let mut events = Vec::new();
        let result = change(&mut rooms, &mut events);
        for event in events {
            self.inner.webhooks.enqueue(event);
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        // Every mutation completes or fails before touching the map, so a panic elsewhere
        // cannot leave it half-updated; carrying on is safe.
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Room settings for an auto-created room: the token's room configuration if it has one.
fn room_spec_from(claims: &Claims) -> RoomSpec {
    let mut spec = RoomSpec {
        name: claims.video.room.clone(),
        ..Default::default()
    };
    if let Some(config) = &claims.room_config {
        spec.empty_timeout = config.empty_timeout;
        spec.departure_timeout = config.departure_timeout;
        spec.max_participants = config.max_participants;
        spec.metadata = config.metadata.clone();
    }
    spec
}

fn participant_from(claims: &Claims) -> proto::ParticipantInfo {
    let now = now_ms();
    proto::ParticipantInfo {
        sid: new_id("PA_"),
        identity: claims.sub.clone(),
        name: claims.name.clone(),
        metadata: claims.metadata.clone(),
        attributes: claims.attributes.clone(),
        state: ParticipantState::Active as i32,
        joined_at: now / 1000,
        joined_at_ms: now,
        version: 1,
        kind: participant_kind(&claims.kind) as i32,
        permission: Some(permission_from(&claims.video)),
        ..Default::default()
    }
}

fn participant_kind(kind: &str) -> ParticipantKind {
    match kind {
        "ingress" => ParticipantKind::Ingress,
        "egress" => ParticipantKind::Egress,
        "sip" => ParticipantKind::Sip,
        "agent" => ParticipantKind::Agent,
        "connector" => ParticipantKind::Connector,
        "bridge" => ParticipantKind::Bridge,
        _ => ParticipantKind::Standard,
    }
}

/// LiveKit's defaults: absent canPublish/canSubscribe mean allowed, absent canPublishData
/// follows canPublish.
fn permission_from(grants: &VideoGrants) -> proto::ParticipantPermission {
    let can_publish_sources = grants
        .can_publish_sources
        .iter()
        .filter_map(|s| proto::TrackSource::from_str_name(&s.to_uppercase()))
        .map(|s| s as i32)
        .collect();
    proto::ParticipantPermission {
        can_subscribe: grants.can_subscribe(),
        can_publish: grants.can_publish(),
        can_publish_data: grants.can_publish_data(),
        can_publish_sources,
        hidden: grants.hidden,
        can_update_metadata: grants.can_update_own_metadata(),
        ..Default::default()
    }
}
