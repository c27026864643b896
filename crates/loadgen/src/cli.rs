//! Command line: `loadgen run <scenario>`, `loadgen smoke`, `loadgen sweep`, `loadgen serve`,
//! and the [`Plan`] a scenario runs from (options resolved against per-scenario defaults).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::httpc::Endpoint;
use crate::servers::{Backend, BroadcastSetup, Launcher, RemoteConfig, SpawnConfig};

/// Benchmark harness of the livestream orchestrator.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure one scenario: a table on stdout, a JSON line (stdout, and `--json FILE`).
    Run(RunArgs),
    /// A few seconds per scenario with tiny sizes on memory and Redis: correctness only.
    Smoke(SmokeArgs),
    /// Series of runs drawn as SVG charts (connections, audience size, fan-out latency).
    Sweep(SweepArgs),
    /// Start a backend and an orchestrator (with streams) and wait: for wrk or manual probing.
    Serve(ServeArgs),
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GET /streams/:id`, spread over `--streams`.
    HttpGet,
    /// `GET /streams/:id/state`, spread over `--streams`.
    HttpState,
    /// `POST /streams`.
    HttpCreate,
    /// Joins of unique identities spread over `--streams`.
    HttpJoinSpread,
    /// Every join on ONE stream, unique identities.
    HttpJoinHot,
    /// Reads, joins, leaves, PATCHes, creates and stops in a realistic mix.
    HttpMixed,
    /// WebSocket subscribers receive PATCH events.
    WsFanout,
    /// gRPC Subscribe streams receive PATCH events.
    GrpcFanout,
    /// Change on instance A, delivered to WebSocket subscribers on A and B (one Redis).
    CrossInstance,
    /// Streams with two auto-start outputs and an ingest go live within a second; until every
    /// output is active.
    BroadcastGolive,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 10] = [
        Scenario::HttpGet,
        Scenario::HttpState,
        Scenario::HttpCreate,
        Scenario::HttpJoinSpread,
        Scenario::HttpJoinHot,
        Scenario::HttpMixed,
        Scenario::WsFanout,
        Scenario::GrpcFanout,
        Scenario::CrossInstance,
        Scenario::BroadcastGolive,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::HttpGet => "http-get",
            Scenario::HttpState => "http-state",
            Scenario::HttpCreate => "http-create",
            Scenario::HttpJoinSpread => "http-join-spread",
            Scenario::HttpJoinHot => "http-join-hot",
            Scenario::HttpMixed => "http-mixed",
            Scenario::WsFanout => "ws-fanout",
            Scenario::GrpcFanout => "grpc-fanout",
            Scenario::CrossInstance => "cross-instance",
            Scenario::BroadcastGolive => "broadcast-golive",
        }
    }

    /// Fan-out scenarios measure deliveries; the others a closed HTTP loop.
    pub fn is_fanout(self) -> bool {
        matches!(
            self,
            Scenario::WsFanout | Scenario::GrpcFanout | Scenario::CrossInstance
        )
    }

    fn default_streams(self) -> usize {
        match self {
            Scenario::HttpGet | Scenario::HttpState | Scenario::HttpJoinSpread => 100,
            Scenario::HttpMixed => 20,
            Scenario::WsFanout | Scenario::GrpcFanout | Scenario::CrossInstance => 10,
            Scenario::HttpCreate | Scenario::HttpJoinHot => 1,
            Scenario::BroadcastGolive => 1000,
        }
    }
}

/// Where the servers come from.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The orchestrator binary to start.
    #[arg(long, default_value = "target/release/orchestrator")]
    pub orchestrator: PathBuf,
    /// The livekit-emulator binary started for broadcast-golive (default: beside
    /// `--orchestrator`).
    #[arg(long)]
    pub emulator: Option<PathBuf>,
    /// The redis-server binary to start for `--backend redis`.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
    /// Extra environment of the started orchestrator, KEY=VALUE (repeatable).
    #[arg(long = "server-env", value_parser = parse_key_value)]
    pub server_env: Vec<(String, String)>,
    /// Use a running orchestrator instead (http://host:port); nothing is started.
    #[arg(long)]
    pub url: Option<String>,
    /// gRPC of the running orchestrator (default: the --url host, port 8001).
    #[arg(long)]
    pub grpc_url: Option<String>,
    /// A second running instance on the same Redis, for cross-instance (http://host:port).
    #[arg(long)]
    pub url_b: Option<String>,
    /// gRPC of the second instance.
    #[arg(long)]
    pub grpc_url_b: Option<String>,
    /// The LiveKit emulator the running orchestrator uses (http://host:port), for
    /// broadcast-golive with --url: its simulation routes play the encoders.
    #[arg(long)]
    pub emulator_url: Option<String>,
}

impl TargetArgs {
    /// The launcher these options describe.
    ///
    /// # Errors
    /// When a URL does not parse or resolve.
    pub async fn launcher(&self) -> anyhow::Result<Launcher> {
        let Some(url) = &self.url else {
            return Ok(Launcher::Spawn(SpawnConfig {
                orchestrator: self.orchestrator.clone(),
                emulator: self
                    .emulator
                    .clone()
                    .unwrap_or_else(|| beside(&self.orchestrator, "livekit-emulator")),
                redis_server: self.redis_server.clone(),
                extra_env: self.server_env.clone(),
            }));
        };
        let http = Endpoint::parse(url).await?;
        let grpc = grpc_endpoint(&http, self.grpc_url.as_deref()).await?;
        let second = match &self.url_b {
            Some(url_b) => {
                let http_b = Endpoint::parse(url_b).await?;
                let grpc_b = grpc_endpoint(&http_b, self.grpc_url_b.as_deref()).await?;
                Some((http_b, grpc_b))
            }
            None => None,
        };
        let emulator = match &self.emulator_url {
            Some(url) => Some(Endpoint::parse(url).await?),
            None => None,
        };
        Ok(Launcher::Remote(RemoteConfig {
            http,
            grpc,
            second,
            emulator,
        }))
    }
}

/// `name` in the directory of `binary` (a bare name when it has none: found on PATH).
fn beside(binary: &Path, name: &str) -> PathBuf {
    match binary.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

async fn grpc_endpoint(http: &Endpoint, explicit: Option<&str>) -> anyhow::Result<Endpoint> {
    match explicit {
        Some(url) => Endpoint::parse(url).await,
        None => {
            let host = http
                .authority
                .rsplit_once(':')
                .map_or("127.0.0.1", |(h, _)| h);
            Endpoint::parse(&format!("{host}:8001")).await
        }
    }
}

/// Sizes of a run; unset ones take the scenario's default.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Store of the started orchestrator.
    #[arg(long, value_enum, default_value = "redis")]
    pub backend: Backend,
    /// Concurrent keep-alive connections (closed loop each). Fan-out ignores it: one publisher
    /// per stream.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,
    /// Measuring time: `8`, `8s`, `500ms`, `2m`.
    #[arg(long, short = 'd', default_value = "8s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Streams the scenario uses (default per scenario: 100 for reads and spread joins, 20 for
    /// mixed, 10 for fan-out, 1 for hot join).
    #[arg(long)]
    pub streams: Option<usize>,
    /// Subscribers per stream (fan-out).
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Events published per second over all streams (fan-out).
    #[arg(long, default_value_t = 100.0)]
    pub event_rate: f64,
    /// Participants joined into each stream before the clock starts.
    #[arg(long, default_value_t = 0)]
    pub audience: u64,
    /// Deadline of one request.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// gRPC Subscribe streams multiplexed on one HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    pub grpc_streams_per_connection: usize,
    /// Skip `redis-benchmark -t get` after http-get on Redis.
    #[arg(long)]
    pub no_reference: bool,
    /// Every stream of the set-up declares two auto-start outputs (hls and rtmp), which stay
    /// idle: what outputs cost a GET or a join (http-get, http-state, http-join-*).
    #[arg(long)]
    pub with_outputs: bool,
    /// LiveKit egress starts per second the started orchestrator is paced to
    /// (APP__BROADCAST__EGRESS_STARTS_PER_SEC), broadcast-golive.
    #[arg(long, default_value_t = 200)]
    pub egress_starts_per_sec: u32,
    /// Every stream's encoder starts within this time, evenly spread (broadcast-golive).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub go_live_within: Duration,
}

/// `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario to measure.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Sizes.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Servers.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Append the JSON line to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `loadgen smoke`.
#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// Servers.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Backends to check.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "memory,redis"
    )]
    pub backends: Vec<Backend>,
    /// Append the JSON lines to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `loadgen sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Store of the started orchestrator.
    #[arg(long, value_enum, default_value = "redis")]
    pub backend: Backend,
    /// Connection counts of the HTTP sweep.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
    pub connections: Vec<usize>,
    /// Audience sizes of the join/read sweep.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,10000,100000")]
    pub audiences: Vec<u64>,
    /// Connections of the audience sweep.
    #[arg(long, default_value_t = 64)]
    pub audience_connections: usize,
    /// Measuring time of each point.
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// WebSocket / gRPC subscribers per stream of the fan-out runs.
    #[arg(long, default_value_t = 500)]
    pub subscribers: usize,
    /// Streams of the fan-out runs.
    #[arg(long, default_value_t = 10)]
    pub fanout_streams: usize,
    /// Events per second of the fan-out runs.
    #[arg(long, default_value_t = 100.0)]
    pub event_rate: f64,
    /// Which parts to run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "http,audience,fanout"
    )]
    pub parts: Vec<SweepPart>,
    /// Draw the charts again from the JSON lines of an earlier sweep, without measuring.
    #[arg(long)]
    pub redraw: bool,
    /// Directory of the SVG charts and of the sweep's JSON lines.
    #[arg(long, default_value = "docs/benchmarks")]
    pub out: PathBuf,
    /// Servers.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Parts of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SweepPart {
    /// Throughput and p99 against connections, HTTP scenarios.
    Http,
    /// Join and read throughput against the audience already in the stream.
    Audience,
    /// Delivery latency distribution, WebSocket and gRPC.
    Fanout,
}

