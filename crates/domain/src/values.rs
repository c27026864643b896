//! Validated value types. Each constructor checks its input once, so the rest of the domain
//! can trust any value it holds.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A field of a request did not pass validation. Transports answer it with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct ValidationError {
    /// The request field at fault, as clients spell it (camelCase).
    pub field: &'static str,
    /// Why the value was refused.
    pub reason: String,
}

impl ValidationError {
    /// A refusal of `field` for `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A stream's id: a UUID v4, shown in its hyphenated lowercase form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(Uuid);

impl StreamId {
    /// Wraps an existing UUID.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses a client-supplied id.
    ///
    /// # Errors
    /// [`ValidationError`] on anything that is not a UUID.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| ValidationError::new("id", "must be a UUID"))
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A LiveKit room name: 1 to 128 characters of `A-Z a-z 0-9 _ - .`.
///
/// LiveKit itself accepts more, but room names travel in URLs, logs and Redis keys; a
/// conservative charset keeps all of those unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    /// Longest accepted room name.
    pub const MAX_LEN: usize = 128;

    /// Validates a room name.
    ///
    /// # Errors
    /// [`ValidationError`] (field `roomName`) when empty, too long or outside the charset.
    pub fn new(raw: impl Into<String>) -> Result<Self, ValidationError> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(ValidationError::new("roomName", "must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "roomName",
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(ValidationError::new(
                "roomName",
                "may only contain letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Self(raw))
    }

    /// The default room of a stream: `room-<id>`.
    pub fn for_stream(id: &StreamId) -> Self {
        Self(format!("room-{id}"))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<RoomName> for String {
    fn from(name: RoomName) -> Self {
        name.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A participant's identity in a stream (the seed's `participantName`): unique per stream and
/// the LiveKit identity of the participant's media session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identity(String);

impl Identity {
    /// Longest accepted identity, in characters.
    pub const MAX_LEN: usize = 128;

    /// Validates an identity: 1 to 128 characters, not blank, no control characters.
    ///
    /// # Errors
    /// [`ValidationError`] (field `participantName`) otherwise.
    pub fn new(raw: impl Into<String>) -> Result<Self, ValidationError> {
        let raw = raw.into();
        if raw.trim().is_empty() {
            return Err(ValidationError::new("participantName", "must not be blank"));
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "participantName",
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "participantName",
                "must not contain control characters",
            ));
        }
        Ok(Self(raw))
    }

    /// The identity as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Identity {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<Identity> for String {
    fn from(identity: Identity) -> Self {
        identity.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free-form metadata: always a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Accepts a JSON value as metadata.
    ///
    /// # Errors
    /// [`ValidationError`] (field `field`) unless the value is an object.
    pub fn from_value(field: &'static str, value: Value) -> Result<Self, ValidationError> {
        if let Value::Object(map) = value {
            return Ok(Self(map));
        }
        Err(ValidationError::new(
            field,
            format!("must be a JSON object, not {}", json_kind(&value)),
        ))
    }

    /// Applies `patch` as a JSON Merge Patch (RFC 7396): keys set to `null` are removed,
    /// nested objects merge recursively, anything else replaces.
    pub fn merge(&mut self, patch: &Metadata) {
        merge_objects(&mut self.0, &patch.0);
    }

    /// The metadata as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn merge_objects(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else if let Value::Object(patch_child) = value {
            let slot = target
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(child) = slot {
                merge_objects(child, patch_child);
            }
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An opaque position in a listing, handed out by a repository and given back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a repository-specific position (repositories validate what they get back).
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The cursor as clients see it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn room_names_accept_the_documented_charset_and_refuse_the_rest() {
        assert!(RoomName::new("studio-1.main_A").is_ok());
        assert_eq!(RoomName::new("").unwrap_err().field, "roomName");
        assert!(RoomName::new("has space").is_err());
        assert!(RoomName::new("slash/room").is_err());
        assert!(RoomName::new("é").is_err());
        assert!(RoomName::new("a".repeat(128)).is_ok());
        assert!(RoomName::new("a".repeat(129)).is_err());
    }

    #[test]
    fn identities_refuse_blank_long_and_control_characters() {
        assert!(Identity::new("Ada Lovelace").is_ok());
        assert!(Identity::new("  ").is_err());
        assert!(Identity::new("a\nb").is_err());
        assert!(Identity::new("é".repeat(128)).is_ok());
        assert!(Identity::new("é".repeat(129)).is_err());
    }

    #[test]
    fn metadata_must_be_an_object() {
        let err = Metadata::from_value("metadata", json!([1])).unwrap_err();
        assert_eq!(err.reason, "must be a JSON object, not an array");
    }

    #[test]
    fn metadata_merges_as_json_merge_patch() {
        let mut base = Metadata::from_value(
            "metadata",
            json!({"title": "a", "keep": 1, "drop": true, "nested": {"x": 1, "y": 2}}),
        )
        .unwrap();
        let patch = Metadata::from_value(
            "metadata",
            json!({"title": "b", "drop": null, "nested": {"y": null, "z": 3}, "new": [1]}),
        )
        .unwrap();
        base.merge(&patch);
        assert_eq!(
            Value::Object(base.as_map().clone()),
            json!({"title": "b", "keep": 1, "nested": {"x": 1, "z": 3}, "new": [1]})
        );
    }

    #[test]
    fn stream_ids_parse_only_uuids() {
        assert!(StreamId::parse("not-a-uuid").is_err());
        let id = StreamId::parse("6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(id.to_string(), "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b");
        assert_eq!(
            RoomName::for_stream(&id).as_str(),
            "room-6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
        );
    }
}
