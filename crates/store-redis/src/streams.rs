//! [`RedisStore`]: the stream repository and the event log on Redis.
//!
//! # Keys (prefix `P`, `{id}` is the stream id as hash tag)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P{id}:stream` | string | the stream as JSON |
//! | `P{id}:version` | string | its version (the write fence) |
//! | `P{id}:events` | stream | its events, entry id `<seq>-0`, field `e` = event JSON, `MAXLEN ~` |
//! | `P{id}:last` | string | id of the last applied event (recognises re-sent writes) |
//! | `P{room:<name>}:holder` | string | id of the stream (not stopped) using the room |
//! | `P{index}:streams` | sorted set | `<created ms, 20 digits>:<id>`, all scores 0: lexical = creation order |
//! | `P{meta}:epoch` | string | the epoch; gone when Redis lost its data |
//!
//! Notifications go to the pub/sub channel `Pevents` (one subscription per instance).
//!
//! # Round trips
//!
//! | operation | round trips |
//! |---|---|
//! | `GET /streams/:id`, `/state` | 1 (`GET`) |
//! | create | 1 (room claim) + 1 (index) + 1 (insert script), +2 if an old stopped holder is replaced |
//! | update / stop half / join / leave / webhook change | 1 (`GET`) + 1 (apply script), repeated on a version conflict; + 1 (room release) when a stream stops |
//! | a change that changes nothing (second join, second leave) | 1 (`GET`) |
//! | list | 1 (`ZRANGE`) + 1 pipelined `GET` batch per 100 index entries scanned |
//! | events after a seq | 1 (`XRANGE`) |
//!
//! Endpoints add the domain's reads: join and leave read the stream once before their change
//! (so a join is 3 round trips), create checks the room once (1 more).

use async_trait::async_trait;
use domain::ports::{
    ApplyError, EventFeed, EventLog, InsertError, ListError, ListQuery, Page, StoreError,
    StreamRepository,
};
use domain::{Applied, Change, ChangeContext, Cursor, RoomName, Stream, StreamEvent, StreamId};
use fred::interfaces::{ClientLike, KeysInterface, SortedSetsInterface, StreamsInterface};
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind, ZSort};
use fred::types::Limit;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::client::{store_error, ConnectError, Connection, RedisConfig};
use crate::scripts::Scripts;
use crate::subscriber::Subscriber;

/// Version conflicts retried before giving up (each retry re-reads the stream).
const MAX_CONFLICT_RETRIES: u32 = 64;
/// Index entries fetched per listing round trip.
const LIST_BATCH: i64 = 100;
/// Index entries a filtered listing scans before returning a (possibly short) page with a
/// cursor, so one request never walks an unbounded index.
const LIST_SCAN_BUDGET: usize = 2_000;

/// Events buffered per in-process subscriber of the fan-out.
const FEED_CAPACITY: usize = 4096;

/// Streams and event logs on Redis, with the instance's one subscription. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisStore {
    conn: Connection,
    scripts: Scripts,
    feed: broadcast::Sender<StreamEvent>,
    channel: String,
    _subscriber: Arc<Subscriber>,
}

impl RedisStore {
    /// Connects, and subscribes to the event channel (once for this store and all its clones).
    ///
    /// # Errors
    /// [`ConnectError`] when the URL is invalid or Redis does not answer.
    pub async fn connect(config: RedisConfig) -> Result<Self, ConnectError> {
        let conn = Connection::connect(config.clone()).await?;
        let channel = format!("{}events", conn.keys.prefix());
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let subscriber = Subscriber::start(&config, &channel, feed.clone()).await?;
        Ok(Self {
            conn,
            scripts: Scripts::default(),
            feed,
            channel,
            _subscriber: Arc::new(subscriber),
        })
    }

