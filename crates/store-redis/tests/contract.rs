//! The shared stream-store contract on Redis (REDIS_URL when it answers, else a redis-server
//! the harness starts), each test under its own key prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use orchestrator_store_redis::broadcast::RedisBroadcasts;
use orchestrator_store_redis::{RedisConfig, RedisStore};
use redis_harness::RedisServer;

async fn redis_store() -> (RedisStore, RedisServer) {
    let server = redis_harness::shared_or_owned();
    let config = RedisConfig {
        key_prefix: redis_harness::unique_prefix(),
        ..RedisConfig::new(server.url())
    };
    let store = RedisStore::connect(config)
        .await
        .expect("connect to the test Redis");
    (store, server)
}

/// The stream store and the broadcast records on its connection.
async fn redis_broadcasts() -> (RedisStore, RedisBroadcasts, RedisServer) {
    let (store, server) = redis_store().await;
    let broadcasts = RedisBroadcasts::new(store.connection().clone(), b"contract secret").unwrap();
    (store, broadcasts, server)
}

orchestrator_store_contract::stream_store_contract!(redis_store().await);
orchestrator_store_contract::participant_store_contract!(redis_store().await);
orchestrator_store_contract::broadcast_store_contract!(redis_broadcasts().await);

/// The same contract on a Redis Cluster of three masters: every script must stay within one
/// slot and every multi-key read must route per key.
mod cluster {
    use std::sync::{Arc, Mutex, Weak};

    use orchestrator_store_redis::{RedisConfig, RedisStore};
    use redis_harness::RedisCluster;

    /// One cluster for all tests running at the same time; the last test to finish stops it.
    fn shared_cluster() -> Arc<RedisCluster> {
        static CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
        let mut slot = CLUSTER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cluster) = slot.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(RedisCluster::start());
        *slot = Arc::downgrade(&cluster);
        cluster
    }

    async fn cluster_store() -> (RedisStore, Arc<RedisCluster>) {
        let cluster = shared_cluster();
        let config = RedisConfig {
            key_prefix: redis_harness::unique_prefix(),
            ..RedisConfig::new(cluster.url())
        };
        let store = RedisStore::connect(config)
            .await
            .expect("connect to the test cluster");
        (store, cluster)
    }

    async fn cluster_broadcasts() -> (
        RedisStore,
        orchestrator_store_redis::broadcast::RedisBroadcasts,
        Arc<RedisCluster>,
    ) {
        let (store, cluster) = cluster_store().await;
        let broadcasts = orchestrator_store_redis::broadcast::RedisBroadcasts::new(
            store.connection().clone(),
            b"contract secret",
        )
        .unwrap();
        (store, broadcasts, cluster)
    }

    orchestrator_store_contract::stream_store_contract!(cluster_store().await);
    orchestrator_store_contract::participant_store_contract!(cluster_store().await);
    orchestrator_store_contract::broadcast_store_contract!(cluster_broadcasts().await);
}
