//! Participants: who joined a stream, the token a join hands out, and a leave's answer.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Metadata, Stream};

/// What a participant may do in the LiveKit room: a host publishes, a viewer only subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Publishes and subscribes.
    Host,
    /// Subscribes only.
    Viewer,
    /// A role this client does not know (a newer service).
    #[serde(other)]
    Unknown,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Role::Host => "host",
            Role::Viewer => "viewer",
            Role::Unknown => "unknown",
        })
    }
}

/// Someone who joined a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Stable id within the stream.
    pub id: String,
    /// The LiveKit identity (unique per stream).
    pub identity: String,
    /// Role.
    pub role: Role,
    /// LiveKit's id of the current media session, once LiveKit reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the current session joined.
    #[serde(with = "crate::time::millis")]
    pub joined_at: DateTime<Utc>,
    /// When the participant left; `None` while present.
    #[serde(default, with = "crate::time::millis_opt")]
    pub left_at: Option<DateTime<Utc>>,
    /// Participant metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// Tracks the current session publishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<String>,
    /// When LiveKit produced the newest report applied to the participant.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::millis_opt"
    )]
    pub media_at: Option<DateTime<Utc>>,
}

/// `POST /streams/{id}/join`: a LiveKit access token for the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinToken {
    /// The LiveKit access token (a JWT): hand it to the participant's LiveKit SDK.
    pub token: String,
    /// The stream joined.
    pub stream_id: String,
    /// The participant's identity.
    pub participant_name: String,
    /// The role granted.
    pub role: Role,
    /// Where the participant's LiveKit SDK connects.
    pub ws_url: String,
}

/// `POST /streams/{id}/leave`: the stream and the participant afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Left {
    /// `participant left`.
    pub message: String,
    /// The stream afterwards (its counters include the leave).
    pub stream: Stream,
    /// The participant, with `left_at` set.
    pub participant: Participant,
}
