//! The sub-commands: `run` (one scenario), `smoke` (correctness of every scenario, tiny sizes,
//! both backends), `serve` (servers for wrk or manual probing). `sweep` lives in
//! [`crate::sweep`].

use std::path::Path;
use std::time::Duration;

use crate::api;
use crate::cli::{Command, LoadArgs, Plan, RunArgs, Scenario, ServeArgs, SmokeArgs};
use crate::report::Report;
use crate::scenarios;
use crate::servers::{Backend, Launcher};

/// Runs `command`; `Ok(false)` when a correctness check failed (or, for smoke, any error).
///
/// # Errors
/// When the servers cannot be started or set up.
pub async fn execute(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Smoke(args) => smoke(args).await,
        Command::Sweep(args) => crate::sweep::sweep(args).await,
        Command::Serve(args) => serve(args).await.map(|()| true),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let launcher = args.target.launcher().await?;
    let plan = Plan::new(args.scenario, &args.load);
    let report = scenarios::run(&plan, &launcher).await?;
    publish(&report, args.json.as_deref())?;
    Ok(report.correctness.is_ok())
}

/// Prints the table and the JSON line; appends the line to `json` if given.
///
/// # Errors
/// When the JSON file cannot be written.
pub fn publish(report: &Report, json: Option<&Path>) -> anyhow::Result<()> {
    print!("{}", report.table());
    println!("{}", report.json_line());
    if let Some(path) = json {
        report.append_to(path)?;
    }
    Ok(())
}

/// The tiny sizes of a smoke run of `scenario`.
pub fn smoke_plan(scenario: Scenario, backend: Backend) -> Plan {
    let mut load = LoadArgs {
        backend,
        connections: 4,
        duration: Duration::from_millis(1000),
        streams: Some(3),
        subscribers: 5,
        event_rate: 20.0,
        audience: 3,
        timeout: Duration::from_secs(5),
        grpc_streams_per_connection: 4,
        no_reference: true,
        with_outputs: false,
        egress_starts_per_sec: 200,
        go_live_within: Duration::from_millis(500),
    };
    match scenario {
        Scenario::HttpCreate | Scenario::HttpJoinHot => load.streams = None,
        Scenario::HttpMixed => load.duration = Duration::from_millis(2000),
        Scenario::WsFanout | Scenario::GrpcFanout | Scenario::CrossInstance => {
            load.streams = Some(2);
            load.audience = 0;
            load.duration = Duration::from_millis(1500);
        }
        Scenario::HttpGet | Scenario::HttpState | Scenario::HttpJoinSpread => {}
        Scenario::BroadcastGolive => {
            // Ten outputs (five streams), paced at 20/s: the pacing is exercised (half a
            // second of starts) and the run stays short.
            load.streams = Some(5);
            load.subscribers = 1;
            load.audience = 0;
            load.egress_starts_per_sec = 20;
        }
    }
    Plan::new(scenario, &load)
}

async fn smoke(args: SmokeArgs) -> anyhow::Result<bool> {
    let launcher = args.target.launcher().await?;
    let (mut passed, mut failed) = (0, 0);
    for backend in &args.backends {
        for scenario in Scenario::ALL {
            if scenario == Scenario::CrossInstance && *backend == Backend::Memory {
                continue; // instances share state only through Redis
            }
            let plan = smoke_plan(scenario, *backend);
            let report = scenarios::run(&plan, &launcher).await?;
            publish(&report, args.json.as_deref())?;
            let clean = report.correctness.is_ok() && report.errors.total == 0 && report.ok > 0;
            if clean {
                passed += 1;
            } else {
                failed += 1;
                eprintln!(
                    "SMOKE FAILED: {} on {}: {} errors, {} ok, violations: {:?}",
                    report.scenario,
                    report.backend,
                    report.errors.total,
                    report.ok,
                    report.correctness.violations
                );
            }
        }
    }
    println!("loadgen smoke: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let launcher = args.target.launcher().await?;
    if !matches!(launcher, Launcher::Spawn(_)) {
        anyhow::bail!("serve starts its own servers: drop --url");
    }
    let deployment = launcher.deploy(args.backend, 1).await?;
    let instance = deployment.first();
    let ids = api::create_streams(&instance.http, args.streams as u64, 16).await?;
    api::prefill(&instance.http, &ids, args.audience, 16).await?;
    println!("http     {}", instance.http.http_url());
    println!("grpc     {}", instance.grpc.authority);
    if let Some(port) = deployment.redis_port {
        println!("redis    127.0.0.1:{port}");
    }
    if let Some(process) = &instance.process {
        println!("pid      {}", process.pid);
    }
    for id in &ids {
        println!("stream   {id}");
    }
    match args.for_duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => {
            println!("serving until Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
    deployment.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_sizes_stay_tiny() {
        for scenario in Scenario::ALL {
            let plan = smoke_plan(scenario, Backend::Memory);
            assert!(plan.duration <= Duration::from_secs(2), "{scenario:?}");
            assert!(plan.connections <= 4, "{scenario:?}");
            assert!(plan.streams * plan.subscribers <= 15, "{scenario:?}");
            assert!(!plan.reference, "smoke never runs redis-benchmark");
        }
    }

    #[test]
    fn smoke_takes_broadcast_go_live_through_pacing_at_five_streams() {
        let plan = smoke_plan(Scenario::BroadcastGolive, Backend::Redis);

        assert_eq!(plan.streams, 5);
        assert_eq!(plan.outputs_per_stream(), 2);
        assert_eq!(plan.egress_starts_per_sec, 20);
        assert!(plan.go_live_within <= Duration::from_secs(1));
        let outputs = (plan.streams * plan.outputs_per_stream()) as f64;
        assert!(
            outputs / f64::from(plan.egress_starts_per_sec) <= 1.0,
            "a second of starts at most"
        );
    }
}
