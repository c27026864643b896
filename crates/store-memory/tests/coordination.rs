//! The shared coordination contract (leases, idempotency keys, webhook dedupe) on the
//! in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

include!("../../../tests/contracts/coordination.rs");

use orchestrator_store_memory::coordination::MemoryCoordination;

coordination_contract! {
    leases: (MemoryCoordination::new(), ()),
    idempotency: (MemoryCoordination::new(), ()),
    dedupe: (MemoryCoordination::new(), ()),
}
