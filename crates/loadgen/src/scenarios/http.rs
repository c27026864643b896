//! Closed-loop HTTP scenarios: reads (`http-get`, `http-state`), `http-create`, and joins of
//! unique identities spread over many streams (`http-join-spread`) or all on one
//! (`http-join-hot`). With `--with-outputs` the streams declare two idle outputs, to show that
//! outputs cost a read or a join nothing.

use std::sync::Arc;

use super::{check_declared_outputs, setup_workers, Session};
use orchestrator_client::StreamStatus;

use crate::api::{self, StreamDoc};
use crate::cli::{Plan, Scenario};
use crate::httpc::{Failure, Reply, Req};
use crate::load::{self, LoadConfig, Workload};
use crate::report::{Correctness, Reference, Report};
use crate::servers::{self, Launcher};

/// `GET /streams/:id` or `/state`, round robin over the streams.
#[derive(Debug)]
struct Reads {
    paths: Arc<Vec<String>>,
    next: usize,
}

impl Workload for Reads {
    fn next(&mut self) -> Req {
        self.next = (self.next + 1) % self.paths.len();
        Req::get(self.paths[self.next].as_str())
    }

    fn done(&mut self, _req: &Req, _outcome: &Result<Reply, Failure>) {}
}

fn load_config(session: &Session, plan: &Plan) -> LoadConfig {
    LoadConfig {
        endpoint: session.deployment.first().http.clone(),
        duration: plan.duration,
        timeout: plan.timeout,
        label: plan.scenario.name().to_owned(),
    }
}

/// The set-up's streams: declaring two outputs each with `--with-outputs`.
async fn create_streams(
    plan: &Plan,
    endpoint: &crate::httpc::Endpoint,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let docs = api::create_stream_docs(
        endpoint,
        count as u64,
        setup_workers(plan),
        plan.with_outputs,
    )
    .await?;
    Ok(docs.into_iter().map(|doc| doc.id).collect())
}

/// `http-get` and `http-state`.
///
/// # Errors
/// Deployment or set-up failures.
pub async fn reads(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let mut session = Session::open(plan, launcher, 1).await?;
    let endpoint = session.deployment.first().http.clone();
    let workers = setup_workers(plan);
    let ids = create_streams(plan, &endpoint, plan.streams).await?;
    let prefill = api::prefill(&endpoint, &ids, plan.audience, workers).await?;
    let suffix = if plan.scenario == Scenario::HttpState {
        "/state"
    } else {
        ""
    };
    let paths: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("{}{suffix}", api::stream_path(id)))
            .collect(),
    );
    let workloads = (0..plan.connections)
        .map(|conn| Reads {
            paths: Arc::clone(&paths),
            next: conn % paths.len(),
        })
        .collect();
    session.start_clock();
    let result = load::run(&load_config(&session, plan), workloads).await;
    let mut report = session.load_report(&result);
    report.prefill = prefill;
    let states = api::states(&endpoint, &ids, workers).await?;
    for state in &states {
        report.correctness.expect(
            state.active_participants == plan.audience,
            "reads changed nothing (activeParticipants = audience)",
            || format!("{} ≠ {}", state.active_participants, plan.audience),
        );
    }
    check_declared_outputs(plan, &endpoint, &ids, &mut report.correctness).await?;
    if plan.scenario == Scenario::HttpGet && plan.reference {
        if let Some(port) = session.deployment.redis_port {
            let requests = result.ok.clamp(100_000, 2_000_000);
            match servers::redis_benchmark_get(port, plan.connections, requests).await {
                Ok(rps) => {
                    report.reference = Some(Reference {
                        redis_benchmark_get_rps: rps,
                        ratio: (report.throughput_rps / rps * 1000.0).round() / 1000.0,
                    });
                }
                Err(err) => eprintln!("loadgen: no redis-benchmark reference: {err:#}"),
            }
        }
    }
    session.deployment.shutdown().await;
    Ok(report)
}

/// `POST /streams`, remembering every created id.
#[derive(Debug, Default)]
struct Creates {
    created: Vec<String>,
    unacknowledged: u64,
}

impl Workload for Creates {
    fn next(&mut self) -> Req {
        api::create_req()
    }

    fn done(&mut self, _req: &Req, outcome: &Result<Reply, Failure>) {
        match outcome {
            Ok(reply) if reply.is_success() => {
                match serde_json::from_slice::<StreamDoc>(&reply.body) {
                    Ok(doc) => self.created.push(doc.id),
                    Err(_) => self.unacknowledged += 1,
                }
            }
            Ok(reply) if reply.status < 500 => {}
            _ => self.unacknowledged += 1,
        }
    }
}

