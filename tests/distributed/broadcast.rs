//! Broadcast across instances: the stream goes live through webhooks arriving at three instances
//! at once, and each output still gets one egress; its events reach every instance's
//! subscribers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::embedded_livekit::{embedded_instances, host};

/// A signed LiveKit report of `event` about `participant` in `room`.
fn report(event: &str, room: &str, id: &str, track: Option<&str>) -> String {
    let mut body = json!({
        "event": event,
        "id": id,
        "room": {"name": room},
        "participant": {"identity": "studio", "sid": "PA_studio", "permission": {"canPublish": true}},
    });
    if let Some(track) = track {
        body["track"] = json!({"sid": track});
    }
    body.to_string()
}

#[tokio::test]
async fn going_live_through_three_instances_at_once_starts_each_output_once() {
    let server = redis_harness::shared_or_owned();
    let prefix = redis_harness::unique_prefix();
    let instances = embedded_instances(3, server.url(), &prefix).await;
    let created = instances[1]
        .created_stream(json!({"outputs": [
            {"type": "hls", "autoStart": true},
            {"id": "restream", "type": "rtmp", "targets": ["rtmp://live.example.com/app/k"], "autoStart": true},
        ]}))
        .await;
    let (id, room) = (
        created["id"].as_str().unwrap(),
        created["roomName"].as_str().unwrap(),
    );
    let joined = instances[0]
        .post_webhook(
            &report("participant_joined", room, "EV_join", None),
            livekit_emulator::DEV_API_SECRET,
        )
        .await;
    assert_eq!(joined.status(), StatusCode::OK);

    // Three reports of the host publishing, one to each instance, all at once.
    let published = futures_util::future::join_all(instances.iter().enumerate().map(|(n, app)| {
        let body = report(
            "track_published",
            room,
            &format!("EV_track_{n}"),
            Some(&format!("TR_{n}")),
        );
        async move {
            app.post_webhook(&body, livekit_emulator::DEV_API_SECRET)
                .await
                .status()
        }
    }))
    .await;
    assert!(
        published.iter().all(|status| *status == StatusCode::OK),
        "{published:?}"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let outputs = loop {
        let outputs: Vec<Value> = instances[2]
            .request(Method::GET, &format!("/streams/{id}/outputs"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if outputs.iter().all(|o| o["observed"] == "active") {
            break outputs;
        }
        assert!(tokio::time::Instant::now() < deadline, "{outputs:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };

    assert_eq!(
        host(&instances).emulator().egress_starts(room),
        2,
        "one egress per output"
    );
    assert!(outputs.iter().all(|o| o["attempts"] == 1), "{outputs:#?}");
}

/// Every value Redis holds under `prefix`, as `redis-cli` prints it (records, event logs,
/// idempotency records, leases).
fn everything_under(port: u16, prefix: &str) -> String {
    let pattern = format!("{prefix}*");
    let keys = redis_harness::redis_cli(port, &["--scan", "--pattern", &pattern]);
    let mut dump = String::new();
    for key in keys.lines().filter(|key| !key.is_empty()) {
        let kind = redis_harness::redis_cli(port, &["TYPE", key]);
        let value = match kind.trim() {
            "hash" => redis_harness::redis_cli(port, &["HGETALL", key]),
            "string" => redis_harness::redis_cli(port, &["GET", key]),
            "stream" => redis_harness::redis_cli(port, &["XRANGE", key, "-", "+"]),
            "zset" => redis_harness::redis_cli(port, &["ZRANGE", key, "0", "-1"]),
            "set" => redis_harness::redis_cli(port, &["SMEMBERS", key]),
            "list" => redis_harness::redis_cli(port, &["LRANGE", key, "0", "-1"]),
            other => panic!("{key} is a {other} this dump does not read"),
        };
        dump.push_str(key);
        dump.push('\n');
        dump.push_str(&value);
    }
    dump
}

#[tokio::test]
async fn stream_keys_and_rtmp_targets_are_never_in_clear_in_redis() {
    let deployment = crate::support::three_instances().await;
    let app = deployment.instance(0);
    let target_secret = "live_sk_9d1f0c2b7a6e";
    let created: Value = app
        .request(Method::POST, "/streams")
        .header("Idempotency-Key", "create-with-outputs")
        .json(&json!({
            "roomName": "sealed-at-rest",
            "outputs": [{"id": "restream", "type": "rtmp",
                         "targets": [format!("rtmp://live.example.com/app/{target_secret}")]}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("the stream is created");
    let ingest: Value = deployment
        .instance(1)
        .request(Method::POST, &format!("/streams/{id}/ingest"))
        .header("Idempotency-Key", "ingest-once")
        .json(&json!({"type": "rtmp"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stream_key = ingest["streamKey"]
        .as_str()
        .expect("the ingest's key, whole");
    let rotated: Value = deployment
        .instance(2)
        .request(Method::POST, &format!("/streams/{id}/ingest/rotate"))
        .header("Idempotency-Key", "rotate-once")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated_key = rotated["streamKey"].as_str().expect("the new key, whole");

    let port: u16 = deployment
        .redis_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let dump = everything_under(port, &deployment.prefix);

    assert!(
        dump.contains("sealed-at-rest"),
        "the dump reads the records' plain fields"
    );
    assert!(
        dump.contains("idem"),
        "the dump reads the idempotency records"
    );
    for secret in [stream_key, rotated_key, target_secret] {
        assert!(!dump.contains(secret), "{secret} is in clear in Redis");
    }
}
