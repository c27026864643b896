//! Instances on one Redis with no `LIVEKIT_URL`: they share one embedded LiveKit emulator (the
//! first instance's, found through Redis), so joins through any instance name the same LiveKit
//! and no reconciler "heals" a stream that another instance's emulator holds.

use std::time::Duration;

use orchestrator::{Application, Settings};
use orchestrator_tests::{spawn_app_with, TestApp};
use serde_json::{json, Value};

use crate::support::instance_settings;

/// Settings of an instance on `redis_url` under `prefix` with no LiveKit configured (the
/// embedded default), reconciling every 50 ms.
pub(crate) fn embedded_instance(redis_url: &str, prefix: &str) -> Settings {
    let mut settings = instance_settings(redis_url, prefix, "");
    settings.livekit.api_key = String::new();
    settings.livekit.api_secret = String::new();
    settings.reconciler.interval_ms = 50;
    settings.reconciler.livekit_calls_per_sec = 1000;
    settings
}

pub(crate) async fn embedded_instances(
    count: usize,
    redis_url: &str,
    prefix: &str,
) -> Vec<TestApp> {
    let mut instances = Vec::new();
    for _ in 0..count {
        instances.push(spawn_app_with(embedded_instance(redis_url, prefix)).await);
    }
    instances
}

/// The instance whose own emulator is the shared LiveKit.
pub(crate) fn host(instances: &[TestApp]) -> &TestApp {
    let hosts: Vec<&TestApp> = instances
        .iter()
        .filter(|app| app.hosts_the_livekit())
        .collect();
    assert_eq!(
        hosts.len(),
        1,
        "exactly one instance hosts the shared emulator"
    );
    hosts[0]
}

/// What must not change while the reconcilers run: status, seq and the audience.
fn fingerprint(state: &Value) -> Value {
    json!({
        "status": state["status"],
        "seq": state["seq"],
        "participants": state["participants"],
        "audience": state["audience"],
    })
}

#[tokio::test]
async fn instances_without_livekit_url_share_the_first_instances_emulator() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();

    let instances = embedded_instances(3, server.url(), &prefix).await;

    let urls: Vec<&str> = instances.iter().map(|a| a.livekit_url.as_str()).collect();
    assert!(urls.iter().all(|url| *url == urls[0]), "{urls:?}");
    let id = instances[1].new_stream_id().await;
    let joins = [
        instances[0]
            .joined(&id, json!({"participantName": "ada"}))
            .await,
        instances[2]
            .joined(&id, json!({"participantName": "grace"}))
            .await,
    ];
    assert_eq!(
        joins[0]["wsUrl"], joins[1]["wsUrl"],
        "one LiveKit for every join"
    );
    host(&instances);
}

#[tokio::test]
async fn reconcile_passes_on_every_instance_change_nothing_whoever_created_the_stream() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let instances = embedded_instances(3, server.url(), &prefix).await;
    let host = host(&instances);
    let mut streams = Vec::new();
    for (n, app) in instances.iter().enumerate() {
        let id = app.new_stream_id().await;
        let viewer = instances[(n + 1) % 3]
            .joined(&id, json!({"participantName": format!("viewer-{n}")}))
            .await;
        host.emulator()
            .connect(viewer["token"].as_str().unwrap())
            .await
            .unwrap();
        instances[(n + 2) % 3]
            .joined(&id, json!({"participantName": format!("late-{n}")}))
            .await;
        let settled = app
            .wait_for_stream(&id, |s| s["audience"]["connected"] == 1)
            .await;
        streams.push((id, fingerprint(&settled)));
    }

    // Reconcilers run every 50 ms: whichever instance holds their lease, many passes happen.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for (id, before) in &streams {
        for app in &instances {
            let state = app.stream(id).await;
            assert_eq!(
                &fingerprint(&state),
                before,
                "stream {id} through {}",
                app.base
            );
        }
    }
}

#[tokio::test]
async fn when_the_host_stops_another_instance_takes_over_the_shared_livekit() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let mut instances = embedded_instances(2, server.url(), &prefix).await;
    let host_index = instances
        .iter()
        .position(TestApp::hosts_the_livekit)
        .unwrap();

    let host_url = instances[host_index].livekit_url.clone();

    drop(instances.remove(host_index));

    let survivor = &instances[0];
    assert_eq!(
        survivor.livekit_url, host_url,
        "it followed the host before"
    );
    let own = survivor
        .emulator_url
        .clone()
        .unwrap()
        .replace("http://", "ws://");
    // The host drains before it lets go: until then the survivor may still be served by it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let created = survivor.create_stream(json!({})).await;
        if created.status() == reqwest::StatusCode::CREATED {
            let id = created.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let joined = survivor
                .joined(&id, json!({"participantName": "ada"}))
                .await;
            if joined["wsUrl"] == own.as_str() {
                return;
            }
        }
        let last = survivor.livekit_url.clone();
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survivor's emulator did not take over: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_instance_with_other_emulator_credentials_refuses_to_start_and_says_what_to_set() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let _first = spawn_app_with(embedded_instance(server.url(), &prefix)).await;
    let mut other = embedded_instance(server.url(), &prefix);
    other.livekit.api_secret = "another-secret-of-thirty-two-characters".into();

    let refused = Application::build(other).await.err().expect("refused");

    let message = format!("{refused:#}");
    assert!(message.contains("other credentials"), "{message}");
    assert!(message.contains("LIVEKIT_API_SECRET"), "{message}");
}

#[tokio::test]
async fn an_instance_that_cannot_reach_the_shared_emulator_refuses_to_start_and_says_what_to_set() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let lease = format!("{prefix}{{lease:embedded-livekit}}:holder");
    let first = spawn_app_with(embedded_instance(server.url(), &prefix)).await;
    let published = redis_harness::redis_cli(server.port(), &["GET", &lease]);
    drop(first);
    // What a host on another machine publishes: an address only that machine reaches.
    let (holder, token) = published.trim().rsplit_once('|').unwrap();
    let mut elsewhere: Value = serde_json::from_str(holder).unwrap();
    elsewhere["url"] = json!(unreachable);
    let elsewhere = format!("{elsewhere}|{token}");
    redis_harness::redis_cli(server.port(), &["SET", &lease, &elsewhere, "PX", "60000"]);

    let refused = Application::build(embedded_instance(server.url(), &prefix))
        .await
        .err()
        .expect("refused");

    let message = format!("{refused:#}");
    assert!(message.contains(&unreachable), "{message}");
    assert!(message.contains("LIVEKIT_URL"), "{message}");
}
