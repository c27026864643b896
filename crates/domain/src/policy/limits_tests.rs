use std::net::Ipv4Addr;

use super::*;
use crate::policy::access::{KeyEntry, Scope};

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

fn key(secret: &str) -> KeyId {
    KeyEntry::for_key(secret, Scope::Write).id()
}

fn per_address(per_sec: u32, burst: u32) -> RateLimits {
    RateLimits::new(Rate::OFF, Rate { per_sec, burst })
}

fn per_key(per_sec: u32, burst: u32) -> RateLimits {
    RateLimits::new(Rate { per_sec, burst }, Rate::OFF)
}

#[test]
fn an_address_gets_its_burst_then_is_told_when_to_retry() {
    let limits = per_address(2, 3);
    let now = Instant::now();

    for _ in 0..3 {
        assert_eq!(limits.check_address_at(ip("10.0.0.1"), now), Ok(()));
    }
    let refused = limits.check_address_at(ip("10.0.0.1"), now);

    assert_eq!(
        refused,
        Err(Limited {
            who: "this address",
            retry_after: Duration::from_millis(500),
        })
    );
    assert_eq!(
        limits.check_address_at(ip("10.0.0.2"), now),
        Ok(()),
        "others are not affected"
    );
}

#[test]
fn an_empty_bucket_refills_at_its_rate() {
    let limits = per_address(2, 2);
    let start = Instant::now();
    let half_a_second = start + Duration::from_millis(500);
    for _ in 0..2 {
        assert_eq!(limits.check_address_at(ip("10.0.0.1"), start), Ok(()));
    }

    let early = limits.check_address_at(ip("10.0.0.1"), start + Duration::from_millis(499));
    let on_time = limits.check_address_at(ip("10.0.0.1"), half_a_second);
    let again = limits.check_address_at(ip("10.0.0.1"), half_a_second);

    assert_eq!(
        early.map_err(|l| l.retry_after),
        Err(Duration::from_millis(1))
    );
    assert_eq!(on_time, Ok(()));
    assert_eq!(
        again.map_err(|l| l.retry_after),
        Err(Duration::from_millis(500))
    );
}

#[test]
fn a_burst_below_the_rate_is_raised_to_the_rate() {
    let limits = per_address(3, 1);
    let now = Instant::now();

    let admitted = (0..4)
        .filter(|_| limits.check_address_at(ip("10.0.0.1"), now).is_ok())
        .count();

    assert_eq!(admitted, 3);
}

#[test]
fn ipv6_addresses_share_the_bucket_of_their_64() {
    let limits = per_address(1, 1);
    let now = Instant::now();

    assert!(limits.check_address_at(ip("2001:db8:1:2::1"), now).is_ok());

    assert!(limits
        .check_address_at(ip("2001:db8:1:2::ffff"), now)
        .is_err());
    assert!(limits.check_address_at(ip("2001:db8:1:3::1"), now).is_ok());
}

#[test]
fn keys_have_buckets_of_their_own() {
    let limits = per_key(1, 1);
    let (one, two) = (key("one"), key("two"));
    let now = Instant::now();

    assert!(limits.check_key_at(&one, now).is_ok());

    assert_eq!(
        limits
            .check_key_at(&one, now)
            .map_err(|limited| limited.who),
        Err("this API key")
    );
    assert!(limits.check_key_at(&two, now).is_ok());
}

#[test]
fn a_call_counts_against_its_address_and_its_key() {
    let limits = RateLimits::new(
        Rate {
            per_sec: 1,
            burst: 1,
        },
        Rate {
            per_sec: 1,
            burst: 2,
        },
    );
    let (one, two) = (key("one"), key("two"));
    let now = Instant::now();

    assert_eq!(limits.check_at(ip("10.0.0.1"), Some(&one), now), Ok(()));

    let same_key = limits.check_at(ip("10.0.0.2"), Some(&one), now);
    let other_key = limits.check_at(ip("10.0.0.1"), Some(&two), now);
    let address_spent = limits.check_at(ip("10.0.0.1"), None, now);

    assert_eq!(same_key.map_err(|l| l.who), Err("this API key"));
    assert_eq!(other_key, Ok(()), "the address had a second request");
    assert_eq!(address_spent.map_err(|l| l.who), Err("this address"));
}

#[test]
fn a_request_without_an_address_is_not_counted_by_address() {
    let limits = per_address(1, 1);

    for _ in 0..3 {
        assert_eq!(limits.check_address(None), Ok(()));
    }
}

