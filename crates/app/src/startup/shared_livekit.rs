//! One embedded LiveKit for every instance on a Redis.
//!
//! With no `LIVEKIT_URL`, each instance starts the embedded emulator. Instances that share a
//! Redis must still share one LiveKit: a join answered by one instance must name the LiveKit
//! where another instance created the room, and a reconciler must compare the streams with the
//! rooms of that LiveKit, not with its own empty emulator (which would "heal" every stream
//! another instance created by stopping it).
//!
//! So the emulator of one instance, the holder of the [`LEASE`] lease, is the LiveKit of them
//! all; the lease's holder names its address and credentials ([`Host`]). The others follow it:
//! their media and token adapters point at its address. Every second the host renews the lease
//! and the others look again, so when the host stops (it releases the lease) or dies (the lease
//! expires), one of the others takes over with its own emulator and the rest follow it, as
//! instances would follow a LiveKit failover. The rooms of a host that is gone are gone with it,
//! as they would be with a LiveKit node.
//!
//! An instance refuses to start when it cannot follow: the host's emulator uses other
//! credentials (webhooks and tokens would not verify), or its address cannot be reached from
//! here (instances on several machines need a LiveKit they all reach: `LIVEKIT_URL`).

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use orchestrator_domain::broadcast::{
    BroadcastMedia, CreatedIngress, EgressReport, IngestKind, IngressReport, Output, StartedEgress,
};
use orchestrator_domain::coordination::LeaseStore;
use orchestrator_domain::ports::{
    JoinGrant, MediaError, MediaParticipant, MediaRoom, MediaServer, StoreError, TokenError,
    TokenIssuer,
};
use orchestrator_domain::{values::Identity, values::RoomName, values::StreamId};
use orchestrator_livekit::{
    BroadcastConfig, LiveKitBroadcast, LiveKitConfig, LiveKitMedia, LiveKitTokens,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The lease whose holder's emulator is every instance's LiveKit.
pub(crate) const LEASE: &str = "embedded-livekit";

/// How long the host's lease lasts without a renewal: a dead host is replaced within it.
const TTL: Duration = Duration::from_secs(5);

/// How often the host renews and the others look again.
const EVERY: Duration = Duration::from_secs(1);

/// What the lease's holder publishes: where its emulator listens and which credentials it
/// checks (as a fingerprint: the secret itself never leaves the instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Host {
    instance: String,
    url: String,
    api_key: String,
    fingerprint: String,
}

impl Host {
    /// This instance's emulator, as the lease would name it.
    pub(crate) fn of(instance: &str, config: &LiveKitConfig) -> Self {
        Self {
            instance: instance.to_owned(),
            url: config.url.clone(),
            api_key: config.api_key.clone(),
            fingerprint: fingerprint(&config.api_secret),
        }
    }

    fn holder(&self) -> String {
        // Serializing plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn parse(holder: &str) -> Result<Self, SharedLiveKitError> {
        serde_json::from_str(holder).map_err(|_| SharedLiveKitError::Foreign(holder.to_owned()))
    }

    fn same_credentials(&self, other: &Self) -> bool {
        self.api_key == other.api_key && self.fingerprint == other.fingerprint
    }
}

/// A keyed hash of the secret, so instances compare secrets without publishing them.
fn fingerprint(secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, b"orchestrator: embedded LiveKit credentials");
    tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why this instance cannot share the embedded LiveKit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SharedLiveKitError {
    #[error(
        "the instances on this Redis share the embedded LiveKit emulator of instance {instance} \
         ({url}), which uses other credentials: set the same LIVEKIT_API_KEY and \
         LIVEKIT_API_SECRET on every instance (or none on any, for the dev pair)"
    )]
    OtherCredentials { instance: String, url: String },
    #[error(
        "the instances on this Redis share the embedded LiveKit emulator of instance {instance} \
         at {url}, which this instance cannot reach ({reason}): run every instance on that \
         machine, or start one LiveKit they all reach (`livekit-emulator`, or a LiveKit server) \
         and set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET on every instance"
    )]
    Unreachable {
        instance: String,
        url: String,
        reason: String,
    },
    #[error("the lease {LEASE:?} in Redis is held by something else than an orchestrator: {0:?}")]
    Foreign(String),
    #[error("the store failed while looking for the shared embedded LiveKit: {0}")]
    Store(#[from] StoreError),
}

/// The LiveKit an instance talks to, and its adapters.
struct Target {
    url: String,
    media: LiveKitMedia,
    tokens: LiveKitTokens,
    broadcast: LiveKitBroadcast,
}