/// `loadgen serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Store of the started orchestrator.
    #[arg(long, value_enum, default_value = "redis")]
    pub backend: Backend,
    /// Streams to create.
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Participants to join into each stream.
    #[arg(long, default_value_t = 0)]
    pub audience: u64,
    /// Stop after this long (default: Ctrl-C).
    #[arg(long = "for", value_parser = parse_duration)]
    pub for_duration: Option<Duration>,
    /// Servers.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// A scenario's resolved sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Scenario.
    pub scenario: Scenario,
    /// Store.
    pub backend: Backend,
    /// Connections of the closed loop (fan-out: unused).
    pub connections: usize,
    /// Measuring time.
    pub duration: Duration,
    /// Streams.
    pub streams: usize,
    /// Subscribers per stream.
    pub subscribers: usize,
    /// Events per second over all streams.
    pub event_rate: f64,
    /// Participants per stream before the clock starts.
    pub audience: u64,
    /// Request deadline.
    pub timeout: Duration,
    /// gRPC streams per HTTP/2 connection.
    pub grpc_streams_per_connection: usize,
    /// Whether to run redis-benchmark beside http-get on Redis.
    pub reference: bool,
    /// Whether set-up streams declare two (idle) outputs.
    pub with_outputs: bool,
    /// LiveKit egress starts per second the started orchestrator is paced to.
    pub egress_starts_per_sec: u32,
    /// The spread of the encoders' starts (broadcast-golive).
    pub go_live_within: Duration,
}

