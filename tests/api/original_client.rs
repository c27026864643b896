//! A backend service of the original product keeps working: its client, generated from the
//! original's `streams.proto` (`tests/fixtures/original_streams.proto`, built by
//! `tests/build.rs`), subscribes and decodes every event of a stream's life, each field with
//! the original's meaning.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orchestrator_grpc::proto as ours;
use orchestrator_tests::{spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Streaming;

use original::stream_event::EventData;
use original::{Participant, StreamEventType, StreamStatus};

/// The client a service of the original product generated.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::wildcard_enum_match_arm,
    clippy::unwrap_used
)]
mod original {
    include!(concat!(
        env!("OUT_DIR"),
        "/original/livestream.orchestrator.v1.rs"
    ));
}

type OriginalClient =
    original::stream_service_client::StreamServiceClient<tonic::transport::Channel>;

const WAIT: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

fn strings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Every event until the server ends the stream.
async fn until_end(mut events: Streaming<original::StreamEvent>) -> Vec<original::StreamEvent> {
    let mut received = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, events.message())
            .await
            .expect("a message within 5 s")
            .expect("decodable by the original's client");
        match next {
            Some(event) => received.push(event),
            None => return received,
        }
    }
}

/// The whole log decoded by the original's message definitions. The original's request
/// cannot ask for a replay (it has no after_seq), so this one is sent with ours; the answer
/// is what every client receives.
async fn replay_decoded_as_original(app: &TestApp, id: &str) -> Vec<original::StreamEvent> {
    let mut grpc = tonic::client::Grpc::new(app.grpc_channel().await);
    grpc.ready().await.unwrap();
    let request = ours::SubscribeRequest {
        stream_id: id.to_owned(),
        after_seq: Some(0),
        ..ours::SubscribeRequest::default()
    };
    let codec = tonic_prost::ProstCodec::<ours::SubscribeRequest, original::StreamEvent>::default();
    let path = PathAndQuery::from_static("/livestream.orchestrator.v1.StreamService/Subscribe");
    let events = grpc
        .server_streaming(tonic::Request::new(request), path, codec)
        .await
        .unwrap()
        .into_inner();
    until_end(events).await
}

