//! Broadcast in and out: a stream's ingest (where an encoder publishes) and its outputs (HLS,
//! RTMP targets, recordings), with what each operation takes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How media comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestKind {
    /// RTMP or RTMPS push (OBS, ffmpeg).
    Rtmp,
    /// WebRTC push (WHIP).
    Whip,
    /// LiveKit pulls a URL (HLS, RTMP, SRT, a file).
    Url,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// `POST /streams/{id}/ingest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIngest {
    /// How media comes in.
    #[serde(rename = "type")]
    pub kind: IngestKind,
    /// With [`IngestKind::Url`]: what LiveKit pulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl NewIngest {
    /// An RTMP(S) push.
    pub fn rtmp() -> Self {
        Self {
            kind: IngestKind::Rtmp,
            url: None,
        }
    }

    /// A WHIP push.
    pub fn whip() -> Self {
        Self {
            kind: IngestKind::Whip,
            url: None,
        }
    }

    /// LiveKit pulls `url`.
    pub fn pull(url: impl Into<String>) -> Self {
        Self {
            kind: IngestKind::Url,
            url: Some(url.into()),
        }
    }
}

/// What LiveKit reports of an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestState {
    /// No media yet.
    Inactive,
    /// Media arriving, not yet published.
    Buffering,
    /// Published into the room.
    Publishing,
    /// Failed (see [`Ingest::error`]).
    Error,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// A stream's ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingest {
    /// LiveKit's ingress id.
    pub ingress_id: String,
    /// How media comes in.
    #[serde(rename = "type")]
    pub kind: IngestKind,
    /// Where an encoder sends its media (for a URL pull: what LiveKit pulls).
    pub url: String,
    /// The encoder's key: whole for a key that may change the stream, else `…abcd`.
    pub stream_key: String,
    /// Whether `stream_key` is redacted.
    pub stream_key_redacted: bool,
    /// What LiveKit reports.
    pub state: IngestState,
    /// Why the encoder's media failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was created (or its key last rotated).
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
}

/// What an output produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// HLS segments and playlists for players.
    Hls,
    /// A restream to RTMP(S) targets.
    Rtmp,
    /// An MP4 file.
    Recording,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// `POST /streams/{id}/outputs`, and each of [`CreateStream::outputs`](super::CreateStream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOutput {
    /// Its name (1 to 32 of `a-z 0-9 -`); the kind's name (`hls`, `rtmp-2`, …) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What it produces.
    #[serde(rename = "type")]
    pub kind: OutputKind,
    /// For [`OutputKind::Rtmp`]: 1 to 5 `rtmp(s)://` URLs, stream keys included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Starts when the stream goes live (at once if it is live).
    #[serde(default)]
    pub auto_start: bool,
}

impl NewOutput {
    /// An HLS output.
    pub fn hls() -> Self {
        Self::of(OutputKind::Hls)
    }

    /// A recording.
    pub fn recording() -> Self {
        Self::of(OutputKind::Recording)
    }

    /// A restream to `targets`.
    pub fn rtmp(targets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            targets: targets.into_iter().map(Into::into).collect(),
            ..Self::of(OutputKind::Rtmp)
        }
    }

    fn of(kind: OutputKind) -> Self {
        Self {
            id: None,
            kind,
            targets: Vec::new(),
            auto_start: false,
        }
    }

    /// Named `id`.
    #[must_use]
    pub fn named(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Started when the stream goes live.
    #[must_use]
    pub fn auto_start(mut self) -> Self {
        self.auto_start = true;
        self
    }
}

/// What the operator wants of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    /// Running.
    On,
    /// Not running.
    Off,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// What an output's egress does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observed {
    /// Never started.
    Idle,
    /// Its egress is starting.
    Starting,
    /// Producing.
    Active,
    /// Its egress is stopping.
    Ending,
    /// Done.
    Complete,
    /// Failed (see [`Output::failure`]).
    Failed,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// An output of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// Its name within the stream.
    pub id: String,
    /// What it produces.
    #[serde(rename = "type")]
    pub kind: OutputKind,
    /// An RTMP output's targets: whole for a key that may change the stream, else up to
    /// their host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Starts when the stream goes live.
    pub auto_start: bool,
    /// What the operator wants.
    pub desired: Desired,
    /// What its egress does.
    pub observed: Observed,
    /// LiveKit's egress id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_id: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Attempts of the current start.
    pub attempts: u32,
    /// Where players read it (HLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playback_url: Option<String>,
    /// Where its file or segments are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When it last changed.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
}
