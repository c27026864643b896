//! The stream indexes' members (`<created ms, 20 digits>:<id>`), the listing cursors made of
//! them, and when an entry whose stream is gone may be dropped.
//!
//! A create indexes a stream *before* writing it (a stream missing from the index would be
//! invisible to listings for good), so a listing that runs in between sees an entry with no
//! stream. Such an entry is skipped, and dropped only once it is [`abandoned`]: older than any
//! create can take. Dropping it at once lost streams created while the reconciler listed.

use chrono::{DateTime, Utc};
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind};
use orchestrator_domain::ports::ListError;
use orchestrator_domain::{stream::Stream, values::Cursor, values::StreamId};

/// How long after its creation time an index entry may still be waiting for its stream: far
/// beyond a create's LiveKit call and Redis round trips (each bounded by a timeout), and beyond
/// the clock skew between instances.
pub(crate) const CREATE_GRACE: chrono::Duration = chrono::Duration::minutes(5);

pub(crate) fn index_member(stream: &Stream) -> String {
    format!(
        "{:020}:{}",
        stream.created_at.timestamp_millis().max(0),
        stream.id
    )
}

pub(crate) fn member_id(member: &str) -> Option<StreamId> {
    let (millis, id) = member.split_once(':')?;
    if millis.len() != 20 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    StreamId::parse(id).ok()
}

/// Whether an entry whose stream is gone belongs to a stream that expired (or a create that
/// failed half-way) rather than to a create still in progress.
pub(crate) fn abandoned(member: &str, now: DateTime<Utc>) -> bool {
    let created = member
        .split_once(':')
        .and_then(|(millis, _)| millis.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    created.is_none_or(|created| created < now - CREATE_GRACE)
}

pub(crate) fn cursor_for(member: &str) -> Cursor {
    Cursor::new(format!("r{member}"))
}

pub(crate) fn parse_cursor(cursor: &Cursor) -> Result<String, ListError> {
    let member = cursor
        .as_str()
        .strip_prefix('r')
        .ok_or(ListError::InvalidCursor)?;
    member_id(member)
        .map(|_| member.to_owned())
        .ok_or(ListError::InvalidCursor)
}

pub(crate) fn lex_after(member: Option<&str>) -> ZRange {
    match member {
        Some(member) => ZRange {
            kind: ZRangeKind::Exclusive,
            range: ZRangeBound::Lex(member.to_owned()),
        },
        None => ZRange {
            kind: ZRangeKind::Inclusive,
            range: ZRangeBound::NegInfinityLex,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_abandoned_only_once_older_than_any_create_takes() {
        let now = Utc::now();
        let member =
            |at: DateTime<Utc>| format!("{:020}:{}", at.timestamp_millis(), uuid::Uuid::nil());

        assert!(!abandoned(&member(now), now), "a create in progress");
        assert!(!abandoned(&member(now - chrono::Duration::minutes(4)), now));
        assert!(abandoned(&member(now - chrono::Duration::minutes(6)), now));
        assert!(abandoned("garbage", now), "an entry no listing can use");
    }
}
