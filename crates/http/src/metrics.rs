//! `GET /metrics`: every family of the process in Prometheus' text format, and the webhook
//! outcome counter this crate feeds.
//!
//! The adapters count through the `metrics` facade; the app installs the one recorder (the
//! Prometheus exporter) and hands this crate its rendering as an [`Exposition`], so this crate
//! knows no exposition format. Without one (a test app), `/metrics` is empty.
//!
//! `orchestrator_webhooks_total{outcome}` (the name and labels of the hand-written counter it
//! replaces): what became of LiveKit webhooks —
//! `applied` (changed a stream), `unchanged` (matched a stream, changed nothing: already known
//! or stale), `duplicate` (a redelivery), `ignored_type` (an event type the orchestrator does
//! not act on), `room_not_live` (a `room_started` / `room_finished` for a room no live stream
//! uses: what our own create and stop produce, because LiveKit reports the room starting
//! before its stream is stored and finishing after the stream stopped), `unknown_room` (any
//! other report about a room no live stream uses: worth a look), `rejected` (not signed by our
//! LiveKit, or not a webhook). Every outcome is present from the start, at 0.

use std::fmt;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};

use crate::HttpState;

/// Renders every metric of the process in Prometheus' text format.
#[derive(Clone)]
pub struct Exposition(Arc<dyn Fn() -> String + Send + Sync>);

impl Exposition {
    /// An exposition rendered by `render`.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(render))
    }
}

impl fmt::Debug for Exposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Exposition")
    }
}

/// What became of a webhook (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookCount {
    /// Changed a stream.
    Applied,
    /// Matched a stream, changed nothing.
    Unchanged,
    /// A redelivery.
    Duplicate,
    /// An event type not acted on.
    IgnoredType,
    /// A room lifecycle report for a room no live stream uses (our own create and stop).
    RoomNotLive,
    /// Any other report for a room no live stream uses.
    UnknownRoom,
    /// Not signed by our LiveKit, or not a webhook.
    Rejected,
}

impl WebhookCount {
    const ALL: [WebhookCount; 7] = [
        WebhookCount::Applied,
        WebhookCount::Unchanged,
        WebhookCount::Duplicate,
        WebhookCount::IgnoredType,
        WebhookCount::RoomNotLive,
        WebhookCount::UnknownRoom,
        WebhookCount::Rejected,
    ];

    fn label(self) -> &'static str {
        match self {
            WebhookCount::Applied => "applied",
            WebhookCount::Unchanged => "unchanged",
            WebhookCount::Duplicate => "duplicate",
            WebhookCount::IgnoredType => "ignored_type",
            WebhookCount::RoomNotLive => "room_not_live",
            WebhookCount::UnknownRoom => "unknown_room",
            WebhookCount::Rejected => "rejected",
        }
    }

    /// Adds one webhook with this outcome.
    pub fn count(self) {
        metrics::counter!("orchestrator_webhooks_total", "outcome" => self.label()).increment(1);
    }
}

/// Makes every webhook outcome visible at 0 (called once by the app after it installed the
/// recorder), so a dashboard sees every series from the start. Requests by route and status
/// appear as they are answered.
pub fn register() {
    for outcome in WebhookCount::ALL {
        metrics::counter!("orchestrator_webhooks_total", "outcome" => outcome.label()).increment(0);
    }
}

/// Mounts `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(crate::allow::not_allowed(&[Method::GET])),
    );
}

/// Every metric of the process, in Prometheus' text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
         body = String, content_type = "text/plain; version=0.0.4"),
    )
)]
pub(crate) async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    let text = state
        .metrics
        .as_ref()
        .map(|exposition| (exposition.0)())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
