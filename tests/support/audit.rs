//! After a hostile or chaotic run: is every stream still consistent? Reads every stream, its
//! participants and its whole event log through the public APIs and checks that the audience
//! counters equal the participant records, and hands the log (a WebSocket replay from seq 0)
//! and the final states to the [`History`](crate::history::History) checker, which checks
//! that seq is gapless and that the metadata adds up.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::history::{Change, FinalState};

/// Everything the audit read, and what was wrong with the counters.
#[derive(Debug, Default)]
pub struct Audit {
    /// Per stream, its events from seq 1 (for [`History::check`](crate::history::History::check)).
    pub log: HashMap<String, Vec<(u64, Change)>>,
    /// Per stream, its seq and metadata.
    pub finals: HashMap<String, FinalState>,
    /// Counters that disagree with the participant records, and streams that could not be read.
    pub violations: Vec<String>,
}

impl Audit {
    /// Events read, all streams together.
    pub fn events(&self) -> usize {
        self.log.values().map(Vec::len).sum()
    }
}

/// Audits every stream (up to 1000) of the instance at `base` (`http://host:port`).
pub async fn audit(client: &reqwest::Client, base: &str) -> Audit {
    let mut audit = Audit::default();
    let streams: Vec<Value> = client
        .get(format!("{base}/streams?limit=1000"))
        .send()
        .await
        .expect("list the streams")
        .json()
        .await
        .expect("a JSON list");
    for listed in &streams {
        let id = listed["id"].as_str().unwrap_or_default().to_owned();
        let stream: Value = client
            .get(format!("{base}/streams/{id}"))
            .send()
            .await
            .expect("read a stream")
            .json()
            .await
            .expect("a JSON stream");
        check_counters(client, base, &stream, &mut audit).await;
        audit.finals.insert(
            id,
            FinalState {
                seq: stream["seq"].as_u64().unwrap_or_default(),
                metadata: stream["metadata"].clone(),
            },
        );
    }
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let wanted: HashMap<String, u64> = audit
        .finals
        .iter()
        .map(|(id, state)| (id.clone(), state.seq))
        .collect();
    audit.log = replay(&ws_url, &wanted).await;
    audit
}

/// The audience counters must equal what the participant records say.
async fn check_counters(client: &reqwest::Client, base: &str, stream: &Value, audit: &mut Audit) {
    let id = stream["id"].as_str().unwrap_or_default();
    let mut people = Vec::new();
    let mut next = format!("{base}/streams/{id}/participants?limit=1000");
    loop {
        let response = client.get(&next).send().await.expect("list participants");
        let link = response
            .headers()
            .get("link")
            .and_then(|link| link.to_str().ok())
            .and_then(|link| link.split(['<', '>']).nth(1))
            .map(|path| format!("{base}{path}"));
        let page: Vec<Value> = response.json().await.expect("a JSON page");
        people.extend(page);
        match link {
            Some(link) => next = link,
            None => break,
        }
    }
    let present: Vec<&Value> = people.iter().filter(|p| p["leftAt"].is_null()).collect();
    let role = |role: &str| present.iter().filter(|p| p["role"] == role).count();
    let counted = json!({
        "active": present.len(),
        "hosts": role("host"),
        "viewers": role("viewer"),
        "totalJoined": people.len(),
    });
    let audience = &stream["audience"];
    for key in ["active", "hosts", "viewers", "totalJoined"] {
        if audience[key] != counted[key] {
            audit.violations.push(format!(
                "stream {id}: audience.{key} is {} but the records say {}",
                audience[key], counted[key]
            ));
        }
    }
}

/// Replays every stream of `wanted` (id → final seq) from seq 0 over one WebSocket.
async fn replay(
    ws_url: &str,
    wanted: &HashMap<String, u64>,
) -> HashMap<String, Vec<(u64, Change)>> {
    let mut log: HashMap<String, Vec<(u64, Change)>> =
        wanted.keys().map(|id| (id.clone(), Vec::new())).collect();
    if wanted.is_empty() {
        return log;
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("the auditor's WebSocket");
    for id in wanted.keys() {
        let subscribe = json!({"type": "subscribe", "streamId": id, "afterSeq": 0});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("subscribe");
    }
    let done = |log: &HashMap<String, Vec<(u64, Change)>>| {
        wanted.iter().all(|(id, seq)| {
            log.get(id)
                .and_then(|events| events.last())
                .map_or(*seq == 0, |(last, _)| last >= seq)
        })
    };
    while !done(&log) {
        let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(10), socket.next()).await
        else {
            break;
        };
        let Message::Text(text) = frame else { continue };
        let message: Value = serde_json::from_str(&text).unwrap_or_default();
        if message["type"] != "event" {
            continue;
        }
        let id = message["streamId"].as_str().unwrap_or_default().to_owned();
        let seq = message["seq"].as_u64().unwrap_or_default();
        log.entry(id)
            .or_default()
            .push((seq, Change::from_event_json(&message["event"])));
    }
    let _ = socket.close(None).await;
    log
}
