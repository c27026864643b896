//! [`RedisStore`]: the stream repository on Redis — streams themselves here, their
//! participants in `participants`, their event logs in `events`.
//!
//! # Keys (prefix `P`, `{id}` is the stream id as hash tag)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P{id}:stream` | hash | `doc` (the stream as JSON), `version` (the write fence), `status`, `seq`, the counters `active` `hosts` `viewers` `connected` `total`, and `last`/`lastseq` (the last applied event, to recognise re-sent writes) |
//! | `P{id}:events` | stream | its events, entry id `<seq>-0`, field `e` = event JSON, `MAXLEN ~` |
//! | `P{id}:people` | hash | identity → participant record (JSON) |
//! | `P{id}:roster` | sorted set | identity, scored by its place (1 = first to join) |
//! | `P{id}:present` | sorted set | the identities present now, same scores |
//! | `P{id}:broadcast` | hash | `ingest` and `o:<output>` (sealed records), their revisions `ingest.rev` / `o:<output>.rev`, `n` (outputs), `live` (see [`crate::broadcast`]) |
//! | `P{room:<name>}:holder` | string | id of the stream using the room; once it stopped, kept for its retention as the room's last holder (the next creator replaces it) |
//! | `P{index}:streams` | sorted set | `<created ms, 20 digits>:<id>`, all scores 0: lexical = creation order |
//! | `P{index}:live` | sorted set | the same members, for streams that are not stopped |
//! | `P{meta}:epoch` | string | the epoch; gone when Redis lost its data |
//!
//! Notifications go to the pub/sub channel `Pevents` (one subscription per instance). A stopped
//! stream's keys expire after `RedisConfig::stopped_retention`; listings drop index entries
//! whose stream is gone (see the `index` module).
//!
//! # Round trips
//!
//! | operation | round trips |
//! |---|---|
//! | `GET /streams/:id`, `/state` | 1 (`HMGET`), + 1 (`page.lua`) when at most 100 ever joined |
//! | join / leave / webhook participant change | 1 (`participant.lua`), whatever the audience; the endpoints add their reads (join: the stream once per stream and instance, for the token's room, which the service then remembers; leave: the stream and the record) |
//! | create | 1 (room claim) + 1 (both indexes, pipelined) + 1 (`insert.lua`), +2 if an old stopped holder is replaced |
//! | update / stop half / room webhook | 1 (`HMGET`) + 1 (`apply.lua`), repeated only if another *stream* change won the race; + 1 (room release and live-index removal, pipelined) when a stream stops |
//! | a stream change that changes nothing | 1 (`HMGET`) |
//! | list | 1 (`ZRANGE`) + 1 pipelined `HMGET` batch per 100 index entries scanned |
//! | a page of participants | 1 (`page.lua`) |
//! | events after a seq | 1 (`XRANGE`) |

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::interfaces::{ClientLike, HashesInterface, KeysInterface, SortedSetsInterface};
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind, ZSort};
use fred::types::Limit;
use orchestrator_domain::ports::{
    ApplyError, InsertError, ListError, ListQuery, Page, ParticipantPage, ParticipantQuery,
    StoreError, StreamRepository,
};
use orchestrator_domain::{
    audience::Audience, change::Applied, change::Change, change::ChangeContext, event::StreamEvent,
    membership::ParticipantApplied, membership::ParticipantChange, participant::Participant,
    stream::Stream, stream::StreamStatus, values::Identity, values::RoomName, values::StreamId,
};
use tokio::sync::broadcast;

use crate::client::{ConnectError, Connection, RedisConfig};
use crate::events::split_at_seq;
use crate::index::{self, cursor_for, index_member, lex_after, member_id, parse_cursor};
use crate::metered::Timed;
use crate::scripts::Scripts;
use crate::subscriber::Subscriber;
use crate::turns::Turns;

