//! Operator API keys on the gRPC API: `authorization: Bearer <key>` metadata on every call of
//! `StreamService`, Subscribe included, checked by the domain's [`Access`] policy before the
//! call is decoded. Reads (`Get*`, `List*`, `Subscribe`) need a key of any scope, everything
//! else a key with the write scope. Refusals are `UNAUTHENTICATED` and `PERMISSION_DENIED`.
//! Each call also takes one request from its address's and its key's rate limit (the domain's
//! [`RateLimits`], the same buckets REST uses), `RESOURCE_EXHAUSTED` with `retry-after` metadata
//! beyond.
//! Reflection and `grpc.health.v1` are not wrapped: they stay open, like REST's probes.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{ready, Either, Ready};
use orchestrator_domain::policy::access::{Access, AccessError, Principal, Scope};
use orchestrator_domain::policy::limits::{Limited, RateLimits};
use tonic::codegen::{http, Service};
use tonic::server::NamedService;
use tonic::Status;

/// The RPCs a read-only key may call.
const READS: [&str; 5] = [
    "Subscribe",
    "GetStream",
    "ListStreams",
    "GetStreamState",
    "ListParticipants",
];

/// What calling `path` (`/<package>.<Service>/<Method>`) needs: reads a key of any scope,
/// anything else (an unknown method too) the write scope.
pub(crate) fn needed_scope(path: &str) -> Scope {
    let method = path.rsplit('/').next().unwrap_or_default();
    if READS.contains(&method) {
        Scope::Read
    } else {
        Scope::Write
    }
}

/// The gRPC status of a refusal: one exhaustive mapping.
pub fn status(err: AccessError) -> Status {
    let message = err.to_string();
    match err {
        AccessError::Missing
        | AccessError::Malformed
        | AccessError::InvalidKey
        | AccessError::InvalidTicket
        | AccessError::ExpiredTicket => Status::unauthenticated(message),
        AccessError::Forbidden => Status::permission_denied(message),
    }
}

/// A service whose every call is checked against the access policy first.
#[derive(Debug, Clone)]
pub struct Authenticated<S> {
    inner: S,
    access: Access,
    limits: Arc<RateLimits>,
}

impl<S> Authenticated<S> {
    /// `inner`, behind `access` and `limits`.
    pub fn new(inner: S, access: Access, limits: Arc<RateLimits>) -> Self {
        Self {
            inner,
            access,
            limits,
        }
    }

    fn admit<B>(&self, request: &http::Request<B>) -> Result<Principal, Status> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.to_str().map_err(|_| AccessError::Malformed))
            .transpose();
        let needed = needed_scope(request.uri().path());
        let principal = authorization
            .and_then(|authorization| self.access.check(authorization, needed))
            .map_err(status)?;
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr())
            .map(|addr| addr.ip());
        self.limits
            .check(peer, principal.key())
            .map_err(rate_limited)?;
        Ok(principal)
    }
}

fn rate_limited(limited: Limited) -> Status {
    let secs = limited.retry_after_secs();
    let mut status = Status::resource_exhausted(format!("too many requests; retry after {secs} s"));
    if let Ok(value) = secs.to_string().parse() {
        status.metadata_mut().insert("retry-after", value);
    }
    status
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.admit(&request) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Either::Right(self.inner.call(request))
            }
            Err(refusal) => {
                tracing::debug!(path = %request.uri().path(), code = ?refusal.code(),
                    "gRPC call refused");
                Either::Left(ready(Ok(refusal.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_any_key_and_everything_else_the_write_scope() {
        let service = "/livestream.orchestrator.v1.StreamService/";
        for read in READS {
            assert_eq!(needed_scope(&format!("{service}{read}")), Scope::Read);
        }
        for write in [
            "CreateStream",
            "UpdateStream",
            "StopStream",
            "JoinStream",
            "LeaveStream",
            "SomethingNew",
        ] {
            assert_eq!(needed_scope(&format!("{service}{write}")), Scope::Write);
        }
    }

    #[test]
    fn refusals_are_unauthenticated_or_permission_denied() {
        assert_eq!(
            status(AccessError::Missing).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            status(AccessError::InvalidKey).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            status(AccessError::Forbidden).code(),
            tonic::Code::PermissionDenied
        );
    }
}
