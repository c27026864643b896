//! Webhook intake: LiveKit's webhooks verified, deduplicated and applied — the whole policy,
//! whatever transport receives them.
//!
//! LiveKit signs webhooks, retries them (duplicates), may drop them and orders them only per
//! room. So a delivery is [verified](WebhookIntake::verify) first (nothing about an unsigned
//! body is trusted or even looked at), then [processed](WebhookIntake::process): an event type
//! the domain does not act on is acknowledged without a trace; a redelivery of an event id seen
//! within the dedupe window changes nothing; anything else is applied to the stream of its room
//! by [`StreamService::apply_media_event`]. When applying fails (the store is down) the event id
//! is forgotten again, so LiveKit's retry is processed rather than taken for a duplicate.

use std::sync::Arc;
use std::time::Duration;

use crate::coordination::WebhookDedupe;
use crate::error::StreamError;
use crate::service::media::{MediaEvent, MediaEventOutcome};
use crate::service::StreamService;

/// A webhook whose signature checked out, reduced to what intake needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    /// LiveKit's event id; empty when the report carries none (it is then not deduplicated).
    pub id: String,
    /// LiveKit's event type (`room_started`, `participant_joined`, …), for logs and metrics.
    pub kind: String,
    /// What the domain acts on; `None` for event types it does not act on.
    pub media: Option<MediaEvent>,
}

/// Why a delivery was refused. Nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// Not signed by the configured LiveKit key (missing, invalid or expired token, or a body
    /// that does not match the signed digest).
    #[error("the webhook is not signed by the configured LiveKit key")]
    Unsigned,
    /// Signed correctly, but not a LiveKit webhook event.
    #[error("the webhook body is not a LiveKit event: {0}")]
    Malformed(String),
}

/// Checks LiveKit's signature on a webhook and decodes it (the LiveKit adapter implements it).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait WebhookVerifier: Send + Sync {
    /// Verifies `authorization` (the `Authorization` header's value, empty when absent)
    /// against the raw `body`, then decodes the body.
    ///
    /// # Errors
    /// [`WebhookRejection`]; nothing about the body is trusted unless this returns `Ok`.
    fn verify(&self, body: &[u8], authorization: &str)
        -> Result<VerifiedWebhook, WebhookRejection>;
}

/// What became of a verified webhook. Every outcome is a success for LiveKit (it must not
/// retry them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// An event type the domain does not act on.
    Ignored,
    /// A redelivery of an event already processed.
    Duplicate,
    /// It changed a stream; its event got this seq.
    Applied {
        /// Seq of the stream event it produced.
        seq: u64,
    },
    /// It matched a stream but changed nothing (already known, or stale).
    Unchanged,
    /// No live stream uses its room.
    UnknownRoom,
}

/// The webhook intake use case.
#[derive(Clone)]
pub struct WebhookIntake {
    service: StreamService,
    verifier: Arc<dyn WebhookVerifier>,
    dedupe: Arc<dyn WebhookDedupe>,
    remember_for: Duration,
}

impl std::fmt::Debug for WebhookIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookIntake")
            .field("remember_for", &self.remember_for)
            .finish_non_exhaustive()
    }
}

impl WebhookIntake {
    /// Intake applying to `service`, remembering event ids for `remember_for`.
    pub fn new(
        service: StreamService,
        verifier: Arc<dyn WebhookVerifier>,
        dedupe: Arc<dyn WebhookDedupe>,
        remember_for: Duration,
    ) -> Self {
        Self {
            service,
            verifier,
            dedupe,
            remember_for,
        }
    }

    /// Verifies a delivery's signature (`authorization`: the `Authorization` header's value,
    /// empty when absent) and decodes it.
    ///
    /// # Errors
    /// [`WebhookRejection`] for anything not signed by our LiveKit.
    pub fn verify(
        &self,
        body: &[u8],
        authorization: &str,
    ) -> Result<VerifiedWebhook, WebhookRejection> {
        self.verifier.verify(body, authorization)
    }

    /// Deduplicates and applies a verified webhook.
    ///
    /// # Errors
    /// `StoreUnavailable` or `Internal` when it could not be recorded or applied: LiveKit
    /// should retry, and the retry will be processed.
    pub async fn process(&self, webhook: VerifiedWebhook) -> Result<WebhookOutcome, StreamError> {
        let Some(event) = webhook.media else {
            return Ok(WebhookOutcome::Ignored);
        };
        let id = webhook.id.as_str();
        if !id.is_empty() && !self.dedupe.first_delivery(id, self.remember_for).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        match self.service.apply_media_event(event).await {
            Ok(outcome) => Ok(match outcome {
                MediaEventOutcome::Applied(event) => WebhookOutcome::Applied { seq: event.seq },
                MediaEventOutcome::NoChange => WebhookOutcome::Unchanged,
                MediaEventOutcome::UnknownRoom => WebhookOutcome::UnknownRoom,
            }),
            Err(err) => {
                // Best effort: if forgetting fails too, the id expires by itself.
                if !id.is_empty() {
                    let _ = self.dedupe.forget(id).await;
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;
