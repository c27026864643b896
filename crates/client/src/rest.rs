//! One REST call: the request with its key and headers, its retries, and its answer decoded
//! into a type or the error envelope.
//!
//! A [`Call`] is a future (`.await` it) with options to set first: its idempotency key, an
//! `If-Match` version. [`Call::answer`] also returns what the answer's headers say (replayed,
//! `ETag`, request id, the attempts it took).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;
use crate::model::Page;
use crate::retry::{jitter, parse_retry_after};
use crate::{Client, ClientError};

/// A fresh idempotency key (a UUID v4), as every mutation gets unless given one: for a caller
/// that retries a call itself after a lost answer (a timeout), with the same key each time.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What a call sends; built by the operations in `api`.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    method: Method,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Result<Vec<u8>, String>>,
    mutation: bool,
    retried: bool,
    also_ok: Option<u16>,
}

impl Spec {
    /// A read of the path made of `segments` (each percent-encoded as needed).
    pub(crate) fn get<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self::new(Method::GET, segments)
    }

    /// A change: sent with an idempotency key.
    pub(crate) fn mutation<S: Into<String>>(
        method: Method,
        segments: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            mutation: true,
            ..Self::new(method, segments)
        }
    }

    pub(crate) fn new<S: Into<String>>(
        method: Method,
        segments: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            method,
            segments: segments.into_iter().map(Into::into).collect(),
            query: Vec::new(),
            body: None,
            mutation: false,
            retried: true,
            also_ok: None,
        }
    }

    /// With this JSON body.
    pub(crate) fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).map_err(|err| err.to_string()));
        self
    }

    /// With these query parameters.
    pub(crate) fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }

    /// Tried once, and `status` decoded like a success (readiness answers 503 in its shape).
    pub(crate) fn once_accepting(mut self, status: u16) -> Self {
        self.retried = false;
        self.also_ok = Some(status);
        self
    }

    fn describe(&self) -> String {
        format!("{} /{}", self.method, self.segments.join("/"))
    }
}

/// An answer as received.
#[derive(Debug)]
pub(crate) struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }
}

type Decoder<T> = fn(&Client, &str, &Raw) -> Result<T, ClientError>;

/// A REST call, not yet sent: set its options, then `.await` it (or [`Call::answer`]).
#[must_use = "a call does nothing until awaited"]
pub struct Call<T> {
    client: Client,
    spec: Spec,
    idempotency_key: Option<String>,
    if_match: Option<u64>,
    decode: Decoder<T>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("request", &self.spec.describe())
            .field("idempotency_key", &self.idempotency_key)
            .field("if_match", &self.if_match)
            .finish_non_exhaustive()
    }
}

/// A call's answer with what its headers say.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// The decoded body.
    pub value: T,
    /// The HTTP status.
    pub status: u16,
    /// `ETag` (a stream's version, quoted).
    pub etag: Option<String>,
    /// `Location` (of a created stream).
    pub location: Option<String>,
    /// `Idempotent-Replayed: true`: the answer of an earlier call with the same key, replayed;
    /// nothing was executed this time.
    pub replayed: bool,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
    /// The `Idempotency-Key` sent (every mutation has one).
    pub idempotency_key: Option<String>,
    /// Attempts it took (1 without retries).
    pub attempts: u32,
}

/// What one failed attempt means for the next.
struct Failure {
    error: ClientError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl<T: Send + 'static> Call<T> {
    pub(crate) fn new(client: &Client, spec: Spec, decode: Decoder<T>) -> Self {
        Self {
            client: client.clone(),
            spec,
            idempotency_key: None,
            if_match: None,
            decode,
        }
    }

    /// Sends `key` as the `Idempotency-Key` (1 to 255 visible ASCII characters) instead of a
    /// fresh UUID: calling again with the same key and body replays the first answer and
    /// executes nothing (for a mutation whose answer was lost, say).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sends `If-Match: "<version>"`: refused with `412 precondition_failed` unless the
    /// stream is still at `version`.
    pub fn if_match(mut self, version: u64) -> Self {
        self.if_match = Some(version);
        self
    }

    /// Sends the call (retrying as the client's [`RetryPolicy`](crate::RetryPolicy) allows)
    /// and returns its value.
    ///
    /// # Errors
    /// [`ClientError::Api`] for a refusal; [`ClientError::GaveUp`] when retries ran out;
    /// [`ClientError::Timeout`], [`ClientError::Transport`], [`ClientError::Decode`],
    /// [`ClientError::Encode`].
    pub async fn send(self) -> Result<T, ClientError> {
        self.answer().await.map(|answer| answer.value)
    }

