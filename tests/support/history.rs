//! A history checker for the chaos and hostile suites: it records every acknowledged mutation
//! and every event each subscriber was delivered, then checks the history against the store's
//! own log and final state.
//!
//! Per stream it asserts that
//! - each subscriber saw seqs with no gap, no duplicate and no reordering, across its
//!   reconnections (a resume from `after_seq` expects `after_seq + 1` next), and reached the
//!   stream's final seq (no event lost at the end);
//! - what a subscriber was delivered at a seq is what the log holds at that seq;
//! - the log itself is gapless from 1 to the final seq;
//! - every acknowledged write is in the log, at the seq its answer named, with the same type
//!   and metadata patch (no acknowledged write lost), and no two answers named the same seq;
//! - the final metadata is what the log's creations and merge patches add up to.
//!
//! The log is whatever an auditor read from the store after the run (a replay from seq 0):
//! [`History::check`] takes it as the truth the rest must agree with.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

/// One event as the checker compares it: its type and the metadata it carries (the whole
/// metadata of a `stream_created`, the merge patch of a `stream_updated`, else nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The event type (`stream_created`, `stream_updated`, `participant_joined`, …).
    pub kind: String,
    /// Metadata (creation) or metadata patch (update), when the event carries one.
    pub metadata: Option<Value>,
}

impl Change {
    /// A change of `kind` carrying `metadata`.
    pub fn new(kind: &str, metadata: Option<Value>) -> Self {
        Self {
            kind: kind.to_owned(),
            metadata,
        }
    }

    /// Reads an event as the REST and WebSocket APIs encode it (`{type, data, …}`).
    pub fn from_event_json(event: &Value) -> Self {
        let kind = event["type"].as_str().unwrap_or_default();
        let metadata = match kind {
            "stream_created" => event["data"].get("metadata").cloned(),
            "stream_updated" => event["data"].get("metadataPatch").cloned(),
            _ => None,
        };
        Self::new(kind, metadata)
    }
}

/// What the store answered after the run: a stream's latest seq and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalState {
    /// The stream's latest seq.
    pub seq: u64,
    /// Its metadata.
    pub metadata: Value,
}

/// The figures of a checked history (for RELIABILITY.md) and every violation found.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// Acknowledged mutations recorded.
    pub acknowledged: usize,
    /// Acknowledged mutations missing from the log (or different there).
    pub lost_writes: usize,
    /// Events delivered to subscribers, all together.
    pub delivered: usize,
    /// Events a subscriber should have seen and did not (gaps, and a short end).
    pub lost_events: usize,
    /// Deliveries of a seq a subscriber already had.
    pub duplicates: usize,
    /// Resumptions after a reconnection.
    pub resumes: usize,
    /// Every violation, in words.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Panics listing the violations, if any.
    pub fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "the history is inconsistent ({} violations):\n{}\n{self}",
            self.violations.len(),
            self.violations
                .iter()
                .take(50)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acknowledged writes {}, lost {}; events delivered {}, lost {}, duplicated {}; \
             resumes {}",
            self.acknowledged,
            self.lost_writes,
            self.delivered,
            self.lost_events,
            self.duplicates,
            self.resumes
        )
    }
}

/// A recorder shared by every writer and subscriber task of a run (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct History {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    acks: Vec<(String, u64, Change)>,
    /// (subscriber, stream) → what it was told, in order.
    feeds: BTreeMap<(String, String), Vec<Entry>>,
}

#[derive(Debug, Clone)]
enum Entry {
    Resumed { after_seq: u64 },
    Delivered { seq: u64, change: Change },
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn record<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A write was acknowledged (a 2xx answer) naming `seq` as the stream's seq after it.
    pub fn acknowledged(&self, stream: &str, seq: u64, change: Change) {
        self.record(|r| r.acks.push((stream.to_owned(), seq, change)));
    }

    /// `subscriber` (re)subscribed to `stream` asking for the events after `after_seq`.
    pub fn resumed(&self, subscriber: &str, stream: &str, after_seq: u64) {
        self.record(|r| {
            r.feeds
                .entry((subscriber.to_owned(), stream.to_owned()))
                .or_default()
                .push(Entry::Resumed { after_seq });
        });
    }

