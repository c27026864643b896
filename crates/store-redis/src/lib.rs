//! Redis implementations of the orchestrator's storage ports, on fred. With `REDIS_URL` set,
//! any number of orchestrator instances share state through them and behave as one service;
//! the same code runs on a single Redis and on a Redis Cluster (every script touches the keys
//! of one hash tag).
//!
//! Writes are atomic and fenced: the domain decides a change with `Stream::apply` on the
//! version it read, and one Lua script stores it only if that version is still current,
//! together with its event, the event's seq and the notification. A concurrent writer makes
//! the script refuse; the change is then re-decided on the fresh stream. So the status machine
//! and every precondition are checked against exactly the state that gets replaced, with no
//! lock held across round trips, and the rules live once (in the domain) for every store.
//!
//! # Layout
//!
//! - [`client`]: connection set-up (fail fast, command timeout, reconnection), key scheme,
//!   fred error → [`StoreError`](domain::ports::StoreError) mapping.
//! - `scripts`: the Lua scripts.
//! - [`streams`]: [`RedisStore`], the stream repository and event log (keys and round trips
//!   are tabled in its docs).
//! - [`subscriber`]: the instance's single pub/sub subscription and its in-process fan-out.

pub mod client;
pub mod dedupe;
pub mod idempotency;
pub mod lease;
mod scripts;
pub mod streams;
pub mod subscriber;

pub use client::{ConnectError, Connection, RedisConfig};
pub use streams::RedisStore;
pub use subscriber::Subscriber;
