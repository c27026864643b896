use std::time::Duration;

use orchestrator_tests::spawn_app_with;
use serde_json::json;

use crate::support::instance_settings;

#[tokio::test]
async fn with_several_instances_the_reconciler_still_heals_a_dropped_webhook() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    // The first instance runs the embedded emulator; the others use it as their LiveKit.
    let mut first = instance_settings(server.url(), &prefix, "");
    first.livekit.url = String::new();
    first.livekit.api_key = String::new();
    first.livekit.api_secret = String::new();
    first.reconciler.interval_ms = 50;
    first.reconciler.livekit_calls_per_sec = 1000;
    let a = spawn_app_with(first).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let mut settings = instance_settings(server.url(), &prefix, &a.livekit_url);
        settings.reconciler.interval_ms = 50;
        settings.reconciler.livekit_calls_per_sec = 1000;
        others.push(spawn_app_with(settings).await);
    }
    a.emulator().set_webhooks_enabled(false);
    let id = others[0].new_stream_id().await;
    let joined = others[1]
        .joined(&id, json!({"participantName": "ada"}))
        .await;

    a.emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();

    let healed = others[0]
        .wait_for_stream(&id, |s| s["participants"][0]["sid"].is_string())
        .await;
    assert_eq!(healed["participants"][0]["leftAt"], serde_json::Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = others[1].state(&id).await;
    assert_eq!(
        state["seq"], 3,
        "created, joined, session recorded once: no instance repeated it"
    );
}
