//! LiveKit webhook verification, exactly as LiveKit signs: the `Authorization` header is a JWT
//! signed (HS256) with the API secret whose `sha256` claim is the base64 SHA-256 of the raw
//! body. The digest comparison is constant-time.

use std::fmt;

use base64::Engine;
use chrono::DateTime;
use livekit_api::access_token::TokenVerifier;
use livekit_protocol as proto;
use orchestrator_domain::{
    service::media::MediaEvent, service::media::MediaEventKind, webhooks::WebhookRejection,
};
use sha2::{Digest, Sha256};

/// Why a webhook was refused. Every variant means "not from our LiveKit": answer 401 (or 400
/// for a signed but unreadable body) and change nothing.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    MissingSignature,
    /// The JWT is not signed by our key/secret, or expired.
    #[error("invalid webhook token: {0}")]
    InvalidToken(String),
    /// The body does not match the signed digest.
    #[error("body does not match the signed sha256")]
    DigestMismatch,
    /// Signed correctly, but not a LiveKit webhook event.
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

/// A webhook whose signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedWebhook {
    /// The decoded LiveKit event.
    pub event: proto::WebhookEvent,
}

impl VerifiedWebhook {
    /// The domain's view of the event; `None` for event types the domain does not act on
    /// (or a report missing what its type needs).
    pub fn media_event(&self) -> Option<MediaEvent> {
        let event = &self.event;
        let egress = event.egress_info.as_ref();
        let ingress = event.ingress_info.as_ref();
        let room = event.room.as_ref();
        // Egress and ingress reports name their room in their own info.
        let room_name = room
            .map(|r| r.name.clone())
            .filter(|name| !name.is_empty())
            .or_else(|| egress.map(|e| e.room_name.clone()))
            .or_else(|| ingress.map(|i| i.room_name.clone()))
            .unwrap_or_default();
        let room_sid = room
            .map(|r| r.sid.clone())
            .filter(|sid| !sid.is_empty())
            .or_else(|| egress.map(|e| e.room_id.clone()))
            .unwrap_or_default();
        let participant = event.participant.as_ref();
        let kind = match event.event.as_str() {
            "room_started" => MediaEventKind::RoomStarted,
            "room_finished" => MediaEventKind::RoomFinished,
            "participant_joined" => {
                let p = participant?;
                MediaEventKind::ParticipantJoined {
                    identity: p.identity.clone(),
                    sid: p.sid.clone(),
                    can_publish: p.permission.as_ref().is_none_or(|perm| perm.can_publish),
                }
            }
            "participant_left" | "participant_connection_aborted" => {
                let p = participant?;
                MediaEventKind::ParticipantLeft {
                    identity: p.identity.clone(),
                    sid: p.sid.clone(),
                }
            }
            "track_published" | "track_unpublished" => {
                let p = participant?;
                MediaEventKind::Track {
                    identity: p.identity.clone(),
                    sid: p.sid.clone(),
                    track_sid: event.track.as_ref()?.sid.clone(),
                    published: event.event == "track_published",
                }
            }
            "egress_started" | "egress_updated" | "egress_ended" => {
                let info = egress?;
                MediaEventKind::Egress {
                    status: proto::EgressStatus::try_from(info.status)
                        .map_or("EGRESS_UNKNOWN", |status| status.as_str_name())
                        .to_owned(),
                    report: crate::broadcast::egress_report(info),
                }
            }
            "ingress_started" | "ingress_ended" => {
                let info = ingress?;
                let status = info.state.as_ref().map_or("UNKNOWN", |state| {
                    proto::ingress_state::Status::try_from(state.status)
                        .map_or("UNKNOWN", |status| status.as_str_name())
                });
                MediaEventKind::Ingress {
                    status: status.to_owned(),
                    report: crate::broadcast::ingress_report(info),
                }
            }
            _ => return None,
        };
        Some(MediaEvent {
            room: room_name,
            room_sid,
            reported_at: (event.created_at > 0)
                .then(|| DateTime::from_timestamp(event.created_at, 0))
                .flatten(),
            kind,
        })
    }
}

