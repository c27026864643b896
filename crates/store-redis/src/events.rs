//! The event log on Redis: one Redis Stream per stream (entry id = seq), read with `XRANGE`,
//! and the live feed of the instance's one pub/sub subscription.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use fred::interfaces::StreamsInterface;
use futures_util::StreamExt;
use orchestrator_domain::ports::{EventFeed, EventLog, StoreError};
use orchestrator_domain::{event::StreamEvent, values::StreamId};
use tokio_stream::wrappers::BroadcastStream;

use crate::metered::Timed;
use crate::streams::RedisStore;

/// Splits an event's JSON around the value of its `seq`, so a script can number the event
/// when it stores it: `{"id":"<uuid>","seq":` and `,…}`. Events serialize `id` first and `seq`
/// second, and a UUID cannot contain the marker, so the first match is the field.
pub(crate) fn split_at_seq(json: &str) -> Option<(&str, &str)> {
    const MARKER: &str = "\",\"seq\":";
    let head_end = json.find(MARKER)? + MARKER.len();
    let digits = json[head_end..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    let tail = &json[head_end + digits..];
    (digits > 0 && json.starts_with("{\"id\":\"") && tail.starts_with(','))
        .then(|| (&json[..head_end], tail))
}

#[async_trait]
impl EventLog for RedisStore {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        self.conn.check()?;
        let entries: Vec<(String, HashMap<String, String>)> = self
            .conn
            .client()
            .xrange(
                self.key(&stream, "events"),
                format!("({after_seq}-0"),
                "+",
                Some(limit as u64),
            )
            .timed(&self.conn, "xrange")
            .await?;
        entries
            .into_iter()
            .map(|(_, fields)| {
                let json = fields
                    .get("e")
                    .ok_or_else(|| StoreError::Corrupt("event entry without data".into()))?;
                serde_json::from_str(json)
                    .map_err(|err| StoreError::Corrupt(format!("event JSON: {err}")))
            })
            .collect()
    }

    fn subscribe(&self) -> EventFeed {
        // The instance's one Redis subscription feeds this broadcast; a receiver that lags
        // loses events here and backfills them by seq.
        Box::pin(
            BroadcastStream::new(self.feed.subscribe())
                .filter_map(|item| async move { item.ok().map(Arc::unwrap_or_clone) }),
        )
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        self.conn.check()?;
        self.scripts
            .epoch
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.conn.keys.tagged("meta", "epoch")],
                vec![uuid::Uuid::new_v4().to_string()],
            )
            .timed(&self.conn, "script:epoch")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_splits_around_its_seq_value_only() {
        let json =
            r#"{"id":"6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b","seq":17,"type":"x","data":{"seq":1}}"#;
        let (head, tail) = split_at_seq(json).unwrap();
        assert_eq!(
            head,
            r#"{"id":"6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b","seq":"#
        );
        assert_eq!(tail, r#","type":"x","data":{"seq":1}}"#);
        assert_eq!(format!("{head}42{tail}").len(), json.len());
        assert_eq!(split_at_seq(r#"{"type":"x","seq":1,"id":"a"}"#), None);
    }
}
