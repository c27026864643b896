//! Participants of a stream and their roles.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::stream::Stream;
use crate::values::{Identity, Metadata, ValidationError};

/// What a participant may do in the LiveKit room. Tokens follow least privilege: only hosts
/// may publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Publishes audio, video and data; subscribes.
    Host,
    /// Subscribes only.
    #[default]
    Viewer,
}

impl Role {
    /// Whether the role may publish media and data.
    pub fn can_publish(self) -> bool {
        match self {
            Role::Host => true,
            Role::Viewer => false,
        }
    }

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "host" => Ok(Role::Host),
            "viewer" => Ok(Role::Viewer),
            other => Err(ValidationError::new(
                "role",
                format!(
                    "must be host or viewer (got {:?})",
                    crate::values::excerpt(other)
                ),
            )),
        }
    }
}

/// Someone who joined a stream. Membership is keyed by identity: joining twice is one
/// participant, leaving twice is one leave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Stable id of this participant within the stream.
    pub id: Uuid,
    /// Unique per stream; the LiveKit identity.
    pub identity: Identity,
    /// What the participant may do.
    pub role: Role,
    /// LiveKit's id of the current media session, once LiveKit reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the current session joined.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub joined_at: DateTime<Utc>,
    /// When the participant left; `None` while present.
    #[serde(
        default,
        serialize_with = "crate::policy::time::millis_opt",
        deserialize_with = "crate::policy::time::read_opt"
    )]
    pub left_at: Option<DateTime<Utc>>,
    /// Free-form participant metadata.
    pub metadata: Metadata,
    /// Tracks the current media session publishes (LiveKit track ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<String>,
    /// When LiveKit produced the newest report applied to this participant; an older report
    /// arriving late is stale and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(
        serialize_with = "crate::policy::time::millis_opt",
        deserialize_with = "crate::policy::time::read_opt"
    )]
    pub media_at: Option<DateTime<Utc>>,
}

impl Participant {
    /// Someone joining for the first time, present from `at`, with no media session yet.
    pub fn new(id: Uuid, identity: Identity, role: Role, at: DateTime<Utc>) -> Self {
        Self {
            id,
            identity,
            role,
            sid: None,
            joined_at: at,
            left_at: None,
            metadata: Metadata::default(),
            tracks: Vec::new(),
            media_at: None,
        }
    }

    /// The participant with `metadata`.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Whether the participant's record says they are in the stream (see [`Participant::as_of`]
    /// for a stream that stopped).
    pub fn is_active(&self) -> bool {
        self.left_at.is_none()
    }

    /// The participant as clients see it in `stream`: records are not rewritten when a stream
    /// stops (that would touch the whole audience), so on a stopped stream someone still
    /// marked present left when it stopped, with no tracks.
    #[must_use]
    pub fn as_of(mut self, stream: &Stream) -> Self {
        if let (true, Some(stopped_at)) = (self.is_active(), stream.stopped_at) {
            self.left_at = Some(stopped_at);
            self.tracks.clear();
        }
        self
    }
}
