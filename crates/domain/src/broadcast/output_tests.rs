//! Every transition of the output state machine.

use chrono::TimeZone;

use super::*;

fn at(secs: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, secs).unwrap()
}

fn output(desired: Desired, observed: Observed) -> Output {
    Output {
        desired,
        observed,
        ..Output::new(OutputId::new("hls").unwrap(), OutputKind::Hls, true, at(0))
    }
}

fn running(observed: Observed, egress: &str) -> Output {
    Output {
        egress_id: Some(egress.into()),
        attempts: 1,
        ..output(Desired::On, observed)
    }
}

fn started(egress: &str) -> OutputCommand {
    OutputCommand::Started(StartedEgress {
        egress_id: egress.into(),
        playback_url: Some("https://cdn/x.m3u8".into()),
        location: None,
    })
}

fn report(egress: &str, status: EgressStatus) -> OutputCommand {
    OutputCommand::Egress(EgressReport {
        egress_id: egress.into(),
        status,
        error: Some("boom".into()),
        playback_url: None,
        location: None,
    })
}

fn decide(output: &Output, command: OutputCommand) -> OutputDecision {
    output.decide(&command, at(5)).unwrap()
}

/// The output after `command`, asserting it changed.
fn after(output: &Output, command: OutputCommand) -> (Output, FollowUp) {
    let decision = decide(output, command);
    (decision.output.expect("a change"), decision.follow_up)
}

#[test]
fn a_new_output_is_wanted_when_it_starts_with_the_stream() {
    let auto = Output::new(OutputId::new("a").unwrap(), OutputKind::Hls, true, at(0));
    let manual = Output::new(
        OutputId::new("m").unwrap(),
        OutputKind::Recording,
        false,
        at(0),
    );

    assert_eq!((auto.desired, auto.observed), (Desired::On, Observed::Idle));
    assert_eq!(
        (manual.desired, manual.observed),
        (Desired::Off, Observed::Idle)
    );
}

#[test]
fn starting_an_idle_complete_or_failed_output_claims_a_first_attempt() {
    for observed in [Observed::Idle, Observed::Complete, Observed::Failed] {
        let (next, follow_up) = after(&output(Desired::Off, observed), OutputCommand::Start);

        assert_eq!(follow_up, FollowUp::StartEgress, "{observed:?}");
        assert_eq!(
            (next.desired, next.observed, next.attempts),
            (Desired::On, Observed::Starting, 1)
        );
        assert_eq!(next.updated_at, at(5));
    }
}

#[test]
fn starting_a_running_output_claims_nothing() {
    for observed in [Observed::Starting, Observed::Active] {
        let decision = decide(&running(observed, "EG_1"), OutputCommand::Start);

        assert!(decision.is_nothing(), "{observed:?}: {decision:?}");
    }
}

#[test]
fn starting_an_output_that_is_ending_is_refused() {
    let ending = running(Observed::Ending, "EG_1");

    assert_eq!(
        ending.decide(&OutputCommand::Start, at(5)),
        Err(OutputRefusal::Busy(ending.id.clone()))
    );
}

#[test]
fn going_live_claims_only_wanted_idle_outputs() {
    let (_, claimed) = after(
        &output(Desired::On, Observed::Idle),
        OutputCommand::WentLive,
    );
    assert_eq!(claimed, FollowUp::StartEgress);
    for (desired, observed) in [
        (Desired::Off, Observed::Idle),
        (Desired::On, Observed::Starting),
        (Desired::On, Observed::Active),
        (Desired::On, Observed::Failed),
        (Desired::On, Observed::Complete),
    ] {
        assert!(decide(&output(desired, observed), OutputCommand::WentLive).is_nothing());
    }
}

#[test]
fn livekit_accepting_the_claimed_start_records_the_egress() {
    let claimed = after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0;

    let (next, follow_up) = after(&claimed, started("EG_1"));

    assert_eq!(follow_up, FollowUp::None);
    assert_eq!(next.egress_id.as_deref(), Some("EG_1"));
    assert_eq!(next.playback_url.as_deref(), Some("https://cdn/x.m3u8"));
    assert_eq!(next.observed, Observed::Starting);
}

#[test]
fn an_egress_started_for_an_output_stopped_meanwhile_is_stopped() {
    let claimed = after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0;
    let (stopped, nothing) = after(&claimed, OutputCommand::Stop);
    assert_eq!(nothing, FollowUp::None, "the start is in flight");

    let (next, follow_up) = after(&stopped, started("EG_1"));

    assert_eq!(follow_up, FollowUp::StopEgress("EG_1".into()));
    assert_eq!(next.observed, Observed::Ending);
}

#[test]
fn an_egress_that_is_not_the_claimed_attempts_is_stopped_and_changes_nothing() {
    let active = running(Observed::Active, "EG_1");

    let decision = decide(&active, started("EG_2"));

    assert_eq!(decision.output, None);
    assert_eq!(decision.follow_up, FollowUp::StopEgress("EG_2".into()));
    assert!(
        decide(&active, started("EG_1")).is_nothing(),
        "a repeated answer"
    );
}

#[test]
fn a_failed_start_is_retried_up_to_the_last_attempt() {
    let mut current = after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0;
    for attempt in 1..MAX_ATTEMPTS {
        let failed = OutputCommand::StartFailed {
            reason: "down".into(),
            retryable: true,
        };
        let (waiting, follow_up) = after(&current, failed);
        assert_eq!(follow_up, FollowUp::RetryAfter { attempt });
        assert_eq!(waiting.observed, Observed::Starting);
        let (retried, again) = after(&waiting, OutputCommand::Retry);
        assert_eq!(again, FollowUp::StartEgress);
        assert_eq!(retried.attempts, attempt + 1);
        current = retried;
    }
    let last = OutputCommand::StartFailed {
        reason: "down".into(),
        retryable: true,
    };

    let (failed, follow_up) = after(&current, last);

    assert_eq!(follow_up, FollowUp::None);
    assert_eq!(
        (failed.observed, failed.failure.as_deref()),
        (Observed::Failed, Some("down"))
    );
}

