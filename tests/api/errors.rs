//! Malformed requests get a clear 4xx, never a 500, and change nothing.

use orchestrator_tests::{assert_error, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn stream_count(app: &TestApp) -> usize {
    let all = app.streams().await;
    all.len()
}

#[tokio::test]
async fn malformed_json_is_a_400_and_creates_nothing() {
    let app = spawn_app().await;

    let response = app
        .send_raw(
            Method::POST,
            "/streams",
            Some("application/json"),
            "{\"roomName\": ",
        )
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;

    let response = app
        .send_raw(Method::POST, "/streams", Some("text/plain"), "roomName=x")
        .await;

    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413() {
    let app = spawn_app().await;
    let huge = format!(
        "{{\"metadata\": {{\"blob\": \"{}\"}}}}",
        "x".repeat(70 * 1024)
    );

    let response = app
        .send_raw(Method::POST, "/streams", Some("application/json"), huge)
        .await;

    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_is_a_413_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /streams HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    for _ in 0..80 {
        // The server may answer and close before the whole body is sent.
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;

    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut answer),
    )
    .await;

    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn a_json_array_where_an_object_is_expected_is_a_400_and_creates_nothing() {
    let app = spawn_app().await;

    for body in ["[1,2]", "[]", r#"["a-room"]"#, "null", "3"] {
        let response = app
            .send_raw(Method::POST, "/streams", Some("application/json"), body)
            .await;

        assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    }
    assert_eq!(stream_count(&app).await, 0);
}

#[tokio::test]
async fn a_malformed_query_is_a_400() {
    let app = spawn_app().await;

    let response = app.list_streams("?limit=lots").await;

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn malformed_patch_join_and_leave_bodies_are_400s() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    for (method, path) in [
        (Method::PATCH, format!("/streams/{id}")),
        (Method::POST, format!("/streams/{id}/join")),
        (Method::POST, format!("/streams/{id}/leave")),
    ] {
        let response = app
            .send_raw(method, &path, Some("application/json"), "{oops")
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
    assert_eq!(app.state(&id).await["seq"], 1, "nothing changed");
}

#[tokio::test]
async fn an_unknown_route_and_an_unsupported_method_answer_in_the_envelope() {
    let app = spawn_app().await;

    let unknown = app.request(Method::GET, "/nowhere").send().await.unwrap();
    let put = app.request(Method::PUT, "/streams").send().await.unwrap();
    let post_metrics = app.request(Method::POST, "/metrics").send().await.unwrap();

    let unknown = assert_error(unknown, StatusCode::NOT_FOUND, "route_not_found").await;
    assert_eq!(unknown["message"], "no route matches GET /nowhere");
    let put = assert_error(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!(
        put["message"],
        "/streams does not support PUT (it supports GET, HEAD, POST)"
    );
    assert_error(
        post_metrics,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn every_refused_field_is_listed() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let create = app
        .create_stream(json!({"roomName": "", "metadata": [1]}))
        .await;
    let join = app.join(&id, json!({"role": "admin"})).await;

    let create = assert_error(create, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(create["field"], "roomName");
    assert_eq!(fields_of(&create), ["roomName", "metadata"]);
    let join = assert_error(join, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(fields_of(&join), ["participantName", "role"]);
    assert_eq!(
        join["message"],
        "participantName is required; role must be host or viewer (got \"admin\")"
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_names_its_field() {
    let app = spawn_app().await;

    let response = app.create_stream(json!({"roomName": 42})).await;

    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(error["field"], "roomName");
}

#[tokio::test]
async fn a_query_parameter_that_is_not_a_number_is_a_query_error_naming_it() {
    let app = spawn_app().await;

    let response = app.list_streams("?limit=lots").await;

    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(error["field"], "limit");
}

#[tokio::test]
async fn domain_errors_read_as_sentences() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let response = app.leave(&id, json!({"participantName": "user1"})).await;

    let error = assert_error(response, StatusCode::NOT_FOUND, "participant_not_found").await;
    assert_eq!(
        error["message"],
        "participant \"user1\" is not in this stream"
    );
}

fn fields_of(error: &Value) -> Vec<String> {
    error["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

/// Text a client sent that would reorder (U+202E) or hide (U+200B) what a reader sees.
const SNEAKY: &str = "ab\u{202e}cd\u{200b}ef\u{7}";

fn shows_no_raw_format_characters(text: &str) {
    assert!(
        !text.contains(['\u{202e}', '\u{200b}', '\u{7}']),
        "raw control or format characters in {text:?}"
    );
    assert!(text.contains("\\u{202e}"), "escaped instead: {text:?}");
}

#[tokio::test]
async fn grpc_errors_echo_bidirectional_and_invisible_characters_escaped() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;

    let refused = grpc
        .get_stream(orchestrator_grpc::proto::GetStreamRequest {
            stream_id: SNEAKY.into(),
        })
        .await
        .unwrap_err();

    assert_eq!(refused.code(), tonic::Code::NotFound);
    shows_no_raw_format_characters(refused.message());
}

#[tokio::test]
async fn websocket_errors_echo_bidirectional_and_invisible_characters_escaped() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    let mut ws = app.ws("/ws").await;

    for request in [
        json!({"type": "subscribe", "streamId": SNEAKY}),
        json!({"type": SNEAKY}),
    ] {
        ws.send(Message::text(request.to_string())).await.unwrap();
        let answer = loop {
            let frame = ws.next().await.unwrap().unwrap();
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "error" {
                break message;
            }
        };

        shows_no_raw_format_characters(&answer.to_string().replace("\\\\", "\\"));
        shows_no_raw_format_characters(answer["message"].as_str().unwrap());
    }
}
