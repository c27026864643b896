//! RFC 6455 conformance of the WebSocket transport, which serves connections with the
//! project's own framing over actix-http's frame parser (`crates/ws`): the case families of the
//! Autobahn TestSuite (framing, pings and pongs, reserved bits, opcodes, fragmentation, UTF-8,
//! close handling, large messages) and the project's own, each with what the RFC expects of
//! this server, driven by a raw-frame client against the real binary. Every case must pass;
//! across the run, no bad input may make the server (or a library in it) log a WARN or ERROR
//! line, and every connection it failed is counted in
//! `orchestrator_ws_protocol_errors_total{reason}` under its reason.
//!
//! The report (`target/ws-conformance/report.md`, committed as `docs/ws-conformance.md`) lists
//! every case and its outcome.
//!
//! # Layout
//!
//! - `client`: frames built bit by bit, the server's frames read and checked.
//! - `script`: a case (steps, expectations) and how it runs.
//! - `cases`: the cases, by family.
//! - `report`: the report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod client;
mod report;
mod script;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use orchestrator_tests::process::{Orchestrator, Signal};
use sha2::{Digest, Sha256};

use report::{Check, Outcome, Row};
use script::{Server, Target};

/// The read-only key every case connects with: any client may send what the cases send.
const KEY: &str = "conformance-read-only-key";
/// The limit of the large-message family (Autobahn's largest messages are 16 MiB).
const LARGE_LIMIT: usize = 16 * 1024 * 1024;
/// The longest one case may take.
const CASE_LIMIT: Duration = Duration::from_secs(120);

fn start(max_message_bytes: usize) -> Orchestrator {
    let entry = format!("sha256:{:x}:read", Sha256::digest(KEY.as_bytes()));
    let limit = max_message_bytes.to_string();
    Orchestrator::start(&[
        ("API_KEYS", entry.as_str()),
        ("APP__REALTIME__MAX_MESSAGE_BYTES", limit.as_str()),
        // Hundreds of handshakes from one address in a few seconds.
        ("APP__LIMITS__REQUESTS_PER_SEC_PER_ADDRESS", "0"),
        ("APP__LIMITS__CONNECTIONS_PER_ADDRESS", "0"),
    ])
}

fn target(server: &Orchestrator) -> Target {
    Target {
        addr: server.http,
        key: KEY.to_owned(),
    }
}

/// The series of `orchestrator_ws_protocol_errors_total` at `/metrics`, by reason.
async fn counted(server: &Orchestrator) -> Result<BTreeMap<String, u64>, String> {
    let text = orchestrator_tests::http_client()
        .get(format!("{}/metrics", server.base()))
        .bearer_auth(KEY)
        .send()
        .await
        .map_err(|err| err.to_string())?
        .text()
        .await
        .map_err(|err| err.to_string())?;
    let prefix = "orchestrator_ws_protocol_errors_total{reason=\"";
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .filter_map(|rest| {
            let (reason, value) = rest.split_once("\"} ")?;
            Some((reason.to_owned(), value.trim().parse::<f64>().ok()? as u64))
        })
        .filter(|(_, value)| *value > 0)
        .collect())
}

/// Whether every case a server was expected to fail was counted under its reason, and
/// nothing else.
fn compare_counts(
    name: &str,
    expected: &BTreeMap<String, u64>,
    counted: Result<BTreeMap<String, u64>, String>,
) -> Result<(), String> {
    let counted = counted?;
    if &counted == expected {
        Ok(())
    } else {
        Err(format!(
            "{name} server: expected {expected:?}, counted {counted:?}"
        ))
    }
}

/// The WARN and ERROR lines a stopped server logged, but for its readiness changes (about its
/// dependencies, not its clients: a busy machine can delay the first probe of LiveKit).
fn loud_lines(server: &mut Orchestrator) -> Vec<String> {
    server.signal(Signal::Term);
    server.wait_exit(Duration::from_secs(20));
    // The log reader thread takes the last lines after the exit.
    std::thread::sleep(Duration::from_millis(300));
    server
        .logs()
        .into_iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .filter(|line| !line.contains("\"target\":\"orchestrator::startup::health\""))
        .collect()
}

fn report_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test> → target/ws-conformance/report.md
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    target.join("ws-conformance").join("report.md")
}

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/ws-conformance.md")
}

#[test]
fn the_websocket_transport_conforms_to_rfc_6455() {
    let started = Instant::now();
    let mut default = start(64 * 1024);
    let mut large = start(LARGE_LIMIT);
    let targets = [target(&default), target(&large)];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    let mut expected: [BTreeMap<String, u64>; 2] = Default::default();
    for group in cases::GROUPS {
        for case in group() {
            let on = usize::from(case.server == Server::Large);
            let ran = runtime.block_on(async {
                tokio::time::timeout(CASE_LIMIT, script::run(&case, &targets[on])).await
            });
            let outcome = match ran {
                Ok(Ok(())) => Outcome::Pass,
                Ok(Err(why)) => Outcome::Fail(why),
                Err(_) => Outcome::Fail(format!("not over within {CASE_LIMIT:?}")),
            };
            if let Some(reason) = case.refusal() {
                *expected[on].entry(reason.to_owned()).or_default() += 1;
            }
            rows.push(Row::new(&case, outcome));
        }
    }
    let counts = [
        compare_counts("default", &expected[0], runtime.block_on(counted(&default))),
        compare_counts("large", &expected[1], runtime.block_on(counted(&large))),
    ];
    let loud: Vec<String> = [&mut default, &mut large]
        .into_iter()
        .flat_map(loud_lines)
        .collect();
    let checks = [
        Check {
            what: "no WARN or ERROR line logged by either server (bad input from a client is \
                   answered with a close code and counted, never logged loudly)",
            outcome: if loud.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail(loud.join(" "))
            },
        },
        Check {
            what: "every connection a server failed counted in \
                   `orchestrator_ws_protocol_errors_total` under the case's reason, nothing else",
            outcome: match counts
                .iter()
                .filter_map(|count| count.clone().err())
                .collect::<Vec<_>>()
            {
                wrong if wrong.is_empty() => Outcome::Pass,
                wrong => Outcome::Fail(wrong.join("; ")),
            },
        },
    ];

    let report = report::render(&rows, &checks);
    let path = report_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &report).unwrap();
    println!(
        "{} cases in {:.1?}; report: {}",
        rows.len(),
        started.elapsed(),
        path.display()
    );

    let failed: Vec<String> = rows
        .iter()
        .filter_map(|row| match &row.outcome {
            Outcome::Fail(why) => Some(format!("{} {}: {why}", row.id, row.description)),
            Outcome::Pass => None,
        })
        .chain(checks.iter().filter_map(|check| match &check.outcome {
            Outcome::Fail(why) => Some(format!("{}: {why}", check.what)),
            Outcome::Pass => None,
        }))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let committed = committed_path();
    if std::env::var_os("UPDATE_WS_CONFORMANCE_DOC").is_some() {
        std::fs::write(&committed, &report).unwrap();
    }
    let copy = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        copy == report,
        "{} is not the report of this run ({}): rerun with UPDATE_WS_CONFORMANCE_DOC=1",
        committed.display(),
        path.display()
    );
}
