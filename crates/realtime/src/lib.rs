//! Live event fan-out shared by the WebSocket and gRPC transports.
//!
//! A [`Hub`] holds the instance's one subscription to the [`EventLog`] feed and one *channel*
//! per stream that somebody watches. Each channel follows its stream with
//! [`domain::follow::follow`] (so it is gapless even though the feed is at most once),
//! encodes every event **once** with the transport's [`Codec`], and hands a clone of the
//! encoded frame to each subscriber's bounded queue with `try_send`. A full queue never blocks
//! the channel: that subscriber is cut off ([`Next::Overflow`]) and the others carry on.
//!
//! A [`Subscriber`] is one client connection (many streams). It replays what the client missed
//! from the event log (`after_seq`), then passes the channel's live frames through, dropping
//! what it already delivered and filling the seam between replay and live from the log, so the
//! client sees every seq exactly once. When the log no longer holds a position it answers
//! [`Next::ResyncRequired`] instead of skipping.
//!
//! # Layout
//!
//! - [`Codec`]: how a transport turns a [`StreamEvent`] into its wire frame.
//! - [`Hub`], [`HubConfig`]: the per-instance dispatcher and per-stream channels.
//! - [`Subscriber`], [`Next`], [`SubscribeError`], [`Subscribed`]: one client's view.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use domain::follow::{follow, FollowError};
use domain::ports::{EventFeed, EventLog, StoreError};
use domain::{StreamEvent, StreamId};
use futures_util::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

/// Events read from the log per round trip while replaying.
const REPLAY_PAGE: usize = 500;
/// Live events buffered between the dispatcher and one channel. Overflow only costs a log read
/// (the channel's follower fills the gap), so this bounds memory, not correctness.
const CHANNEL_FEED: usize = 1024;
/// Pause before a channel retries after the store failed.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// Turns an event into a transport's wire frame. Called once per event per hub, never per
/// subscriber, so `Frame` should be cheap to clone (`Bytes`, `Arc<…>`).
pub trait Codec: Send + Sync + 'static {
    /// The encoded event.
    type Frame: Clone + Send + Sync + 'static;

    /// Encodes `event`.
    fn encode(&self, event: &StreamEvent) -> Self::Frame;
}

/// Tuning of a [`Hub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubConfig {
    /// Frames queued per subscriber before it counts as a slow consumer and is cut off.
    pub queue_capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
        }
    }
}

/// What a channel puts in a subscriber's queue.
#[derive(Debug, Clone)]
enum Delivery<F> {
    Event {
        stream: StreamId,
        seq: u64,
        frame: F,
    },
    /// The channel could not continue (its position left the log).
    Resync { stream: StreamId, after_seq: u64 },
}

/// State a subscriber shares with the channels it is a member of.
#[derive(Debug, Default)]
struct Shared {
    cut: AtomicBool,
    notify: Notify,
}

impl Shared {
    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

struct Member<F> {
    id: u64,
    tx: mpsc::Sender<Delivery<F>>,
    shared: Arc<Shared>,
}

struct Channel<F> {
    generation: u64,
    /// Set by the channel's task once its follower is ready to receive.
    feed: Option<mpsc::Sender<StreamEvent>>,
    members: Arc<Mutex<Vec<Member<F>>>>,
    task: Option<AbortHandle>,
}

type Channels<F> = Arc<Mutex<HashMap<StreamId, Channel<F>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here can leave the maps half-updated on a panic, so a poisoned lock is usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner<C: Codec> {
    log: Arc<dyn EventLog>,
    codec: Arc<C>,
    config: HubConfig,
    runtime: Handle,
    channels: Channels<C::Frame>,
    ids: AtomicU64,
    dispatcher: AbortHandle,
}

impl<C: Codec> Drop for Inner<C> {
    fn drop(&mut self) {
        self.dispatcher.abort();
        for channel in lock(&self.channels).values() {
            if let Some(task) = &channel.task {
                task.abort();
            }
        }
    }
}

/// The per-instance fan-out for one transport. Cheap to clone.
pub struct Hub<C: Codec> {
    inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for Hub<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for Hub<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .field("channels", &lock(&self.inner.channels).len())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Hub<C> {
    /// A hub on `log`'s feed. Its tasks run on the current tokio runtime (the process's
    /// multi-threaded one), whichever runtime its subscribers live on.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(log: Arc<dyn EventLog>, codec: C, config: HubConfig) -> Self {
        let runtime = Handle::current();
        let channels: Channels<C::Frame> = Arc::default();
        let dispatcher = runtime
            .spawn(dispatch(log.clone(), channels.clone()))
            .abort_handle();
        Self {
            inner: Arc::new(Inner {
                log,
                codec: Arc::new(codec),
                config,
                runtime,
                channels,
                ids: AtomicU64::new(1),
                dispatcher,
            }),
        }
    }

