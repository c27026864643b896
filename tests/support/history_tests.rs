use serde_json::json;

use super::*;

const S: &str = "stream-1";

fn created(metadata: Value) -> Change {
    Change::new("stream_created", Some(metadata))
}

fn updated(patch: Value) -> Change {
    Change::new("stream_updated", Some(patch))
}

fn joined() -> Change {
    Change::new("participant_joined", None)
}

/// A log of: created {a: 1}; updated {b: 2}; joined; updated {a: null}.
fn log() -> Vec<(u64, Change)> {
    vec![
        (1, created(json!({"a": 1}))),
        (2, updated(json!({"b": 2}))),
        (3, joined()),
        (4, updated(json!({"a": null}))),
    ]
}

fn check(history: &History, log: Vec<(u64, Change)>, final_state: FinalState) -> Verdict {
    let logs = HashMap::from([(S.to_owned(), log)]);
    let finals = HashMap::from([(S.to_owned(), final_state)]);
    history.check(&logs, &finals)
}

fn final_state() -> FinalState {
    FinalState {
        seq: 4,
        metadata: json!({"b": 2}),
    }
}

/// A subscriber that follows from the start and gets every event of [`log`].
fn follow_all(history: &History, subscriber: &str) {
    history.resumed(subscriber, S, 0);
    for (seq, change) in log() {
        history.delivered(subscriber, S, seq, change);
    }
}

#[test]
fn a_complete_history_with_a_resumption_is_clean() {
    let history = History::new();
    history.acknowledged(S, 1, created(json!({"a": 1})));
    history.acknowledged(S, 2, updated(json!({"b": 2})));
    follow_all(&history, "audit");
    history.resumed("ws", S, 0);
    history.delivered("ws", S, 1, created(json!({"a": 1})));
    history.delivered("ws", S, 2, updated(json!({"b": 2})));
    history.resumed("ws", S, 2);
    history.delivered("ws", S, 3, joined());
    history.delivered("ws", S, 4, updated(json!({"a": null})));

    let verdict = check(&history, log(), final_state());

    verdict.assert_clean();
    assert_eq!(verdict.acknowledged, 2);
    assert_eq!(verdict.delivered, 8);
    assert_eq!(verdict.resumes, 1);
}

#[test]
fn a_gap_is_a_lost_event() {
    let history = History::new();
    history.resumed("ws", S, 0);
    history.delivered("ws", S, 1, created(json!({"a": 1})));
    history.delivered("ws", S, 3, joined());
    history.delivered("ws", S, 4, updated(json!({"a": null})));

    let verdict = check(&history, log(), final_state());

    assert_eq!(verdict.lost_events, 1);
    assert!(verdict.violations[0].contains("gap"), "{verdict:?}");
}

#[test]
fn a_resumption_from_the_wrong_position_is_caught() {
    let history = History::new();
    history.resumed("ws", S, 0);
    history.delivered("ws", S, 1, created(json!({"a": 1})));
    history.resumed("ws", S, 2);
    history.delivered("ws", S, 3, joined());
    history.delivered("ws", S, 4, updated(json!({"a": null})));

    let verdict = check(&history, log(), final_state());

    assert!(
        verdict
            .violations
            .iter()
            .any(|v| v.contains("resumed after seq 2, but its last event was 1")),
        "{verdict:?}"
    );
}

#[test]
fn a_duplicate_and_a_reordering_are_caught() {
    let history = History::new();
    history.resumed("dup", S, 0);
    history.delivered("dup", S, 1, created(json!({"a": 1})));
    history.delivered("dup", S, 1, created(json!({"a": 1})));
    history.resumed("reorder", S, 0);
    history.delivered("reorder", S, 2, updated(json!({"b": 2})));
    history.delivered("reorder", S, 1, created(json!({"a": 1})));

    let verdict = check(&history, log(), final_state());

    assert_eq!(verdict.duplicates, 1);
    assert!(verdict.violations.iter().any(|v| v.contains("twice")));
    assert!(verdict.violations.iter().any(|v| v.contains("gap")));
    assert!(verdict.violations.iter().any(|v| v.contains("reordered")));
    assert!(verdict.violations.iter().any(|v| v.contains("stopped at")));
}

