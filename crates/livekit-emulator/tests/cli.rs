//! The real `livekit-emulator` binary as a program: `--help` and `--version` print and exit
//! without starting anything, usage errors exit 2 and runtime failures 1 with one line on
//! standard error, the flags and their environment variables configure it, its logs are plain
//! text off a terminal, and SIGTERM and SIGINT stop it cleanly (exit 0, a "stopped" line).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use binary::*;
use livekit_emulator::{DEV_API_KEY, DEV_API_SECRET};

/// Long enough for a debug binary to print and exit on a busy machine, far shorter than
/// forever (what a server started by mistake takes).
const QUICK: Duration = Duration::from_secs(10);

// --- What it prints and how it exits ---------------------------------------------------------

#[test]
fn help_lists_every_flag_with_its_variable_and_starts_nothing() {
    let port = free_port().to_string();

    let output = run_to_exit(&["--help"], &[("LIVEKIT_EMULATOR_PORT", &port)], QUICK);

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let help = stdout(&output);
    for expected in [
        "--host",
        "LIVEKIT_EMULATOR_HOST",
        "--port",
        "LIVEKIT_EMULATOR_PORT",
        "--api-key",
        "LIVEKIT_API_KEY",
        "--api-secret",
        "LIVEKIT_API_SECRET",
        "--webhook-url",
        "LIVEKIT_WEBHOOK_URLS",
        "--log-format",
        "LOG_FORMAT",
        "SIGTERM",
    ] {
        assert!(help.contains(expected), "{expected} in {help}");
    }
    assert!(!help.contains("listening"), "{help}");
}

#[test]
fn help_never_shows_the_secret_set_in_the_environment() {
    let output = run_to_exit(
        &["--help"],
        &[("LIVEKIT_API_SECRET", "do-not-print-me")],
        QUICK,
    );

    assert!(output.status.success());
    assert!(!stdout(&output).contains("do-not-print-me"));
}

#[test]
fn version_prints_the_package_version_and_starts_nothing() {
    let output = run_to_exit(&["--version"], &[], QUICK);

    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output).trim(),
        format!("livekit-emulator {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let output = run_to_exit(&["--no-such-flag"], &[], QUICK);

    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--no-such-flag"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
}

/// Runs the binary with `args` and `env`: it must exit 2 with `named` in its message.
fn assert_usage_error_naming(args: &[&str], env: &[(&str, &str)], named: &str) {
    let output = run_to_exit(args, env, QUICK);

    assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
    assert!(stderr(&output).contains(named), "{}", stderr(&output));
}

#[test]
fn an_invalid_flag_value_is_a_usage_error_naming_it() {
    assert_usage_error_naming(&["--port", "seventy"], &[], "seventy");
    assert_usage_error_naming(&["--log-format", "xml"], &[], "xml");
}

#[test]
fn an_invalid_variable_is_a_usage_error_naming_its_value() {
    assert_usage_error_naming(&[], &[("LIVEKIT_EMULATOR_PORT", "99999")], "99999");
    assert_usage_error_naming(
        &[],
        &[(
            "LIVEKIT_WEBHOOK_URLS",
            "http://ok.test/a,ftp://files.test/b",
        )],
        "ftp://files.test/b",
    );
}

#[test]
fn a_taken_port_exits_1_with_one_line_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();

    let output = run_to_exit(&["--port", &port], &[], QUICK);

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.starts_with(&format!(
            "livekit-emulator: cannot listen on 127.0.0.1:{port}: "
        )),
        "{message}"
    );
    assert!(!stdout(&output).contains("listening"));
}

#[test]
fn an_invalid_log_filter_is_refused_before_anything_starts() {
    let output = run_to_exit(&[], &[("RUST_LOG", "info,=[")], QUICK);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("RUST_LOG"), "{}", stderr(&output));
}

// --- Configuration ---------------------------------------------------------------------------

