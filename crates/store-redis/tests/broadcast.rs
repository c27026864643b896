//! Broadcast records in Redis hold secrets (a stream key, RTMP targets with their keys): they
//! are sealed, so reading Redis shows neither.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator_domain::broadcast::{
    BroadcastRecord, BroadcastRepository, BroadcastWrite, Ingest, IngestKind, IngestState, Output,
    OutputId, OutputKind, RtmpTarget, Secret,
};
use orchestrator_domain::ports::{Clock, StreamRepository, SystemClock};
use orchestrator_domain::{
    change::ChangeContext, event::EventType, stream::Stream, values::Metadata, values::RoomName,
    values::StreamId,
};
use orchestrator_store_redis::broadcast::RedisBroadcasts;
use orchestrator_store_redis::{RedisConfig, RedisStore};
use uuid::Uuid;

fn ctx() -> ChangeContext {
    ChangeContext {
        event_id: Uuid::new_v4(),
        at: SystemClock.now(),
        instance_id: "sealing".into(),
    }
}

#[tokio::test]
async fn stream_keys_and_rtmp_targets_are_never_in_redis_in_the_clear() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let store = RedisStore::connect(RedisConfig {
        key_prefix: prefix.clone(),
        ..RedisConfig::new(server.url())
    })
    .await
    .unwrap();
    let broadcasts = RedisBroadcasts::new(store.connection().clone(), b"sealing secret").unwrap();
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::new(format!("sealed-{}", Uuid::new_v4().simple())).unwrap(),
        None,
        Metadata::default(),
        SystemClock.now(),
    );
    let created = stream.record_creation(&ctx());
    store.insert(stream, created).await.unwrap();
    let ingest = Ingest {
        ingress_id: "IN_1".into(),
        kind: IngestKind::Rtmp,
        url: "rtmp://media.test/live".into(),
        stream_key: Secret::new("sk_plainly_visible_key"),
        state: IngestState::Inactive,
        error: None,
        revision: 1,
        created_at: SystemClock.now(),
        updated_at: SystemClock.now(),
    };
    let target = RtmpTarget::new("rtmps://live.example.com/app/target_plain_key").unwrap();
    let mut output = Output::new(
        OutputId::new("restream").unwrap(),
        OutputKind::rtmp(vec![target]).unwrap(),
        true,
        SystemClock.now(),
    );
    output.revision = 1;
    for record in [
        BroadcastRecord::Ingest(Some(ingest.clone())),
        BroadcastRecord::Output {
            id: output.id.clone(),
            output: Some(output.clone()),
        },
    ] {
        let write = BroadcastWrite {
            record,
            expected: None,
            event: Some((EventType::OutputAdded, serde_json::json!({}))),
            require_active: true,
        };
        broadcasts.write_broadcast(id, write, ctx()).await.unwrap();
    }

    let key = format!("{prefix}{{{id}}}:broadcast");
    let raw = redis_harness::redis_cli(server.port(), &["--no-raw", "HGETALL", &key]);

    assert!(raw.contains("ingest.rev"), "{raw}");
    assert!(!raw.contains("sk_plainly_visible_key"), "{raw}");
    assert!(!raw.contains("target_plain_key"), "{raw}");
    let state = broadcasts.broadcast(id).await.unwrap();
    assert_eq!(state.ingest, Some(ingest));
    assert_eq!(state.outputs, vec![output]);
}
