//! One client connection's view: its subscriptions, its bounded queue, replay from the log,
//! and (for coalescing subscriptions) the newest audience update not yet sent.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use orchestrator_domain::error::StreamError;
use orchestrator_domain::ports::StoreError;
use orchestrator_domain::service::StreamService;
use orchestrator_domain::stream::Stream;
use orchestrator_domain::{event::StreamEvent, values::StreamId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::audience::{classify, AudienceInterval, Class, Coalescer, Fold};
use crate::hub::{Delivery, Inner, Member, Shared};
use crate::Codec;

/// Events read from the log per round trip while replaying.
pub(crate) const REPLAY_PAGE: usize = 500;
/// Deliveries taken from the queue in a row before due audience updates are checked, so a
/// queue that never runs empty cannot hold them back.
const DRAIN_BUDGET: u32 = 256;

/// What a [`Subscriber`] hands its transport next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<F> {
    /// The next event of `stream`, encoded once for everyone.
    Event {
        /// Its stream.
        stream: StreamId,
        /// Its seq (one more than the previous one of this stream, unless viewers' events
        /// were folded into an audience update).
        seq: u64,
        /// The encoded event.
        frame: F,
    },
    /// An audience update of a coalescing subscription: viewers' events up to `seq` were
    /// folded into it, and it carries the counters after `seq`. Resuming after `seq` misses
    /// nothing the subscription asked for.
    Audience {
        /// Its stream.
        stream: StreamId,
        /// The seq of the last event it accounts for.
        seq: u64,
        /// The encoded update.
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
    /// queued before (and every pending audience update) has been handed out; nothing more
    /// will be. The client may resume each stream from the last seq it received
    /// ([`Subscriber::positions`]).
    Overflow,
}

impl<F> Next<F> {
    fn stream(&self) -> Option<StreamId> {
        match self {
            Next::Event { stream, .. }
            | Next::Audience { stream, .. }
            | Next::ResyncRequired { stream, .. }
            | Next::Unavailable { stream, .. } => Some(*stream),
            Next::Overflow => None,
        }
    }
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

/// How to follow a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subscription<'a> {
    /// Replay the events after this seq first; `None`: only new events.
    pub after_seq: Option<u64>,
    /// The store epoch `after_seq` belongs to; `None` skips the check.
    pub epoch: Option<&'a str>,
    /// Fold viewers' joins and leaves into an audience update at most this often; `None`:
    /// every event one by one.
    pub audience_interval: Option<AudienceInterval>,
}

/// Why [`Subscriber::follow`] refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The stream could not be read (unknown, malformed id, store down).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// As [`SubscribeError::ResyncRequired`].
    #[error("the position is ahead of the stream or from another epoch")]
    ResyncRequired,
}

impl From<SubscribeError> for FollowError {
    fn from(err: SubscribeError) -> Self {
        match err {
            SubscribeError::ResyncRequired => FollowError::ResyncRequired,
            SubscribeError::Store(err) => FollowError::Stream(err.into()),
        }
    }
}

/// A stream followed: its state when the subscription started, and where delivery starts.
#[derive(Debug, Clone)]
pub struct Following {
    /// The stream as read before subscribing (its `seq` is where live delivery joins).
    pub stream: Stream,
    /// Where delivery starts, and the epoch to resume in.
    pub subscribed: Subscribed,
}

