//! Counters of what webhooks did, shown at `GET /metrics` in Prometheus' text format. Atomics
//! only: counting costs nothing on the request path.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{web, HttpResponse};

use crate::HttpState;

/// What became of verified webhooks.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    /// Changed a stream.
    pub applied: AtomicU64,
    /// Matched a stream, changed nothing (already known, or stale).
    pub unchanged: AtomicU64,
    /// Redelivered: an event id seen within the dedupe window.
    pub duplicates: AtomicU64,
    /// An event type the orchestrator does not act on.
    pub ignored_types: AtomicU64,
    /// For a room no live stream uses.
    pub unknown_rooms: AtomicU64,
    /// Refused: not signed by our LiveKit.
    pub rejected: AtomicU64,
}

impl WebhookMetrics {
    /// Adds one to `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self) -> String {
        let outcomes = [
            ("applied", &self.applied),
            ("unchanged", &self.unchanged),
            ("duplicate", &self.duplicates),
            ("ignored_type", &self.ignored_types),
            ("unknown_room", &self.unknown_rooms),
            ("rejected", &self.rejected),
        ];
        let mut text = String::from(
            "# HELP orchestrator_webhooks_total LiveKit webhooks received, by outcome.\n\
             # TYPE orchestrator_webhooks_total counter\n",
        );
        for (outcome, counter) in outcomes {
            text.push_str(&format!(
                "orchestrator_webhooks_total{{outcome=\"{outcome}\"}} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        text
    }
}

/// Mounts `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(crate::routes::method_not_allowed)),
    );
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.webhook_metrics.render())
}
