//! How a [`Client`] is set up: where the service is, the key it presents, how
//! long it waits and how it retries.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Url;

pub use crate::retry::RetryPolicy;
use crate::{Client, ClientError};

/// The port the orchestrator serves gRPC on unless configured otherwise (`GRPC_PORT`).
pub const DEFAULT_GRPC_PORT: u16 = 8001;

/// Deadline of one REST request unless set with [`ClientBuilder::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle pooled connection is reused: under the service's keep-alive (5 s), so a
/// request never goes out on a connection the service is closing (its answer would be lost,
/// and only a connection refused before sending is safe to retry).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How a subscription authenticates its WebSocket handshake when an API key is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WsAuth {
    /// `Authorization: Bearer <key>` on the handshake, as on REST (the default: no extra
    /// round trip per reconnect).
    #[default]
    Header,
    /// A short-lived ticket from `POST /ws-tickets` as `?ticket=`, as a browser must; a fresh
    /// one for every (re)connection.
    Ticket,
}

/// An operator API key; never printed.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

impl ApiKey {
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// Everything a client was built with.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) base: Url,
    pub(crate) ws: Url,
    pub(crate) grpc: String,
    pub(crate) http: reqwest::Client,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) ws_auth: WsAuth,
    pub(crate) grpc_channel: OnceLock<tonic::transport::Channel>,
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    base: String,
    grpc: Option<String>,
    api_key: Option<ApiKey>,
    retry: RetryPolicy,
    timeout: Duration,
    http: Option<reqwest::Client>,
    ws_auth: WsAuth,
}

impl ClientBuilder {
    pub(crate) fn new(base_url: &str) -> Self {
        Self {
            base: base_url.to_owned(),
            grpc: None,
            api_key: None,
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            http: None,
            ws_auth: WsAuth::default(),
        }
    }

    /// Presents this operator API key on every call (REST, WebSocket, gRPC).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey(key.into()));
        self
    }

    /// Where gRPC is served (`http://host:8001`); by default the REST host at port 8001.
    pub fn grpc_url(mut self, url: impl Into<String>) -> Self {
        self.grpc = Some(url.into());
        self
    }

    /// How REST calls are retried (and subscriptions reconnected).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Deadline of one REST request attempt (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this `reqwest::Client` (its pool, proxy, TLS and source address) for REST.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// How subscriptions authenticate their WebSocket handshake ([`WsAuth::Header`] by default).
    pub fn ws_auth(mut self, auth: WsAuth) -> Self {
        self.ws_auth = auth;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for a base or gRPC URL that is not `http(s)://host…`;
    /// [`ClientError::Tls`] or [`ClientError::Transport`] when the HTTP client cannot be set
    /// up.
    pub fn build(self) -> Result<Client, ClientError> {
        let base = http_url(&self.base)?;
        let ws = ws_url(&base)?;
        let grpc = match self.grpc {
            Some(url) => http_url(&url)?.as_str().trim_end_matches('/').to_owned(),
            None => default_grpc_url(&base)?,
        };
        let http = match self.http {
            Some(client) => client,
            None => crate::tls::http_client_builder()?
                .user_agent(concat!("orchestrator-client/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(5))
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build()
                .map_err(ClientError::Transport)?,
        };
        Ok(Client {
            inner: std::sync::Arc::new(Config {
                base,
                ws,
                grpc,
                http,
                api_key: self.api_key,
                retry: self.retry,
                timeout: self.timeout,
                ws_auth: self.ws_auth,
                grpc_channel: OnceLock::new(),
            }),
        })
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> ClientError {
    ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

/// `raw` as an `http(s)://host…` URL whose path ends with `/` (paths are appended to it).
fn http_url(raw: &str) -> Result<Url, ClientError> {
    let mut url = Url::parse(raw).map_err(|err| invalid(raw, err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(raw, "the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid(raw, "a host is required"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(raw, "a base URL has no query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The WebSocket endpoint beside the REST base: `ws(s)://host/…/ws`.
fn ws_url(base: &Url) -> Result<Url, ClientError> {
    let mut ws = base
        .join("ws")
        .map_err(|err| invalid(base.as_str(), err.to_string()))?;
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    ws.set_scheme(scheme)
        .map_err(|()| invalid(base.as_str(), "no WebSocket URL for it"))?;
    Ok(ws)
}

/// The REST host at [`DEFAULT_GRPC_PORT`].
fn default_grpc_url(base: &Url) -> Result<String, ClientError> {
    let host = base
        .host_str()
        .ok_or_else(|| invalid(base.as_str(), "a host is required"))?;
    // An IPv6 host comes in brackets already.
    Ok(format!("{}://{host}:{DEFAULT_GRPC_PORT}", base.scheme()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_appended_to_the_base_whatever_its_trailing_slash() {
        for raw in ["http://localhost:3000", "http://localhost:3000/"] {
            let base = http_url(raw).unwrap();
            assert_eq!(base.as_str(), "http://localhost:3000/");
        }
        let prefixed = http_url("https://api.example.com/orchestrator").unwrap();
        assert_eq!(prefixed.as_str(), "https://api.example.com/orchestrator/");
    }

    #[test]
    fn the_websocket_and_grpc_endpoints_follow_the_base() {
        let base = http_url("https://api.example.com/orchestrator").unwrap();
        assert_eq!(
            ws_url(&base).unwrap().as_str(),
            "wss://api.example.com/orchestrator/ws"
        );
        assert_eq!(
            default_grpc_url(&base).unwrap(),
            "https://api.example.com:8001"
        );
        let plain = http_url("http://[::1]:3000").unwrap();
        assert_eq!(ws_url(&plain).unwrap().as_str(), "ws://[::1]:3000/ws");
        assert_eq!(default_grpc_url(&plain).unwrap(), "http://[::1]:8001");
    }

    #[test]
    fn a_base_that_is_not_http_is_refused_with_the_reason() {
        for raw in [
            "localhost:3000",
            "ftp://host",
            "http://host/?a=1",
            "not a url",
        ] {
            let err = http_url(raw).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidUrl { ref url, .. } if url == raw),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn the_api_key_is_never_printed() {
        let builder = ClientBuilder::new("http://localhost:3000").api_key("lso_secret");
        assert!(!format!("{builder:?}").contains("lso_secret"));
    }
}