impl Plan {
    /// `args` resolved for `scenario`.
    pub fn new(scenario: Scenario, args: &LoadArgs) -> Self {
        Self {
            scenario,
            backend: args.backend,
            connections: args.connections.max(1),
            duration: args.duration,
            streams: args.streams.unwrap_or(scenario.default_streams()).max(1),
            subscribers: args.subscribers.max(1),
            event_rate: args.event_rate.max(0.1),
            audience: args.audience,
            timeout: args.timeout,
            grpc_streams_per_connection: args.grpc_streams_per_connection.max(1),
            reference: !args.no_reference,
            with_outputs: args.with_outputs || scenario == Scenario::BroadcastGolive,
            egress_starts_per_sec: args.egress_starts_per_sec.max(1),
            go_live_within: args.go_live_within,
        }
    }

    /// Outputs each set-up stream declares.
    pub fn outputs_per_stream(&self) -> usize {
        if self.with_outputs {
            crate::api::DECLARED_OUTPUTS.len()
        } else {
            0
        }
    }

    /// What a broadcast scenario needs of the started servers: a standalone LiveKit emulator
    /// with room for every ingest and output, and the pace.
    pub fn broadcast_setup(&self) -> Option<BroadcastSetup> {
        (self.scenario == Scenario::BroadcastGolive).then(|| BroadcastSetup {
            ingresses: self.streams,
            egresses: self.streams * self.outputs_per_stream(),
            egress_starts_per_sec: self.egress_starts_per_sec,
        })
    }
}

