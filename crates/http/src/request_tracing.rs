//! Request ids, the access log and the HTTP metrics: one middleware around every route of the
//! port (the app wraps the whole app with it, outermost).
//!
//! - **Request id.** A client's `X-Request-Id` is kept when it is 1 to [`MAX_REQUEST_ID`]
//!   visible ASCII characters (a load balancer's or caller's id then follows the request
//!   through this service's logs); anything else is replaced by a fresh UUID. The id is
//!   answered in `X-Request-Id`, put in every error envelope (`error.requestId`, see
//!   [`crate::error`]) and in every log line of the request: a `request` span carries it,
//!   unless the subscriber reads [`RequestId::current`] itself and said so with
//!   [`span_requests`]`(false)` (the app's JSON logs do: a span per request was ≈ 7 % of a
//!   cheap request's CPU, for the rare line a request logs besides its access line).
//! - **Trace context.** A valid W3C `traceparent` is continued
//!   ([`TraceContext`]): the request gets a span id of its own, current while it is handled
//!   (the calls it causes carry it on: LiveKit's), and its log lines carry the trace id. An
//!   invalid one is ignored; without one, no trace is started.
//! - **Access log.** One line per request at `info`, target `orchestrator_http::access`:
//!   method, route (the pattern, e.g. `/streams/{id}`), path, query (credentials redacted),
//!   status, response size, latency, client address (the connection's peer: no proxy header
//!   is trusted), user agent, request id, and the trace ids when the request continues a
//!   trace. Client text is bounded and escaped ([`crate::access_text`]).
//!   `RUST_LOG=info,orchestrator_http::access=off` silences it. The filter is always the
//!   subscriber's; how the line is written may be an installed [`AccessLog`] (the app's JSON
//!   logs write it directly: the generic event path was 6 % of a cheap request's CPU).
//! - **Metrics.** `orchestrator_http_requests_total{method, route, status}` and
//!   `orchestrator_http_request_duration_seconds{method, route}` (until the answer's head is
//!   ready). `route` is the matched pattern, `unmatched` for a 404 of no route, so ids in
//!   paths never become labels; an unusual method is `other`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::BodySize;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use orchestrator_domain::policy::trace::{TraceContext, TRACEPARENT};
use tracing::Instrument;

use crate::access_text;

/// The target of access lines.
pub const ACCESS_TARGET: &str = "orchestrator_http::access";

/// One request's access line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccessLine<'a> {
    /// `GET`, `POST`, … (`other` for an unusual method).
    pub method: &'static str,
    /// The matched pattern, `unmatched` for none.
    pub route: &'a str,
    /// The request's path.
    pub path: &'a str,
    /// The query string, bounded, credentials redacted ([`access_text::query`]).
    pub query: Option<&'a str>,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body size in bytes, when known before it is sent (not for a stream).
    pub response_bytes: Option<u64>,
    /// Until the answer's head was ready, in milliseconds.
    pub latency_ms: f64,
    /// The address of the connection's peer (a proxy's, behind one).
    pub client_ip: Option<IpAddr>,
    /// The `User-Agent`, bounded ([`access_text::user_agent`]).
    pub user_agent: Option<&'a str>,
    /// The request id.
    pub request_id: &'a str,
    /// The trace the request continues, if it came with a valid `traceparent`.
    pub trace: Option<&'a TraceContext>,
}

/// Writes access lines instead of a `tracing` event, once the subscriber's filter has let the
/// line through; installed once per process with [`install_access_log`].
pub trait AccessLog: Send + Sync {
    /// Writes `line`.
    fn write(&self, line: &AccessLine<'_>);
}

static ACCESS_LOG: std::sync::OnceLock<Box<dyn AccessLog>> = std::sync::OnceLock::new();

/// Installs the process's access-line writer; `false` (and nothing changes) if one was
/// installed already.
pub fn install_access_log(log: Box<dyn AccessLog>) -> bool {
    ACCESS_LOG.set(log).is_ok()
}

static REQUEST_SPAN: AtomicBool = AtomicBool::new(true);

/// Whether each request runs in a `request` span carrying its id (the default). A subscriber
/// that adds [`RequestId::current`] to the lines it writes turns it off.
pub fn span_requests(on: bool) {
    REQUEST_SPAN.store(on, Ordering::Relaxed);
}

/// Logs the access line of an answered request, `line` completed with what the answer and its
/// request say (read only when the line is written): through the installed [`AccessLog`] if
/// any, as a `tracing` event otherwise.
fn log_access<B: MessageBody>(response: &ServiceResponse<B>, line: AccessLine<'_>) {
    if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO) {
        return;
    }
    let request = response.request();
    let query = Some(request.query_string())
        .filter(|query| !query.is_empty())
        .map(access_text::query);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .map(access_text::user_agent);
    let response_bytes = match response.response().body().size() {
        // The codec sends a HEAD answer's head only.
        _ if line.method == "HEAD" => Some(0),
        BodySize::Sized(bytes) => Some(bytes),
        BodySize::None => Some(0),
        BodySize::Stream => None,
    };
    let line = AccessLine {
        query: query.as_deref(),
        response_bytes,
        client_ip: request.peer_addr().map(|peer| peer.ip()),
        user_agent: user_agent.as_deref(),
        ..line
    };
    match ACCESS_LOG.get() {
        Some(log) => log.write(&line),
        None => access_event(&line),
    }
}

