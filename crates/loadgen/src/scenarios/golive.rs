//! What broadcast-golive sees of its streams: one WebSocket connection follows up to
//! [`STREAMS_PER_CONNECTION`] streams, and every event is read for what going live changes —
//! the ingest publishing, each output's egress and state — stamped on arrival against the
//! scenario's one clock.
//!
//! The records are kept per stream ([`StreamSeen`]); [`Settled`] counts the outputs that
//! reached `active` or `failed`, so the scenario knows when to stop waiting.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::time::timeout;

use crate::api::DECLARED_OUTPUTS;
use crate::httpc::Endpoint;
use crate::progress::Counters;
use crate::stats::Errors;
use crate::subscriber::CONNECT_TIMEOUT;
use crate::wsclient::{Client, Message};

/// Streams one connection follows (the server allows 1,000; fewer keeps each connection's
/// queue short when every stream changes at once).
pub const STREAMS_PER_CONNECTION: usize = 100;

/// What arrived about one output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSeen {
    /// When its `active` state first arrived.
    pub active_at: Option<Duration>,
    /// The reason it reported `failed`, if it did.
    pub failed: Option<String>,
    /// The server's time (unix ms) of the first event that carried an egress id: LiveKit
    /// answered the start.
    pub started_ms: Option<i64>,
    /// Every distinct egress id reported for it (more than one: started twice).
    pub egress_ids: Vec<String>,
}

/// What arrived about one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSeen {
    /// When its ingest's `publishing` state first arrived.
    pub live_at: Option<Duration>,
    /// Its outputs, in [`DECLARED_OUTPUTS`] order.
    pub outputs: [OutputSeen; DECLARED_OUTPUTS.len()],
}

/// Outputs that reached `active` or `failed`, over every connection.
#[derive(Debug, Default)]
pub struct Settled {
    count: AtomicU64,
    changed: Notify,
    progress: Option<Arc<Counters>>,
}

impl Settled {
    /// A count that also bumps a progress line's counters.
    pub fn with_progress(progress: Arc<Counters>) -> Self {
        Self {
            progress: Some(progress),
            ..Self::default()
        }
    }

    /// Outputs settled so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once the count reaches `target`.
    pub async fn reached(&self, target: u64) {
        loop {
            let changed = self.changed.notified();
            if self.count() >= target {
                return;
            }
            changed.await;
        }
    }

    fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        if let Some(progress) = &self.progress {
            progress.ok();
        }
        self.changed.notify_waiters();
    }
}

/// One connection and what it saw of its streams.
#[derive(Debug)]
pub struct Watch {
    client: Option<Client>,
    /// Stream id → its place in `seen`.
    index: HashMap<String, usize>,
    /// Its streams, in the order given.
    pub seen: Vec<StreamSeen>,
    /// Failures: `ws_connect`, `ws_closed`, `ws_error_<code>`, ….
    pub errors: Errors,
    base: Instant,
}

impl Watch {
    /// A watch of `streams` whose arrival times count from `base`; not connected yet.
    pub fn new(streams: &[String], base: Instant) -> Self {
        Self {
            client: None,
            index: streams
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            seen: vec![StreamSeen::default(); streams.len()],
            errors: Errors::default(),
            base,
        }
    }

    /// Connects to `endpoint` and subscribes to every stream; `false` (the failure counted)
    /// when a subscription is not confirmed within [`CONNECT_TIMEOUT`].
    pub async fn subscribe(&mut self, endpoint: &Endpoint) -> bool {
        match timeout(CONNECT_TIMEOUT, self.open(endpoint)).await {
            Ok(Ok(client)) => {
                self.client = Some(client);
                true
            }
            Ok(Err(kind)) => {
                self.errors.add(kind);
                false
            }
            Err(_elapsed) => {
                self.errors.add("ws_subscribe_timeout");
                false
            }
        }
    }

    async fn open(&self, endpoint: &Endpoint) -> Result<Client, String> {
        let mut client = Client::connect(&endpoint.authority, "/ws")
            .await
            .map_err(|_| "ws_connect".to_owned())?;
        for id in self.index.keys() {
            let subscribe = json!({ "type": "subscribe", "streamId": id });
            client
                .send_text(&subscribe.to_string())
                .await
                .map_err(|_| "ws_connect".to_owned())?;
        }
        let mut pending = self.index.len();
        while pending > 0 {
            let text = match client.next().await {
                Ok(Message::Text(text)) => text,
                Ok(Message::Binary(_)) => continue,
                Ok(Message::Close(..)) | Err(_) => return Err("ws_closed_before_subscribed".into()),
            };
            let parsed: ServerMessage<'_> =
                serde_json::from_str(text).map_err(|_| "ws_unparsable_message".to_owned())?;
            match parsed.kind.as_ref() {
                "subscribed" => pending -= 1,
                "error" => return Err(format!("ws_error_{}", parsed.code.unwrap_or_default())),
                _ => {}
            }
        }
        Ok(client)
    }

