//! W3C Trace Context: a caller's `traceparent` accepted, this service's place in that trace,
//! and the `traceparent` the calls it causes carry.
//!
//! A request that arrives with a valid `traceparent` (version `00`: a 32-hex trace id and a
//! 16-hex parent id, neither all zeros, and the flags) continues that trace: it gets a span id
//! of its own, logged with the trace id and the caller's span id, and every outgoing call it
//! causes carries `00-<trace id>-<its span id>-<flags>`. An invalid header is ignored (it is
//! the caller's business, never an error); without one, no trace is started.
//!
//! The context follows the request's work as an ambient value: a transport runs the request's
//! future in [`TraceContext::scope`], and an adapter several calls deeper asks
//! [`TraceContext::current`], so no port has to carry it. Like a task-local, it does not cross
//! into tasks the request spawns.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The header, both ways.
pub const TRACEPARENT: &str = "traceparent";

/// Why a `traceparent` was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Not `version-traceid-parentid-flags` with 2, 32, 16 and 2 lowercase hex digits.
    #[error("not a traceparent (version-traceid-parentid-flags in lowercase hex)")]
    Malformed,
    /// Version `ff`, or a version `00` header with more after the flags.
    #[error("traceparent version not supported")]
    Version,
    /// The trace id or the parent id is all zeros.
    #[error("traceparent with an all-zero trace or parent id")]
    ZeroId,
}

/// A request's place in a distributed trace, kept as the lowercase hex it is written in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 32],
    span_id: [u8; 16],
    parent_span_id: [u8; 16],
    flags: [u8; 2],
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("parent_span_id", &self.parent_span_id())
            .field("flags", &self.flags())
            .finish()
    }
}

impl TraceContext {
    /// Continues the trace of the `traceparent` header `raw`, as the span `span_id` (the
    /// caller draws it at random: 0 is not a valid id and is replaced by 1).
    ///
    /// # Errors
    /// When `raw` is not a `traceparent` this service can follow.
    pub fn continue_from(raw: &str, span_id: u64) -> Result<Self, TraceparentError> {
        let raw = raw.trim_matches(|c| c == ' ' || c == '\t').as_bytes();
        let fields = raw.get(..55).ok_or(TraceparentError::Malformed)?;
        let dashes = [2, 35, 52].iter().all(|&at| fields[at] == b'-');
        let hex = fields
            .iter()
            .enumerate()
            .all(|(at, b)| matches!(at, 2 | 35 | 52) || matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !(dashes && hex) {
            return Err(TraceparentError::Malformed);
        }
        match (&fields[..2], raw.get(55)) {
            (b"ff", _) | (b"00", Some(_)) => return Err(TraceparentError::Version),
            // A later version may add fields after a dash: its first four are read as 00's.
            (_, Some(b'-') | None) => {}
            (_, Some(_)) => return Err(TraceparentError::Malformed),
        }
        let zero = |id: &[u8]| id.iter().all(|&b| b == b'0');
        if zero(&fields[3..35]) || zero(&fields[36..52]) {
            return Err(TraceparentError::ZeroId);
        }
        let mut context = Self {
            trace_id: [0; 32],
            span_id: hex_u64(span_id.max(1)),
            parent_span_id: [0; 16],
            flags: [0; 2],
        };
        context.trace_id.copy_from_slice(&fields[3..35]);
        context.parent_span_id.copy_from_slice(&fields[36..52]);
        // Only the flags Trace Context defines (sampled, random) are passed on; others are
        // reserved and must be sent as zeros.
        let flags = u8::from_str_radix(ascii(&fields[53..55]), 16).unwrap_or(0) & 0x03;
        context.flags = hex_u8(flags);
        Ok(context)
    }

    /// The trace id (32 lowercase hex digits).
    pub fn trace_id(&self) -> &str {
        ascii(&self.trace_id)
    }

    /// This request's span id (16 lowercase hex digits).
    pub fn span_id(&self) -> &str {
        ascii(&self.span_id)
    }

    /// The caller's span id, from its `traceparent`.
    pub fn parent_span_id(&self) -> &str {
        ascii(&self.parent_span_id)
    }

    /// The trace flags passed on (2 hex digits; `01`: sampled).
    pub fn flags(&self) -> &str {
        ascii(&self.flags)
    }

    /// The `traceparent` of a call this request makes: the same trace, this request's span
    /// as the parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id(), self.span_id(), self.flags())
    }

    /// The context of the request being handled on this thread's current task, if it has one.
    pub fn current() -> Option<Self> {
        CURRENT.with(Cell::get)
    }

    /// Runs `work` with `context` as [`TraceContext::current`] (`None` leaves it as it is).
    pub fn scope<F: Future>(context: Option<Self>, work: F) -> Traced<F> {
        Traced { context, work }
    }

    /// [`TraceContext::scope`] for synchronous work.
    pub fn scope_sync<R>(context: Option<Self>, work: impl FnOnce() -> R) -> R {
        let _restore = context.map(enter);
        work()
    }
}

thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// Makes `context` current until the returned guard is dropped.
fn enter(context: TraceContext) -> Restore {
    Restore(CURRENT.with(|current| current.replace(Some(context))))
}

/// Puts back the context that was current before [`enter`], also when the work panics.
struct Restore(Option<TraceContext>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

pin_project_lite::pin_project! {
    /// A future that runs with a trace context current while it is polled
    /// ([`TraceContext::scope`]).
    #[derive(Debug)]
    pub struct Traced<F> {
        context: Option<TraceContext>,
        #[pin]
        work: F,
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = (*this.context).map(enter);
        this.work.poll(cx)
    }
}

/// Validated ASCII hex as text (every caller holds checked or generated hex digits).
fn ascii(hex: &[u8]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_u64(value: u64) -> [u8; 16] {
    let mut out = [0; 16];
    for (at, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[((value >> (60 - 4 * at)) & 0xf) as usize];
    }
    out
}

fn hex_u8(value: u8) -> [u8; 2] {
    [
        DIGITS[usize::from(value >> 4)],
        DIGITS[usize::from(value & 0xf)],
    ]
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