impl Following {
    /// Whether the stream is stopped with nothing left to replay: nothing more will come.
    pub fn has_ended(&self) -> bool {
        self.stream.is_stopped() && self.subscribed.after_seq >= self.stream.seq
    }
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

/// A live delivery held back until the log filled the seam before it.
struct Held<F> {
    seq: u64,
    frame: F,
    fold: Fold<F>,
}

struct Replay<F> {
    stream: StreamId,
    /// Replay up to (excluding) the held delivery, then take it; `None`: the whole log.
    until: Option<Held<F>>,
}

/// Where a subscriber is in one stream.
struct Position<F> {
    /// The highest seq taken: handed out, queued in `pending`, or folded.
    cursor: u64,
    /// Boxed: most subscriptions do not coalesce and stay one word.
    coalescer: Option<Box<Coalescer<F>>>,
}

impl<F> Position<F> {
    /// The last seq handed out (where the client resumes from).
    fn shown(&self) -> u64 {
        self.coalescer
            .as_ref()
            .and_then(|coalescer| coalescer.shown())
            .unwrap_or(self.cursor)
    }
}

/// One client connection's subscriptions and its bounded queue.
pub struct Subscriber<C: Codec> {
    hub: Arc<Inner<C>>,
    id: u64,
    tx: mpsc::Sender<Delivery<C::Frame>>,
    rx: mpsc::Receiver<Delivery<C::Frame>>,
    shared: Arc<Shared>,
    streams: HashMap<StreamId, Position<C::Frame>>,
    pending: VecDeque<Next<C::Frame>>,
    work: VecDeque<Replay<C::Frame>>,
    /// No audience update is due before this (`None`: none pending). A hint: the streams'
    /// coalescers are checked when it passes.
    due: Option<Instant>,
    /// Deliveries taken in a row without looking at due updates.
    drained: u32,
    done: bool,
}

impl<C: Codec> std::fmt::Debug for Subscriber<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("positions", &self.positions().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Drop for Subscriber<C> {
    fn drop(&mut self) {
        for stream in self.streams.keys() {
            self.hub.leave(*stream, self.id);
        }
    }
}

fn earliest(due: Option<Instant>, at: Instant) -> Option<Instant> {
    Some(due.map_or(at, |due| due.min(at)))
}

/// Resolves at `due`, never when `None`.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

impl<C: Codec> Subscriber<C> {
    pub(crate) fn new(hub: Arc<Inner<C>>, id: u64, queue_capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue_capacity);
        Self {
            hub,
            id,
            tx,
            rx,
            shared: Arc::default(),
            streams: HashMap::new(),
            pending: VecDeque::new(),
            work: VecDeque::new(),
            due: None,
            drained: 0,
            done: false,
        }
    }

    fn member(&self, coalesces: bool) -> Member<C::Frame> {
        Member {
            id: self.id,
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            coalesces,
        }
    }

    /// Reads stream `id`, then follows it from the seq read as `subscription` asks: the
    /// order every transport needs (the state first, so no event committed after it is
    /// missed, and a resume position is judged against it).
    ///
    /// # Errors
    /// [`FollowError::Stream`] when the stream cannot be read (or the store's epoch);
    /// [`FollowError::ResyncRequired`] as [`Subscriber::subscribe`].
    pub async fn follow(
        &mut self,
        service: &StreamService,
        id: StreamId,
        subscription: Subscription<'_>,
    ) -> Result<Following, FollowError> {
        let stream = service.get(id).await?;
        let subscribed = self.subscribe(id, stream.seq, subscription).await?;
        Ok(Following { stream, subscribed })
    }

    /// Follows `stream` (whose latest seq is `current_seq`) as `subscription` asks.
    /// Subscribing to a stream again restarts it from the new position.
    ///
    /// # Errors
    /// [`SubscribeError::ResyncRequired`] when `after_seq` is ahead of `current_seq` or
    /// `epoch` is not the store's; [`SubscribeError::Store`] when the epoch cannot be read.
    pub async fn subscribe(
        &mut self,
        stream: StreamId,
        current_seq: u64,
        subscription: Subscription<'_>,
    ) -> Result<Subscribed, SubscribeError> {
        let store_epoch = self.hub.log.epoch().await.map_err(SubscribeError::Store)?;
        if subscription.epoch.is_some_and(|epoch| epoch != store_epoch)
            || subscription
                .after_seq
                .is_some_and(|after| after > current_seq)
        {
            return Err(SubscribeError::ResyncRequired);
        }
        self.unsubscribe(stream);
        let after_seq = subscription.after_seq.unwrap_or(current_seq);
        let coalescer = subscription
            .audience_interval
            .map(|interval| Box::new(Coalescer::new(interval)));
        self.hub
            .join(stream, self.member(coalescer.is_some()), current_seq);
        let position = Position {
            cursor: after_seq,
            coalescer,
        };
        self.streams.insert(stream, position);
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
        let followed = self.streams.remove(&stream).is_some();
        if followed {
            self.hub.leave(stream, self.id);
            self.pending.retain(|next| next.stream() != Some(stream));
            self.work.retain(|replay| replay.stream != stream);
        }
        followed
    }

    /// Streams followed, with the last seq handed out for each (where to resume).
    pub fn positions(&self) -> impl Iterator<Item = (StreamId, u64)> + '_ {
        self.streams
            .iter()
            .map(|(stream, position)| (*stream, position.shown()))
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
                let Some(cursor) = self.streams.get(&stream).map(|p| p.cursor) else {
                    self.work.pop_front();
                    continue;
                };
                if replay
                    .until
                    .as_ref()
                    .is_some_and(|held| cursor + 1 >= held.seq)
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
            if self.drained >= DRAIN_BUDGET {
                self.drained = 0;
                if self.release_due() {
                    continue;
                }
            }
            if let Ok(delivery) = self.rx.try_recv() {
                self.drained += 1;
                self.received(delivery);
                continue;
            }
            self.drained = 0;
            if self.release_due() {
                continue;
            }
            self.wait().await;
        }
    }

    /// Waits for a delivery or the next due audience update (whichever comes first), and
    /// takes the delivery. The queue is empty when this is called: if a channel found it full
    /// meanwhile (the cut), everything it held has been handed out and the subscription ends.
    async fn wait(&mut self) {
        if self.shared.is_cut() {
            self.overflowed();
            return;
        }
        tokio::select! {
            delivery = self.rx.recv() => if let Some(delivery) = delivery {
                self.received(delivery);
            },
            () = sleep_until(self.due) => {}
        }
    }

    /// Queues every audience update whose interval has passed; whether there was one.
    fn release_due(&mut self) -> bool {
        let Some(due) = self.due else {
            return false;
        };
        let now = Instant::now();
        if now < due {
            return false;
        }
        self.due = None;
        let mut released = false;
        for (stream, position) in &mut self.streams {
            let Some(coalescer) = position.coalescer.as_deref_mut() else {
                continue;
            };
            if let Some((seq, frame)) = coalescer.take_due(now) {
                let stream = *stream;
                self.pending
                    .push_back(Next::Audience { stream, seq, frame });
                released = true;
            } else if let Some(at) = coalescer.due(now) {
                self.due = earliest(self.due, at);
            }
        }
        released
    }

    fn overflowed(&mut self) {
        self.done = true;
        let now = Instant::now();
        for (stream, position) in &mut self.streams {
            let update = position.coalescer.as_deref_mut().and_then(|c| c.flush(now));
            if let Some((seq, frame)) = update {
                let stream = *stream;
                self.pending
                    .push_back(Next::Audience { stream, seq, frame });
            }
            self.hub.leave(*stream, self.id);
        }
    }

    fn received(&mut self, delivery: Delivery<C::Frame>) {
        match delivery {
            Delivery::Event(shipment) => {
                let (stream, seq) = (shipment.stream, shipment.seq);
                let Some(position) = self.streams.get(&stream) else {
                    return;
                };
                if seq <= position.cursor {
                    return;
                }
                let frame = shipment.frame.clone();
                let fold = shipment.fold.clone();
                if seq == position.cursor + 1 {
                    self.take(stream, seq, || frame, fold);
                    return;
                }
                // The seam between what was replayed and where the channel was: from the log.
                let held = Held { seq, frame, fold };
                self.work.push_back(Replay {
                    stream,
                    until: Some(held),
                });
            }
            Delivery::Resync { stream, after_seq } => {
                let Some(position) = self.streams.get(&stream) else {
                    return;
                };
                if position.cursor > after_seq {
                    // Already past the channel's position: start a new channel from here.
                    let (cursor, coalesces) = (position.cursor, position.coalescer.is_some());
                    self.hub.join(stream, self.member(coalesces), cursor);
                    return;
                }
                self.resync(stream);
            }
            Delivery::Lost { stream } => self.resync(stream),
        }
    }

    /// Takes the next event of `stream`: queues it to be handed out (after the pending
    /// audience update when it does not carry the counters itself), or folds it.
    fn take(
        &mut self,
        stream: StreamId,
        seq: u64,
        frame: impl FnOnce() -> C::Frame,
        fold: Fold<C::Frame>,
    ) {
        let Some(position) = self.streams.get_mut(&stream) else {
            return;
        };
        let shown = position.cursor;
        position.cursor = seq;
        if let Some(coalescer) = position.coalescer.as_deref_mut() {
            let now = Instant::now();
            match fold {
                Fold::Viewer(update) => {
                    coalescer.fold(seq, update, shown);
                    if let Some(at) = coalescer.due(now) {
                        self.due = earliest(self.due, at);
                    }
                    return;
                }
                Fold::Counted => coalescer.supersede(),
                Fold::Plain => {
                    if let Some((seq, frame)) = coalescer.flush(now) {
                        self.pending
                            .push_back(Next::Audience { stream, seq, frame });
                    }
                }
            }
        }
        let frame = frame();
        self.pending.push_back(Next::Event { stream, seq, frame });
    }

    /// Gives `stream` up: the client must reload its state.
    fn resync(&mut self, stream: StreamId) {
        let Some(after_seq) = self.streams.get(&stream).map(Position::shown) else {
            return;
        };
        self.unsubscribe(stream);
        self.pending
            .push_back(Next::ResyncRequired { stream, after_seq });
    }

    fn replayed(
        &mut self,
        stream: StreamId,
        cursor: u64,
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
            self.resync(stream);
            return;
        }
        let full = page.len() == REPLAY_PAGE;
        let until = replay.until.as_ref().map(|held| held.seq);
        let events: Vec<StreamEvent> = page
            .into_iter()
            .take_while(|event| until.is_none_or(|until| event.seq < until))
            .collect();
        let cursor = events.last().map_or(cursor, |event| event.seq);
        self.take_replayed(stream, &events);
        let reached = until.is_some_and(|until| cursor + 1 >= until);
        if full && !reached {
            self.work.push_front(replay);
        } else if until.is_some() && !reached {
            // The live event is there but the log lacks what precedes it.
            self.resync(stream);
        } else {
            self.finish(stream, cursor, replay);
        }
    }

    /// Takes replayed events. When coalescing, a run of viewers' events is folded into one
    /// update, encoded only for the run's last event (and not at all when an event carrying
    /// the counters ends the run).
    fn take_replayed(&mut self, stream: StreamId, events: &[StreamEvent]) {
        let coalesces = self
            .streams
            .get(&stream)
            .is_some_and(|position| position.coalescer.is_some());
        let classes: Vec<Class> = if coalesces {
            events.iter().map(classify).collect()
        } else {
            Vec::new()
        };
        let codec = self.hub.codec.clone();
        for (i, event) in events.iter().enumerate() {
            let class = classes.get(i).copied().unwrap_or(Class::Plain);
            let covered_by_next =
                matches!(classes.get(i + 1), Some(Class::Viewer | Class::Counted));
            if class == Class::Viewer && covered_by_next {
                continue;
            }
            let fold = Fold::of(class, || {
                codec.encode_audience(event, crate::audience::audience_of(event).as_ref())
            });
            self.take(stream, event.seq, || codec.encode(event), fold);
        }
    }

    /// Takes the live delivery that started a seam replay, now that the seam is filled.
    fn finish(&mut self, stream: StreamId, cursor: u64, replay: Replay<C::Frame>) {
        if let Some(held) = replay.until {
            if held.seq == cursor + 1 {
                self.take(stream, held.seq, || held.frame, held.fold);
            }
        }
    }
}
