//! The livestream orchestrator's domain: what a stream is, how it may change, and the one
//! use-case service every transport (REST, WebSocket, gRPC) calls.
//!
//! This crate does no I/O. Storage, LiveKit, clocks and id generation are reached through the
//! port traits in [`ports`], implemented by adapter crates (`store-memory`, `livekit`, …). Other
//! Rust projects can reuse it on its own: the aggregates, the state machine and the service are
//! plain Rust with documented error contracts.
//!
//! # Layout
//!
//! - [`access`]: [`Access`](access::Access), operator API keys (configured by their SHA-256),
//!   scopes and signed WebSocket tickets: the one access policy every transport asks.
//! - [`values`]: validated value types ([`StreamId`], [`RoomName`], [`Identity`], [`Metadata`]).
//! - [`stream`]: the [`Stream`] aggregate and its [`StreamStatus`] state machine.
//! - [`audience`]: [`Audience`], a stream's participant counters, and how changes move them.
//! - [`participant`]: [`Participant`], a record of its own per (stream, identity), and its
//!   [`Role`] (least-privilege media grants).
//! - [`membership`]: [`ParticipantChange`], joining and leaving, and the pure decision every
//!   store applies atomically (one record and the counters, whatever the audience size).
//! - [`event`]: [`StreamEvent`], one per change of state, with a gapless per-stream `seq`.
//! - [`change`]: [`Change`], the atomic mutations of a stream itself, and the pure
//!   [`Stream::apply`] that decides their outcome (shared by every store, so the rules live once).
//! - [`follow`]: [`follow()`](follow::follow), one stream's events from a seq on, gapless, over an
//!   at-most-once live feed backed by the event log.
//! - [`ports`]: traits for the outside world, each with an `# Errors` contract;
//!   [`coordination`]: the ports of leases, idempotency records and webhook dedupe.
//! - [`idempotency`]: [`Idempotency`](idempotency::Idempotency), idempotent execution with
//!   Stripe's semantics, the one engine every transport uses.
//! - [`readiness`]: [`Readiness`](readiness::Readiness), whether this instance should receive
//!   traffic (draining, store, LiveKit), the policy every transport's health check reports.
//! - [`trace`]: [`TraceContext`](trace::TraceContext), a caller's W3C `traceparent`
//!   continued: logged with the request and carried into the calls it causes (an ambient
//!   value, so no port has to pass it on).
//! - [`time`]: the one fixed-width timestamp format every store and transport writes.
//! - [`webhooks`]: [`WebhookIntake`], LiveKit webhooks verified (behind a verifier port),
//!   deduplicated and applied — the policy every transport shares.
//! - [`service`]: [`StreamService`], one method per operation, and what they take and answer.
//! - [`error`]: [`StreamError`], the error every transport maps exhaustively, with its stable
//!   machine codes.
//!
//! # Status machine
//!
//! `creating → active | error`; `active → stopping | stopped | error`;
//! `stopping → stopped | error`; `error → stopping | stopped`; `stopped` is final. Every other
//! move is [`StreamError::InvalidTransition`] (HTTP 409 everywhere).

pub mod access;
pub mod audience;
pub mod broadcast;
pub mod change;
pub mod coordination;
pub mod error;
pub mod event;
pub mod follow;
pub mod idempotency;
pub mod membership;
pub mod participant;
pub mod ports;
pub mod readiness;
pub mod service;
pub mod stream;
pub mod time;
pub mod trace;
pub mod values;
pub mod webhooks;

pub use audience::{Audience, AudienceDelta, Presence};
pub use change::{Applied, Change, ChangeContext, ExpectedVersion, TransitionError};
pub use error::StreamError;
pub use event::{EventType, StreamEvent};
pub use membership::{ParticipantApplied, ParticipantChange, ParticipantDecision};
pub use participant::{Participant, Role};
pub use service::broadcast::NewOutput;
pub use service::commands::{
    CreateStream, Departure, EventPage, JoinStream, JoinTicket, ListEvents, ListParticipants,
    ListStreams, StreamView, UpdateStream, ViewPage,
};
pub use service::media::{MediaEvent, MediaEventKind, MediaEventOutcome};
pub use service::StreamService;
pub use stream::{Stream, StreamStatus};
pub use values::{Cursor, Identity, Metadata, RoomName, StreamId, ValidationError};
pub use webhooks::{
    VerifiedWebhook, WebhookIntake, WebhookOutcome, WebhookRejection, WebhookVerifier,
};
