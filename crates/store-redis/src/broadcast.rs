//! [`RedisBroadcasts`]: streams' ingests and outputs on Redis, beside each stream under its hash
//! tag, so a change and its event are one script on one slot (Redis Cluster included).
//!
//! # Keys (prefix `P`, `{id}` the stream id as hash tag)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P{id}:broadcast` | hash | `ingest` and `o:<output>`: the records as JSON, sealed (they hold a stream key and RTMP targets); `ingest.rev`, `o:<output>.rev`: their revisions, in plain (the fence); `n`: how many outputs; `live`: `1` once the stream went live |
//!
//! The stream hash (its seq) and its event log are the stream's own (see [`crate::streams`]).
//!
//! # Round trips
//!
//! | operation | round trips |
//! |---|---|
//! | read a stream's ingest, outputs and live mark | 1 (`HGETALL` of at most 2 × 8 + 4 fields) |
//! | a change and its event | 1 (`broadcast.lua`) |

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use fred::bytes::Bytes;
use fred::interfaces::HashesInterface;
use fred::types::scripts::Script;
use fred::types::Value;
use orchestrator_domain::broadcast::{
    BroadcastRecord, BroadcastRepository, BroadcastState, BroadcastWrite, BroadcastWriteError,
    Ingest, Output, MAX_OUTPUTS,
};
use orchestrator_domain::ports::StoreError;
use orchestrator_domain::{
    change::ChangeContext, event::StreamEvent, stream::StreamStatus, values::StreamId,
};

use crate::client::{ConnectError, Connection};
use crate::events::split_at_seq;
use crate::metered::Timed;
use crate::sealing::Sealer;
use crate::streams::encode;

/// Broadcast records on Redis; see the [module docs](self) for keys and round trips.
#[derive(Debug, Clone)]
pub struct RedisBroadcasts {
    conn: Connection,
    sealer: Arc<Sealer>,
    script: Script,
    channel: String,
}

impl RedisBroadcasts {
    /// Broadcast records on `conn`, sealed with a key derived from `secret` (the same on every
    /// instance: the LiveKit API secret serves).
    ///
    /// # Errors
    /// [`ConnectError::Config`] if no key can be derived from `secret` (not expected).
    pub fn new(conn: Connection, secret: &[u8]) -> Result<Self, ConnectError> {
        let sealer = Sealer::new(secret, crate::sealing::BROADCAST)
            .ok_or_else(|| ConnectError::Config("cannot derive the broadcast key".into()))?;
        let channel = format!("{}events", conn.keys.prefix());
        Ok(Self {
            conn,
            sealer: Arc::new(sealer),
            script: Script::from_lua(include_str!("lua/broadcast.lua")),
            channel,
        })
    }

    fn key(&self, id: &StreamId, name: &str) -> String {
        self.conn.keys.tagged(&id.to_string(), name)
    }

    fn open<T: serde::de::DeserializeOwned>(&self, sealed: &Value) -> Result<T, StoreError> {
        let bytes = sealed
            .as_bytes()
            .ok_or_else(|| StoreError::Corrupt("a broadcast record that is not bytes".into()))?;
        let plain = self.sealer.open(bytes)?;
        serde_json::from_slice(&plain)
            .map_err(|err| StoreError::Corrupt(format!("a broadcast record: {err}")))
    }

    fn seal<T: serde::Serialize>(&self, record: &T) -> Result<Value, StoreError> {
        let plain = encode(record)?;
        Ok(Value::Bytes(Bytes::from(
            self.sealer.seal(plain.as_bytes())?,
        )))
    }

