//! What the gRPC transport reports at `/metrics` (through the `metrics` facade; the app installs
//! the recorder):
//!
//! - `orchestrator_grpc_requests_total{method, code}`: every call, by method and final status
//!   code (`OK`, `NOT_FOUND`, …), counted when the status is known: at once for an answer
//!   without a body (tonic's trailers-only errors), from the trailers otherwise, `CANCELLED`
//!   when the client goes away first;
//! - `orchestrator_grpc_request_duration_seconds{method}`: time until the answer starts (the
//!   whole call for the unary RPCs; for `Subscribe`, its set-up);
//! - `orchestrator_grpc_subscriptions`: open `Subscribe` calls;
//! - `orchestrator_events_delivered_total{transport="grpc"}`, and
//!   `orchestrator_slow_consumer_disconnects_total{transport="grpc"}`.
//!
//! `method` is one of a fixed list (anything else is `other`), so a client cannot grow the
//! label set by calling made-up paths.
//!
//! The same layer continues a caller's trace: a call with valid `traceparent` metadata runs
//! with a [`TraceContext`] of its own (what its log lines and the LiveKit calls it causes
//! carry), as an HTTP request does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use metrics::{Counter, Gauge};
use orchestrator_domain::policy::trace::{TraceContext, TRACEPARENT};
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::Service;
use tonic::Code;

/// Methods counted by name: `Service/Method` as the path ends.
const METHODS: [&str; 13] = [
    "StreamService/Subscribe",
    "StreamService/CreateStream",
    "StreamService/GetStream",
    "StreamService/ListStreams",
    "StreamService/UpdateStream",
    "StreamService/StopStream",
    "StreamService/JoinStream",
    "StreamService/LeaveStream",
    "StreamService/GetStreamState",
    "StreamService/ListParticipants",
    "Health/Check",
    "Health/Watch",
    "ServerReflection/ServerReflectionInfo",
];

/// The label of a request path: `Service/Method` for the methods above, `other` otherwise.
fn method_label(path: &str) -> &'static str {
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let service = segments.next().unwrap_or_default();
    let method = segments.next().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or_default();
    METHODS
        .iter()
        .find(|known| {
            known
                .split_once('/')
                .is_some_and(|(s, m)| s == service && m == method)
        })
        .copied()
        .unwrap_or("other")
}

/// Shows this transport's series from the start, at 0 (the app calls it once, when it
/// installs the recorder). Calls by method and code appear as they happen: 14 methods by 17
/// codes would be 238 series of zeros.
pub fn register() {
    metrics::gauge!("orchestrator_grpc_subscriptions").increment(0.0);
    metrics::counter!("orchestrator_events_delivered_total", "transport" => "grpc").increment(0);
    metrics::counter!("orchestrator_slow_consumer_disconnects_total", "transport" => "grpc")
        .increment(0);
}

/// The canonical name of a status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The `grpc-status` of a header block, if it has one.
fn status_of(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.trim().parse().ok()?))
}

fn count(method: &'static str, code: Code) {
    metrics::counter!(
        "orchestrator_grpc_requests_total",
        "method" => method,
        "code" => code_name(code)
    )
    .increment(1);
}

/// The tower layer counting and timing every call (`Server::builder().layer(MetricsLayer)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered { inner }
    }
}

/// [`MetricsLayer`]'s service.
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Metered<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let trace = continued_trace(request.headers());
        let call = TraceContext::scope(trace, self.inner.call(request));
        Box::pin(async move {
            let response = call.await;
            metrics::histogram!(
                "orchestrator_grpc_request_duration_seconds",
                "method" => method
            )
            .record(started.elapsed().as_secs_f64());
            let (parts, body) = response?.into_parts();
            // A trailers-only answer (an error) carries its status in the headers.
            let pending = match status_of(&parts.headers) {
                Some(code) => {
                    count(method, code);
                    None
                }
                None => Some(method),
            };
            Ok(Response::from_parts(
                parts,
                MeteredBody {
                    inner: body,
                    pending,
                },
            ))
        })
    }
}

/// The trace a call continues: its `traceparent` metadata, when valid, with a span id of our
/// own (drawn only for a call that has one).
fn continued_trace(headers: &HeaderMap) -> Option<TraceContext> {
    let raw = headers.get(TRACEPARENT)?.to_str().ok()?;
    let span_id = uuid::Uuid::new_v4().as_u64_pair().0;
    TraceContext::continue_from(raw, span_id).ok()
}

/// A response body that counts the call's status when its trailers pass (or when it ends or
/// is dropped without them).
#[derive(Debug)]
pub struct MeteredBody<B> {
    inner: B,
    /// The method, while its status is not counted yet.
    pending: Option<&'static str>,
}

impl<B> MeteredBody<B> {
    fn settle(&mut self, code: Code) {
        if let Some(method) = self.pending.take() {
            count(method, code);
        }
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        // The client went away before the status was sent.
        self.settle(Code::Cancelled);
    }
}

impl<B: Body + Unpin> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of) {
                    self.settle(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.settle(Code::Internal),
            Poll::Ready(None) => self.settle(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One `Subscribe` call's metrics: counted open while it lives.
pub(crate) struct SubscriptionMetrics {
    open: Gauge,
    delivered: Counter,
    slow_consumers: Counter,
}

impl SubscriptionMetrics {
    /// A subscription that just started.
    pub(crate) fn opened() -> Self {
        let open = metrics::gauge!("orchestrator_grpc_subscriptions");
        open.increment(1.0);
        Self {
            open,
            delivered: metrics::counter!(
                "orchestrator_events_delivered_total",
                "transport" => "grpc"
            ),
            slow_consumers: metrics::counter!(
                "orchestrator_slow_consumer_disconnects_total",
                "transport" => "grpc"
            ),
        }
    }

    /// An event (or an audience update) was handed to the response stream.
    pub(crate) fn delivered(&self) {
        self.delivered.increment(1);
    }

    /// The subscription ends as a slow consumer.
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.increment(1);
    }
}

impl Drop for SubscriptionMetrics {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_are_named_and_anything_else_is_other() {
        assert_eq!(
            method_label("/livestream.orchestrator.v1.StreamService/CreateStream"),
            "StreamService/CreateStream"
        );
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "Health/Check");
        assert_eq!(
            method_label("/livestream.orchestrator.v1.StreamService/Made-Up"),
            "other"
        );
        assert_eq!(method_label("/x/y/z"), "other");
        assert_eq!(method_label(""), "other");
    }

    #[test]
    fn a_call_with_valid_traceparent_metadata_continues_the_trace() {
        let mut headers = HeaderMap::new();
        assert_eq!(continued_trace(&headers), None);
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );

        let trace = continued_trace(&headers).unwrap();

        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.parent_span_id(), "00f067aa0ba902b7");
        headers.insert("traceparent", "00-garbage".parse().unwrap());
        assert_eq!(continued_trace(&headers), None, "an invalid one is ignored");
    }

    #[test]
    fn a_status_header_is_read_as_its_code() {
        let mut headers = HeaderMap::new();
        assert_eq!(status_of(&headers), None);

        headers.insert("grpc-status", "5".parse().unwrap());

        assert_eq!(status_of(&headers), Some(Code::NotFound));
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
    }
}
