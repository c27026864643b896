//! What only the Redis store does; the shared contract (tests/contract.rs) covers the rest.

use std::time::Duration;

use fred::interfaces::{KeysInterface, SortedSetsInterface};
use orchestrator_domain::ports::{Clock, SystemClock};
use orchestrator_domain::ports::{EventLog, ListQuery, StreamRepository};
use orchestrator_domain::{
    change::Change, change::ChangeContext, membership::ParticipantChange, participant::Role,
    stream::Stream, values::Identity, values::Metadata, values::RoomName, values::StreamId,
};

use super::*;

fn ctx() -> ChangeContext {
    ChangeContext {
        event_id: uuid::Uuid::new_v4(),
        at: SystemClock.now(),
        instance_id: "test".into(),
    }
}

async fn store_with(retention: Option<Duration>) -> (RedisStore, redis_harness::RedisServer) {
    let server = redis_harness::shared_or_owned();
    let store = RedisStore::connect(RedisConfig {
        key_prefix: redis_harness::unique_prefix(),
        stopped_retention: retention,
        ..RedisConfig::new(server.url())
    })
    .await
    .unwrap();
    (store, server)
}

fn new_stream(created_at: chrono::DateTime<chrono::Utc>) -> Stream {
    let id = StreamId::from_uuid(uuid::Uuid::new_v4());
    let room = format!("room-{}", uuid::Uuid::new_v4().simple());
    Stream::new_active(
        id,
        RoomName::new(room).unwrap(),
        None,
        Metadata::default(),
        created_at,
    )
}

async fn inserted_at(store: &RedisStore, created_at: chrono::DateTime<chrono::Utc>) -> Stream {
    let mut stream = new_stream(created_at);
    let created = stream.record_creation(&ctx());
    store.insert(stream.clone(), created).await.unwrap();
    stream
}

async fn inserted(store: &RedisStore) -> Stream {
    inserted_at(store, SystemClock.now()).await
}

fn live() -> ListQuery {
    ListQuery {
        status: Some(orchestrator_domain::stream::StreamStatus::Active),
        after: None,
        limit: 100,
    }
}

fn retitle(title: &str) -> Change {
    Change::Update {
        status: None,
        metadata: Some(
            Metadata::from_value("metadata", serde_json::json!({ "title": title })).unwrap(),
        ),
        expected: None,
    }
}

async fn seqs(store: &RedisStore, id: StreamId) -> Vec<u64> {
    let log = store.read_after(id, 0, 100).await.unwrap();
    log.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn a_stream_write_resent_after_a_reconnect_is_recognised_not_applied_twice() {
    let (store, _server) = store_with(None).await;
    let stream = inserted(&store).await;
    let applied = stream.apply(&retitle("a"), &ctx()).unwrap();
    let event = applied.event.as_ref().unwrap();

    let first = store.store_applied(&stream, &applied.stream, event).await;
    let resent = store.store_applied(&stream, &applied.stream, event).await;

    assert_eq!((first, resent), (Ok(Some(2)), Ok(Some(2))));
    assert_eq!(seqs(&store, stream.id).await, [1, 2]);
    assert_eq!(store.get(stream.id).await.unwrap().unwrap().version, 2);
    let other = stream.apply(&retitle("b"), &ctx()).unwrap();
    let stale = store
        .store_applied(&stream, &other.stream, other.event.as_ref().unwrap())
        .await;
    assert_eq!(
        stale,
        Ok(None),
        "another write decided on the same version conflicts"
    );
}

#[tokio::test]
async fn a_participant_change_resent_after_a_reconnect_is_recognised_not_applied_twice() {
    let (store, _server) = store_with(None).await;
    let stream = inserted(&store).await;
    let leave = ParticipantChange::Leave {
        identity: Identity::new("ada").unwrap(),
    };
    let join = ParticipantChange::Join {
        participant_id: uuid::Uuid::new_v4(),
        identity: Identity::new("ada").unwrap(),
        role: Role::Viewer,
        metadata: None,
    };
    let context = ctx();
    store
        .apply_participant(stream.id, join, ctx())
        .await
        .unwrap();

    let first = store
        .apply_participant(stream.id, leave.clone(), context.clone())
        .await;
    let resent = store.apply_participant(stream.id, leave, context).await;

    assert!(first.unwrap().event.is_some());
    assert_eq!(resent.unwrap().event, None);
    assert_eq!(seqs(&store, stream.id).await, [1, 2, 3]);
}

#[tokio::test]
async fn a_stopped_stream_expires_after_its_retention_and_leaves_the_listings() {
    let (store, _server) = store_with(Some(Duration::from_millis(300))).await;
    // Created long enough ago that its entry cannot be a create still in progress.
    let stream = inserted_at(&store, SystemClock.now() - chrono::Duration::minutes(10)).await;
    let join = ParticipantChange::Join {
        participant_id: uuid::Uuid::new_v4(),
        identity: Identity::new("ada").unwrap(),
        role: Role::Viewer,
        metadata: None,
    };
    store
        .apply_participant(stream.id, join, ctx())
        .await
        .unwrap();
    store
        .apply(stream.id, Change::BeginStop, ctx())
        .await
        .unwrap();
    store
        .apply(stream.id, Change::FinishStop, ctx())
        .await
        .unwrap();
    let keys = store.keys(&stream.id);
    let ttl: i64 = store.conn.client().pttl(&keys.people).await.unwrap();
    assert!(ttl > 0, "the participants expire with the stream");

    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if store.get(stream.id).await.unwrap().is_none() {
            gone = true;
            break;
        }
    }

    assert!(gone, "the stream expired");
    let everything = ListQuery {
        status: None,
        after: None,
        limit: 100,
    };
    let page = store.list(everything).await.unwrap();
    assert!(page.items.iter().all(|s| s.id != stream.id));
    let members: Vec<String> = store
        .conn
        .client()
        .zrange(store.index_key(false), 0, -1, None, false, None, false)
        .await
        .unwrap();
    assert!(
        members.is_empty(),
        "the listing dropped the entry of the expired stream"
    );
}

#[tokio::test]
async fn a_listing_between_a_creates_index_entry_and_its_write_does_not_lose_the_stream() {
    let (store, _server) = store_with(None).await;
    let mut stream = new_stream(SystemClock.now());
    let created = stream.record_creation(&ctx());

    store.index(&stream).await.unwrap();
    let during = store.list(live()).await.unwrap();
    assert_eq!(store.store_new(&stream, &created).await.unwrap(), "ok");
    let after = store.list(live()).await.unwrap();

    assert!(
        during.items.iter().all(|s| s.id != stream.id),
        "not there yet"
    );
    assert!(
        after.items.iter().any(|s| s.id == stream.id),
        "listed once written"
    );
}

#[tokio::test]
async fn hundreds_of_simultaneous_changes_of_one_stream_all_land_in_order() {
    let (store, _server) = store_with(None).await;
    let stream = inserted(&store).await;

    let writes = (0..300).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { store.apply(stream.id, retitle(&n.to_string()), ctx()).await })
    });
    let answers = futures_util::future::join_all(writes).await;

    let refused: Vec<_> = answers
        .into_iter()
        .filter_map(|a| a.unwrap().err())
        .collect();
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        refused.first()
    );
    let expected: Vec<u64> = (1..=301).collect();
    let log = store.read_after(stream.id, 0, 1000).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
}
