//! The orchestrator's public REST API as the harness uses it outside the measured loops:
//! creating streams, pre-filling an audience, reading state back for the correctness checks.
//! Only the documented JSON fields are read, so the harness keeps working across internal
//! rewrites of the service.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::httpc::{Client, Endpoint, Req};
use crate::progress::Progress;

/// Deadline of one set-up request (generous: set-up is not measured).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of one set-up write that fails for a transient reason (5xx, timeout).
const SETUP_ATTEMPTS: u32 = 20;

/// The fields of a stream (`POST /streams`, `GET /streams/:id`) the harness reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamDoc {
    /// Stream id.
    pub id: String,
    /// Status.
    pub status: String,
    /// Its LiveKit room.
    #[serde(default)]
    pub room_name: String,
}

/// The outputs a set-up stream declares when asked to (`--with-outputs`, broadcast-golive):
/// HLS and a restream to another platform, both starting when the stream goes live.
pub const DECLARED_OUTPUTS: [&str; 2] = ["hls", "restream"];

/// The fields of an output (`GET /streams/:id/outputs`) the harness reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDoc {
    /// Its name within the stream.
    pub id: String,
    /// `idle`, `starting`, `active`, `ending`, `complete` or `failed`.
    pub observed: String,
    /// LiveKit's egress id, once started.
    #[serde(default)]
    pub egress_id: Option<String>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub failure: Option<String>,
}

/// The fields of an ingest (`POST /streams/:id/ingest`) the harness reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestDoc {
    stream_key: String,
    #[serde(default)]
    stream_key_redacted: bool,
}

/// The fields of `GET /streams/:id/state` the harness reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Status.
    pub status: String,
    /// Participants present.
    pub active_participants: u64,
    /// Latest event's seq.
    pub seq: u64,
    /// Operator metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// `/streams/<id>`.
pub fn stream_path(id: &str) -> String {
    format!("/streams/{id}")
}

/// `POST /streams/<id>/join` for `identity` (a viewer).
pub fn join_req(id: &str, identity: &str) -> Req {
    Req::json(
        Method::POST,
        format!("/streams/{id}/join"),
        &json!({ "participantName": identity }),
    )
}

/// `POST /streams/<id>/leave` for `identity`.
pub fn leave_req(id: &str, identity: &str) -> Req {
    Req::json(
        Method::POST,
        format!("/streams/{id}/leave"),
        &json!({ "participantName": identity }),
    )
}

/// `POST /streams` with no body fields (room `room-<id>`).
pub fn create_req() -> Req {
    Req::json(Method::POST, "/streams", &json!({}))
}

/// `POST /streams` declaring [`DECLARED_OUTPUTS`]: `hls`, and `restream` to an RTMP target,
/// both `autoStart`.
pub fn create_with_outputs_req() -> Req {
    let [hls, restream] = DECLARED_OUTPUTS;
    Req::json(
        Method::POST,
        "/streams",
        &json!({ "outputs": [
            { "id": hls, "type": "hls", "autoStart": true },
            {
                "id": restream,
                "type": "rtmp",
                "targets": ["rtmp://live.example.com/app/benchmark-key"],
                "autoStart": true
            }
        ]}),
    )
}

/// `POST /emulator/ingest` on the LiveKit emulator: the encoder holding `stream_key` starts
/// publishing.
pub fn encoder_publish_req(stream_key: &str) -> Req {
    Req::json(
        Method::POST,
        "/emulator/ingest",
        &json!({ "streamKey": stream_key }),
    )
}

/// `PATCH /streams/<id>` merging `metadata`.
pub fn patch_req(id: &str, metadata: Value) -> Req {
    Req::json(
        Method::PATCH,
        stream_path(id),
        &json!({ "metadata": metadata }),
    )
}

/// A set-up client.
pub fn setup_client(endpoint: &Endpoint) -> Client {
    Client::new(endpoint.clone(), SETUP_TIMEOUT)
}