/// `http-create`.
///
/// # Errors
/// Deployment failures.
pub async fn create(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let mut session = Session::open(plan, launcher, 1).await?;
    let endpoint = session.deployment.first().http.clone();
    let workloads = (0..plan.connections).map(|_| Creates::default()).collect();
    session.start_clock();
    let result = load::run(&load_config(&session, plan), workloads).await;
    let mut report = session.load_report(&result);
    report.streams = 0;
    report.audience = 0;
    let created: Vec<String> = result
        .workloads
        .into_iter()
        .flat_map(|w| w.created)
        .collect();
    report.correctness = created_streams_readable(&endpoint, &created, plan).await?;
    session.deployment.shutdown().await;
    Ok(report)
}

async fn created_streams_readable(
    endpoint: &crate::httpc::Endpoint,
    created: &[String],
    plan: &Plan,
) -> anyhow::Result<Correctness> {
    let ids = Arc::new(created.to_vec());
    let statuses = api::parallel(
        endpoint,
        ids.len() as u64,
        setup_workers(plan),
        "read back",
        move |client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let read = client.stream(&ids[i as usize]).await;
                Ok(read.is_ok_and(|stream| stream.status == StreamStatus::Active))
            }
        },
    )
    .await?;
    let unreadable = statuses.iter().filter(|ok| !**ok).count();
    let mut correctness = Correctness::default();
    correctness.expect(
        unreadable == 0,
        format!(
            "every 2xx create readable and active ({} created)",
            created.len()
        ),
        || {
            format!(
                "{unreadable} of {} created streams not readable or not active",
                created.len()
            )
        },
    );
    Ok(correctness)
}

/// Joins of unique identities (`c<conn>-<k>`), round robin over the streams.
#[derive(Debug)]
struct Joins {
    ids: Arc<Vec<String>>,
    conn: usize,
    sent: u64,
    next: usize,
    /// 2xx joins per stream.
    acknowledged: Vec<u64>,
    /// Joins whose outcome is unknown (5xx, timeout, broken connection) per stream.
    unknown: Vec<u64>,
}

impl Workload for Joins {
    fn next(&mut self) -> Req {
        self.next = (self.next + 1) % self.ids.len();
        self.sent += 1;
        let identity = format!("c{}-{}", self.conn, self.sent);
        api::join_req(&self.ids[self.next], &identity)
    }

    fn done(&mut self, _req: &Req, outcome: &Result<Reply, Failure>) {
        match outcome {
            Ok(reply) if reply.is_success() => self.acknowledged[self.next] += 1,
            Ok(reply) if reply.status < 500 => {}
            _ => self.unknown[self.next] += 1,
        }
    }
}

/// `http-join-spread` and `http-join-hot`.
///
/// # Errors
/// Deployment or set-up failures.
pub async fn joins(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let mut session = Session::open(plan, launcher, 1).await?;
    let endpoint = session.deployment.first().http.clone();
    let workers = setup_workers(plan);
    let count = if plan.scenario == Scenario::HttpJoinHot {
        1
    } else {
        plan.streams
    };
    let ids = Arc::new(create_streams(plan, &endpoint, count).await?);
    let prefill = api::prefill(&endpoint, &ids, plan.audience, workers).await?;
    let workloads = (0..plan.connections)
        .map(|conn| Joins {
            ids: Arc::clone(&ids),
            conn,
            sent: 0,
            next: conn % ids.len(),
            acknowledged: vec![0; ids.len()],
            unknown: vec![0; ids.len()],
        })
        .collect();
    session.start_clock();
    let result = load::run(&load_config(&session, plan), workloads).await;
    let mut report = session.load_report(&result);
    report.streams = count;
    report.prefill = prefill;
    let states = api::states(&endpoint, &ids, workers).await?;
    for (index, state) in states.iter().enumerate() {
        let acknowledged: u64 = result.workloads.iter().map(|w| w.acknowledged[index]).sum();
        let unknown: u64 = result.workloads.iter().map(|w| w.unknown[index]).sum();
        let low = plan.audience + acknowledged;
        let (what, ok) = if unknown == 0 {
            (
                "activeParticipants = audience + 2xx joins".to_owned(),
                state.active_participants == low,
            )
        } else {
            (
                "audience + 2xx joins ≤ activeParticipants ≤ that + joins with no answer"
                    .to_owned(),
                (low..=low + unknown).contains(&state.active_participants),
            )
        };
        report.correctness.expect(ok, what, || {
            format!(
                "stream {}: activeParticipants {} but audience {} + {acknowledged} acknowledged joins ({unknown} unanswered)",
                ids[index], state.active_participants, plan.audience
            )
        });
        if state.status != StreamStatus::Active {
            report.correctness.violations.push(format!(
                "stream {} is {} after joins",
                ids[index], state.status
            ));
        }
    }
    check_declared_outputs(plan, &endpoint, &ids, &mut report.correctness).await?;
    session.deployment.shutdown().await;
    Ok(report)
}
