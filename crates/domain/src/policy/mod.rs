//! The orchestrator service's own policies, kept apart from the domain proper: who may call
//! (operator API keys, scopes, WebSocket tickets), how many requests a client may make (rate
//! limits per key and per address), when an instance is ready for traffic, the caller's trace
//! context, the timestamp format the service writes, and the public error codes its transports
//! show. A project that reuses the use cases on its own ports needs none of them
//! (the aggregates' serde format uses [`time`]; everything else is the service's choice).

pub mod access;
pub mod codes;
pub mod limits;
pub mod readiness;
pub mod time;
pub mod trace;
