//! Writers under load: each PATCHes its own metadata key of a stream again and again, through
//! the instances in turn, and records every acknowledged write (with the seq its answer names)
//! in the [`History`]. A connection error moves on to the next instance without counting; an
//! answer that is not a success is tallied by status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestrator_tests::history::{Change, History};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// What the writers saw, all together.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Requests sent.
    pub sent: usize,
    /// Acknowledged writes.
    pub acknowledged: usize,
    /// Requests that got no answer (connection refused or cut).
    pub unanswered: usize,
    /// Answers that were not a success, by status.
    pub refused: BTreeMap<u16, usize>,
    /// 503s that carried no `Retry-After`.
    pub unavailable_without_retry_after: usize,
    /// When each acknowledgement arrived.
    pub acknowledged_at: Vec<Instant>,
}

/// The writers of one run.
#[derive(Debug, Clone)]
pub struct Writers {
    pub client: reqwest::Client,
    pub bases: Vec<String>,
    pub history: History,
    pub outcome: Arc<Mutex<Outcome>>,
}

impl Writers {
    pub fn new(client: reqwest::Client, bases: Vec<String>, history: History) -> Self {
        Self {
            client,
            bases,
            history,
            outcome: Arc::default(),
        }
    }

    /// Writer `key` PATCHes `{key: n}` for n in 1..=writes on `stream`, pausing `pace` between
    /// writes, starting at instance `first`.
    pub async fn write(
        self,
        stream: String,
        key: String,
        writes: usize,
        first: usize,
        pace: Duration,
    ) {
        let mut instance = first;
        for n in 1..=writes {
            let patch = Value::Object([(key.clone(), json!(n))].into_iter().collect());
            for _attempt in 0..self.bases.len() * 3 {
                let base = &self.bases[instance % self.bases.len()];
                let sent = self
                    .client
                    .patch(format!("{base}/streams/{stream}"))
                    .json(&json!({ "metadata": patch }))
                    .send()
                    .await;
                let mut outcome = self.outcome.lock().await;
                outcome.sent += 1;
                let response = match sent {
                    Ok(response) => response,
                    Err(_) => {
                        outcome.unanswered += 1;
                        instance += 1;
                        continue;
                    }
                };
                let status = response.status();
                if status.is_success() {
                    drop(outcome);
                    let Ok(answer) = response.json::<Value>().await else {
                        self.outcome.lock().await.unanswered += 1;
                        break;
                    };
                    let seq = answer["seq"].as_u64().unwrap_or_default();
                    self.history.acknowledged(
                        &stream,
                        seq,
                        Change::new("stream_updated", Some(patch.clone())),
                    );
                    let mut outcome = self.outcome.lock().await;
                    outcome.acknowledged += 1;
                    outcome.acknowledged_at.push(Instant::now());
                    break;
                }
                *outcome.refused.entry(status.as_u16()).or_default() += 1;
                if status == 503 && !response.headers().contains_key("retry-after") {
                    outcome.unavailable_without_retry_after += 1;
                }
                instance += 1;
                drop(outcome);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            instance += 1;
            tokio::time::sleep(pace).await;
        }
    }
}