#[test]
fn a_refused_start_is_not_retried() {
    let claimed = after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0;
    let refused = OutputCommand::StartFailed {
        reason: "bad request".into(),
        retryable: false,
    };

    let (failed, follow_up) = after(&claimed, refused);

    assert_eq!(
        (failed.observed, follow_up),
        (Observed::Failed, FollowUp::None)
    );
}

#[test]
fn a_retry_claims_nothing_unless_one_is_due() {
    for output in [
        running(Observed::Active, "EG_1"),
        output(Desired::On, Observed::Idle),
        after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0,
    ] {
        assert!(
            decide(&output, OutputCommand::Retry).is_nothing(),
            "{output:?}"
        );
    }
}

#[test]
fn stopping_a_running_egress_asks_livekit_to_stop_it() {
    for observed in [Observed::Starting, Observed::Active] {
        let (next, follow_up) = after(&running(observed, "EG_1"), OutputCommand::Stop);

        assert_eq!(follow_up, FollowUp::StopEgress("EG_1".into()));
        assert_eq!(
            (next.desired, next.observed),
            (Desired::Off, Observed::Ending)
        );
    }
}

#[test]
fn stopping_an_output_waiting_to_retry_completes_it() {
    let claimed = after(&output(Desired::On, Observed::Idle), OutputCommand::Start).0;
    let failed = OutputCommand::StartFailed {
        reason: "down".into(),
        retryable: true,
    };
    let waiting = after(&claimed, failed).0;

    let (stopped, follow_up) = after(&waiting, OutputCommand::Stop);

    assert_eq!(
        (stopped.observed, follow_up),
        (Observed::Complete, FollowUp::None)
    );
    assert!(
        decide(&stopped, OutputCommand::Retry).is_nothing(),
        "no retry any more"
    );
}

#[test]
fn stopping_an_idle_output_only_unwants_it_and_twice_changes_nothing() {
    let (stopped, follow_up) = after(&output(Desired::On, Observed::Idle), OutputCommand::Stop);

    assert_eq!(
        (stopped.desired, stopped.observed, follow_up),
        (Desired::Off, Observed::Idle, FollowUp::None)
    );
    assert!(decide(&stopped, OutputCommand::Stop).is_nothing());
}

#[test]
fn livekit_reports_move_a_running_output_through_its_states() {
    let starting = running(Observed::Starting, "EG_1");

    let (active, _) = after(&starting, report("EG_1", EgressStatus::Active));
    let (ending, _) = after(&active, report("EG_1", EgressStatus::Ending));
    let (complete, _) = after(&ending, report("EG_1", EgressStatus::Complete));

    assert_eq!(active.observed, Observed::Active);
    assert_eq!(ending.observed, Observed::Ending);
    assert_eq!(
        (complete.observed, complete.egress_id),
        (Observed::Complete, None)
    );
}

#[test]
fn reports_of_another_egress_or_repeated_ones_change_nothing() {
    let active = running(Observed::Active, "EG_1");

    assert!(decide(&active, report("EG_0", EgressStatus::Failed)).is_nothing());
    assert!(decide(&active, report("EG_1", EgressStatus::Active)).is_nothing());
    assert!(decide(&active, report("EG_1", EgressStatus::Starting)).is_nothing());
}

#[test]
fn a_wanted_egress_that_fails_or_vanishes_is_retried() {
    for status in [EgressStatus::Failed, EgressStatus::Missing] {
        let (next, follow_up) = after(&running(Observed::Active, "EG_1"), report("EG_1", status));

        assert!(
            matches!(follow_up, FollowUp::RetryAfter { attempt: 1, .. }),
            "{status:?}"
        );
        assert_eq!((next.observed, next.egress_id), (Observed::Starting, None));
        assert!(next.failure.is_some());
    }
}

#[test]
fn an_egress_failing_while_it_ends_completes_the_output() {
    let stopping = Output {
        desired: Desired::Off,
        ..running(Observed::Ending, "EG_1")
    };

    let (next, follow_up) = after(&stopping, report("EG_1", EgressStatus::Failed));

    assert_eq!(
        (next.observed, follow_up),
        (Observed::Complete, FollowUp::None)
    );
}

#[test]
fn an_rtmp_output_needs_one_to_five_targets() {
    let target = || RtmpTarget::new("rtmp://live.example.com/app/key").unwrap();

    assert!(OutputKind::rtmp(vec![]).is_err());
    assert!(OutputKind::rtmp(vec![target(); MAX_TARGETS]).is_ok());
    assert!(OutputKind::rtmp(vec![target(); MAX_TARGETS + 1]).is_err());
}

#[test]
fn outputs_are_stored_with_their_secrets_and_read_back_unchanged() {
    let target = RtmpTarget::new("rtmps://live.example.com/app/key").unwrap();
    let output = Output::new(
        OutputId::new("restream").unwrap(),
        OutputKind::rtmp(vec![target]).unwrap(),
        true,
        at(0),
    );

    let stored = serde_json::to_string(&output).unwrap();
    let read: Output = serde_json::from_str(&stored).unwrap();

    assert_eq!(read, output);
    assert!(stored.contains("rtmps://live.example.com/app/key"));
}
