//! What only the in-memory store does; the shared contract (tests/contract.rs) covers the rest.

use std::time::Duration;

use orchestrator_domain::ports::{Clock, SystemClock};
use orchestrator_domain::ports::{EventLog, StreamRepository};
use orchestrator_domain::{
    change::Change, change::ChangeContext, membership::ParticipantChange, participant::Role,
    stream::Stream, values::Identity, values::Metadata, values::RoomName, values::StreamId,
};
use uuid::Uuid;

use super::{MemoryStore, MemoryStoreConfig};

fn ctx() -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: SystemClock.now(),
        instance_id: "test".into(),
    }
}

async fn inserted(store: &MemoryStore, room: &str) -> StreamId {
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::new(room).unwrap(),
        None,
        Metadata::default(),
        SystemClock.now(),
    );
    let created = stream.record_creation(&ctx());
    store.insert(stream, created).await.unwrap();
    id
}

fn join(name: &str) -> ParticipantChange {
    ParticipantChange::Join {
        participant_id: Uuid::new_v4(),
        identity: Identity::new(name).unwrap(),
        role: Role::Viewer,
        metadata: None,
    }
}

async fn stop(store: &MemoryStore, id: StreamId) {
    store.apply(id, Change::BeginStop, ctx()).await.unwrap();
    store.apply(id, Change::FinishStop, ctx()).await.unwrap();
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_events() {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_events_per_stream: 3,
        ..MemoryStoreConfig::default()
    });
    let id = inserted(&store, "studio").await;
    for n in 0..4 {
        store
            .apply_participant(id, join(&format!("p{n}")), ctx())
            .await
            .unwrap();
    }

    let seqs = |events: Vec<orchestrator_domain::event::StreamEvent>| -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    };
    let kept = seqs(store.read_after(id, 0, 10).await.unwrap());
    let tail = seqs(store.read_after(id, 3, 10).await.unwrap());

    assert_eq!(kept, [3, 4, 5]);
    assert_eq!(tail, [4, 5]);
}

#[tokio::test]
async fn stopped_streams_are_evicted_with_their_participants_after_the_retention() {
    let store = MemoryStore::new(MemoryStoreConfig {
        stopped_retention: Duration::ZERO,
        ..MemoryStoreConfig::default()
    });
    let done = inserted(&store, "done").await;
    store
        .apply_participant(done, join("ada"), ctx())
        .await
        .unwrap();
    stop(&store, done).await;

    // Eviction happens on the next write: nothing runs in the background.
    let live = inserted(&store, "live").await;

    assert_eq!(store.get(done).await.unwrap(), None);
    assert_eq!(
        store
            .participant(done, &Identity::new("ada").unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(store.read_after(done, 0, 10).await.unwrap().is_empty());
    assert!(store.get(live).await.unwrap().is_some());
    assert_eq!(store.stream_count(), 1);
}

#[tokio::test]
async fn stopped_streams_stay_readable_during_the_retention() {
    let store = MemoryStore::new(MemoryStoreConfig {
        stopped_retention: Duration::from_secs(3600),
        ..MemoryStoreConfig::default()
    });
    let done = inserted(&store, "done").await;
    stop(&store, done).await;

    inserted(&store, "next").await;

    assert!(store.get(done).await.unwrap().unwrap().is_stopped());
}
