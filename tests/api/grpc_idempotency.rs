//! `idempotency-key` metadata on the gRPC mutating calls.

use orchestrator_grpc::proto::{CreateStreamRequest, JoinStreamRequest};
use orchestrator_tests::spawn_app;
use tonic::{Code, Request};

fn keyed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

fn create(room: &str) -> CreateStreamRequest {
    CreateStreamRequest {
        room_name: room.into(),
        ..CreateStreamRequest::default()
    }
}

#[tokio::test]
async fn a_retried_call_with_the_same_key_is_replayed_not_executed_again() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;

    let first = grpc
        .create_stream(keyed(create("g-once"), "g1"))
        .await
        .unwrap();
    let retry = grpc
        .create_stream(keyed(create("g-once"), "g1"))
        .await
        .unwrap();

    assert!(first.metadata().get("idempotent-replayed").is_none());
    assert_eq!(retry.metadata().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(retry.get_ref(), first.get_ref());
    let all = app.streams().await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_invalid_and_refusals_are_replayed() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    grpc.create_stream(keyed(create("g-a"), "g2"))
        .await
        .unwrap();

    let reused = grpc
        .create_stream(keyed(create("g-b"), "g2"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert!(reused.message().starts_with("idempotency_key_reused"));

    let unknown = JoinStreamRequest {
        stream_id: uuid::Uuid::new_v4().to_string(),
        identity: "ada".into(),
        ..JoinStreamRequest::default()
    };
    let first = grpc
        .join_stream(keyed(unknown.clone(), "g3"))
        .await
        .unwrap_err();
    let again = grpc.join_stream(keyed(unknown, "g3")).await.unwrap_err();
    assert_eq!(
        (first.code(), again.code()),
        (Code::NotFound, Code::NotFound)
    );
    assert_eq!(again.metadata().get("idempotent-replayed").unwrap(), "true");
}

#[tokio::test]
async fn an_overlong_key_is_invalid() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;

    let err = grpc
        .create_stream(keyed(create("g-long"), &"k".repeat(256)))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("invalid_idempotency_key"));
}
