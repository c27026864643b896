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

    /// Validates an identity: 1 to 128 characters, not blank, no control characters and no
    /// invisible formatting characters (bidirectional overrides, zero-width characters) that
    /// would let one identity pass for another on a dashboard.
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
        if raw.chars().any(is_invisible_format) {
            return Err(ValidationError::new(
                "participantName",
                "must not contain bidirectional or zero-width formatting characters",
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

/// Bidirectional controls, zero-width characters and other invisible format characters.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// At most the first 32 characters of `raw`, for error messages that must not echo a whole
/// (possibly huge) input back, made [`printable`].
pub fn excerpt(raw: &str) -> String {
    const CHARS: usize = 32;
    match raw.char_indices().nth(CHARS) {
        Some((cut, _)) => format!("{}…", printable(&raw[..cut])),
        None => printable(raw).into_owned(),
    }
}

/// `text` safe to show where a client's input may have gone into it: control characters and
/// invisible format characters (bidirectional overrides such as U+202E, zero-width characters)
/// escaped as `\u{…}`, so an echoed input can neither reorder nor hide what a reader sees.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_invisible_format(c);
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            shown.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// Free-form metadata: always a JSON object, within [`Metadata::MAX_BYTES`] serialized,
/// [`Metadata::MAX_DEPTH`] levels deep, with numbers a JavaScript client reads exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Largest metadata, as compact JSON, also after a merge.
    pub const MAX_BYTES: usize = 16 * 1024;
    /// Deepest nesting of objects and arrays (the metadata object itself is level 1).
    pub const MAX_DEPTH: usize = 32;
    /// Largest magnitude of a number: 2^53 - 1, beyond which JavaScript loses precision.
    pub const MAX_NUMBER: f64 = 9_007_199_254_740_991.0;

    /// Accepts a JSON value as metadata.
    ///
    /// # Errors
    /// [`ValidationError`] (field `field`) unless the value is an object within the limits.
    pub fn from_value(field: &'static str, value: Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::new(
                field,
                format!("must be a JSON object, not {}", json_kind(&value)),
            ));
        };
        let metadata = Self(map);
        metadata.check(field)?;
        Ok(metadata)
    }

    /// The metadata with `patch` applied as a JSON Merge Patch (RFC 7396): keys set to `null`
    /// are removed, nested objects merge recursively, anything else replaces.
    ///
    /// # Errors
    /// [`ValidationError`] (field `metadata`) when the result would exceed the limits.
    pub fn merged(&self, patch: &Metadata) -> Result<Metadata, ValidationError> {
        let mut merged = self.clone();
        merge_objects(&mut merged.0, &patch.0);
        merged.check("metadata")?;
        Ok(merged)
    }

    fn check(&self, field: &'static str) -> Result<(), ValidationError> {
        check_depth_and_numbers(field, &self.0, 1)?;
        let size = serde_json::to_vec(&self.0).map_or(usize::MAX, |json| json.len());
        if size > Self::MAX_BYTES {
            return Err(ValidationError::new(
                field,
                format!(
                    "is {size} bytes as JSON; at most {} are kept",
                    Self::MAX_BYTES
                ),
            ));
        }
        Ok(())
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

fn check_depth_and_numbers(
    field: &'static str,
    object: &Map<String, Value>,
    depth: usize,
) -> Result<(), ValidationError> {
    object
        .values()
        .try_for_each(|value| check_value(field, value, depth))
}

fn check_value(field: &'static str, value: &Value, depth: usize) -> Result<(), ValidationError> {
    match value {
        Value::Object(child) => {
            check_nesting(field, depth + 1)?;
            check_depth_and_numbers(field, child, depth + 1)
        }
        Value::Array(items) => {
            check_nesting(field, depth + 1)?;
            items
                .iter()
                .try_for_each(|item| check_value(field, item, depth + 1))
        }
        Value::Number(number) => match number.as_f64() {
            Some(n) if n.abs() <= Metadata::MAX_NUMBER => Ok(()),
            Some(_) | None => Err(ValidationError::new(
                field,
                "numbers must be between -(2^53 - 1) and 2^53 - 1",
            )),
        },
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

fn check_nesting(field: &'static str, depth: usize) -> Result<(), ValidationError> {
    if depth > Metadata::MAX_DEPTH {
        return Err(ValidationError::new(
            field,
            format!("is nested deeper than {} levels", Metadata::MAX_DEPTH),
        ));
    }
    Ok(())
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
    fn identities_refuse_invisible_formatting_that_could_impersonate() {
        for sneaky in [
            "ada\u{202E}nimda",
            "ad\u{200B}a",
            "\u{FEFF}ada",
            "a\u{2066}b",
        ] {
            assert!(Identity::new(sneaky).is_err(), "{sneaky:?}");
        }
        assert!(Identity::new("Zoë 李 🎥").is_ok());
    }

    #[test]
    fn metadata_is_bounded_in_size_depth_and_numbers() {
        let big = json!({ "blob": "x".repeat(Metadata::MAX_BYTES) });
        let mut deep = json!(1);
        for _ in 0..=Metadata::MAX_DEPTH {
            deep = json!({ "d": deep });
        }
        let just_deep_enough = deep["d"].clone();

        assert!(Metadata::from_value("metadata", big).is_err());
        assert!(Metadata::from_value("metadata", deep).is_err());
        assert!(Metadata::from_value("metadata", just_deep_enough).is_ok());
        assert!(Metadata::from_value("metadata", json!({"n": 9_007_199_254_740_991_u64})).is_ok());
        assert!(Metadata::from_value("metadata", json!({"n": 9_007_199_254_740_993_u64})).is_err());
        assert!(Metadata::from_value("metadata", json!({"n": [1e300]})).is_err());
        assert!(Metadata::from_value("metadata", json!({"n": -2.5})).is_ok());
    }

    #[test]
    fn a_merge_that_would_grow_past_the_limit_is_refused() {
        let half = "x".repeat(Metadata::MAX_BYTES / 2);
        let base = Metadata::from_value("metadata", json!({ "a": half })).unwrap();
        let patch = Metadata::from_value("metadata", json!({ "b": half })).unwrap();

        let err = base.merged(&patch).unwrap_err();

        assert_eq!(err.field, "metadata");
        assert!(err.reason.contains("at most 16384"), "{}", err.reason);
    }

    #[test]
    fn bidirectional_invisible_and_control_characters_are_shown_escaped() {
        let sneaky = "abc\u{202E}fdp.exe\u{200B}\u{0007}\n";

        assert_eq!(
            printable(sneaky),
            "abc\\u{202e}fdp.exe\\u{200b}\\u{0007}\\u{000a}"
        );
        assert_eq!(excerpt(sneaky), printable(sneaky));
        assert!(matches!(
            printable("plain é ✓"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn excerpts_keep_error_messages_short() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(10_000);
        assert_eq!(excerpt(&long).chars().count(), 33);
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
        base = base.merged(&patch).unwrap();
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
