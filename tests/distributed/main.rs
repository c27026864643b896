//! Several orchestrator instances on one Redis behave as one service: writes made through any
//! instance reach every instance's subscribers in order and without gaps, concurrent requests
//! on different instances resolve exactly once, and a Redis outage is a clean 503 from which
//! the service recovers without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broadcast;
mod client;
mod connections;
mod crowd;
mod embedded_livekit;
mod fanout;
mod outage;
mod races;
mod reconciler;
mod retries;
mod support;
