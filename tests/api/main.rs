//! The REST, WebSocket and gRPC APIs, end to end: a real orchestrator on port 0 with its
//! embedded LiveKit emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod auth;
mod broadcast;
mod client;
mod cors;
mod create;
mod credentials;
mod errors;
mod events;
mod grpc_idempotency;
mod grpc_unary;
mod health;
mod idempotency;
mod join;
mod leave;
mod limits;
mod list;
mod livekit_outage;
mod original_client;
mod participants;
mod proto_compat;
mod read;
mod realtime_grpc;
mod realtime_ws;
mod reconciler;
mod shutdown;
mod stop;
mod update;
mod webhooks;
