//! The shared coordination contract (leases, idempotency keys, webhook dedupe) on the
//! in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator_store_memory::coordination::MemoryCoordination;

orchestrator_store_contract::coordination_contract! {
    leases: (MemoryCoordination::new(), ()),
    idempotency: (MemoryCoordination::new(), ()),
    dedupe: (MemoryCoordination::new(), ()),
}
