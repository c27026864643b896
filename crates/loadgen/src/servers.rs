//! The system under test: either processes the harness starts (a private `redis-server` on a
//! free loopback port, one or two `orchestrator` instances with the embedded LiveKit emulator,
//! or, for a broadcast scenario, with a standalone `livekit-emulator` the harness can reach)
//! or servers already running, named by URL.
//!
//! Every started process is killed when its [`Deployment`] is dropped: at the end of a
//! scenario, on an error, and on Ctrl-C (the main future is dropped).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::ValueEnum;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::httpc::{Client, Endpoint, Req};
use crate::procstat::{self, ProcSample};

/// Where the orchestrator keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The in-memory store (one process).
    Memory,
    /// A Redis shared by every instance.
    Redis,
}

impl Backend {
    /// `memory` or `redis`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redis => "redis",
        }
    }
}

/// How to get a system under test.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// Start processes.
    Spawn(SpawnConfig),
    /// Use running servers.
    Remote(RemoteConfig),
}

/// Processes to start.
#[derive(Debug, Clone)]
pub struct SpawnConfig {
    /// The orchestrator binary.
    pub orchestrator: PathBuf,
    /// The livekit-emulator binary (broadcast scenarios).
    pub emulator: PathBuf,
    /// The redis-server binary.
    pub redis_server: String,
    /// Extra `KEY=VALUE` variables for the orchestrator (e.g. `APP__HTTP__WORKERS=2`).
    pub extra_env: Vec<(String, String)>,
}

/// Running servers.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// HTTP (and WebSocket) of instance A.
    pub http: Endpoint,
    /// gRPC of instance A.
    pub grpc: Endpoint,
    /// HTTP and gRPC of instance B (cross-instance scenario).
    pub second: Option<(Endpoint, Endpoint)>,
    /// The LiveKit emulator instance A uses (broadcast scenarios).
    pub emulator: Option<Endpoint>,
}

/// What a broadcast scenario needs of a started deployment: a standalone LiveKit emulator
/// (its simulation routes play the encoders) whose caps hold every ingest and egress, and the
/// orchestrator's egress start pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastSetup {
    /// Ingresses the emulator must hold at once.
    pub ingresses: usize,
    /// Egresses it must hold running at once.
    pub egresses: usize,
    /// `APP__BROADCAST__EGRESS_STARTS_PER_SEC` of the orchestrator.
    pub egress_starts_per_sec: u32,
}

/// The LiveKit emulator a broadcast scenario drives.
#[derive(Debug)]
pub struct EmulatorSide {
    /// Its HTTP (Twirp and simulation routes).
    pub endpoint: Endpoint,
    /// The process, when started here.
    pub process: Option<Managed>,
    /// The pace the orchestrator was started with (unknown for running servers).
    pub egress_starts_per_sec: Option<u32>,
}

/// One orchestrator instance.
#[derive(Debug)]
pub struct Instance {
    /// REST and WebSocket.
    pub http: Endpoint,
    /// gRPC.
    pub grpc: Endpoint,
    /// The process, when started here.
    pub process: Option<Managed>,
    /// From spawn to the first 200 of `/health/ready`.
    pub start_to_ready: Option<Duration>,
    /// Its cost right after it became ready.
    pub idle: Option<ProcSample>,
}

impl Instance {
    /// A snapshot of the process, when started here.
    pub fn sample(&self) -> Option<ProcSample> {
        self.process.as_ref().and_then(|p| procstat::sample(p.pid))
    }
}

/// A started process, killed on drop.
#[derive(Debug)]
pub struct Managed {
    /// Its pid.
    pub pid: u32,
    child: Child,
    log: PathBuf,
    killed: bool,
}

