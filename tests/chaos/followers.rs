//! Subscribers that survive their instance: they follow one stream over WebSocket or gRPC,
//! and whenever the connection ends (a crash, a shutdown, an error) they reconnect to the next
//! instance and resume from the last seq they were delivered. Everything they are delivered
//! goes into the [`History`]; they stop once they reached the target seq the test sets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use orchestrator_grpc::proto::stream_event::EventData;
use orchestrator_grpc::proto::{StreamEvent, StreamEventType, SubscribeRequest};
use orchestrator_tests::history::{Change, History};
use orchestrator_tests::GrpcClient;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

/// How long a follower keeps trying before it gives up (the history then shows what it missed).
const GIVE_UP: Duration = Duration::from_secs(60);

/// Where a follower stands.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Connections it opened (1 + reconnections).
    pub connections: usize,
    /// `resync_required` answers it got.
    pub resyncs: usize,
}

/// The seq a follower stops at (0: not known yet).
#[derive(Debug, Clone, Default)]
pub struct Target(Arc<AtomicU64>);

impl Target {
    pub fn set(&self, seq: u64) {
        self.0.store(seq, Ordering::Relaxed);
    }

    fn reached(&self, last: u64) -> bool {
        let target = self.0.load(Ordering::Relaxed);
        target > 0 && last >= target
    }
}

/// Follows `stream` over WebSocket, starting at `urls[0]` and moving on along `urls`.
pub async fn websocket(
    name: String,
    stream: String,
    urls: Vec<String>,
    history: History,
    target: Target,
) -> Report {
    let mut report = Report::default();
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut next = 0;
    while tokio::time::Instant::now() < deadline {
        let url = &urls[next % urls.len()];
        next += 1;
        let last = history.last_delivered(&name, &stream);
        if target.reached(last) {
            break;
        }
        let Ok(Ok((mut socket, _))) = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        report.connections += 1;
        history.resumed(&name, &stream, last);
        let subscribe = json!({"type": "subscribe", "streamId": stream, "afterSeq": last});
        if socket
            .send(Message::text(subscribe.to_string()))
            .await
            .is_err()
        {
            continue;
        }
        loop {
            if target.reached(history.last_delivered(&name, &stream)) {
                let _ = socket.close(None).await;
                return report;
            }
            let frame = match tokio::time::timeout(Duration::from_millis(500), socket.next()).await
            {
                Err(_) => continue,
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(_)) | None) => break,
            };
            let Message::Text(text) = frame else {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
                continue;
            };
            let message: Value = serde_json::from_str(&text).unwrap_or_default();
            match message["type"].as_str() {
                Some("event") => history.delivered(
                    &name,
                    &stream,
                    message["seq"].as_u64().unwrap_or_default(),
                    Change::from_event_json(&message["event"]),
                ),
                Some("resync_required") => {
                    report.resyncs += 1;
                    return report;
                }
                // The store is down: resubscribe (elsewhere) from the last seq.
                Some("error") => break,
                _ => {}
            }
        }
    }
    report
}

/// Follows `stream` over gRPC `Subscribe`, starting at `urls[0]` and moving on along `urls`.
pub async fn grpc(
    name: String,
    stream: String,
    urls: Vec<String>,
    history: History,
    target: Target,
) -> Report {
    let mut report = Report::default();
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut next = 0;
    while tokio::time::Instant::now() < deadline {
        let url = urls[next % urls.len()].clone();
        next += 1;
        let last = history.last_delivered(&name, &stream);
        if target.reached(last) {
            break;
        }
        let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url) else {
            continue;
        };
        let Ok(channel) = endpoint
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        report.connections += 1;
        history.resumed(&name, &stream, last);
        let request = SubscribeRequest {
            stream_id: stream.clone(),
            after_seq: Some(last),
            ..SubscribeRequest::default()
        };
        let mut events = match GrpcClient::new(channel).subscribe(request).await {
            Ok(events) => events.into_inner(),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                report.resyncs += 1;
                return report;
            }
            Err(_) => continue,
        };
        loop {
            if target.reached(history.last_delivered(&name, &stream)) {
                return report;
            }
            match tokio::time::timeout(Duration::from_millis(500), events.message()).await {
                Err(_) => {}
                Ok(Ok(Some(event))) => {
                    history.delivered(&name, &stream, event.seq, change_of(&event));
                }
                Ok(Ok(None) | Err(_)) => break,
            }
        }
    }
    report
}

/// A gRPC event as the history compares it (the same as its JSON twin).
fn change_of(event: &StreamEvent) -> Change {
    let kind = match StreamEventType::try_from(event.event_type) {
        Ok(StreamEventType::StreamCreated) => "stream_created",
        Ok(StreamEventType::StreamUpdated) => "stream_updated",
        Ok(StreamEventType::StreamStopped) => "stream_stopped",
        Ok(StreamEventType::ParticipantJoined) => "participant_joined",
        Ok(StreamEventType::ParticipantLeft) => "participant_left",
        Ok(StreamEventType::ParticipantUpdated) => "participant_updated",
        Ok(StreamEventType::AudienceUpdated) => "audience_updated",
        Ok(StreamEventType::IngestCreated) => "ingest_created",
        Ok(StreamEventType::IngestUpdated) => "ingest_updated",
        Ok(StreamEventType::IngestRemoved) => "ingest_removed",
        Ok(StreamEventType::OutputAdded) => "output_added",
        Ok(StreamEventType::OutputUpdated) => "output_updated",
        Ok(StreamEventType::OutputRemoved) => "output_removed",
        Ok(StreamEventType::Unknown) | Err(_) => "unknown",
    };
    let metadata = match &event.event_data {
        Some(EventData::StreamCreated(data)) => data.structured_metadata.as_ref().map(to_json),
        Some(EventData::StreamUpdated(data)) => data.metadata_patch.as_ref().map(to_json),
        _ => None,
    };
    Change::new(kind, metadata)
}

fn to_json(fields: &prost_types::Struct) -> Value {
    Value::Object(
        fields
            .fields
            .iter()
            .map(|(key, value)| (key.clone(), value_to_json(value)))
            .collect::<Map<_, _>>(),
    )
}

fn value_to_json(value: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        // JSON integers travel as doubles in a Struct; compare them as the integers they were.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9e15 => json!(*n as i64),
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::StructValue(s)) => to_json(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(value_to_json).collect())
        }
    }
}
