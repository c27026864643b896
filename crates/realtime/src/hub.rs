//! The per-instance dispatcher and the per-stream channels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_domain::follow::{follow, FollowError};
use orchestrator_domain::ports::{EventFeed, EventLog, StoreError};
use orchestrator_domain::{event::StreamEvent, values::StreamId};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::audience::{audience_of, classify, Fold};
use crate::subscriber::Subscriber;
use crate::{lock, Codec};

/// Live events buffered between the dispatcher and one channel. Overflow only costs a log read
/// (the channel's follower fills the gap), so this bounds memory, not correctness.
const CHANNEL_FEED: usize = 1024;
/// Pause before a channel retries after the store failed.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// Tuning of a [`Hub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubConfig {
    /// Frames queued per subscriber before it counts as a slow consumer and is cut off.
    pub queue_capacity: usize,
    /// How often the store's epoch is read. A new epoch means the store lost its data (a Redis
    /// that came back empty): every subscription is told to resync rather than left waiting
    /// for events that will never come. One store call per interval, whatever the audience.
    pub epoch_check: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            epoch_check: Duration::from_secs(5),
        }
    }
}

/// What a channel puts in a subscriber's queue. An event is shared by every member: a queue
/// slot is a pointer, not the event's 100 bytes (32 slots are allocated with each queue),
/// and handing it to a member is one reference count.
#[derive(Debug, Clone)]
pub(crate) enum Delivery<F> {
    Event(Arc<Shipment<F>>),
    /// The channel could not continue (its position left the log).
    Resync {
        stream: StreamId,
        after_seq: u64,
    },
    /// The store lost its data (a new epoch): no position of the old one means anything.
    Lost {
        stream: StreamId,
    },
}

/// One event as every member of its channel receives it.
#[derive(Debug)]
pub(crate) struct Shipment<F> {
    pub(crate) stream: StreamId,
    pub(crate) seq: u64,
    pub(crate) frame: F,
    /// How a coalescing member treats it (always `Plain` while none is a member).
    pub(crate) fold: Fold<F>,
}

/// State a subscriber shares with the channels it is a member of: whether one of them found
/// its queue full. No wake-up is needed: a full queue is not empty, so the subscriber is
/// (or will be) awake draining it, and it looks at the flag once it has.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    cut: AtomicBool,
}

impl Shared {
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::Release);
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

pub(crate) struct Member<F> {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<Delivery<F>>,
    pub(crate) shared: Arc<Shared>,
    /// Whether it folds viewers' events (then the channel encodes their audience updates).
    pub(crate) coalesces: bool,
}

/// A channel's members, with how many of them coalesce (so the channel knows without a scan
/// whether to classify events and encode audience updates), and where each one is in the
/// list: a member leaves in constant time, where a scan made 20,000 subscribers closing at
/// once (a shutdown, a network blip) 200 million comparisons under the lock fan-out needs.
struct Members<F> {
    list: Vec<Member<F>>,
    positions: HashMap<u64, usize>,
    coalescing: usize,
}

impl<F: Clone> Members<F> {
    fn new(member: Member<F>) -> Self {
        let mut members = Self {
            list: Vec::new(),
            positions: HashMap::new(),
            coalescing: 0,
        };
        members.push(member);
        members
    }

    /// Adds `member`, in place of the one with its id if there is one.
    fn push(&mut self, member: Member<F>) {
        self.remove(member.id);
        self.coalescing += usize::from(member.coalesces);
        self.positions.insert(member.id, self.list.len());
        self.list.push(member);
    }

