//! The event log, WebSocket tickets, probes and metrics.

use reqwest::Method;

use crate::rest::{self, Call, Spec};
use crate::{Client, Event, Health, ListEvents, Page, Readiness, WsTicket};

impl Client {
    /// `GET /events/{id}`: a page of the stream's event log, oldest first (what
    /// subscriptions replay); [`Page::next`] is the seq to list after.
    pub fn events(&self, id: &str, request: &ListEvents) -> Call<Page<Event>> {
        let spec = Spec::get(["events", id]).query(request.query());
        Call::new(self, spec, rest::event_page)
    }

    /// `POST /ws-tickets`: a short-lived ticket for one WebSocket handshake, with the key's
    /// scope (what a browser page needs; this client's subscriptions can use them too, see
    /// [`WsAuth::Ticket`](crate::WsAuth::Ticket)).
    pub fn ws_ticket(&self) -> Call<WsTicket> {
        let spec = Spec::new(Method::POST, ["ws-tickets"]).json(&serde_json::json!({}));
        Call::new(self, spec, rest::json)
    }

    /// `GET /health`: liveness.
    pub fn health(&self) -> Call<Health> {
        Call::new(self, Spec::get(["health"]), rest::json)
    }

    /// `GET /health/ready`: readiness, ready or not (a `503` answers a [`Readiness`] too,
    /// and is not retried: it is the answer).
    pub fn readiness(&self) -> Call<Readiness> {
        let spec = Spec::get(["health", "ready"]).once_accepting(503);
        Call::new(self, spec, rest::json)
    }

    /// `GET /metrics`: every metric of the instance, in Prometheus' text format.
    pub fn metrics(&self) -> Call<String> {
        Call::new(self, Spec::get(["metrics"]), rest::text)
    }
}