/// The servers one scenario runs against.
#[derive(Debug)]
pub struct Deployment {
    /// Orchestrator instances (one, or two for cross-instance).
    pub instances: Vec<Instance>,
    /// The private Redis, when started here.
    pub redis: Option<Managed>,
    /// The Redis address, when started here (for redis-benchmark).
    pub redis_port: Option<u16>,
    /// The standalone LiveKit emulator of a broadcast scenario.
    pub emulator: Option<EmulatorSide>,
    workdir: Option<PathBuf>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let mut died = Vec::new();
        let processes = self
            .instances
            .iter_mut()
            .filter_map(|instance| instance.process.as_mut())
            .chain(self.redis.as_mut())
            .chain(self.emulator.as_mut().and_then(|e| e.process.as_mut()));
        for process in processes {
            if process.killed {
                continue;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                died.push(format!(
                    "{} exited on its own ({status})",
                    process.log.display()
                ));
            }
            let _ = process.child.start_kill();
        }
        if let Some(dir) = &self.workdir {
            if died.is_empty() {
                let _ = std::fs::remove_dir_all(dir);
            } else {
                // A server that died mid-run is a finding: keep its log.
                eprintln!(
                    "loadgen: {}; logs kept in {}",
                    died.join("; "),
                    dir.display()
                );
            }
        }
    }
}

impl Deployment {
    /// Instance A.
    pub fn first(&self) -> &Instance {
        &self.instances[0]
    }

    /// A snapshot of the Redis process, when started here.
    pub fn redis_sample(&self) -> Option<ProcSample> {
        self.redis.as_ref().and_then(|r| procstat::sample(r.pid))
    }

    /// A snapshot of the standalone emulator, when started here.
    pub fn emulator_sample(&self) -> Option<ProcSample> {
        let process = self.emulator.as_ref()?.process.as_ref()?;
        procstat::sample(process.pid)
    }

    /// Kills every process and waits for it to exit (one that already died is reported by
    /// the drop that follows).
    pub async fn shutdown(mut self) {
        let processes = self
            .instances
            .iter_mut()
            .filter_map(|instance| instance.process.as_mut())
            .chain(self.redis.as_mut())
            .chain(self.emulator.as_mut().and_then(|e| e.process.as_mut()));
        for process in processes {
            if matches!(process.child.try_wait(), Ok(None)) {
                process.killed = true;
                let _ = process.child.kill().await;
            }
        }
    }
}

impl Launcher {
    /// Starts (or names) `instances` orchestrators on `backend`.
    ///
    /// # Errors
    /// When a process does not start or become ready within 30 s (with its log's tail), or a
    /// remote configuration lacks the second instance.
    pub async fn deploy(&self, backend: Backend, instances: usize) -> anyhow::Result<Deployment> {
        self.deploy_with(backend, instances, None).await
    }

    /// [`Launcher::deploy`], with what a broadcast scenario needs when `broadcast` is given.
    ///
    /// # Errors
    /// As [`Launcher::deploy`]; also when the emulator does not start, a broadcast has more
    /// than one instance, or running servers were named without `--emulator-url`.
    pub async fn deploy_with(
        &self,
        backend: Backend,
        instances: usize,
        broadcast: Option<BroadcastSetup>,
    ) -> anyhow::Result<Deployment> {
        if broadcast.is_some() && instances > 1 {
            bail!("a broadcast scenario runs one instance");
        }
        match self {
            Launcher::Remote(remote) => remote_deployment(remote, instances, broadcast),
            Launcher::Spawn(config) => {
                spawn_deployment(config, backend, instances, broadcast).await
            }
        }
    }

    /// Whether the harness starts the servers (so it can report their RSS and CPU).
    pub fn spawns(&self) -> bool {
        matches!(self, Launcher::Spawn(_))
    }
}

fn remote_deployment(
    remote: &RemoteConfig,
    instances: usize,
    broadcast: Option<BroadcastSetup>,
) -> anyhow::Result<Deployment> {
    let emulator = match (broadcast, &remote.emulator) {
        (None, _) => None,
        (Some(_), Some(endpoint)) => Some(EmulatorSide {
            endpoint: endpoint.clone(),
            process: None,
            egress_starts_per_sec: None,
        }),
        (Some(_), None) => bail!(
            "a broadcast scenario plays encoders through the server's LiveKit emulator: \
             pass --emulator-url"
        ),
    };
    let mut list = vec![remote_instance(remote.http.clone(), remote.grpc.clone())];
    if instances > 1 {
        let (http, grpc) = remote
            .second
            .clone()
            .ok_or_else(|| anyhow!("this scenario needs a second instance: pass --url-b"))?;
        list.push(remote_instance(http, grpc));
    }
    Ok(Deployment {
        instances: list,
        redis: None,
        redis_port: None,
        emulator,
        workdir: None,
    })
}

