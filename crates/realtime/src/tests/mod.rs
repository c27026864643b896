use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use orchestrator_domain::event::EventType;
use tokio::sync::broadcast;
use uuid::Uuid;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use orchestrator_domain::ports::{EventFeed, EventLog, StoreError};
use orchestrator_domain::{event::StreamEvent, values::StreamId};

use super::*;

mod coalescing;

/// An event log keeping the last `keep` events per stream, with a live broadcast feed.
struct FakeLog {
    events: Mutex<Vec<StreamEvent>>,
    keep: usize,
    live: broadcast::Sender<StreamEvent>,
    epoch: Mutex<String>,
}

impl FakeLog {
    fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::default(),
            keep,
            live: broadcast::channel(4096).0,
            epoch: Mutex::new("epoch-1".into()),
        })
    }

    /// The store lost everything: no event, a new epoch.
    fn lose_data(&self) {
        self.events.lock().unwrap().clear();
        *self.epoch.lock().unwrap() = Uuid::new_v4().to_string();
    }

    /// Appends a `stream_updated` event without data.
    fn append(&self, stream: StreamId) -> u64 {
        self.append_with(stream, EventType::StreamUpdated, serde_json::Value::Null)
    }

    fn append_with(&self, stream: StreamId, kind: EventType, data: serde_json::Value) -> u64 {
        let mut events = self.events.lock().unwrap();
        let seq = events
            .iter()
            .filter(|e| e.stream_id == stream)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0)
            + 1;
        let event = StreamEvent {
            id: Uuid::new_v4(),
            seq,
            kind,
            stream_id: stream,
            timestamp: Utc::now(),
            data,
            instance_id: "test".into(),
        };
        events.push(event.clone());
        let count = events.iter().filter(|e| e.stream_id == stream).count();
        if count > self.keep {
            let oldest = seq - self.keep as u64;
            events.retain(|e| e.stream_id != stream || e.seq > oldest);
        }
        let _ = self.live.send(event);
        seq
    }
}

#[async_trait]
impl EventLog for FakeLog {
    async fn read_after(
        &self,
        stream: StreamId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StreamEvent>, StoreError> {
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.stream_id == stream && e.seq > after_seq)
            .take(limit)
            .cloned()
            .collect())
    }

    fn subscribe(&self) -> EventFeed {
        let rx = self.live.subscribe();
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((event, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    async fn epoch(&self) -> Result<String, StoreError> {
        Ok(self.epoch.lock().unwrap().clone())
    }
}

/// Frames tests can read; the counters count calls.
#[derive(Default)]
struct SeqCodec {
    encodes: AtomicU64,
    audience_encodes: AtomicU64,
}

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Event(u64),
    Audience(u64, Option<Audience>),
}

impl Codec for Arc<SeqCodec> {
    type Frame = Frame;

    fn encode(&self, event: &StreamEvent) -> Frame {
        self.encodes.fetch_add(1, Ordering::Relaxed);
        Frame::Event(event.seq)
    }

    fn encode_audience(&self, last: &StreamEvent, audience: Option<&Audience>) -> Frame {
        self.audience_encodes.fetch_add(1, Ordering::Relaxed);
        Frame::Audience(last.seq, audience.copied())
    }
}

/// Follows from `seq`.
fn after(seq: u64) -> Subscription<'static> {
    Subscription {
        after_seq: Some(seq),
        ..Subscription::default()
    }
}

/// Follows from now.
fn from_now() -> Subscription<'static> {
    Subscription::default()
}

fn hub(log: &Arc<FakeLog>, queue_capacity: usize) -> (Hub<Arc<SeqCodec>>, Arc<SeqCodec>) {
    let codec = Arc::new(SeqCodec::default());
    let config = HubConfig {
        queue_capacity,
        epoch_check: Duration::from_millis(20),
    };
    let hub = Hub::new(log.clone(), codec.clone(), config);
    (hub, codec)
}

fn new_stream() -> StreamId {
    StreamId::from_uuid(Uuid::new_v4())
}

async fn next<C: Codec>(subscriber: &mut Subscriber<C>) -> Next<C::Frame> {
    tokio::time::timeout(Duration::from_secs(5), subscriber.next())
        .await
        .expect("something to hand out within 5 s")
}

async fn seqs(subscriber: &mut Subscriber<Arc<SeqCodec>>, n: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for _ in 0..n {
        let next = next(subscriber).await;
        let Next::Event { seq, frame, .. } = next else {
            panic!("expected an event, got {next:?}");
        };
        assert_eq!(frame, Frame::Event(seq));
        seqs.push(seq);
    }
    seqs
}

#[tokio::test]
async fn resuming_replays_the_missed_events_then_continues_live_without_duplicates() {
    let log = FakeLog::new(100);
    let stream = new_stream();
    for _ in 0..3 {
        log.append(stream);
    }
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();

    let subscribed = subscriber.subscribe(stream, 3, after(1)).await.unwrap();
    assert_eq!(subscribed.after_seq, 1);
    log.append(stream);
    log.append(stream);

    assert_eq!(seqs(&mut subscriber, 4).await, [2, 3, 4, 5]);
}

