//! Metadata (a JSON object) on the wire: typed as `google.protobuf.Struct`, or flattened into
//! the original product's `map<string, string>` (strings as they are, every other value as its
//! JSON text, so nothing is lost and a string needs no unquoting).

use std::collections::HashMap;

use orchestrator_domain::{values::Metadata, values::ValidationError};
use prost_types::{value::Kind, ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// Integers up to this magnitude survive a trip through a double exactly (2^53).
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The metadata as a `Struct` (numbers become doubles, as in JavaScript).
pub(crate) fn to_struct(metadata: &Metadata) -> Struct {
    map_to_struct(metadata.as_map())
}

/// A JSON object (metadata, or a merge patch of it) as a `Struct`.
pub(crate) fn map_to_struct(object: &Map<String, Json>) -> Struct {
    object_to_struct(object)
}

/// The metadata with every value as a string.
pub(crate) fn to_string_map(metadata: &Metadata) -> HashMap<String, String> {
    map_to_strings(metadata.as_map())
}

/// A JSON object with every value as a string.
pub(crate) fn map_to_strings(object: &Map<String, Json>) -> HashMap<String, String> {
    object
        .iter()
        .map(|(key, value)| {
            let text = match value.as_str() {
                Some(text) => text.to_owned(),
                None => value.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

/// Metadata from a request's `Struct`; `None` when the field is absent.
///
/// # Errors
/// A number that is not finite, or a value of no kind: invalid `field`.
pub(crate) fn from_struct(
    field: &'static str,
    raw: Option<Struct>,
) -> Result<Option<Metadata>, ValidationError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let object = struct_to_object(field, raw)?;
    Metadata::from_value(field, Json::Object(object)).map(Some)
}

fn object_to_struct(object: &Map<String, Json>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), to_value(value)))
            .collect(),
    }
}

fn to_value(value: &Json) -> Value {
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(flag) => Kind::BoolValue(*flag),
        Json::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        Json::String(text) => Kind::StringValue(text.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Json::Object(object) => Kind::StructValue(object_to_struct(object)),
    };
    Value { kind: Some(kind) }
}

fn struct_to_object(
    field: &'static str,
    raw: Struct,
) -> Result<Map<String, Json>, ValidationError> {
    raw.fields
        .into_iter()
        .map(|(key, value)| Ok((key, from_value(field, value)?)))
        .collect()
}

fn from_value(field: &'static str, value: Value) -> Result<Json, ValidationError> {
    let Some(kind) = value.kind else {
        return Err(ValidationError::new(field, "has a value of no kind"));
    };
    Ok(match kind {
        Kind::NullValue(_) => Json::Null,
        Kind::BoolValue(flag) => Json::Bool(flag),
        Kind::NumberValue(number) => Json::Number(json_number(field, number)?),
        Kind::StringValue(text) => Json::String(text),
        Kind::ListValue(list) => Json::Array(
            list.values
                .into_iter()
                .map(|item| from_value(field, item))
                .collect::<Result<_, _>>()?,
        ),
        Kind::StructValue(object) => Json::Object(struct_to_object(field, object)?),
    })
}

/// A double as JSON: whole numbers stay integers (`3`, not `3.0`), as a JSON client sent them.
fn json_number(field: &'static str, number: f64) -> Result<Number, ValidationError> {
    if number.fract() == 0.0 && number.abs() <= MAX_EXACT_INTEGER {
        #[allow(clippy::cast_possible_truncation)] // whole and within ±2^53: exact
        return Ok(Number::from(number as i64));
    }
    Number::from_f64(number)
        .ok_or_else(|| ValidationError::new(field, "has a number that is not finite"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(value: Json) -> Metadata {
        Metadata::from_value("metadata", value).unwrap()
    }

    #[test]
    fn the_string_map_keeps_strings_and_writes_other_values_as_json() {
        let map = to_string_map(&metadata(json!({
            "title": "Live",
            "viewers": 3,
            "tags": ["a", "b"],
            "extra": {"hd": true},
            "none": null,
        })));

        let expected: HashMap<String, String> = [
            ("title", "Live"),
            ("viewers", "3"),
            ("tags", r#"["a","b"]"#),
            ("extra", r#"{"hd":true}"#),
            ("none", "null"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(map, expected);
    }

    #[test]
    fn metadata_survives_a_round_trip_through_a_struct() {
        let original = metadata(json!({
            "title": "Live",
            "viewers": 3,
            "ratio": 1.5,
            "tags": ["a", 2, null],
            "extra": {"hd": true, "nested": {"depth": -2}},
        }));

        let back = from_struct("metadata", Some(to_struct(&original))).unwrap();

        assert_eq!(back, Some(original));
    }

    #[test]
    fn an_absent_struct_is_no_metadata_and_a_non_finite_number_is_invalid() {
        let infinite = Struct {
            fields: [(
                "n".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::INFINITY)),
                },
            )]
            .into(),
        };
        let kindless = Struct {
            fields: [("n".to_owned(), Value { kind: None })].into(),
        };

        assert_eq!(from_struct("metadata", None), Ok(None));
        assert!(from_struct("metadata", Some(infinite)).is_err());
        assert!(from_struct("metadata", Some(kindless)).is_err());
    }
}
