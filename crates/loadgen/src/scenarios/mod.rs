//! The scenarios. Each one deploys what it needs, sets up (streams, audience) before the clock
//! starts, measures, then checks that what the service holds equals what it acknowledged.
//!
//! - [`http`]: closed-loop HTTP scenarios (get, state, create, join spread, join hot).
//! - [`mixed`]: the realistic mix, with per-stream bookkeeping of acknowledged operations.
//! - [`fanout`]: WebSocket, gRPC and cross-instance deliveries.
//! - [`broadcast`]: streams going live with outputs (`broadcast-golive`), over
//!   [`golive`] (the followers of the streams' events and what they saw).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use crate::api;
use crate::cli::{Plan, Scenario};
use crate::load::LoadResult;
use crate::procstat::{self, ProcSample};
use crate::report::{Correctness, ErrorReport, ProcessCost, Report, ServerCost};
use crate::servers::{Deployment, Launcher};

pub mod broadcast;
pub mod fanout;
pub mod golive;
pub mod http;
pub mod mixed;

/// Runs `plan` against what `launcher` provides.
///
/// # Errors
/// When the servers cannot be started or the set-up fails (measurement failures are counted in
/// the report, not returned).
pub async fn run(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    match plan.scenario {
        Scenario::HttpGet | Scenario::HttpState => http::reads(plan, launcher).await,
        Scenario::HttpCreate => http::create(plan, launcher).await,
        Scenario::HttpJoinSpread | Scenario::HttpJoinHot => http::joins(plan, launcher).await,
        Scenario::HttpMixed => mixed::run(plan, launcher).await,
        Scenario::WsFanout | Scenario::GrpcFanout | Scenario::CrossInstance => {
            fanout::run(plan, launcher).await
        }
        Scenario::BroadcastGolive => broadcast::golive(plan, launcher).await,
    }
}

/// The deployment of one scenario and the process samples taken when its clock started.
#[derive(Debug)]
pub struct Session {
    /// The servers.
    pub deployment: Deployment,
    plan: Plan,
    started_at: String,
    servers_before: Vec<Option<ProcSample>>,
    redis_before: Option<ProcSample>,
    emulator_before: Option<ProcSample>,
    harness_before: Option<ProcSample>,
}

impl Session {
    /// Deploys `instances` orchestrators for `plan`.
    ///
    /// # Errors
    /// As [`Launcher::deploy`].
    pub async fn open(plan: &Plan, launcher: &Launcher, instances: usize) -> anyhow::Result<Self> {
        let deployment = launcher
            .deploy_with(plan.backend, instances, plan.broadcast_setup())
            .await?;
        Ok(Self {
            deployment,
            plan: plan.clone(),
            started_at: now(),
            servers_before: Vec::new(),
            redis_before: None,
            emulator_before: None,
            harness_before: None,
        })
    }

    /// Samples every process: the measured window starts now.
    pub fn start_clock(&mut self) {
        self.started_at = now();
        self.servers_before = self
            .deployment
            .instances
            .iter()
            .map(|instance| instance.sample())
            .collect();
        self.redis_before = self.deployment.redis_sample();
        self.emulator_before = self.deployment.emulator_sample();
        self.harness_before = procstat::sample(std::process::id());
    }

    /// A report skeleton for a window of `elapsed`, with the process costs since
    /// [`Session::start_clock`].
    pub fn report(&self, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64();
        let servers = self
            .deployment
            .instances
            .iter()
            .zip(&self.servers_before)
            .filter_map(|(instance, before)| {
                let (before, after) = ((*before)?, instance.sample()?);
                let cpu_s = after.cpu_s - before.cpu_s;
                Some(ServerCost {
                    start_to_ready_ms: instance
                        .start_to_ready
                        .map_or(0.0, |d| round1(d.as_secs_f64() * 1000.0)),
                    idle_rss_kb: instance.idle.map_or(0, |idle| idle.rss_kb),
                    peak_rss_kb: after.peak_rss_kb,
                    cpu_s: round3(cpu_s),
                    cpu_cores: round3(cpu_s / seconds.max(1e-9)),
                })
            })
            .collect();
        let redis = self
            .redis_before
            .zip(self.deployment.redis_sample())
            .map(|(before, after)| ProcessCost::between(before, after));
        let emulator = self
            .emulator_before
            .zip(self.deployment.emulator_sample())
            .map(|(before, after)| ProcessCost::between(before, after));
        let harness = self
            .harness_before
            .zip(procstat::sample(std::process::id()))
            .map(|(before, after)| ProcessCost::between(before, after));
        Report {
            scenario: self.plan.scenario.name().to_owned(),
            backend: self.plan.backend.name().to_owned(),
            started_at: self.started_at.clone(),
            connections: self.plan.connections,
            duration_s: self.plan.duration.as_secs_f64(),
            elapsed_s: round3(seconds),
            streams: self.plan.streams,
            audience: self.plan.audience,
            outputs_per_stream: self.plan.outputs_per_stream(),
            requests: 0,
            ok: 0,
            throughput_rps: 0.0,
            latency_ms: Default::default(),
            errors: ErrorReport::default(),
            prefill: None,
            servers,
            redis,
            harness,
            emulator,
            fanout: None,
            reference: None,
            broadcast: None,
            correctness: Correctness::default(),
        }
    }

    /// A report of a closed HTTP loop.
    pub fn load_report<W>(&self, result: &LoadResult<W>) -> Report {
        let mut report = self.report(result.elapsed);
        report.requests = result.answered;
        report.ok = result.ok;
        report.throughput_rps = round1(result.throughput());
        report.latency_ms = result.latencies.summary();
        report.errors = result.errors.clone().into();
        report
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Checks, after a run with `--with-outputs`, that every stream still has the outputs it
/// declared, idle (nothing made it go live): the outputs were there all along.
///
/// # Errors
/// When the outputs cannot be read.
pub async fn check_declared_outputs(
    plan: &Plan,
    endpoint: &crate::httpc::Endpoint,
    ids: &[String],
    correctness: &mut Correctness,
) -> anyhow::Result<()> {
    if !plan.with_outputs {
        return Ok(());
    }
    let outputs = api::outputs(endpoint, ids, setup_workers(plan)).await?;
    for (id, outputs) in ids.iter().zip(&outputs) {
        let mut names: Vec<&str> = outputs.iter().map(|o| o.id.as_str()).collect();
        names.sort_unstable();
        let idle = outputs.iter().all(|o| o.observed == "idle");
        correctness.expect(
            names == api::DECLARED_OUTPUTS && idle,
            "every stream holds its declared outputs, idle",
            || format!("stream {id}: outputs {names:?}, idle: {idle}"),
        );
    }
    Ok(())
}

/// Workers for set-up and read-back phases: enough to overlap round trips, not a load test.
pub fn setup_workers(plan: &Plan) -> usize {
    plan.connections.clamp(4, 64)
}
