//! The real binary's first scrape: every family of the catalogue
//! (`orchestrator::telemetry::metrics::FAMILIES`) is declared, and those whose labels form a
//! small closed set have their series from the start, at 0 where nothing happened yet; the
//! process's own metrics and the build are there too. A fresh process, so that nothing else
//! counted before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use orchestrator::telemetry::metrics::{Kind, Series, FAMILIES};

/// The body of `GET /metrics`.
fn first_scrape(process: &Process) -> String {
    let answer = get(process.addr, "/metrics", None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The sample lines of `family` (a histogram's `_bucket`, `_sum` and `_count` included).
fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(family).is_some_and(|rest| {
                ["{", " ", "_bucket{", "_sum", "_count"]
                    .iter()
                    .any(|next| rest.starts_with(next))
            })
        })
        .collect()
}

/// The value of the one sample line that starts with `series` followed by a space.
fn value(text: &str, series: &str) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{series} once in:\n{text}");
    found[0]
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    }
}

#[test]
fn the_first_scrape_of_a_fresh_instance_declares_every_family_and_shows_the_closed_series() {
    let mut process = start();

    let text = first_scrape(&process);
    signal(&process, "TERM");
    assert!(wait_for_exit(&mut process, Duration::from_secs(20)).success());

    for family in FAMILIES {
        let name = family.name;
        assert!(
            text.contains(&format!("# HELP {name} {}\n", family.help)),
            "{name} has its help:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} {}\n", kind_name(family.kind))),
            "{name} has its type:\n{text}"
        );
        let found = samples(&text, name);
        match family.series {
            Series::FromStart => assert!(!found.is_empty(), "{name} has series:\n{text}"),
            Series::WithRedis => assert!(found.is_empty(), "{name} on the memory store: {found:?}"),
            Series::WithTraffic => {}
        }
    }
    for idle in [
        "orchestrator_ws_connections",
        "orchestrator_grpc_subscriptions",
        "orchestrator_http_malformed_requests_total",
        "orchestrator_events_delivered_total{transport=\"ws\"}",
        "orchestrator_events_delivered_total{transport=\"grpc\"}",
        "orchestrator_slow_consumer_disconnects_total{transport=\"ws\"}",
        "orchestrator_slow_consumer_disconnects_total{transport=\"grpc\"}",
        "orchestrator_ws_protocol_errors_total{reason=\"fragmented_control\"}",
        "orchestrator_events_published_total{type=\"participant_left\"}",
        "orchestrator_webhooks_total{outcome=\"rejected\"}",
        "orchestrator_livekit_requests_total{method=\"remove_participant\",outcome=\"not_found\"}",
        "orchestrator_reconciler_passes_total{outcome=\"lost_lease\"}",
        "orchestrator_reconciler_lease_changes_total{change=\"released\"}",
        "orchestrator_livekit_request_duration_seconds_count{method=\"remove_participant\"}",
    ] {
        assert_eq!(value(&text, idle), 0.0, "{idle}");
    }
    assert!(
        value(
            &text,
            "orchestrator_livekit_requests_total{method=\"probe\",outcome=\"ok\"}"
        ) >= 1.0,
        "the start-up readiness check asked LiveKit"
    );
    assert_eq!(value(&text, "orchestrator_ready"), 1.0);
    let build = format!(
        "orchestrator_build_info{{version=\"{}\",profile=\"debug\",os=\"{}\",arch=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    assert_eq!(value(&text, &build), 1.0);
    assert!(value(&text, "process_open_fds") >= 3.0);
    assert!(value(&text, "process_start_time_seconds") > 1.0e9);
}
