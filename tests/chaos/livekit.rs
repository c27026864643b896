//! LiveKit unreachable or slow: a clear 502/503/504 at once, nothing half-created or
//! half-stopped, and once LiveKit answers again the reconciler heals what changed meanwhile.

use std::time::Duration;

use livekit_emulator::Emulator;
use orchestrator_tests::process::Orchestrator;
use serde_json::{json, Value};

use crate::cluster::{client, create_stream, eventually, get_stream, join, livekit};
use crate::proxy::{Mode, Proxy};

const UNREACHABLE: Mode = Mode::Refuse;
/// Slower than the orchestrator's LiveKit budget (1 s here).
const SLOW: Mode = Mode::Delay(Duration::from_secs(3));

/// An orchestrator whose LiveKit is behind a proxy the test controls.
async fn behind_a_proxy() -> (Orchestrator, Proxy, Emulator) {
    let (emulator, upstream) = livekit();
    let proxy = Proxy::start(&upstream).await;
    let server = Orchestrator::start(&[
        ("LIVEKIT_URL", proxy.url.as_str()),
        ("LIVEKIT_API_KEY", livekit_emulator::DEV_API_KEY),
        ("LIVEKIT_API_SECRET", livekit_emulator::DEV_API_SECRET),
        ("APP__LIVEKIT__REQUEST_TIMEOUT_SECS", "1"),
        ("APP__RECONCILER__INTERVAL_MS", "300"),
    ]);
    (server, proxy, emulator)
}

async fn streams(client: &reqwest::Client, base: &str) -> Vec<Value> {
    client
        .get(format!("{base}/streams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Asserts a 502, 503 or 504 with a `livekit_*` error code.
async fn assert_livekit_failure(response: reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    assert!(matches!(status, 502..=504), "{what}: {status} {body}");
    assert!(
        body["error"]["code"]
            .as_str()
            .is_some_and(|code| code.starts_with("livekit")),
        "{what}: a clear error code: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_while_livekit_is_unreachable_or_slow_fails_clearly_and_creates_nothing() {
    let (server, proxy, _emulator) = behind_a_proxy().await;
    let client = client();
    let base = server.base();
    create_stream(&client, &base, json!({"roomName": "steady"})).await;
    let before = streams(&client, &base).await;

    for mode in [UNREACHABLE, SLOW] {
        proxy.set(mode);
        let created = client
            .post(format!("{base}/streams"))
            .json(&json!({"roomName": "doomed"}))
            .send()
            .await
            .unwrap();
        assert_livekit_failure(created, &format!("create, LiveKit {mode:?}")).await;
    }
    proxy.set(Mode::Forward);

    assert_eq!(before, streams(&client, &base).await, "nothing created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_while_livekit_is_unreachable_leaves_no_stream_half_stopped() {
    let (server, proxy, _emulator) = behind_a_proxy().await;
    let client = client();
    let base = server.base();
    let id = create_stream(&client, &base, json!({"roomName": "steady"})).await;

    proxy.set(UNREACHABLE);
    let stopped = client
        .delete(format!("{base}/streams/{id}"))
        .send()
        .await
        .unwrap();
    assert_livekit_failure(stopped, "stop, LiveKit unreachable").await;
    let right_after = get_stream(&client, &base, &id).await["status"].clone();
    proxy.set(Mode::Forward);
    let settled = eventually(Duration::from_secs(15), || async {
        let status = get_stream(&client, &base, &id).await["status"].clone();
        status == "active" || status == "stopped"
    })
    .await;
    let last = get_stream(&client, &base, &id).await["status"].clone();
    eprintln!(
        "livekit outage at stop: status {right_after} after the 503, {last} once LiveKit returned"
    );

    assert!(
        settled,
        "a stop that failed on LiveKit leaves the stream active, or the reconciler finishes it \
         once LiveKit answers; it stayed {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reconciler_heals_what_changed_in_livekit_while_it_was_unreachable() {
    let (server, proxy, emulator) = behind_a_proxy().await;
    let client = client();
    let base = server.base();
    let id = create_stream(&client, &base, json!({"roomName": "steady"})).await;
    let token = join(&client, &base, &id, "ada").await;

    proxy.set(UNREACHABLE);
    // Meanwhile, in LiveKit: ada's media client connects; nobody tells the orchestrator.
    emulator.connect(&token).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let blind = get_stream(&client, &base, &id).await["audience"]["connected"].clone();
    proxy.set(Mode::Forward);
    let healed = eventually(Duration::from_secs(15), || async {
        get_stream(&client, &base, &id).await["audience"]["connected"] == 1
    })
    .await;
    eprintln!("livekit outage: drift healed after LiveKit returned: {healed}");

    assert_eq!(blind, 0, "the orchestrator could not know yet");
    assert!(
        healed,
        "the reconciler healed the drift once LiveKit answered"
    );
}
