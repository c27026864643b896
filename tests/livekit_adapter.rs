//! The LiveKit adapter (`orchestrator-livekit`) against the LiveKit emulator: every
//! RoomService call the domain uses, room options from configuration, LiveKit failures
//! sorted into not-found / unavailable / rejected, and the trace of the request that caused a
//! call carried to LiveKit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use livekit_emulator::{Emulator, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
use orchestrator_domain::policy::trace::TraceContext;
use orchestrator_domain::ports::{JoinGrant, MediaError, MediaServer, TokenIssuer};
use orchestrator_domain::{participant::Role, values::Identity, values::RoomName};
use orchestrator_livekit::{LiveKitConfig, LiveKitMedia, LiveKitTokens};

/// An emulator serving on a free port, and the adapter's configuration for it.
async fn emulator() -> (Emulator, LiveKitConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let emulator = Emulator::new(EmulatorConfig::new(DEV_API_KEY, DEV_API_SECRET));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator.clone(),
        std::future::pending(),
    ));
    (emulator, config(&url, DEV_API_SECRET))
}

fn config(url: &str, secret: &str) -> LiveKitConfig {
    LiveKitConfig {
        url: url.to_owned(),
        api_key: DEV_API_KEY.into(),
        api_secret: secret.into(),
        token_ttl: Duration::from_secs(600),
        empty_timeout_secs: 120,
        departure_timeout_secs: 15,
        max_participants: 50,
        request_timeout: Duration::from_secs(2),
    }
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

#[tokio::test]
async fn create_room_applies_the_configured_room_options_and_is_get_or_create() {
    let (emulator, config) = emulator().await;
    let media = LiveKitMedia::new(&config);

    let first = media.create_room(&room("studio")).await.unwrap();
    let again = media.create_room(&room("studio")).await.unwrap();

    assert_eq!(first.sid, again.sid);
    assert!(first.sid.starts_with("RM_"));
    let created = emulator
        .rooms()
        .into_iter()
        .find(|r| r.name == "studio")
        .unwrap();
    assert_eq!(created.empty_timeout, 120);
    assert_eq!(created.departure_timeout, 15);
    assert_eq!(created.max_participants, 50);
}

#[tokio::test]
async fn rooms_and_participants_are_listed_updated_removed_and_deleted() {
    let (emulator, config) = emulator().await;
    let media = LiveKitMedia::new(&config);
    let tokens = LiveKitTokens::new(config.clone());
    media.create_room(&room("studio")).await.unwrap();
    let token = tokens
        .issue(&JoinGrant {
            room: room("studio"),
            identity: Identity::new("ada").unwrap(),
            role: Role::Host,
            metadata: None,
        })
        .unwrap();
    emulator.connect(&token).await.unwrap();

    let rooms = media.list_rooms().await.unwrap();
    let participants = media.list_participants(&room("studio")).await.unwrap();
    media
        .update_room_metadata(&room("studio"), "{\"on\":true}")
        .await
        .unwrap();
    media
        .remove_participant(&room("studio"), &Identity::new("ada").unwrap())
        .await
        .unwrap();
    let after_removal = media.list_participants(&room("studio")).await.unwrap();
    media.delete_room(&room("studio")).await.unwrap();

    assert_eq!(rooms.len(), 1);
    assert_eq!(participants.len(), 1);
    assert_eq!(participants[0].identity, "ada");
    assert!(participants[0].can_publish, "a host token publishes");
    assert!(after_removal.is_empty());
    assert!(media.list_rooms().await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_rooms_and_participants_are_not_found() {
    let (_emulator, config) = emulator().await;
    let media = LiveKitMedia::new(&config);
    media.create_room(&room("studio")).await.unwrap();

    let no_room = media.delete_room(&room("nowhere")).await;
    let no_participant = media
        .remove_participant(&room("studio"), &Identity::new("ghost").unwrap())
        .await;

    assert!(
        matches!(no_room, Err(MediaError::NotFound(_))),
        "{no_room:?}"
    );
    assert!(
        matches!(no_participant, Err(MediaError::NotFound(_))),
        "{no_participant:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_rejection() {
    let (_emulator, good) = emulator().await;
    let media = LiveKitMedia::new(&config(&good.url, "a-wrong-secret-of-at-least-32-chars!!"));

    let result = media.create_room(&room("studio")).await;

    assert!(matches!(result, Err(MediaError::Rejected(_))), "{result:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let media = LiveKitMedia::new(&config(&url, DEV_API_SECRET));

    let result = media.list_rooms().await;

    assert!(
        matches!(result, Err(MediaError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn tokens_point_clients_at_the_websocket_url() {
    let tokens = LiveKitTokens::new(config("https://example.livekit.cloud", DEV_API_SECRET));

    assert_eq!(tokens.ws_url(), "wss://example.livekit.cloud");
}

/// A server on loopback that answers every request with `answer` (raw HTTP/1.1).
async fn answering(answer: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.read(&mut [0u8; 4096]).await;
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn a_proxys_error_page_or_an_unreadable_answer_is_unavailable() {
    let proxy = answering(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\
         Connection: close\r\n\r\n<h1>502</h1",
    )
    .await;
    let garbage = answering(
        "HTTP/1.1 200 OK\r\nContent-Type: application/protobuf\r\nContent-Length: 3\r\n\
         Connection: close\r\n\r\n\x07\x07\x07",
    )
    .await;

    let from_proxy = LiveKitMedia::new(&config(&proxy, DEV_API_SECRET))
        .list_rooms()
        .await;
    let unreadable = LiveKitMedia::new(&config(&garbage, DEV_API_SECRET))
        .list_rooms()
        .await;

    assert!(
        matches!(&from_proxy, Err(MediaError::Unavailable(m)) if m.contains("502")),
        "{from_proxy:?}"
    );
    assert!(
        matches!(&unreadable, Err(MediaError::Unavailable(m)) if m.contains("unreadable")),
        "{unreadable:?}"
    );
}

#[tokio::test]
async fn a_url_that_cannot_be_called_is_a_rejection() {
    let media = LiveKitMedia::new(&config("not a url", DEV_API_SECRET));

    let result = media.create_room(&room("studio")).await;

    assert!(matches!(result, Err(MediaError::Rejected(_))), "{result:?}");
}

#[tokio::test]
async fn a_call_caused_by_a_traced_request_carries_the_trace_to_livekit() {
    let (emulator, config) = emulator().await;
    let media = LiveKitMedia::new(&config);
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = TraceContext::continue_from(caller, 0x5eed).unwrap();

    TraceContext::scope(Some(request), media.create_room(&room("studio")))
        .await
        .unwrap();
    media.delete_room(&room("studio")).await.unwrap();

    let calls = emulator.recent_calls();
    let [created, deleted] = calls.as_slice() else {
        panic!("two calls: {calls:?}")
    };
    assert_eq!(created.method, "CreateRoom");
    assert_eq!(
        created.traceparent.as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000005eed-01"),
        "the caller's trace, with the request's own span as the parent"
    );
    assert_eq!(deleted.method, "DeleteRoom");
    assert_eq!(deleted.traceparent, None, "no trace outside a request");
}