/// Checks webhook signatures with the API key and secret: the LiveKit side of the domain's
/// [`orchestrator_domain::webhooks::WebhookVerifier`] port.
#[derive(Clone)]
pub struct SignedWebhooks {
    verifier: TokenVerifier,
}

impl fmt::Debug for SignedWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedWebhooks").finish_non_exhaustive()
    }
}

impl orchestrator_domain::webhooks::WebhookVerifier for SignedWebhooks {
    fn verify(
        &self,
        body: &[u8],
        authorization: &str,
    ) -> Result<orchestrator_domain::webhooks::VerifiedWebhook, WebhookRejection> {
        let verified =
            SignedWebhooks::verify(self, body, Some(authorization)).map_err(|err| match err {
                WebhookError::MissingSignature
                | WebhookError::InvalidToken(_)
                | WebhookError::DigestMismatch => WebhookRejection::Unsigned,
                WebhookError::Malformed(why) => WebhookRejection::Malformed(why),
            })?;
        Ok(orchestrator_domain::webhooks::VerifiedWebhook {
            media: verified.media_event(),
            id: verified.event.id,
            kind: verified.event.event,
        })
    }
}

impl SignedWebhooks {
    /// A verifier for webhooks signed with this key and secret.
    pub fn new(api_key: &str, api_secret: &str) -> Self {
        Self {
            verifier: TokenVerifier::with_api_key(api_key, api_secret),
        }
    }

    /// Verifies `authorization` (the header value, with or without `Bearer `) against the raw
    /// `body`, then decodes the body.
    ///
    /// # Errors
    /// [`WebhookError`]; nothing about the body is trusted unless this returns `Ok`.
    pub fn verify(
        &self,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<VerifiedWebhook, WebhookError> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(WebhookError::MissingSignature)?;
        let token = header.strip_prefix("Bearer ").unwrap_or(header);
        let claims = self
            .verifier
            .verify(token)
            .map_err(|err| WebhookError::InvalidToken(err.to_string()))?;
        let signed = base64::engine::general_purpose::STANDARD
            .decode(claims.sha256.as_bytes())
            .map_err(|_| WebhookError::DigestMismatch)?;
        let actual = Sha256::digest(body);
        if !constant_time_eq(&signed, &actual) {
            return Err(WebhookError::DigestMismatch);
        }
        let event =
            serde_json::from_slice(body).map_err(|err| WebhookError::Malformed(err.to_string()))?;
        Ok(VerifiedWebhook { event })
    }
}

