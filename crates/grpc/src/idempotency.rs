//! `idempotency-key` metadata on the mutating RPCs, with the REST semantics and the same store
//! (so a key is honoured across instances): the first call executes and its outcome is kept
//! (errors that are the caller's fault included); a retry with the same request gets the kept
//! outcome with `idempotent-replayed: true` metadata; the same key with another request is
//! `INVALID_ARGUMENT` (`idempotency_key_reused`); a retry while the first runs is `ABORTED`
//! (`idempotency_key_in_use`); a failure of a dependency (`UNAVAILABLE`, `INTERNAL`, …) is not
//! kept, so a retry executes again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::coordination::{
    is_valid_idempotency_key, IdempotencyBegin, IdempotencyStore, StoredResponse,
    MAX_IDEMPOTENCY_KEY_LEN,
};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};

/// The metadata key carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The metadata key marking a replay.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Stored "status" of a successful call (its body is the encoded response message).
const OK: u16 = 200;
/// Stored statuses of kept errors are this plus the gRPC code.
const ERROR_BASE: u16 = 1000;

/// The idempotency store and its timings.
#[derive(Clone)]
pub struct GrpcIdempotency {
    /// Where keys live (shared with REST).
    pub store: Arc<dyn IdempotencyStore>,
    /// How long an outcome is replayed.
    pub retention: Duration,
    /// How long an unfinished call holds its key.
    pub lock_ttl: Duration,
}

impl std::fmt::Debug for GrpcIdempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcIdempotency")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// Whether a failure is the caller's (kept and replayed) rather than ours or a dependency's.
fn is_callers_fault(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::OutOfRange
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

fn key_of<M>(request: &Request<M>) -> Result<Option<String>, Status> {
    let Some(raw) = request.metadata().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let invalid = || {
        Status::invalid_argument(format!(
            "invalid_idempotency_key: idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        ))
    };
    let key = raw.to_str().map_err(|_| invalid())?;
    if !is_valid_idempotency_key(key) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

fn replayed<T>(mut response: Response<T>) -> Response<T> {
    response
        .metadata_mut()
        .insert(IDEMPOTENT_REPLAYED, MetadataValue::from_static("true"));
    response
}

fn replay<Resp: prost::Message + Default>(
    stored: StoredResponse,
) -> Result<Response<Resp>, Status> {
    if stored.status == OK {
        let message = Resp::decode(stored.body.as_slice())
            .map_err(|err| Status::internal(format!("unreadable kept response: {err}")))?;
        return Ok(replayed(Response::new(message)));
    }
    let code = Code::from(i32::from(stored.status.saturating_sub(ERROR_BASE)));
    let mut status = Status::new(code, String::from_utf8_lossy(&stored.body).into_owned());
    status
        .metadata_mut()
        .insert(IDEMPOTENT_REPLAYED, MetadataValue::from_static("true"));
    Err(status)
}

impl GrpcIdempotency {
    /// Runs `call` on the request's message at most once per `idempotency-key` (when the
    /// metadata carries one).
    ///
    /// # Errors
    /// The call's own status, or the idempotency refusals described in the module docs.
    pub async fn run<Req, Resp, F, Fut>(
        &self,
        method: &str,
        request: Request<Req>,
        call: F,
    ) -> Result<Response<Resp>, Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        F: FnOnce(Req) -> Fut,
        Fut: Future<Output = Result<Resp, Status>>,
    {
        let Some(key) = key_of(&request)? else {
            return call(request.into_inner()).await.map(Response::new);
        };
        let message = request.into_inner();
        let scope = format!("grpc {method} {key}");
        let mut digest = Sha256::new();
        digest.update(method.as_bytes());
        digest.update(b"\n");
        digest.update(message.encode_to_vec());
        let fingerprint: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let begun = self
            .store
            .begin(&scope, &fingerprint, self.lock_ttl)
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        match begun {
            IdempotencyBegin::Started => {}
            IdempotencyBegin::Completed(stored) => return replay(stored),
            IdempotencyBegin::InProgress => {
                return Err(Status::aborted(
                    "idempotency_key_in_use: a call with this idempotency-key is still running",
                ))
            }
            IdempotencyBegin::Mismatch => {
                return Err(Status::invalid_argument(
                    "idempotency_key_reused: this idempotency-key was used with another request",
                ))
            }
        }
        let outcome = call(message).await;
        let kept = match &outcome {
            Ok(response) => Some(StoredResponse {
                status: OK,
                content_type: Some("application/protobuf".into()),
                body: response.encode_to_vec(),
            }),
            Err(status) if is_callers_fault(status.code()) => Some(StoredResponse {
                status: ERROR_BASE + status.code() as u16,
                content_type: Some("text/plain".into()),
                body: status.message().as_bytes().to_vec(),
            }),
            Err(_) => None,
        };
        match kept {
            Some(stored) => {
                if let Err(err) = self
                    .store
                    .complete(&scope, &fingerprint, stored, self.retention)
                    .await
                {
                    tracing::warn!(error = %err, "could not record an idempotent gRPC outcome");
                }
            }
            None => {
                let _ = self.store.abandon(&scope, &fingerprint).await;
            }
        }
        outcome.map(Response::new)
    }
}
