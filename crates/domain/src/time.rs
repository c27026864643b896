//! How timestamps are written: RFC 3339 in UTC with exactly three fractional digits
//! (`2026-11-25T20:21:32.120Z`). One fixed width everywhere means every store and transport
//! writes the same instant the same way (the Redis store assembles events in Lua from these
//! strings), and such strings sort in time order.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `at` in the fixed format.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serializes a timestamp in the fixed format (`#[serde(serialize_with = …)]`).
///
/// # Errors
/// Those of the serializer.
pub fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*at))
}

/// As [`millis`], for an optional timestamp (`null` when absent).
///
/// # Errors
/// Those of the serializer.
pub fn millis_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => millis(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn whole_seconds_keep_their_three_digits() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 20, 21, 32).unwrap();
        assert_eq!(format(at), "2026-11-25T20:21:32.000Z");
    }
}
