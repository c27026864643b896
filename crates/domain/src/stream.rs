//! The [`Stream`] aggregate and its status machine.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audience::Audience;
use crate::values::{Metadata, RoomName, StreamId, ValidationError};

/// Where a stream is in its life. Serialized lowercase, as the seed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    /// The LiveKit room is being set up.
    Creating,
    /// Live: participants may join.
    Active,
    /// Being torn down: the LiveKit room is being deleted.
    Stopping,
    /// Over. Final.
    Stopped,
    /// Something went wrong; the stream can still be stopped.
    Error,
}

impl StreamStatus {
    /// Every status, in life order.
    pub const ALL: [StreamStatus; 5] = [
        StreamStatus::Creating,
        StreamStatus::Active,
        StreamStatus::Stopping,
        StreamStatus::Stopped,
        StreamStatus::Error,
    ];

    /// Whether the status machine allows moving from `self` to `next`.
    pub(crate) fn can_become(self, next: StreamStatus) -> bool {
        use StreamStatus::{Active, Creating, Error, Stopped, Stopping};
        matches!(
            (self, next),
            (Creating, Active | Error)
                | (Active, Stopping | Stopped | Error)
                | (Stopping, Stopped | Error)
                | (Error, Stopping | Stopped)
        )
    }

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "creating",
            StreamStatus::Active => "active",
            StreamStatus::Stopping => "stopping",
            StreamStatus::Stopped => "stopped",
            StreamStatus::Error => "error",
        }
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StreamStatus {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!(
                        "must be one of creating, active, stopping, stopped, error (got {:?})",
                        crate::values::excerpt(raw)
                    ),
                )
            })
    }
}

/// A livestream: one LiveKit room, its status, its metadata and its audience counters.
///
/// `version` is bumped by every change of the stream itself (status, metadata, room outputs;
/// not by participants coming and going) and is what optimistic concurrency (`version` in a
/// PATCH body, `If-Match`) compares against; `seq` is the seq of the stream's latest event,
/// participant events included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// The stream's id.
    pub id: StreamId,
    /// The LiveKit room backing the stream.
    pub room_name: RoomName,
    /// LiveKit's id of the room, once known; tells a webhook about this room from one about an
    /// earlier room of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_sid: Option<String>,
    /// Where the stream is in its life.
    pub status: StreamStatus,
    /// Free-form operator metadata.
    pub metadata: Metadata,
    /// Bumped by every change.
    pub version: u64,
    /// Seq of the latest event of this stream (0 before the first).
    pub seq: u64,
    /// When the stream was created.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub created_at: DateTime<Utc>,
    /// When the stream last changed.
    #[serde(
        serialize_with = "crate::policy::time::millis",
        deserialize_with = "crate::policy::time::read"
    )]
    pub updated_at: DateTime<Utc>,
    /// When the stream became active.
    #[serde(
        default,
        serialize_with = "crate::policy::time::millis_opt",
        deserialize_with = "crate::policy::time::read_opt"
    )]
    pub started_at: Option<DateTime<Utc>>,
    /// When the stream stopped.
    #[serde(
        default,
        serialize_with = "crate::policy::time::millis_opt",
        deserialize_with = "crate::policy::time::read_opt"
    )]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Who is in the stream now, by role, and how many ever joined. The participants
    /// themselves are records of their own (a stream's audience can be 100,000 people).
    #[serde(default)]
    pub audience: Audience,
    /// Egress (recordings, restreams) LiveKit reported for the room: egress id → status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub egress: BTreeMap<String, String>,
    /// Ingress (RTMP/WHIP inputs) LiveKit reported for the room: ingress id → status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ingress: BTreeMap<String, String>,
}

impl Stream {
    /// A new, active stream (its LiveKit room already exists) at version 1, before its first
    /// event is recorded.
    pub fn new_active(
        id: StreamId,
        room_name: RoomName,
        room_sid: Option<String>,
        metadata: Metadata,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            room_name,
            room_sid,
            status: StreamStatus::Active,
            metadata,
            version: 1,
            seq: 0,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            stopped_at: None,
            audience: Audience::default(),
            egress: BTreeMap::new(),
            ingress: BTreeMap::new(),
        }
    }

    /// Whether the stream has reached its final status.
    pub fn is_stopped(&self) -> bool {
        self.status == StreamStatus::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine_allows_exactly_the_documented_moves() {
        use StreamStatus::{Active, Creating, Error, Stopped, Stopping};
        let allowed = [
            (Creating, Active),
            (Creating, Error),
            (Active, Stopping),
            (Active, Stopped),
            (Active, Error),
            (Stopping, Stopped),
            (Stopping, Error),
            (Error, Stopping),
            (Error, Stopped),
        ];
        for from in StreamStatus::ALL {
            for to in StreamStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn statuses_parse_from_their_lowercase_names_only() {
        for status in StreamStatus::ALL {
            assert_eq!(status.as_str().parse::<StreamStatus>(), Ok(status));
        }
        assert!("ACTIVE".parse::<StreamStatus>().is_err());
        assert!("live".parse::<StreamStatus>().is_err());
    }
}
