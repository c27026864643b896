//! Access lines in the JSON log, written directly: the same line `tracing`'s JSON formatter
//! writes for the access event (same keys, order and number formatting; checked by the test
//! below), without the generic path's field visitors, intermediate map and per-event
//! allocations. The subscriber's filter still decides whether a line is written
//! (`orchestrator_http::request_tracing` asks it first).

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;

use chrono::{SecondsFormat, Utc};
use orchestrator_http::request_tracing::{AccessLine, AccessLog, ACCESS_TARGET};
use tracing_subscriber::fmt::MakeWriter;

use super::batched::BatchedStdout;

/// Writes access lines as JSON into the batched standard output.
#[derive(Debug)]
pub struct JsonAccessLog {
    out: BatchedStdout,
}

impl JsonAccessLog {
    /// Lines go to `out`.
    pub fn new(out: BatchedStdout) -> Self {
        Self { out }
    }
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl AccessLog for JsonAccessLog {
    fn write(&self, line: &AccessLine<'_>) {
        LINE.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.clear();
            let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
            if format(&mut buffer, &timestamp, line).is_ok() {
                let _ = self.out.make_writer().write_all(&buffer);
            }
        });
    }
}

/// The line of `line` at `timestamp`, newline included.
fn format(out: &mut Vec<u8>, timestamp: &str, line: &AccessLine<'_>) -> serde_json::Result<()> {
    let text = |out: &mut Vec<u8>, value: &str| serde_json::to_writer(&mut *out, value);
    out.extend_from_slice(b"{\"timestamp\":");
    text(out, timestamp)?;
    out.extend_from_slice(b",\"level\":\"INFO\",\"message\":\"request\",\"method\":");
    text(out, line.method)?;
    out.extend_from_slice(b",\"route\":");
    text(out, line.route)?;
    out.extend_from_slice(b",\"path\":");
    text(out, line.path)?;
    if let Some(query) = line.query {
        out.extend_from_slice(b",\"query\":");
        text(out, query)?;
    }
    out.extend_from_slice(b",\"status\":");
    serde_json::to_writer(&mut *out, &line.status)?;
    if let Some(bytes) = line.response_bytes {
        out.extend_from_slice(b",\"response_bytes\":");
        serde_json::to_writer(&mut *out, &bytes)?;
    }
    out.extend_from_slice(b",\"latency_ms\":");
    serde_json::to_writer(&mut *out, &line.latency_ms)?;
    if let Some(ip) = line.client_ip {
        out.extend_from_slice(b",\"client_ip\":\"");
        write_ip(out, ip);
        out.push(b'"');
    }
    if let Some(agent) = line.user_agent {
        out.extend_from_slice(b",\"user_agent\":");
        text(out, agent)?;
    }
    out.extend_from_slice(b",\"request_id\":");
    text(out, line.request_id)?;
    if let Some(trace) = line.trace {
        out.extend_from_slice(b",\"trace_id\":");
        text(out, trace.trace_id())?;
        out.extend_from_slice(b",\"span_id\":");
        text(out, trace.span_id())?;
        out.extend_from_slice(b",\"parent_span_id\":");
        text(out, trace.parent_span_id())?;
    }
    out.extend_from_slice(b",\"target\":");
    text(out, ACCESS_TARGET)?;
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// An address as its `Display` writes it (nothing to escape). IPv4 digit by digit: the
/// formatting machinery took half the time of a whole line.
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (at, octet) in v4.octets().into_iter().enumerate() {
                if at > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use orchestrator_domain::policy::trace::TraceContext;
    use orchestrator_http::request_tracing::access_event;

    use super::*;

    /// The bytes tracing's JSON formatter, configured as `telemetry::init` configures it,
    /// writes for the access event of `line` (the event logged when no writer is installed).
    fn as_tracing_writes(line: &AccessLine<'_>) -> String {
        super::super::json_written(|| access_event(line))
    }

    fn timestamp_of(written: &str) -> String {
        let parsed: serde_json::Value = serde_json::from_str(written).unwrap();
        parsed["timestamp"].as_str().unwrap().to_owned()
    }

    fn written_directly(line: &AccessLine<'_>, timestamp: &str) -> Vec<u8> {
        let mut out = Vec::new();
        format(&mut out, timestamp, line).unwrap();
        out
    }

    /// A line with every optional field, and untrusted text that needs escaping.
    fn full_line(trace: &TraceContext) -> AccessLine<'_> {
        AccessLine {
            method: "GET",
            route: "/streams/{id}",
            path: "/streams/3f1c\"quoted\"\\slash\u{7}é",
            query: Some("limit=2&note=\u{1b}[31m\"x\""),
            status: 404,
            response_bytes: Some(1234),
            latency_ms: 0.067_521_000_000_000_01,
            client_ip: Some("2001:db8::7".parse().unwrap()),
            user_agent: Some("curl/8.5.0\tevil\u{0}"),
            request_id: "lb-7f3a:42/x",
            trace: Some(trace),
        }
    }

    fn a_trace() -> TraceContext {
        TraceContext::continue_from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            0xfeed,
        )
        .unwrap()
    }

    #[test]
    fn the_direct_line_is_byte_for_byte_the_line_tracing_writes() {
        let trace = a_trace();
        let full = full_line(&trace);
        let minimal = AccessLine {
            query: None,
            response_bytes: None,
            client_ip: None,
            user_agent: None,
            trace: None,
            ..full
        };

        for line in [full, minimal] {
            let expected = as_tracing_writes(&line);

            let direct = written_directly(&line, &timestamp_of(&expected));

            assert_eq!(String::from_utf8(direct).unwrap(), expected);
        }
    }

    #[test]
    fn control_characters_of_the_client_are_escaped_and_every_field_is_written() {
        let trace = a_trace();
        let direct = written_directly(&full_line(&trace), "2024-01-01T00:00:00.000000Z");
        let text = String::from_utf8(direct).unwrap();

        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["user_agent"], "curl/8.5.0\tevil\u{0}");
        assert_eq!(parsed["query"], "limit=2&note=\u{1b}[31m\"x\"");
        assert_eq!(parsed["client_ip"], "2001:db8::7");
        assert_eq!(parsed["response_bytes"], 1234);
        assert_eq!(parsed["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed["parent_span_id"], "00f067aa0ba902b7");
        assert_eq!(parsed["span_id"], "000000000000feed");
    }

    #[test]
    fn addresses_are_written_as_they_display() {
        for ip in [
            "0.0.0.0",
            "10.1.20.255",
            "127.0.0.1",
            "199.9.100.7",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();

            write_ip(&mut out, ip);

            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn the_timestamp_has_the_shape_of_tracings_own() {
        let ours = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let theirs = timestamp_of(&as_tracing_writes(&AccessLine {
            method: "GET",
            route: "/health",
            path: "/health",
            query: None,
            status: 200,
            response_bytes: Some(15),
            latency_ms: 1.0,
            client_ip: None,
            user_agent: None,
            request_id: "x",
            trace: None,
        }));

        assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
        assert!(ours.ends_with('Z') && theirs.ends_with('Z'));
        assert_eq!(ours.as_bytes()[19], b'.');
        assert_eq!(theirs.as_bytes()[19], b'.');
    }
}
