//! The shared coordination contract (leases, idempotency keys, webhook dedupe) on Redis
//! (REDIS_URL when it answers, else a redis-server the harness starts), each test under its own
//! key prefix; then the same on a Redis Cluster, where every script must stay within one slot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator_store_redis::dedupe::RedisWebhookDedupe;
use orchestrator_store_redis::idempotency::RedisIdempotency;
use orchestrator_store_redis::lease::RedisLeases;
use orchestrator_store_redis::{Connection, RedisConfig};
use redis_harness::RedisServer;

async fn connect(url: &str) -> Connection {
    let config = RedisConfig {
        key_prefix: redis_harness::unique_prefix(),
        ..RedisConfig::new(url)
    };
    Connection::connect(config)
        .await
        .expect("connect to the test Redis")
}

async fn redis<S>(store: fn(Connection) -> S) -> (S, RedisServer) {
    let server = redis_harness::shared_or_owned();
    let conn = connect(server.url()).await;
    (store(conn), server)
}

/// Idempotency answers sealed under a test secret.
fn sealed_idempotency(conn: Connection) -> RedisIdempotency {
    RedisIdempotency::new(conn, b"contract-test-secret").expect("a key derives")
}

orchestrator_store_contract::coordination_contract! {
    leases: redis(RedisLeases::new).await,
    idempotency: redis(sealed_idempotency).await,
    dedupe: redis(RedisWebhookDedupe::new).await,
}

/// The same contract on a Redis Cluster of three masters.
mod cluster {
    use std::sync::{Arc, Mutex, PoisonError, Weak};

    use orchestrator_store_redis::dedupe::RedisWebhookDedupe;
    use orchestrator_store_redis::lease::RedisLeases;
    use orchestrator_store_redis::Connection;
    use redis_harness::RedisCluster;

    /// One cluster for all tests running at the same time; the last test to finish stops it.
    fn shared_cluster() -> Arc<RedisCluster> {
        static CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
        let mut slot = CLUSTER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cluster) = slot.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(RedisCluster::start());
        *slot = Arc::downgrade(&cluster);
        cluster
    }

    async fn cluster<S>(store: fn(Connection) -> S) -> (S, Arc<RedisCluster>) {
        let cluster = shared_cluster();
        let conn = super::connect(&cluster.url()).await;
        (store(conn), cluster)
    }

    orchestrator_store_contract::coordination_contract! {
        leases: cluster(RedisLeases::new).await,
        idempotency: cluster(crate::sealed_idempotency).await,
        dedupe: cluster(RedisWebhookDedupe::new).await,
    }
}