    /// `subscriber` was delivered the event `seq` of `stream`.
    pub fn delivered(&self, subscriber: &str, stream: &str, seq: u64, change: Change) {
        self.record(|r| {
            r.feeds
                .entry((subscriber.to_owned(), stream.to_owned()))
                .or_default()
                .push(Entry::Delivered { seq, change });
        });
    }

    /// Acknowledged writes recorded so far.
    pub fn acknowledged_count(&self) -> usize {
        self.record(|r| r.acks.len())
    }

    /// The last seq `subscriber` was delivered of `stream` (0 if none).
    pub fn last_delivered(&self, subscriber: &str, stream: &str) -> u64 {
        self.record(|r| {
            r.feeds
                .get(&(subscriber.to_owned(), stream.to_owned()))
                .and_then(|entries| {
                    entries.iter().rev().find_map(|entry| match entry {
                        Entry::Delivered { seq, .. } => Some(*seq),
                        Entry::Resumed { .. } => None,
                    })
                })
                .unwrap_or(0)
        })
    }

    /// Checks everything recorded against `log` (per stream, every event from seq 1, as an
    /// auditor replayed it) and `finals` (per stream, the store's answer after the run).
    pub fn check(
        &self,
        log: &HashMap<String, Vec<(u64, Change)>>,
        finals: &HashMap<String, FinalState>,
    ) -> Verdict {
        let recorded = self.record(|r| (r.acks.clone(), r.feeds.clone()));
        let (acks, feeds) = recorded;
        let mut verdict = Verdict {
            acknowledged: acks.len(),
            ..Verdict::default()
        };
        let mut logs: HashMap<&str, BTreeMap<u64, &Change>> = HashMap::new();
        for (stream, events) in log {
            let final_state = finals.get(stream);
            logs.insert(stream, check_log(stream, events, final_state, &mut verdict));
        }
        check_acks(&acks, &logs, &mut verdict);
        for ((subscriber, stream), entries) in &feeds {
            let final_seq = finals.get(stream).map(|f| f.seq);
            let log = logs.get(stream.as_str());
            check_feed(subscriber, stream, entries, log, final_seq, &mut verdict);
        }
        verdict
    }
}

/// The log must be gapless from 1 to the final seq, and add up to the final metadata.
fn check_log<'a>(
    stream: &str,
    events: &'a [(u64, Change)],
    final_state: Option<&FinalState>,
    verdict: &mut Verdict,
) -> BTreeMap<u64, &'a Change> {
    let mut by_seq = BTreeMap::new();
    let mut metadata = Value::Object(Map::new());
    for (index, (seq, change)) in events.iter().enumerate() {
        let expected = index as u64 + 1;
        if *seq != expected {
            verdict.violations.push(format!(
                "stream {stream}: the log has seq {seq} where {expected} belongs"
            ));
        }
        match (change.kind.as_str(), &change.metadata) {
            ("stream_created", Some(initial)) => metadata = initial.clone(),
            ("stream_updated", Some(patch)) => merge_patch(&mut metadata, patch),
            _ => {}
        }
        by_seq.insert(*seq, change);
    }
    let Some(final_state) = final_state else {
        verdict.violations.push(format!(
            "stream {stream}: no final state to compare the log with"
        ));
        return by_seq;
    };
    let last = events.last().map_or(0, |(seq, _)| *seq);
    if last != final_state.seq {
        verdict.violations.push(format!(
            "stream {stream}: the log ends at seq {last}, the stream says {}",
            final_state.seq
        ));
    }
    if metadata != final_state.metadata {
        verdict.violations.push(format!(
            "stream {stream}: the final metadata {} is not what the log adds up to: {metadata}",
            final_state.metadata
        ));
    }
    by_seq
}

