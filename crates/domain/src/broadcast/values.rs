//! The validated values of broadcast: output names, RTMP targets, and secrets that never show
//! whole where they should not.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::values::ValidationError;

/// A value that must not be shown whole to whoever may only read (a stream key, an RTMP target
/// with its key in the path): its `Debug` and `Display` are redacted, and it is serialized only
/// where the caller asks for it by name ([`Secret::expose`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The whole value, for those allowed to see it (and for LiveKit).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The name of an output within its stream: 1 to 32 of `a-z 0-9 -`, starting with a letter or
/// a digit (`hls`, `youtube`, `archive-2`). It appears in paths (`/outputs/youtube`), so the
/// charset keeps it unambiguous there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutputId(String);

impl OutputId {
    /// Longest accepted name.
    pub const MAX_LEN: usize = 32;

    /// Validates a name.
    ///
    /// # Errors
    /// [`ValidationError`] (field `id`) when empty, too long or outside the charset.
    pub fn new(raw: impl Into<String>) -> Result<Self, ValidationError> {
        let raw = raw.into();
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(raw))
        } else {
            Err(ValidationError::new(
                "id",
                format!(
                    "must be 1 to {} characters of a-z, 0-9 and '-', starting with a letter or \
                     a digit",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OutputId {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<OutputId> for String {
    fn from(id: OutputId) -> Self {
        id.0
    }
}

impl fmt::Display for OutputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an `rtmp` output sends the stream: an `rtmp://` or `rtmps://` URL with a host, whose
/// path usually ends with the platform's stream key, so the whole URL is a [`Secret`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RtmpTarget {
    url: Secret,
    /// Where the host starts and ends in `url`.
    host: (usize, usize),
}

impl RtmpTarget {
    /// Longest accepted URL.
    pub const MAX_LEN: usize = 1024;

    /// Validates a target.
    ///
    /// # Errors
    /// [`ValidationError`] (field `targets`) unless an `rtmp://` or `rtmps://` URL with a host,
    /// at most [`Self::MAX_LEN`] long, without spaces or control characters.
    pub fn new(raw: impl Into<String>) -> Result<Self, ValidationError> {
        let raw = raw.into();
        let refuse = |why: &str| Err(ValidationError::new("targets", why.to_owned()));
        if raw.len() > Self::MAX_LEN {
            return refuse("each target must be at most 1024 characters");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("a target must not contain spaces or control characters");
        }
        let Some(rest_at) = ["rtmp://", "rtmps://"]
            .iter()
            .find(|scheme| {
                raw.get(..scheme.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            })
            .map(|scheme| scheme.len())
        else {
            return refuse("each target must be an rtmp:// or rtmps:// URL");
        };
        let authority_end = raw[rest_at..]
            .find('/')
            .map_or(raw.len(), |at| rest_at + at);
        let authority = &raw[rest_at..authority_end];
        // Credentials before '@' are allowed (some platforms use them); the host follows.
        let host_start = authority.rfind('@').map_or(rest_at, |at| rest_at + at + 1);
        let host_end = host_end(&raw, host_start, authority_end);
        if host_end <= host_start {
            return refuse("a target must name a host");
        }
        Ok(Self {
            url: Secret::new(raw),
            host: (host_start, host_end),
        })
    }

    /// The whole URL (for LiveKit, and for keys allowed to change the stream).
    pub fn url(&self) -> &Secret {
        &self.url
    }

    /// The URL with everything after the host hidden: what a reader may see.
    pub fn redacted(&self) -> String {
        let url = self.url.expose();
        let (_, host_end) = self.host;
        if host_end == url.len() {
            return url.to_owned();
        }
        format!("{}/…", &url[..host_end])
    }

    /// The host, as written (an IPv6 literal without its brackets).
    pub fn host(&self) -> &str {
        let (start, end) = self.host;
        self.url.expose()[start..end]
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// Whether the host is this machine, a link-local or a private address (by literal or
    /// by the names every resolver gives to them); an egress must not be pointed there in
    /// production.
    pub fn is_internal(&self) -> bool {
        let host = self.host().to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local") {
            return true;
        }
        host.parse::<IpAddr>().is_ok_and(|ip| is_internal_ip(&ip))
    }
}

/// The end of the host in `raw[start..authority_end]`: before a `:port`, after an IPv6
/// literal's `]`.
fn host_end(raw: &str, start: usize, authority_end: usize) -> usize {
    let authority = &raw[start..authority_end];
    if authority.starts_with('[') {
        return authority.find(']').map_or(start, |at| start + at + 1);
    }
    authority.find(':').map_or(authority_end, |at| start + at)
}

fn is_internal_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| is_internal_v6(v6), |v4| is_internal_v4(&v4)),
    }
}

fn is_internal_v4(ip: &Ipv4Addr) -> bool {
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        // 100.64.0.0/10, carrier-grade NAT: not reachable from outside either.
        || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
}

fn is_internal_v6(ip: &Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

impl TryFrom<String> for RtmpTarget {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<RtmpTarget> for String {
    fn from(target: RtmpTarget) -> Self {
        target.url.0
    }
}

impl fmt::Debug for RtmpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RtmpTarget").field(&self.redacted()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_ids_are_short_lowercase_names() {
        for good in ["hls", "youtube", "archive-2", "0"] {
            assert!(OutputId::new(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "YouTube", "a b", "a/b", &"x".repeat(33)] {
            assert!(OutputId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rtmp_targets_need_an_rtmp_scheme_and_a_host() {
        for good in [
            "rtmp://a.rtmp.youtube.com/live2/abcd-efgh",
            "rtmps://live-api-s.facebook.com:443/rtmp/FB-123",
            "RTMP://host",
            "rtmp://user:pass@host:1935/app/key",
            "rtmp://[2001:db8::1]:1935/live/key",
        ] {
            assert!(RtmpTarget::new(good).is_ok(), "{good}");
        }
        for bad in [
            "http://host/live",
            "rtmp://",
            "rtmp:///live",
            "rtmp://host/li ve",
            "rtmp://host/\u{7}",
            "srt://host",
        ] {
            assert!(RtmpTarget::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_target_shows_its_host_and_hides_its_path() {
        let target = RtmpTarget::new("rtmps://a.rtmp.youtube.com/live2/sk-123").unwrap();

        assert_eq!(target.redacted(), "rtmps://a.rtmp.youtube.com/…");
        assert!(!format!("{target:?}").contains("sk-123"));
        assert_eq!(
            target.url().expose(),
            "rtmps://a.rtmp.youtube.com/live2/sk-123"
        );
        assert_eq!(target.host(), "a.rtmp.youtube.com");
    }

    #[test]
    fn internal_hosts_are_recognised_by_literal_and_by_name() {
        for internal in [
            "rtmp://127.0.0.1/live",
            "rtmp://localhost:1935/live",
            "rtmp://10.1.2.3/live",
            "rtmp://192.168.0.10/live",
            "rtmp://172.16.5.5/live",
            "rtmp://169.254.169.254/latest",
            "rtmp://100.64.0.1/live",
            "rtmp://0.0.0.0/live",
            "rtmp://[::1]/live",
            "rtmp://[fe80::1]/live",
            "rtmp://[fd00::1]/live",
            "rtmp://[::ffff:10.0.0.1]/live",
            "rtmp://media.local/live",
        ] {
            assert!(
                RtmpTarget::new(internal).unwrap().is_internal(),
                "{internal}"
            );
        }
        for public in [
            "rtmp://a.rtmp.youtube.com/live2",
            "rtmp://8.8.8.8/x",
            "rtmp://[2001:db8::1]/x",
        ] {
            assert!(!RtmpTarget::new(public).unwrap().is_internal(), "{public}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("sk_live_123");

        assert!(!format!("{secret:?} {secret}").contains("sk_live"));
        assert_eq!(secret.expose(), "sk_live_123");
    }
}
