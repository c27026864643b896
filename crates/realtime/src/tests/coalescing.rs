//! Coalescing subscriptions: viewers' joins and leaves fold into audience updates.
//!
//! Timed tests run on tokio's paused clock: it only moves when every task waits, so each change
//! below is handed out before the next one is made, and intervals are exact.

use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::subscriber::REPLAY_PAGE;

const INTERVAL: Duration = Duration::from_secs(1);

/// Coalesces every `INTERVAL`, from `after_seq` (or from now).
fn coalescing(after_seq: Option<u64>) -> Subscription<'static> {
    let millis = u64::try_from(INTERVAL.as_millis()).unwrap();
    Subscription {
        after_seq,
        epoch: None,
        audience_interval: Some(AudienceInterval::from_millis(millis).unwrap()),
    }
}

/// A change to a stream, as the store would record it.
#[derive(Debug, Clone, Copy)]
enum Change {
    ViewerJoins,
    ViewerLeaves,
    HostJoins,
    HostLeaves,
    /// A viewer's media session changed (carries the counters, is never folded).
    ViewerUpdated,
    /// An operator's PATCH (no counters).
    StreamUpdated,
}

/// One stream and its audience counters, kept the way the store keeps them.
struct Show {
    log: Arc<FakeLog>,
    stream: StreamId,
    audience: Audience,
    /// The counters after each seq (index 0: before the first event).
    history: Vec<Audience>,
}

impl Show {
    fn new(log: &Arc<FakeLog>) -> Self {
        Self {
            log: log.clone(),
            stream: new_stream(),
            audience: Audience::default(),
            history: vec![Audience::default()],
        }
    }

    fn apply(&mut self, change: Change) -> u64 {
        let a = &mut self.audience;
        let (kind, role) = match change {
            Change::ViewerJoins => {
                a.active += 1;
                a.viewers += 1;
                a.total_joined += 1;
                (EventType::ParticipantJoined, "viewer")
            }
            Change::ViewerLeaves => {
                a.active -= 1;
                a.viewers -= 1;
                (EventType::ParticipantLeft, "viewer")
            }
            Change::HostJoins => {
                a.active += 1;
                a.hosts += 1;
                a.total_joined += 1;
                (EventType::ParticipantJoined, "host")
            }
            Change::HostLeaves => {
                a.active -= 1;
                a.hosts -= 1;
                (EventType::ParticipantLeft, "host")
            }
            Change::ViewerUpdated => (EventType::ParticipantUpdated, "viewer"),
            Change::StreamUpdated => {
                self.history.push(self.audience);
                return self.log.append(self.stream);
            }
        };
        self.history.push(self.audience);
        let data = json!({
            "participant": {"identity": format!("p{}", self.history.len()), "role": role},
            "audience": self.audience,
        });
        self.log.append_with(self.stream, kind, data)
    }

    /// An audience update for `seq` with the counters after it.
    fn update(&self, seq: u64) -> Frame {
        Frame::Audience(seq, Some(self.history[usize::try_from(seq).unwrap()]))
    }
}

/// Everything `subscriber` hands out until nothing more comes for 10 (virtual) seconds, with
/// the instant it came; an audience update's seq must match its frame's.
async fn drain(subscriber: &mut Subscriber<Arc<SeqCodec>>) -> Vec<(Instant, Frame)> {
    let mut seen = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await {
        let frame = match next {
            Next::Event { seq, frame, .. } => {
                assert_eq!(frame, Frame::Event(seq));
                frame
            }
            Next::Audience { seq, frame, .. } => {
                assert!(
                    matches!(frame, Frame::Audience(s, _) if s == seq),
                    "{frame:?}"
                );
                frame
            }
            other @ (Next::ResyncRequired { .. } | Next::Unavailable { .. } | Next::Overflow) => {
                panic!("expected an event or an update, got {other:?}")
            }
        };
        seen.push((Instant::now(), frame));
    }
    seen
}

fn frames(seen: &[(Instant, Frame)]) -> Vec<Frame> {
    seen.iter().map(|(_, frame)| frame.clone()).collect()
}

/// Makes `changes` on `show`, each `(delay, change)` after the previous one, in a task.
fn play(mut show: Show, changes: Vec<(Duration, Change)>) -> tokio::task::JoinHandle<Show> {
    tokio::spawn(async move {
        for (delay, change) in changes {
            tokio::time::sleep(delay).await;
            show.apply(change);
        }
        show
    })
}