/// `line` as the `tracing` event an [`AccessLog`] stands in for (what it must write the same).
pub fn access_event(line: &AccessLine<'_>) {
    tracing::info!(
        target: ACCESS_TARGET,
        method = line.method,
        route = line.route,
        path = line.path,
        query = line.query,
        status = line.status,
        response_bytes = line.response_bytes,
        latency_ms = line.latency_ms,
        client_ip = line.client_ip.map(tracing::field::display),
        user_agent = line.user_agent,
        request_id = line.request_id,
        trace_id = line.trace.map(TraceContext::trace_id),
        span_id = line.trace.map(TraceContext::span_id),
        parent_span_id = line.trace.map(TraceContext::parent_span_id),
        "request"
    );
}

/// The header carrying the request id, both ways.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Longest client request id kept.
pub const MAX_REQUEST_ID: usize = 128;

/// SplitMix64 seeded from the kernel once per thread: 122 random bits per id.
struct IdGenerator(u64);

impl IdGenerator {
    fn seeded() -> Self {
        Self(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    /// A span id of our own (random, never 0).
    fn next_span_id(&mut self) -> u64 {
        self.next_u64().max(1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_bytes(&mut self) -> [u8; 16] {
        let high = u128::from(self.next_u64()) << 64;
        (high | u128::from(self.next_u64())).to_le_bytes()
    }
}

thread_local! {
    static FRESH_IDS: std::cell::RefCell<IdGenerator> = std::cell::RefCell::new(IdGenerator::seeded());
    /// This thread's metric handles by label set: looking a labelled series up in the
    /// recorder builds and hashes its key, once per label set here instead of per request.
    static HANDLES: std::cell::RefCell<Handles> = std::cell::RefCell::default();
}

/// Metric handles of one thread, by route pattern, then method (and status), taken from one
/// recorder (known by its address: one installed later, or a test's local one, gets handles
/// of its own).
#[derive(Default)]
struct Handles {
    recorder: usize,
    by_route: std::collections::HashMap<String, RouteHandles>,
}

#[derive(Default)]
struct RouteHandles {
    durations: Vec<(&'static str, metrics::Histogram)>,
    requests: Vec<(&'static str, u16, metrics::Counter)>,
}

impl Handles {
    /// Counts one answered request.
    fn record(&mut self, method: &'static str, route: &str, status: u16, latency: f64) {
        let recorder =
            metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>().addr());
        if self.recorder != recorder {
            self.recorder = recorder;
            self.by_route.clear();
        }
        if !self.by_route.contains_key(route) {
            self.by_route
                .insert(route.to_owned(), RouteHandles::default());
        }
        let Some(handles) = self.by_route.get_mut(route) else {
            return;
        };
        handles.duration(method, route).record(latency);
        handles.requests(method, route, status).increment(1);
    }
}

impl RouteHandles {
    fn duration(&mut self, method: &'static str, route: &str) -> &metrics::Histogram {
        let at = match self.durations.iter().position(|(m, _)| *m == method) {
            Some(at) => at,
            None => {
                let histogram = metrics::histogram!(
                    "orchestrator_http_request_duration_seconds",
                    "method" => method,
                    "route" => route.to_owned()
                );
                self.durations.push((method, histogram));
                self.durations.len() - 1
            }
        };
        &self.durations[at].1
    }

    fn requests(&mut self, method: &'static str, route: &str, status: u16) -> &metrics::Counter {
        let found = self
            .requests
            .iter()
            .position(|(m, s, _)| *m == method && *s == status);
        let at = match found {
            Some(at) => at,
            None => {
                let counter = metrics::counter!(
                    "orchestrator_http_requests_total",
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                );
                self.requests.push((method, status, counter));
                self.requests.len() - 1
            }
        };
        &self.requests[at].2
    }
}

tokio::task_local! {
    /// The id of the request being handled (error envelopes carry it).
    static REQUEST_ID: RequestId;
}

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl RequestId {
    /// The client's id when it is acceptable, else a fresh one.
    pub fn from_client(raw: Option<&HeaderValue>) -> Self {
        raw.and_then(|value| value.to_str().ok())
            .filter(|id| Self::acceptable(id))
            .map_or_else(Self::fresh, |id| Self(id.into()))
    }

    /// A random UUID (v4) from this thread's generator: an id only has to be unique, and
    /// asking the kernel for randomness on every request cost a system call each.
    fn fresh() -> Self {
        let bytes = FRESH_IDS.with(|ids| ids.borrow_mut().next_bytes());
        Self(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string()
                .into(),
        )
    }

    /// 1 to [`MAX_REQUEST_ID`] visible ASCII characters (no spaces, no control characters).
    fn acceptable(id: &str) -> bool {
        (1..=MAX_REQUEST_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs `work` as the middleware runs a request's handling: [`RequestId::current`] is
    /// this id meanwhile (for code and tests outside a request).
    pub fn scope_sync<R>(self, work: impl FnOnce() -> R) -> R {
        REQUEST_ID.sync_scope(self, work)
    }

    /// The id of the request being handled on this task, if any.
    pub fn current() -> Option<Self> {
        REQUEST_ID.try_with(Clone::clone).ok()
    }
}

/// `traceparent`, validated once (a name given as text is parsed at each lookup).
const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);

/// The trace a request continues: its `traceparent`, when valid, with a span id of our own.
fn continued_trace(raw: Option<&HeaderValue>) -> Option<TraceContext> {
    let raw = raw?.to_str().ok()?;
    let span_id = FRESH_IDS.with(|ids| ids.borrow_mut().next_span_id());
    TraceContext::continue_from(raw, span_id).ok()
}

/// The pattern of the route that answered, put in the request by a router of this crate that
/// matches paths itself (actix's `match_pattern` then knows nothing of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLabel(pub &'static str);

/// A bounded label for a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: `App::new().wrap(from_fn(request_tracing::middleware))`, outermost.
///
/// # Errors
/// Whatever the wrapped service fails with (then no access line: actix answers it itself).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = RequestId::from_client(req.headers().get(X_REQUEST_ID));
    let trace = continued_trace(req.headers().get(&TRACEPARENT_HEADER));
    let method = method_label(req.method());
    let path = req.path().to_owned();
    req.extensions_mut().insert(id.clone());
    let span = if REQUEST_SPAN.load(Ordering::Relaxed) {
        let span = tracing::info_span!(
            "request",
            request_id = id.as_str(),
            trace_id = tracing::field::Empty
        );
        if let Some(trace) = &trace {
            span.record("trace_id", trace.trace_id());
        }
        span
    } else {
        tracing::Span::none()
    };
    let handled = REQUEST_ID.scope(id.clone(), next.call(req));
    let mut response = TraceContext::scope(trace, handled).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(X_REQUEST_ID), value);
    }
    let status = response.status().as_u16();
    let latency = started.elapsed();
    // Asked once routing is done: actix then knows the matched resource, where before routing
    // it would match the path against every pattern again (regexes included).
    let labelled = response.request().extensions().get::<RouteLabel>().copied();
    let route: Cow<'static, str> = match labelled {
        Some(RouteLabel(label)) => Cow::Borrowed(label),
        None => Cow::Owned(
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
        ),
    };
    log_access(
        &response,
        AccessLine {
            method,
            route: &route,
            path: &path,
            query: None,
            status,
            response_bytes: None,
            latency_ms: latency.as_secs_f64() * 1000.0,
            client_ip: None,
            user_agent: None,
            request_id: id.as_str(),
            trace: trace.as_ref(),
        },
    );
    HANDLES.with(|handles| {
        handles
            .borrow_mut()
            .record(method, &route, status, latency.as_secs_f64());
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(raw: &str) -> String {
        RequestId::from_client(Some(&HeaderValue::from_str(raw).unwrap()))
            .as_str()
            .to_owned()
    }

    #[test]
    fn a_short_visible_ascii_id_from_the_client_is_kept() {
        assert_eq!(id_for("lb-7f3a:42/x"), "lb-7f3a:42/x");
        assert_eq!(
            id_for(&"a".repeat(MAX_REQUEST_ID)),
            "a".repeat(MAX_REQUEST_ID)
        );
    }

    #[test]
    fn an_unacceptable_or_missing_id_is_replaced_by_a_fresh_uuid() {
        for raw in ["", "has space", &"a".repeat(MAX_REQUEST_ID + 1)] {
            let id = id_for(raw);
            assert_ne!(id, raw);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        let fresh = RequestId::from_client(None);
        assert!(uuid::Uuid::parse_str(fresh.as_str()).is_ok());
        assert_ne!(fresh, RequestId::from_client(None), "each one is new");
    }

    #[tokio::test]
    async fn the_current_id_is_the_one_of_the_request_being_handled() {
        assert_eq!(RequestId::current(), None);

        let inside = REQUEST_ID
            .scope(RequestId("r-1".into()), async { RequestId::current() })
            .await;

        assert_eq!(inside.map(|id| id.as_str().to_owned()), Some("r-1".into()));
    }
}
