//! The embedded LiveKit emulator's credentials: `livekit-server --dev`'s by default, so LiveKit's
//! CLI and SDK examples work against it as they are; LIVEKIT_API_KEY / LIVEKIT_API_SECRET when set
//! without LIVEKIT_URL.

use livekit_api::access_token::TokenVerifier;
use livekit_api::services::room::RoomClient;
use orchestrator::Settings;
use orchestrator_tests::{spawn_app, spawn_app_with};
use serde_json::json;

#[tokio::test]
async fn by_default_the_emulator_accepts_livekits_dev_key_and_secret() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let livekit = RoomClient::with_api_key(&app.livekit_url, "devkey", "secret");
    let rooms = livekit.list_rooms(Vec::new()).await.unwrap();
    let joined = app.joined(&id, json!({"participantName": "ada"})).await;

    assert!(rooms.iter().any(|room| room.name == format!("room-{id}")));
    let claims = TokenVerifier::with_api_key("devkey", "secret")
        .verify(joined["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, "ada");
}

#[tokio::test]
async fn livekit_credentials_set_without_a_url_are_the_emulators() {
    let mut settings = Settings::for_tests();
    settings.livekit.api_key = "my-key".into();
    settings.livekit.api_secret = "my-own-secret".into();
    let app = spawn_app_with(settings).await;
    let id = app.new_stream_id().await;

    let mine = RoomClient::with_api_key(&app.livekit_url, "my-key", "my-own-secret");
    let dev = RoomClient::with_api_key(&app.livekit_url, "devkey", "secret");
    let joined = app.joined(&id, json!({"participantName": "ada"})).await;

    assert!(mine.list_rooms(Vec::new()).await.is_ok());
    assert!(
        dev.list_rooms(Vec::new()).await.is_err(),
        "the dev pair is not accepted"
    );
    let token = joined["token"].as_str().unwrap();
    assert!(TokenVerifier::with_api_key("my-key", "my-own-secret")
        .verify(token)
        .is_ok());
    assert!(TokenVerifier::with_api_key("devkey", "secret")
        .verify(token)
        .is_err());
}
