//! The LiveKit adapter (`orchestrator-livekit`) against the LiveKit emulator: every
//! RoomService call the domain uses, room options from configuration, and LiveKit failures
//! sorted into not-found / unavailable / rejected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use livekit_emulator::{Emulator, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
use orchestrator_domain::ports::{JoinGrant, MediaError, MediaServer, TokenIssuer};
use orchestrator_domain::{Identity, Role, RoomName};
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
