//! The closed loop: `connections` keep-alive connections, each sending its next request as soon
//! as the previous answer is read, for a fixed time. Every connection opens (and proves itself
//! with `GET /health`) before the clock starts, records into its own histogram and tallies, and
//! hands its [`Workload`] back at the end so the scenario can check what was acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use crate::httpc::{Client, Endpoint, Failure, Reply, Req};
use crate::progress::{Counters, Progress};
use crate::stats::{Errors, Latencies};

/// What one connection sends, and what it learns from the answers.
pub trait Workload: Send + 'static {
    /// The next request.
    fn next(&mut self) -> Req;
    /// The outcome of `req` (to track what the service acknowledged).
    fn done(&mut self, req: &Req, outcome: &Result<Reply, Failure>);
}

/// How to drive the loop.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub endpoint: Endpoint,
    /// How long to send.
    pub duration: Duration,
    /// Deadline of one request.
    pub timeout: Duration,
    /// Name on the progress line.
    pub label: String,
}

/// What the loop measured.
#[derive(Debug)]
pub struct LoadResult<W> {
    /// The workloads, one per connection, with what they tracked.
    pub workloads: Vec<W>,
    /// Latency of every answered request (whatever its status).
    pub latencies: Latencies,
    /// Failed requests by kind.
    pub errors: Errors,
    /// Requests answered (any status).
    pub answered: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// From the common start to the end of the last request.
    pub elapsed: Duration,
}

impl<W> LoadResult<W> {
    /// 2xx answers per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct Tally {
    latencies: Latencies,
    errors: Errors,
    answered: u64,
    ok: u64,
}

/// Runs one connection per workload for `config.duration`.
pub async fn run<W: Workload>(config: &LoadConfig, workloads: Vec<W>) -> LoadResult<W> {
    let barrier = Arc::new(Barrier::new(workloads.len() + 1));
    let progress = Progress::start(config.label.clone(), "ok", Some(config.duration));
    let mut tasks = Vec::with_capacity(workloads.len());
    for workload in workloads {
        let client = Client::new(config.endpoint.clone(), config.timeout);
        let (barrier, counters) = (Arc::clone(&barrier), progress.counters());
        let duration = config.duration;
        tasks.push(tokio::spawn(async move {
            connection(client, workload, barrier, counters, duration).await
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut result = LoadResult {
        workloads: Vec::new(),
        latencies: Latencies::new(),
        errors: Errors::default(),
        answered: 0,
        ok: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        match task.await {
            Ok((workload, tally)) => {
                result.workloads.push(workload);
                result.latencies.merge(&tally.latencies);
                result.errors.merge(&tally.errors);
                result.answered += tally.answered;
                result.ok += tally.ok;
            }
            Err(err) => result.errors.add(format!("harness_task: {err}")),
        }
    }
    result.elapsed = started.elapsed();
    progress.finish();
    result
}

async fn connection<W: Workload>(
    mut client: Client,
    mut workload: W,
    barrier: Arc<Barrier>,
    counters: Arc<Counters>,
    duration: Duration,
) -> (W, Tally) {
    // Open the connection before the clock starts; a failure here shows up as errors below.
    let _ = client.send(&Req::get("/health")).await;
    barrier.wait().await;
    let deadline = Instant::now() + duration;
    let mut tally = Tally {
        latencies: Latencies::new(),
        errors: Errors::default(),
        answered: 0,
        ok: 0,
    };
    while Instant::now() < deadline {
        let req = workload.next();
        let sent = Instant::now();
        let outcome = client.send(&req).await;
        match &outcome {
            Ok(reply) => {
                tally.latencies.record(sent.elapsed());
                tally.answered += 1;
                if reply.is_success() {
                    tally.ok += 1;
                    counters.ok();
                } else {
                    tally.errors.add(status_kind(reply));
                    counters.failed();
                }
            }
            Err(failure) => {
                tally.errors.add(failure.kind());
                counters.failed();
                if matches!(failure, Failure::Connect(_)) {
                    // A refused connection returns at once: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        workload.done(&req, &outcome);
    }
    (workload, tally)
}

/// `status_503_store_unavailable`: the status and the error body's stable `code`, if any.
pub fn status_kind(reply: &Reply) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        code: String,
    }
    match serde_json::from_slice::<ErrorBody>(&reply.body) {
        Ok(body) => format!("status_{}_{}", reply.status, body.code),
        Err(_) => format!("status_{}", reply.status),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn an_error_status_is_named_with_its_code() {
        let reply = Reply {
            status: 503,
            body: Bytes::from_static(br#"{"code":"store_unavailable","message":"x"}"#),
        };
        let bare = Reply {
            status: 502,
            body: Bytes::from_static(b"Bad Gateway"),
        };

        assert_eq!(status_kind(&reply), "status_503_store_unavailable");
        assert_eq!(status_kind(&bare), "status_502");
    }
}