/// Sends a set-up write until it is answered 2xx, retrying 5xx and lost answers (the writes
/// used here are idempotent: a join of a present participant changes nothing).
///
/// # Errors
/// A 4xx answer, or still failing after [`SETUP_ATTEMPTS`].
pub async fn write_with_retries(client: &mut Client, req: &Req) -> anyhow::Result<Value> {
    let mut last = String::new();
    for attempt in 0..SETUP_ATTEMPTS {
        match client.send(req).await {
            Ok(reply) if reply.is_success() => {
                return Ok(serde_json::from_slice(&reply.body).unwrap_or(Value::Null));
            }
            Ok(reply) if reply.status < 500 => {
                return Err(anyhow!(
                    "{} {}: status {}: {}",
                    req.method,
                    req.path,
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
            Ok(reply) => last = format!("status {}", reply.status),
            Err(failure) => last = failure.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
    }
    Err(anyhow!(
        "{} {}: still failing after {SETUP_ATTEMPTS} attempts ({last})",
        req.method,
        req.path
    ))
}

/// Runs `job(client, i)` for every `i` in `0..count` on `workers` connections.
///
/// # Errors
/// The first job's error.
pub async fn parallel<T, F, Fut>(
    endpoint: &Endpoint,
    count: u64,
    workers: usize,
    label: &str,
    job: F,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Client, anyhow::Result<T>)> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let job = Arc::new(job);
    let progress = Progress::start(label.to_owned(), "done", None);
    let mut tasks = Vec::new();
    for _ in 0..workers.clamp(1, count.max(1) as usize) {
        let (next, job, counters) = (Arc::clone(&next), Arc::clone(&job), progress.counters());
        let mut client = setup_client(endpoint);
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(results);
                }
                let (returned, result) = job(client, i).await;
                client = returned;
                results.push((i, result?));
                counters.ok();
            }
        }));
    }
    let mut all = Vec::with_capacity(count as usize);
    for task in tasks {
        all.extend(task.await.map_err(|err| anyhow!("{label}: {err}"))??);
    }
    progress.finish();
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, value)| value).collect())
}

/// Creates `count` streams; returns their ids.
///
/// # Errors
/// When a create still fails after retries.
pub async fn create_streams(
    endpoint: &Endpoint,
    count: u64,
    workers: usize,
) -> anyhow::Result<Vec<String>> {
    let docs = create_stream_docs(endpoint, count, workers, false).await?;
    Ok(docs.into_iter().map(|doc| doc.id).collect())
}

/// Creates `count` streams, each declaring [`DECLARED_OUTPUTS`] when `with_outputs`.
///
/// # Errors
/// When a create still fails after retries.
pub async fn create_stream_docs(
    endpoint: &Endpoint,
    count: u64,
    workers: usize,
    with_outputs: bool,
) -> anyhow::Result<Vec<StreamDoc>> {
    let req = Arc::new(if with_outputs {
        create_with_outputs_req()
    } else {
        create_req()
    });
    parallel(
        endpoint,
        count,
        workers,
        "create streams",
        move |mut client, _| {
            let req = Arc::clone(&req);
            async move {
                let result = create_one(&mut client, &req).await;
                (client, result)
            }
        },
    )
    .await
}

async fn create_one(client: &mut Client, req: &Req) -> anyhow::Result<StreamDoc> {
    let created = write_with_retries(client, req).await?;
    Ok(serde_json::from_value(created)?)
}

/// Gives each of `ids` an RTMP ingest; returns their stream keys, in order.
///
/// # Errors
/// When a create fails (a retry after a lost answer is refused `ingest_exists`), or a key
/// comes back redacted.
pub async fn create_ingests(
    endpoint: &Endpoint,
    ids: &[String],
    workers: usize,
) -> anyhow::Result<Vec<String>> {
    let ids = Arc::new(ids.to_vec());
    parallel(
        endpoint,
        ids.len() as u64,
        workers,
        "create ingests",
        move |mut client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let req = Req::json(
                    Method::POST,
                    format!("/streams/{}/ingest", ids[i as usize]),
                    &json!({ "type": "rtmp" }),
                );
                let result = write_with_retries(&mut client, &req)
                    .await
                    .and_then(|created| Ok(serde_json::from_value::<IngestDoc>(created)?))
                    .and_then(|ingest| match ingest.stream_key_redacted {
                        false => Ok(ingest.stream_key),
                        true => Err(anyhow!("the ingest's stream key came back redacted")),
                    });
                (client, result)
            }
        },
    )
    .await
}