    /// The connection, for the other Redis-backed ports.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn key(&self, id: &StreamId, name: &str) -> String {
        self.conn.keys.tagged(&id.to_string(), name)
    }

    fn room_key(&self, room: &RoomName) -> String {
        self.conn.keys.tagged(&format!("room:{room}"), "holder")
    }

    fn index_key(&self) -> String {
        self.conn.keys.tagged("index", "streams")
    }

    async fn read(&self, id: &StreamId) -> Result<Option<Stream>, StoreError> {
        let blob: Option<String> = self
            .conn
            .client
            .get(self.key(id, "stream"))
            .await
            .map_err(store_error)?;
        blob.map(|b| decode(&b)).transpose()
    }

    /// Claims `room` for `id`, replacing a holder whose stream is stopped or gone.
    async fn claim_room(&self, room: &RoomName, id: &StreamId) -> Result<(), InsertError> {
        let mut replaceable = String::new();
        for _ in 0..2 {
            let answer: String = self
                .scripts
                .claim_room
                .evalsha_with_reload(
                    &self.conn.client,
                    vec![self.room_key(room)],
                    vec![id.to_string(), replaceable.clone()],
                )
                .await
                .map_err(store_error)?;
            if answer == "ok" {
                return Ok(());
            }
            let holder = StreamId::parse(&answer)
                .map_err(|_| StoreError::Corrupt(format!("room holder {answer:?}")))?;
            match self.read(&holder).await? {
                Some(stream) if !stream.is_stopped() => {
                    return Err(InsertError::RoomNameTaken(room.clone()))
                }
                // Its stop did not get to release the room (a crash between the two steps).
                Some(_) | None => replaceable = answer,
            }
        }
        Err(InsertError::RoomNameTaken(room.clone()))
    }

    /// Runs the apply script: stores `next` and its `event` if the stream is still at the
    /// version of `current`. Answers `ok`, `missing` or `conflict`.
    async fn store_applied(
        &self,
        current: &Stream,
        next: &Stream,
        event: &StreamEvent,
    ) -> Result<String, StoreError> {
        let id = current.id;
        self.scripts
            .apply
            .evalsha_with_reload(
                &self.conn.client,
                vec![
                    self.key(&id, "stream"),
                    self.key(&id, "version"),
                    self.key(&id, "events"),
                    self.key(&id, "last"),
                ],
                vec![
                    current.version.to_string(),
                    encode(next)?,
                    encode(event)?,
                    event.id.to_string(),
                    event.seq.to_string(),
                    self.conn.config.max_events_per_stream.to_string(),
                    self.channel.clone(),
                ],
            )
            .await
            .map_err(store_error)
    }

    async fn release_room(&self, room: &RoomName, id: &StreamId) -> Result<(), StoreError> {
        let _: String = self
            .scripts
            .release_room
            .evalsha_with_reload(
                &self.conn.client,
                vec![self.room_key(room)],
                vec![id.to_string()],
            )
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

fn decode(blob: &str) -> Result<Stream, StoreError> {
    serde_json::from_str(blob).map_err(|err| StoreError::Corrupt(format!("stream JSON: {err}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

fn index_member(stream: &Stream) -> String {
    format!(
        "{:020}:{}",
        stream.created_at.timestamp_millis().max(0),
        stream.id
    )
}

fn member_id(member: &str) -> Option<StreamId> {
    let (millis, id) = member.split_once(':')?;
    if millis.len() != 20 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    StreamId::parse(id).ok()
}

fn cursor_for(member: &str) -> Cursor {
    Cursor::new(format!("r{member}"))
}

fn parse_cursor(cursor: &Cursor) -> Result<String, ListError> {
    let member = cursor
        .as_str()
        .strip_prefix('r')
        .ok_or(ListError::InvalidCursor)?;
    member_id(member)
        .map(|_| member.to_owned())
        .ok_or(ListError::InvalidCursor)
}

fn lex_after(member: Option<&str>) -> ZRange {
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

#[async_trait]
impl StreamRepository for RedisStore {
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        if !stream.is_stopped() {
            self.claim_room(&stream.room_name, &stream.id).await?;
        }
        let inserted = async {
            let member = index_member(&stream);
            // Indexed first: a listing skips an indexed id with no stream, while a stream
            // missing from the index would be invisible to listings for good.
            let _: i64 = self
                .conn
                .client
                .zadd(
                    self.index_key(),
                    None,
                    None,
                    false,
                    false,
                    (0.0, member.as_str()),
                )
                .await
                .map_err(store_error)?;
            let answer: String = self
                .scripts
                .insert
                .evalsha_with_reload(
                    &self.conn.client,
                    vec![
                        self.key(&stream.id, "stream"),
                        self.key(&stream.id, "version"),
                        self.key(&stream.id, "events"),
                        self.key(&stream.id, "last"),
                    ],
                    vec![
                        encode(&stream)?,
                        stream.version.to_string(),
                        encode(&event)?,
                        event.id.to_string(),
                        event.seq.to_string(),
                        self.conn.config.max_events_per_stream.to_string(),
                        self.channel.clone(),
                    ],
                )
                .await
                .map_err(store_error)?;
            match answer.as_str() {
                "ok" => Ok(()),
                _ => Err(InsertError::DuplicateId(stream.id)),
            }
        }
        .await;
        if inserted.is_err() && !stream.is_stopped() {
            // Best effort: a claim left behind is replaced by the next creator (its stream is
            // missing), so a failure here is not worth masking the original error.
            let _ = self.release_room(&stream.room_name, &stream.id).await;
        }
        inserted
    }

    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        self.read(&id).await
    }

    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        let holder: Option<String> = self
            .conn
            .client
            .get(self.room_key(room))
            .await
            .map_err(store_error)?;
        let Some(id) = holder.and_then(|h| StreamId::parse(&h).ok()) else {
            return Ok(None);
        };
        Ok(self.read(&id).await?.filter(|s| !s.is_stopped()))
    }

    async fn list(&self, query: ListQuery) -> Result<Page, ListError> {
        let mut after = query.after.as_ref().map(parse_cursor).transpose()?;
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let members: Vec<String> = self
                .conn
                .client
                .zrange(
                    self.index_key(),
                    lex_after(after.as_deref()),
                    ZRange {
                        kind: ZRangeKind::Inclusive,
                        range: ZRangeBound::InfiniteLex,
                    },
                    Some(ZSort::ByLex),
                    false,
                    Some(Limit::from((0, LIST_BATCH))),
                    false,
                )
                .await
                .map_err(|err| ListError::Store(store_error(err)))?;
            if members.is_empty() {
                return Ok(Page { items, next: None });
            }
            let pipeline = self.conn.client.pipeline();
            for member in &members {
                let id = member_id(member)
                    .ok_or_else(|| StoreError::Corrupt(format!("index entry {member:?}")))?;
                let _: () = pipeline
                    .get(self.key(&id, "stream"))
                    .await
                    .map_err(|err| ListError::Store(store_error(err)))?;
            }
            let blobs: Vec<Option<String>> = pipeline
                .all()
                .await
                .map_err(|err| ListError::Store(store_error(err)))?;
            let batch_full = members.len() as i64 == LIST_BATCH;
            for (member, blob) in members.iter().zip(blobs) {
                scanned += 1;
                after = Some(member.clone());
                let Some(stream) = blob.map(|b| decode(&b)).transpose()? else {
                    continue;
                };
                if query.status.is_none_or(|status| stream.status == status) {
                    items.push(stream);
                    if items.len() == query.limit {
                        let end_of_index = !batch_full && members.last() == Some(member);
                        return Ok(Page {
                            items,
                            next: (!end_of_index).then(|| cursor_for(member)),
                        });
                    }
                }
            }
            if !batch_full {
                return Ok(Page { items, next: None });
            }
            if scanned >= LIST_SCAN_BUDGET {
                return Ok(Page {
                    items,
                    next: after.as_deref().map(cursor_for),
                });
            }
        }
    }

    async fn apply(
        &self,
        id: StreamId,
        change: Change,
        ctx: ChangeContext,
    ) -> Result<Applied, ApplyError> {
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let current = self.read(&id).await?.ok_or(ApplyError::NotFound)?;
            let applied = current.apply(&change, &ctx)?;
            let Some(event) = &applied.event else {
                return Ok(applied);
            };
            let answer = self.store_applied(&current, &applied.stream, event).await?;
            match answer.as_str() {
                "ok" => {
                    if applied.stream.is_stopped() && !current.is_stopped() {
                        self.release_room(&applied.stream.room_name, &id).await?;
                    }
                    return Ok(applied);
                }
                "missing" => return Err(ApplyError::NotFound),
                _ => {
                    // Someone else changed the stream since we read it: read again and
                    // re-decide, after a pause that grows with contention.
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(20)))).await;
                }
            }
        }
        Err(ApplyError::Store(StoreError::Unavailable(format!(
            "stream {id} kept changing; gave up after {MAX_CONFLICT_RETRIES} attempts"
        ))))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.conn.client.ping(None).await.map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        let entries: Vec<(String, HashMap<String, String>)> = self
            .conn
            .client
            .xrange(
                self.key(&stream, "events"),
                format!("({after_seq}-0"),
                "+",
                Some(limit as u64),
            )
            .await
            .map_err(store_error)?;
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
            BroadcastStream::new(self.feed.subscribe()).filter_map(|item| async move { item.ok() }),
        )
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        self.scripts
            .epoch
            .evalsha_with_reload(
                &self.conn.client,
                vec![self.conn.keys.tagged("meta", "epoch")],
                vec![uuid::Uuid::new_v4().to_string()],
            )
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::{Identity, Metadata, Role};

    use super::*;

    fn ctx() -> ChangeContext {
        ChangeContext {
            event_id: uuid::Uuid::new_v4(),
            at: Utc::now(),
            instance_id: "test".into(),
        }
    }

    /// Runs the apply script exactly as `apply` does for `applied`, decided on `current`.
    async fn send_apply(store: &RedisStore, current: &Stream, applied: &Applied) -> String {
        let event = applied.event.as_ref().unwrap();
        store
            .store_applied(current, &applied.stream, event)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_write_resent_after_a_reconnect_is_recognised_not_applied_twice() {
        let server = redis_harness::shared_or_owned();
        let store = RedisStore::connect(RedisConfig {
            key_prefix: redis_harness::unique_prefix(),
            ..RedisConfig::new(server.url())
        })
        .await
        .unwrap();
        let id = StreamId::from_uuid(uuid::Uuid::new_v4());
        let mut stream = Stream::new_active(
            id,
            RoomName::new("resend").unwrap(),
            None,
            Metadata::default(),
            Utc::now(),
        );
        let created = stream.record_creation(&ctx());
        store.insert(stream.clone(), created).await.unwrap();
        let join = Change::Join {
            participant_id: uuid::Uuid::new_v4(),
            identity: Identity::new("ada").unwrap(),
            role: Role::Viewer,
            metadata: None,
        };
        let applied = stream.apply(&join, &ctx()).unwrap();

        let first = send_apply(&store, &stream, &applied).await;
        let resent = send_apply(&store, &stream, &applied).await;

        assert_eq!((first.as_str(), resent.as_str()), ("ok", "ok"));
        let log = store.read_after(id, 0, 10).await.unwrap();
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(store.get(id).await.unwrap().unwrap().version, 2);

        // A different write decided on the same stale version is a conflict, not a success.
        let other = stream
            .apply(
                &Change::Leave {
                    identity: Identity::new("nobody").unwrap(),
                },
                &ctx(),
            )
            .err();
        assert!(
            other.is_some(),
            "leave of a stranger is refused before reaching Redis"
        );
        let stale = stream.apply(&join, &ctx()).unwrap();
        assert_eq!(send_apply(&store, &stream, &stale).await, "conflict");
    }
}