#[test]
fn a_rate_of_zero_is_no_limit() {
    let limits = RateLimits::off();
    let key = key("k");

    for _ in 0..10_000 {
        assert!(limits.check(ip("10.0.0.1"), Some(&key)).is_ok());
    }
}

#[test]
fn limits_that_are_off_do_no_work_per_request() {
    let limits = RateLimits::off();

    for _ in 0..100 {
        assert!(limits.check_address(ip("10.0.0.1")).is_ok());
        assert!(limits.check_key(&key("k")).is_ok());
        assert!(limits.check(ip("10.0.0.1"), Some(&key("k"))).is_ok());
    }

    assert_eq!(
        limits.checks.load(Ordering::Relaxed),
        0,
        "no request was counted on the shared counter"
    );
}

#[test]
fn a_wait_is_rounded_up_to_whole_seconds_and_at_least_one() {
    let wait = |millis| Limited {
        who: "this address",
        retry_after: Duration::from_millis(millis),
    };

    assert_eq!(wait(0).retry_after_secs(), 1);
    assert_eq!(wait(300).retry_after_secs(), 1);
    assert_eq!(wait(1000).retry_after_secs(), 1);
    assert_eq!(wait(1001).retry_after_secs(), 2);
}

#[test]
fn buckets_full_again_are_forgotten_and_busy_ones_kept() {
    let start = Instant::now();
    let buckets = Buckets::new(
        Rate {
            per_sec: 1,
            burst: 5,
        },
        start,
    )
    .unwrap();
    let later = start + Duration::from_secs(10);
    for quiet in 0..20_u8 {
        assert_eq!(buckets.take(&quiet, start), Ok(()));
    }
    assert_eq!(buckets.take(&100, later), Ok(()));

    buckets.forget_full(later);

    assert_eq!(buckets.len(), 1);
    for _ in 0..5 {
        assert_eq!(
            buckets.take(&0, later),
            Ok(()),
            "a forgotten bucket is full"
        );
    }
    assert!(buckets.take(&0, later).is_err());
}

#[test]
fn quiet_clients_are_forgotten_as_requests_go_by() {
    let limits = per_address(1, 1);
    let start = Instant::now();
    let later = start + Duration::from_secs(10);
    for last in 1..=20 {
        assert!(limits
            .check_address_at(ip(&format!("10.0.0.{last}")), start)
            .is_ok());
    }

    for _ in 20..HOUSEKEEPING_EVERY {
        assert!(limits.check_address_at(None, later).is_ok());
    }
    let before = limits.per_address.as_ref().unwrap().len();
    assert!(limits.check_address_at(None, later).is_ok());

    assert_eq!(before, 20);
    assert_eq!(limits.per_address.as_ref().unwrap().len(), 0);
}

#[test]
fn an_address_key_keeps_ipv4_and_cuts_ipv6_to_its_64() {
    assert_eq!(
        address_key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
    );
    assert_eq!(
        address_key("::ffff:192.0.2.7".parse().unwrap()),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
    );
    assert_eq!(
        address_key("2001:db8:a:b:c:d:e:f".parse().unwrap()),
        "2001:db8:a:b::".parse::<IpAddr>().unwrap()
    );
}

mod against_governor {
    //! The buckets answer as governor's GCRA does (the crate they replace): the same
    //! admissions and the same waits, for any rate, burst and timeline of requests.

    use std::num::NonZeroU32;

    use governor::clock::{Clock, FakeRelativeClock};
    use governor::{Quota, RateLimiter};
    use proptest::prelude::*;

    use super::*;

    fn non_zero(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    proptest! {
        #[test]
        fn every_admission_and_wait_is_governors(
            per_sec in 1u32..200,
            burst in 1u32..300,
            timeline in proptest::collection::vec((0u64..1_500, 1u32..8), 1..80),
        ) {
            let ours = per_address(per_sec, burst);
            let clock = FakeRelativeClock::default();
            let quota = Quota::per_second(non_zero(per_sec)).allow_burst(non_zero(burst.max(per_sec)));
            let governor = RateLimiter::direct_with_clock(quota, clock.clone());
            let start = Instant::now();
            let mut elapsed = Duration::ZERO;

            for (pause_ms, requests) in timeline {
                elapsed += Duration::from_millis(pause_ms);
                clock.advance(Duration::from_millis(pause_ms));
                for _ in 0..requests {
                    let answer = ours
                        .check_address_at(ip("10.0.0.1"), start + elapsed)
                        .map_err(|limited| limited.retry_after);
                    let reference = governor
                        .check()
                        .map_err(|not_until| not_until.wait_time_from(clock.now()));
                    prop_assert_eq!(answer, reference, "at {:?}", elapsed);
                }
            }
        }
    }
}
