//! A gRPC subscriber: `StreamService/Subscribe` from a seq, on an HTTP/2 connection shared with
//! other subscribers (as a backend service would multiplex them), feeding each event to its
//! [`Subscriber`].

use tokio::sync::mpsc;
use tokio::time::timeout;
use tonic::transport::Channel;

use crate::httpc::Endpoint;
use crate::subscriber::{Assignment, Control, Subscriber, CONNECT_TIMEOUT};

/// The messages and client generated from `proto/streams.proto`, as `orchestrator-client`
/// compiles them; the subscriber uses the bare generated client on its own channels, so what
/// is measured is the service.
pub use orchestrator_client::proto;

use proto::stream_service_client::StreamServiceClient;
use proto::SubscribeRequest;

/// A lazily connecting channel to `endpoint` (one per group of subscribers).
///
/// # Errors
/// When the endpoint does not form a valid URI.
pub fn channel(endpoint: &Endpoint) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{}", endpoint.authority))?.connect_lazy())
}

/// Follows `assignment` on `channel`; reports on `ready` whether the subscription was
/// established, then receives until complete or told to give up.
pub async fn follow(
    assignment: Assignment,
    channel: Channel,
    mut control: Control,
    ready: mpsc::UnboundedSender<bool>,
) -> Subscriber {
    let mut subscriber = Subscriber::new(assignment);
    let request = SubscribeRequest {
        stream_id: subscriber.assignment.stream_id.clone(),
        after_seq: Some(subscriber.assignment.after_seq),
        epoch: String::new(),
        audience_interval_ms: None,
    };
    let permit = control.connect_permits.clone().acquire_owned().await.ok();
    let opened = timeout(
        CONNECT_TIMEOUT,
        StreamServiceClient::new(channel).subscribe(request),
    )
    .await;
    drop(permit);
    let mut stream = match opened {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            subscriber.fail(status_kind(status.code()));
            let _ = ready.send(false);
            return subscriber;
        }
        Err(_elapsed) => {
            subscriber.fail("grpc_connect_timeout");
            let _ = ready.send(false);
            return subscriber;
        }
    };
    subscriber.connected = true;
    let _ = ready.send(true);
    let mut signalled = std::pin::pin!(control.signalled());
    let mut until = control.until(&subscriber.assignment);
    while !until.reached(&subscriber) {
        tokio::select! {
            // Messages first: the signal is looked at only when none is waiting.
            biased;
            message = stream.message() => match message {
                Ok(Some(event)) => subscriber.receive_millis(event.seq, event.timestamp),
                Ok(None) => {
                    subscriber.fail("grpc_stream_ended");
                    break;
                }
                Err(status) => {
                    subscriber.fail(status_kind(status.code()));
                    break;
                }
            },
            () = &mut signalled => {
                signalled.set(control.signalled());
                until = control.until(&subscriber.assignment);
            }
        }
    }
    subscriber
}

/// `grpc_ResourceExhausted` and the like.
fn status_kind(code: tonic::Code) -> String {
    format!("grpc_{code:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kinds_name_the_code() {
        assert_eq!(
            status_kind(tonic::Code::ResourceExhausted),
            "grpc_ResourceExhausted"
        );
        assert_eq!(status_kind(tonic::Code::Unavailable), "grpc_Unavailable");
    }
}