/// Every acknowledged write is in the log as answered; no two answers share a seq.
fn check_acks(
    acks: &[(String, u64, Change)],
    logs: &HashMap<&str, BTreeMap<u64, &Change>>,
    verdict: &mut Verdict,
) {
    let mut answered: HashMap<(&str, u64), usize> = HashMap::new();
    for (stream, seq, change) in acks {
        let log = logs.get(stream.as_str());
        if log.is_some_and(|log| log.get(seq) != Some(&change) && repeated(log, *seq, change)) {
            continue;
        }
        *answered.entry((stream, *seq)).or_default() += 1;
        match log.and_then(|log| log.get(seq)) {
            Some(logged) if *logged == change => {}
            Some(logged) => {
                verdict.lost_writes += 1;
                verdict.violations.push(format!(
                    "stream {stream}: the write acknowledged at seq {seq} ({change:?}) is not \
                     what the log holds there ({logged:?})"
                ));
            }
            None => {
                verdict.lost_writes += 1;
                verdict.violations.push(format!(
                    "stream {stream}: the write acknowledged at seq {seq} ({change:?}) is \
                     missing from the log"
                ));
            }
        }
    }
    for ((stream, seq), count) in answered {
        if count > 1 {
            verdict.violations.push(format!(
                "stream {stream}: {count} acknowledged writes were answered with seq {seq}"
            ));
        }
    }
}

/// One subscriber's view of one stream: consecutive seqs across resumptions, agreeing with
/// the log, up to the final seq.
fn check_feed(
    subscriber: &str,
    stream: &str,
    entries: &[Entry],
    log: Option<&BTreeMap<u64, &Change>>,
    final_seq: Option<u64>,
    verdict: &mut Verdict,
) {
    let mut seen = std::collections::HashSet::new();
    let mut expected: Option<u64> = None;
    let mut last = None;
    let who = format!("subscriber {subscriber} of stream {stream}");
    for entry in entries {
        match entry {
            Entry::Resumed { after_seq } => {
                if expected.is_some() {
                    verdict.resumes += 1;
                }
                if let Some(last) = last.filter(|last| last != after_seq) {
                    verdict.violations.push(format!(
                        "{who} resumed after seq {after_seq}, but its last event was {last}"
                    ));
                }
                expected = Some(after_seq + 1);
            }
            Entry::Delivered { seq, change } => {
                verdict.delivered += 1;
                let next = *expected.get_or_insert(*seq);
                if !seen.insert(*seq) {
                    verdict.duplicates += 1;
                    verdict
                        .violations
                        .push(format!("{who} got seq {seq} twice"));
                } else if *seq > next {
                    verdict.lost_events += usize::try_from(seq - next).unwrap_or(usize::MAX);
                    verdict
                        .violations
                        .push(format!("{who} skipped from {} to {seq} (gap)", next - 1));
                } else if *seq < next {
                    verdict.violations.push(format!(
                        "{who} got seq {seq} after {} (reordered)",
                        next - 1
                    ));
                }
                match log.and_then(|log| log.get(seq)) {
                    Some(logged) if *logged == change => {}
                    logged => verdict.violations.push(format!(
                        "{who} was delivered {change:?} at seq {seq}; the log holds {logged:?}"
                    )),
                }
                expected = Some(seq + 1);
                last = Some(*seq);
            }
        }
    }
    let (Some(final_seq), Some(expected)) = (final_seq, expected) else {
        return;
    };
    if expected <= final_seq {
        verdict.lost_events += usize::try_from(final_seq + 1 - expected).unwrap_or(usize::MAX);
        verdict.violations.push(format!(
            "{who} stopped at seq {} of {final_seq}",
            expected - 1
        ));
    }
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;

/// Whether a write acknowledged at `seq` but not logged there repeats one the log holds earlier
/// with nothing since changing what it sets. Such a write changed nothing (e.g. a PATCH retried
/// after the instance that applied it died before answering), so it made no event and was
/// answered with the stream's current seq.
fn repeated(log: &BTreeMap<u64, &Change>, seq: u64, change: &Change) -> bool {
    let Some(Value::Object(set)) = &change.metadata else {
        return false;
    };
    let Some((&at, _)) = log
        .range(..seq)
        .rev()
        .find(|(_, logged)| **logged == change)
    else {
        return false;
    };
    log.range(at + 1..=seq)
        .all(|(_, logged)| match &logged.metadata {
            Some(Value::Object(other)) => set.keys().all(|key| !other.contains_key(key)),
            _ => true,
        })
}
