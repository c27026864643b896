//! Bad input, as properties: whatever a client sends that is not a valid request — malformed
//! JSON, wrong types, huge and deeply nested values, unicode that hides or reorders text,
//! invalid surrogates, NUL, invalid ids — on every REST body and query, WebSocket message and
//! gRPC request, the answer is a client error (4xx, the WebSocket `error` message, or
//! INVALID_ARGUMENT / NOT_FOUND / …), never a 5xx or a panic, and nothing changes: the stream
//! list, a witness stream, its participants and its event log are the same afterwards.
//!
//! Each property runs `PROPTEST_CASES` cases (default 32) against one orchestrator on port 0
//! (in-memory store, embedded LiveKit emulator). Failures shrink to a minimal input. The inputs
//! are the same on every run (a fixed seed) unless `PROPTEST_RNG_SEED=<number>` picks others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc;
mod inputs;
mod rest;
mod ws;

use orchestrator_domain::values::StreamId;
use orchestrator_tests::{spawn_app, TestApp};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{json, Value};

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 32;

/// The seed unless `PROPTEST_RNG_SEED` names another: CI runs the same inputs every time.
const DEFAULT_SEED: u64 = 20_261_125;

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

/// A runner with the suite's case count and seed, and no regression files.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: env_number("PROPTEST_CASES").unwrap_or(DEFAULT_CASES),
        rng_seed: RngSeed::Fixed(env_number("PROPTEST_RNG_SEED").unwrap_or(DEFAULT_SEED)),
        failure_persistence: None,
        ..Config::default()
    })
}

/// An orchestrator with a witness stream (metadata, one present participant) that the
/// properties aim their bad requests at, and the runtime their clients run on.
struct Target {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    /// The witness stream's id.
    witness: String,
}

impl Target {
    fn new() -> Self {
        // The gRPC client here encodes metadata nested up to 2,000 deep, recursively (the
        // server stops decoding at 100: crates/grpc/src/decode.rs proves it on a small stack).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(64 << 20)
            .enable_all()
            .build()
            .unwrap();
        let (app, witness) = runtime.block_on(async {
            let app = spawn_app().await;
            let witness = app
                .created_stream(json!({"roomName": "witness", "metadata": {"title": "w"}}))
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.joined(&witness, json!({"participantName": "ada", "role": "host"}))
                .await;
            (app, witness)
        });
        Self {
            runtime,
            app,
            witness,
        }
    }

    /// Everything a bad request must leave as it was.
    fn snapshot(&self) -> Value {
        self.runtime.block_on(async {
            let app = &self.app;
            let list: Value = app.list_streams("?limit=1000").await.json().await.unwrap();
            let witness = app.stream(&self.witness).await;
            let participants: Value = app
                .participants(&self.witness, "?limit=1000")
                .await
                .json()
                .await
                .unwrap();
            let id = StreamId::parse(&self.witness).unwrap();
            let events = app.events.read_after(id, 0, 10_000).await.unwrap();
            json!({
                "streams": list,
                "witness": witness,
                "participants": participants,
                "events": serde_json::to_value(events).unwrap(),
            })
        })
    }

    /// Runs `case` and checks that the state is the same afterwards.
    fn unchanged(
        &self,
        case: impl FnOnce() -> Result<(), proptest::test_runner::TestCaseError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let before = self.snapshot();
        case()?;
        let after = self.snapshot();
        proptest::prop_assert_eq!(before, after, "a refused request changed the state");
        Ok(())
    }
}