#[test]
fn the_environment_sets_address_credentials_and_webhooks() {
    let emulator = start(
        &[],
        &[
            ("LIVEKIT_EMULATOR_HOST", "127.0.0.1"),
            ("LIVEKIT_API_KEY", "env-key"),
            ("LIVEKIT_API_SECRET", "env-secret-of-at-least-32-characters"),
            (
                "LIVEKIT_WEBHOOK_URLS",
                "http://127.0.0.1:9/first, http://127.0.0.1:9/second",
            ),
        ],
    );

    let listening = emulator.line_with("livekit emulator listening");
    assert!(emulator.addr.ip().is_loopback());
    assert!(listening.contains("api_key=env-key"), "{listening}");
    assert!(
        listening.contains(r#"["http://127.0.0.1:9/first", "http://127.0.0.1:9/second"]"#),
        "{listening}"
    );
    assert_eq!(
        emulator.list_rooms_as("env-key", "env-secret-of-at-least-32-characters"),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        emulator.list_rooms_as(DEV_API_KEY, DEV_API_SECRET),
        "HTTP/1.1 401 Unauthorized"
    );
}

#[test]
fn flags_win_over_the_environment() {
    let emulator = start(
        &["--api-key", "flag-key", "--api-secret", "flag-secret"],
        &[
            ("LIVEKIT_API_KEY", "env-key"),
            ("LIVEKIT_API_SECRET", "env-secret"),
        ],
    );

    assert_eq!(
        emulator.list_rooms_as("flag-key", "flag-secret"),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        emulator.list_rooms_as("env-key", "env-secret"),
        "HTTP/1.1 401 Unauthorized"
    );
}

#[test]
fn blank_variables_count_as_unset() {
    let emulator = start(
        &[],
        &[
            ("LIVEKIT_EMULATOR_HOST", " "),
            ("LIVEKIT_API_KEY", ""),
            ("LIVEKIT_API_SECRET", ""),
            ("LIVEKIT_WEBHOOK_URLS", ""),
            ("LOG_FORMAT", ""),
        ],
    );

    let listening = emulator.line_with("livekit emulator listening");
    assert!(listening.contains("webhook_urls=[]"), "{listening}");
    assert_eq!(
        emulator.list_rooms_as(DEV_API_KEY, DEV_API_SECRET),
        "HTTP/1.1 200 OK"
    );
}

// --- Output ----------------------------------------------------------------------------------

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    // A colour-capable terminal type is no reason to colour a pipe.
    let mut emulator = start(&[], &[("TERM", "xterm-256color"), ("RUST_LOG", "debug")]);
    emulator.list_rooms_as(DEV_API_KEY, DEV_API_SECRET);

    emulator.signal("TERM");

    assert!(emulator.wait_for_exit(STOP_LIMIT).success());
    let logs = emulator.logs();
    assert!(logs.len() > 2, "{logs:#?}");
    for line in &logs {
        assert!(!line.contains("\x1b["), "{line:?}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let mut emulator = start(&[], &[("LOG_FORMAT", "json")]);

    emulator.signal("TERM");

    assert!(emulator.wait_for_exit(STOP_LIMIT).success());
    let logs = emulator.logs();
    for line in &logs {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(json["message"].is_string(), "{line}");
    }
    let listening = emulator.line_with("livekit emulator listening");
    let json: serde_json::Value = serde_json::from_str(&listening).unwrap();
    assert_eq!(json["address"], emulator.addr.to_string());
    assert!(logs
        .iter()
        .any(|line| line.contains("livekit emulator stopped")));
}

// --- Signals ---------------------------------------------------------------------------------

fn assert_stops_cleanly_on(signal: &str) {
    let mut emulator = start(&[], &[]);
    assert_eq!(
        emulator.list_rooms_as(DEV_API_KEY, DEV_API_SECRET),
        "HTTP/1.1 200 OK"
    );

    emulator.signal(signal);

    assert_eq!(emulator.wait_for_exit(STOP_LIMIT).code(), Some(0));
    emulator.line_with(&format!("signal=\"SIG{signal}\""));
    emulator.line_with("livekit emulator stopped");
    assert!(
        std::net::TcpStream::connect_timeout(&emulator.addr, Duration::from_millis(500)).is_err(),
        "no longer accepting"
    );
}

#[test]
fn sigterm_stops_it_cleanly() {
    assert_stops_cleanly_on("TERM");
}

#[test]
fn sigint_stops_it_cleanly() {
    assert_stops_cleanly_on("INT");
}

#[test]
fn a_signal_sent_the_moment_it_says_it_listens_stops_it_cleanly() {
    // Before, the handlers were installed after the announcement: such a signal killed the
    // process (or, as PID 1 of a container, was ignored), or tokio dropped it. A race, hence
    // the rounds: the old binary failed this test in 4 runs of 5.
    for (round, signal) in ["TERM", "INT"].iter().cycle().take(20).enumerate() {
        let mut emulator = start(&[], &[]);

        emulator.signal(signal);

        let status = emulator.wait_for_exit(STOP_LIMIT);
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}, SIG{signal}: {status}"
        );
    }
}

#[test]
fn a_request_open_at_sigterm_is_answered_before_it_stops() {
    let mut emulator = start(&[], &[]);
    let mut request = emulator.open_request();

    emulator.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    request.write_all(REST_OF_BODY.as_bytes()).unwrap();
    let mut answer = String::new();
    request.read_to_string(&mut answer).unwrap();

    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(emulator.wait_for_exit(STOP_LIMIT).code(), Some(0));
}

#[test]
fn a_second_signal_stops_it_at_once_without_waiting_for_open_requests() {
    let mut emulator = start(&[], &[]);
    let _stalled = emulator.open_request();
    emulator.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(emulator.is_running(), "waits for the open request");

    let signalled = Instant::now();
    emulator.signal("INT");

    assert_eq!(emulator.wait_for_exit(STOP_LIMIT).code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
    emulator.line_with("open requests abandoned");
    emulator.line_with("livekit emulator stopped");
}

#[test]
fn a_stalled_request_delays_the_stop_by_a_few_seconds_only() {
    let mut emulator = start(&[], &[]);
    let _stalled = emulator.open_request();
    let signalled = Instant::now();

    emulator.signal("TERM");

    assert_eq!(emulator.wait_for_exit(STOP_LIMIT).code(), Some(0));
    let waited = signalled.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    emulator.line_with("open requests did not finish in time");
}
