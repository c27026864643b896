//! A LiveKit-compatible server for tests and for the orchestrator's zero-setup default mode.
//!
//! It speaks LiveKit's RoomService, Ingress and Egress Twirp APIs (protobuf and proto3 JSON
//! bodies, JWT auth with the same grants LiveKit checks), simulates media clients joining and
//! leaving rooms, encoders publishing to ingresses and egress workers recording or streaming
//! rooms, and sends webhooks signed exactly like LiveKit does, so the official `livekit-api`
//! clients and `WebhookReceiver` work against it unchanged. It keeps everything in memory,
//! bounded, and carries no media: it exists to exercise control-plane code without a real
//! LiveKit deployment.
//!
//! # Layout
//!
//! - [`config`]: [`EmulatorConfig`] (credentials, webhook targets, simulated media delays,
//!   [`BroadcastLimits`]) and the development credentials.
//! - [`error`]: [`EmulatorError`], the failures of emulator operations.
//! - [`emulator`]: [`Emulator`], the cheap-to-clone handle that owns the state, the webhook
//!   queue and the timed steps, and implements every room operation; it remembers the latest
//!   RoomService calls ([`RecordedCall`]: method and `traceparent`) for tests of clients.
//! - `broadcast`: the ingress and egress operations of [`Emulator`], and the simulation
//!   controls (encoders publishing, stopping, failing; egresses failing).
//! - `world`: everything behind the emulator's lock, and the operations that span rooms,
//!   ingresses and egresses (an ingress joining its room, a closed room ending its egresses).
//! - `state`: the in-memory rooms and participants (pure, synchronous bookkeeping).
//! - `ingress`: the in-memory ingresses and their state machine.
//! - `egress`: the in-memory egresses and their state machine; in it, `request` wraps the
//!   Start*Egress requests, `outputs` checks outputs and reports results, `files` names
//!   files and says where they are stored, `redact` hides stream keys and credentials.
//! - `webhook`: building, signing and delivering webhook events in order.
//! - `twirp`: the `/twirp/livekit.{RoomService,Ingress,Egress}/*` routes: codec, auth and
//!   Twirp errors, one submodule per service.
//! - `clients`: the `/emulator/connect` and `/emulator/disconnect` routes that simulate media
//!   clients over HTTP.
//! - `simulation`: the `/emulator/ingress/*`, `/emulator/ingest` and `/emulator/egress/*`
//!   routes that simulate encoders and egress workers over HTTP.
//! - [`server`]: [`serve`], running the HTTP server on a bound listener.
//!
//! The `livekit-emulator` binary (`src/bin/livekit-emulator/`) runs it on its own, configured
//! by flags or their environment variables (`livekit-emulator --help`); the orchestrator
//! embeds it through [`serve`].
#![forbid(unsafe_code)]

pub mod config;
pub mod emulator;
pub mod error;
pub mod server;

mod broadcast;
mod clients;
mod egress;
mod ingress;
mod simulation;
mod state;
mod twirp;
mod webhook;
mod world;

pub use config::{BroadcastLimits, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
pub use emulator::{Emulator, RecordedCall};
pub use error::EmulatorError;
pub use server::serve;
