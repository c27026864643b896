//! Participants on Redis: every change is one run of `participant.lua` (the record, the
//! counters, the event — constant keys whatever the audience), reads are one `HGET` or one run
//! of `page.lua`.
//!
//! A record is stored as JSON the script can read and rewrite without touching user data:
//! `{"id", "role", "joinedAt", "meta" (the metadata's JSON as a string), "n" (place in the
//! roster), "sid"?, "leftAt"?, "mediaAt"?, "tracks"?}`; the identity is the hash field.

use chrono::{DateTime, Utc};
use fred::interfaces::HashesInterface;
use orchestrator_domain::ports::{
    ApplyError, ListError, ParticipantPage, ParticipantQuery, StoreError,
};
use orchestrator_domain::{
    audience::Audience, change::ChangeContext, change::TransitionError, event::EventType,
    event::StreamEvent, membership::ParticipantApplied, membership::ParticipantChange,
    participant::Participant, participant::Role, values::Cursor, values::Identity,
    values::Metadata, values::StreamId,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::metered::Timed;
use crate::streams::{encode, parse_count, RedisStore};

/// A participant record as `participant.lua` writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: Uuid,
    role: Role,
    joined_at: DateTime<Utc>,
    meta: String,
    n: u64,
    sid: Option<String>,
    left_at: Option<DateTime<Utc>>,
    media_at: Option<DateTime<Utc>>,
    #[serde(default)]
    tracks: Vec<String>,
}

fn decode_record(identity: Identity, json: &str) -> Result<(u64, Participant), StoreError> {
    let corrupt = |err: serde_json::Error| StoreError::Corrupt(format!("participant JSON: {err}"));
    let record: Record = serde_json::from_str(json).map_err(corrupt)?;
    let metadata: Metadata = serde_json::from_str(&record.meta).map_err(corrupt)?;
    let participant = Participant {
        id: record.id,
        identity,
        role: record.role,
        sid: record.sid,
        joined_at: record.joined_at,
        left_at: record.left_at,
        metadata,
        tracks: record.tracks,
        media_at: record.media_at,
    };
    Ok((record.n, participant))
}

/// What `participant.lua` needs to know of a change, beside who, when and where.
#[derive(Default)]
struct ChangeArgs {
    kind: &'static str,
    participant_id: String,
    role: String,
    metadata: String,
    sid: String,
    reported_at: String,
    track: String,
    published: &'static str,
}

impl ChangeArgs {
    fn of(change: &ParticipantChange) -> Result<Self, StoreError> {
        let time = |at: &Option<DateTime<Utc>>| {
            at.map(orchestrator_domain::policy::time::format)
                .unwrap_or_default()
        };
        Ok(match change {
            ParticipantChange::Join {
                participant_id,
                role,
                metadata,
                ..
            } => Self {
                kind: "join",
                participant_id: participant_id.to_string(),
                role: role.as_str().to_owned(),
                metadata: metadata
                    .as_ref()
                    .map(encode)
                    .transpose()?
                    .unwrap_or_default(),
                ..Self::default()
            },
            ParticipantChange::Leave { .. } => Self {
                kind: "leave",
                ..Self::default()
            },
            ParticipantChange::MediaJoined {
                participant_id,
                sid,
                role,
                reported_at,
                ..
            } => Self {
                kind: "media_joined",
                participant_id: participant_id.to_string(),
                role: role.as_str().to_owned(),
                sid: sid.clone(),
                reported_at: time(reported_at),
                ..Self::default()
            },
            ParticipantChange::MediaLeft {
                sid, reported_at, ..
            } => Self {
                kind: "media_left",
                sid: sid.clone(),
                reported_at: time(reported_at),
                ..Self::default()
            },
            ParticipantChange::MediaTrack {
                sid,
                track_sid,
                published,
                reported_at,
                ..
            } => Self {
                kind: "media_track",
                sid: sid.clone(),
                reported_at: time(reported_at),
                track: track_sid.clone(),
                published: if *published { "1" } else { "0" },
                ..Self::default()
            },
        })
    }
}

impl RedisStore {
    pub(crate) async fn change_participant(
        &self,
        id: StreamId,
        change: &ParticipantChange,
        ctx: &ChangeContext,
    ) -> Result<ParticipantApplied, ApplyError> {
        let keys = self.keys(&id);
        let identity = change.identity();
        let change = ChangeArgs::of(change)?;
        let args = vec![
            change.kind.to_owned(),
            identity.to_string(),
            encode(identity)?,
            ctx.event_id.to_string(),
            orchestrator_domain::policy::time::format(ctx.at),
            encode(&ctx.instance_id)?,
            id.to_string(),
            self.conn.config.max_events_per_stream.to_string(),
            self.channel.clone(),
            change.participant_id,
            change.role,
            change.metadata,
            change.sid,
            change.reported_at,
            change.track,
            change.published.to_owned(),
        ];
        let answer: Vec<String> = self
            .scripts
            .participant
            .evalsha_with_reload(
                &self.conn.client(),
                vec![
                    keys.stream,
                    keys.people,
                    keys.roster,
                    keys.present,
                    keys.events,
                ],
                args,
            )
            .timed(&self.conn, "script:participant")
            .await?;
        applied(id, identity, ctx, &answer)
    }

