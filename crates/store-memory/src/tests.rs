//! What only the in-memory store does; the shared contract (tests/contract.rs) covers the rest.

use chrono::Utc;
use domain::ports::{EventLog, StreamRepository};
use domain::{Change, ChangeContext, Identity, Metadata, Role, RoomName, Stream, StreamId};
use uuid::Uuid;

use super::{MemoryStore, MemoryStoreConfig};

fn ctx() -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: Utc::now(),
        instance_id: "test".into(),
    }
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_events() {
    let store = MemoryStore::new(MemoryStoreConfig {
        max_events_per_stream: 3,
        ..MemoryStoreConfig::default()
    });
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::new("studio").unwrap(),
        None,
        Metadata::default(),
        Utc::now(),
    );
    let created = stream.record_creation(&ctx());
    store.insert(stream, created).await.unwrap();
    for n in 0..4 {
        let join = Change::Join {
            participant_id: Uuid::new_v4(),
            identity: Identity::new(format!("p{n}")).unwrap(),
            role: Role::Viewer,
            metadata: None,
        };
        store.apply(id, join, ctx()).await.unwrap();
    }

    let kept: Vec<u64> = store
        .read_after(id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let tail: Vec<u64> = store
        .read_after(id, 3, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();

    assert_eq!(kept, [3, 4, 5]);
    assert_eq!(tail, [4, 5]);
}
