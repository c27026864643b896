//! The orchestrator's public REST API as the harness uses it: the requests of the measured
//! loops (built here, sent by [`crate::httpc`]'s lean client, so what is measured is the
//! service and not a client library), and everything outside them — creating streams,
//! pre-filling an audience, reading state back for the correctness checks — through the
//! project's typed client, `orchestrator-client`, with its idempotency keys and retries. Only
//! the documented JSON fields are read, so the harness keeps working across internal rewrites
//! of the service.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hyper::Method;
use orchestrator_client::{
    Call, Client, ClientError, CreateStream, Join, NewIngest, NewOutput, Output, RetryPolicy,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::httpc::{self, Endpoint, Req};
use crate::progress::Progress;

/// Deadline of one set-up request (generous: set-up is not measured).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of one set-up call that fails for a transient reason (503, 429, refused, or an
/// answer lost to the deadline).
const SETUP_ATTEMPTS: u32 = 20;

/// The fields of a stream (`POST /streams`) the measured loops read.
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
#[derive(Debug, Clone)]
pub struct OutputDoc {
    /// Its name within the stream.
    pub id: String,
    /// `idle`, `starting`, `active`, `ending`, `complete` or `failed`.
    pub observed: String,
    /// LiveKit's egress id, once started.
    pub egress_id: Option<String>,
    /// Why the last attempt failed.
    pub failure: Option<String>,
}

impl From<Output> for OutputDoc {
    fn from(output: Output) -> Self {
        let observed = serde_json::to_value(output.observed)
            .ok()
            .and_then(|state| state.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            id: output.id,
            observed,
            egress_id: output.egress_id,
            failure: output.failure,
        }
    }
}

/// `GET /streams/:id/state`, as the read-back checks use it.
pub type State = orchestrator_client::StreamState;

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

/// The set-up client of `endpoint`: the typed client, retrying what is transient.
///
/// # Errors
/// When the endpoint does not make a URL.
pub fn setup_client(endpoint: &Endpoint) -> anyhow::Result<orchestrator_client::Client> {
    Ok(orchestrator_client::Client::builder(&endpoint.http_url())
        .timeout(SETUP_TIMEOUT)
        .retry(RetryPolicy {
            max_attempts: SETUP_ATTEMPTS,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(120),
        })
        .build()?)
}

/// Sends a set-up write until it is answered: the client retries 503, 429 and refused
/// connections itself; an answer lost to the deadline is asked again with the same
/// idempotency key, so the write still happens once.
///
/// # Errors
/// A refusal, or still no answer after `SETUP_ATTEMPTS`.
pub async fn settle<T: Send + 'static>(call: impl Fn() -> Call<T>) -> anyhow::Result<T> {
    let key = orchestrator_client::new_idempotency_key();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().idempotency_key(key.as_str()).await {
            Err(ClientError::Timeout(_)) if attempt < SETUP_ATTEMPTS => {}
            result => return Ok(result?),
        }
    }
}

/// Runs `job(client, i)` for every `i` in `0..count`, `workers` at a time, on one set-up
/// client (its pool holds the connections).
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
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let client = setup_client(endpoint)?;
    let next = Arc::new(AtomicU64::new(0));
    let job = Arc::new(job);
    let progress = Progress::start(label.to_owned(), "done", None);
    let mut tasks = Vec::new();
    for _ in 0..workers.clamp(1, count.max(1) as usize) {
        let (next, job, counters) = (Arc::clone(&next), Arc::clone(&job), progress.counters());
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(results);
                }
                results.push((i, job(client.clone(), i).await?));
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

/// What [`create_stream_docs`] asks for: no fields, or [`DECLARED_OUTPUTS`] (`hls`, and
/// `restream` to an RTMP target, both `autoStart`).
fn new_stream(with_outputs: bool) -> CreateStream {
    let [hls, restream] = DECLARED_OUTPUTS;
    CreateStream {
        outputs: match with_outputs {
            false => Vec::new(),
            true => vec![
                NewOutput::hls().named(hls).auto_start(),
                NewOutput::rtmp(["rtmp://live.example.com/app/benchmark-key"])
                    .named(restream)
                    .auto_start(),
            ],
        },
        ..CreateStream::default()
    }
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
    let request = Arc::new(new_stream(with_outputs));
    parallel(
        endpoint,
        count,
        workers,
        "create streams",
        move |client, _| {
            let request = Arc::clone(&request);
            async move {
                let created = settle(|| client.create_stream(&request)).await?;
                Ok(StreamDoc {
                    id: created.id,
                    status: created.status.to_string(),
                    room_name: created.room_name,
                })
            }
        },
    )
    .await
}

/// Gives each of `ids` an RTMP ingest; returns their stream keys, in order.
///
/// # Errors
/// When a create fails (a retry after a lost answer is replayed by its idempotency key), or
/// a key comes back redacted.
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
        move |client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let id = &ids[i as usize];
                let ingest = settle(|| client.create_ingest(id, &NewIngest::rtmp())).await?;
                match ingest.stream_key_redacted {
                    false => Ok(ingest.stream_key),
                    true => Err(anyhow!("the ingest's stream key came back redacted")),
                }
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
        move |client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let outputs = client.outputs(&ids[i as usize]).await?;
                Ok(outputs.into_iter().map(OutputDoc::from).collect())
            }
        },
    )
    .await
}

/// How many egresses the LiveKit emulator at `emulator` started for each of `rooms`
/// (`GET /emulator/egress/starts`), in order: the emulator's own route, so the harness's
/// lean client asks it, one room after another on one connection.
///
/// # Errors
/// When a read fails.
pub async fn egress_starts(emulator: &Endpoint, rooms: &[String]) -> anyhow::Result<Vec<u64>> {
    #[derive(Deserialize)]
    struct Starts {
        starts: u64,
    }
    let mut client = httpc::Client::new(emulator.clone(), SETUP_TIMEOUT);
    let progress = Progress::start("count egress starts".to_owned(), "done", None);
    let counters = progress.counters();
    let mut all = Vec::with_capacity(rooms.len());
    for room in rooms {
        let path = format!("/emulator/egress/starts?room={room}");
        all.push(client.json::<Starts>(&Req::get(path)).await?.starts);
        counters.ok();
    }
    progress.finish();
    Ok(all)
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
        move |client, i| {
            let ids = Arc::clone(&ids);
            async move {
                let stream = &ids[(i % ids.len() as u64) as usize];
                let viewer = Join::viewer(format!("aud-{}", i / ids.len() as u64));
                settle(|| client.join(stream, &viewer)).await.map(drop)
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

/// The states of `ids` (`GET /streams/<id>/state`), read `workers` at a time.
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
        move |client, i| {
            let ids = Arc::clone(&ids);
            async move { Ok(client.stream_state(&ids[i as usize]).await?) }
        },
    )
    .await
}
