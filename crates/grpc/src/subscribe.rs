//! `Subscribe`: one stream's events from the instance's hub, as a response stream that ends
//! after stream_stopped, on a resync or an overflow (with the status saying how to resume), or
//! when the server shuts down.

use std::pin::Pin;

use futures_util::Stream;
use orchestrator_realtime::{FollowError, Next, Subscription};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Response, Status};

use crate::metered::SubscriptionMetrics;
use crate::{convert, proto, status, EncodedEvent, GrpcState, ProtoCodec};

pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<EncodedEvent, Status>> + Send>>;

/// A subscription as the response stream drives it.
struct Follow {
    subscriber: orchestrator_realtime::Subscriber<ProtoCodec>,
    /// On a child of the server's token: waiting on the shared token itself would take its
    /// lock, from every worker thread, each time a subscription waits for an event.
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
    /// Counts the subscription open until the response stream is dropped.
    metrics: SubscriptionMetrics,
}

/// Starts a subscription.
pub(crate) async fn subscribe(
    state: &GrpcState,
    request: proto::SubscribeRequest,
) -> Result<Response<EventStream>, Status> {
    let id = convert::stream_id(&request.stream_id).map_err(status)?;
    let audience_interval = audience_interval(request.audience_interval_ms).map_err(status)?;
    let mut subscriber = state.hub.subscriber();
    let subscription = Subscription {
        after_seq: request.after_seq,
        epoch: Some(request.epoch.as_str()).filter(|epoch| !epoch.is_empty()),
        audience_interval,
    };
    let following = subscriber
        .follow(&state.service, id, subscription)
        .await
        .map_err(|err| match err {
            FollowError::ResyncRequired => Status::failed_precondition(
                "resync_required: after_seq is ahead of the stream or from another epoch; \
                 reload the state with GetStreamState and subscribe from its seq",
            ),
            FollowError::Stream(err) => status(err),
        })?;
    // A stopped stream with nothing left to replay has nothing more to say.
    let ended = following.has_ended();
    let events: EventStream = Box::pin(futures_util::stream::unfold(
        Follow {
            subscriber,
            closing: Box::pin(state.closing.child_token().cancelled_owned()),
            ended,
            metrics: SubscriptionMetrics::opened(),
        },
        next_event,
    ));
    let mut response = Response::new(events);
    if let Ok(epoch) = following.subscribed.epoch.parse() {
        response.metadata_mut().insert("x-epoch", epoch);
    }
    Ok(response)
}

/// The audience interval of a Subscribe; absent means none.
fn audience_interval(
    raw: Option<u32>,
) -> Result<Option<orchestrator_realtime::AudienceInterval>, orchestrator_domain::error::StreamError>
{
    raw.map(|millis| orchestrator_realtime::AudienceInterval::from_millis(millis.into()))
        .transpose()
        .map_err(|err| {
            orchestrator_domain::values::ValidationError::new(
                "audience_interval_ms",
                err.to_string(),
            )
            .into()
        })
}

fn resume_from(follow: &Follow) -> u64 {
    let seq = follow.subscriber.positions().map(|(_, seq)| seq).max();
    seq.unwrap_or(0)
}

async fn next_event(mut follow: Follow) -> Option<(Result<EncodedEvent, Status>, Follow)> {
    if follow.ended {
        return None;
    }
    let next = tokio::select! {
        next = follow.subscriber.next() => Some(next),
        () = follow.closing.as_mut() => None,
    };
    let Some(next) = next else {
        follow.ended = true;
        let status = Status::unavailable(format!(
            "server shutting down; resume from seq {}",
            resume_from(&follow)
        ));
        return Some((Err(status), follow));
    };
    let item = match next {
        Next::Event { frame, .. } if frame.kind() == proto::StreamEventType::StreamStopped => {
            follow.ended = true;
            follow.metrics.delivered();
            Ok(frame)
        }
        Next::Event { frame, .. } | Next::Audience { frame, .. } => {
            follow.metrics.delivered();
            Ok(frame)
        }
        Next::ResyncRequired { after_seq, .. } => {
            follow.ended = true;
            Err(Status::failed_precondition(format!(
                "resync_required: events after seq {after_seq} are no longer available; reload \
                 the state with GetStreamState and subscribe from its seq"
            )))
        }
        Next::Unavailable { reason, .. } => {
            follow.ended = true;
            Err(Status::unavailable(format!(
                "replay failed, subscribe again from your last seq: {reason}"
            )))
        }
        Next::Overflow => {
            follow.ended = true;
            follow.metrics.slow_consumer();
            Err(Status::resource_exhausted(format!(
                "slow consumer; resume from seq {}",
                resume_from(&follow)
            )))
        }
    };
    Some((item, follow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audience_interval_is_optional_and_checked() {
        assert_eq!(audience_interval(None), Ok(None));
        assert_eq!(
            audience_interval(Some(250))
                .map(|i| i.map(orchestrator_realtime::AudienceInterval::as_millis)),
            Ok(Some(250))
        );
        assert!(matches!(
            audience_interval(Some(10)),
            Err(orchestrator_domain::error::StreamError::Invalid(_))
        ));
    }
}
