//! The gRPC unary RPCs mirror REST, with one mapping from domain errors to gRPC codes.

use orchestrator_grpc::proto::{
    CreateStreamRequest, GetStreamRequest, GetStreamStateRequest, JoinStreamRequest,
    LeaveStreamRequest, ListStreamsRequest, ParticipantRole, StopStreamRequest, StreamStatus,
    UpdateStreamRequest,
};
use orchestrator_tests::spawn_app;
use prost_types::value::Kind;
use prost_types::{Struct, Value as StructValue};
use reqwest::StatusCode;
use serde_json::json;
use tonic::Code;

fn request_for(id: &str) -> GetStreamRequest {
    GetStreamRequest {
        stream_id: id.to_owned(),
    }
}

/// A `google.protobuf.Struct` of these fields.
fn object(fields: &[(&str, StructValue)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect(),
    }
}

fn text(value: &str) -> StructValue {
    StructValue {
        kind: Some(Kind::StringValue(value.to_owned())),
    }
}

fn number(value: f64) -> StructValue {
    StructValue {
        kind: Some(Kind::NumberValue(value)),
    }
}

#[tokio::test]
async fn the_unary_rpcs_mirror_rest() {
    let app = spawn_app().await;
    let mut client = app.grpc().await;

    let created = client
        .create_stream(CreateStreamRequest {
            room_name: "grpc-room".into(),
            metadata: Some(object(&[("title", text("hello"))])),
            ..CreateStreamRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status(), StreamStatus::Active);
    assert_eq!(created.room_name, "grpc-room");
    assert_eq!(created.metadata, Some(object(&[("title", text("hello"))])));
    assert!(created.created_at > 0 && created.started_at >= created.created_at);
    assert_eq!(created.stopped_at, 0, "not stopped");
    let id = created.id.clone();
    let rest: serde_json::Value = app.stream(&id).await;
    assert_eq!(rest["metadata"]["title"], "hello");

    let fetched = client
        .get_stream(request_for(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    let listed = client
        .list_streams(ListStreamsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.streams.iter().any(|s| s.id == id));

    let updated = client
        .update_stream(UpdateStreamRequest {
            stream_id: id.clone(),
            metadata: Some(object(&[("title", text("changed")), ("n", number(2.0))])),
            version: Some(created.version),
            ..UpdateStreamRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, created.version + 1);
    let rest: serde_json::Value = app.stream(&id).await;
    assert_eq!(rest["metadata"], json!({"title": "changed", "n": 2}));

    let ticket = client
        .join_stream(JoinStreamRequest {
            stream_id: id.clone(),
            identity: "bob".into(),
            role: ParticipantRole::Host.into(),
            metadata: Some(object(&[("seat", number(1.0))])),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!ticket.token.is_empty());
    assert_eq!(ticket.role(), ParticipantRole::Host);

    let state = client
        .get_stream_state(GetStreamStateRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.active_participants, 1);
    assert_eq!(state.seq, 3);
    assert!(!state.epoch.is_empty());
    let listed = client
        .list_streams(ListStreamsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let fetched = client
        .get_stream(request_for(&id))
        .await
        .unwrap()
        .into_inner();
    let listed = listed.streams.iter().find(|s| s.id == id).unwrap();
    assert_eq!(
        listed.participants[0].identity, "bob",
        "listed with its participants"
    );
    assert_eq!(
        listed, &fetched,
        "ListStreams shows a stream as GetStream does"
    );

    let after_leave = client
        .leave_stream(LeaveStreamRequest {
            stream_id: id.clone(),
            identity: "bob".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let bob = &after_leave.participants[0];
    assert!(bob.left_at >= bob.joined_at && bob.joined_at > 0, "{bob:?}");
    assert_eq!(
        (
            bob.metadata.get("seat").map(String::as_str),
            bob.structured_metadata.clone()
        ),
        (Some("1"), Some(object(&[("seat", number(1.0))])))
    );

    let stopped = client
        .stop_stream(StopStreamRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.status(), StreamStatus::Stopped);
    assert!(stopped.stopped_at >= stopped.started_at && stopped.started_at > 0);
}

#[tokio::test]
async fn domain_errors_map_to_grpc_codes() {
    let app = spawn_app().await;
    let mut client = app.grpc().await;
    let id = app.new_stream_id().await;
    assert_eq!(app.stop_stream(&id).await.status(), StatusCode::OK);

    let join_stopped = client
        .join_stream(JoinStreamRequest {
            stream_id: id.clone(),
            identity: "late".into(),
            ..JoinStreamRequest::default()
        })
        .await
        .unwrap_err();
    let unknown = client
        .get_stream(request_for(&uuid::Uuid::new_v4().to_string()))
        .await
        .unwrap_err();
    let empty_id = client.get_stream(request_for("")).await.unwrap_err();
    let bad_metadata = client
        .create_stream(CreateStreamRequest {
            metadata: Some(object(&[("n", number(f64::NAN))])),
            ..CreateStreamRequest::default()
        })
        .await
        .unwrap_err();
    let stale_version = {
        let live = app.new_stream_id().await;
        client
            .update_stream(UpdateStreamRequest {
                stream_id: live,
                metadata: Some(Struct::default()),
                version: Some(99),
                ..UpdateStreamRequest::default()
            })
            .await
            .unwrap_err()
    };
    let taken = {
        client
            .create_stream(CreateStreamRequest {
                room_name: "taken".into(),
                ..CreateStreamRequest::default()
            })
            .await
            .unwrap();
        client
            .create_stream(CreateStreamRequest {
                room_name: "taken".into(),
                ..CreateStreamRequest::default()
            })
            .await
            .unwrap_err()
    };

    assert_eq!(join_stopped.code(), Code::FailedPrecondition);
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(empty_id.code(), Code::InvalidArgument);
    assert_eq!(bad_metadata.code(), Code::InvalidArgument);
    assert_eq!(stale_version.code(), Code::Aborted);
    assert_eq!(taken.code(), Code::AlreadyExists);
}