/// `8`, `8s`, `1.5s`, `500ms`, `2m`.
///
/// # Errors
/// Anything else.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 8s, 500ms, 2m)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("not a duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// `KEY=VALUE`.
///
/// # Errors
/// Without `=` or with an empty key.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied())).unwrap()
    }

    fn run_args(args: &[&str]) -> RunArgs {
        let Command::Run(run) = parse(args).command else {
            panic!("expected run");
        };
        run
    }

    #[test]
    fn durations_accept_seconds_milliseconds_and_minutes() {
        assert_eq!(parse_duration("8"), Ok(Duration::from_secs(8)));
        assert_eq!(parse_duration("8s"), Ok(Duration::from_secs(8)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_run_takes_the_scenario_defaults_for_what_is_not_given() {
        let run = run_args(&["run", "http-join-hot"]);

        let plan = Plan::new(run.scenario, &run.load);

        assert_eq!(plan.scenario, Scenario::HttpJoinHot);
        assert_eq!(plan.backend, Backend::Redis);
        assert_eq!(plan.connections, 64);
        assert_eq!(plan.duration, Duration::from_secs(8));
        assert_eq!(plan.streams, 1);
        assert_eq!(plan.audience, 0);
        assert!(plan.reference);
        assert_eq!(
            run.target.orchestrator,
            PathBuf::from("target/release/orchestrator")
        );
        assert!(run.json.is_none());
    }

    #[test]
    fn every_option_of_a_run_is_parsed() {
        let run = run_args(&[
            "run",
            "ws-fanout",
            "--backend",
            "memory",
            "-c",
            "8",
            "-d",
            "3s",
            "--streams",
            "5",
            "--subscribers",
            "2000",
            "--event-rate",
            "50",
            "--audience",
            "100000",
            "--timeout",
            "2s",
            "--json",
            "out.jsonl",
            "--server-env",
            "APP__HTTP__WORKERS=2",
            "--no-reference",
        ]);

        let plan = Plan::new(run.scenario, &run.load);

        assert_eq!(plan.backend, Backend::Memory);
        assert_eq!(plan.connections, 8);
        assert_eq!(plan.duration, Duration::from_secs(3));
        assert_eq!(plan.streams, 5);
        assert_eq!(plan.subscribers, 2000);
        assert_eq!(plan.event_rate, 50.0);
        assert_eq!(plan.audience, 100_000);
        assert_eq!(plan.timeout, Duration::from_secs(2));
        assert!(!plan.reference);
        assert_eq!(run.json, Some(PathBuf::from("out.jsonl")));
        assert_eq!(
            run.target.server_env,
            vec![("APP__HTTP__WORKERS".to_owned(), "2".to_owned())]
        );
    }

    #[test]
    fn broadcast_go_live_defaults_to_a_thousand_streams_with_two_outputs_at_200_starts_a_second() {
        let run = run_args(&["run", "broadcast-golive"]);

        let plan = Plan::new(run.scenario, &run.load);

        assert_eq!(plan.streams, 1000);
        assert_eq!(plan.outputs_per_stream(), 2);
        assert_eq!(plan.egress_starts_per_sec, 200);
        assert_eq!(plan.go_live_within, Duration::from_secs(1));
        assert_eq!(
            plan.broadcast_setup(),
            Some(BroadcastSetup {
                ingresses: 1000,
                egresses: 2000,
                egress_starts_per_sec: 200,
            })
        );
    }

    #[test]
    fn the_pace_the_spread_and_the_emulator_are_options() {
        let run = run_args(&[
            "run",
            "broadcast-golive",
            "--streams",
            "10",
            "--egress-starts-per-sec",
            "20",
            "--go-live-within",
            "500ms",
            "--emulator",
            "/opt/livekit-emulator",
        ]);

        let plan = Plan::new(run.scenario, &run.load);

        assert_eq!(plan.egress_starts_per_sec, 20);
        assert_eq!(plan.go_live_within, Duration::from_millis(500));
        assert_eq!(
            plan.broadcast_setup().map(|s| (s.ingresses, s.egresses)),
            Some((10, 20))
        );
        assert_eq!(
            run.target.emulator,
            Some(PathBuf::from("/opt/livekit-emulator"))
        );
    }

    #[tokio::test]
    async fn the_emulator_is_found_beside_the_orchestrator_by_default() {
        let run = run_args(&[
            "run",
            "broadcast-golive",
            "--orchestrator",
            "target/debug/orchestrator",
        ]);

        let Launcher::Spawn(spawn) = run.target.launcher().await.unwrap() else {
            panic!("expected started servers");
        };

        assert_eq!(
            spawn.emulator,
            PathBuf::from("target/debug/livekit-emulator")
        );
        assert_eq!(
            beside(Path::new("orchestrator"), "livekit-emulator"),
            PathBuf::from("livekit-emulator"),
            "a bare name is looked up on PATH"
        );
    }

    #[test]
    fn outputs_are_declared_only_when_asked_or_by_broadcast_go_live() {
        let plain = run_args(&["run", "http-get"]);
        let with = run_args(&["run", "http-join-hot", "--with-outputs"]);

        let (plain, with) = (
            Plan::new(plain.scenario, &plain.load),
            Plan::new(with.scenario, &with.load),
        );

        assert_eq!(plain.outputs_per_stream(), 0);
        assert_eq!(with.outputs_per_stream(), 2);
        assert_eq!(
            with.broadcast_setup(),
            None,
            "idle outputs need no emulator of their own"
        );
    }

    #[test]
    fn every_scenario_name_parses_back_to_itself() {
        for scenario in Scenario::ALL {
            let run = run_args(&["run", scenario.name()]);
            assert_eq!(run.scenario, scenario);
        }
    }

    #[test]
    fn an_unknown_scenario_or_bad_option_is_refused() {
        let attempt = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
        };

        assert!(attempt(&["run", "http-teleport"]).is_err());
        assert!(attempt(&["run", "http-get", "--backend", "postgres"]).is_err());
        assert!(attempt(&["run", "http-get", "--server-env", "NOEQUALS"]).is_err());
    }

    #[test]
    fn smoke_checks_both_backends_by_default() {
        let Command::Smoke(smoke) =
            parse(&["smoke", "--orchestrator", "target/debug/orchestrator"]).command
        else {
            panic!("expected smoke");
        };

        assert_eq!(smoke.backends, vec![Backend::Memory, Backend::Redis]);
        assert_eq!(
            smoke.target.orchestrator,
            PathBuf::from("target/debug/orchestrator")
        );
    }

    #[test]
    fn sweep_lists_are_comma_separated() {
        let args = [
            "sweep",
            "--connections",
            "1,2,4",
            "--audiences",
            "0,2000",
            "--parts",
            "http",
        ];
        let Command::Sweep(sweep) = parse(&args).command else {
            panic!("expected sweep");
        };

        assert_eq!(sweep.connections, vec![1, 2, 4]);
        assert_eq!(sweep.audiences, vec![0, 2000]);
        assert_eq!(sweep.parts, vec![SweepPart::Http]);
        assert_eq!(sweep.out, PathBuf::from("docs/benchmarks"));
    }

    #[tokio::test]
    async fn a_url_targets_running_servers_with_grpc_on_8001_by_default() {
        let run = run_args(&["run", "http-get", "--url", "http://127.0.0.1:3000"]);

        let Launcher::Remote(remote) = run.target.launcher().await.unwrap() else {
            panic!("expected remote servers");
        };

        assert_eq!(remote.http, Endpoint::loopback(3000));
        assert_eq!(remote.grpc, Endpoint::loopback(8001));
        assert!(remote.second.is_none());
        assert!(remote.emulator.is_none());
    }
}
