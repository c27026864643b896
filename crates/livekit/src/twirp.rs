//! LiveKit's server APIs over Twirp, with the caller's trace carried on.
//!
//! `livekit_api`'s service clients send no header of ours, so a LiveKit call could not carry
//! the W3C `traceparent` of the request that caused it. This client speaks the same protocol:
//! `POST <url>/twirp/livekit.<Service>/<Method>`, the request message as protobuf, a bearer
//! token signed with the API key and secret (the grants `livekit_api` asks for the same call,
//! for ten minutes), and a Twirp error (`{"code", "msg"}` in JSON) on failure. Within a
//! [`TraceContext`], each call also carries `traceparent: 00-<trace id>-<request's span>-<flags>`.
//!
//! On LiveKit Cloud (`*.livekit.cloud`, `*.livekit.run`), a call that fails on the network or
//! with a 5xx is retried on the project's other regions, as `livekit_api` does ([`regions`]).
//!
//! One HTTP client (and its connection pool) serves every instance of the process.

mod regions;

use std::sync::OnceLock;
use std::time::Duration;

use livekit_api::access_token::{AccessToken, AccessTokenError, VideoGrants};
use orchestrator_domain::policy::trace::{TraceContext, TRACEPARENT};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{StatusCode, Url};

use crate::config::LiveKitConfig;

/// Lifetime of the token of one call: long enough for any clock skew, short if it leaks.
const TOKEN_TTL: Duration = Duration::from_secs(600);

/// Who calls, as LiveKit's logs see it.
const USER_AGENT_VALUE: &str = concat!("livestream-orchestrator/", env!("CARGO_PKG_VERSION"));

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TwirpError {
    /// LiveKit answered with a Twirp error.
    #[error("{code}: {msg}")]
    Server {
        /// Twirp's error code (`not_found`, `unavailable`, …).
        code: String,
        /// LiveKit's message.
        msg: String,
    },
    /// An error status without a Twirp error in its body (a proxy's answer, say).
    #[error("LiveKit answered {0} without a Twirp error")]
    UnreadableError(StatusCode),
    /// The request did not complete: connection, TLS, timeout.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// A success whose body is not the expected message.
    #[error("unreadable answer: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The configured URL cannot be called.
    #[error("invalid LiveKit URL: {0}")]
    Url(String),
    /// The call's token could not be signed.
    #[error("credentials: {0}")]
    Token(#[from] AccessTokenError),
    /// No HTTP client could be built in this process.
    #[error("no HTTP client: {0}")]
    Client(String),
}

/// The body of a Twirp error.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    msg: String,
}

/// A client of one LiveKit server's Twirp services.
#[derive(Clone)]
pub(crate) struct Twirp {
    /// The server, `ws(s)://` read as `http(s)://`; its path is replaced by each call's.
    base: Result<Url, String>,
    api_key: String,
    api_secret: String,
    timeout: Duration,
    failover: regions::Failover,
}

impl Twirp {
    /// A client of the server `config` names, with its credentials and call budget.
    pub(crate) fn new(config: &LiveKitConfig) -> Self {
        let base = Url::parse(&http_scheme(&config.url)).map_err(|err| err.to_string());
        let failover = regions::Failover::for_host(
            base.as_ref().ok().and_then(Url::host_str),
            config.request_timeout,
        );
        Self {
            base,
            api_key: config.api_key.clone(),
            api_secret: config.api_secret.clone(),
            timeout: config.request_timeout,
            failover,
        }
    }

    /// Calls `method` of `livekit.<service>` with `request`, authorised by `grants`.
    pub(crate) async fn call<Q, A>(
        &self,
        service: &str,
        method: &str,
        request: &Q,
        grants: VideoGrants,
    ) -> Result<A, TwirpError>
    where
        Q: prost::Message,
        A: prost::Message + Default,
    {
        let base = self.base.clone().map_err(TwirpError::Url)?;
        let client = http_client()?;
        let headers = self.headers(grants)?;
        let body = request.encode_to_vec();
        let path = format!("/twirp/livekit.{service}/{method}");
        let mut attempt = regions::Attempt::first(&base);
        loop {
            let mut url = attempt.server().clone();
            url.set_path(&path);
            let sent = client
                .post(url)
                .headers(headers.clone())
                .body(body.clone())
                .timeout(self.timeout)
                .send()
                .await;
            // Another region may answer what this one could not (never a 4xx: it would too).
            let retryable = sent
                .as_ref()
                .map_or(true, |answer| answer.status().is_server_error());
            let outcome = match sent {
                Ok(answer) => answered(answer).await,
                Err(err) => Err(err.into()),
            };
            if outcome.is_err()
                && retryable
                && self.failover.next(&mut attempt, &client, &headers).await
            {
                continue;
            }
            return outcome;
        }
    }

    /// The headers of one call: its token, the protobuf body, and the current trace.
    fn headers(&self, grants: VideoGrants) -> Result<HeaderMap, TwirpError> {
        let token = AccessToken::with_api_key(&self.api_key, &self.api_secret)
            .with_ttl(TOKEN_TTL)
            .with_grants(grants)
            .to_jwt()?;
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|err| TwirpError::Client(format!("token as a header: {err}")))?;
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/protobuf"),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(trace) = TraceContext::current() {
            if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
                headers.insert(TRACEPARENT, value);
            }
        }
        Ok(headers)
    }
}

/// The message of a 200, or the Twirp error of anything else.
async fn answered<A: prost::Message + Default>(answer: reqwest::Response) -> Result<A, TwirpError> {
    let status = answer.status();
    let body = answer.bytes().await?;
    if status == StatusCode::OK {
        return Ok(A::decode(body)?);
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(error) => Err(TwirpError::Server {
            code: error.code,
            msg: error.msg,
        }),
        Err(_) => Err(TwirpError::UnreadableError(status)),
    }
}