    pub(crate) async fn read_participant(
        &self,
        id: StreamId,
        identity: &Identity,
    ) -> Result<Option<Participant>, StoreError> {
        let record: Option<String> = self
            .conn
            .client()
            .hget(self.key(&id, "people"), identity.as_str())
            .timed(&self.conn, "hget")
            .await?;
        record
            .map(|json| decode_record(identity.clone(), &json).map(|(_, p)| p))
            .transpose()
    }

    pub(crate) async fn participant_page(
        &self,
        id: StreamId,
        query: &ParticipantQuery,
    ) -> Result<ParticipantPage, ListError> {
        let after = query.after.as_ref().map(parse_cursor).transpose()?;
        let keys = self.keys(&id);
        let index = if query.active_only {
            keys.present
        } else {
            keys.roster
        };
        let found: Vec<String> = self
            .scripts
            .page
            .evalsha_with_reload(
                &self.conn.client(),
                vec![index, keys.people],
                vec![
                    after.map(|place| place.to_string()).unwrap_or_default(),
                    query.limit.to_string(),
                ],
            )
            .timed(&self.conn, "script:page")
            .await
            .map_err(ListError::Store)?;
        let mut items = Vec::with_capacity(query.limit.min(found.len() / 3));
        let mut last_place = None;
        for item in found.chunks_exact(3).take(query.limit) {
            let [identity, record, place] = item else {
                continue;
            };
            let identity = Identity::new(identity.as_str())
                .map_err(|_| StoreError::Corrupt(format!("identity {identity:?}")))?;
            // A record can only be missing if written by something else than the script.
            if record.is_empty() {
                continue;
            }
            let (n, participant) = decode_record(identity, record)?;
            items.push(participant);
            last_place = Some(place.parse::<u64>().unwrap_or(n));
        }
        let more = found.len() / 3 > query.limit;
        Ok(ParticipantPage {
            items,
            next: more.then_some(last_place).flatten().map(cursor_for),
        })
    }
}

/// The outcome `participant.lua` answered.
fn applied(
    id: StreamId,
    identity: &Identity,
    ctx: &ChangeContext,
    answer: &[String],
) -> Result<ParticipantApplied, ApplyError> {
    let outcome = answer.first().map(String::as_str).unwrap_or_default();
    match outcome {
        "missing" => return Err(ApplyError::NotFound),
        "not_found" => {
            return Err(TransitionError::ParticipantNotFound(identity.clone()).into());
        }
        "changed" | "unchanged" => {}
        other => {
            let status = other
                .strip_prefix("not_active:")
                .and_then(|status| serde_json::from_value(status.into()).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("participant answered {other:?}")))?;
            return Err(TransitionError::NotActive(status).into());
        }
    }
    let count = |index: usize, name| parse_count(answer.get(index), name);
    let audience = Audience {
        active: count(2, "active")?,
        hosts: count(3, "hosts")?,
        viewers: count(4, "viewers")?,
        connected: count(5, "connected")?,
        total_joined: count(6, "total")?,
    };
    let record = answer.get(1).filter(|r| !r.is_empty());
    let participant = record
        .map(|json| decode_record(identity.clone(), json).map(|(_, p)| p))
        .transpose()?;
    let event = match (outcome, &participant) {
        ("changed", Some(participant)) => {
            let kind = event_kind(answer.get(8))?;
            let seq = count(7, "seq")?;
            Some(StreamEvent::for_participant(
                id,
                seq,
                kind,
                participant,
                audience,
                ctx,
            ))
        }
        _ => None,
    };
    Ok(ParticipantApplied {
        participant,
        audience,
        event,
    })
}

fn event_kind(raw: Option<&String>) -> Result<EventType, StoreError> {
    let raw = raw.map(String::as_str).unwrap_or_default();
    serde_json::from_value(raw.into())
        .map_err(|_| StoreError::Corrupt(format!("event kind {raw:?}")))
}

fn cursor_for(place: u64) -> Cursor {
    Cursor::new(format!("p{place}"))
}

fn parse_cursor(cursor: &Cursor) -> Result<u64, ListError> {
    cursor
        .as_str()
        .strip_prefix('p')
        .and_then(|n| n.parse().ok())
        .ok_or(ListError::InvalidCursor)
}
