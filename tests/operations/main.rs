//! What an operator relies on, end to end: request ids, trace context, readiness through
//! dependency outages and shutdown, the API document and its viewer, and the container files.
//! (That every metric moves: `tests/metrics.rs`, a binary of its own.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docker;
mod openapi;
mod readiness;
mod request_ids;
mod trace_context;
