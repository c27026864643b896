//! What callers and events see of an ingest or an output: the same shape for every transport,
//! with its secrets (the stream key, RTMP targets) whole only for callers that may change the
//! stream, and redacted everywhere else — events included, which every reader follows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ingest::{Ingest, IngestState};
use super::output::{Desired, Observed, Output, OutputKind};

/// How much of a secret a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Whole: the caller may change the stream (a write key).
    Whole,
    /// Redacted: readers, events, logs.
    Redacted,
}

/// An ingest as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestView {
    /// LiveKit's ingress id.
    pub ingress_id: String,
    /// `rtmp`, `whip` or `url`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where an encoder sends its media (a URL pull: what LiveKit pulls).
    pub url: String,
    /// The encoder's key: whole, or its last four characters after `…`.
    pub stream_key: String,
    /// Whether `streamKey` is redacted.
    pub stream_key_redacted: bool,
    /// `inactive`, `buffering`, `publishing` or `error`.
    pub state: IngestState,
    /// Why the encoder's media failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was created (or its key last rotated).
    #[serde(serialize_with = "crate::policy::time::millis")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::policy::time::millis")]
    pub updated_at: DateTime<Utc>,
}

impl IngestView {
    /// `ingest` as a caller with `exposure` sees it.
    pub fn of(ingest: &Ingest, exposure: Exposure) -> Self {
        let key = ingest.stream_key.expose();
        let (stream_key, redacted) = match exposure {
            Exposure::Whole => (key.to_owned(), false),
            Exposure::Redacted => (redact_key(key), true),
        };
        let url = match &ingest.kind {
            super::IngestKind::Url { source } => source.clone(),
            super::IngestKind::Rtmp | super::IngestKind::Whip => ingest.url.clone(),
        };
        Self {
            ingress_id: ingest.ingress_id.clone(),
            kind: ingest.kind.name(),
            url,
            stream_key,
            stream_key_redacted: redacted,
            state: ingest.state,
            error: ingest.error.clone(),
            created_at: ingest.created_at,
            updated_at: ingest.updated_at,
        }
    }
}

/// The last four characters of a key after `…` (nothing of a short one).
fn redact_key(key: &str) -> String {
    let count = key.chars().count();
    if count < 12 {
        return "…".to_owned();
    }
    let tail: String = key.chars().skip(count - 4).collect();
    format!("…{tail}")
}

/// An output as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputView {
    /// Its name within the stream.
    pub id: String,
    /// `hls`, `rtmp` or `recording`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// An `rtmp` output's targets, whole or redacted to their host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Whether it starts when the stream goes live.
    pub auto_start: bool,
    /// `on` or `off`: what the operator wants.
    pub desired: Desired,
    /// `idle`, `starting`, `active`, `ending`, `complete` or `failed`: what its egress does.
    pub observed: Observed,
    /// LiveKit's egress id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_id: Option<String>,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Attempts of the current start.
    pub attempts: u32,
    /// Where players read it (`hls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback_url: Option<String>,
    /// Where its file or segments are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When it last changed.
    #[serde(serialize_with = "crate::policy::time::millis")]
    pub updated_at: DateTime<Utc>,
}

impl OutputView {
    /// `output` as a caller with `exposure` sees it.
    pub fn of(output: &Output, exposure: Exposure) -> Self {
        let targets = match &output.kind {
            OutputKind::Rtmp { targets } => targets
                .iter()
                .map(|target| match exposure {
                    Exposure::Whole => target.url().expose().to_owned(),
                    Exposure::Redacted => target.redacted(),
                })
                .collect(),
            OutputKind::Hls | OutputKind::Recording => Vec::new(),
        };
        Self {
            id: output.id.to_string(),
            kind: output.kind.name(),
            targets,
            auto_start: output.auto_start,
            desired: output.desired,
            observed: output.observed,
            egress_id: output.egress_id.clone(),
            failure: output.failure.clone(),
            attempts: output.attempts,
            playback_url: output.playback_url.clone(),
            location: output.location.clone(),
            updated_at: output.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::broadcast::{IngestKind, OutputId, RtmpTarget, Secret};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_reader_sees_the_last_four_characters_of_the_stream_key() {
        let ingest = Ingest {
            ingress_id: "IN_1".into(),
            kind: IngestKind::Rtmp,
            url: "rtmp://media/live".into(),
            stream_key: Secret::new("sk_abcdefghijklmnop"),
            state: IngestState::Inactive,
            error: None,
            revision: 1,
            created_at: at(),
            updated_at: at(),
        };

        let whole = IngestView::of(&ingest, Exposure::Whole);
        let redacted = IngestView::of(&ingest, Exposure::Redacted);

        assert_eq!(whole.stream_key, "sk_abcdefghijklmnop");
        assert_eq!(redacted.stream_key, "…mnop");
        assert!(redacted.stream_key_redacted);
        let json = serde_json::to_string(&redacted).unwrap();
        assert!(!json.contains("abcdefghijkl"), "{json}");
    }

    #[test]
    fn a_reader_sees_rtmp_targets_up_to_their_host() {
        let target = RtmpTarget::new("rtmps://live.example.com/app/secret-key").unwrap();
        let output = Output::new(
            OutputId::new("restream").unwrap(),
            OutputKind::rtmp(vec![target]).unwrap(),
            true,
            at(),
        );

        let whole = OutputView::of(&output, Exposure::Whole);
        let redacted = OutputView::of(&output, Exposure::Redacted);

        assert_eq!(whole.targets, ["rtmps://live.example.com/app/secret-key"]);
        assert_eq!(redacted.targets, ["rtmps://live.example.com/…"]);
        let json = serde_json::to_value(&redacted).unwrap();
        assert_eq!(json["type"], "rtmp");
        assert_eq!(json["observed"], "idle");
        assert_eq!(json["desired"], "on");
    }
}