/// Compares without an early exit, so response timing does not reveal how much of a forged
/// digest was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use livekit_api::access_token::AccessToken;

    use super::*;
    use orchestrator_domain::broadcast::{EgressReport, EgressStatus, IngestState, IngressReport};

    const KEY: &str = "key";
    const SECRET: &str = "a-secret-of-at-least-32-characters!!";

    fn sign(body: &str, secret: &str) -> String {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
        AccessToken::with_api_key(KEY, secret)
            .with_sha256(&digest)
            .to_jwt()
            .unwrap()
    }

    const BODY: &str = r#"{"event":"participant_left","room":{"sid":"RM_1","name":"studio"},"participant":{"sid":"PA_1","identity":"ada"},"id":"EV_1","createdAt":"1700000000"}"#;

    #[test]
    fn a_correctly_signed_webhook_is_accepted_and_translated() {
        let verified = SignedWebhooks::new(KEY, SECRET)
            .verify(BODY.as_bytes(), Some(&sign(BODY, SECRET)))
            .unwrap();
        assert_eq!(verified.event.created_at, 1_700_000_000);
        assert_eq!(
            verified.media_event(),
            Some(MediaEvent {
                room: "studio".into(),
                room_sid: "RM_1".into(),
                reported_at: DateTime::from_timestamp(1_700_000_000, 0),
                kind: MediaEventKind::ParticipantLeft {
                    identity: "ada".into(),
                    sid: "PA_1".into(),
                },
            })
        );
    }

    #[test]
    fn a_bearer_prefix_is_tolerated() {
        let header = format!("Bearer {}", sign(BODY, SECRET));
        assert!(SignedWebhooks::new(KEY, SECRET)
            .verify(BODY.as_bytes(), Some(&header))
            .is_ok());
    }

    #[test]
    fn unsigned_wrongly_signed_and_tampered_webhooks_are_refused() {
        let verifier = SignedWebhooks::new(KEY, SECRET);
        assert!(matches!(
            verifier.verify(BODY.as_bytes(), None),
            Err(WebhookError::MissingSignature)
        ));
        assert!(matches!(
            verifier.verify(BODY.as_bytes(), Some("garbage")),
            Err(WebhookError::InvalidToken(_))
        ));
        let forged = sign(BODY, "another-secret-of-at-least-32-chars!");
        assert!(matches!(
            verifier.verify(BODY.as_bytes(), Some(&forged)),
            Err(WebhookError::InvalidToken(_))
        ));
        let tampered = BODY.replace("ada", "eve");
        assert!(matches!(
            verifier.verify(tampered.as_bytes(), Some(&sign(BODY, SECRET))),
            Err(WebhookError::DigestMismatch)
        ));
    }

    #[test]
    fn a_signed_body_that_is_not_a_webhook_event_is_malformed() {
        let body = "not json";
        assert!(matches!(
            SignedWebhooks::new(KEY, SECRET).verify(body.as_bytes(), Some(&sign(body, SECRET))),
            Err(WebhookError::Malformed(_))
        ));
    }

    fn translated(body: &str) -> Option<MediaEvent> {
        SignedWebhooks::new(KEY, SECRET)
            .verify(body.as_bytes(), Some(&sign(body, SECRET)))
            .unwrap()
            .media_event()
    }

    #[test]
    fn aborted_connections_are_departures_and_tracks_egress_ingress_are_translated() {
        let aborted = translated(
            r#"{"event":"participant_connection_aborted","room":{"name":"r"},"participant":{"sid":"PA_1","identity":"ada"}}"#,
        );
        let track = translated(
            r#"{"event":"track_unpublished","room":{"name":"r"},"participant":{"sid":"PA_1","identity":"ada"},"track":{"sid":"TR_1"}}"#,
        );
        let egress = translated(
            r#"{"event":"egress_ended","egressInfo":{"egressId":"EG_1","roomName":"r","status":"EGRESS_COMPLETE"}}"#,
        );
        let ingress = translated(
            r#"{"event":"ingress_started","ingressInfo":{"ingressId":"IN_1","roomName":"r","state":{"status":"ENDPOINT_PUBLISHING"}}}"#,
        );

        assert!(matches!(
            aborted.unwrap().kind,
            MediaEventKind::ParticipantLeft { .. }
        ));
        assert_eq!(
            track.unwrap().kind,
            MediaEventKind::Track {
                identity: "ada".into(),
                sid: "PA_1".into(),
                track_sid: "TR_1".into(),
                published: false
            }
        );
        let egress = egress.unwrap();
        assert_eq!(egress.room, "r");
        assert_eq!(
            egress.kind,
            MediaEventKind::Egress {
                status: "EGRESS_COMPLETE".into(),
                report: EgressReport {
                    egress_id: "EG_1".into(),
                    status: EgressStatus::Complete,
                    error: None,
                    playback_url: None,
                    location: None,
                },
            }
        );
        assert_eq!(
            ingress.unwrap().kind,
            MediaEventKind::Ingress {
                status: "ENDPOINT_PUBLISHING".into(),
                report: IngressReport {
                    ingress_id: "IN_1".into(),
                    state: Some(IngestState::Publishing),
                    error: None,
                },
            }
        );
    }

    #[test]
    fn event_types_the_domain_does_not_use_translate_to_nothing() {
        let body = r#"{"event":"agent_job_started","room":{"name":"studio"},"id":"EV_2"}"#;
        let verified = SignedWebhooks::new(KEY, SECRET)
            .verify(body.as_bytes(), Some(&sign(body, SECRET)))
            .unwrap();
        assert_eq!(verified.media_event(), None);
    }
}
