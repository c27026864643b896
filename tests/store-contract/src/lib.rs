//! The store contract: every implementation of the domain's storage ports (in memory, Redis,
//! Redis Cluster) is held to the same behaviour by these macros, invoked from each store
//! crate's integration tests with an expression that makes a fresh store:
//!
//! ```ignore
//! orchestrator_store_contract::stream_store_contract!((MemoryStore::default(), ()));
//! orchestrator_store_contract::participant_store_contract!((MemoryStore::default(), ()));
//! orchestrator_store_contract::broadcast_store_contract!({
//!     let store = MemoryStore::default();
//!     (store.clone(), store, ())
//! });
//! orchestrator_store_contract::coordination_contract! {
//!     leases: (MemoryCoordination::new(), ()),
//!     idempotency: (MemoryCoordination::new(), ()),
//!     dedupe: (MemoryCoordination::new(), ()),
//! }
//! ```
//!
//! Each expression yields `(store, guard)`: the guard keeps what the store needs alive (a
//! Redis server) until the test ends. The expanded tests use the invoking crate's `tokio`,
//! `uuid`, `chrono`, `serde_json`, `futures-util` and `orchestrator-domain`.
//!
//! # Layout
//!
//! - `streams`: streams and their event logs.
//! - `participants`: participant records, counters, contention.
//! - `leases`, `idempotency`, `dedupe`: the coordination ports.
//! - `broadcast`: streams' ingests and outputs (`broadcast_store_contract!`, given
//!   `(streams, broadcasts, guard)`).

mod broadcast;
mod dedupe;
mod idempotency;
mod leases;
mod participants;
mod streams;

/// The three coordination contracts at once.
#[macro_export]
macro_rules! coordination_contract {
    (leases: $leases:expr, idempotency: $idempotency:expr, dedupe: $dedupe:expr $(,)?) => {
        $crate::lease_store_contract!($leases);
        $crate::idempotency_store_contract!($idempotency);
        $crate::webhook_dedupe_contract!($dedupe);
    };
}
