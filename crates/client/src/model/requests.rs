//! What the stream and participant operations take: bodies (camelCase JSON) and the queries
//! of the listings.

use serde::{Deserialize, Serialize};

use super::{Metadata, NewOutput, Role, StreamStatus};

/// `POST /streams`. Every field is optional: `CreateStream::default()` is a stream in room
/// `room-<id>` with no metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStream {
    /// The LiveKit room (letters, digits, `_`, `-`, `.`); `room-<id>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_name: Option<String>,
    /// Initial metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Outputs declared with the stream (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<NewOutput>,
}

impl CreateStream {
    /// A stream in the room `room_name`.
    pub fn named(room_name: impl Into<String>) -> Self {
        Self {
            room_name: Some(room_name.into()),
            ..Self::default()
        }
    }

    /// With this initial metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// With this output too.
    #[must_use]
    pub fn with_output(mut self, output: NewOutput) -> Self {
        self.outputs.push(output);
        self
    }
}

/// `PATCH /streams/{id}`: a status to move to and/or a JSON merge patch of the metadata
/// (`null` removes a key), optionally only if the stream is still at `version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStream {
    /// The status to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StreamStatus>,
    /// Merged into the metadata (JSON Merge Patch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Refused with `409 version_conflict` unless the stream is at this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl UpdateStream {
    /// Merges `patch` into the metadata.
    pub fn metadata(patch: Metadata) -> Self {
        Self {
            metadata: Some(patch),
            ..Self::default()
        }
    }

    /// Moves the stream to `status`.
    pub fn status(status: StreamStatus) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Only if the stream is still at `version`.
    #[must_use]
    pub fn at_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }
}

/// `POST /streams/{id}/join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    /// The participant's identity.
    pub participant_name: String,
    /// `viewer` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Participant metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl Join {
    /// A viewer (may only subscribe).
    pub fn viewer(identity: impl Into<String>) -> Self {
        Self {
            participant_name: identity.into(),
            role: Some(Role::Viewer),
            metadata: None,
        }
    }

    /// A host (may publish).
    pub fn host(identity: impl Into<String>) -> Self {
        Self {
            role: Some(Role::Host),
            ..Self::viewer(identity)
        }
    }

    /// With this participant metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// `GET /streams`: a page of streams, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListStreams {
    /// Only streams in this status.
    pub status: Option<StreamStatus>,
    /// Page size (1..=1000; 100 when absent).
    pub limit: Option<u32>,
    /// The next page of an earlier one ([`Page::next`](super::Page::next)).
    pub cursor: Option<String>,
}

impl ListStreams {
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(status) = self.status {
            query.push(("status", status.as_str().to_owned()));
        }
        push_page(&mut query, self.limit, self.cursor.as_deref());
        query
    }
}

/// `GET /streams/{id}/participants`: a page of participants in order of first join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParticipants {
    /// Only those present now.
    pub active_only: bool,
    /// Page size (1..=1000; 100 when absent).
    pub limit: Option<u32>,
    /// The next page of an earlier one.
    pub cursor: Option<String>,
}

impl ListParticipants {
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if self.active_only {
            query.push(("active", "true".to_owned()));
        }
        push_page(&mut query, self.limit, self.cursor.as_deref());
        query
    }
}

/// `GET /events/{id}`: a page of a stream's event log, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEvents {
    /// Events after this seq (0 when absent: from the oldest kept).
    pub after_seq: Option<u64>,
    /// Page size (1..=1000; 100 when absent).
    pub limit: Option<u32>,
}

impl ListEvents {
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(after) = self.after_seq {
            query.push(("afterSeq", after.to_string()));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        query
    }
}

fn push_page(query: &mut Vec<(&'static str, String)>, limit: Option<u32>, cursor: Option<&str>) {
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_fields_are_left_out_of_the_body() {
        assert_eq!(
            serde_json::to_value(CreateStream::default()).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(UpdateStream::status(StreamStatus::Stopped).at_version(3))
                .unwrap(),
            json!({"status": "stopped", "version": 3})
        );
        assert_eq!(
            serde_json::to_value(Join::host("ada")).unwrap(),
            json!({"participantName": "ada", "role": "host"})
        );
    }

    #[test]
    fn listings_ask_only_for_what_is_set() {
        let page = ListStreams {
            status: Some(StreamStatus::Active),
            limit: Some(50),
            cursor: Some("c 1".into()),
        };

        assert_eq!(
            page.query(),
            [
                ("status", "active".to_owned()),
                ("limit", "50".to_owned()),
                ("cursor", "c 1".to_owned())
            ]
        );
        assert!(ListParticipants::default().query().is_empty());
        assert_eq!(
            ListEvents {
                after_seq: Some(0),
                limit: None
            }
            .query(),
            [("afterSeq", "0".to_owned())]
        );
    }
}