    /// A new subscriber (one per client connection) with an empty, bounded queue.
    pub fn subscriber(&self) -> Subscriber<C> {
        let (tx, rx) = mpsc::channel(self.inner.config.queue_capacity.max(1));
        Subscriber {
            hub: self.inner.clone(),
            id: self.inner.ids.fetch_add(1, Ordering::Relaxed),
            tx,
            rx,
            shared: Arc::default(),
            cursors: HashMap::new(),
            pending: VecDeque::new(),
            work: VecDeque::new(),
            done: false,
        }
    }

    /// Streams with at least one subscriber on this instance.
    pub fn watched_streams(&self) -> usize {
        lock(&self.inner.channels).len()
    }

    /// The event log the hub follows.
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        self.inner.log.clone()
    }
}

/// The one reader of the instance's feed: routes each event to its stream's channel, if any.
async fn dispatch<F: Send + 'static>(log: Arc<dyn EventLog>, channels: Channels<F>) {
    loop {
        let mut feed = log.subscribe();
        while let Some(event) = feed.next().await {
            let feed = lock(&channels)
                .get(&event.stream_id)
                .and_then(|c| c.feed.clone());
            if let Some(feed) = feed {
                // Dropped when full: the channel's follower sees the seq gap and reads the log.
                let _ = feed.try_send(event);
            }
        }
        // The store ended its feed (reconnecting); followers fill what was missed meanwhile.
        tokio::time::sleep(STORE_RETRY).await;
    }
}

/// An [`EventLog`] whose live feed is the dispatcher's forward for one stream.
struct ChannelLog {
    log: Arc<dyn EventLog>,
    feed: Mutex<Option<mpsc::Receiver<StreamEvent>>>,
}

#[async_trait::async_trait]
impl EventLog for ChannelLog {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        self.log.read_after(stream, after_seq, limit).await
    }

    fn subscribe(&self) -> EventFeed {
        let rx = lock(&self.feed).take();
        Box::pin(futures_util::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let event = rx.recv().await?;
            Some((event, Some(rx)))
        }))
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        self.log.epoch().await
    }
}

/// One watched stream: follows it gaplessly, encodes each event once, fans the frame out.
async fn run_channel<C: Codec>(
    log: Arc<dyn EventLog>,
    codec: Arc<C>,
    channels: Channels<C::Frame>,
    members: Arc<Mutex<Vec<Member<C::Frame>>>>,
    stream: StreamId,
    generation: u64,
    mut last: u64,
) {
    loop {
        let (tx, rx) = mpsc::channel(CHANNEL_FEED);
        match lock(&channels).get_mut(&stream) {
            Some(channel) if channel.generation == generation => channel.feed = Some(tx),
            Some(_) | None => return,
        }
        let source = Arc::new(ChannelLog {
            log: log.clone(),
            feed: Mutex::new(Some(rx)),
        });
        let mut events = std::pin::pin!(follow(source, stream, last));
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => {
                    last = event.seq;
                    let frame = codec.encode(&event);
                    fan_out(
                        &members,
                        &Delivery::Event {
                            stream,
                            seq: event.seq,
                            frame,
                        },
                    );
                }
                Err(FollowError::ResyncRequired { after_seq }) => {
                    let mut map = lock(&channels);
                    if map.get(&stream).is_some_and(|c| c.generation == generation) {
                        map.remove(&stream);
                    }
                    drop(map);
                    fan_out(&members, &Delivery::Resync { stream, after_seq });
                    return;
                }
                Err(FollowError::Store(err)) => {
                    tracing::warn!(%stream, error = %err, "live channel lost the store; retrying");
                    break;
                }
            }
        }
        tokio::time::sleep(STORE_RETRY).await;
    }
}

