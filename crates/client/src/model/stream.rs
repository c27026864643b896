//! A stream as every stream route answers it, and its state for dashboards.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Metadata, Participant, Role};

/// Where a stream is in its life: `creating → active | error`, `active → stopping | stopped |
/// error`, `stopping → stopped | error`, `error → stopping | stopped`; `stopped` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    /// Its LiveKit room is being set up.
    Creating,
    /// Live: participants may join.
    Active,
    /// Being torn down.
    Stopping,
    /// Over (final).
    Stopped,
    /// Something went wrong; it can still be stopped.
    Error,
    /// A status this client does not know (a newer service).
    #[serde(other)]
    Unknown,
}

impl StreamStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "creating",
            StreamStatus::Active => "active",
            StreamStatus::Stopping => "stopping",
            StreamStatus::Stopped => "stopped",
            StreamStatus::Error => "error",
            StreamStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who is in a stream now, by role, and how many ever joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    /// Present now.
    pub active: u64,
    /// Present hosts.
    pub hosts: u64,
    /// Present viewers.
    pub viewers: u64,
    /// Present with a media session LiveKit reported.
    #[serde(default)]
    pub connected: u64,
    /// Distinct identities that ever joined.
    pub total_joined: u64,
}

/// A livestream (`POST /streams`, `GET /streams/{id}`, list pages, `PATCH`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// Its id (a UUID).
    pub id: String,
    /// Its LiveKit room.
    pub room_name: String,
    /// LiveKit's id of the room, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_sid: Option<String>,
    /// Where it is in its life.
    pub status: StreamStatus,
    /// Operator metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// Bumped by every change of the stream itself (its `ETag`; `If-Match`, `version`).
    pub version: u64,
    /// The seq of its latest event.
    pub seq: u64,
    /// When it was created.
    #[serde(with = "crate::time::millis")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// When it became active.
    #[serde(default, with = "crate::time::millis_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped.
    #[serde(default, with = "crate::time::millis_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Its audience counters.
    #[serde(default)]
    pub audience: Audience,
    /// Egresses LiveKit reported for the room: id → status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub egress: BTreeMap<String, String>,
    /// Ingresses LiveKit reported for the room: id → status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ingress: BTreeMap<String, String>,
    /// Everyone who ever joined, while at most 100 did (see `participants_truncated`).
    #[serde(default)]
    pub participants: Vec<Participant>,
    /// True when more joined than `participants` shows: page through
    /// [`Client::participants`](crate::Client::participants).
    #[serde(default)]
    pub participants_truncated: bool,
}

/// A participant in [`StreamState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateParticipant {
    /// Participant id.
    pub id: String,
    /// Identity.
    pub identity: String,
    /// Role.
    pub role: Role,
    /// When the current session joined.
    #[serde(with = "crate::time::millis")]
    pub joined_at: DateTime<Utc>,
    /// When the participant left.
    #[serde(default, with = "crate::time::millis_opt")]
    pub left_at: Option<DateTime<Utc>>,
}

/// `GET /streams/{id}/state`: what a dashboard needs, and the seq to follow from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamState {
    /// The stream.
    pub stream_id: String,
    /// Its status.
    pub status: StreamStatus,
    /// Everyone who joined, while at most 100 did.
    #[serde(default)]
    pub participants: Vec<StateParticipant>,
    /// True when more joined than `participants` shows.
    #[serde(default)]
    pub participants_truncated: bool,
    /// Present now.
    pub active_participants: u64,
    /// The audience counters.
    #[serde(default)]
    pub audience: Audience,
    /// When it became active.
    #[serde(default, with = "crate::time::millis_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(with = "crate::time::millis")]
    pub updated_at: DateTime<Utc>,
    /// When it stopped.
    #[serde(default, with = "crate::time::millis_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Operator metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// The seq of the latest event: subscribe after it to miss nothing.
    pub seq: u64,
    /// The stream's version.
    pub version: u64,
}

/// `DELETE /streams/{id}`: the stream, stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    /// `stream stopped`.
    pub message: String,
    /// The stream afterwards.
    pub stream: Stream,
}