/// The outputs of each of `ids`, in order.
///
/// # Errors
/// When a read fails.
pub async fn outputs(
    endpoint: &Endpoint,
    ids: &[String],
    workers: usize,
) -> anyhow::Result<Vec<Vec<OutputDoc>>> {
    let ids = Arc::new(ids.to_vec());
    parallel(
        endpoint,
        ids.len() as u64,
        workers,
        "read outputs",
        move |mut client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let req = Req::get(format!("/streams/{}/outputs", ids[i as usize]));
                let result = client.json(&req).await;
                (client, result)
            }
        },
    )
    .await
}

/// How many egresses the LiveKit emulator at `emulator` started for each of `rooms`
/// (`GET /emulator/egress/starts`), in order.
///
/// # Errors
/// When a read fails.
pub async fn egress_starts(
    emulator: &Endpoint,
    rooms: &[String],
    workers: usize,
) -> anyhow::Result<Vec<u64>> {
    #[derive(Deserialize)]
    struct Starts {
        starts: u64,
    }
    let rooms = Arc::new(rooms.to_vec());
    parallel(
        emulator,
        rooms.len() as u64,
        workers,
        "count egress starts",
        move |mut client, i| {
            let rooms = Arc::clone(&rooms);
            async move {
                let path = format!("/emulator/egress/starts?room={}", rooms[i as usize]);
                let result = client.json::<Starts>(&Req::get(path)).await;
                (client, result.map(|s| s.starts))
            }
        },
    )
    .await
}

/// What pre-filling the audience cost.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Prefill {
    /// Participants joined (per stream × streams).
    pub joins: u64,
    /// Time it took.
    pub seconds: f64,
    /// Joins per second.
    pub rate: f64,
}

/// Joins `audience` viewers (`aud-0`, `aud-1`, …) into each of `streams` before the clock starts.
///
/// # Errors
/// When a join still fails after retries.
pub async fn prefill(
    endpoint: &Endpoint,
    streams: &[String],
    audience: u64,
    workers: usize,
) -> anyhow::Result<Option<Prefill>> {
    if audience == 0 || streams.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let ids = Arc::new(streams.to_vec());
    let joins = audience * streams.len() as u64;
    parallel(
        endpoint,
        joins,
        workers,
        "prefill audience",
        move |mut client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let stream = &ids[(i % ids.len() as u64) as usize];
                let identity = format!("aud-{}", i / ids.len() as u64);
                let result = write_with_retries(&mut client, &join_req(stream, &identity)).await;
                (client, result.map(drop))
            }
        },
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Some(Prefill {
        joins,
        seconds,
        rate: joins as f64 / seconds.max(1e-9),
    }))
}

/// `GET /streams/<id>/state`.
///
/// # Errors
/// When the read fails or is not 2xx.
pub async fn state(client: &mut Client, id: &str) -> anyhow::Result<State> {
    client.json(&Req::get(format!("/streams/{id}/state"))).await
}

/// The states of `ids`, read on `workers` connections.
///
/// # Errors
/// When a read fails.
pub async fn states(
    endpoint: &Endpoint,
    ids: &[String],
    workers: usize,
) -> anyhow::Result<Vec<State>> {
    let ids = Arc::new(ids.to_vec());
    parallel(
        endpoint,
        ids.len() as u64,
        workers,
        "read back",
        move |mut client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let result = state(&mut client, &ids[i as usize]).await;
                (client, result)
            }
        },
    )
    .await
}