/// Stream-change conflicts retried before giving up (each retry re-reads the stream). Only
/// other instances' changes of the stream itself conflict — this instance's take turns
/// ([`crate::turns`]) and participants never do.
const MAX_CONFLICT_RETRIES: u32 = 64;
/// Index entries fetched per listing round trip.
const LIST_BATCH: i64 = 100;
/// Index entries a filtered listing scans before returning a (possibly short) page with a
/// cursor, so one request never walks an unbounded index.
const LIST_SCAN_BUDGET: usize = 2_000;
/// Events buffered per in-process subscriber of the fan-out. Each slot holds an `Arc`, not the
/// event: tokio writes every slot when the channel is made, and 4,096 events inline were
/// ≈ 450 KiB more of the idle process's anonymous memory (measured: 2,960 → 2,530 KiB).
const FEED_CAPACITY: usize = 4096;
/// The stream hash fields a read needs, in the order [`decode_stream`] expects them.
const READ_FIELDS: [&str; 7] = [
    "doc",
    "seq",
    "active",
    "hosts",
    "viewers",
    "connected",
    "total",
];

/// Streams, participants and event logs on Redis, with the instance's one subscription.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisStore {
    pub(crate) conn: Connection,
    pub(crate) scripts: Scripts,
    pub(crate) feed: broadcast::Sender<Arc<StreamEvent>>,
    pub(crate) channel: String,
    turns: Arc<Turns>,
    _subscriber: Arc<Subscriber>,
}