    /// Removes the member `id`, if present, by moving the last one into its place.
    fn remove(&mut self, id: u64) {
        let Some(at) = self.positions.remove(&id) else {
            return;
        };
        let gone = self.list.swap_remove(at);
        self.coalescing -= usize::from(gone.coalesces);
        if let Some(moved) = self.list.get(at) {
            self.positions.insert(moved.id, at);
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Hands `delivery` to every member. A member whose queue is full is cut off and dropped
    /// from this channel; its other channels need not check the cut before each send (one
    /// memory access less per delivery): they drop it on their own full queue, and whatever
    /// they still deliver continues its streams without a gap.
    fn fan_out(&mut self, delivery: &Delivery<F>) {
        let mut gone = Vec::new();
        for member in &self.list {
            match member.tx.try_send(delivery.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    member.shared.cut();
                    gone.push(member.id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(member.id),
            }
        }
        for id in gone {
            self.remove(id);
        }
    }
}

struct Channel<F> {
    generation: u64,
    /// Set by the channel's task once its follower is ready to receive.
    feed: Option<mpsc::Sender<StreamEvent>>,
    members: Arc<Mutex<Members<F>>>,
    task: Option<AbortHandle>,
}

type Channels<F> = Arc<Mutex<HashMap<StreamId, Channel<F>>>>;

pub(crate) struct Inner<C: Codec> {
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) codec: Arc<C>,
    config: HubConfig,
    runtime: Handle,
    channels: Channels<C::Frame>,
    ids: AtomicU64,
    dispatcher: AbortHandle,
    epoch_watch: AbortHandle,
}

impl<C: Codec> Drop for Inner<C> {
    fn drop(&mut self) {
        self.dispatcher.abort();
        self.epoch_watch.abort();
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
        let epoch_watch = runtime
            .spawn(watch_epoch(
                log.clone(),
                channels.clone(),
                config.epoch_check,
            ))
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
                epoch_watch,
            }),
        }
    }

    /// A new subscriber (one per client connection) with an empty, bounded queue.
    pub fn subscriber(&self) -> Subscriber<C> {
        let id = self.inner.ids.fetch_add(1, Ordering::Relaxed);
        Subscriber::new(
            self.inner.clone(),
            id,
            self.inner.config.queue_capacity.max(1),
        )
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

/// Reads the store's epoch every `every`; when it changes, ends every channel with
/// [`Delivery::Lost`] (new subscriptions start new channels, on the new epoch).
async fn watch_epoch<F: Clone + Send + 'static>(
    log: Arc<dyn EventLog>,
    channels: Channels<F>,
    every: Duration,
) {
    let mut known: Option<String> = None;
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A store that does not answer has not told us anything; the next tick asks again.
        let Ok(epoch) = log.epoch().await else {
            continue;
        };
        if known
            .replace(epoch.clone())
            .is_some_and(|known| known != epoch)
        {
            tracing::warn!(%epoch, "the store lost its data (new epoch); every subscription resyncs");
            lose_all(&channels);
        }
    }
}

