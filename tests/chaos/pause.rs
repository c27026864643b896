//! An instance frozen (SIGSTOP) in the middle of a reconciler pass, past its lease: another
//! instance takes the lease over and heals the drift; when the frozen one wakes up, its
//! interrupted pass ends without writing anything from its stale view — stopped by the
//! fencing check before a write, or earlier, when its first LiveKit call after the pause
//! fails (the LiveKit side closed its idle connection meanwhile). Either way the instance
//! that lost the lease writes nothing; the fencing check itself is unit-tested in
//! `crates/reconciler` (`a_holder_that_lost_its_lease_stops_writing`).
//!
//! The lease lasts max(3 × `reconciler.interval_ms`, 15 s), so the pause is 15 s and more:
//! the reconciler has no setting for a shorter lease.

use std::time::Duration;

use orchestrator_tests::process::Signal;
use serde_json::{json, Value};

use crate::cluster::{client, create_stream, eventually, get_stream, join, Cluster};

/// Rooms with drift: at one LiveKit call per second, a pass over them lasts this many seconds.
const DRIFTED: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconciler_paused_past_its_lease_is_replaced_and_writes_nothing_when_it_wakes() {
    let settings = [
        ("APP__RECONCILER__INTERVAL_MS", "500"),
        ("APP__RECONCILER__LIVEKIT_CALLS_PER_SEC", "1"),
        ("RUST_LOG", "info,orchestrator_reconciler=debug"),
    ];
    let mut cluster = Cluster::start(1, redis_harness::owned_server(), &settings);
    let first = cluster.instances[0].instance_id.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            cluster
                .lease_holder()
                .is_some_and(|(holder, _)| holder == first)
        })
        .await,
        "the first instance holds the lease"
    );
    let (_, first_token) = cluster.lease_holder().unwrap();
    cluster.add_instance();
    let second = cluster.instances[1].instance_id.clone();
    let client = client();
    let (a, b) = (cluster.instances[0].base(), cluster.instances[1].base());

    // Media clients connect without the orchestrator hearing of it (no webhooks), all at
    // once: the next pass finds every room drifted and, at one LiveKit call a second, takes
    // seconds, so the pause below lands in the middle of it.
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for n in 0..DRIFTED {
        let id = create_stream(&client, &b, json!({"roomName": format!("paused-{n}")})).await;
        tokens.push(join(&client, &b, &id, "media").await);
        ids.push(id);
    }
    for token in &tokens {
        cluster.emulator.connect(token).await.unwrap();
    }
    let connected = |stream: &Value| stream["audience"]["connected"].as_u64().unwrap_or(0);
    let healed_by_first = || async {
        let mut healed = 0;
        for id in &ids {
            healed += connected(&get_stream(&client, &b, id).await);
        }
        healed
    };
    assert!(
        eventually(Duration::from_secs(15), || async {
            healed_by_first().await >= 1
        })
        .await,
        "the first instance started its pass"
    );
    cluster.instances[0].signal(Signal::Stop);
    let healed_before_pause = healed_by_first().await;
    // While it sleeps, the truth changes: every media client leaves.
    for n in 0..DRIFTED {
        cluster
            .emulator
            .disconnect(&format!("paused-{n}"), "media")
            .await
            .unwrap();
    }

    let took_over = eventually(Duration::from_secs(40), || async {
        cluster
            .lease_holder()
            .is_some_and(|(holder, _)| holder == second)
    })
    .await;
    let healed = eventually(Duration::from_secs(30), || async {
        let mut all = true;
        for id in &ids {
            all &= connected(&get_stream(&client, &b, id).await) == 0;
        }
        all
    })
    .await;
    let mut seqs = Vec::new();
    for id in &ids {
        seqs.push(get_stream(&client, &b, id).await["seq"].clone());
    }
    let failed_before = cluster.instances[0].logged("reconciler pass failed");
    cluster.instances[0].signal(Signal::Cont);
    let interrupted = eventually(Duration::from_secs(10), || async {
        cluster.instances[0].logged("reconciler pass failed") > failed_before
    })
    .await;
    let fenced = cluster.instances[0].logged("lost the reconciler lease") > 0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut after = Vec::new();
    for id in &ids {
        after.push(get_stream(&client, &a, id).await["seq"].clone());
    }
    let (holder, token) = cluster.lease_holder().unwrap_or_default();
    eprintln!(
        "pause: {DRIFTED} drifted rooms, {healed_before_pause} healed when the first instance \
         was paused past its lease; second took over: {took_over}, healed: {healed}; resumed \
         instance's pass ended: {interrupted} (by the fencing check: {fenced}); lease token \
         {first_token} → {token}"
    );

    assert!(
        healed_before_pause < DRIFTED as u64,
        "paused in the middle of a pass"
    );
    assert!(took_over, "the second instance took the lease over");
    assert!(healed, "the second instance healed the drift");
    assert!(interrupted, "the resumed instance's stale pass ended");
    assert_eq!(seqs, after, "the resumed instance wrote nothing");
    assert_eq!(holder, second);
    assert!(
        token > first_token,
        "a later grant has a higher fencing token"
    );
}
