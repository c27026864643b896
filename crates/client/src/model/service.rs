//! The service's own answers: probes and WebSocket tickets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /health`: the process runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Seconds since start.
    pub uptime: f64,
    /// The service's version.
    pub version: String,
}

/// `GET /health/ready`, ready or not (a 503 answers the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready`, `not_ready` or `draining`.
    pub status: String,
    /// Each dependency: `up` or `down`.
    pub checks: ReadyChecks,
    /// When not ready: the first reason's code (`draining`, `store_unavailable`,
    /// `livekit_unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When not ready: every reason, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Readiness {
    /// Whether the instance should receive traffic.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// The dependencies of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyChecks {
    /// The state store.
    pub store: String,
    /// LiveKit.
    pub livekit: String,
}

/// `POST /ws-tickets`: a short-lived ticket for one WebSocket handshake (`?ticket=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsTicket {
    /// The ticket.
    pub ticket: String,
    /// When it expires.
    #[serde(with = "crate::time::millis")]
    pub expires_at: DateTime<Utc>,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}