    /// Reads events until `stop` turns true or the connection ends.
    pub async fn follow(mut self, settled: Arc<Settled>, mut stop: watch::Receiver<bool>) -> Self {
        let Some(mut client) = self.client.take() else {
            return self;
        };
        while !*stop.borrow_and_update() {
            tokio::select! {
                biased;
                message = client.next() => match message {
                    Ok(Message::Text(text)) => {
                        let at = self.base.elapsed();
                        for _ in 0..self.apply(text, at) {
                            settled.add();
                        }
                    }
                    Ok(Message::Binary(_)) => {}
                    Ok(Message::Close(code, _)) => {
                        self.errors.add(format!("ws_closed_{code}"));
                        break;
                    }
                    Err(_) => {
                        self.errors.add("ws_closed");
                        break;
                    }
                },
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        let _ = timeout(Duration::from_secs(1), client.close()).await;
        self
    }

    /// Records one server message that arrived at `at`; how many outputs it settled.
    pub fn apply(&mut self, text: &str, at: Duration) -> usize {
        let Ok(message) = serde_json::from_str::<ServerMessage<'_>>(text) else {
            self.errors.add("ws_unparsable_message");
            return 0;
        };
        match (message.kind.as_ref(), message.event) {
            ("event", Some(event)) => self.record(event, at),
            ("error", _) => {
                self.errors
                    .add(format!("ws_error_{}", message.code.unwrap_or_default()));
                0
            }
            ("resync_required", _) => {
                self.errors.add("ws_resync_required");
                0
            }
            _ => 0,
        }
    }

    fn record(&mut self, event: Event<'_>, at: Duration) -> usize {
        let Some(&stream) = self.index.get(event.stream_id.as_ref()) else {
            return 0;
        };
        let seen = &mut self.seen[stream];
        if let Some(ingest) = event.data.ingest {
            if ingest.state == "publishing" {
                seen.live_at.get_or_insert(at);
            }
        }
        let Some(output) = event.data.output else {
            return 0;
        };
        let Some(slot) = DECLARED_OUTPUTS.iter().position(|name| *name == output.id) else {
            return 0;
        };
        let seen = &mut seen.outputs[slot];
        if let Some(egress) = output.egress_id {
            if seen.started_ms.is_none() {
                seen.started_ms = DateTime::parse_from_rfc3339(&event.timestamp)
                    .ok()
                    .map(|t| t.timestamp_millis());
            }
            if !seen.egress_ids.contains(&egress) {
                seen.egress_ids.push(egress);
            }
        }
        let was_settled = seen.active_at.is_some() || seen.failed.is_some();
        match output.observed.as_ref() {
            "active" => {
                seen.active_at.get_or_insert(at);
            }
            "failed" => {
                seen.failed
                    .get_or_insert_with(|| output.failure.unwrap_or_default());
            }
            _ => {}
        }
        let settled = seen.active_at.is_some() || seen.failed.is_some();
        usize::from(settled && !was_settled)
    }
}

/// A server message; only what the scenario reads.
#[derive(Debug, Deserialize)]
struct ServerMessage<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    event: Option<Event<'a>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(borrow)]
    stream_id: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(default, borrow)]
    data: EventData<'a>,
}

#[derive(Debug, Default, Deserialize)]
struct EventData<'a> {
    #[serde(default, borrow)]
    ingest: Option<IngestData<'a>>,
    #[serde(default, borrow)]
    output: Option<OutputData<'a>>,
}

