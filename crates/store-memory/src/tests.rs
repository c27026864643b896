//! The repository and event-log contract, on the in-memory store.

use chrono::Utc;
use domain::ports::{EventLog, InsertError, ListError, ListQuery, StreamRepository};
use domain::{
    Change, ChangeContext, EventType, Identity, Metadata, Role, RoomName, Stream, StreamEvent,
    StreamId, StreamStatus,
};
use futures_util::StreamExt;
use uuid::Uuid;

use super::{MemoryStore, MemoryStoreConfig};

fn ctx() -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: Utc::now(),
        instance_id: "test".into(),
    }
}

fn new_stream(room: &str) -> (Stream, StreamEvent) {
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::new(room).unwrap(),
        None,
        Metadata::default(),
        Utc::now(),
    );
    let event = stream.record_creation(&ctx());
    (stream, event)
}

async fn inserted(store: &MemoryStore, room: &str) -> Stream {
    let (stream, event) = new_stream(room);
    store.insert(stream.clone(), event).await.unwrap();
    stream
}

fn join(name: &str) -> Change {
    Change::Join {
        participant_id: Uuid::new_v4(),
        identity: Identity::new(name).unwrap(),
        role: Role::Viewer,
        metadata: None,
    }
}

fn query(limit: usize) -> ListQuery {
    ListQuery {
        status: None,
        after: None,
        limit,
    }
}

