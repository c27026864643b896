//! W3C Trace Context: a request's `traceparent` (REST or gRPC) reaches the LiveKit calls it
//! causes, as the same trace with the request's own span as the parent; an invalid one is
//! ignored, never refused.

use orchestrator_grpc::proto::CreateStreamRequest;
use orchestrator_tests::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn caller_traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// The `traceparent` of every `CreateRoom` the app's LiveKit received.
fn create_room_traces(app: &TestApp) -> Vec<Option<String>> {
    app.emulator()
        .recent_calls()
        .into_iter()
        .filter(|call| call.method == "CreateRoom")
        .map(|call| call.traceparent)
        .collect()
}

/// Checks that `traceparent` continues the caller's trace from a span of the orchestrator's.
fn assert_continues_the_callers_trace(traceparent: Option<&str>) {
    let traceparent = traceparent.expect("the LiveKit call carries a traceparent");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], TRACE_ID, "the same trace");
    assert_eq!(fields[2].len(), 16);
    assert_ne!(
        fields[2], CALLER_SPAN,
        "a span of the orchestrator's as the parent"
    );
    assert_eq!(fields[3], "01", "the sampling decision passed on");
}

#[tokio::test]
async fn a_rest_requests_traceparent_reaches_the_livekit_call_it_causes() {
    let app = spawn_app().await;

    let created = app
        .request(Method::POST, "/streams")
        .header("traceparent", caller_traceparent())
        .send()
        .await
        .unwrap();

    assert_eq!(created.status(), StatusCode::CREATED);
    let traces = create_room_traces(&app);
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_continues_the_callers_trace(traces[0].as_deref());
}

#[tokio::test]
async fn a_grpc_calls_traceparent_reaches_the_livekit_call_it_causes() {
    let app = spawn_app().await;
    let mut request = tonic::Request::new(CreateStreamRequest::default());
    request
        .metadata_mut()
        .insert("traceparent", caller_traceparent().parse().unwrap());

    app.grpc().await.create_stream(request).await.unwrap();

    let traces = create_room_traces(&app);
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_continues_the_callers_trace(traces[0].as_deref());
}

#[tokio::test]
async fn an_invalid_traceparent_is_ignored() {
    let app = spawn_app().await;
    let zero_trace = format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32));

    let mut statuses = Vec::new();
    for traceparent in ["garbage", zero_trace.as_str()] {
        let created = app
            .request(Method::POST, "/streams")
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        statuses.push(created.status());
    }

    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CREATED]);
    assert_eq!(create_room_traces(&app), [None, None]);
}