/// LiveKit URLs are usually `wss://`; its server APIs are served over HTTP on the same host.
fn http_scheme(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_owned()
    }
}

/// The process's HTTP client for LiveKit. TLS is rustls on ring with the webpki roots, as in
/// `livekit_api` (which builds reqwest without a default crypto provider).
fn http_client() -> Result<reqwest::Client, TwirpError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|err| err.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()
                .map_err(|err| err.to_string())
        })
        .clone()
        .map_err(TwirpError::Client)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use livekit_protocol as proto;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// What a stand-in server received: request line and headers, lowercased names.
    type Received = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

    /// A server on loopback answering each request with `answer(request line)`.
    async fn stand_in(answer: impl Fn(&str) -> String + Send + 'static) -> (String, Received) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Received::default();
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let mut socket = BufReader::new(socket);
                let mut line = String::new();
                socket.read_line(&mut line).await.unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    socket.read_line(&mut header).await.unwrap();
                    let Some((name, value)) = header.trim_end().split_once(':') else {
                        break;
                    };
                    headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
                }
                let length = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .map_or(0, |(_, value)| value.parse().unwrap());
                socket.read_exact(&mut vec![0; length]).await.unwrap();
                let reply = answer(line.trim_end());
                log.lock()
                    .unwrap()
                    .push((line.trim_end().to_owned(), headers));
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        (url, received)
    }

    fn reply(status: &str, content_type: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn config(url: &str) -> LiveKitConfig {
        LiveKitConfig {
            url: url.to_owned(),
            api_key: "key".into(),
            api_secret: "a-secret-of-at-least-32-characters-long".into(),
            token_ttl: Duration::from_secs(60),
            empty_timeout_secs: 0,
            departure_timeout_secs: 0,
            max_participants: 0,
            request_timeout: Duration::from_secs(2),
        }
    }

    /// A client of `url` that fails over like on LiveKit Cloud.
    fn failing_over(url: &str) -> Twirp {
        Twirp {
            failover: regions::Failover::always(3, Duration::from_millis(1)),
            ..Twirp::new(&config(url))
        }
    }

    async fn list_rooms(twirp: &Twirp) -> Result<proto::ListRoomsResponse, TwirpError> {
        let grants = VideoGrants {
            room_list: true,
            ..VideoGrants::default()
        };
        twirp
            .call(
                "RoomService",
                "ListRooms",
                &proto::ListRoomsRequest::default(),
                grants,
            )
            .await
    }

    #[tokio::test]
    async fn a_region_that_fails_is_replaced_by_the_next_one_the_project_lists() {
        let (healthy, answered) = stand_in(|_| reply("200 OK", "application/protobuf", "")).await;
        let listed = format!(
            r#"{{"regions":[{{"url":"{}"}}]}}"#,
            healthy.replace("http://", "ws://")
        );
        let (failing, asked) = stand_in(move |line| {
            if line.starts_with("GET /settings/regions") {
                reply("200 OK", "application/json", &listed)
            } else {
                reply(
                    "503 Service Unavailable",
                    "application/json",
                    r#"{"code":"unavailable","msg":"down"}"#,
                )
            }
        })
        .await;

        let result = list_rooms(&failing_over(&failing)).await;

        assert!(result.is_ok(), "{result:?}");
        let asked: Vec<String> = asked
            .lock()
            .unwrap()
            .iter()
            .map(|(l, _)| l.clone())
            .collect();
        assert_eq!(
            asked,
            [
                "POST /twirp/livekit.RoomService/ListRooms HTTP/1.1",
                "GET /settings/regions HTTP/1.1"
            ]
        );
        let answered = answered.lock().unwrap();
        assert_eq!(answered.len(), 1);
        let (line, headers) = &answered[0];
        assert_eq!(line, "POST /twirp/livekit.RoomService/ListRooms HTTP/1.1");
        assert!(headers
            .iter()
            .any(|(name, value)| name == "authorization" && value.starts_with("Bearer ")));
    }

    #[tokio::test]
    async fn a_refusal_is_not_failed_over_and_keeps_its_twirp_code() {
        let (refusing, asked) = stand_in(|_| {
            reply(
                "404 Not Found",
                "application/json",
                r#"{"code":"not_found","msg":"no room"}"#,
            )
        })
        .await;

        let result = list_rooms(&failing_over(&refusing)).await;

        assert!(
            matches!(&result, Err(TwirpError::Server { code, msg }) if code == "not_found" && msg == "no room"),
            "{result:?}"
        );
        assert_eq!(asked.lock().unwrap().len(), 1, "the regions were not asked");
    }

    #[tokio::test]
    async fn without_another_region_the_failure_stands() {
        let (failing, asked) = stand_in(|line| {
            if line.starts_with("GET") {
                reply("404 Not Found", "text/plain", "")
            } else {
                reply("500 Internal Server Error", "text/plain", "oops")
            }
        })
        .await;

        let result = list_rooms(&failing_over(&failing)).await;

        assert!(
            matches!(
                result,
                Err(TwirpError::UnreadableError(
                    StatusCode::INTERNAL_SERVER_ERROR
                ))
            ),
            "{result:?}"
        );
        assert_eq!(
            asked.lock().unwrap().len(),
            2,
            "one call, one region listing"
        );
    }

    #[test]
    fn websocket_urls_are_called_over_http() {
        assert_eq!(
            http_scheme("wss://x.livekit.cloud"),
            "https://x.livekit.cloud"
        );
        assert_eq!(http_scheme("ws://127.0.0.1:7880"), "http://127.0.0.1:7880");
        assert_eq!(
            http_scheme("https://x.livekit.cloud"),
            "https://x.livekit.cloud"
        );
    }
}
