//! The reconciler heals what dropped webhooks left wrong.

use livekit_api::services::room::RoomClient;
use livekit_emulator::{DEV_API_KEY, DEV_API_SECRET};
use orchestrator::Settings;
use orchestrator_tests::{spawn_app_with, TestApp};
use serde_json::{json, Value};

/// An app whose reconciler runs every 50 ms, with the emulator's webhooks switched off.
async fn app_without_webhooks() -> TestApp {
    let mut settings = Settings::for_tests();
    settings.reconciler.interval_ms = 50;
    settings.reconciler.livekit_calls_per_sec = 1000;
    let app = spawn_app_with(settings).await;
    app.emulator().set_webhooks_enabled(false);
    app
}

#[tokio::test]
async fn a_dropped_participant_joined_webhook_is_healed() {
    let app = app_without_webhooks().await;
    let id = app.new_stream_id().await;
    let joined = app.joined(&id, json!({"participantName": "ada"})).await;

    let session = app
        .emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();

    let healed = app
        .wait_for_stream(&id, |s| s["participants"][0]["sid"].is_string())
        .await;
    assert_eq!(healed["participants"][0]["sid"], session.sid.as_str());
}

#[tokio::test]
async fn a_dropped_participant_left_webhook_is_healed() {
    let app = app_without_webhooks().await;
    let id = app.new_stream_id().await;
    let joined = app.joined(&id, json!({"participantName": "ada"})).await;
    app.emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();
    app.wait_for_stream(&id, |s| s["participants"][0]["sid"].is_string())
        .await;

    app.emulator()
        .disconnect(&format!("room-{id}"), "ada")
        .await
        .unwrap();

    let healed = app
        .wait_for_stream(&id, |s| s["participants"][0]["leftAt"].is_string())
        .await;
    assert_eq!(healed["status"], "active");
}

#[tokio::test]
async fn a_dropped_room_finished_webhook_is_healed() {
    let app = app_without_webhooks().await;
    let id = app.new_stream_id().await;
    let livekit = RoomClient::with_api_key(&app.livekit_url, DEV_API_KEY, DEV_API_SECRET);

    livekit.delete_room(&format!("room-{id}")).await.unwrap();

    let healed: Value = app.wait_for_stream(&id, |s| s["status"] == "stopped").await;
    assert!(healed["stoppedAt"].is_string());
}
