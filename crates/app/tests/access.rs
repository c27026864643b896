//! The real binary's access policy: production refuses to start open, on the embedded emulator
//! or with LiveKit's development credentials; development listens on loopback and warns; a
//! configured key opens the API and never reaches the logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn production_refuses_to_start_open_or_on_the_embedded_emulator() {
    let (status, output) = run_to_exit(&[("APP_ENV", "production")]);

    assert!(!status.success());
    assert!(output.contains("requires operator API keys"), "{output}");
    assert!(output.contains("requires LIVEKIT_URL"), "{output}");
    assert!(!output.contains("orchestrator listening"), "{output}");
}

#[test]
fn production_refuses_livekits_development_credentials() {
    let (status, output) = run_to_exit(&[
        ("APP_ENV", "production"),
        ("API_KEYS", ENTRY_OF_TEST_KEY),
        ("LIVEKIT_URL", "http://127.0.0.1:9"),
        ("LIVEKIT_API_KEY", "devkey"),
        ("LIVEKIT_API_SECRET", "secret"),
    ]);

    assert!(!status.success());
    assert!(output.contains("development credentials"), "{output}");
    assert!(!output.contains("\"api_secret\""), "{output}");
}

#[test]
fn the_development_default_listens_on_loopback_only_and_warns_that_it_is_open() {
    let mut process = start_with(&[("APP_ENV", "development")]);
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    let logs = process.logs.lock().unwrap().clone();
    let listening = json_line(&logs, "orchestrator listening");
    let warning = json_line(&logs, "no operator API keys configured");
    assert!(
        listening["http"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{listening}"
    );
    assert_eq!(warning["level"], "WARN");
}

#[test]
fn a_configured_key_opens_the_api_and_never_reaches_the_logs() {
    let mut process = start_with(&[("API_KEYS", ENTRY_OF_TEST_KEY), ("RUST_LOG", "debug")]);
    let wrong_key = "lso_a-wrong-key-that-must-stay-out-of-logs";

    let with_key = get(
        process.addr,
        "/streams",
        Some(&format!("Bearer {TEST_KEY}")),
    );
    let without = get(process.addr, "/streams", None);
    let wrong = get(
        process.addr,
        "/streams",
        Some(&format!("Bearer {wrong_key}")),
    );
    signal(&process, "TERM");

    assert!(with_key.starts_with("HTTP/1.1 200"), "{with_key}");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    assert!(
        wrong.starts_with("HTTP/1.1 401") && !wrong.contains(wrong_key),
        "{wrong}"
    );
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());
    let logs = process.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("request refused"),
        "the check sees the debug logs"
    );
    assert!(
        !logs.contains(wrong_key),
        "a presented key leaked into the logs"
    );
    assert!(
        !logs.contains("9f86d081884c7d659a2f"),
        "a key's hash leaked into the logs"
    );
}
