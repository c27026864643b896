//! The shared stream-store contract on the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

include!("../../../tests/contracts/streams.rs");

stream_store_contract!((orchestrator_store_memory::MemoryStore::default(), ()));
