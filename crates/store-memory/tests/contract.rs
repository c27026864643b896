//! The shared store contract on the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

orchestrator_store_contract::stream_store_contract!((
    orchestrator_store_memory::MemoryStore::default(),
    ()
));
orchestrator_store_contract::participant_store_contract!((
    orchestrator_store_memory::MemoryStore::default(),
    ()
));
orchestrator_store_contract::broadcast_store_contract!({
    let store = orchestrator_store_memory::MemoryStore::default();
    (store.clone(), store, ())
});