fn lose_all<F: Clone>(channels: &Channels<F>) {
    let lost: Vec<(StreamId, Channel<F>)> = lock(channels).drain().collect();
    for (stream, channel) in lost {
        if let Some(task) = channel.task {
            task.abort();
        }
        lock(&channel.members).fan_out(&Delivery::Lost { stream });
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
    members: Arc<Mutex<Members<C::Frame>>>,
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
                    deliver(&*codec, &members, &event);
                }
                Err(FollowError::ResyncRequired { after_seq }) => {
                    let mut map = lock(&channels);
                    if map.get(&stream).is_some_and(|c| c.generation == generation) {
                        map.remove(&stream);
                    }
                    drop(map);
                    lock(&members).fan_out(&Delivery::Resync { stream, after_seq });
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

/// Encodes `event` once and hands it to every member; classifies it (and encodes the audience
/// update a viewer's event folds into) once too, only while a member coalesces.
fn deliver<C: Codec>(codec: &C, members: &Mutex<Members<C::Frame>>, event: &StreamEvent) {
    let frame = codec.encode(event);
    let mut members = lock(members);
    // Decided under the lock, so a coalescing member never receives an unclassified event.
    let fold = if members.coalescing > 0 {
        Fold::of(classify(event), || {
            codec.encode_audience(event, audience_of(event).as_ref())
        })
    } else {
        Fold::Plain
    };
    members.fan_out(&Delivery::Event(Arc::new(Shipment {
        stream: event.stream_id,
        seq: event.seq,
        frame,
        fold,
    })));
}

impl<C: Codec> Inner<C> {
    pub(crate) fn join(&self, stream: StreamId, member: Member<C::Frame>, current_seq: u64) {
        let mut map = lock(&self.channels);
        if let Some(channel) = map.get(&stream) {
            lock(&channel.members).push(member);
            return;
        }
        let generation = self.ids.fetch_add(1, Ordering::Relaxed);
        let members = Arc::new(Mutex::new(Members::new(member)));
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

    pub(crate) fn leave(&self, stream: StreamId, member: u64) {
        let mut map = lock(&self.channels);
        let Some(channel) = map.get(&stream) else {
            return;
        };
        let empty = {
            let mut members = lock(&channel.members);
            members.remove(member);
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Joined {
        rx: mpsc::Receiver<Delivery<&'static str>>,
        shared: Arc<Shared>,
    }

    fn member(id: u64, coalesces: bool, capacity: usize) -> (Member<&'static str>, Joined) {
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared::default());
        let member = Member {
            id,
            tx,
            shared: shared.clone(),
            coalesces,
        };
        (member, Joined { rx, shared })
    }

    fn channel_of(ids: &[u64]) -> (Members<&'static str>, Vec<Joined>) {
        let mut joined = Vec::new();
        let mut members: Option<Members<&'static str>> = None;
        for &id in ids {
            let (member, one) = member(id, id % 2 == 0, 4);
            joined.push(one);
            match &mut members {
                Some(members) => members.push(member),
                None => members = Some(Members::new(member)),
            }
        }
        (members.unwrap(), joined)
    }

    fn lost() -> Delivery<&'static str> {
        Delivery::Lost {
            stream: StreamId::from_uuid(uuid::Uuid::nil()),
        }
    }

    fn received(joined: &mut Joined) -> bool {
        joined.rx.try_recv().is_ok()
    }

    #[test]
    fn a_member_that_leaves_gets_nothing_more_and_everyone_else_still_does() {
        let (mut members, mut joined) = channel_of(&[1, 2, 3, 4, 5]);

        members.remove(2);
        members.remove(5);
        members.remove(9);
        members.fan_out(&lost());

        let got: Vec<bool> = joined.iter_mut().map(received).collect();
        assert_eq!(got, [true, false, true, true, false]);
        assert_eq!(members.coalescing, 1, "of 2 and 4, only 4 is left");
        for (at, member) in members.list.iter().enumerate() {
            assert_eq!(members.positions[&member.id], at);
        }
    }

    #[test]
    fn joining_again_replaces_the_member_instead_of_doubling_it() {
        let (mut members, mut joined) = channel_of(&[1, 2]);
        let (again, mut rejoined) = member(2, false, 4);

        members.push(again);
        members.fan_out(&lost());

        assert_eq!(members.list.len(), 2);
        assert_eq!(members.coalescing, 0);
        assert!(received(&mut joined[0]));
        assert!(!received(&mut joined[1]), "the replaced member's queue");
        assert!(received(&mut rejoined));
    }

    #[test]
    fn a_member_whose_queue_is_full_is_cut_off_and_dropped_and_the_last_one_leaves_empty() {
        let (full, mut full_joined) = member(7, false, 1);
        let mut members = Members::new(full);
        let (other, mut other_joined) = member(8, true, 4);
        members.push(other);

        members.fan_out(&lost());
        members.fan_out(&lost());

        assert!(full_joined.shared.is_cut());
        assert!(!other_joined.shared.is_cut());
        assert_eq!(members.list.len(), 1);
        assert!(received(&mut full_joined), "what fitted was delivered");
        assert!(received(&mut other_joined) && received(&mut other_joined));
        members.remove(8);
        assert!(members.is_empty());
        assert_eq!(members.coalescing, 0);
    }
}
