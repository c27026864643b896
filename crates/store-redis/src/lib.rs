//! Redis implementations of the orchestrator's storage ports, on fred. With `REDIS_URL` set,
//! any number of orchestrator instances share state through them and behave as one service;
//! the same code runs on a single Redis and on a Redis Cluster (every script touches the keys
//! of one hash tag).
//!
//! Every write is one atomic Lua script on the keys of one stream. Changes of the stream itself
//! (status, metadata) are decided by the domain's `Stream::apply` on the version it read and
//! stored only if that version is still current; the script numbers the event with the
//! stream's next seq, appends and publishes it. Participants are records of their own beside
//! counters: a join or leave is decided and stored by one script (the Lua twin of
//! `orchestrator_domain::membership`, held to the same contract suite) that touches a constant number of
//! keys whatever the audience size and cannot fail under contention. No lock is held across
//! round trips.
//!
//! # Layout
//!
//! - [`client`]: connection set-up (fail fast, command timeout, reconnection), a client per
//!   thread for threads that run their own runtime (the HTTP workers), key scheme,
//!   fred error → [`StoreError`](orchestrator_domain::ports::StoreError) mapping; `breaker`: refusing at
//!   once while Redis is down instead of waiting for each command's timeout.
//! - `metered`: command latency and errors, the breaker's state (Prometheus metrics).
//! - `scripts`: the Lua scripts.
//! - [`streams`]: [`RedisStore`], the stream repository (keys and round trips are tabled in
//!   its docs); `participants`: its participant half; `events`: its event log; `index`: the
//!   listing indexes' members and cursors, and when an entry without its stream is dropped.
//! - [`broadcast`]: [`RedisBroadcasts`](broadcast::RedisBroadcasts), streams' ingests and
//!   outputs beside each stream, sealed; `broadcast.lua` is the twin of the domain's fence.
//! - [`subscriber`]: the instance's single pub/sub subscription and its in-process fan-out.
//! - `turns`: this instance's changes of one stream wait their turn instead of racing.

mod breaker;
pub mod broadcast;
pub mod client;
pub mod dedupe;
mod events;
pub mod idempotency;
mod index;
pub mod lease;
pub mod metered;
mod participants;
mod scripts;
mod sealing;
pub mod streams;
pub mod subscriber;
mod turns;

pub use client::{ConnectError, Connection, RedisConfig};
pub use streams::RedisStore;
pub use subscriber::Subscriber;