#[tokio::test]
async fn an_inserted_stream_can_be_read_back_and_found_by_room() {
    let store = MemoryStore::default();
    let stream = inserted(&store, "studio").await;

    assert_eq!(store.get(stream.id).await.unwrap(), Some(stream.clone()));
    let by_room = store.find_live_by_room(&stream.room_name).await.unwrap();
    assert_eq!(by_room.map(|s| s.id), Some(stream.id));
    assert_eq!(
        store
            .get(StreamId::from_uuid(Uuid::new_v4()))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_room_name_is_unique_among_streams_that_are_not_stopped() {
    let store = MemoryStore::default();
    let first = inserted(&store, "studio").await;
    let (second, event) = new_stream("studio");

    assert_eq!(
        store.insert(second.clone(), event.clone()).await,
        Err(InsertError::RoomNameTaken(second.room_name.clone()))
    );

    store
        .apply(first.id, Change::BeginStop, ctx())
        .await
        .unwrap();
    store
        .apply(first.id, Change::FinishStop, ctx())
        .await
        .unwrap();
    assert_eq!(
        store.find_live_by_room(&first.room_name).await.unwrap(),
        None
    );
    store.insert(second, event).await.unwrap();
}

#[tokio::test]
async fn inserting_the_same_id_twice_is_refused() {
    let store = MemoryStore::default();
    let (stream, event) = new_stream("studio");
    store.insert(stream.clone(), event.clone()).await.unwrap();
    let mut renamed = stream.clone();
    renamed.room_name = RoomName::new("other").unwrap();

    assert_eq!(
        store.insert(renamed, event).await,
        Err(InsertError::DuplicateId(stream.id))
    );
}

#[tokio::test]
async fn applied_changes_are_stored_with_gapless_events_and_no_ops_store_nothing() {
    let store = MemoryStore::default();
    let stream = inserted(&store, "studio").await;

    let joined = store.apply(stream.id, join("ada"), ctx()).await.unwrap();
    let again = store.apply(stream.id, join("ada"), ctx()).await.unwrap();
    let left = store
        .apply(
            stream.id,
            Change::Leave {
                identity: Identity::new("ada").unwrap(),
            },
            ctx(),
        )
        .await
        .unwrap();

    assert_eq!(joined.event.unwrap().seq, 2);
    assert_eq!(again.event, None);
    assert_eq!(left.event.unwrap().seq, 3);
    let log = store.read_after(stream.id, 0, 100).await.unwrap();
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    let kinds: Vec<EventType> = log.iter().map(|e| e.kind).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(
        kinds,
        [
            EventType::StreamCreated,
            EventType::ParticipantJoined,
            EventType::ParticipantLeft
        ]
    );
    assert_eq!(store.get(stream.id).await.unwrap().unwrap().seq, 3);
}

#[tokio::test]
async fn a_refused_change_stores_nothing() {
    let store = MemoryStore::default();
    let stream = inserted(&store, "studio").await;
    let refused = Change::Update {
        status: Some(StreamStatus::Creating),
        metadata: None,
        expected: None,
    };

    assert!(store.apply(stream.id, refused, ctx()).await.is_err());
    assert_eq!(store.get(stream.id).await.unwrap(), Some(stream.clone()));
    assert_eq!(store.read_after(stream.id, 0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn applying_to_an_unknown_stream_is_not_found() {
    let store = MemoryStore::default();
    let err = store
        .apply(
            StreamId::from_uuid(Uuid::new_v4()),
            Change::BeginStop,
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err, domain::ports::ApplyError::NotFound);
}

#[tokio::test]
async fn listing_pages_through_everything_in_creation_order() {
    let store = MemoryStore::default();
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(inserted(&store, &format!("room-{n}")).await.id);
    }

    let mut seen = Vec::new();
    let mut page = store.list(query(3)).await.unwrap();
    loop {
        seen.extend(page.items.iter().map(|s| s.id));
        let Some(next) = page.next else { break };
        page = store
            .list(ListQuery {
                after: Some(next),
                ..query(3)
            })
            .await
            .unwrap();
    }

    assert_eq!(seen, created);
}

#[tokio::test]
async fn listing_filters_by_status_and_the_last_page_has_no_cursor() {
    let store = MemoryStore::default();
    let live = inserted(&store, "live").await;
    let stopped = inserted(&store, "gone").await;
    store
        .apply(stopped.id, Change::BeginStop, ctx())
        .await
        .unwrap();

    let page = store
        .list(ListQuery {
            status: Some(StreamStatus::Active),
            ..query(10)
        })
        .await
        .unwrap();

    assert_eq!(
        page.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [live.id]
    );
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn a_cursor_from_elsewhere_is_refused() {
    let store = MemoryStore::default();
    for bad in ["", "m", "mx", "42", "r1"] {
        let result = store
            .list(ListQuery {
                after: Some(domain::Cursor::new(bad)),
                ..query(1)
            })
            .await;
        assert_eq!(result, Err(ListError::InvalidCursor), "{bad:?}");
    }
}

#[tokio::test]
async fn reading_after_a_seq_returns_only_later_events_up_to_the_limit() {
    let store = MemoryStore::default();
    let stream = inserted(&store, "studio").await;
    for n in 0..5 {
        store
            .apply(stream.id, join(&format!("p{n}")), ctx())
            .await
            .unwrap();
    }

    let after_two: Vec<u64> = store
        .read_after(stream.id, 2, 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();

    assert_eq!(after_two, [3, 4]);
    assert!(store.read_after(stream.id, 6, 10).await.unwrap().is_empty());
    assert!(store
        .read_after(StreamId::from_uuid(Uuid::new_v4()), 0, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_events() {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_events_per_stream: 3,
        ..MemoryStoreConfig::default()
    });
    let stream = inserted(&store, "studio").await;
    for n in 0..4 {
        store
            .apply(stream.id, join(&format!("p{n}")), ctx())
            .await
            .unwrap();
    }

    let kept: Vec<u64> = store
        .read_after(stream.id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();

    assert_eq!(kept, [3, 4, 5]);
    let tail: Vec<u64> = store
        .read_after(stream.id, 3, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(tail, [4, 5]);
}

#[tokio::test]
async fn subscribers_receive_every_later_event_in_order() {
    let store = MemoryStore::default();
    let mut feed = store.subscribe();
    let stream = inserted(&store, "studio").await;
    store.apply(stream.id, join("ada"), ctx()).await.unwrap();
    store.apply(stream.id, join("ada"), ctx()).await.unwrap();
    store
        .apply(stream.id, Change::BeginStop, ctx())
        .await
        .unwrap();

    let mut seqs = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
            .await
            .expect("event within 5 s")
            .expect("feed open");
        seqs.push(event.seq);
    }

    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn concurrent_joins_of_one_identity_make_one_participant_and_one_event() {
    let store = MemoryStore::default();
    let stream = inserted(&store, "studio").await;

    let joins = (0..100).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.apply(stream.id, join("ada"), ctx()).await })
    });
    let mut events = 0;
    for handle in joins {
        if handle.await.unwrap().unwrap().event.is_some() {
            events += 1;
        }
    }

    assert_eq!(events, 1);
    assert_eq!(
        store
            .get(stream.id)
            .await
            .unwrap()
            .unwrap()
            .participants
            .len(),
        1
    );
}
