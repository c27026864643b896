//! How timestamps are written: RFC 3339 in UTC with exactly three fractional digits
//! (`2026-11-25T20:21:32.120Z`). One fixed width everywhere means every store and transport
//! writes the same instant the same way (the Redis store assembles events in Lua from these
//! strings), and such strings sort in time order.
//!
//! Every read of a stream parses its timestamps and every answer writes them again, so the
//! fixed format has a path of its own both ways (no allocation, no format machinery);
//! anything else RFC 3339 allows is still read, by chrono.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// Length of the fixed format.
const FIXED_LEN: usize = 24;

/// Where the fixed format has what, other than digits.
const SEPARATORS: [(usize, u8); 7] = [
    (4, b'-'),
    (7, b'-'),
    (10, b'T'),
    (13, b':'),
    (16, b':'),
    (19, b'.'),
    (23, b'Z'),
];

/// `at` in the fixed format.
pub fn format(at: DateTime<Utc>) -> String {
    with_text(at, str::to_owned)
}

/// Hands `use_text` the fixed format of `at`: written on the stack, or by chrono for what
/// [`write_fixed`] leaves to it.
fn with_text<T>(at: DateTime<Utc>, use_text: impl FnOnce(&str) -> T) -> T {
    let mut buffer = [0; FIXED_LEN];
    match write_fixed(at, &mut buffer) {
        Some(text) => use_text(text),
        None => use_text(&at.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

/// `at` in the fixed format, written into `buffer`; `None` for what the format cannot hold in
/// 24 characters (years beyond 9999, leap seconds), which chrono then writes.
fn write_fixed(at: DateTime<Utc>, buffer: &mut [u8; FIXED_LEN]) -> Option<&str> {
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, value: u32, digits: u32| {
        for i in 0..digits {
            let digit = value / 10u32.pow(digits - 1 - i) % 10;
            buffer[at + i as usize] = b'0' + digit as u8;
        }
    };
    put(0, year, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, at.second(), 2);
    put(20, nanos / 1_000_000, 3);
    for (at, separator) in SEPARATORS {
        buffer[at] = separator;
    }
    std::str::from_utf8(buffer).ok()
}

/// A timestamp in the fixed format, or in any other form of RFC 3339 chrono reads.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    parse_fixed(text).or_else(|| text.parse().ok())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, and nothing else.
fn parse_fixed(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != FIXED_LEN
        || SEPARATORS
            .iter()
            .any(|&(at, separator)| bytes[at] != separator)
    {
        return None;
    }
    let number = |from: usize, to: usize| {
        bytes[from..to].iter().try_fold(0u32, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 7)?,
        number(8, 10)?,
    )?;
    let time = date.and_hms_milli_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 23)?,
    )?;
    Some(time.and_utc())
}

/// Serializes a timestamp in the fixed format (`#[serde(serialize_with = …)]`).
///
/// # Errors
/// Those of the serializer.
pub fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    with_text(*at, |text| serializer.serialize_str(text))
}

/// Reads a timestamp written by [`millis`] (or any RFC 3339 one) (`#[serde(deserialize_with = …)]`).
///
/// # Errors
/// When the value is not a string holding an RFC 3339 timestamp.
pub fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Timestamp)
}

/// As [`read`], for an optional timestamp (`null` is `None`).
///
/// # Errors
/// When the value is neither `null` nor a string holding an RFC 3339 timestamp.
pub fn read_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    deserializer.deserialize_option(OptionalTimestamp)
}

struct Timestamp;

impl Visitor<'_> for Timestamp {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

struct OptionalTimestamp;

impl<'de> Visitor<'de> for OptionalTimestamp {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        read(deserializer).map(Some)
    }
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

    /// Instants spread over years 0 to 9999, with any nanosecond (SplitMix64, fixed seed).
    fn instants() -> impl Iterator<Item = DateTime<Utc>> {
        let mut state = 0x5EED_u64;
        std::iter::from_fn(move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
            let last = Utc
                .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .unwrap()
                .timestamp();
            let span = u64::try_from(last - first).unwrap();
            let seconds = first + i64::try_from(z % span).unwrap();
            let nanos = u32::try_from((z >> 7) % 1_000_000_000).unwrap();
            DateTime::from_timestamp(seconds, nanos)
        })
    }

    #[test]
    fn the_fixed_writer_writes_what_chrono_writes() {
        for at in instants().take(20_000) {
            assert_eq!(format(at), at.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }

    #[test]
    fn what_is_written_reads_back_to_the_same_millisecond() {
        for at in instants().take(20_000) {
            let millis = at
                .with_nanosecond(at.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap();
            assert_eq!(parse(&format(at)), Some(millis), "{at}");
        }
    }

    #[test]
    fn years_beyond_9999_and_leap_seconds_are_left_to_chrono() {
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        let leap = Utc
            .with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
            .unwrap()
            .with_nanosecond(1_500_000_000)
            .unwrap();

        for at in [far, leap] {
            assert_eq!(format(at), at.to_rfc3339_opts(SecondsFormat::Millis, true));
            assert_eq!(parse(&format(at)), Some(at));
        }
    }

    #[test]
    fn other_rfc_3339_forms_still_read_and_malformed_ones_do_not() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 20, 21, 32).unwrap();

        assert_eq!(parse("2026-11-25T20:21:32Z"), Some(at));
        assert_eq!(parse("2026-11-25T21:21:32.000+01:00"), Some(at));
        assert_eq!(parse("2026-11-25T20:21:32.000000Z"), Some(at));
        for bad in [
            "",
            "2026-13-25T20:21:32.000Z",
            "2026-02-30T20:21:32.000Z",
            "2026-11-25T24:21:32.000Z",
            "2026-11-25 20:21:32.000X",
            "2026-11-25T20:21:3x.000Z",
            "2026-11-25T20:21:32.000",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Times {
        #[serde(deserialize_with = "read")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "read_opt")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn serde_reads_timestamps_null_and_absent_optional_ones() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 20, 21, 32).unwrap();
        let read = |json: &str| serde_json::from_str::<Times>(json);

        let full = read(r#"{"at":"2026-11-25T20:21:32.000Z","maybe":"2026-11-25T20:21:32Z"}"#);
        assert_eq!(
            full.unwrap(),
            Times {
                at,
                maybe: Some(at)
            }
        );
        let null = read(r#"{"at":"2026-11-25T20:21:32.000Z","maybe":null}"#);
        assert_eq!(null.unwrap(), Times { at, maybe: None });
        let absent = read(r#"{"at":"2026-11-25T20:21:32.000Z"}"#);
        assert_eq!(absent.unwrap(), Times { at, maybe: None });
        assert!(read(r#"{"at":"yesterday"}"#).is_err());
        assert!(read(r#"{"at":12}"#).is_err());
    }
}