#[test]
fn a_subscriber_that_stops_short_of_the_final_seq_lost_events() {
    let history = History::new();
    history.resumed("ws", S, 2);
    history.delivered("ws", S, 3, joined());

    let verdict = check(&history, log(), final_state());

    assert_eq!(verdict.lost_events, 1);
    assert!(verdict.violations[0].contains("stopped at seq 3 of 4"));
}

#[test]
fn an_acknowledged_write_missing_or_different_in_the_log_is_lost() {
    let history = History::new();
    history.acknowledged(S, 2, updated(json!({"b": 3})));
    history.acknowledged(S, 5, updated(json!({"c": 1})));

    let verdict = check(&history, log(), final_state());

    assert_eq!(verdict.lost_writes, 2);
}

#[test]
fn a_repeated_write_that_changed_nothing_may_be_answered_with_a_later_seq() {
    let history = History::new();
    history.acknowledged(S, 2, updated(json!({"b": 2})));
    // Retried after its first instance applied it and died: a no-op, answered at seq 4.
    history.acknowledged(S, 4, updated(json!({"b": 2})));

    let verdict = check(&history, log(), final_state());

    assert_eq!(verdict.lost_writes, 0);
    assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
}

#[test]
fn a_repeat_whose_keys_were_overwritten_since_is_still_lost() {
    let history = History::new();
    let log = vec![
        (1, created(json!({}))),
        (2, updated(json!({"b": 2}))),
        (3, updated(json!({"b": 5}))),
    ];
    history.acknowledged(S, 3, updated(json!({"b": 2})));

    let verdict = check(&history, log, final_state());

    assert_eq!(verdict.lost_writes, 1);
}

#[test]
fn two_answers_naming_one_seq_are_caught() {
    let history = History::new();
    history.acknowledged(S, 2, updated(json!({"b": 2})));
    history.acknowledged(S, 2, updated(json!({"b": 2})));

    let verdict = check(&history, log(), final_state());

    assert!(verdict
        .violations
        .iter()
        .any(|v| v.contains("2 acknowledged")));
}

#[test]
fn a_log_with_a_hole_or_a_final_state_that_disagrees_is_caught() {
    let mut holed = log();
    holed.remove(1);
    let history = History::new();

    let verdict = check(&history, holed, final_state());
    let wrong_metadata = check(
        &history,
        log(),
        FinalState {
            seq: 4,
            metadata: json!({"a": 1, "b": 2}),
        },
    );
    let wrong_seq = check(
        &history,
        log(),
        FinalState {
            seq: 5,
            metadata: json!({"b": 2}),
        },
    );

    assert!(verdict
        .violations
        .iter()
        .any(|v| v.contains("seq 3 where 2")));
    assert!(wrong_metadata.violations[0].contains("adds up to"));
    assert!(wrong_seq.violations[0].contains("ends at seq 4"));
}

#[test]
fn a_delivery_that_differs_from_the_log_is_caught() {
    let history = History::new();
    history.resumed("ws", S, 3);
    history.delivered("ws", S, 4, updated(json!({"a": 2})));

    let verdict = check(&history, log(), final_state());

    assert!(
        verdict.violations[0].contains("the log holds"),
        "{verdict:?}"
    );
}

#[test]
fn merge_patches_follow_rfc_7396() {
    let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});

    merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}, "n": [1]}));

    assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "n": [1]}));
}

#[test]
fn events_are_read_as_the_apis_encode_them() {
    let update = json!({"type": "stream_updated", "data": {"metadataPatch": {"k": 1}}});
    let create = json!({"type": "stream_created", "data": {"metadata": {}}});
    let join = json!({"type": "participant_joined", "data": {"participant": {}}});

    assert_eq!(Change::from_event_json(&update), updated(json!({"k": 1})));
    assert_eq!(Change::from_event_json(&create), created(json!({})));
    assert_eq!(Change::from_event_json(&join), joined());
}
