//! LiveKit adapter: the domain's [`MediaServer`](orchestrator_domain::ports::MediaServer) and
//! [`TokenIssuer`](orchestrator_domain::ports::TokenIssuer) ports on the official `livekit-api` crate, and
//! verification of LiveKit's signed webhooks.
//!
//! Works the same against LiveKit Cloud, a self-hosted LiveKit and the project's
//! `livekit-emulator`.
//!
//! # Layout
//!
//! - [`config`]: [`LiveKitConfig`], credentials and room/token settings.
//! - [`media`]: [`LiveKitMedia`], the RoomService calls, with LiveKit errors sorted into
//!   not-found / unavailable / rejected; `metered`: each call counted and timed.
//! - [`tokens`]: [`LiveKitTokens`], least-privilege join tokens.
//! - [`webhook`]: [`SignedWebhooks`], the domain's webhook verifier port: signature check and
//!   translation into domain events.

pub mod config;
pub mod media;
pub mod metered;
pub mod tokens;
pub mod webhook;

pub use config::LiveKitConfig;
pub use media::LiveKitMedia;
pub use tokens::LiveKitTokens;
pub use webhook::{SignedWebhooks, VerifiedWebhook, WebhookError};