    /// Sends the call and returns its value with what the answer's headers say.
    ///
    /// # Errors
    /// As [`Call::send`].
    pub async fn answer(self) -> Result<Answer<T>, ClientError> {
        if let Some(Err(reason)) = &self.spec.body {
            return Err(ClientError::Encode {
                what: self.spec.describe(),
                reason: reason.clone(),
            });
        }
        let key = self
            .spec
            .mutation
            .then(|| self.idempotency_key.clone())
            .map(|key| key.unwrap_or_else(new_idempotency_key));
        let config = self.client.config();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(key.as_deref()).await {
                Ok(raw) if raw.status.is_success() || self.accepts(raw.status) => {
                    return self.decoded(&raw, key, attempt);
                }
                Ok(raw) => refusal(&raw),
                Err(err) => transport_failure(err, config.timeout),
            };
            if !failure.retryable || !self.spec.retried {
                return Err(failure.error);
            }
            match config
                .retry
                .delay(attempt, started.elapsed(), failure.retry_after, jitter())
            {
                Some(wait) => tokio::time::sleep(wait).await,
                None if attempt == 1 => return Err(failure.error),
                None => {
                    return Err(ClientError::GaveUp {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                        last: Box::new(failure.error),
                    })
                }
            }
        }
    }

    fn accepts(&self, status: StatusCode) -> bool {
        self.spec.also_ok == Some(status.as_u16())
    }

    async fn attempt(&self, key: Option<&str>) -> Result<Raw, reqwest::Error> {
        let config = self.client.config();
        let mut url = config.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(&self.spec.segments);
        }
        if !self.spec.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.spec.query);
        }
        let mut request = config
            .http
            .request(self.spec.method.clone(), url)
            .timeout(config.timeout);
        if let Some(api_key) = &config.api_key {
            request = request.header(AUTHORIZATION, api_key.bearer());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(version) = self.if_match {
            request = request.header("If-Match", format!("\"{version}\""));
        }
        if let Some(Ok(body)) = &self.spec.body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    fn decoded(
        &self,
        raw: &Raw,
        idempotency_key: Option<String>,
        attempts: u32,
    ) -> Result<Answer<T>, ClientError> {
        let value = (self.decode)(&self.client, &self.spec.describe(), raw)?;
        Ok(Answer {
            value,
            status: raw.status.as_u16(),
            etag: raw.header("etag"),
            location: raw.header("location"),
            replayed: raw.header("idempotent-replayed").as_deref() == Some("true"),
            request_id: raw.header("x-request-id"),
            idempotency_key,
            attempts,
        })
    }
}

impl<T: Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A non-2xx answer: retried when the service says it may help (503, 429).
fn refusal(raw: &Raw) -> Failure {
    let retry_after = raw
        .header("retry-after")
        .and_then(|v| parse_retry_after(&v));
    let error = ApiError::from_answer(
        raw.status.as_u16(),
        &raw.body,
        raw.header("x-request-id"),
        retry_after,
    );
    Failure {
        retryable: matches!(
            raw.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ),
        retry_after,
        error: ClientError::Api(Box::new(error)),
    }
}

/// A failure before any answer: retried only when the request never left (a connection that
/// could not be made), since a request that left may have been executed.
fn transport_failure(err: reqwest::Error, timeout: Duration) -> Failure {
    let retryable = err.is_connect();
    let error = if err.is_timeout() {
        ClientError::Timeout(timeout)
    } else {
        ClientError::Transport(err)
    };
    Failure {
        error,
        retryable,
        retry_after: None,
    }
}

/// Decodes a JSON answer (an empty body reads as `null`: `()` for a 204).
pub(crate) fn json<T: DeserializeOwned>(
    _: &Client,
    what: &str,
    raw: &Raw,
) -> Result<T, ClientError> {
    let body: &[u8] = if raw.body.is_empty() {
        b"null"
    } else {
        &raw.body
    };
    serde_json::from_slice(body).map_err(|err| ClientError::Decode {
        what: what.to_owned(),
        reason: err.to_string(),
    })
}

/// Decodes a page of a listing whose next page is named by `cursor` in its `Link` header.
pub(crate) fn page<T: DeserializeOwned>(
    client: &Client,
    what: &str,
    raw: &Raw,
) -> Result<Page<T>, ClientError> {
    paged(client, what, raw, "cursor")
}

/// Decodes a page of the event log, whose next page is named by `afterSeq`.
pub(crate) fn event_page<T: DeserializeOwned>(
    client: &Client,
    what: &str,
    raw: &Raw,
) -> Result<Page<T>, ClientError> {
    paged(client, what, raw, "afterSeq")
}

fn paged<T: DeserializeOwned>(
    client: &Client,
    what: &str,
    raw: &Raw,
    param: &str,
) -> Result<Page<T>, ClientError> {
    Ok(Page {
        items: json(client, what, raw)?,
        next: crate::model::next_of(raw.header("link").as_deref(), &client.config().base, param),
    })
}

/// Decodes a text answer.
pub(crate) fn text(_: &Client, what: &str, raw: &Raw) -> Result<String, ClientError> {
    String::from_utf8(raw.body.clone()).map_err(|err| ClientError::Decode {
        what: what.to_owned(),
        reason: err.to_string(),
    })
}
