//! Timestamps as the service writes them: RFC 3339 in UTC with exactly three fractional digits
//! (`2026-11-25T20:21:32.120Z`), so an answer written back (logged, forwarded, compared) reads
//! the same as the service's. Reading accepts any RFC 3339 form.

pub(crate) mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

pub(crate) mod millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::millis::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct At {
        #[serde(with = "super::millis")]
        at: DateTime<Utc>,
        #[serde(with = "super::millis_opt")]
        until: Option<DateTime<Utc>>,
    }

    #[test]
    fn timestamps_are_written_with_three_fractional_digits_as_the_service_does() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 20, 21, 32).unwrap();
        let value = At { at, until: None };

        let json = serde_json::to_value(&value).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"at": "2026-11-25T20:21:32.000Z", "until": null})
        );
        assert_eq!(serde_json::from_value::<At>(json).unwrap(), value);
    }
}