#[tokio::test(start_paused = true)]
async fn hosts_and_stream_events_arrive_one_by_one_in_order_between_audience_updates() {
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 64);
    let show = Show::new(&log);
    let stream = show.stream;
    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(stream, 0, coalescing(None))
        .await
        .unwrap();
    let mut everything = hub.subscriber();
    everything.subscribe(stream, 0, from_now()).await.unwrap();
    let ms = Duration::from_millis;

    let script = play(
        show,
        vec![
            (ms(10), Change::HostJoins),     // 1: one by one
            (ms(10), Change::ViewerJoins),   // 2: the first update goes out at once
            (ms(10), Change::ViewerJoins),   // 3: folded, then sent before 4 (no counters)
            (ms(10), Change::StreamUpdated), // 4
            (ms(10), Change::ViewerLeaves),  // 5: folded, made redundant by 6
            (ms(10), Change::ViewerUpdated), // 6: one by one, with the counters
            (ms(10), Change::ViewerJoins),   // 7: sent one interval after 3's update
            (ms(2000), Change::HostLeaves),  // 8
        ],
    );
    let seen = drain(&mut dashboard).await;
    let show = script.await.unwrap();

    assert_eq!(
        frames(&seen),
        [
            Frame::Event(1),
            show.update(2),
            show.update(3),
            Frame::Event(4),
            Frame::Event(6),
            show.update(7),
            Frame::Event(8),
        ]
    );
    assert_eq!(
        seen[5].0 - seen[2].0,
        INTERVAL,
        "7's update waits out the interval"
    );
    let all: Vec<Frame> = frames(&drain(&mut everything).await);
    assert_eq!(all, (1..=8).map(Frame::Event).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn at_most_one_update_per_interval_and_the_latest_counts_win() {
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 64);
    let show = Show::new(&log);
    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(show.stream, 0, coalescing(None))
        .await
        .unwrap();

    let every_100_ms = (Duration::from_millis(100), Change::ViewerJoins);
    let script = play(show, vec![every_100_ms; 30]);
    let seen = drain(&mut dashboard).await;
    let show = script.await.unwrap();

    assert!(
        seen.len() < 6,
        "3 s of joins, at most one update a second: {seen:?}"
    );
    for pair in seen.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= INTERVAL, "{pair:?}");
    }
    assert_eq!(seen.last().map(|(_, frame)| frame), Some(&show.update(30)));
    let seqs: Vec<u64> = frames(&seen)
        .iter()
        .map(|frame| match frame {
            Frame::Audience(seq, _) => *seq,
            Frame::Event(seq) => panic!("viewer event {seq} was not folded"),
        })
        .collect();
    assert!(seqs.is_sorted(), "{seqs:?}");
}

#[tokio::test(start_paused = true)]
async fn resuming_from_an_updates_seq_misses_nothing_and_repeats_nothing() {
    use Change::{HostJoins, StreamUpdated, ViewerJoins, ViewerLeaves, ViewerUpdated};
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 64);
    let mut show = Show::new(&log);
    let changes = [
        HostJoins,
        ViewerJoins,
        ViewerJoins,
        StreamUpdated,
        ViewerLeaves,
        ViewerUpdated,
        ViewerJoins,
        ViewerJoins,
    ];
    for change in changes {
        show.apply(change);
    }

    let mut from_2 = hub.subscriber();
    from_2
        .subscribe(show.stream, 8, coalescing(Some(2)))
        .await
        .unwrap();
    let mut from_7 = hub.subscriber();
    from_7
        .subscribe(show.stream, 8, coalescing(Some(7)))
        .await
        .unwrap();

    // 3 is folded into the update sent before 4 (which has no counters); 5 is made redundant
    // by 6 (which has); 7 and 8 fold into one update.
    assert_eq!(
        frames(&drain(&mut from_2).await),
        [
            show.update(3),
            Frame::Event(4),
            Frame::Event(6),
            show.update(8)
        ]
    );
    assert_eq!(frames(&drain(&mut from_7).await), [show.update(8)]);
}