impl Target {
    fn at(config: &LiveKitConfig, broadcast: &BroadcastConfig, url: &str) -> Arc<Self> {
        let config = LiveKitConfig {
            url: url.to_owned(),
            ..config.clone()
        };
        Arc::new(Self {
            url: config.url.clone(),
            media: LiveKitMedia::new(&config),
            broadcast: LiveKitBroadcast::new(&config, broadcast.clone()),
            tokens: LiveKitTokens::new(config),
        })
    }
}

/// The media server and token issuer of an instance that shares the embedded LiveKit: they
/// talk to the current host's emulator (see the [module docs](self)).
#[derive(Clone)]
pub(crate) struct SharedLiveKit {
    inner: Arc<Inner>,
}

struct Inner {
    own: Host,
    /// This instance's LiveKit settings, its own emulator's address included.
    config: LiveKitConfig,
    broadcast: BroadcastConfig,
    leases: Arc<dyn LeaseStore>,
    current: RwLock<Arc<Target>>,
    /// The lease's token while this instance hosts.
    hosting: Mutex<Option<u64>>,
}

impl std::fmt::Debug for SharedLiveKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLiveKit")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl SharedLiveKit {
    /// Hosts the shared LiveKit with this instance's emulator (`config.url`) if no instance
    /// does, else follows the instance that does.
    ///
    /// # Errors
    /// [`SharedLiveKitError`] when the host's emulator cannot be followed (other credentials,
    /// unreachable) or the store fails.
    pub(crate) async fn join(
        leases: Arc<dyn LeaseStore>,
        config: LiveKitConfig,
        broadcast: BroadcastConfig,
        instance: &str,
    ) -> Result<Self, SharedLiveKitError> {
        let own = Host::of(instance, &config);
        let shared = Self {
            inner: Arc::new(Inner {
                current: RwLock::new(Target::at(&config, &broadcast, &own.url)),
                own,
                config,
                broadcast,
                leases,
                hosting: Mutex::new(None),
            }),
        };
        if let Some(host) = shared.claim_or_find().await? {
            shared.check_reachable(&host).await?;
            shared.follow(&host);
        }
        Ok(shared)
    }

    /// The address of the LiveKit this instance talks to now.
    pub(crate) fn url(&self) -> String {
        self.current().url.clone()
    }

    /// Keeps hosting, or keeps following the host, until `stop`; then gives the lease up if
    /// this instance holds it, so another takes over at once.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(err) = self.look_again().await {
                tracing::warn!(error = %err, "shared embedded LiveKit: keeping the current one");
            }
        }
        let token = *self.hosting();
        if let Some(token) = token {
            let own = self.inner.own.holder();
            if let Err(err) = self.inner.leases.release(LEASE, &own, token).await {
                tracing::warn!(error = %err, "shared embedded LiveKit: lease not released");
            }
        }
    }

    async fn look_again(&self) -> Result<(), SharedLiveKitError> {
        let token = *self.hosting();
        if let Some(token) = token {
            let own = self.inner.own.holder();
            if self.inner.leases.renew(LEASE, &own, token, TTL).await? {
                return Ok(());
            }
            *self.hosting() = None;
        }
        match self.claim_or_find().await? {
            Some(host) if host.url != self.url() => self.follow(&host),
            Some(_) => {}
            None if token.is_none() => {
                tracing::info!(url = %self.inner.own.url,
                    "shared embedded LiveKit: its host is gone, this instance's emulator takes over");
            }
            None => {}
        }
        Ok(())
    }

    /// Takes the lease if it is free (this instance then hosts: `None`), else the host.
    async fn claim_or_find(&self) -> Result<Option<Host>, SharedLiveKitError> {
        let own = &self.inner.own;
        // The holder may let go between the two calls: then try again.
        for _ in 0..3 {
            if let Some(grant) = self.inner.leases.acquire(LEASE, &own.holder(), TTL).await? {
                *self.hosting() = Some(grant.token);
                self.point_at(&own.url);
                return Ok(None);
            }
            if let Some(holder) = self.inner.leases.holder(LEASE).await? {
                let host = Host::parse(&holder)?;
                if !host.same_credentials(own) {
                    return Err(SharedLiveKitError::OtherCredentials {
                        instance: host.instance,
                        url: host.url,
                    });
                }
                return Ok(Some(host));
            }
        }
        Err(StoreError::Unavailable("the lease changed hands three times in a row".into()).into())
    }

    async fn check_reachable(&self, host: &Host) -> Result<(), SharedLiveKitError> {
        let target = Target::at(&self.inner.config, &self.inner.broadcast, &host.url);
        target
            .media
            .reachable()
            .await
            .map_err(|err| SharedLiveKitError::Unreachable {
                instance: host.instance.clone(),
                url: host.url.clone(),
                reason: err.to_string(),
            })
    }

    fn follow(&self, host: &Host) {
        tracing::info!(url = %host.url, host = %host.instance,
            "shared embedded LiveKit: using the emulator of the instance that hosts it");
        self.point_at(&host.url);
    }

    fn point_at(&self, url: &str) {
        if self.url() != url {
            let target = Target::at(&self.inner.config, &self.inner.broadcast, url);
            *self
                .inner
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner) = target;
        }
    }

    fn current(&self) -> Arc<Target> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn hosting(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.inner
            .hosting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl MediaServer for SharedLiveKit {
    async fn create_room(&self, room: &RoomName) -> Result<MediaRoom, MediaError> {
        self.current().media.create_room(room).await
    }

    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError> {
        self.current().media.delete_room(room).await
    }

    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
        self.current().media.list_rooms().await
    }

    async fn list_participants(
        &self,
        room: &RoomName,
    ) -> Result<Vec<MediaParticipant>, MediaError> {
        self.current().media.list_participants(room).await
    }

    async fn remove_participant(
        &self,
        room: &RoomName,
        identity: &Identity,
    ) -> Result<(), MediaError> {
        self.current()
            .media
            .remove_participant(room, identity)
            .await
    }

    async fn update_room_metadata(
        &self,
        room: &RoomName,
        metadata: &str,
    ) -> Result<(), MediaError> {
        self.current()
            .media
            .update_room_metadata(room, metadata)
            .await
    }

    async fn reachable(&self) -> Result<(), MediaError> {
        self.current().media.reachable().await
    }
}

