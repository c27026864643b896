//! The loop behind a [`Subscription`], whatever the transport: open a session from the
//! position, judge each event by its seq, reconnect with backoff when the session is lost,
//! and act on `resync_required`.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;

use super::position::{Position, Verdict};
use super::{Progress, Resync, ResyncRequired, SubscribeOptions, Subscription, Update};
use crate::retry::jitter;
use crate::{Client, ClientError, RetryPolicy, StreamStatus};

/// An event of a transport, as far as following goes.
pub(crate) trait Sequenced {
    /// Its position in the stream's log.
    fn seq(&self) -> u64;
    /// Whether it is the stream's last (`stream_stopped`).
    fn is_last(&self) -> bool;
}

/// What a session hands over.
#[derive(Debug)]
pub(crate) enum Incoming<E> {
    /// An event of the stream.
    Event(E),
    /// The service accepted the subscription: events after `after_seq` follow.
    Subscribed {
        after_seq: Option<u64>,
        epoch: Option<String>,
    },
    /// The position cannot be resumed; the service dropped the subscription.
    ResyncRequired {
        after_seq: Option<u64>,
        message: String,
    },
    /// The service ended the subscription normally (nothing more will come).
    Ended,
}

/// Why a session (or opening one) failed.
#[derive(Debug)]
pub(crate) enum Lost {
    /// Worth reconnecting: the connection went away, the service is busy or restarting.
    Retry(ClientError),
    /// Not: the stream does not exist, the key is refused, the request is wrong.
    Fatal(ClientError),
}

/// One connection's subscription.
pub(crate) trait Session<E>: Send {
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming<E>, Lost>>;
}

/// Opens sessions of one transport.
pub(crate) trait Connector<E>: Send + Sync {
    fn open<'a>(&'a self, from: &'a Position) -> BoxFuture<'a, Result<Box<dyn Session<E>>, Lost>>;
}

/// A subscription to `stream_id` with sessions from `connector`.
pub(crate) fn subscription<E: Sequenced + Send + 'static>(
    client: &Client,
    stream_id: &str,
    options: SubscribeOptions,
    connector: Box<dyn Connector<E>>,
) -> Subscription<E> {
    let progress = Arc::new(Progress::default());
    let follower = Follower {
        connector,
        client: client.clone(),
        stream_id: stream_id.to_owned(),
        position: Position::new(options.after_seq, options.epoch),
        session: None,
        connected_before: false,
        failures: 0,
        lost_at: None,
        last_failure: None,
        reconnect: options.reconnect,
        resync: options.resync,
        ended: false,
        progress: Arc::clone(&progress),
    };
    let items = futures_util::stream::unfold(follower, |mut follower| async move {
        let item = follower.next().await?;
        Some((item, follower))
    });
    Subscription {
        inner: Box::pin(items),
        progress,
    }
}

struct Follower<E> {
    connector: Box<dyn Connector<E>>,
    client: Client,
    stream_id: String,
    position: Position,
    session: Option<Box<dyn Session<E>>>,
    connected_before: bool,
    /// Failed connections (or sessions lost before they were accepted) in a row.
    failures: u32,
    /// When the first of those failures happened.
    lost_at: Option<Instant>,
    last_failure: Option<ClientError>,
    reconnect: RetryPolicy,
    resync: Resync,
    ended: bool,
    progress: Arc<Progress>,
}

type Item<E> = Result<Update<E>, ClientError>;

impl<E: Sequenced + Send + 'static> Follower<E> {
    async fn next(&mut self) -> Option<Item<E>> {
        while !self.ended {
            let session = match self.session.as_mut() {
                Some(session) => session,
                None => match self.connect().await {
                    Ok(session) => self.session.insert(session),
                    Err(err) => return self.end_with(err),
                },
            };
            match session.next().await {
                Ok(Incoming::Event(event)) => {
                    if let Some(item) = self.judge(event) {
                        return Some(item);
                    }
                }
                Ok(Incoming::Subscribed { after_seq, epoch }) => {
                    self.position.subscribed(after_seq, epoch);
                    self.failures = 0;
                    self.lost_at = None;
                }
                Ok(Incoming::ResyncRequired { after_seq, message }) => {
                    return Some(self.resync(after_seq, message).await);
                }
                Ok(Incoming::Ended) => self.ended = true,
                Err(Lost::Retry(err)) => self.lose(err),
                Err(Lost::Fatal(err)) => return self.end_with(err),
            }
        }
        None
    }

    /// Delivers `event` if it is the next one; `None` drops a duplicate.
    fn judge(&mut self, event: E) -> Option<Item<E>> {
        let seq = event.seq();
        match self.position.judge(seq) {
            Verdict::Deliver => {
                self.position.delivered(seq);
                self.progress.delivered(seq);
                self.failures = 0;
                self.lost_at = None;
                self.ended = event.is_last();
                Some(Ok(Update::Event(event)))
            }
            Verdict::Duplicate => None,
            Verdict::Gap { expected } => self.end_with(ClientError::Gap {
                stream_id: self.stream_id.clone(),
                expected,
                got: seq,
            }),
        }
    }

    fn end_with(&mut self, err: ClientError) -> Option<Item<E>> {
        self.ended = true;
        self.session = None;
        Some(Err(err))
    }

    /// The session is gone: the next turn reconnects, after a backoff.
    fn lose(&mut self, err: ClientError) {
        self.session = None;
        self.failures += 1;
        self.lost_at.get_or_insert_with(Instant::now);
        self.last_failure = Some(err);
    }

    /// A new session from the position, after the backoff its failures in a row call for.
    async fn connect(&mut self) -> Result<Box<dyn Session<E>>, ClientError> {
        loop {
            if self.failures > 0 {
                let elapsed = self.lost_at.map(|at| at.elapsed()).unwrap_or_default();
                match self.reconnect.delay(self.failures, elapsed, None, jitter()) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(self.gave_up(elapsed)),
                }
            }
            match self.connector.open(&self.position).await {
                Ok(session) => {
                    if self.connected_before {
                        self.progress.reconnected();
                    }
                    self.connected_before = true;
                    return Ok(session);
                }
                Err(Lost::Retry(err)) => self.lose(err),
                Err(Lost::Fatal(err)) => return Err(err),
            }
        }
    }

    fn gave_up(&mut self, elapsed: std::time::Duration) -> ClientError {
        let last = self
            .last_failure
            .take()
            .unwrap_or_else(|| ClientError::Disconnected("connection lost".into()));
        ClientError::GaveUp {
            attempts: self.failures,
            elapsed,
            last: Box::new(last),
        }
    }

    /// `resync_required`: hand it over, then end or follow on from the stream's state.
    async fn resync(&mut self, after_seq: Option<u64>, message: String) -> Item<E> {
        self.session = None;
        let mut resync = ResyncRequired {
            stream_id: self.stream_id.clone(),
            after_seq,
            message,
            state: None,
        };
        match self.resync {
            Resync::End => self.ended = true,
            Resync::FromState => match self.client.stream_state(&self.stream_id).await {
                Ok(state) => {
                    self.position = Position::new(Some(state.seq), None);
                    self.progress.delivered(state.seq);
                    // A stopped stream has nothing more to say.
                    self.ended = state.status == StreamStatus::Stopped;
                    resync.state = Some(state);
                }
                Err(err) => {
                    self.ended = true;
                    return Err(err);
                }
            },
        }
        Ok(Update::ResyncRequired(Box::new(resync)))
    }
}
