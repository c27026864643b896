//! The [`Emulator`] handle: shared state, webhook queue, timed steps and every room
//! operation (ingress and egress operations are in `broadcast`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use livekit_api::access_token::{Claims, TokenVerifier, VideoGrants};
use livekit_protocol as proto;
use proto::participant_info::{Kind as ParticipantKind, State as ParticipantState};
use tokio::sync::watch;

use crate::state::{new_id, now_ms, ParticipantUpdate, RoomSpec};
use crate::webhook::WebhookQueue;
use crate::world::{Effects, Timer, World};
use crate::{EmulatorConfig, EmulatorError};

/// Cheap-to-clone handle on the emulator's shared state (Arc inside).
#[derive(Clone, Debug)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: EmulatorConfig,
    verifier: TokenVerifier,
    world: Mutex<World>,
    webhooks: WebhookQueue,
    /// Where timed steps run; `None` outside a tokio runtime (steps then happen at once).
    runtime: Option<tokio::runtime::Handle>,
    /// Timed steps scheduled and not yet taken.
    pending_steps: watch::Sender<usize>,
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
        // EmulatorConfig's Debug redacts the secret; TokenVerifier's omits it; the world
        // holds stream keys, so only its size is shown.
        f.debug_struct("Emulator")
            .field("config", &self.config)
            .field("webhooks", &self.webhooks)
            .field("pending_steps", &*self.pending_steps.borrow())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Creates an emulator with no rooms.
    ///
    /// Must be called inside a tokio runtime: the webhook delivery task and the timed steps
    /// of simulated media workers run on it. Without one the emulator still works but
    /// delivers no webhooks, and timed steps happen at once.
    pub fn new(config: EmulatorConfig) -> Self {
        let webhooks = WebhookQueue::start(
            config.webhook_urls.clone(),
            config.api_key.clone(),
            config.api_secret.clone(),
        );
        let verifier = TokenVerifier::with_api_key(&config.api_key, &config.api_secret);
        let world = World::new(&config);
        Self {
            inner: Arc::new(Inner {
                config,
                verifier,
                world: Mutex::new(world),
                webhooks,
                runtime: tokio::runtime::Handle::try_current().ok(),
                pending_steps: watch::Sender::new(0),
                calls: Mutex::new(VecDeque::with_capacity(RECENT_CALLS)),
            }),
        }
    }

    /// Registers the Twirp services (RoomService, Ingress, Egress) and the simulation routes
    /// on an actix app.
    pub fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        crate::clients::configure(cfg, self.clone());
        crate::simulation::configure(cfg, self.clone());
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
        self.mutate(|world, fx| world.rooms.join(spec, participant, &mut fx.events))
    }

    /// Simulates the client of `identity` disconnecting from `room`.
    pub async fn disconnect(&self, room: &str, identity: &str) -> Result<(), EmulatorError> {
        self.mutate(|world, fx| {
            world.rooms.leave(
                room,
                identity,
                proto::DisconnectReason::ClientInitiated,
                &mut fx.events,
            )
        })
    }

    /// A snapshot of every room, ordered by name.
    pub fn rooms(&self) -> Vec<proto::Room> {
        self.lock().rooms.list(&[])
    }

    /// A snapshot of the participants of `room` in join order; empty if the room is unknown.
    pub fn participants(&self, room: &str) -> Vec<proto::ParticipantInfo> {
        self.lock().rooms.participants(room).unwrap_or_default()
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

    /// Waits until every timed step scheduled so far (egresses going live or completing, URL
    /// ingresses publishing) has been taken, then until their webhooks are delivered.
    /// Bounded by `timeout`; returns false on timeout.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending = self.inner.pending_steps.subscribe();
        let steps_done = tokio::time::timeout_at(deadline, pending.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok());
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        steps_done && self.flush_webhooks(left).await
    }

    /// Checks a token's signature, issuer and validity period.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, EmulatorError> {
        self.inner
            .verifier
            .verify(token)
            .map_err(|e| EmulatorError::Unauthorized(format!("invalid token: {e}")))
    }

    pub(crate) fn create_room(&self, spec: RoomSpec) -> Result<proto::Room, EmulatorError> {
        self.mutate(|world, fx| world.rooms.get_or_create(spec, &mut fx.events))
    }

    pub(crate) fn delete_room(&self, room: &str) -> Result<(), EmulatorError> {
        self.mutate(|world, fx| world.rooms.delete(room, &mut fx.events))
    }

    pub(crate) fn list_rooms(&self, names: &[String]) -> Vec<proto::Room> {
        self.lock().rooms.list(names)
    }

    pub(crate) fn list_participants(
        &self,
        room: &str,
    ) -> Result<Vec<proto::ParticipantInfo>, EmulatorError> {
        self.lock().rooms.participants(room)
    }

    pub(crate) fn get_participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        self.lock().rooms.participant(room, identity)
    }

    pub(crate) fn remove_participant(
        &self,
        room: &str,
        identity: &str,
    ) -> Result<(), EmulatorError> {
        self.mutate(|world, fx| {
            world.rooms.leave(
                room,
                identity,
                proto::DisconnectReason::ParticipantRemoved,
                &mut fx.events,
            )
        })
    }

    pub(crate) fn update_room_metadata(
        &self,
        room: &str,
        metadata: String,
    ) -> Result<proto::Room, EmulatorError> {
        self.lock().rooms.update_room_metadata(room, metadata)
    }

    pub(crate) fn update_participant(
        &self,
        room: &str,
        identity: &str,
        update: ParticipantUpdate,
    ) -> Result<proto::ParticipantInfo, EmulatorError> {
        self.lock().rooms.update_participant(room, identity, update)
    }

    pub(crate) fn mute_track(
        &self,
        room: &str,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<proto::TrackInfo, EmulatorError> {
        self.lock()
            .rooms
            .mute_track(room, identity, track_sid, muted)
    }

    pub(crate) fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// Runs a state change and the media workers' reactions to it, and queues their
    /// webhooks before releasing the lock, so webhook order always matches the order of
    /// changes. The timed steps they scheduled start after the lock is released.
    pub(crate) fn mutate<T>(
        &self,
        change: impl FnOnce(&mut World, &mut Effects) -> Result<T, EmulatorError>,
    ) -> Result<T, EmulatorError> {
        let mut fx = Effects::default();
        let result = {
            let mut world = self.lock();
            let result = change(&mut world, &mut fx);
            world.follow_up(&mut fx);
            for event in fx.events.drain(..) {
                self.inner.webhooks.enqueue(event);
            }
            result
        };
        for timer in fx.timers {
            self.schedule(timer);
        }
        result
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // Every mutation completes or fails before touching the maps, so a panic elsewhere
        // cannot leave them half-updated; carrying on is safe.
        self.inner
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a timed step after its delay, on the runtime the emulator was created in, or at
    /// once without one.
    fn schedule(&self, timer: Timer) {
        let Some(runtime) = &self.inner.runtime else {
            self.take_step(timer);
            return;
        };
        self.inner.pending_steps.send_modify(|n| *n += 1);
        let emulator = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(timer.after).await;
            emulator.take_step(timer);
            emulator
                .inner
                .pending_steps
                .send_modify(|n| *n = n.saturating_sub(1));
        });
    }

    fn take_step(&self, timer: Timer) {
        let _ = self.mutate(|world, fx| {
            world.take_step(timer.step, fx);
            Ok(())
        });
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
