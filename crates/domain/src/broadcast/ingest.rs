//! A stream's ingest: the LiveKit ingress an encoder (OBS, a hardware encoder, ffmpeg) publishes
//! to, its address and stream key, and the state LiveKit reports of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::Secret;
use crate::values::ValidationError;

/// How an encoder reaches the ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IngestKind {
    /// RTMP or RTMPS push (OBS, most hardware encoders, ffmpeg `-f flv`).
    Rtmp,
    /// WHIP (WebRTC-HTTP ingestion) push.
    Whip,
    /// LiveKit pulls a media URL (HLS, an RTMP or SRT source, a file).
    Url {
        /// What LiveKit pulls.
        source: String,
    },
}

impl IngestKind {
    /// Longest accepted source URL.
    pub const MAX_SOURCE_LEN: usize = 2048;

    /// The kind's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            IngestKind::Rtmp => "rtmp",
            IngestKind::Whip => "whip",
            IngestKind::Url { .. } => "url",
        }
    }

    /// A URL pull of `source`.
    ///
    /// # Errors
    /// [`ValidationError`] (field `url`) unless an `http(s)://`, `rtmp(s)://` or `srt://` URL
    /// without spaces or control characters, at most [`Self::MAX_SOURCE_LEN`] long.
    pub fn url(source: impl Into<String>) -> Result<Self, ValidationError> {
        let source = source.into();
        let scheme_ok = ["http://", "https://", "rtmp://", "rtmps://", "srt://"]
            .iter()
            .any(|scheme| {
                source
                    .get(..scheme.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                    && source.len() > scheme.len()
            });
        let clean = !source.chars().any(|c| c.is_whitespace() || c.is_control());
        if scheme_ok && clean && source.len() <= Self::MAX_SOURCE_LEN {
            Ok(IngestKind::Url { source })
        } else {
            Err(ValidationError::new(
                "url",
                "must be an http(s)://, rtmp(s):// or srt:// URL of at most 2048 characters",
            ))
        }
    }
}

/// What LiveKit reports of an ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestState {
    /// Nothing is publishing.
    Inactive,
    /// An encoder connected; LiveKit is buffering its media.
    Buffering,
    /// Media reaches the room.
    Publishing,
    /// The encoder's media failed (see the ingest's `error`).
    Error,
}

/// A stream's ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingest {
    /// LiveKit's ingress id.
    pub ingress_id: String,
    /// How an encoder reaches it.
    #[serde(flatten)]
    pub kind: IngestKind,
    /// Where an encoder sends its media (for a URL pull: where LiveKit pulls from).
    pub url: String,
    /// The encoder's key (empty for a URL pull): a secret, shown only to keys that may change
    /// the stream.
    pub stream_key: Secret,
    /// What LiveKit reports.
    pub state: IngestState,
    /// Why the encoder's media failed, in `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bumped by every change: the store's fence.
    pub revision: u64,
    /// When it was created (or its key last rotated).
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub updated_at: DateTime<Utc>,
}

/// What LiveKit reports of an ingress (a webhook, or the reconciler's listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressReport {
    /// LiveKit's ingress id.
    pub ingress_id: String,
    /// Its state; `None` when LiveKit no longer lists it (deleted behind our back).
    pub state: Option<IngestState>,
    /// Why it failed, in `Error`.
    pub error: Option<String>,
}

impl Ingest {
    /// The ingest after LiveKit's report, if it changes (`None` otherwise, or for another
    /// ingress than ours). A report that the ingress is gone is the caller's to act on.
    pub fn reported(&self, report: &IngressReport, at: DateTime<Utc>) -> Option<Ingest> {
        if report.ingress_id != self.ingress_id {
            return None;
        }
        let state = report.state?;
        let error = (state == IngestState::Error).then(|| {
            report
                .error
                .clone()
                .unwrap_or_else(|| "the encoder's media failed".to_owned())
        });
        if state == self.state && error == self.error {
            return None;
        }
        Some(Ingest {
            state,
            error,
            updated_at: at,
            ..self.clone()
        })
    }

    /// Whether this change is the ingest starting to publish (the stream goes live).
    pub(crate) fn starts_publishing(&self, after: &Ingest) -> bool {
        self.state != IngestState::Publishing && after.state == IngestState::Publishing
    }
}
