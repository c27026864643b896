use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;

const WRITE_KEY: &str = "lso_write-key-for-tests";
const READ_KEY: &str = "lso_read-key-for-tests";

fn access() -> Access {
    Access::new(
        vec![
            KeyEntry::for_key(WRITE_KEY, Scope::Write),
            KeyEntry::for_key(READ_KEY, Scope::Read),
        ],
        b"shared secret",
        Duration::from_secs(30),
    )
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

#[test]
fn an_entry_is_the_sha256_of_the_key_with_an_optional_scope() {
    let write: KeyEntry = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        .parse()
        .unwrap();
    let read: KeyEntry =
        " sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08:read "
            .parse()
            .unwrap();

    assert_eq!(write, KeyEntry::for_key("test", Scope::Write));
    assert_eq!(read, KeyEntry::for_key("test", Scope::Read));
    assert_eq!(
        read.to_string(),
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08:read"
    );
    assert_eq!(write.id().as_str(), "9f86d081884c");
    assert_eq!(read.redacted(), "sha256:9f86d081884c…:read");
}

#[test]
fn malformed_entries_are_refused_without_echoing_them() {
    let plain_key = "lso_0123456789abcdef";
    let cases = [
        (plain_key.to_owned(), InvalidKeyEntry::NotSha256),
        ("sha256:abc".to_owned(), InvalidKeyEntry::BadHash),
        (
            format!("sha256:{}", "z".repeat(64)),
            InvalidKeyEntry::BadHash,
        ),
        (
            format!("sha256:{}:admin", "a".repeat(64)),
            InvalidKeyEntry::UnknownScope,
        ),
    ];

    for (raw, expected) in cases {
        let err = raw.parse::<KeyEntry>().unwrap_err();
        assert_eq!(err, expected, "{raw}");
        assert!(!err.to_string().contains(plain_key));
    }
}

#[test]
fn without_keys_everyone_is_an_anonymous_operator_with_every_scope() {
    let open = Access::open();

    let principal = open.check(None, Scope::Write).unwrap();

    assert!(open.is_open());
    assert_eq!(principal, Principal::anonymous());
    assert_eq!(principal.key(), None);
}

#[test]
fn a_configured_key_is_recognised_with_its_scope() {
    let access = access();

    let writer = access.authenticate(Some(&bearer(WRITE_KEY))).unwrap();
    let reader = access
        .authenticate(Some(&format!("bearer  {READ_KEY} ")))
        .unwrap();

    assert_eq!(writer.scope(), Scope::Write);
    assert_eq!(
        writer.key(),
        Some(&KeyEntry::for_key(WRITE_KEY, Scope::Write).id())
    );
    assert_eq!(reader.scope(), Scope::Read);
}

#[test]
fn missing_malformed_and_unknown_credentials_are_told_apart() {
    let access = access();

    assert_eq!(access.authenticate(None), Err(AccessError::Missing));
    assert_eq!(
        access.authenticate(Some(WRITE_KEY)),
        Err(AccessError::Malformed)
    );
    assert_eq!(
        access.authenticate(Some(&format!("Basic {WRITE_KEY}"))),
        Err(AccessError::Malformed)
    );
    assert_eq!(
        access.authenticate(Some("Bearer lso_not-a-key")),
        Err(AccessError::InvalidKey)
    );
    assert_eq!(
        access.authenticate(Some(&bearer(&WRITE_KEY.to_uppercase()))),
        Err(AccessError::InvalidKey),
        "keys are case-sensitive"
    );
}

#[test]
fn a_read_key_may_read_but_not_change_anything() {
    let access = access();

    assert!(access.check(Some(&bearer(READ_KEY)), Scope::Read).is_ok());
    assert_eq!(
        access.check(Some(&bearer(READ_KEY)), Scope::Write),
        Err(AccessError::Forbidden)
    );
    assert!(access.check(Some(&bearer(WRITE_KEY)), Scope::Write).is_ok());
}

#[test]
fn a_ticket_stands_for_its_key_until_it_expires() {
    let access = access();
    let reader = access.authenticate(Some(&bearer(READ_KEY))).unwrap();

    let ticket = access.issue_ticket(&reader, noon());

    assert_eq!(ticket.expires_at, noon() + chrono::Duration::seconds(30));
    assert!(ticket
        .value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    assert_eq!(
        access.redeem_ticket(&ticket.value, noon()),
        Ok(reader.clone())
    );
    assert_eq!(
        access.redeem_ticket(&ticket.value, noon() + chrono::Duration::seconds(30)),
        Ok(reader)
    );
    assert_eq!(
        access.redeem_ticket(&ticket.value, noon() + chrono::Duration::seconds(31)),
        Err(AccessError::ExpiredTicket)
    );
}

#[test]
fn another_instance_of_the_deployment_accepts_the_ticket() {
    let writer = access().authenticate(Some(&bearer(WRITE_KEY))).unwrap();
    let ticket = access().issue_ticket(&writer, noon());

    let elsewhere = access();

    assert_eq!(elsewhere.redeem_ticket(&ticket.value, noon()), Ok(writer));
}

#[test]
fn a_tampered_or_foreign_ticket_is_refused() {
    let access = access();
    let reader = access.authenticate(Some(&bearer(READ_KEY))).unwrap();
    let ticket = access.issue_ticket(&reader, noon()).value;
    let other_secret = Access::new(
        vec![KeyEntry::for_key(READ_KEY, Scope::Read)],
        b"another deployment",
        Duration::from_secs(30),
    );
    let foreign = other_secret.issue_ticket(&reader, noon()).value;

    let upgraded = ticket.replacen("r.", "w.", 1);
    let later = {
        let parts: Vec<&str> = ticket.split('.').collect();
        let expires: i64 = parts[2].parse().unwrap();
        format!("{}.{}.{}.{}", parts[0], parts[1], expires + 3600, parts[3])
    };

    for forged in [
        upgraded,
        later,
        foreign,
        "garbage".to_owned(),
        String::new(),
    ] {
        assert_eq!(
            access.redeem_ticket(&forged, noon()),
            Err(AccessError::InvalidTicket),
            "{forged}"
        );
    }
}

#[test]
fn removing_a_key_revokes_its_tickets_and_narrowing_it_narrows_them() {
    let before = access();
    let writer = before.authenticate(Some(&bearer(WRITE_KEY))).unwrap();
    let ticket = before.issue_ticket(&writer, noon()).value;

    let removed = Access::new(
        vec![KeyEntry::for_key(READ_KEY, Scope::Read)],
        b"shared secret",
        Duration::from_secs(30),
    );
    let narrowed = Access::new(
        vec![KeyEntry::for_key(WRITE_KEY, Scope::Read)],
        b"shared secret",
        Duration::from_secs(30),
    );

    assert_eq!(
        removed.redeem_ticket(&ticket, noon()),
        Err(AccessError::InvalidTicket)
    );
    assert_eq!(
        narrowed.redeem_ticket(&ticket, noon()).map(|p| p.scope()),
        Ok(Scope::Read)
    );
}

#[test]
fn an_anonymous_ticket_is_refused_once_keys_are_configured() {
    let ticket = Access::new(Vec::new(), b"shared secret", Duration::from_secs(30))
        .issue_ticket(&Principal::anonymous(), noon())
        .value;

    assert_eq!(
        access().redeem_ticket(&ticket, noon()),
        Err(AccessError::InvalidTicket)
    );
}

#[test]
fn debug_output_names_keys_by_id_only() {
    let access = access();
    let entry = KeyEntry::for_key(WRITE_KEY, Scope::Write);
    let full_hash = entry.to_string();

    let debug = format!("{access:?} {entry:?}");

    assert!(debug.contains(entry.id().as_str()));
    assert!(!debug.contains(&full_hash["sha256:".len()..]));
    assert!(!debug.contains(WRITE_KEY));
}