#[tokio::test]
async fn without_a_position_only_new_events_are_delivered() {
    let log = FakeLog::new(100);
    let stream = new_stream();
    log.append(stream);
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();

    subscriber.subscribe(stream, 1, from_now()).await.unwrap();
    log.append(stream);

    assert_eq!(seqs(&mut subscriber, 1).await, [2]);
}

#[tokio::test]
async fn each_event_is_encoded_once_however_many_subscribers_watch() {
    let log = FakeLog::new(100);
    let stream = new_stream();
    let (hub, codec) = hub(&log, 16);
    let mut subscribers: Vec<_> = (0..10).map(|_| hub.subscriber()).collect();
    for subscriber in &mut subscribers {
        subscriber.subscribe(stream, 0, from_now()).await.unwrap();
    }

    log.append(stream);
    log.append(stream);
    for subscriber in &mut subscribers {
        assert_eq!(seqs(subscriber, 2).await, [1, 2]);
    }

    assert_eq!(codec.encodes.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn when_the_store_loses_its_data_every_live_subscription_is_told_to_resync() {
    let log = FakeLog::new(100);
    let (first, second) = (new_stream(), new_stream());
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();
    subscriber.subscribe(first, 0, from_now()).await.unwrap();
    subscriber.subscribe(second, 0, from_now()).await.unwrap();
    log.append(first);
    assert_eq!(seqs(&mut subscriber, 1).await, [1]);
    // Let the hub learn the epoch before it changes.
    tokio::time::sleep(Duration::from_millis(60)).await;

    log.lose_data();

    let mut told = vec![next(&mut subscriber).await, next(&mut subscriber).await];
    told.sort_by_key(|next| format!("{next:?}"));
    let mut expected = vec![
        Next::ResyncRequired {
            stream: first,
            after_seq: 1,
        },
        Next::ResyncRequired {
            stream: second,
            after_seq: 0,
        },
    ];
    expected.sort_by_key(|next| format!("{next:?}"));
    assert_eq!(told, expected);
    assert_eq!(subscriber.positions().count(), 0, "both streams given up");
    assert_eq!(hub.watched_streams(), 0);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_cut_off_without_slowing_the_others() {
    let log = FakeLog::new(1000);
    let stream = new_stream();
    let (hub, _) = hub(&log, 4);
    let mut slow = hub.subscriber();
    let mut fast = hub.subscriber();
    slow.subscribe(stream, 0, from_now()).await.unwrap();
    fast.subscribe(stream, 0, from_now()).await.unwrap();

    for round in 0..20u64 {
        log.append(stream);
        assert_eq!(seqs(&mut fast, 1).await, [round + 1]);
    }

    let delivered = seqs(&mut slow, 4).await;
    assert_eq!(
        delivered,
        [1, 2, 3, 4],
        "what was queued is still handed out"
    );
    assert_eq!(next(&mut slow).await, Next::Overflow);
    assert_eq!(slow.positions().collect::<Vec<_>>(), [(stream, 4)]);

    // Resuming from the last seq received misses nothing.
    let mut resumed = hub.subscriber();
    resumed.subscribe(stream, 20, after(4)).await.unwrap();
    assert_eq!(seqs(&mut resumed, 16).await, (5..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_position_the_log_no_longer_holds_requires_a_resync() {
    let log = FakeLog::new(2);
    let stream = new_stream();
    for _ in 0..5 {
        log.append(stream);
    }
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();

    subscriber.subscribe(stream, 5, after(1)).await.unwrap();

    assert_eq!(
        next(&mut subscriber).await,
        Next::ResyncRequired {
            stream,
            after_seq: 1
        }
    );
}

#[tokio::test]
async fn a_position_ahead_of_the_stream_or_from_another_epoch_requires_a_resync() {
    let log = FakeLog::new(10);
    let stream = new_stream();
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();

    let ahead = subscriber.subscribe(stream, 3, after(7)).await;
    let other_epoch = subscriber
        .subscribe(
            stream,
            3,
            Subscription {
                epoch: Some("old"),
                ..after(1)
            },
        )
        .await;

    assert_eq!(ahead, Err(SubscribeError::ResyncRequired));
    assert_eq!(other_epoch, Err(SubscribeError::ResyncRequired));
}

#[tokio::test]
async fn unsubscribing_stops_delivery_and_frees_the_channel() {
    let log = FakeLog::new(10);
    let (a, b) = (new_stream(), new_stream());
    let (hub, _) = hub(&log, 16);
    let mut subscriber = hub.subscriber();
    subscriber.subscribe(a, 0, from_now()).await.unwrap();
    subscriber.subscribe(b, 0, from_now()).await.unwrap();
    assert_eq!(hub.watched_streams(), 2);

    assert!(subscriber.unsubscribe(a));
    log.append(a);
    log.append(b);

    let next = next(&mut subscriber).await;
    let Next::Event { stream, seq, .. } = next else {
        panic!("expected b's event, got {next:?}");
    };
    assert_eq!((stream, seq), (b, 1));
    assert_eq!(hub.watched_streams(), 1);
    drop(subscriber);
    assert_eq!(hub.watched_streams(), 0);
}
