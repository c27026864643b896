//! A three-master Redis Cluster started by the harness.

use crate::node::{loopback_url, start_node, wait_until, Node, NodeKind, Persistence, StartError};
use crate::process::{run_bounded, RunError};
use crate::resp::cluster_info;
use crate::{
    CLUSTER_CREATE_TIMEOUT, CLUSTER_MASTERS, CLUSTER_OK_TIMEOUT, CLUSTER_SLOTS, LOOPBACK, REDIS_CLI,
};

/// A Redis Cluster of three masters (no replicas) started by the harness on free ports, each node
/// in its own temp dir, slots assigned by `redis-cli --cluster create`. Dropping it kills all
/// nodes and removes the dirs.
#[derive(Debug)]
pub struct RedisCluster {
    pub(crate) nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` nodes, joins them with
    /// `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, then waits (bounded
    /// 20 s) until every node reports `cluster_state:ok` with all 16384 slots covered.
    ///
    /// Panics with a clear message (including log tails) if `redis-server`/`redis-cli` are
    /// missing or creation fails; nodes started so far are killed.
    pub fn start() -> RedisCluster {
        let mut nodes = Vec::with_capacity(CLUSTER_MASTERS);
        for _ in 0..CLUSTER_MASTERS {
            match start_node(NodeKind::Cluster, Persistence::None) {
                Ok(node) => nodes.push(node),
                Err(StartError::NotInstalled(program)) => panic!(
                    "redis-harness: `{program}` is not on PATH: install redis-server and \
                     redis-cli (Redis 7, e.g. `apt-get install redis-server`) to run the \
                     Redis Cluster tests"
                ),
                Err(error) => panic!("redis-harness: starting a cluster node failed: {error}"),
            }
        }
        let cluster = RedisCluster { nodes };
        cluster.create();
        cluster.wait_until_ok();
        cluster
    }

    /// `["redis://127.0.0.1:P1", "redis://127.0.0.1:P2", "redis://127.0.0.1:P3"]`.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| loopback_url(node.port))
            .collect()
    }

    /// `redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&node=127.0.0.1:P3`: the URL fred and
    /// the orchestrator's `REDIS_URL` take for a cluster.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("{LOOPBACK}:{}", node.port))
            .collect();
        let others: Vec<String> = hosts[1..].iter().map(|h| format!("node={h}")).collect();
        format!("redis-cluster://{}?{}", hosts[0], others.join("&"))
    }

    /// The nodes' client ports (their cluster bus ports are these plus 10000).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    pub(crate) fn create(&self) {
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(
            self.nodes
                .iter()
                .map(|node| format!("{LOOPBACK}:{}", node.port)),
        );
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let failure = match run_bounded(REDIS_CLI, &args, CLUSTER_CREATE_TIMEOUT) {
            Ok(output) if output.status.success() => return,
            Ok(output) => format!(
                "`redis-cli {}` exited with {}:\n{}",
                args.join(" "),
                output.status,
                output.text()
            ),
            Err(RunError::NotInstalled) => panic!(
                "redis-harness: `{REDIS_CLI}` is not on PATH: install redis-cli (Redis 7, e.g. \
                 `apt-get install redis-server`) to run the Redis Cluster tests"
            ),
            Err(error) => format!("`redis-cli {}`: {error}", args.join(" ")),
        };
        panic!(
            "redis-harness: creating the Redis Cluster failed: {failure}\n{}",
            self.log_tails()
        );
    }

    pub(crate) fn wait_until_ok(&self) {
        let ok = wait_until(CLUSTER_OK_TIMEOUT, || {
            self.nodes.iter().all(|node| {
                cluster_info(node.port).is_some_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains(&format!("cluster_slots_ok:{CLUSTER_SLOTS}"))
                        && info.contains(&format!("cluster_known_nodes:{CLUSTER_MASTERS}"))
                })
            })
        });
        if !ok {
            let infos: Vec<String> = self
                .nodes
                .iter()
                .map(|node| {
                    let info = cluster_info(node.port).unwrap_or_else(|| "<no answer>".into());
                    format!("CLUSTER INFO of port {}:\n{info}", node.port)
                })
                .collect();
            panic!(
                "redis-harness: the Redis Cluster did not reach cluster_state:ok on every node \
                 within {CLUSTER_OK_TIMEOUT:?}\n{}\n{}",
                infos.join("\n"),
                self.log_tails()
            );
        }
    }

    pub(crate) fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|node| {
                format!(
                    "log tail of node on port {}:\n{}",
                    node.port,
                    node.log_tail()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