    /// The script's arguments after the sealed record: what kind of record, its field, the
    /// fence, the record and its revision.
    fn record_args(&self, write: &BroadcastWrite) -> Result<[Value; 5], StoreError> {
        let expected = write
            .expected
            .map_or_else(String::new, |revision| revision.to_string());
        let (kind, field, record, revision) = match &write.record {
            BroadcastRecord::Live => ("live", String::new(), None, 0),
            BroadcastRecord::Ingest(ingest) => (
                "ingest",
                "ingest".to_owned(),
                ingest.as_ref().map(|i| self.seal(i)).transpose()?,
                ingest.as_ref().map_or(0, |i| i.revision),
            ),
            BroadcastRecord::Output { id, output } => (
                "output",
                format!("o:{id}"),
                output.as_ref().map(|o| self.seal(o)).transpose()?,
                output.as_ref().map_or(0, |o| o.revision),
            ),
        };
        Ok([
            Value::from(kind),
            Value::from(field),
            Value::from(expected),
            record.unwrap_or_else(|| Value::from("")),
            Value::from(revision.to_string()),
        ])
    }
}

#[async_trait]
impl BroadcastRepository for RedisBroadcasts {
    async fn broadcast(&self, stream: StreamId) -> Result<BroadcastState, StoreError> {
        self.conn.check()?;
        let fields: HashMap<String, Value> = self
            .conn
            .client()
            .hgetall(self.key(&stream, "broadcast"))
            .timed(&self.conn, "hgetall")
            .await?;
        let mut state = BroadcastState {
            live: fields.contains_key("live"),
            ..BroadcastState::default()
        };
        for (field, value) in &fields {
            if field == "ingest" {
                state.ingest = Some(self.open::<Ingest>(value)?);
            } else if field.starts_with("o:") && !field.ends_with(".rev") {
                state.outputs.push(self.open::<Output>(value)?);
            }
        }
        // In order of creation would need one more field; by name is stable and readable.
        state.outputs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(state)
    }

    async fn write_broadcast(
        &self,
        stream: StreamId,
        write: BroadcastWrite,
        ctx: ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError> {
        self.conn.check()?;
        let event = write
            .event
            .as_ref()
            .map(|(kind, data)| StreamEvent::for_broadcast(stream, 0, *kind, data.clone(), &ctx));
        let json = event.as_ref().map(encode).transpose()?;
        let (head, tail) = match &json {
            Some(json) => split_at_seq(json)
                .ok_or_else(|| StoreError::Corrupt("event JSON without a leading seq".into()))?,
            None => ("", ""),
        };
        let [kind, field, expected, record, revision] = self.record_args(&write)?;
        let args = vec![
            Value::from(if write.require_active { "1" } else { "0" }),
            kind,
            field,
            expected,
            record,
            revision,
            Value::from(MAX_OUTPUTS.to_string()),
            Value::from(head),
            Value::from(tail),
            Value::from(ctx.event_id.to_string()),
            Value::from(self.conn.config.max_events_per_stream.to_string()),
            Value::from(self.channel.as_str()),
        ];
        let answer: Vec<String> = self
            .script
            .evalsha_with_reload(
                &self.conn.client(),
                vec![
                    self.key(&stream, "stream"),
                    self.key(&stream, "broadcast"),
                    self.key(&stream, "events"),
                ],
                args,
            )
            .timed(&self.conn, "script:broadcast")
            .await
            .map_err(BroadcastWriteError::Store)?;
        match answer.first().map(String::as_str) {
            Some("ok") => Ok(match (event, answer.get(1)) {
                (Some(mut event), Some(seq)) if !seq.is_empty() => {
                    event.seq = seq
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("seq {seq:?}")))?;
                    Some(event)
                }
                _ => None,
            }),
            Some("missing") => Err(BroadcastWriteError::NotFound),
            Some("not_active") => {
                let status = answer
                    .get(1)
                    .and_then(|s| s.parse::<StreamStatus>().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("status {:?}", answer.get(1))))?;
                Err(BroadcastWriteError::NotActive(status))
            }
            Some("conflict") => Err(BroadcastWriteError::Conflict),
            Some("too_many") => Err(BroadcastWriteError::TooManyOutputs),
            other => Err(StoreError::Corrupt(format!("broadcast answered {other:?}")).into()),
        }
    }
}
