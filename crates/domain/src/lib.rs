//! The livestream orchestrator's domain: what a stream is, how it may change, and the use
//! cases every transport (REST, WebSocket, gRPC) calls — a library other Rust projects run on
//! their own store and media server.
//!
//! This crate does no I/O. Storage, the media server (LiveKit), clocks and id generation are
//! reached through the port traits in [`ports`]; the orchestrator implements them in adapter
//! crates, and `examples/in_memory.rs` implements them in one file. Every type has one path:
//! its module's (the root re-exports nothing).
//!
//! ```no_run
//! # async fn run(ports: orchestrator_domain::service::Ports) -> Result<(), orchestrator_domain::error::StreamError> {
//! use orchestrator_domain::participant::Role;
//! use orchestrator_domain::service::commands::{CreateStream, JoinStream};
//! use orchestrator_domain::service::StreamService;
//! use orchestrator_domain::values::{Identity, RoomName};
//!
//! let service = StreamService::new(ports, "instance-1");
//! let stream = service
//!     .create(CreateStream {
//!         room_name: Some(RoomName::new("launch")?),
//!         ..CreateStream::default()
//!     })
//!     .await?;
//! let ticket = service
//!     .join(
//!         stream.id,
//!         JoinStream { identity: Identity::new("alice")?, role: Role::Host, metadata: None },
//!     )
//!     .await?;
//! println!("{} joins {} with {}", ticket.identity, ticket.ws_url, ticket.token);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! The domain proper:
//!
//! - [`values`]: validated value types ([`StreamId`](values::StreamId),
//!   [`RoomName`](values::RoomName), [`Identity`](values::Identity),
//!   [`Metadata`](values::Metadata)).
//! - [`stream`]: the [`Stream`](stream::Stream) aggregate and its
//!   [`StreamStatus`](stream::StreamStatus) state machine.
//! - [`audience`]: a stream's participant counters, and how changes move them.
//! - [`participant`]: a participant, a record of its own per (stream, identity), and its
//!   [`Role`](participant::Role) (least-privilege media grants).
//! - [`membership`]: joining and leaving, and the pure decision every store applies atomically
//!   (one record and the counters, whatever the audience size).
//! - [`event`]: [`StreamEvent`](event::StreamEvent), one per change of state, with a gapless
//!   per-stream `seq`.
//! - [`change`]: the atomic mutations of a stream itself, and the pure
//!   [`Stream::apply`](stream::Stream::apply) that decides their outcome (shared by every
//!   store, so the rules live once).
//! - [`broadcast`]: a stream's ingest and outputs, their state machines and ports.
//! - [`follow`]: one stream's events from a seq on, gapless, over an at-most-once live feed
//!   backed by the event log.
//! - [`ports`]: traits for the outside world, each with an `# Errors` contract;
//!   [`coordination`]: the ports of leases, idempotency records and webhook dedupe.
//! - [`idempotency`]: idempotent execution with Stripe's semantics.
//! - [`webhooks`]: the media server's webhooks verified (behind a verifier port), deduplicated
//!   and applied.
//! - [`service`]: [`StreamService`](service::StreamService), one method per operation, and
//!   what they take and answer.
//! - [`error`]: [`StreamError`](error::StreamError), what an operation reports.
//!
//! Apart, the orchestrator service's own policies ([`policy`]): API keys and tickets, rate
//! limits, readiness, trace context, the timestamp format and the public error codes.
//!
//! # Stability
//!
//! Answers the domain builds and may grow are `#[non_exhaustive]`. The errors and enums a
//! transport maps (`StreamError`, `EventType`, `StreamStatus`, the broadcast kinds) are
//! deliberately exhaustive: the orchestrator's transports map each with one `match` and no
//! wildcard, so a new variant must fail their build until it is mapped; for a library user,
//! adding one is a breaking change and comes with a new major version.
//!
//! # Status machine
//!
//! `creating → active | error`; `active → stopping | stopped | error`;
//! `stopping → stopped | error`; `error → stopping | stopped`; `stopped` is final. Every other
//! move is [`TransitionError::InvalidTransition`](change::TransitionError::InvalidTransition).

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
pub mod policy;
pub mod ports;
pub mod service;
pub mod stream;
pub mod values;
pub mod webhooks;

/// The crate README's examples, compiled with the doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
