//! Webhook building, signing and in-order delivery.
//!
//! Events are queued synchronously (so callers can enqueue under their state lock and keep
//! the order of changes) and delivered by one background task, one at a time, which is what
//! makes global ordering trivial. A watch channel counts completed events so tests can wait
//! for the queue to drain.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use livekit_api::access_token::AccessToken;
use livekit_protocol as proto;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use crate::state::{new_id, now_ms, Event};

/// How long a webhook signature stays valid, as in LiveKit.
const SIGNATURE_TTL: Duration = Duration::from_secs(5 * 60);
/// Per-attempt HTTP timeout; receivers in tests answer in milliseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Pauses between attempts; the number of entries plus one is the number of attempts.
const BACKOFF: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(200)];

/// The producer side: counts and queues events for the delivery task.
#[derive(Debug)]
pub(crate) struct WebhookQueue {
    /// `None` when nothing would deliver: no URLs, or no tokio runtime to run the task on.
    tx: Option<mpsc::UnboundedSender<proto::WebhookEvent>>,
    enabled: AtomicBool,
    queued: AtomicU64,
    completed: watch::Receiver<u64>,
}

impl WebhookQueue {
    /// Starts the delivery task on the current tokio runtime, if any.
    pub fn start(urls: Vec<String>, api_key: String, api_secret: String) -> Self {
        let (completed_tx, completed) = watch::channel(0);
        let tx = match (urls.is_empty(), tokio::runtime::Handle::try_current()) {
            (true, _) => None,
            (false, Err(_)) => {
                tracing::warn!("no tokio runtime: webhooks will not be delivered");
                None
            }
            (false, Ok(runtime)) => match Deliverer::new(urls, api_key, api_secret) {
                Ok(deliverer) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    runtime.spawn(deliver_all(rx, deliverer, completed_tx));
                    Some(tx)
                }
                Err(error) => {
                    tracing::warn!(%error, "no HTTP client: webhooks will not be delivered");
                    None
                }
            },
        };
        Self {
            tx,
            enabled: AtomicBool::new(true),
            queued: AtomicU64::new(0),
            completed,
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Turns a state event into a webhook and queues it; dropped when disabled.
    pub fn enqueue(&self, event: Event) {
        let Some(tx) = &self.tx else { return };
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        // Counted before sending so a concurrent flush can never miss it.
        self.queued.fetch_add(1, Ordering::SeqCst);
        if tx.send(to_webhook(event)).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits until everything queued so far has been delivered or given up on.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self.queued.load(Ordering::SeqCst);
        let mut completed = self.completed.clone();
        let reached = tokio::time::timeout(timeout, async {
            // An error means the task is gone (runtime shut down): nothing more will come.
            completed.wait_for(|done| *done >= target).await.is_ok()
        })
        .await;
        reached.unwrap_or(false)
    }
}

fn to_webhook(event: Event) -> proto::WebhookEvent {
    proto::WebhookEvent {
        id: new_id("EV_"),
        created_at: now_ms() / 1000,
        event: event.name.to_owned(),
        room: Some(event.room),
        participant: event.participant,
        track: event.track,
        ingress_info: event.ingress,
        egress_info: event.egress,
        room_end_reason: event.room_end_reason.map(|r| r as i32).unwrap_or_default(),
        ..Default::default()
    }
}

async fn deliver_all(
    mut rx: mpsc::UnboundedReceiver<proto::WebhookEvent>,
    deliverer: Deliverer,
    completed: watch::Sender<u64>,
) {
    while let Some(event) = rx.recv().await {
        deliverer.deliver(&event).await;
        completed.send_modify(|done| *done += 1);
    }
}

/// Signs and POSTs events to every configured URL.
struct Deliverer {
    urls: Vec<String>,
    api_key: String,
    api_secret: String,
    client: reqwest::Client,
}

impl fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deliverer")
            .field("urls", &self.urls)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    fn new(urls: Vec<String>, api_key: String, api_secret: String) -> Result<Self, reqwest::Error> {
        Ok(Self {
            urls,
            api_key,
            api_secret,
            client: http_client()?,
        })
    }

    async fn deliver(&self, event: &proto::WebhookEvent) {
        let body = match serde_json::to_string(event) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, event = %event.event, "cannot encode webhook; dropped");
                return;
            }
        };
        let auth = match sign(&self.api_key, &self.api_secret, &body) {
            Ok(auth) => auth,
            Err(error) => {
                tracing::warn!(%error, event = %event.event, "cannot sign webhook; dropped");
                return;
            }
        };
        for url in &self.urls {
            self.deliver_to(url, &body, &auth, event).await;
        }
    }

    async fn deliver_to(&self, url: &str, body: &str, auth: &str, event: &proto::WebhookEvent) {
        let mut attempt = 0;
        loop {
            let outcome = self
                .client
                .post(url)
                .header("Content-Type", "application/webhook+json")
                // LiveKit sends the bare JWT, without a "Bearer" prefix.
                .header("Authorization", auth)
                .body(body.to_owned())
                .send()
                .await;
            let failure = match outcome {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => format!("status {}", response.status()),
                Err(error) => error.to_string(),
            };
            let Some(pause) = BACKOFF.get(attempt) else {
                tracing::warn!(
                    url,
                    event = %event.event,
                    id = %event.id,
                    %failure,
                    "webhook delivery failed; giving up"
                );
                return;
            };
            tracing::debug!(url, event = %event.event, %failure, "webhook delivery failed; retrying");
            tokio::time::sleep(*pause).await;
            attempt += 1;
        }
    }
}

/// The webhook HTTP client. livekit-api builds reqwest with `rustls-no-provider`, so reqwest
/// needs a TLS configuration with an explicit crypto provider (ring, as livekit-api uses) even
/// though webhooks to loopback are plain HTTP.
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    let builder = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(tls) => builder
            .tls_backend_preconfigured(tls.with_root_certificates(roots).with_no_client_auth()),
        Err(error) => {
            tracing::warn!(%error, "no TLS for webhooks; only http:// targets will work");
            builder
        }
    };
    builder.build()
}

/// The `Authorization` value LiveKit puts on webhooks: a JWT whose `sha256` claim is the
/// base64 SHA-256 of the exact body.
fn sign(
    api_key: &str,
    api_secret: &str,
    body: &str,
) -> Result<String, livekit_api::access_token::AccessTokenError> {
    let digest = Sha256::digest(body.as_bytes());
    let sha = base64::engine::general_purpose::STANDARD.encode(digest);
    AccessToken::with_api_key(api_key, api_secret)
        .with_sha256(&sha)
        .with_ttl(SIGNATURE_TTL)
        .to_jwt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_api::access_token::TokenVerifier;
    use livekit_api::webhooks::WebhookReceiver;

    #[test]
    fn signed_bodies_pass_the_official_receiver() {
        let room = proto::Room {
            name: "r".into(),
            ..Default::default()
        };
        let event = to_webhook(Event::room("room_started", &room));
        let body = serde_json::to_string(&event).unwrap_or_default();
        let secret = "a-secret-of-at-least-thirty-two-chars";
        let auth = sign("key", secret, &body).unwrap_or_default();
        let receiver = WebhookReceiver::new(TokenVerifier::with_api_key("key", secret));
        let received = receiver.receive(&body, &auth);
        assert_eq!(received.ok().map(|e| e.event), Some("room_started".into()));
    }

    #[tokio::test]
    async fn flush_without_targets_returns_immediately() {
        let queue = WebhookQueue::start(Vec::new(), "k".into(), "s".into());
        assert!(queue.flush(Duration::from_millis(10)).await);
    }
}
