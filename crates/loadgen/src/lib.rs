//! Benchmark harness of the livestream orchestrator: a black-box client that speaks the public
//! HTTP, WebSocket and gRPC contracts only (of our crates it depends only on
//! `orchestrator-client`, the published client of those contracts), starts the servers it
//! needs, measures, checks that the service holds what it acknowledged, and draws charts.
//! Speed targets live here and in BENCHMARKS.md, never in timed tests.
//!
//! What is measured goes through lean clients of the harness's own ([`httpc`]: one HTTP/1.1
//! connection per load connection, no pool, no retries, no idempotency keys; [`wsclient`]
//! and [`grpc`]: one subscription per subscriber with its own seq accounting), so the numbers
//! are the service's and not a client library's. Everything around the measurement — creating
//! streams, pre-filling audiences, reading states back for the checks — goes through
//! `orchestrator-client` ([`api`]), with its idempotency keys and retries; the gRPC
//! subscribers use its generated `proto` client.
//!
//! # Usage
//!
//! ```text
//! cargo build --release -p orchestrator -p orchestrator-loadgen
//! target/release/loadgen run http-get --backend redis -c 64 -d 8s
//! target/release/loadgen run http-join-hot --audience 2000 --json results.jsonl
//! target/release/loadgen run ws-fanout --streams 1 --subscribers 5000 --event-rate 20
//! target/release/loadgen run cross-instance --backend redis --subscribers 1000
//! target/release/loadgen run broadcast-golive --streams 1000 --egress-starts-per-sec 200
//! target/release/loadgen run http-get --with-outputs          # streams with two idle outputs
//! target/release/loadgen smoke --orchestrator target/debug/orchestrator
//! target/release/loadgen sweep --backend redis --out docs/benchmarks
//! target/release/loadgen serve --backend redis --streams 1   # then point wrk at it
//! ```
//!
//! By default each scenario starts a private `redis-server` on a free loopback port
//! (`--save "" --appendonly no`; `--backend redis`) and a fresh `orchestrator` (`--orchestrator`,
//! default `target/release/orchestrator`, embedded LiveKit emulator, `APP_ENV=benchmark`: JSON
//! logs at info, no operator keys, rate and connection limits off),
//! waits for `GET /health/ready`, and kills both at the end, on error and on Ctrl-C. A broadcast
//! scenario also starts a standalone `livekit-emulator` (`--emulator`, default beside
//! `--orchestrator`; its ingress and egress caps raised to the scenario's size) and points the
//! orchestrator at it (`LIVEKIT_URL`, `APP__BROADCAST__EGRESS_STARTS_PER_SEC` =
//! `--egress-starts-per-sec`): the harness plays the encoders through its simulation routes.
//! With `--url` (and `--grpc-url`, `--url-b` for cross-instance, `--emulator-url` for
//! broadcast) it targets running servers and starts nothing.
//!
//! # Scenarios
//!
//! | scenario | what each connection does (closed loop) | checked afterwards |
//! |---|---|---|
//! | `http-get` | `GET /streams/:id`, round robin over `--streams` | reads changed nothing |
//! | `http-state` | `GET /streams/:id/state` | reads changed nothing |
//! | `http-create` | `POST /streams` | every 2xx create is readable and active |
//! | `http-join-spread` | joins of unique identities over `--streams` | per stream `activeParticipants` = audience + 2xx joins |
//! | `http-join-hot` | joins of unique identities, all on ONE stream | the same, on the one stream |
//! | `http-mixed` | 35% get, 20% state, 15% join, 10% leave, 10% PATCH, 5% create, 5% stop | per stream: participants, metadata and status = what was acknowledged |
//! | `ws-fanout` | `--subscribers` WebSocket subscriptions per stream; PATCH events at `--event-rate` | every event delivered once, in order; final seq = start + 2xx PATCHes |
//! | `grpc-fanout` | the same with gRPC `Subscribe` (`--grpc-streams-per-connection` per HTTP/2 connection) | the same |
//! | `cross-instance` | two instances on one Redis; PATCH on A, subscribers split over A and B | the same, and B's latency beside A's |
//! | `broadcast-golive` | `--streams` (1,000) with two auto-start outputs and an ingest each; every encoder starts within `--go-live-within`; until every output is active (WebSocket events) | every output active, none failed, one egress per output (events, `GET …/outputs`, the emulator's count per room), starts no faster than the pace, no error |
//!
//! `--audience N` joins N viewers into each stream before the clock starts; `--with-outputs`
//! makes every set-up stream declare two auto-start outputs (hls, rtmp), which stay idle (the
//! reads and joins then also check that they are still there). An operation that
//! got no answer (5xx, timeout) may or may not have happened; the checks allow either for it.
//!
//! # Output
//!
//! A table on stdout, then one JSON line (also appended to `--json FILE`):
//!
//! - `scenario`, `backend`, `started_at`, `connections`, `duration_s`, `elapsed_s`, `streams`,
//!   `audience`;
//! - `requests` (answered), `ok` (2xx), `throughput_rps` (2xx per second), `latency_ms`
//!   (`count`, `mean`, `p50`, `p90`, `p99`, `p999`, `max`; HDR histogram of every answered
//!   request; for fan-out, of the publishing PATCHes);
//! - `errors` (`total`, `by_kind`: `status_<code>_<error code>`, `timeout`, `connect`, `io`,
//!   `ws_…`, `grpc_…`);
//! - `prefill` (`joins`, `seconds`, `rate`) when `--audience` > 0;
//! - `servers[]` (per started orchestrator: `start_to_ready_ms`, `idle_rss_kb`, `peak_rss_kb`
//!   = VmHWM, `cpu_s` = utime + stime during the window, `cpu_cores`), `redis` (`peak_rss_kb`,
//!   `cpu_s`), `harness` (`peak_rss_kb`, `cpu_s` of loadgen itself: it shares the machine);
//! - `fanout` (`transport`, `subscribers`, `connected`, `events`, `events_per_s`,
//!   `deliveries`, `deliveries_per_s`, `seq` {`expected`, `received`, `lost`, `duplicated`,
//!   `out_of_order`}, `delivery_ms`, `first_subscriber_ms`, `last_subscriber_ms` (event
//!   timestamp → arrival), `first_subscriber_curve`, `last_subscriber_curve` ((percentile,
//!   ms) pairs), `rss_per_subscriber_bytes`, `cross` {`local_last_ms`,
//!   `remote_last_ms`, `added_p99_ms`});
//! - `reference` (`redis_benchmark_get_rps`, `ratio`): http-get on Redis, measured in the
//!   same run at the same concurrency;
//! - `outputs_per_stream` when streams declared outputs; `emulator` (`peak_rss_kb`, `cpu_s`)
//!   when the harness started one;
//! - `broadcast` (`outputs`, `active`, `failed`, `go_live_s`, `all_active_s` (first encoder →
//!   last output active), `to_live_ms` (encoder → ingest publishing), `to_active_ms` (encoder →
//!   each output active), `egress_starts_per_sec` (the pace asked), `starts_recorded`,
//!   `starts_per_s` (reached), `max_starts_in_1s`, `emulator_starts`, `rooms_not_once`);
//!   there `requests`, `ok` and `latency_ms` are the encoders' calls to the emulator and
//!   `throughput_rps` their rate;
//! - `correctness` (`checked`, `violations`). A violation makes the process exit 1.
//!
//! # Layout
//!
//! - [`cli`]: arguments and the resolved [`cli::Plan`]; [`commands`]: run, smoke, serve;
//!   [`sweep`] and [`charts`]: series of runs drawn as SVG.
//! - [`servers`]: the system under test (started or named); [`procstat`]: RSS and CPU from
//!   `/proc`.
//! - [`httpc`]: the keep-alive HTTP/1.1 client; [`load`]: the closed loop; [`api`]: the
//!   loops' requests, and set-up and read-back through `orchestrator-client`.
//! - [`scenarios`]: the scenarios and their correctness checks (`scenarios::golive`: the
//!   broadcast scenario's WebSocket followers).
//! - [`subscriber`], [`ws`] (over [`wsclient`]), [`grpc`]: fan-out subscribers; [`seq`]: lost / duplicated /
//!   out-of-order accounting and first/last-subscriber latency.
//! - [`stats`]: histograms and error tallies; [`report`]: the JSON line and the table;
//!   [`progress`]: the progress line on stderr.

pub mod api;
pub mod charts;
pub mod cli;
pub mod commands;
pub mod grpc;
pub mod httpc;
pub mod load;
pub mod procstat;
pub mod progress;
pub mod report;
pub mod scenarios;
pub mod seq;
pub mod servers;
pub mod stats;
pub mod subscriber;
pub mod sweep;
pub mod ws;
pub mod wsclient;
