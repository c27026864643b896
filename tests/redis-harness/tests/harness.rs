//! The harness against a real `redis-server`: owned servers, kill/restart, the shared-or-owned
//! choice and a three-master cluster.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use redis_harness::{
    owned_persistent_server, owned_server, redis_cli, shared_or_owned, shared_or_owned_from,
    unique_prefix, RedisCluster,
};

/// PING over a raw socket, independent of the harness' own client.
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(1));
    if stream.set_read_timeout(timeout).is_err()
        || stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err()
    {
        return false;
    }
    let mut reply = [0; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

fn refuses_connections(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err()
}

fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn owned_server_answers_ping_on_its_url() {
    let server = owned_server();
    assert!(server.is_owned());
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert!(answers_ping(server.port()));
    assert!(server.ping());
}

#[test]
fn kill_refuses_connections_and_restart_answers_again_on_the_same_port() {
    let mut server = owned_server();
    let port = server.port();
    redis_cli(port, &["SET", "k", "v"]);

    server.kill();
    assert!(refuses_connections(port));
    assert!(!server.ping());

    server.restart();
    assert_eq!(server.port(), port);
    assert!(answers_ping(port));
    // Persistence is off, so a crash loses the data, as the store tests expect.
    assert_eq!(redis_cli(port, &["EXISTS", "k"]).trim(), "0");

    // A second cycle works too, and restart of a running server replaces it.
    server.restart();
    assert!(answers_ping(port));
    server.kill();
    server.restart();
    assert!(answers_ping(port));
}

#[test]
fn a_persistent_server_keeps_acknowledged_writes_across_a_crash_unless_restarted_empty() {
    let mut server = owned_persistent_server();
    let port = server.port();
    redis_cli(port, &["SET", "k", "v"]);

    server.kill();
    server.restart();
    let kept = redis_cli(port, &["GET", "k"]);

    server.restart_empty();
    let after_loss = redis_cli(port, &["EXISTS", "k"]);

    assert_eq!(kept.trim(), "v", "appendonly replayed the write");
    assert_eq!(
        after_loss.trim(),
        "0",
        "restart_empty came back without data"
    );
    assert_eq!(server.port(), port);
}

#[test]
fn dropping_an_owned_server_stops_it() {
    let server = owned_server();
    let port = server.port();
    assert!(answers_ping(port));
    drop(server);
    assert!(eventually(Duration::from_secs(10), || refuses_connections(
        port
    )));
}

#[test]
fn shared_or_owned_reuses_a_redis_url_that_answers() {
    let owner = owned_server();
    let shared = shared_or_owned_from(Some(owner.url()));
    assert!(!shared.is_owned());
    assert_eq!(shared.url(), owner.url());
    assert_eq!(shared.port(), owner.port());
    assert!(shared.ping());
    // Dropping the shared handle must leave the real server alone.
    drop(shared);
    assert!(answers_ping(owner.port()));
}

#[test]
fn shared_or_owned_starts_its_own_when_the_url_does_not_answer() {
    let closed_port = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{closed_port}");
    let server = shared_or_owned_from(Some(&url));
    assert!(server.is_owned());
    assert!(answers_ping(server.port()));
}

#[test]
fn shared_or_owned_without_redis_url_starts_its_own() {
    let server = shared_or_owned_from(None);
    assert!(server.is_owned());
    assert!(answers_ping(server.port()));
    let server = shared_or_owned_from(Some(""));
    assert!(server.is_owned());
}

#[test]
fn shared_or_owned_from_the_environment_answers_ping() {
    let server = shared_or_owned();
    assert!(server.ping());
}

#[test]
#[should_panic(expected = "cannot kill the shared Redis")]
fn killing_a_shared_server_panics() {
    let owner = owned_server();
    let mut shared = shared_or_owned_from(Some(owner.url()));
    shared.kill();
}

#[test]
fn unique_prefixes_are_distinct() {
    let prefixes: HashSet<String> = (0..1000).map(|_| unique_prefix()).collect();
    assert_eq!(prefixes.len(), 1000);
    assert!(prefixes
        .iter()
        .all(|prefix| prefix.starts_with("t-") && prefix.ends_with(':')));
}

#[test]
fn cluster_of_three_masters_covers_every_slot() {
    let cluster = RedisCluster::start();
    let ports = cluster.ports();
    assert_eq!(ports.len(), 3);
    assert_eq!(
        cluster.node_urls(),
        ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
    );
    for port in ports {
        assert!(answers_ping(port), "node {port} does not answer PING");
        let info = redis_cli(port, &["cluster", "info"]);
        assert!(info.contains("cluster_state:ok"), "node {port}: {info}");
        assert!(
            info.contains("cluster_slots_ok:16384"),
            "node {port}: {info}"
        );
        assert!(
            info.contains("cluster_known_nodes:3"),
            "node {port}: {info}"
        );
    }
}

#[test]
fn dropping_a_cluster_stops_every_node() {
    let cluster = RedisCluster::start();
    let ports = cluster.ports();
    drop(cluster);
    for port in ports {
        assert!(eventually(Duration::from_secs(10), || refuses_connections(
            port
        )));
    }
}
