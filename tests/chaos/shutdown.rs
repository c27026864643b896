//! SIGTERM under load: requests in flight are finished (none is cut mid-response), WebSocket
//! subscribers get a close frame telling them to reconnect elsewhere, gRPC subscribers a
//! status saying where to resume, and the process exits within its configured grace period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use orchestrator_grpc::proto::SubscribeRequest;
use orchestrator_tests::process::{Orchestrator, Signal};
use orchestrator_tests::GrpcClient;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{client, create_stream};

const GRACE_SECS: u64 = 5;

/// How one request ended.
#[derive(Debug, Default)]
struct Requests {
    /// A whole answer (status line, headers and a body that parses).
    complete: usize,
    /// Refused before any answer began (the listener was closed).
    refused: usize,
    /// An answer that began and was cut off.
    cut: Vec<String>,
}

async fn load(
    client: reqwest::Client,
    base: String,
    id: String,
    stop: Arc<AtomicBool>,
) -> Requests {
    let mut tally = Requests::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let request = if n % 2 == 0 {
            client
                .patch(format!("{base}/streams/{id}"))
                .json(&json!({"metadata": {"n": n}}))
        } else {
            client
                .post(format!("{base}/streams"))
                .json(&json!({"metadata": {"n": n}}))
        };
        let Ok(response) = request.send().await else {
            tally.refused += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let status = response.status();
        match response.bytes().await {
            Ok(body) if serde_json::from_slice::<Value>(&body).is_ok() => tally.complete += 1,
            Ok(body) => tally
                .cut
                .push(format!("{status}: {} bytes that are not JSON", body.len())),
            Err(err) => tally.cut.push(format!("{status}: body cut: {err}")),
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_requests_closes_subscribers_with_a_reason_and_exits_in_time() {
    let grace = GRACE_SECS.to_string();
    let mut server = Orchestrator::start(&[("APP__HTTP__SHUTDOWN_TIMEOUT_SECS", grace.as_str())]);
    let client = client();
    let base = server.base();
    let id = create_stream(&client, &base, json!({})).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .unwrap();
        let subscribe = json!({"type": "subscribe", "streamId": id});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        sockets.push(socket);
    }
    let mut grpc_streams = Vec::new();
    for _ in 0..3 {
        let channel = tonic::transport::Endpoint::from_shared(server.grpc_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let request = SubscribeRequest {
            stream_id: id.clone(),
            ..SubscribeRequest::default()
        };
        grpc_streams.push(
            GrpcClient::new(channel)
                .subscribe(request)
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..8)
        .map(|_| tokio::spawn(load(client.clone(), base.clone(), id.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    server.signal(Signal::Term);
    let signalled = Instant::now();
    let watchers: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(close_of(socket)))
        .collect();
    let grpc_watchers: Vec<_> = grpc_streams
        .into_iter()
        .map(|mut events| {
            tokio::spawn(async move {
                loop {
                    match tokio::time::timeout(Duration::from_secs(15), events.message()).await {
                        Ok(Ok(Some(_))) => {}
                        Ok(Ok(None)) => return None,
                        Ok(Err(status)) => return Some(status),
                        Err(_) => return None,
                    }
                }
            })
        })
        .collect();
    let exit =
        tokio::task::block_in_place(|| server.wait_exit(Duration::from_secs(GRACE_SECS + 10)));
    let exited_after = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut requests = Requests::default();
    for loader in loaders {
        let tally = loader.await.unwrap();
        requests.complete += tally.complete;
        requests.refused += tally.refused;
        requests.cut.extend(tally.cut);
    }
    let mut closes = Vec::new();
    for watcher in watchers {
        closes.push(watcher.await.unwrap());
    }
    let mut statuses = Vec::new();
    for watcher in grpc_watchers {
        statuses.push(watcher.await.unwrap());
    }
    eprintln!(
        "shutdown: {} requests completed, {} refused after the listener closed, {} cut; exit \
         {exit:?} after {exited_after:?} (grace {GRACE_SECS} s); WebSocket closes {closes:?}; \
         gRPC {statuses:?}",
        requests.complete,
        requests.refused,
        requests.cut.len()
    );

    assert!(
        requests.cut.is_empty(),
        "answers cut mid-way: {:?}",
        requests.cut
    );
    assert!(
        exit.is_some_and(|status| status.success()),
        "exited 0: {exit:?}"
    );
    assert!(
        exited_after <= Duration::from_secs(GRACE_SECS + 3),
        "exited within the grace period of {GRACE_SECS} s (plus start-up slack): {exited_after:?}"
    );
    for status in &statuses {
        let status = status.as_ref().expect("a gRPC status, not a silent end");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains("resume"), "{status:?}");
    }
    for close in &closes {
        let (code, reason) = close.as_ref().expect(
            "a WebSocket close frame telling the subscriber to reconnect, not a dropped connection",
        );
        assert_eq!(*code, CloseCode::Away, "1001 going away");
        assert!(!reason.is_empty(), "with a reason");
    }
}

/// The close frame a subscriber got (code and reason), or `None` if the connection just ended.
async fn close_of(mut socket: orchestrator_tests::WsClient) -> Option<(CloseCode, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return Some((frame.code, frame.reason.to_string()));
            }
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return None
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}
