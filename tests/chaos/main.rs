//! The chaos suite: real `orchestrator` processes (the debug binary), private `redis-server`s
//! with `--appendonly yes` on their own ports, a LiveKit emulator in the test process, and
//! faults injected for real: kill -9, SIGSTOP/SIGCONT, SIGTERM, Redis killed and restarted
//! (with and without its data), LiveKit refusing or slow, and resource abuse. Every scenario
//! checks its run with the history checker (`orchestrator_tests::history`): no acknowledged
//! write lost, no event lost, duplicated or reordered, final state = history.
//!
//! Bounded: fixed counts, every wait with a deadline, every process killed when its handle is
//! dropped. Loopback only. The figures of each run are printed (`-- --nocapture`) for
//! RELIABILITY.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod cluster;
mod crash;
mod followers;
mod livekit;
mod load;
mod pause;
mod proxy;
mod redis_outage;
mod shutdown;