/// What the stream looks like through our GetStream, to check the events' participants by.
async fn participants_by_identity(app: &TestApp, id: &str) -> HashMap<String, ours::Participant> {
    let stream = app
        .grpc()
        .await
        .get_stream(ours::GetStreamRequest {
            stream_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    stream
        .participants
        .into_iter()
        .map(|p| (p.identity.clone(), p))
        .collect()
}

async fn ok(response: reqwest::Response) {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.text().await
    );
}

/// The life of a stream as a backend service sees it: created with metadata; its metadata
/// changed; a host and a viewer join; the viewer leaves; it fails (status error); it is
/// stopped. Returns the stream's id and the events the original's client received live.
async fn live_a_whole_life(
    app: &TestApp,
    client: &mut OriginalClient,
) -> (String, Vec<original::StreamEvent>) {
    let created = app
        .created_stream(
            json!({"roomName": "launch-room", "metadata": {"title": "Launch", "tier": 2}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let events = client
        .subscribe(original::SubscribeRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    ok(app
        .update_stream(
            &id,
            json!({"metadata": {"title": "Launch day", "tags": ["a", "b"]}}),
        )
        .await)
    .await;
    app.joined(&id, json!({"participantName": "ada", "role": "host", "metadata": {"seat": "stage", "mic": true}}))
        .await;
    app.joined(&id, json!({"participantName": "bob"})).await;
    ok(app.leave(&id, json!({"participantName": "bob"})).await).await;
    ok(app.update_stream(&id, json!({"status": "error"})).await).await;
    ok(app.stop_stream(&id).await).await;
    (id, until_end(events).await)
}

#[tokio::test]
async fn a_client_generated_from_the_original_proto_decodes_every_event_of_a_streams_life() {
    let app = spawn_app().await;
    let mut client = OriginalClient::new(app.grpc_channel().await);
    let started = now_ms();

    let (id, live) = live_a_whole_life(&app, &mut client).await;

    let finished = now_ms();
    let replayed = replay_decoded_as_original(&app, &id).await;
    let people = participants_by_identity(&app, &id).await;
    let (ada, bob) = (&people["ada"], &people["bob"]);
    // Events carry what changed: the keys the PATCH set, not the whole metadata again.
    let metadata_patched = strings(&[("title", "Launch day"), ("tags", r#"["a","b"]"#)]);
    let participant =
        |p: &ours::Participant, metadata: HashMap<String, String>, left_at| Participant {
            id: p.id.clone(),
            identity: p.identity.clone(),
            joined_at: p.joined_at,
            left_at,
            metadata,
        };
    let ada_joined = participant(ada, strings(&[("seat", "stage"), ("mic", "true")]), 0);
    let bob_joined = participant(bob, HashMap::new(), 0);
    let bob_left = participant(bob, HashMap::new(), bob.left_at);
    let updated = |previous: StreamStatus, current: StreamStatus, metadata| {
        EventData::StreamUpdated(original::StreamUpdatedData {
            previous_status: previous.into(),
            current_status: current.into(),
            metadata,
        })
    };
    let expected = [
        (
            StreamEventType::StreamCreated,
            EventData::StreamCreated(original::StreamCreatedData {
                room_name: "launch-room".into(),
                metadata: strings(&[("title", "Launch"), ("tier", "2")]),
            }),
        ),
        (
            StreamEventType::StreamUpdated,
            updated(StreamStatus::Active, StreamStatus::Active, metadata_patched),
        ),
        (
            StreamEventType::ParticipantJoined,
            EventData::ParticipantJoined(original::ParticipantJoinedData {
                participant: Some(ada_joined),
            }),
        ),
        (
            StreamEventType::ParticipantJoined,
            EventData::ParticipantJoined(original::ParticipantJoinedData {
                participant: Some(bob_joined),
            }),
        ),
        (
            StreamEventType::ParticipantLeft,
            EventData::ParticipantLeft(original::ParticipantLeftData {
                participant: Some(bob_left),
            }),
        ),
        (
            StreamEventType::StreamUpdated,
            updated(StreamStatus::Active, StreamStatus::Error, HashMap::new()),
        ),
        (
            StreamEventType::StreamUpdated,
            updated(StreamStatus::Error, StreamStatus::Stopping, HashMap::new()),
        ),
        (
            StreamEventType::StreamStopped,
            EventData::StreamStopped(original::StreamStoppedData {
                room_name: "launch-room".into(),
            }),
        ),
    ];

    assert_eq!(replayed.len(), expected.len(), "{replayed:#?}");
    for (event, (event_type, data)) in replayed.iter().zip(expected) {
        assert_eq!(event.event_type(), event_type, "{event:#?}");
        assert_eq!(event.stream_id, id, "{event:#?}");
        assert!(
            (started..=finished).contains(&event.timestamp),
            "unix ms during the test: {event:#?}"
        );
        assert_eq!(event.event_data, Some(data), "{event:#?}");
    }
    assert!(replayed
        .windows(2)
        .all(|pair| pair[0].timestamp <= pair[1].timestamp));
    for person in [ada, bob] {
        assert!(
            (started..=finished).contains(&person.joined_at),
            "{person:?}"
        );
    }
    assert!(
        bob.left_at >= bob.joined_at && bob.left_at <= finished,
        "{bob:?}"
    );
    assert_eq!(live, replayed[1..], "live, the same events as in the log");
}

#[tokio::test]
async fn a_client_generated_from_the_original_proto_skips_broadcast_events_and_decodes_the_rest() {
    let app = spawn_app().await;
    let mut client = OriginalClient::new(app.grpc_channel().await);
    let created = app
        .created_stream(json!({"roomName": "broadcast-room", "outputs": [{"type": "hls"}]}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let events = client
        .subscribe(original::SubscribeRequest {
            stream_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let ingest = app
        .request(reqwest::Method::POST, &format!("/streams/{id}/ingest"))
        .json(&json!({"type": "whip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), StatusCode::CREATED);
    app.joined(&id, json!({"participantName": "ada", "role": "host"}))
        .await;
    ok(app.stop_stream(&id).await).await;
    let live = until_end(events).await;

    let kinds: Vec<StreamEventType> = live.iter().map(|e| e.event_type()).collect();
    // Ours: ingest_created, participant_joined, output_updated (stopped), ingest_removed,
    // stream_updated (stopping), stream_stopped.
    assert!(
        kinds.contains(&StreamEventType::ParticipantJoined),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&StreamEventType::StreamStopped));
    let unknown: Vec<&original::StreamEvent> = live
        .iter()
        .filter(|e| e.event_type() == StreamEventType::Unknown)
        .collect();
    assert!(
        !unknown.is_empty(),
        "broadcast events reach it as unknown types"
    );
    assert!(
        unknown
            .iter()
            .all(|e| e.event_data.is_none() && e.stream_id == id),
        "their payloads are skipped, the envelope read: {unknown:#?}"
    );
    assert!(live
        .iter()
        .filter(|e| e.event_type() != StreamEventType::Unknown)
        .all(|e| e.event_data.is_some()));
}
