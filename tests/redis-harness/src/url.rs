//! `redis://` URLs: where a Redis is and how to authenticate.

use crate::LOOPBACK;

/// Where a Redis is and how to authenticate, from a `redis://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl Endpoint {
    pub(crate) fn loopback(port: u16) -> Endpoint {
        Endpoint {
            host: LOOPBACK.to_string(),
            port,
            username: None,
            password: None,
        }
    }
}

/// Parses `redis://[[user]:password@]host[:port][/db][?…]`. Returns `None` for anything else
/// (`rediss://` needs TLS, which a plain socket cannot check).
pub(crate) fn parse_redis_url(url: &str) -> Option<Endpoint> {
    let rest = url.strip_prefix("redis://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 6379,
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, password)) => (
                Some(user.to_owned()).filter(|user| !user.is_empty()),
                Some(password.to_owned()),
            ),
            // `redis://secret@host` is commonly a bare password.
            None => (None, Some(userinfo.to_owned())),
        },
    };
    Some(Endpoint {
        host: host.to_owned(),
        port,
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_urls_with_and_without_credentials() {
        assert_eq!(
            parse_redis_url("redis://127.0.0.1:6380/0"),
            Some(Endpoint::loopback(6380))
        );
        assert_eq!(
            parse_redis_url("redis://localhost").map(|e| (e.host, e.port)),
            Some(("localhost".to_owned(), 6379))
        );
        let endpoint = parse_redis_url("redis://user:pw@[::1]:7000?x=1").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 7000));
        assert_eq!(endpoint.username.as_deref(), Some("user"));
        assert_eq!(endpoint.password.as_deref(), Some("pw"));
        assert_eq!(parse_redis_url("redis://:pw@h:1").unwrap().username, None);
        assert_eq!(parse_redis_url("rediss://h:1"), None);
        assert_eq!(parse_redis_url("redis://h:notaport"), None);
    }
}
