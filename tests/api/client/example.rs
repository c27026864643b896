//! The client crate's example backend (`crates/client/examples/backend.rs`), compiled here and
//! run against a real orchestrator, so the example a newcomer copies is one that works.

use std::time::Duration;

use orchestrator_client::EventType;

use orchestrator_tests::spawn_app;

#[path = "../../../crates/client/examples/backend.rs"]
#[allow(dead_code)] // Its `main` reads the command line; the test calls `run`.
mod backend;

#[tokio::test]
async fn the_example_backend_creates_hands_out_tokens_and_follows_the_stream_to_its_stop() {
    let app = spawn_app().await;

    let seen = tokio::time::timeout(
        super::WITHIN,
        backend::run(&app.api, Some(Duration::from_millis(300))),
    )
    .await
    .expect("the backend ends when the stream stops")
    .expect("every call of the backend succeeds");

    let kinds: Vec<EventType> = seen.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::StreamCreated,
            EventType::ParticipantJoined,
            EventType::ParticipantJoined,
            EventType::StreamUpdated, // the title
            EventType::StreamUpdated, // stopping
            EventType::StreamStopped,
        ]
    );
    let seqs: Vec<u64> = seen.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
}
