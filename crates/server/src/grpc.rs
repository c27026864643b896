//! The gRPC port: `StreamService` behind operator keys and the shared rate limits, with
//! reflection and health, on tonic. Its hub holds one subscription to the instance's event feed
//! and encodes every event once as its proto message.

use std::net::TcpListener;

use orchestrator_grpc::{GrpcState, ProtoCodec};
use orchestrator_realtime::Hub;
use tokio_util::sync::CancellationToken;

use crate::{ServerConfig, UseCases};

/// The gRPC server, bound, not yet serving, and the token that stops it.
#[derive(Debug)]
pub struct GrpcServer {
    listener: TcpListener,
    state: GrpcState,
    shutdown: CancellationToken,
}

/// Why the gRPC server stopped serving.
pub type GrpcError = Box<dyn std::error::Error + Send + Sync>;

impl GrpcServer {
    /// The server on `listener`: [`GrpcServer::run`] serves until `shutdown` is cancelled.
    ///
    /// # Errors
    /// The listener cannot be made non-blocking (tonic serves it on the tokio runtime).
    pub fn new(
        listener: TcpListener,
        config: &ServerConfig,
        use_cases: &UseCases,
        shutdown: &CancellationToken,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            state: state(config, use_cases),
            shutdown: shutdown.clone(),
        })
    }

    /// Serves until the shutdown token is cancelled, then ends every subscription (with where
    /// to resume) and lets unary calls finish.
    ///
    /// # Errors
    /// The listener cannot be registered with the runtime, or the server fails.
    pub async fn run(self) -> Result<(), GrpcError> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        orchestrator_grpc::serve(listener, self.state, self.shutdown).await
    }
}

/// The gRPC service's state: the use cases, behind the same keys, rate limits and idempotency
/// store as REST.
fn state(config: &ServerConfig, use_cases: &UseCases) -> GrpcState {
    GrpcState::new(
        use_cases.service.clone(),
        Hub::new(use_cases.events.clone(), ProtoCodec, config.hub),
    )
    .with_idempotency(use_cases.idempotency.clone())
    .with_readiness(use_cases.readiness.clone())
    .with_access(use_cases.access.clone())
    .with_rate_limits(use_cases.rate_limits.clone())
    .with_limits(config.grpc)
}
