use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn header(version: &str, trace: &str, parent: &str, flags: &str) -> String {
    format!("{version}-{trace}-{parent}-{flags}")
}

fn continued(raw: &str) -> Result<TraceContext, TraceparentError> {
    TraceContext::continue_from(raw, 0x0123_4567_89ab_cdef)
}

#[test]
fn a_valid_traceparent_is_continued_as_a_span_of_our_own() {
    let context = continued(&header("00", TRACE, PARENT, "01")).unwrap();

    assert_eq!(context.trace_id(), TRACE);
    assert_eq!(context.parent_span_id(), PARENT);
    assert_eq!(context.span_id(), "0123456789abcdef");
    assert_eq!(context.flags(), "01");
    assert_eq!(
        context.traceparent(),
        format!("00-{TRACE}-0123456789abcdef-01"),
        "calls it causes carry the same trace with this span as their parent"
    );
}

#[test]
fn only_the_defined_flags_are_passed_on() {
    let sampled_random = continued(&header("00", TRACE, PARENT, "ff")).unwrap();
    let unsampled = continued(&header("00", TRACE, PARENT, "00")).unwrap();

    assert_eq!(sampled_random.flags(), "03");
    assert_eq!(unsampled.flags(), "00");
}

#[test]
fn a_later_version_is_read_by_its_first_four_fields() {
    let raw = format!("{}-extra", header("cc", TRACE, PARENT, "01"));

    let context = continued(&raw).unwrap();

    assert_eq!(context.trace_id(), TRACE);
    assert!(context.traceparent().starts_with("00-"));
}

#[test]
fn malformed_headers_are_refused() {
    let upper = TRACE.to_uppercase();
    for raw in [
        String::new(),
        "garbage".to_owned(),
        header("00", &upper, PARENT, "01"),
        header("00", &TRACE[1..], PARENT, "01x"),
        header("00", TRACE, "00f067aa0ba902g7", "01"),
        header("00", TRACE, PARENT, "1"),
        format!("00_{TRACE}_{PARENT}_01"),
        format!("{}x", header("cc", TRACE, PARENT, "01")),
    ] {
        assert_eq!(continued(&raw), Err(TraceparentError::Malformed), "{raw:?}");
    }
}

#[test]
fn unsupported_versions_and_zero_ids_are_refused() {
    let zero_trace = "0".repeat(32);
    let zero_parent = "0".repeat(16);

    assert_eq!(
        continued(&header("ff", TRACE, PARENT, "01")),
        Err(TraceparentError::Version)
    );
    assert_eq!(
        continued(&format!("{}-more", header("00", TRACE, PARENT, "01"))),
        Err(TraceparentError::Version),
        "version 00 has exactly four fields"
    );
    assert_eq!(
        continued(&header("00", &zero_trace, PARENT, "01")),
        Err(TraceparentError::ZeroId)
    );
    assert_eq!(
        continued(&header("00", TRACE, &zero_parent, "01")),
        Err(TraceparentError::ZeroId)
    );
}

#[test]
fn a_zero_span_id_is_never_handed_out() {
    let context = TraceContext::continue_from(&header("00", TRACE, PARENT, "01"), 0).unwrap();

    assert_eq!(context.span_id(), "0000000000000001");
}

#[test]
fn the_context_is_current_only_inside_its_scope() {
    let context = continued(&header("00", TRACE, PARENT, "01")).unwrap();

    let inside = TraceContext::scope_sync(Some(context), TraceContext::current);
    let nested_none = TraceContext::scope_sync(Some(context), || {
        TraceContext::scope_sync(None, TraceContext::current)
    });

    assert_eq!(inside, Some(context));
    assert_eq!(nested_none, Some(context), "None leaves the outer context");
    assert_eq!(TraceContext::current(), None);
}

/// Pending once, then ready: lets another future run in between.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|_| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Polls `future` once on this thread.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn two_requests_interleaved_on_one_thread_each_see_their_own_context() {
    let first = continued(&header("00", TRACE, PARENT, "01")).unwrap();
    let second = continued(&header("00", &"a".repeat(32), PARENT, "01")).unwrap();
    let seen = |context| {
        TraceContext::scope(Some(context), async {
            let before = TraceContext::current();
            yield_once().await;
            (before, TraceContext::current())
        })
    };
    let mut a = pin!(seen(first));
    let mut b = pin!(seen(second));

    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    assert_eq!(TraceContext::current(), None, "nothing leaks between polls");
    let Poll::Ready(a_saw) = poll_once(a.as_mut()) else {
        panic!("a finished")
    };
    let Poll::Ready(b_saw) = poll_once(b.as_mut()) else {
        panic!("b finished")
    };

    assert_eq!(a_saw, (Some(first), Some(first)));
    assert_eq!(b_saw, (Some(second), Some(second)));
}
