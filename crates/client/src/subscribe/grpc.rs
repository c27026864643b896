//! Subscriptions over gRPC `Subscribe` on the client's shared channel. Without a position, the
//! subscription starts from `GetStreamState`'s seq and epoch, so it has a position to resume
//! from before the first event arrives.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::timeout;
use tonic::{Code, Status, Streaming};

use super::follow::{self, Incoming, Lost, Sequenced, Session};
use super::position::Position;
use crate::proto::{GetStreamStateRequest, StreamEvent, StreamEventType, SubscribeRequest};
use crate::{Client, ClientError};

/// How long opening a subscription may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

impl Sequenced for StreamEvent {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn is_last(&self) -> bool {
        self.event_type == StreamEventType::StreamStopped as i32
    }
}

/// Opens gRPC sessions for one stream.
pub(crate) struct Connector {
    client: Client,
    stream_id: String,
}

impl Connector {
    pub(crate) fn new(client: &Client, stream_id: &str) -> Self {
        Self {
            client: client.clone(),
            stream_id: stream_id.to_owned(),
        }
    }

    async fn connect(&self, from: &Position) -> Result<GrpcSession, Lost> {
        let mut grpc = self.client.grpc().map_err(Lost::Fatal)?;
        let (after_seq, epoch) = match from.last {
            Some(last) => (last, from.epoch.clone()),
            None => {
                let request = GetStreamStateRequest {
                    stream_id: self.stream_id.clone(),
                };
                let state = timeout(OPEN_TIMEOUT, grpc.get_stream_state(request))
                    .await
                    .map_err(|_| Lost::Retry(ClientError::Timeout(OPEN_TIMEOUT)))?
                    .map_err(failure)?
                    .into_inner();
                (state.seq, Some(state.epoch).filter(|e| !e.is_empty()))
            }
        };
        let request = SubscribeRequest {
            stream_id: self.stream_id.clone(),
            after_seq: Some(after_seq),
            epoch: epoch.clone().unwrap_or_default(),
            audience_interval_ms: None,
        };
        let response = match timeout(OPEN_TIMEOUT, grpc.subscribe(request)).await {
            Err(_) => return Err(Lost::Retry(ClientError::Timeout(OPEN_TIMEOUT))),
            Ok(Err(status)) if is_resync(&status) => {
                return Ok(GrpcSession {
                    accepted: Some(resync(&status)),
                    events: None,
                })
            }
            Ok(Err(status)) => return Err(failure(status)),
            Ok(Ok(response)) => response,
        };
        let epoch = response
            .metadata()
            .get("x-epoch")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or(epoch);
        Ok(GrpcSession {
            accepted: Some(Incoming::Subscribed {
                after_seq: Some(after_seq),
                epoch,
            }),
            events: Some(response.into_inner()),
        })
    }
}

impl follow::Connector<StreamEvent> for Connector {
    fn open<'a>(
        &'a self,
        from: &'a Position,
    ) -> BoxFuture<'a, Result<Box<dyn Session<StreamEvent>>, Lost>> {
        Box::pin(async move {
            let session = self.connect(from).await?;
            Ok(Box::new(session) as Box<dyn Session<StreamEvent>>)
        })
    }
}

/// A gRPC status: what is worth reconnecting for (the service going away, busy, or a slow
/// consumer) and what is final (not found, refused, invalid).
fn failure(status: Status) -> Lost {
    match status.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Unknown
        | Code::Internal => Lost::Retry(status.into()),
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::DataLoss
        | Code::Unauthenticated => Lost::Fatal(status.into()),
    }
}

/// One `Subscribe` call.
struct GrpcSession {
    /// Handed over first: the call was accepted (or refused with `resync_required`).
    accepted: Option<Incoming<StreamEvent>>,
    /// The events, when the call was accepted.
    events: Option<Streaming<StreamEvent>>,
}

impl Session<StreamEvent> for GrpcSession {
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming<StreamEvent>, Lost>> {
        Box::pin(self.receive())
    }
}

impl GrpcSession {
    async fn receive(&mut self) -> Result<Incoming<StreamEvent>, Lost> {
        if let Some(accepted) = self.accepted.take() {
            return Ok(accepted);
        }
        let Some(events) = self.events.as_mut() else {
            return Ok(Incoming::Ended);
        };
        loop {
            match events.message().await {
                // Only asked for with audience_interval_ms, which this client does not send.
                Ok(Some(event)) if event.event_type == StreamEventType::AudienceUpdated as i32 => {}
                Ok(Some(event)) => return Ok(Incoming::Event(event)),
                Ok(None) => return Ok(Incoming::Ended),
                Err(status) if is_resync(&status) => return Ok(resync(&status)),
                Err(status) => return Err(failure(status)),
            }
        }
    }
}

fn resync(status: &Status) -> Incoming<StreamEvent> {
    Incoming::ResyncRequired {
        after_seq: None,
        message: status.message().to_owned(),
    }
}

/// `FAILED_PRECONDITION` with a message starting `resync_required`.
fn is_resync(status: &Status) -> bool {
    status.code() == Code::FailedPrecondition && status.message().starts_with("resync_required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_going_away_is_retried_and_a_refusal_is_final() {
        for retried in [
            Status::unavailable("server shutting down; resume from seq 4"),
            Status::resource_exhausted("slow consumer; resume from seq 9"),
        ] {
            assert!(matches!(failure(retried), Lost::Retry(_)));
        }
        for refused in [
            Status::not_found("no stream"),
            Status::unauthenticated("no key"),
            Status::invalid_argument("bad id"),
        ] {
            assert!(matches!(failure(refused), Lost::Fatal(_)));
        }
    }

    #[test]
    fn resync_is_told_by_its_message() {
        assert!(is_resync(&Status::failed_precondition(
            "resync_required: events after seq 3 are no longer available"
        )));
        assert!(!is_resync(&Status::failed_precondition(
            "invalid_transition"
        )));
    }
}
