//! LiveKit adapter: the domain's [`MediaServer`](orchestrator_domain::ports::MediaServer) and
//! [`TokenIssuer`](orchestrator_domain::ports::TokenIssuer) ports on LiveKit's server API
//! (tokens, protocol messages and webhooks from the official `livekit-api` crate; the calls
//! over a Twirp client of ours that carries the caller's trace), and verification of
//! LiveKit's signed webhooks.
//!
//! Works the same against LiveKit Cloud, a self-hosted LiveKit and the project's
//! `livekit-emulator`.
//!
//! # Layout
//!
//! - [`config`]: [`LiveKitConfig`], credentials and room/token settings.
//! - [`media`]: [`LiveKitMedia`], the RoomService calls, with LiveKit errors sorted into
//!   not-found / unavailable / rejected; [`metered`]: each call counted and timed.
//! - `twirp`: the Twirp client of LiveKit's services (token per call, `traceparent` of the
//!   current request, region failover on LiveKit Cloud).
//! - [`tokens`]: [`LiveKitTokens`], least-privilege join tokens.
//! - [`webhook`]: [`SignedWebhooks`], the domain's webhook verifier port: signature check and
//!   translation into domain events.
//! - [`broadcast`]: [`LiveKitBroadcast`], the domain's broadcast port on LiveKit's Ingress and
//!   Egress services (storage, pacing, reports).

pub mod broadcast;
pub mod config;
pub mod media;
pub mod metered;
pub mod tokens;
mod twirp;
pub mod webhook;

pub use broadcast::{BroadcastConfig, LiveKitBroadcast, Storage};
pub use config::LiveKitConfig;
pub use media::LiveKitMedia;
pub use tokens::LiveKitTokens;
pub use webhook::{SignedWebhooks, VerifiedWebhook, WebhookError};