/// The keys of one stream, all in its hash-tag slot.
pub(crate) struct StreamKeys {
    pub(crate) stream: String,
    pub(crate) events: String,
    pub(crate) people: String,
    pub(crate) roster: String,
    pub(crate) broadcast: String,
    pub(crate) present: String,
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
            turns: Arc::default(),
            _subscriber: Arc::new(subscriber),
        })
    }

    /// The connection, for the other Redis-backed ports.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn keys(&self, id: &StreamId) -> StreamKeys {
        let tag = id.to_string();
        let key = |name| self.conn.keys.tagged(&tag, name);
        StreamKeys {
            stream: key("stream"),
            events: key("events"),
            people: key("people"),
            roster: key("roster"),
            broadcast: key("broadcast"),
            present: key("present"),
        }
    }

    /// One key of `id`'s ([`RedisStore::keys`] makes all five, for the writes that need them).
    pub(crate) fn key(&self, id: &StreamId, name: &str) -> String {
        self.conn.keys.tagged(&id.to_string(), name)
    }

    fn room_key(&self, room: &RoomName) -> String {
        self.conn.keys.tagged(&format!("room:{room}"), "holder")
    }

    fn index_key(&self, live_only: bool) -> String {
        let name = if live_only { "live" } else { "streams" };
        self.conn.keys.tagged("index", name)
    }

    async fn read(&self, id: &StreamId) -> Result<Option<Stream>, StoreError> {
        let fields: Vec<Option<String>> = self
            .conn
            .client()
            .hmget(self.key(id, "stream"), READ_FIELDS.to_vec())
            .timed(&self.conn, "hmget")
            .await?;
        decode_stream(fields)
    }

    /// Claims `room` for `id`, replacing a holder whose stream is stopped or gone.
    async fn claim_room(&self, room: &RoomName, id: &StreamId) -> Result<(), InsertError> {
        let mut replaceable = String::new();
        for _ in 0..2 {
            let answer: String = self
                .scripts
                .claim_room
                .evalsha_with_reload(
                    &self.conn.client(),
                    vec![self.room_key(room)],
                    vec![id.to_string(), replaceable.clone()],
                )
                .timed(&self.conn, "script:claim_room")
                .await?;
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

    async fn index(&self, stream: &Stream) -> Result<(), StoreError> {
        let member = index_member(stream);
        let pipeline = self.conn.client().pipeline();
        for live_only in [false, true] {
            let _: () = pipeline
                .zadd(
                    self.index_key(live_only),
                    None,
                    None,
                    false,
                    false,
                    (0.0, member.as_str()),
                )
                .await
                .map_err(|err| self.conn.failed(err))?;
        }
        let _: Vec<i64> = pipeline.all().timed(&self.conn, "pipeline:index").await?;
        Ok(())
    }

    async fn store_new(&self, stream: &Stream, event: &StreamEvent) -> Result<String, StoreError> {
        let keys = self.keys(&stream.id);
        self.scripts
            .insert
            .evalsha_with_reload(
                &self.conn.client(),
                vec![keys.stream, keys.events],
                vec![
                    encode(stream)?,
                    stream.version.to_string(),
                    stream.status.as_str().to_owned(),
                    encode(event)?,
                    event.id.to_string(),
                    self.conn.config.max_events_per_stream.to_string(),
                    self.channel.clone(),
                ],
            )
            .timed(&self.conn, "script:insert")
            .await
    }

    /// Runs `apply.lua`: stores `next` and its `event` if the stream is still at the version
    /// of `current`. Answers the event's seq, or `None` on a conflict.
    pub(crate) async fn store_applied(
        &self,
        current: &Stream,
        next: &Stream,
        event: &StreamEvent,
    ) -> Result<Option<u64>, ApplyError> {
        let keys = self.keys(&current.id);
        let json = encode(event)?;
        let (head, tail) = split_at_seq(&json)
            .ok_or_else(|| StoreError::Corrupt("event JSON without a leading seq".into()))?;
        let stops = next.is_stopped() && !current.is_stopped();
        let retention = match (stops, self.conn.config.stopped_retention) {
            (true, Some(retention)) => retention.as_millis().max(1).to_string(),
            (true, None) | (false, _) => String::new(),
        };
        let answer: Vec<String> = self
            .scripts
            .apply
            .evalsha_with_reload(
                &self.conn.client(),
                vec![
                    keys.stream,
                    keys.events,
                    keys.present,
                    keys.people,
                    keys.roster,
                    keys.broadcast,
                ],
                vec![
                    current.version.to_string(),
                    encode(next)?,
                    next.version.to_string(),
                    next.status.as_str().to_owned(),
                    head.to_owned(),
                    tail.to_owned(),
                    event.id.to_string(),
                    self.conn.config.max_events_per_stream.to_string(),
                    self.channel.clone(),
                    if stops { "1" } else { "0" }.to_owned(),
                    retention,
                ],
            )
            .timed(&self.conn, "script:apply")
            .await?;
        match answer.first().map(String::as_str) {
            Some("ok") => Ok(Some(parse_count(answer.get(1), "seq")?)),
            Some("missing") => Err(ApplyError::NotFound),
            Some("conflict") => Ok(None),
            other => Err(StoreError::Corrupt(format!("apply answered {other:?}")).into()),
        }
    }

    /// Releases the room of a stream that stopped and drops it from the live index (two
    /// slots, so two commands, sent together).
    async fn retire(&self, stream: &Stream) -> Result<(), StoreError> {
        let unlisted = async {
            let _: i64 = self
                .conn
                .client()
                .zrem(self.index_key(true), index_member(stream))
                .timed(&self.conn, "zrem")
                .await?;
            Ok(())
        };
        let remembered = self
            .conn
            .config
            .stopped_retention
            .map_or_else(String::new, |retention| {
                retention.as_millis().max(1).to_string()
            });
        let (released, unlisted) = tokio::join!(
            self.release_room(&stream.room_name, &stream.id, remembered),
            unlisted
        );
        released.and(unlisted)
    }

    /// Releases the room's claim by `id`: forgotten at once (`remembered` "0"), after that many
    /// milliseconds, or never ("").
    async fn release_room(
        &self,
        room: &RoomName,
        id: &StreamId,
        remembered: String,
    ) -> Result<(), StoreError> {
        let _: String = self
            .scripts
            .release_room
            .evalsha_with_reload(
                &self.conn.client(),
                vec![self.room_key(room)],
                vec![id.to_string(), remembered],
            )
            .timed(&self.conn, "script:release_room")
            .await?;
        Ok(())
    }

    /// One batch of index entries after `after`, with their streams (`None` when gone).
    async fn index_batch(
        &self,
        live_only: bool,
        after: Option<&str>,
    ) -> Result<Vec<(String, Option<Stream>)>, StoreError> {
        let members: Vec<String> = self
            .conn
            .client()
            .zrange(
                self.index_key(live_only),
                lex_after(after),
                ZRange {
                    kind: ZRangeKind::Inclusive,
                    range: ZRangeBound::InfiniteLex,
                },
                Some(ZSort::ByLex),
                false,
                Some(Limit::from((0, LIST_BATCH))),
                false,
            )
            .timed(&self.conn, "zrange")
            .await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.conn.client().pipeline();
        for member in &members {
            let id = member_id(member)
                .ok_or_else(|| StoreError::Corrupt(format!("index entry {member:?}")))?;
            let _: () = pipeline
                .hmget(self.key(&id, "stream"), READ_FIELDS.to_vec())
                .await
                .map_err(|err| self.conn.failed(err))?;
        }
        let rows: Vec<Vec<Option<String>>> = pipeline
            .all()
            .timed(&self.conn, "pipeline:read_streams")
            .await?;
        let mut batch = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        let now = chrono::Utc::now();
        for (member, fields) in members.into_iter().zip(rows) {
            let stream = decode_stream(fields)?;
            if stream.is_none() && index::abandoned(&member, now) {
                gone.push(member.clone());
            }
            batch.push((member, stream));
        }
        if !gone.is_empty() {
            // Streams whose retention ended: their index entries go too (best effort; the
            // next listing retries).
            let _: Result<i64, _> = self
                .conn
                .client()
                .zrem(self.index_key(live_only), gone)
                .await;
        }
        Ok(batch)
    }
}

/// Decodes the stream hash fields read with [`READ_FIELDS`]; no `doc` means no stream.
fn decode_stream(fields: Vec<Option<String>>) -> Result<Option<Stream>, StoreError> {
    let mut fields = fields.into_iter();
    let Some(doc) = fields.next().flatten() else {
        return Ok(None);
    };
    let mut stream: Stream = serde_json::from_str(&doc)
        .map_err(|err| StoreError::Corrupt(format!("stream JSON: {err}")))?;
    let mut count = |name| parse_count(fields.next().flatten().as_ref(), name);
    stream.seq = count("seq")?;
    stream.audience = Audience {
        active: count("active")?,
        hosts: count("hosts")?,
        viewers: count("viewers")?,
        connected: count("connected")?,
        total_joined: count("total")?,
    };
    Ok(Some(stream))
}

/// A counter from a hash field or a script answer (absent is 0).
pub(crate) fn parse_count(raw: Option<&String>, name: &str) -> Result<u64, StoreError> {
    raw.map_or(Ok(0), |raw| {
        raw.parse()
            .map_err(|_| StoreError::Corrupt(format!("{name} is {raw:?}")))
    })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

#[async_trait]
impl StreamRepository for RedisStore {
    async fn insert(&self, stream: Stream, event: StreamEvent) -> Result<(), InsertError> {
        self.conn.check()?;
        if !stream.is_stopped() {
            self.claim_room(&stream.room_name, &stream.id).await?;
        }
        let inserted = async {
            // Indexed first: a listing skips an indexed id with no stream, while a stream
            // missing from the index would be invisible to listings for good.
            self.index(&stream).await?;
            match self.store_new(&stream, &event).await?.as_str() {
                "ok" => Ok(()),
                _ => Err(InsertError::DuplicateId(stream.id)),
            }
        }
        .await;
        if inserted.is_err() && !stream.is_stopped() {
            // Best effort: a claim left behind is replaced by the next creator (its stream is
            // missing), so a failure here is not worth masking the original error.
            let _ = self
                .release_room(&stream.room_name, &stream.id, "0".to_owned())
                .await;
        }
        inserted
    }

    async fn get(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        self.conn.check()?;
        self.read(&id).await
    }

    async fn find_live_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        self.conn.check()?;
        let holder: Option<String> = self
            .conn
            .client()
            .get(self.room_key(room))
            .timed(&self.conn, "get")
            .await?;
        let Some(id) = holder.and_then(|h| StreamId::parse(&h).ok()) else {
            return Ok(None);
        };
        Ok(self.read(&id).await?.filter(|s| !s.is_stopped()))
    }

    async fn find_latest_by_room(&self, room: &RoomName) -> Result<Option<Stream>, StoreError> {
        self.conn.check()?;
        let holder: Option<String> = self
            .conn
            .client()
            .get(self.room_key(room))
            .timed(&self.conn, "get")
            .await?;
        let Some(id) = holder.and_then(|h| StreamId::parse(&h).ok()) else {
            return Ok(None);
        };
        self.read(&id).await
    }

    async fn list(&self, query: ListQuery) -> Result<Page, ListError> {
        self.conn.check()?;
        // Streams that are not stopped have an index of their own, so finding the live ones
        // never walks the history.
        let live_only = query.status.is_some_and(|s| s != StreamStatus::Stopped);
        let mut after = query.after.as_ref().map(parse_cursor).transpose()?;
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let batch = self.index_batch(live_only, after.as_deref()).await?;
            let batch_full = batch.len() as i64 == LIST_BATCH;
            let last = batch.last().map(|(member, _)| member.clone());
            for (member, stream) in batch {
                scanned += 1;
                after = Some(member.clone());
                let Some(stream) = stream else { continue };
                if query.status.is_none_or(|status| stream.status == status) {
                    items.push(stream);
                    if items.len() == query.limit {
                        let end_of_index = !batch_full && last.as_ref() == Some(&member);
                        return Ok(Page {
                            items,
                            next: (!end_of_index).then(|| cursor_for(&member)),
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
        self.conn.check()?;
        let _turn = self.turns.take(&id).await;
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let current = self.read(&id).await?.ok_or(ApplyError::NotFound)?;
            let mut applied = current.apply(&change, &ctx)?;
            let Some(event) = applied.event.as_mut() else {
                return Ok(applied);
            };
            let Some(seq) = self.store_applied(&current, &applied.stream, event).await? else {
                // Another change of the stream itself landed since we read it: read again
                // and re-decide, after a pause that grows with contention.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(20)))).await;
                continue;
            };
            // Participant changes may have taken seqs in between: the script numbered it.
            event.seq = seq;
            applied.stream.seq = seq;
            if applied.stream.is_stopped() && !current.is_stopped() {
                self.retire(&applied.stream).await?;
            }
            return Ok(applied);
        }
        Err(ApplyError::Store(StoreError::Unavailable(format!(
            "stream {id} kept changing; gave up after {MAX_CONFLICT_RETRIES} attempts"
        ))))
    }

    async fn apply_participant(
        &self,
        id: StreamId,
        change: ParticipantChange,
        ctx: ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        self.conn.check()?;
        self.change_participant(id, &change, &ctx).await
    }

    async fn participant(
        &self,
        id: StreamId,
        identity: &Identity,
    ) -> Result<Option<Participant>, StoreError> {
        self.conn.check()?;
        self.read_participant(id, identity).await
    }

    async fn participants(
        &self,
        id: StreamId,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, ListError> {
        self.conn.check()?;
        self.participant_page(id, &query).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.check()?;
        let _: String = self
            .conn
            .client()
            .ping(None)
            .timed(&self.conn, "ping")
            .await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