#[tokio::test(start_paused = true)]
async fn a_replayed_backlog_of_viewers_folds_into_one_update_encoded_once_per_page() {
    let log = FakeLog::new(5000);
    let (hub, codec) = hub(&log, 64);
    let mut show = Show::new(&log);
    let backlog = 2 * REPLAY_PAGE as u64 + 200;
    for _ in 0..backlog {
        show.apply(Change::ViewerJoins);
    }

    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(show.stream, backlog, coalescing(Some(0)))
        .await
        .unwrap();

    assert_eq!(frames(&drain(&mut dashboard).await), [show.update(backlog)]);
    assert_eq!(codec.audience_encodes.load(Ordering::Relaxed), 3);
    assert_eq!(codec.encodes.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn each_update_is_encoded_once_however_many_subscribers_coalesce() {
    let log = FakeLog::new(100);
    let (hub, codec) = hub(&log, 64);
    let mut show = Show::new(&log);
    let mut dashboards: Vec<_> = (0..10).map(|_| hub.subscriber()).collect();
    for dashboard in &mut dashboards {
        dashboard
            .subscribe(show.stream, 0, coalescing(None))
            .await
            .unwrap();
    }
    let mut plain = hub.subscriber();
    plain.subscribe(show.stream, 0, from_now()).await.unwrap();

    for _ in 0..5 {
        show.apply(Change::ViewerJoins);
    }
    show.apply(Change::HostJoins);
    for dashboard in &mut dashboards {
        assert_eq!(
            frames(&drain(dashboard).await).last(),
            Some(&Frame::Event(6))
        );
    }
    assert_eq!(frames(&drain(&mut plain).await).len(), 6);

    assert_eq!(codec.audience_encodes.load(Ordering::Relaxed), 5);
    assert_eq!(codec.encodes.load(Ordering::Relaxed), 6);
}

#[tokio::test(start_paused = true)]
async fn no_update_is_encoded_once_the_last_coalescing_subscriber_is_gone() {
    let log = FakeLog::new(100);
    let (hub, codec) = hub(&log, 64);
    let mut show = Show::new(&log);
    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(show.stream, 0, coalescing(None))
        .await
        .unwrap();
    let mut plain = hub.subscriber();
    plain.subscribe(show.stream, 0, from_now()).await.unwrap();

    dashboard.unsubscribe(show.stream);
    for _ in 0..3 {
        show.apply(Change::ViewerJoins);
    }

    assert_eq!(frames(&drain(&mut plain).await).len(), 3);
    assert_eq!(codec.audience_encodes.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn an_update_not_yet_sent_leaves_the_resume_position_at_what_was_handed_out() {
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 64);
    let mut show = Show::new(&log);
    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(show.stream, 0, coalescing(None))
        .await
        .unwrap();
    show.apply(Change::ViewerJoins);
    assert_eq!(next(&mut dashboard).await, audience_next(&show, 1));

    show.apply(Change::ViewerJoins);
    let early = tokio::time::timeout(INTERVAL / 2, dashboard.next()).await;

    assert!(
        early.is_err(),
        "2's update waits for the interval: {early:?}"
    );
    assert_eq!(
        dashboard.positions().collect::<Vec<_>>(),
        [(show.stream, 1)]
    );
    assert_eq!(next(&mut dashboard).await, audience_next(&show, 2));
    assert_eq!(
        dashboard.positions().collect::<Vec<_>>(),
        [(show.stream, 2)]
    );
}

fn audience_next(show: &Show, seq: u64) -> Next<Frame> {
    Next::Audience {
        stream: show.stream,
        seq,
        frame: show.update(seq),
    }
}

#[tokio::test(start_paused = true)]
async fn a_cut_off_coalescing_subscriber_gets_its_pending_update_then_resumes_from_it() {
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 4);
    let mut show = Show::new(&log);
    let mut slow = hub.subscriber();
    slow.subscribe(show.stream, 0, coalescing(None))
        .await
        .unwrap();
    let mut fast = hub.subscriber();
    fast.subscribe(show.stream, 0, from_now()).await.unwrap();
    show.apply(Change::ViewerJoins);
    assert_eq!(next(&mut slow).await, audience_next(&show, 1));
    assert_eq!(seqs(&mut fast, 1).await, [1]);

    for seq in 2..=11 {
        show.apply(Change::ViewerJoins);
        assert_eq!(seqs(&mut fast, 1).await, [seq]);
    }

    // Its queue held 2..=5: folded into an update handed out before the cut.
    assert_eq!(next(&mut slow).await, audience_next(&show, 5));
    assert_eq!(next(&mut slow).await, Next::Overflow);
    assert_eq!(slow.positions().collect::<Vec<_>>(), [(show.stream, 5)]);
    let mut resumed = hub.subscriber();
    resumed
        .subscribe(show.stream, 11, coalescing(Some(5)))
        .await
        .unwrap();
    assert_eq!(frames(&drain(&mut resumed).await), [show.update(11)]);
}

#[tokio::test(start_paused = true)]
async fn a_viewer_event_without_counters_still_moves_the_position() {
    let log = FakeLog::new(100);
    let (hub, _) = hub(&log, 64);
    let stream = new_stream();
    let mut dashboard = hub.subscriber();
    dashboard
        .subscribe(stream, 0, coalescing(None))
        .await
        .unwrap();

    let data = json!({"participant": {"identity": "v", "role": "viewer"}});
    log.append_with(stream, EventType::ParticipantJoined, data);

    assert_eq!(
        frames(&drain(&mut dashboard).await),
        [Frame::Audience(1, None)]
    );
    assert_eq!(dashboard.positions().collect::<Vec<_>>(), [(stream, 1)]);
}

#[test]
fn the_audience_interval_is_between_50_ms_and_a_minute() {
    for millis in [0, 49, 60_001] {
        assert_eq!(
            AudienceInterval::from_millis(millis),
            Err(InvalidAudienceInterval(millis))
        );
    }
    for millis in [50, 1000, 60_000] {
        let interval = AudienceInterval::from_millis(millis).unwrap();
        assert_eq!(interval.as_millis(), millis);
        assert_eq!(interval.as_duration(), Duration::from_millis(millis));
    }
}
