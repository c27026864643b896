//! A request's untrusted text as the access log shows it: bounded, and without credentials.
//!
//! The user agent and the query string are whatever the client sent. Each is cut at a bound
//! (a `...` says so), and the log writer escapes what it writes (JSON string escapes, or
//! Rust's debug escapes in human logs), so a control character cannot forge a line. A query
//! may carry a credential: a WebSocket `ticket`, or a token a client put there by mistake; the
//! value of every parameter whose name looks like one is replaced by [`REDACTED`].
//!
//! Both borrow the request's text unless they must change it: the common request allocates
//! nothing here.

use std::borrow::Cow;

use actix_web::http::header::HeaderValue;

/// Longest user agent logged, in bytes.
pub const MAX_USER_AGENT: usize = 256;
/// Longest query string logged, in bytes (before redaction).
pub const MAX_QUERY: usize = 512;
/// What a credential's value is logged as.
pub const REDACTED: &str = "[redacted]";
/// Appended to a text that was cut.
const CUT: &str = "...";

/// Parameter names that are a credential whatever else they say.
const CREDENTIAL_NAMES: [&str; 6] = ["key", "sig", "jwt", "code", "pwd", "auth"];
/// Parameter names that are a credential when they contain one of these.
const CREDENTIAL_PARTS: [&str; 10] = [
    "ticket",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "api_key",
    "apikey",
    "session",
];

/// The user agent as logged: at most [`MAX_USER_AGENT`] bytes, bytes that are not UTF-8
/// replaced.
pub fn user_agent(value: &HeaderValue) -> Cow<'_, str> {
    match String::from_utf8_lossy(value.as_bytes()) {
        Cow::Borrowed(text) => bounded(text, MAX_USER_AGENT),
        Cow::Owned(text) => Cow::Owned(bounded(&text, MAX_USER_AGENT).into_owned()),
    }
}

/// The query string as logged: at most [`MAX_QUERY`] bytes of it, the value of every
/// credential-looking parameter replaced by [`REDACTED`].
pub fn query(raw: &str) -> Cow<'_, str> {
    let cut = bounded(raw, MAX_QUERY);
    let has_credential = cut.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(name, _)| credential(name))
    });
    if !has_credential {
        return cut;
    }
    let redacted: Vec<Cow<'_, str>> = cut
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if credential(name) => Cow::Owned(format!("{name}={REDACTED}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(redacted.join("&"))
}

/// Whether a parameter of this name carries a credential (any case; without a copy).
fn credential(name: &str) -> bool {
    let name = name.as_bytes();
    CREDENTIAL_NAMES
        .iter()
        .any(|known| name.eq_ignore_ascii_case(known.as_bytes()))
        || CREDENTIAL_PARTS.iter().any(|part| {
            name.windows(part.len())
                .any(|window| window.eq_ignore_ascii_case(part.as_bytes()))
        })
}

/// `text` cut to at most `max` bytes on a character boundary, with [`CUT`] when it was cut.
fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT}", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_query_is_logged_as_it_came_without_a_copy() {
        let logged = query("status=active&limit=20&cursor=abc");

        assert!(matches!(
            logged,
            Cow::Borrowed("status=active&limit=20&cursor=abc")
        ));
    }

    #[test]
    fn a_websocket_ticket_and_other_credentials_are_redacted() {
        let logged = query("ticket=v1.eyJzIjoiMSJ9.c2ln&afterSeq=3&access_token=abc&API_KEY=k&x");

        assert_eq!(
            logged,
            "ticket=[redacted]&afterSeq=3&access_token=[redacted]&API_KEY=[redacted]&x"
        );
    }

    #[test]
    fn every_credential_looking_name_is_redacted() {
        for name in [
            "ticket",
            "token",
            "id_token",
            "client_secret",
            "password",
            "key",
            "sig",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "apikey",
            "session_id",
            "code",
        ] {
            assert_eq!(
                query(&format!("{name}=s3cr3t")),
                format!("{name}=[redacted]")
            );
        }
        assert_eq!(query("monkey=1&status=x"), "monkey=1&status=x");
    }

    #[test]
    fn a_long_query_is_cut_before_it_is_redacted() {
        let long = format!("limit=1&ticket={}", "t".repeat(2 * MAX_QUERY));

        let logged = query(&long);

        assert_eq!(logged, "limit=1&ticket=[redacted]");
        let plain = "a".repeat(MAX_QUERY + 10);
        let cut = query(&plain);
        assert_eq!(cut.len(), MAX_QUERY + CUT.len());
        assert!(cut.ends_with(CUT));
    }

    #[test]
    fn a_long_user_agent_is_cut_on_a_character_boundary() {
        let agent = "é".repeat(MAX_USER_AGENT);

        let logged = user_agent(&HeaderValue::from_bytes(agent.as_bytes()).unwrap()).into_owned();

        assert!(logged.len() <= MAX_USER_AGENT + CUT.len());
        assert!(logged.ends_with(CUT));
        assert!(logged.trim_end_matches(CUT).chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_user_agent_that_is_not_utf8_is_logged_with_replacements() {
        let value = HeaderValue::from_bytes(b"curl/8 \xff\xfe").unwrap();

        assert_eq!(user_agent(&value), "curl/8 \u{fffd}\u{fffd}");
        assert!(matches!(
            user_agent(&HeaderValue::from_static("curl/8.5.0")),
            Cow::Borrowed("curl/8.5.0")
        ));
    }
}