fn fan_out<F: Clone>(members: &Mutex<Vec<Member<F>>>, delivery: &Delivery<F>) {
    lock(members).retain(|member| {
        if member.shared.is_cut() {
            return false;
        }
        match member.tx.try_send(delivery.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                member.shared.cut();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
}

impl<C: Codec> Inner<C> {
    fn join(&self, stream: StreamId, member: Member<C::Frame>, current_seq: u64) {
        let mut map = lock(&self.channels);
        if let Some(channel) = map.get(&stream) {
            lock(&channel.members).push(member);
            return;
        }
        let generation = self.ids.fetch_add(1, Ordering::Relaxed);
        let members = Arc::new(Mutex::new(vec![member]));
        map.insert(
            stream,
            Channel {
                generation,
                feed: None,
                members: members.clone(),
                task: None,
            },
        );
        let task = self.runtime.spawn(run_channel(
            self.log.clone(),
            self.codec.clone(),
            self.channels.clone(),
            members,
            stream,
            generation,
            current_seq,
        ));
        if let Some(channel) = map.get_mut(&stream) {
            channel.task = Some(task.abort_handle());
        }
    }

    fn leave(&self, stream: StreamId, member: u64) {
        let mut map = lock(&self.channels);
        let Some(channel) = map.get(&stream) else {
            return;
        };
        let empty = {
            let mut members = lock(&channel.members);
            members.retain(|m| m.id != member);
            members.is_empty()
        };
        if empty {
            if let Some(channel) = map.remove(&stream) {
                if let Some(task) = channel.task {
                    task.abort();
                }
            }
        }
    }
}

/// What a [`Subscriber`] hands its transport next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<F> {
    /// The next event of `stream`, encoded once for everyone.
    Event {
        /// Its stream.
        stream: StreamId,
        /// Its seq (one more than the previous one of this stream).
        seq: u64,
        /// The encoded event.
        frame: F,
    },
    /// The log no longer holds what follows `after_seq`: the client must reload the stream's
    /// state and subscribe again from its current seq. The stream is unsubscribed.
    ResyncRequired {
        /// The stream.
        stream: StreamId,
        /// The last seq delivered.
        after_seq: u64,
    },
    /// Replaying from the log failed; the stream is unsubscribed and may be subscribed again
    /// from its last seq.
    Unavailable {
        /// The stream.
        stream: StreamId,
        /// What failed.
        reason: String,
    },
    /// The subscriber's queue overflowed (it reads slower than events arrive). Everything
    /// queued before has been handed out; nothing more will be. The client may resume each
    /// stream from the last seq it received ([`Subscriber::positions`]).
    Overflow,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// `after_seq` is ahead of the stream, or the client's epoch is not the store's: its
    /// position means nothing here. Reload the state and subscribe without a position.
    ResyncRequired,
    /// The store failed.
    Store(StoreError),
}

/// A subscription that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// Events after this seq are delivered (the client's `after_seq`, or the stream's current
    /// seq when it gave none).
    pub after_seq: u64,
    /// The store's epoch, to pass back when resuming.
    pub epoch: String,
}

struct Replay<F> {
    stream: StreamId,
    /// Replay up to (excluding) this seq, then hand out `then`; `None`: the whole log.
    until: Option<(u64, F)>,
}

/// One client connection's subscriptions and its bounded queue.
pub struct Subscriber<C: Codec> {
    hub: Arc<Inner<C>>,
    id: u64,
    tx: mpsc::Sender<Delivery<C::Frame>>,
    rx: mpsc::Receiver<Delivery<C::Frame>>,
    shared: Arc<Shared>,
    /// Per subscribed stream, the highest seq handed out or queued in `pending`.
    cursors: HashMap<StreamId, u64>,
    pending: VecDeque<Next<C::Frame>>,
    work: VecDeque<Replay<C::Frame>>,
    done: bool,
}

impl<C: Codec> std::fmt::Debug for Subscriber<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("cursors", &self.cursors)
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Drop for Subscriber<C> {
    fn drop(&mut self) {
        for stream in self.cursors.keys() {
            self.hub.leave(*stream, self.id);
        }
    }
}

impl<C: Codec> Subscriber<C> {
    /// Follows `stream` (whose latest seq is `current_seq`) from `after_seq`, or from now when
    /// `None`. Subscribing to a stream again restarts it from the new position.
    ///
    /// # Errors
    /// [`SubscribeError::ResyncRequired`] when `after_seq` is ahead of `current_seq` or
    /// `epoch` is not the store's; [`SubscribeError::Store`] when the epoch cannot be read.
    pub async fn subscribe(
        &mut self,
        stream: StreamId,
        current_seq: u64,
        after_seq: Option<u64>,
        epoch: Option<&str>,
    ) -> Result<Subscribed, SubscribeError> {
        let store_epoch = self.hub.log.epoch().await.map_err(SubscribeError::Store)?;
        if epoch.is_some_and(|epoch| epoch != store_epoch)
            || after_seq.is_some_and(|after| after > current_seq)
        {
            return Err(SubscribeError::ResyncRequired);
        }
        self.unsubscribe(stream);
        let after_seq = after_seq.unwrap_or(current_seq);
        self.hub.join(
            stream,
            Member {
                id: self.id,
                tx: self.tx.clone(),
                shared: self.shared.clone(),
            },
            current_seq,
        );
        self.cursors.insert(stream, after_seq);
        if after_seq < current_seq {
            self.work.push_back(Replay {
                stream,
                until: None,
            });
        }
        Ok(Subscribed {
            after_seq,
            epoch: store_epoch,
        })
    }

    /// Stops following `stream`; returns whether it was followed.
    pub fn unsubscribe(&mut self, stream: StreamId) -> bool {
        let followed = self.cursors.remove(&stream).is_some();
        if followed {
            self.hub.leave(stream, self.id);
            self.pending.retain(|next| match next {
                Next::Event { stream: s, .. }
                | Next::ResyncRequired { stream: s, .. }
                | Next::Unavailable { stream: s, .. } => *s != stream,
                Next::Overflow => true,
            });
            self.work.retain(|replay| replay.stream != stream);
        }
        followed
    }

    /// Streams followed, with the last seq handed out for each (where to resume).
    pub fn positions(&self) -> impl Iterator<Item = (StreamId, u64)> + '_ {
        self.cursors.iter().map(|(stream, seq)| (*stream, *seq))
    }

    /// The next thing to send. Cancel-safe: nothing is lost when the future is dropped, so it
    /// can sit in a `select!` next to the connection's reads.
    pub async fn next(&mut self) -> Next<C::Frame> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return next;
            }
            if self.done {
                return Next::Overflow;
            }
            if let Some(replay) = self.work.front() {
                let stream = replay.stream;
                let Some(&cursor) = self.cursors.get(&stream) else {
                    self.work.pop_front();
                    continue;
                };
                if replay
                    .until
                    .as_ref()
                    .is_some_and(|(until, _)| cursor + 1 >= *until)
                {
                    if let Some(replay) = self.work.pop_front() {
                        self.finish(stream, cursor, replay);
                    }
                    continue;
                }
                let page = self.hub.log.read_after(stream, cursor, REPLAY_PAGE).await;
                self.replayed(stream, cursor, page);
                continue;
            }
            let delivery = match self.rx.try_recv() {
                Ok(delivery) => delivery,
                Err(mpsc::error::TryRecvError::Empty | mpsc::error::TryRecvError::Disconnected) => {
                    let shared = self.shared.clone();
                    let cut = shared.notify.notified();
                    let mut cut = std::pin::pin!(cut);
                    cut.as_mut().enable();
                    if self.shared.is_cut() {
                        self.overflowed();
                        continue;
                    }
                    tokio::select! {
                        delivery = self.rx.recv() => match delivery {
                            Some(delivery) => delivery,
                            None => continue,
                        },
                        () = cut => continue,
                    }
                }
            };
            if let Some(next) = self.received(delivery) {
                return next;
            }
        }
    }

    fn overflowed(&mut self) {
        self.done = true;
        let streams: Vec<StreamId> = self.cursors.keys().copied().collect();
        for stream in streams {
            self.hub.leave(stream, self.id);
        }
    }

    fn received(&mut self, delivery: Delivery<C::Frame>) -> Option<Next<C::Frame>> {
        match delivery {
            Delivery::Event { stream, seq, frame } => {
                let cursor = self.cursors.get_mut(&stream)?;
                if seq <= *cursor {
                    return None;
                }
                if seq == *cursor + 1 {
                    *cursor = seq;
                    return Some(Next::Event { stream, seq, frame });
                }
                // The seam between what was replayed and where the channel was: from the log.
                self.work.push_back(Replay {
                    stream,
                    until: Some((seq, frame)),
                });
                None
            }
            Delivery::Resync { stream, after_seq } => {
                let cursor = self.cursors.get(&stream).copied()?;
                if cursor > after_seq {
                    // Already past the channel's position: start a new channel from here.
                    self.cursors.remove(&stream);
                    let member = Member {
                        id: self.id,
                        tx: self.tx.clone(),
                        shared: self.shared.clone(),
                    };
                    self.hub.join(stream, member, cursor);
                    self.cursors.insert(stream, cursor);
                    return None;
                }
                self.unsubscribe(stream);
                Some(Next::ResyncRequired {
                    stream,
                    after_seq: cursor,
                })
            }
        }
    }

    fn replayed(
        &mut self,
        stream: StreamId,
        mut cursor: u64,
        page: Result<Vec<StreamEvent>, StoreError>,
    ) {
        let Some(replay) = self.work.pop_front() else {
            return;
        };
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                self.unsubscribe(stream);
                self.pending.push_back(Next::Unavailable {
                    stream,
                    reason: err.to_string(),
                });
                return;
            }
        };
        let first = page.first().map(|event| event.seq);
        if first != Some(cursor + 1) {
            if first.is_none() && replay.until.is_none() {
                self.finish(stream, cursor, replay);
                return;
            }
            self.unsubscribe(stream);
            self.pending.push_back(Next::ResyncRequired {
                stream,
                after_seq: cursor,
            });
            return;
        }
        let full = page.len() == REPLAY_PAGE;
        let until = replay.until.as_ref().map(|(until, _)| *until);
        for event in page {
            if until.is_some_and(|until| event.seq >= until) {
                break;
            }
            cursor = event.seq;
            let frame = self.hub.codec.encode(&event);
            self.pending.push_back(Next::Event {
                stream,
                seq: event.seq,
                frame,
            });
        }
        if let Some(c) = self.cursors.get_mut(&stream) {
            *c = cursor;
        }
        let reached = until.is_some_and(|until| cursor + 1 >= until);
        if full && !reached {
            self.work.push_front(replay);
        } else if until.is_some() && !reached {
            // The live event is there but the log lacks what precedes it.
            self.unsubscribe(stream);
            self.pending.push_back(Next::ResyncRequired {
                stream,
                after_seq: cursor,
            });
        } else {
            self.finish(stream, cursor, replay);
        }
    }

    /// Hands out the live frame that started a seam replay, now that the seam is filled.
    fn finish(&mut self, stream: StreamId, cursor: u64, replay: Replay<C::Frame>) {
        if let Some((seq, frame)) = replay.until {
            if seq == cursor + 1 {
                if let Some(c) = self.cursors.get_mut(&stream) {
                    *c = seq;
                }
                self.pending.push_back(Next::Event { stream, seq, frame });
            }
        }
    }
}

#[cfg(test)]
mod tests;
