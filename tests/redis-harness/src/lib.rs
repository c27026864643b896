//! Real Redis servers for tests: the Redis store's suites and the multi-instance end-to-end tests
//! need a genuine Redis (and a genuine Redis Cluster), not a mock.
//!
//! `cargo test --workspace` must work on a fresh machine that has `redis-server` and `redis-cli`
//! on `PATH`, whether or not a Redis is already running, and must fail with a message that says
//! what to install when neither is available. So the harness either reuses `REDIS_URL` (when it
//! answers `PING`) or starts its own `redis-server` as a child process on a free loopback port.
//! There is no Docker and no Redis client crate: readiness checks speak RESP over a plain
//! [`std::net::TcpStream`], cluster creation goes through `redis-cli`, and everything is plain std
//! so sync and async tests can both use it. Every wait has a deadline.
//!
//! Owned processes are killed (and their temp dirs removed) when their handle is dropped, which
//! includes unwinding from a failed test. Handles kept in a `static` are never dropped, so keep them
//! in locals.
//!
//! # Layout
//!
//! - [`shared_or_owned`] / [`shared_or_owned_from`]: *a* Redis (`REDIS_URL` or a fresh one).
//! - [`owned_server`]: always a fresh [`RedisServer`], which tests may [`kill`](RedisServer::kill)
//!   and [`restart`](RedisServer::restart) on the same port.
//! - [`owned_persistent_server`]: the same with `--appendonly yes`, so a restart keeps every
//!   acknowledged write; [`RedisServer::restart_empty`] simulates one that lost its data.
//! - [`RedisCluster`]: three masters, slots assigned by `redis-cli --cluster create`.
//! - [`unique_prefix`]: key prefixes that keep tests sharing one Redis apart.
//! - [`redis_cli`]: a bounded `redis-cli` call, for assertions in tests.
//!
//! Modules: `server` ([`RedisServer`] and the functions that hand one out), `cluster`
//! ([`RedisCluster`]), `node` (one child `redis-server`: its arguments, temp dir, log and
//! readiness; free ports; deadlines), `process` (child processes with a deadline, [`redis_cli`]),
//! `url` (`redis://` URLs), `resp` (a minimal RESP client for readiness and cluster checks).

mod cluster;
mod node;
mod process;
mod resp;
mod server;
mod url;

pub use cluster::RedisCluster;
pub use process::redis_cli;
pub use server::{
    owned_persistent_server, owned_server, shared_or_owned, shared_or_owned_from, unique_prefix,
    RedisServer,
};

use std::net::Ipv4Addr;
use std::time::Duration;

pub(crate) const REDIS_SERVER: &str = "redis-server";
pub(crate) const REDIS_CLI: &str = "redis-cli";
pub(crate) const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Ports whose cluster bus port (`port + 10000`) is still a valid port.
pub(crate) const MAX_CLUSTER_PORT: u16 = u16::MAX - 10_000;
pub(crate) const CLUSTER_SLOTS: u32 = 16_384;
pub(crate) const CLUSTER_MASTERS: usize = 3;

pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);
pub(crate) const SHARED_PING_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const KILL_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const CLUSTER_CREATE_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const CLUSTER_OK_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const REDIS_CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// Another process may grab a port between our probe and Redis' bind.
pub(crate) const START_ATTEMPTS: usize = 5;
pub(crate) const PORT_PICK_ATTEMPTS: usize = 200;
pub(crate) const LOG_TAIL_LINES: usize = 30;
