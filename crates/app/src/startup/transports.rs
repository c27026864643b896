//! What the servers are built with: their configuration from the settings, the use cases from
//! the wiring. `orchestrator-server` puts the transports on their ports; this only says how they
//! are tuned and what they serve.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use orchestrator_domain::policy::limits::{Rate, RateLimits};
use orchestrator_grpc::GrpcLimits;
use orchestrator_http::body::BodyTimeout;
use orchestrator_http::cors::AllowedOrigins;
use orchestrator_http::metrics::Exposition;
use orchestrator_realtime::HubConfig;
use orchestrator_server::http::HttpExtras;
use orchestrator_server::{ServerConfig, UseCases};
use orchestrator_ws::WsConfig;

use super::stores::Stores;
use super::Core;
use crate::settings::Settings;

/// The servers' configuration; `origins` as the checks read them.
pub(crate) fn server_config(settings: &Settings, origins: AllowedOrigins) -> ServerConfig {
    let limits = &settings.limits;
    ServerConfig {
        workers: settings.http.workers,
        origins,
        request_head_timeout: limits.request_head_timeout(),
        body_timeout: BodyTimeout(limits.body_timeout()),
        connections_per_address: limits.connections_per_address,
        connections_per_worker: limits.connections_per_worker,
        shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
        ws: ws_config(settings),
        hub: HubConfig {
            queue_capacity: settings.realtime.queue_capacity,
            ..HubConfig::default()
        },
        grpc: GrpcLimits {
            max_message_bytes: limits.grpc_max_message_bytes,
            max_concurrent_streams: u32::try_from(limits.subscriptions_per_connection)
                .unwrap_or(u32::MAX),
        },
    }
}

/// What every transport serves.
pub(crate) fn use_cases(core: &Core, stores: &Stores) -> UseCases {
    UseCases {
        service: core.service.clone(),
        webhooks: core.webhooks.clone(),
        idempotency: core.idempotency.clone(),
        access: core.access.clone(),
        rate_limits: core.rate_limits.clone(),
        readiness: core.readiness.clone(),
        events: stores.events.clone(),
    }
}

/// `/metrics` from the process's recorder; on Redis, each HTTP worker opens a client of its
/// own, so its requests' commands stay on its thread instead of hopping to the main runtime.
pub(crate) fn http_extras(metrics: &PrometheusHandle, stores: &Stores) -> HttpExtras {
    let metrics = metrics.clone();
    let redis = stores.redis.clone();
    HttpExtras {
        metrics: Some(Exposition::new(move || {
            crate::telemetry::metrics::render(&metrics)
        })),
        worker_started: redis.map(|connection| {
            let started: Arc<dyn Fn() + Send + Sync> =
                Arc::new(move || connection.open_thread_client_in_background());
            started
        }),
    }
}

/// The rate limits every transport counts against.
pub(crate) fn rate_limits(settings: &Settings) -> Arc<RateLimits> {
    let limits = &settings.limits;
    let per_key = Rate {
        per_sec: limits.requests_per_sec_per_key,
        burst: limits.burst_per_key,
    };
    let per_address = Rate {
        per_sec: limits.requests_per_sec_per_address,
        burst: limits.burst_per_address,
    };
    tracing::info!(
        ?per_key,
        ?per_address,
        connections_per_address = limits.connections_per_address,
        "request limits (0: off)"
    );
    Arc::new(RateLimits::new(per_key, per_address))
}

fn ws_config(settings: &Settings) -> WsConfig {
    WsConfig {
        heartbeat_interval: Duration::from_millis(settings.realtime.heartbeat_interval_ms.max(1)),
        client_timeout: Duration::from_millis(settings.realtime.client_timeout_ms),
        max_message_bytes: settings.realtime.max_message_bytes,
        max_subscriptions: settings.limits.subscriptions_per_connection,
        max_connections_per_key: settings.limits.websocket_connections_per_key,
    }
}
