//! Operator API keys: configured by their SHA-256, sent as `Authorization: Bearer <key>` on
//! REST, on the WebSocket handshake (or traded for a short-lived ticket a browser passes as
//! `?ticket=`), and as gRPC `authorization` metadata. Without a valid key nothing is read or
//! changed; a read-only key reads; probes and LiveKit's signed webhooks stay open.

use futures_util::StreamExt;
use orchestrator::Settings;
use orchestrator_domain::policy::access::{KeyEntry, Scope};
use orchestrator_grpc::proto::{CreateStreamRequest, GetStreamRequest, SubscribeRequest};
use orchestrator_tests::{assert_error, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};
use tonic::Code;

const WRITER: &str = "lso_writer-key-of-the-auth-tests";
const READER: &str = "lso_reader-key-of-the-auth-tests";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// An app that requires keys: one full key, one read-only.
async fn app_with_keys() -> TestApp {
    spawn_app_with(settings_with_keys()).await
}

fn settings_with_keys() -> Settings {
    let mut settings = Settings::for_tests();
    settings.auth.api_keys = vec![
        KeyEntry::for_key(WRITER, Scope::Write).to_string(),
        KeyEntry::for_key(READER, Scope::Read).to_string(),
    ];
    settings
}

async fn create_as(app: &TestApp, key: &str) -> reqwest::Response {
    app.request(Method::POST, "/streams")
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

async fn streams_as(app: &TestApp, key: &str) -> Vec<Value> {
    let response = app
        .request(Method::GET, "/streams")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn without_a_valid_key_every_route_is_401_with_a_bearer_challenge_and_nothing_changes() {
    let app = app_with_keys().await;

    let missing = app.create_stream(json!({})).await;
    let wrong = create_as(&app, "lso_not-a-configured-key").await;
    let malformed = app
        .request(Method::GET, "/streams")
        .header("Authorization", WRITER)
        .send()
        .await
        .unwrap();

    assert_eq!(
        missing.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"livestream-orchestrator\""
    );
    assert_error(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        !wrong.to_string().contains("not-a-configured-key"),
        "{wrong}"
    );
    assert_error(malformed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        streams_as(&app, WRITER).await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_write_key_may_do_everything() {
    let app = app_with_keys().await;

    let created = create_as(&app, WRITER).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stopped = app
        .request(Method::DELETE, &format!("/streams/{id}"))
        .bearer_auth(WRITER)
        .send()
        .await
        .unwrap();

    assert_eq!(stopped.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_read_key_reads_but_any_change_is_403_and_changes_nothing() {
    let app = app_with_keys().await;
    create_as(&app, WRITER).await;

    let listed = streams_as(&app, READER).await;
    let refused = create_as(&app, READER).await;

    assert_eq!(listed.len(), 1);
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(streams_as(&app, READER).await.len(), 1);
}

#[tokio::test]
async fn probes_metrics_with_a_key_and_signed_webhooks_need_no_operator_key() {
    let app = app_with_keys().await;

    let health = app.health().await;
    let ready = app
        .request(Method::GET, "/health/ready")
        .send()
        .await
        .unwrap();
    let webhook = app
        .post_webhook(
            &json!({"event": "track_published", "room": {"name": "r"}, "id": "EV_auth"})
                .to_string(),
            livekit_emulator::DEV_API_SECRET,
        )
        .await;
    let metrics_without = app.request(Method::GET, "/metrics").send().await.unwrap();
    let metrics_with = app
        .request(Method::GET, "/metrics")
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();

    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        webhook.status(),
        StatusCode::OK,
        "the signature is what counts"
    );
    assert_eq!(metrics_without.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(metrics_with.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_configured_keys_everything_is_open_as_before() {
    let app = spawn_app().await;

    let created = app.create_stream(json!({})).await;
    let ticket = app
        .request(Method::POST, "/ws-tickets")
        .send()
        .await
        .unwrap();

    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(ticket.status(), StatusCode::OK);
}

fn http_status(err: &tungstenite::Error) -> Option<u16> {
    if let tungstenite::Error::Http(response) = err {
        Some(response.status().as_u16())
    } else {
        None
    }
}

async fn greeted(mut ws: orchestrator_tests::WsClient) -> Value {
    let frame = ws.next().await.unwrap().unwrap();
    let Message::Text(text) = frame else {
        panic!("expected the connected message, got {frame:?}");
    };
    serde_json::from_str(&text).unwrap()
}

async fn ticket_for(app: &TestApp, key: &str) -> Value {
    let response = app
        .request(Method::POST, "/ws-tickets")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_websocket_handshake_needs_a_key_in_the_header_or_a_ticket() {
    let app = app_with_keys().await;

    let anonymous = app.ws_with("/ws", &[]).await.unwrap_err();
    let with_header = app
        .ws_with("/ws", &[("Authorization", &bearer(READER))])
        .await
        .unwrap();
    let ticket = ticket_for(&app, READER).await;
    let with_ticket = app
        .ws_with(
            &format!("/ws?ticket={}", ticket["ticket"].as_str().unwrap()),
            &[],
        )
        .await
        .unwrap();

    assert_eq!(http_status(&anonymous), Some(401));
    assert_eq!(greeted(with_header).await["type"], "connected");
    assert_eq!(greeted(with_ticket).await["type"], "connected");
    assert_eq!(ticket["expiresIn"], 30);
    assert!(ticket["expiresAt"].is_string());
}

#[tokio::test]
async fn a_forged_ticket_or_one_from_another_deployment_is_refused() {
    let app = app_with_keys().await;
    let ticket = ticket_for(&app, READER).await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut other_settings = settings_with_keys();
    other_settings.livekit.api_secret = "another-deployment-secret".into();
    let other = spawn_app_with(other_settings).await;

    let upgraded = ticket.replacen("r.", "w.", 1);
    let forged = app
        .ws_with(&format!("/ws?ticket={upgraded}"), &[])
        .await
        .unwrap_err();
    let foreign = other
        .ws_with(&format!("/ws?ticket={ticket}"), &[])
        .await
        .unwrap_err();

    assert_eq!(http_status(&forged), Some(401));
    assert_eq!(http_status(&foreign), Some(401));
}

#[tokio::test]
async fn a_ticket_is_accepted_by_every_instance_of_the_deployment() {
    let first = app_with_keys().await;
    let second = app_with_keys().await;
    let ticket = ticket_for(&first, WRITER).await;

    let elsewhere = second
        .ws_with(
            &format!("/ws?ticket={}", ticket["ticket"].as_str().unwrap()),
            &[],
        )
        .await
        .unwrap();

    assert_eq!(greeted(elsewhere).await["type"], "connected");
}

#[tokio::test]
async fn a_ticket_opens_only_the_websocket_not_the_rest_api() {
    let app = app_with_keys().await;
    let ticket = ticket_for(&app, WRITER).await;

    let response = app
        .request(
            Method::GET,
            &format!("/streams?ticket={}", ticket["ticket"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer(key).parse().unwrap());
    request
}

#[tokio::test]
async fn grpc_calls_need_a_key_and_changes_the_write_scope() {
    let app = app_with_keys().await;
    let mut grpc = app.grpc().await;

    let anonymous = grpc
        .create_stream(CreateStreamRequest::default())
        .await
        .unwrap_err();
    let read_only = grpc
        .create_stream(with_key(CreateStreamRequest::default(), READER))
        .await
        .unwrap_err();
    let created = grpc
        .create_stream(with_key(CreateStreamRequest::default(), WRITER))
        .await
        .unwrap()
        .into_inner();
    let read = grpc
        .get_stream(with_key(
            GetStreamRequest {
                stream_id: created.id.clone(),
            },
            READER,
        ))
        .await;

    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(read_only.code(), Code::PermissionDenied);
    assert!(read.is_ok());
    assert_eq!(
        streams_as(&app, READER).await.len(),
        1,
        "only the write key created"
    );
}

#[tokio::test]
async fn grpc_subscribe_needs_a_key_too() {
    let app = app_with_keys().await;
    let id = create_as(&app, WRITER).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut grpc = app.grpc().await;
    let request = || SubscribeRequest {
        stream_id: id.clone(),
        after_seq: Some(0),
        ..SubscribeRequest::default()
    };

    let anonymous = grpc.subscribe(request()).await.unwrap_err();
    let mut events = grpc
        .subscribe(with_key(request(), READER))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(events.message().await.unwrap().unwrap().seq, 1);
}

#[tokio::test]
async fn grpc_health_and_reflection_stay_open() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let app = app_with_keys().await;
    let mut health = HealthClient::new(app.grpc_channel().await);

    let answer = health.check(HealthCheckRequest::default()).await;

    assert!(answer.is_ok(), "{answer:?}");
}

#[tokio::test]
async fn a_read_only_key_sees_stream_keys_and_rtmp_targets_redacted_and_cannot_change_them() {
    let app = app_with_keys().await;
    let created: Value = create_as(&app, WRITER).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let target = "rtmps://live.example.com/app/sk-platform-secret";
    let as_key = |key: &'static str, method: Method, path: String| {
        app.request(method, &path).bearer_auth(key)
    };
    let ingest: Value = as_key(WRITER, Method::POST, format!("/streams/{id}/ingest"))
        .json(&json!({"type": "rtmp"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    as_key(WRITER, Method::POST, format!("/streams/{id}/outputs"))
        .json(&json!({"id": "yt", "type": "rtmp", "targets": [target]}))
        .send()
        .await
        .unwrap();

    let read_ingest: Value = as_key(READER, Method::GET, format!("/streams/{id}/ingest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read_outputs: Value = as_key(READER, Method::GET, format!("/streams/{id}/outputs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = as_key(READER, Method::POST, format!("/streams/{id}/ingest/rotate"))
        .send()
        .await
        .unwrap();

    let key = ingest["streamKey"].as_str().unwrap();
    assert!(
        key.len() > 12 && ingest["streamKeyRedacted"] == false,
        "{ingest}"
    );
    assert_eq!(read_ingest["streamKeyRedacted"], true);
    assert!(!read_ingest.to_string().contains(key), "{read_ingest}");
    assert_eq!(
        read_outputs[0]["targets"],
        json!(["rtmps://live.example.com/…"])
    );
    assert!(!read_outputs.to_string().contains("sk-platform-secret"));
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
}

const OTHER_WRITER: &str = "lso_another-writer-of-the-auth-tests";

#[tokio::test]
async fn an_idempotency_key_reused_by_another_api_key_is_a_fresh_request_on_rest_and_grpc() {
    let mut settings = settings_with_keys();
    settings
        .auth
        .api_keys
        .push(KeyEntry::for_key(OTHER_WRITER, Scope::Write).to_string());
    let app = spawn_app_with(settings).await;
    let create = |key: &'static str| {
        app.request(Method::POST, "/streams")
            .bearer_auth(key)
            .header("Idempotency-Key", "create-1")
            .json(&json!({}))
            .send()
    };

    let first = create(WRITER).await.unwrap();
    let replay = create(WRITER).await.unwrap();
    let other = create(OTHER_WRITER).await.unwrap();

    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert!(
        other.headers().get("idempotent-replayed").is_none(),
        "not the first key's answer"
    );
    let (first, replay, other): (Value, Value, Value) = (
        first.json().await.unwrap(),
        replay.json().await.unwrap(),
        other.json().await.unwrap(),
    );
    assert_eq!(first["id"], replay["id"]);
    assert_ne!(first["id"], other["id"], "another key's create created");

    let mut grpc = app.grpc().await;
    let keyed = |key: &str| {
        let mut request = tonic::Request::new(CreateStreamRequest::default());
        request
            .metadata_mut()
            .insert("authorization", bearer(key).parse().unwrap());
        request
            .metadata_mut()
            .insert("idempotency-key", "grpc-create-1".parse().unwrap());
        request
    };
    let mine = grpc.create_stream(keyed(WRITER)).await.unwrap();
    let again = grpc.create_stream(keyed(WRITER)).await.unwrap();
    let theirs = grpc.create_stream(keyed(OTHER_WRITER)).await.unwrap();

    assert_eq!(again.metadata().get("idempotent-replayed").unwrap(), "true");
    assert!(theirs.metadata().get("idempotent-replayed").is_none());
    assert_ne!(
        mine.get_ref().id,
        theirs.get_ref().id,
        "another key's create created"
    );
}
