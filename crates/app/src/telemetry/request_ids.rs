//! The request id on every JSON line a request logs, read from the request's task-local
//! ([`RequestId::current`]) rather than from a `tracing` span: creating, entering and closing
//! a span for each request cost every request, while lines other than the access line are
//! rare (warnings and errors). The line gets a top-level `request_id`, the key the access
//! line uses too, and `trace_id` and `span_id` when the request continues a trace
//! ([`TraceContext::current`]).

use std::fmt;

use orchestrator_domain::policy::trace::TraceContext;
use orchestrator_http::request_tracing::RequestId;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats with `F` (a JSON line format), adding the current request's id (and trace) first.
#[derive(Debug)]
pub struct WithRequestId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let (id, trace) = (RequestId::current(), TraceContext::current());
        if id.is_none() && trace.is_none() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix("{\"") {
            Some(rest) => {
                writer.write_str("{")?;
                if let Some(id) = id {
                    let id = serde_json::to_string(id.as_str()).map_err(|_| fmt::Error)?;
                    write!(writer, "\"request_id\":{id},")?;
                }
                // A gRPC call may continue a trace without a request id.
                if let Some(trace) = trace {
                    // Hex digits: nothing to escape.
                    write!(
                        writer,
                        "\"trace_id\":\"{}\",\"span_id\":\"{}\",",
                        trace.trace_id(),
                        trace.span_id()
                    )?;
                }
                write!(writer, "\"{rest}")
            }
            // Not a JSON object: written as the inner format wrote it.
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    /// The lines written while `log` runs, through the JSON format `telemetry::init` uses.
    fn json_lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        super::super::json_written(log)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn a_line_logged_while_a_request_is_handled_carries_its_id() {
        let lines = json_lines_of(|| {
            let id = RequestId::from_client(Some(&HeaderValue::from_static("lb-\"7\"")));
            id.scope_sync(|| tracing::warn!(attempt = 2, "LiveKit unavailable"));
        });

        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["request_id"], "lb-\"7\"");
        assert_eq!(lines[0]["message"], "LiveKit unavailable");
        assert_eq!(lines[0]["attempt"], 2);
        assert_eq!(lines[0]["level"], "WARN");
    }

    #[test]
    fn a_line_logged_while_a_traced_request_is_handled_carries_its_trace() {
        let trace = TraceContext::continue_from(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            0xbeef,
        )
        .ok();
        let lines = json_lines_of(|| {
            let id = RequestId::from_client(Some(&HeaderValue::from_static("r-9")));
            id.scope_sync(|| {
                TraceContext::scope_sync(trace, || tracing::warn!("LiveKit unavailable"));
            });
        });

        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["request_id"], "r-9");
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[0]["span_id"], "000000000000beef");
        assert_eq!(lines[0]["message"], "LiveKit unavailable");
    }

    #[test]
    fn a_line_logged_outside_any_request_has_no_request_id() {
        let lines = json_lines_of(|| tracing::info!("orchestrator listening"));

        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "orchestrator listening");
        assert!(lines[0].get("request_id").is_none(), "{}", lines[0]);
    }
}
