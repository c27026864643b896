//! Instances sharing one Redis and one LiveKit emulator.

use std::sync::Arc;

use livekit_emulator::{Emulator, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};
use orchestrator::Settings;
use orchestrator_tests::{spawn_app_with, TestApp};

/// A group of instances and what they share. Keep it alive for the whole test.
pub struct Deployment {
    pub instances: Vec<TestApp>,
    /// The Redis the instances share (the first node of a cluster).
    pub redis_url: String,
    /// The key prefix of this deployment in that Redis.
    pub prefix: String,
    _livekit: Emulator,
    _redis: Box<dyn std::any::Any + Send>,
}

impl Deployment {
    /// The instance serving request number `n` (round robin, as a load balancer would).
    pub fn instance(&self, n: usize) -> &TestApp {
        &self.instances[n % self.instances.len()]
    }
}

/// Settings of one instance on `redis_url` under `prefix`, using the LiveKit at `livekit_url`.
pub fn instance_settings(redis_url: &str, prefix: &str, livekit_url: &str) -> Settings {
    let mut settings = Settings::for_tests();
    settings.redis.url = redis_url.to_owned();
    settings.redis.key_prefix = prefix.to_owned();
    settings.livekit.url = livekit_url.to_owned();
    settings.livekit.api_key = DEV_API_KEY.into();
    settings.livekit.api_secret = DEV_API_SECRET.into();
    settings
}

/// `count` instances on the Redis at `redis_url` (kept alive by `guard`), sharing a LiveKit
/// emulator whose webhooks go to the first instance.
pub async fn deploy(
    count: usize,
    redis_url: &str,
    guard: Box<dyn std::any::Any + Send>,
) -> Deployment {
    let prefix = redis_harness::unique_prefix();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let livekit_url = format!("http://{}", listener.local_addr().unwrap());
    let emulator = Emulator::new(EmulatorConfig::new(DEV_API_KEY, DEV_API_SECRET));
    tokio::spawn(livekit_emulator::serve(
        listener,
        emulator.clone(),
        std::future::pending(),
    ));
    let mut instances = Vec::new();
    for _ in 0..count {
        instances.push(spawn_app_with(instance_settings(redis_url, &prefix, &livekit_url)).await);
    }
    Deployment {
        instances,
        redis_url: redis_url.to_owned(),
        prefix,
        _livekit: emulator,
        _redis: guard,
    }
}

/// Three instances on a standalone Redis (REDIS_URL when it answers, else a fresh server).
pub async fn three_instances() -> Deployment {
    let server = redis_harness::shared_or_owned();
    let url = server.url().to_owned();
    deploy(3, &url, Box::new(server)).await
}

/// Three instances on a Redis Cluster of three masters.
pub async fn three_instances_on_a_cluster() -> Deployment {
    let cluster = redis_harness::RedisCluster::start();
    let url = cluster.url();
    deploy(3, &url, Box::new(Arc::new(cluster))).await
}
