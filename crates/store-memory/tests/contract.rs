//! The shared store contract on the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

include!("../../../tests/contracts/streams.rs");
include!("../../../tests/contracts/participants.rs");

stream_store_contract!((orchestrator_store_memory::MemoryStore::default(), ()));
participant_store_contract!((orchestrator_store_memory::MemoryStore::default(), ()));
