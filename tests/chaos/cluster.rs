//! What a scenario runs: orchestrator processes on a private Redis (started and killed by the
//! test), a LiveKit emulator in the test process (no webhooks, so only the reconciler learns
//! what happens in the rooms), and plain clients.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::Duration;

use livekit_emulator::{Emulator, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
use orchestrator_tests::process::Orchestrator;
use redis_harness::RedisServer;
use serde_json::{json, Value};

/// A LiveKit emulator served on a free loopback port; returns it and its URL.
pub fn livekit() -> (Emulator, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let emulator = Emulator::new(EmulatorConfig::new(DEV_API_KEY, DEV_API_SECRET));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator.clone(),
        std::future::pending(),
    ));
    (emulator, url)
}

/// Instances sharing one Redis and one LiveKit.
pub struct Cluster {
    pub redis: RedisServer,
    pub prefix: String,
    pub emulator: Emulator,
    pub instances: Vec<Orchestrator>,
    env: Vec<(String, String)>,
}

impl Cluster {
    /// `count` instances on `redis` with `extra` settings.
    pub fn start(count: usize, redis: RedisServer, extra: &[(&str, &str)]) -> Cluster {
        let (emulator, livekit_url) = livekit();
        let prefix = redis_harness::unique_prefix();
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), redis.url().to_owned()),
            ("APP__REDIS__KEY_PREFIX".into(), prefix.clone()),
            ("LIVEKIT_URL".into(), livekit_url.clone()),
            ("LIVEKIT_API_KEY".into(), DEV_API_KEY.into()),
            ("LIVEKIT_API_SECRET".into(), DEV_API_SECRET.into()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut cluster = Cluster {
            redis,
            prefix,
            emulator,
            instances: Vec::new(),
            env,
        };
        for _ in 0..count {
            cluster.add_instance();
        }
        cluster
    }

    /// Starts one more instance with the cluster's settings.
    pub fn add_instance(&mut self) -> &Orchestrator {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.instances.push(Orchestrator::start(&env));
        self.instances.last().unwrap()
    }

    /// `redis-cli` on the cluster's Redis.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        redis_harness::redis_cli(self.redis.port(), args)
    }

    /// Who holds the reconciler lease (`<instance id>`), if anyone.
    pub fn lease_holder(&self) -> Option<(String, u64)> {
        let key = format!("{}{{lease:reconciler}}:holder", self.prefix);
        let value = self.redis_cli(&["GET", &key]);
        let (holder, token) = value.trim().rsplit_once('|')?;
        Some((holder.to_owned(), token.parse().ok()?))
    }
}

/// A client for the scenarios: requests time out after 5 s (a paused instance never answers).
pub fn client() -> reqwest::Client {
    orchestrator_tests::http_client_from(IpAddr::V4(Ipv4Addr::LOCALHOST), Duration::from_secs(5))
}

/// Creates a stream through `base`; returns its id.
pub async fn create_stream(client: &reqwest::Client, base: &str, body: Value) -> String {
    let response = client
        .post(format!("{base}/streams"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create through {base}");
    let stream: Value = response.json().await.unwrap();
    stream["id"].as_str().unwrap().to_owned()
}

/// `GET /streams/:id` through `base`.
pub async fn get_stream(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Joins `identity` through `base`; returns the LiveKit token.
pub async fn join(client: &reqwest::Client, base: &str, id: &str, identity: &str) -> String {
    let answer: Value = client
        .post(format!("{base}/streams/{id}/join"))
        .json(&json!({"participantName": identity}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

/// Polls `condition` every 100 ms for up to `limit`; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
