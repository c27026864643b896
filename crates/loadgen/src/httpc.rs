//! A lean HTTP/1.1 keep-alive client on hyper: one TCP connection, one request at a time (the
//! closed loop of a load connection), a deadline per request, and failures sorted into the
//! kinds the reports count. reqwest would add a pool, redirects and header juggling to every
//! request of the hot loop; this does only what a benchmark client needs.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Where a server listens: the socket address and the `host:port` it is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Resolved address.
    pub addr: SocketAddr,
    /// `host:port`, for the Host header and URLs.
    pub authority: String,
}

impl Endpoint {
    /// A server on the loopback interface.
    pub fn loopback(port: u16) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            authority: format!("127.0.0.1:{port}"),
        }
    }

    /// Parses `http://host:port` (or `host:port`) and resolves the host.
    ///
    /// # Errors
    /// When the URL has no port or the host does not resolve.
    pub async fn parse(url: &str) -> anyhow::Result<Self> {
        let authority = url
            .trim_start_matches("http://")
            .trim_start_matches("ws://")
            .trim_end_matches('/')
            .to_owned();
        if !authority.contains(':') || authority.contains('/') {
            return Err(anyhow!("expected http://host:port, got {url:?}"));
        }
        let addr = tokio::net::lookup_host(&authority)
            .await
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to nothing"))?;
        Ok(Self { addr, authority })
    }

    /// `http://host:port`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.authority)
    }
}

/// One request of a load loop.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Origin-form path, e.g. `/streams/<id>`.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Bytes>,
}

impl Req {
    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
        }
    }

    /// `method path` with a JSON body.
    pub fn json(method: Method, path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method,
            path: path.into(),
            body: Some(Bytes::from(body.to_string())),
        }
    }
}

/// An answer: status and the whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection could not be opened.
    Connect(String),
    /// No answer within the deadline.
    Timeout,
    /// The connection broke mid-request.
    Io(String),
}

impl Failure {
    /// The error kind reports count: `connect`, `timeout` or `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Timeout => "timeout",
            Failure::Io(_) => "io",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(err) => write!(f, "connect error: {err}"),
            Failure::Timeout => write!(f, "timeout"),
            Failure::Io(err) => write!(f, "connection error: {err}"),
        }
    }
}

/// A keep-alive connection that reopens itself after a failure.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    deadline: Duration,
    conn: Option<Conn>,
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").finish_non_exhaustive()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Client {
    /// A client of `endpoint`; each request (connecting included) must finish within `deadline`.
    pub fn new(endpoint: Endpoint, deadline: Duration) -> Self {
        Self {
            endpoint,
            deadline,
            conn: None,
        }
    }

    /// Sends `req` on the open connection (opening one if needed) and reads the whole answer.
    ///
    /// # Errors
    /// [`Failure`]; the connection is dropped and the next request opens a new one.
    pub async fn send(&mut self, req: &Req) -> Result<Reply, Failure> {
        match timeout(self.deadline, self.exchange(req)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(failure)) => {
                self.conn = None;
                Err(failure)
            }
            Err(_elapsed) => {
                self.conn = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(&mut self, req: &Req) -> Result<Reply, Failure> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(HOST, self.endpoint.authority.as_str());
        if req.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(req.body.clone().unwrap_or_default()))
            .map_err(|err| Failure::Io(err.to_string()))?;
        let sender = self.ready_sender().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| Failure::Io(err.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| Failure::Io(err.to_string()))?
            .to_bytes();
        Ok(Reply { status, body })
    }

    /// The connection's sender, reconnecting when the server closed the idle connection (that is
    /// keep-alive housekeeping, not a failed request).
    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        let reusable = match self.conn.as_mut() {
            Some(conn) => conn.sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.conn = Some(connect(&self.endpoint).await?);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(&mut conn.sender),
            None => Err(Failure::Io("no connection".into())),
        }
    }

    /// Sends `req` and decodes a 2xx JSON answer (set-up and verification, not the hot loop).
    ///
    /// # Errors
    /// A failure, a non-2xx status (with its body) or an undecodable body.
    pub async fn json<T: DeserializeOwned>(&mut self, req: &Req) -> anyhow::Result<T> {
        let reply = self
            .send(req)
            .await
            .map_err(|failure| anyhow!("{} {}: {failure}", req.method, req.path))?;
        if !reply.is_success() {
            return Err(anyhow!(
                "{} {}: status {}: {}",
                req.method,
                req.path,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ));
        }
        serde_json::from_slice(&reply.body)
            .with_context(|| format!("{} {}: unexpected body", req.method, req.path))
    }
}

async fn connect(endpoint: &Endpoint) -> Result<Conn, Failure> {
    let stream = TcpStream::connect(endpoint.addr)
        .await
        .map_err(|err| Failure::Connect(err.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| Failure::Connect(err.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Conn { sender, driver })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_with_and_without_a_scheme_name_the_same_endpoint() {
        let with_scheme = Endpoint::parse("http://127.0.0.1:3000/").await.unwrap();
        let bare = Endpoint::parse("127.0.0.1:3000").await.unwrap();

        assert_eq!(with_scheme, bare);
        assert_eq!(bare.http_url(), "http://127.0.0.1:3000");
    }

    #[tokio::test]
    async fn a_url_without_a_port_is_refused() {
        assert!(Endpoint::parse("http://localhost").await.is_err());
        assert!(Endpoint::parse("http://localhost:3000/api").await.is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = Client::new(Endpoint::loopback(port), Duration::from_secs(2));

        let failure = client.send(&Req::get("/health")).await.unwrap_err();

        assert_eq!(failure.kind(), "connect");
    }
}
