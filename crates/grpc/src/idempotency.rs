//! `idempotency-key` metadata on the mutating RPCs, through the domain's one idempotency engine
//! ([`orchestrator_domain::idempotency`], which holds the rules, and the store REST uses, so a key is
//! honoured across instances and transports). This module only reads the key, encodes an
//! outcome for replay and maps the engine's refusals to gRPC statuses:
//!
//! - an outcome is kept when it is a response, or an error that is the caller's fault; a
//!   failure of a dependency (`UNAVAILABLE`, `INTERNAL`, …) is not kept, so a retry executes;
//! - a replay carries `idempotent-replayed: true` metadata;
//! - a reused key is `INVALID_ARGUMENT` (`idempotency_key_reused`), a key in use `ABORTED`
//!   (`idempotency_key_in_use`), an invalid key `INVALID_ARGUMENT` (`invalid_idempotency_key`).

use std::future::Future;

use orchestrator_domain::coordination::StoredAnswer;
use orchestrator_domain::idempotency::{Idempotency, IdempotencyError, IdempotencyKey, Run};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};

/// The metadata key carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The metadata key marking a replay.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The status of an idempotency refusal: one exhaustive mapping.
fn refusal(err: IdempotencyError) -> Status {
    match err {
        IdempotencyError::InvalidKey => {
            Status::invalid_argument(format!("invalid_idempotency_key: {err}"))
        }
        IdempotencyError::KeyReused => {
            Status::invalid_argument(format!("idempotency_key_reused: {err}"))
        }
        IdempotencyError::KeyInUse => Status::aborted(format!("idempotency_key_in_use: {err}")),
        IdempotencyError::Store(err) => crate::status(err.into()),
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

fn key_of<M>(request: &Request<M>) -> Result<Option<IdempotencyKey>, IdempotencyError> {
    let Some(raw) = request.metadata().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let raw = raw.to_str().map_err(|_| IdempotencyError::InvalidKey)?;
    IdempotencyKey::new(raw).map(Some)
}

/// An outcome kept for replay: `ok` and the encoded response, or the error's code and message,
/// separated by a newline.
fn encode<Resp: prost::Message>(outcome: &Result<Resp, Status>) -> Option<StoredAnswer> {
    let (head, body) = match outcome {
        Ok(response) => ("ok".to_owned(), response.encode_to_vec()),
        Err(status) if is_callers_fault(status.code()) => (
            (status.code() as i32).to_string(),
            status.message().as_bytes().to_vec(),
        ),
        Err(_) => return None,
    };
    let mut stored = head.into_bytes();
    stored.push(b'\n');
    stored.extend(body);
    Some(StoredAnswer(stored))
}

fn replay<Resp: prost::Message + Default>(stored: &StoredAnswer) -> Result<Response<Resp>, Status> {
    let unreadable = || Status::internal("unreadable kept outcome");
    let split = stored
        .0
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(unreadable)?;
    let (head, body) = (&stored.0[..split], &stored.0[split + 1..]);
    let replayed = MetadataValue::from_static("true");
    if head == b"ok" {
        let mut response = Response::new(Resp::decode(body).map_err(|_| unreadable())?);
        response
            .metadata_mut()
            .insert(IDEMPOTENT_REPLAYED, replayed);
        return Ok(response);
    }
    let code = std::str::from_utf8(head)
        .ok()
        .and_then(|code| code.parse::<i32>().ok())
        .ok_or_else(unreadable)?;
    let mut status = Status::new(Code::from(code), String::from_utf8_lossy(body).into_owned());
    status.metadata_mut().insert(IDEMPOTENT_REPLAYED, replayed);
    Err(status)
}

/// Runs `call` on the request's message at most once per `idempotency-key` (when the metadata
/// carries one) within `method`.
///
/// # Errors
/// The call's own status, or the refusals described in the module docs.
pub async fn run<Req, Resp, F, Fut>(
    engine: &Idempotency,
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
    let Some(key) = key_of(&request).map_err(refusal)? else {
        return call(request.into_inner()).await.map(Response::new);
    };
    // The answer belongs to the key that asked: another key's reuse is a fresh request.
    let caller = request
        .extensions()
        .get::<orchestrator_domain::policy::access::Principal>()
        .and_then(|principal| principal.key().cloned());
    let message = request.into_inner();
    let scope = format!("grpc {method}");
    let encoded = message.encode_to_vec();
    let identity = [scope.as_bytes(), encoded.as_slice()];
    let run = engine
        .run_once(
            caller.as_ref().map(|id| id.as_str()),
            &scope,
            &key,
            &identity,
            || call(message),
            encode,
        )
        .await
        .map_err(refusal)?;
    match run {
        Run::Fresh(outcome) => outcome.map(Response::new),
        Run::Replayed(stored) => replay(&stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_outcomes_replay_as_they_were_and_dependency_failures_are_not_kept() {
        let ok: Result<String, Status> = Ok("stream".into());
        let callers: Result<String, Status> = Err(Status::not_found("no such stream"));
        let ours: Result<String, Status> = Err(Status::unavailable("redis down"));

        let replayed_ok = replay::<String>(&encode(&ok).unwrap()).unwrap();
        let replayed_err = replay::<String>(&encode(&callers).unwrap()).unwrap_err();

        assert_eq!(replayed_ok.get_ref(), "stream");
        assert_eq!(
            replayed_ok.metadata().get(IDEMPOTENT_REPLAYED).unwrap(),
            "true"
        );
        assert_eq!(
            (replayed_err.code(), replayed_err.message()),
            (Code::NotFound, "no such stream")
        );
        assert!(encode(&ours).is_none());
    }
}