#[async_trait]
impl BroadcastMedia for SharedLiveKit {
    async fn create_ingress(
        &self,
        room: &RoomName,
        kind: &IngestKind,
    ) -> Result<CreatedIngress, MediaError> {
        self.current().broadcast.create_ingress(room, kind).await
    }

    async fn delete_ingress(&self, ingress_id: &str) -> Result<(), MediaError> {
        self.current().broadcast.delete_ingress(ingress_id).await
    }

    async fn list_ingress(&self, room: &RoomName) -> Result<Vec<IngressReport>, MediaError> {
        self.current().broadcast.list_ingress(room).await
    }

    fn start_turn(&self) -> Duration {
        self.current().broadcast.start_turn()
    }

    async fn start_egress(
        &self,
        room: &RoomName,
        stream: StreamId,
        output: &Output,
    ) -> Result<StartedEgress, MediaError> {
        self.current()
            .broadcast
            .start_egress(room, stream, output)
            .await
    }

    async fn stop_egress(&self, egress_id: &str) -> Result<(), MediaError> {
        self.current().broadcast.stop_egress(egress_id).await
    }

    async fn list_egress(&self, room: &RoomName) -> Result<Vec<EgressReport>, MediaError> {
        self.current().broadcast.list_egress(room).await
    }
}

impl TokenIssuer for SharedLiveKit {
    fn issue(&self, grant: &JoinGrant) -> Result<String, TokenError> {
        self.current().tokens.issue(grant)
    }

    fn ws_url(&self) -> String {
        self.current().tokens.ws_url()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_names_its_credentials_without_its_secret() {
        let config = config(
            "http://127.0.0.1:7880",
            "devkey",
            "a-secret-of-32-characters-or-more",
        );

        let holder = Host::of("instance-1", &config).holder();

        assert!(holder.contains("http://127.0.0.1:7880") && holder.contains("devkey"));
        assert!(!holder.contains("a-secret"), "{holder}");
        assert_eq!(
            Host::parse(&holder).unwrap(),
            Host::of("instance-1", &config)
        );
    }

    #[test]
    fn hosts_with_the_same_key_and_secret_have_the_same_credentials() {
        let a = Host::of("a", &config("http://a", "devkey", "secret"));
        let b = Host::of("b", &config("http://b", "devkey", "secret"));
        let other_secret = Host::of("c", &config("http://c", "devkey", "other"));
        let other_key = Host::of("d", &config("http://d", "key2", "secret"));

        assert!(a.same_credentials(&b));
        assert!(!a.same_credentials(&other_secret));
        assert!(!a.same_credentials(&other_key));
    }

    #[test]
    fn a_holder_that_is_not_ours_is_refused() {
        assert!(matches!(
            Host::parse("reconciler-7"),
            Err(SharedLiveKitError::Foreign(_))
        ));
    }

    fn config(url: &str, key: &str, secret: &str) -> LiveKitConfig {
        LiveKitConfig {
            url: url.into(),
            api_key: key.into(),
            api_secret: secret.into(),
            token_ttl: Duration::from_secs(60),
            empty_timeout_secs: 0,
            departure_timeout_secs: 0,
            max_participants: 0,
            request_timeout: Duration::from_secs(1),
        }
    }
}
