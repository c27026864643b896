//! The orchestrator's servers, assembled from its transports: the HTTP port carries REST
//! (`orchestrator-http`) and WebSocket subscriptions (`orchestrator-ws`) on actix, the gRPC port
//! carries `orchestrator-grpc` on tonic. Both serve the same [`UseCases`] and stop on the same
//! shutdown token.
//!
//! This is the one crate that depends on several transports: putting them on their ports
//! (which routes share the HTTP app, the middleware order, the WebSocket takeover of a socket
//! from actix) is a decision of its own, kept out of the transports (which never know each
//! other) and out of the binary (which only wires: settings into a [`ServerConfig`], adapters
//! into [`UseCases`]). It knows no store, no media server and no configuration file.
//!
//! # Layout
//!
//! - [`ServerConfig`], [`UseCases`]: what the servers are tuned with, and what they serve.
//! - [`http`]: the HTTP app (every route, the middleware in order), the server built from
//!   actix's parts with the upgrade service that hands WebSocket handshakes to the WebSocket
//!   transport, and its graceful stop on the shutdown token.
//! - [`grpc`]: the gRPC service's state (keys, rate limits, idempotency, readiness, limits) and
//!   its server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use orchestrator_domain::idempotency::Idempotency;
use orchestrator_domain::policy::access::Access;
use orchestrator_domain::policy::limits::RateLimits;
use orchestrator_domain::policy::readiness::Readiness;
use orchestrator_domain::ports::EventLog;
use orchestrator_domain::service::StreamService;
use orchestrator_domain::webhooks::WebhookIntake;
use orchestrator_grpc::GrpcLimits;
use orchestrator_http::body::BodyTimeout;
use orchestrator_http::cors::AllowedOrigins;
use orchestrator_realtime::HubConfig;
use orchestrator_ws::WsConfig;

pub mod grpc;
pub mod http;

/// How the servers are tuned (the binary builds it from its settings).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTP worker threads; 0: one per CPU.
    pub workers: usize,
    /// Browser origins allowed, for CORS and WebSocket handshakes.
    pub origins: AllowedOrigins,
    /// How long a client has to send a request's head.
    pub request_head_timeout: Duration,
    /// How long a client has to send a request's body.
    pub body_timeout: BodyTimeout,
    /// Concurrent HTTP connections per source address (0: no limit).
    pub connections_per_address: usize,
    /// Concurrent HTTP connections per worker (at least 1).
    pub connections_per_worker: usize,
    /// How long HTTP requests in flight get to finish once the server stops.
    pub shutdown_timeout_secs: u64,
    /// WebSocket connections.
    pub ws: WsConfig,
    /// The fan-out of events to subscribers, WebSocket and gRPC alike.
    pub hub: HubConfig,
    /// gRPC message and stream limits.
    pub grpc: GrpcLimits,
}

/// What the servers serve: this instance's use cases and the state its transports report.
#[derive(Clone)]
pub struct UseCases {
    /// The stream use cases.
    pub service: StreamService,
    /// LiveKit's webhooks: verified, deduplicated, applied.
    pub webhooks: WebhookIntake,
    /// Idempotency keys of the mutating calls, REST and gRPC.
    pub idempotency: Idempotency,
    /// Operator keys and WebSocket tickets.
    pub access: Access,
    /// Requests per key and per address, counted across transports.
    pub rate_limits: Arc<RateLimits>,
    /// Whether this instance should receive traffic.
    pub readiness: Readiness,
    /// The event log whose live feed the WebSocket and gRPC subscriptions follow.
    pub events: Arc<dyn EventLog>,
}

impl fmt::Debug for UseCases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UseCases")
            .field("service", &self.service)
            .field("access", &self.access)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
#[path = "shutdown_tests.rs"]
mod shutdown_tests;
