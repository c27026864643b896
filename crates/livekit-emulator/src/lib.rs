//! A LiveKit-compatible server for tests and for the orchestrator's zero-setup default mode.
//!
//! It speaks LiveKit's RoomService Twirp API (protobuf and proto3 JSON bodies, JWT auth with
//! the same grants LiveKit checks), simulates media clients joining and leaving rooms, and sends
//! webhooks signed exactly like LiveKit does, so the official `livekit-api` client and
//! `WebhookReceiver` work against it unchanged. It keeps everything in memory and carries no
//! media: it exists to exercise control-plane code without a real LiveKit deployment.
//!
//! # Layout
//!
//! - [`config`]: [`EmulatorConfig`] and the development credentials.
//! - [`error`]: [`EmulatorError`], the failures of emulator operations.
//! - [`emulator`]: [`Emulator`], the cheap-to-clone handle that owns the state and the
//!   webhook queue and implements every room operation; it remembers the latest RoomService
//!   calls ([`RecordedCall`]: method and `traceparent`) for tests of clients.
//! - `state`: the in-memory rooms and participants (pure, synchronous bookkeeping).
//! - `webhook`: building, signing and delivering webhook events in order.
//! - `twirp`: the `/twirp/livekit.RoomService/*` routes: codec, auth and Twirp errors.
//! - `clients`: the `/emulator/connect` and `/emulator/disconnect` routes that simulate media
//!   clients over HTTP.
//! - [`server`]: [`serve`], running the HTTP server on a bound listener.
#![forbid(unsafe_code)]

pub mod config;
pub mod emulator;
pub mod error;
pub mod server;

mod clients;
mod state;
mod twirp;
mod webhook;

pub use config::{EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
pub use emulator::{Emulator, RecordedCall};
pub use error::EmulatorError;
pub use server::serve;