#[derive(Debug, Deserialize)]
struct IngestData<'a> {
    #[serde(borrow)]
    state: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputData<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    observed: Cow<'a, str>,
    #[serde(default)]
    egress_id: Option<String>,
    #[serde(default)]
    failure: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "7f0c6f2e-0000-4000-8000-000000000001";

    fn watch() -> Watch {
        Watch::new(&[STREAM.to_owned()], Instant::now())
    }

    fn output_event(output: &str, observed: &str, egress: Option<&str>, at: &str) -> String {
        let egress = egress.map_or(String::new(), |id| format!(r#","egressId":"{id}""#));
        format!(
            r#"{{"type":"event","streamId":"{STREAM}","seq":9,"event":{{"id":"e","seq":9,
            "type":"output_updated","streamId":"{STREAM}","timestamp":"{at}",
            "data":{{"output":{{"id":"{output}","type":"hls","autoStart":true,"desired":"on",
            "observed":"{observed}"{egress},"attempts":1,"updatedAt":"{at}"}}}},
            "instanceId":"i"}}}}"#
        )
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_output_settles_once_when_its_active_state_arrives() {
        let mut watch = watch();
        let starting = output_event("hls", "starting", None, "2025-01-01T00:00:00.100Z");
        let answered = output_event("hls", "starting", Some("EG_1"), "2025-01-01T00:00:00.250Z");
        let active = output_event("hls", "active", Some("EG_1"), "2025-01-01T00:00:00.300Z");

        assert_eq!(watch.apply(&starting, ms(100)), 0);
        assert_eq!(watch.apply(&answered, ms(250)), 0);
        assert_eq!(watch.apply(&active, ms(310)), 1);
        assert_eq!(watch.apply(&active, ms(400)), 0, "a repeat settles nothing");

        let hls = &watch.seen[0].outputs[0];
        assert_eq!(hls.active_at, Some(ms(310)));
        assert_eq!(hls.started_ms, Some(1_735_689_600_250));
        assert_eq!(hls.egress_ids, ["EG_1"]);
        assert!(watch.errors.total() == 0);
    }

    #[test]
    fn a_second_egress_of_one_output_is_kept_as_evidence_of_a_second_start() {
        let mut watch = watch();

        watch.apply(
            &output_event("restream", "active", Some("EG_1"), "2025-01-01T00:00:00Z"),
            ms(1),
        );
        watch.apply(
            &output_event("restream", "starting", Some("EG_2"), "2025-01-01T00:00:01Z"),
            ms(2),
        );

        assert_eq!(watch.seen[0].outputs[1].egress_ids, ["EG_1", "EG_2"]);
        assert_eq!(watch.seen[0].outputs[0], OutputSeen::default());
    }

    #[test]
    fn a_failed_output_settles_with_its_reason() {
        let mut watch = watch();
        let failed = output_event("hls", "failed", None, "2025-01-01T00:00:00Z").replace(
            r#""attempts":1"#,
            r#""attempts":4,"failure":"no egress worker""#,
        );

        assert_eq!(watch.apply(&failed, ms(5)), 1);

        assert_eq!(
            watch.seen[0].outputs[0].failed.as_deref(),
            Some("no egress worker")
        );
    }

    #[test]
    fn the_stream_is_live_when_its_ingest_publishes() {
        let mut watch = watch();
        let ingest = |state: &str| {
            format!(
                r#"{{"type":"event","streamId":"{STREAM}","seq":5,"event":{{"id":"e","seq":5,
                "type":"ingest_updated","streamId":"{STREAM}","timestamp":"2025-01-01T00:00:00Z",
                "data":{{"ingest":{{"ingressId":"IN_1","type":"rtmp","state":"{state}"}}}},
                "instanceId":"i"}}}}"#
            )
        };

        watch.apply(&ingest("buffering"), ms(10));
        assert_eq!(watch.seen[0].live_at, None);
        watch.apply(&ingest("publishing"), ms(20));
        watch.apply(&ingest("publishing"), ms(30));

        assert_eq!(watch.seen[0].live_at, Some(ms(20)));
    }

    #[test]
    fn other_streams_outputs_and_messages_are_ignored_and_errors_counted() {
        let mut watch = watch();
        let other_stream = output_event("hls", "active", Some("EG_9"), "2025-01-01T00:00:00Z")
            .replace(STREAM, "another");
        let other_output = output_event("archive", "active", None, "2025-01-01T00:00:00Z");

        assert_eq!(watch.apply(&other_stream, ms(1)), 0);
        assert_eq!(watch.apply(&other_output, ms(1)), 0);
        assert_eq!(watch.apply(r#"{"type":"audience","seq":3}"#, ms(1)), 0);
        watch.apply(r#"{"type":"error","code":"store_unavailable"}"#, ms(1));
        watch.apply("not json", ms(1));

        assert_eq!(watch.seen[0], StreamSeen::default());
        assert_eq!(watch.errors.total(), 2);
    }

    #[tokio::test]
    async fn settled_resolves_once_the_target_is_reached() {
        let settled = Arc::new(Settled::default());
        let waiter = {
            let settled = Arc::clone(&settled);
            tokio::spawn(async move { settled.reached(2).await })
        };

        settled.add();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        settled.add();

        assert!(timeout(Duration::from_secs(1), waiter).await.is_ok());
        assert_eq!(settled.count(), 2);
    }
}