fn remote_instance(http: Endpoint, grpc: Endpoint) -> Instance {
    Instance {
        http,
        grpc,
        process: None,
        start_to_ready: None,
        idle: None,
    }
}

async fn spawn_deployment(
    config: &SpawnConfig,
    backend: Backend,
    instances: usize,
    broadcast: Option<BroadcastSetup>,
) -> anyhow::Result<Deployment> {
    if instances > 1 && backend == Backend::Memory {
        bail!("several instances share state only through Redis: use --backend redis");
    }
    let workdir = std::env::temp_dir().join(format!(
        "loadgen-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&workdir).context("cannot create a work directory")?;
    let mut deployment = Deployment {
        instances: Vec::new(),
        redis: None,
        redis_port: None,
        emulator: None,
        workdir: Some(workdir.clone()),
    };
    let redis_url = match backend {
        Backend::Memory => None,
        Backend::Redis => {
            let (redis, port) = start_redis(&config.redis_server, &workdir).await?;
            deployment.redis = Some(redis);
            deployment.redis_port = Some(port);
            Some(format!("redis://127.0.0.1:{port}"))
        }
    };
    for index in 0..instances {
        let ports = (free_port()?, free_port()?);
        let mut livekit = None;
        if let Some(setup) = broadcast {
            let (emulator, port) = start_emulator(config, setup, ports.0, &workdir).await?;
            deployment.emulator = Some(emulator);
            livekit = Some((port, setup.egress_starts_per_sec));
        }
        let started = StartOrchestrator {
            config,
            redis_url: redis_url.as_deref(),
            livekit,
            ports,
        };
        let instance = start_orchestrator(started, &workdir, index).await?;
        deployment.instances.push(instance);
    }
    Ok(deployment)
}

/// A port that was free a moment ago on the loopback interface.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

async fn start_redis(binary: &str, workdir: &Path) -> anyhow::Result<(Managed, u16)> {
    let port = free_port()?;
    let log = workdir.join("redis.log");
    let mut command = Command::new(binary);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .args(["--dir", &workdir.to_string_lossy()]);
    let mut redis = spawn(command, &log, binary)?;
    let started = Instant::now();
    while !redis_answers(port).await {
        if let Ok(Some(status)) = redis.child.try_wait() {
            bail!("redis-server exited ({status}): {}", tail(&redis.log));
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("redis-server not answering PING: {}", tail(&redis.log));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((redis, port))
}

async fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 7];
    stream.write_all(b"PING\r\n").await.is_ok()
        && stream.read_exact(&mut buf).await.is_ok()
        && &buf == b"+PONG\r\n"
}

/// A standalone `livekit-emulator` on a free loopback port, with the dev credentials, its
/// webhooks sent to the orchestrator that will listen on `http_port`, and caps raised to hold
/// `setup`; its port.
async fn start_emulator(
    config: &SpawnConfig,
    setup: BroadcastSetup,
    http_port: u16,
    workdir: &Path,
) -> anyhow::Result<(EmulatorSide, u16)> {
    let port = free_port()?;
    let log = workdir.join("livekit-emulator.log");
    let mut command = Command::new(&config.emulator);
    for variable in [
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "LIVEKIT_WEBHOOK_URLS",
    ] {
        command.env_remove(variable);
    }
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg(format!(
            "--webhook-url=http://127.0.0.1:{http_port}/webhooks/livekit"
        ))
        .args(["--log-format", "json"])
        .arg(format!("--max-ingresses={}", setup.ingresses.max(1)))
        .arg(format!("--max-active-egresses={}", setup.egresses.max(1)))
        // A line per webhook or request would cost CPU the measured server shares.
        .env("RUST_LOG", "warn");
    let name = config.emulator.to_string_lossy().into_owned();
    let mut process = spawn(command, &log, &name)?;
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if let Ok(Some(status)) = process.child.try_wait() {
            bail!("livekit-emulator exited ({status}): {}", tail(&process.log));
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!(
                "livekit-emulator not listening after 10 s: {}",
                tail(&process.log)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let side = EmulatorSide {
        endpoint: Endpoint::loopback(port),
        process: Some(process),
        egress_starts_per_sec: Some(setup.egress_starts_per_sec),
    };
    Ok((side, port))
}

/// What one orchestrator is started with.
struct StartOrchestrator<'a> {
    config: &'a SpawnConfig,
    redis_url: Option<&'a str>,
    /// The standalone emulator's port and the egress start pace; `None`: embedded emulator.
    livekit: Option<(u16, u32)>,
    /// HTTP and gRPC ports.
    ports: (u16, u16),
}

async fn start_orchestrator(
    start: StartOrchestrator<'_>,
    workdir: &Path,
    index: usize,
) -> anyhow::Result<Instance> {
    let StartOrchestrator {
        config,
        redis_url,
        livekit,
        ports: (http_port, grpc_port),
    } = start;
    let log = workdir.join(format!("orchestrator-{index}.log"));
    let mut command = Command::new(&config.orchestrator);
    for variable in [
        "REDIS_URL",
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
    ] {
        command.env_remove(variable);
    }
    command
        .env("PORT", http_port.to_string())
        .env("GRPC_PORT", grpc_port.to_string())
        .env("APP__HTTP__HOST", "127.0.0.1")
        // Production's logging (JSON, info) without its guards: the load comes from one
        // address with no key, and rate limits would measure the limiter, not the service.
        .env("APP_ENV", "benchmark")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,actix_server=warn")
        .env("APP__LIMITS__REQUESTS_PER_SEC_PER_KEY", "0")
        .env("APP__LIMITS__REQUESTS_PER_SEC_PER_ADDRESS", "0")
        .env("APP__LIMITS__CONNECTIONS_PER_ADDRESS", "0")
        .env("APP__LIMITS__WEBSOCKET_CONNECTIONS_PER_KEY", "0")
        .env("REDIS_URL", redis_url.unwrap_or(""));
    if let Some((port, pace)) = livekit {
        command
            .env("LIVEKIT_URL", format!("http://127.0.0.1:{port}"))
            .env("LIVEKIT_API_KEY", DEV_API_KEY)
            .env("LIVEKIT_API_SECRET", DEV_API_SECRET)
            .env("APP__BROADCAST__EGRESS_STARTS_PER_SEC", pace.to_string());
    }
    for (key, value) in &config.extra_env {
        command.env(key, value);
    }
    let spawned_at = Instant::now();
    let name = config.orchestrator.to_string_lossy().into_owned();
    let mut process = spawn(command, &log, &name)?;
    let http = Endpoint::loopback(http_port);
    wait_ready(&http, &mut process).await?;
    let start_to_ready = spawned_at.elapsed();
    let idle = procstat::sample(process.pid);
    Ok(Instance {
        http,
        grpc: Endpoint::loopback(grpc_port),
        process: Some(process),
        start_to_ready: Some(start_to_ready),
        idle,
    })
}

async fn wait_ready(http: &Endpoint, process: &mut Managed) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut client = Client::new(http.clone(), Duration::from_secs(2));
    loop {
        if let Ok(reply) = client.send(&Req::get("/health/ready")).await {
            if reply.status == 200 {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            bail!("orchestrator exited ({status}): {}", tail(&process.log));
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("orchestrator not ready after 30 s: {}", tail(&process.log));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn spawn(mut command: Command, log: &Path, name: &str) -> anyhow::Result<Managed> {
    let file = std::fs::File::create(log).context("cannot create a log file")?;
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let pid = child.id().ok_or_else(|| anyhow!("{name} exited at once"))?;
    Ok(Managed {
        pid,
        child,
        log: log.to_path_buf(),
        killed: false,
    })
}

/// The key and secret `livekit-emulator` takes by default: `livekit-server --dev`'s, published
/// constants (the harness depends on no crate of the service, so they are repeated here).
const DEV_API_KEY: &str = "devkey";
const DEV_API_SECRET: &str = "secret";

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    format!(
        "last lines of {}:\n{}",
        log.display(),
        lines[start..].join("\n")
    )
}

/// `redis-benchmark -t get` at `connections` against a Redis started here: requests per second
/// of plain GETs, the ceiling a Redis-backed GET cannot exceed on this machine.
///
/// # Errors
/// When redis-benchmark is missing or its output has no GET line.
pub async fn redis_benchmark_get(
    port: u16,
    connections: usize,
    requests: u64,
) -> anyhow::Result<f64> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &connections.to_string(), "-n", &requests.to_string()])
        .args(["-t", "get", "--csv"])
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run redis-benchmark")?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_redis_benchmark_csv(&text)
        .ok_or_else(|| anyhow!("no GET figure in redis-benchmark's output: {text}"))
}

/// `"GET","87719.30",...` → 87719.3 (the CSV of redis-benchmark 6 and 7).
fn parse_redis_benchmark_csv(text: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let mut fields = line.split(',').map(|f| f.trim_matches('"'));
        (fields.next()? == "GET")
            .then(|| fields.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_csv_gives_the_get_rate() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\"\n\"GET\",\"87719.30\",\"0.3\"\n";

        assert_eq!(parse_redis_benchmark_csv(csv), Some(87719.30));
        assert_eq!(parse_redis_benchmark_csv("\"SET\",\"1\"\n"), None);
    }

    #[tokio::test]
    async fn several_instances_need_redis() {
        let launcher = Launcher::Spawn(SpawnConfig {
            orchestrator: PathBuf::from("/nonexistent/orchestrator"),
            emulator: PathBuf::from("/nonexistent/livekit-emulator"),
            redis_server: "redis-server".into(),
            extra_env: Vec::new(),
        });

        let err = launcher.deploy(Backend::Memory, 2).await.unwrap_err();

        assert!(err.to_string().contains("--backend redis"), "{err}");
    }

    const BROADCAST: BroadcastSetup = BroadcastSetup {
        ingresses: 5,
        egresses: 10,
        egress_starts_per_sec: 20,
    };

    #[tokio::test]
    async fn a_broadcast_on_running_servers_needs_the_emulators_address() {
        let remote = |emulator| {
            Launcher::Remote(RemoteConfig {
                http: Endpoint::loopback(3000),
                grpc: Endpoint::loopback(8001),
                second: None,
                emulator,
            })
        };

        let refused = remote(None)
            .deploy_with(Backend::Redis, 1, Some(BROADCAST))
            .await
            .unwrap_err();
        let named = remote(Some(Endpoint::loopback(7880)))
            .deploy_with(Backend::Redis, 1, Some(BROADCAST))
            .await
            .unwrap();

        assert!(refused.to_string().contains("--emulator-url"), "{refused}");
        let emulator = named.emulator.as_ref().unwrap();
        assert_eq!(emulator.endpoint, Endpoint::loopback(7880));
        assert_eq!(
            emulator.egress_starts_per_sec, None,
            "the server's own pace"
        );
    }

    #[tokio::test]
    async fn a_broadcast_runs_one_instance() {
        let launcher = Launcher::Spawn(SpawnConfig {
            orchestrator: PathBuf::from("/nonexistent/orchestrator"),
            emulator: PathBuf::from("/nonexistent/livekit-emulator"),
            redis_server: "redis-server".into(),
            extra_env: Vec::new(),
        });

        let err = launcher
            .deploy_with(Backend::Redis, 2, Some(BROADCAST))
            .await
            .unwrap_err();

        assert!(err.to_string().contains("one instance"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_emulator_binary_is_a_clear_error() {
        let launcher = Launcher::Spawn(SpawnConfig {
            orchestrator: PathBuf::from("/nonexistent/orchestrator"),
            emulator: PathBuf::from("/nonexistent/livekit-emulator"),
            redis_server: "redis-server".into(),
            extra_env: Vec::new(),
        });

        let err = launcher
            .deploy_with(Backend::Memory, 1, Some(BROADCAST))
            .await
            .unwrap_err();

        assert!(
            format!("{err:#}").contains("cannot start /nonexistent/livekit-emulator"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn a_missing_binary_is_a_clear_error() {
        let launcher = Launcher::Spawn(SpawnConfig {
            orchestrator: PathBuf::from("/nonexistent/orchestrator"),
            emulator: PathBuf::from("/nonexistent/livekit-emulator"),
            redis_server: "redis-server".into(),
            extra_env: Vec::new(),
        });

        let err = launcher.deploy(Backend::Memory, 1).await.unwrap_err();

        assert!(format!("{err:#}").contains("cannot start"), "{err:#}");
    }
}
