//! gRPC transport of the livestream orchestrator, on tonic: `livestream.orchestrator.v1`
//! compiled from `proto/streams.proto` (by protox in `build.rs`, no system `protoc`), with
//! server reflection (v1 and v1alpha) and `grpc.health.v1`, so `grpcurl -plaintext host:8001
//! list` works without the proto file.
//!
//! The proto keeps every message, field and enum value of the original product's
//! `streams.proto` (numbers, types, names), so clients generated from it work unchanged; see the
//! compatibility rule at the top of the proto file.
//!
//! `Subscribe` streams one stream's events through the instance's [`Hub`]: each event is
//! converted to its proto message and encoded once ([`ProtoCodec`]), and every subscriber sends
//! the same bytes; with `audience_interval_ms`, viewers' events are folded into
//! `STREAM_EVENT_TYPE_AUDIENCE_UPDATED` messages, each also encoded once. The unary RPCs mirror
//! the REST endpoints and call the same [`StreamService`] methods. Every domain error goes
//! through [`status`], one exhaustive `match`.
//!
//! # Layout
//!
//! - [`proto`]: the generated messages, server and client, and the descriptor set.
//! - [`ProtoCodec`], [`EncodedEvent`] (`codec`): events encoded once for every subscriber.
//! - `events`: a domain event → its proto `StreamEvent` with the typed payload.
//! - `convert`: the unary RPCs' requests and answers, and the participant, audience, status and
//!   timestamp conversions events share with them.
//! - `broadcast`: the ingest and output RPCs, their messages and event payloads.
//! - `metadata`: JSON metadata ↔ `google.protobuf.Struct`, and the original's string map.
//! - `subscribe`: the `Subscribe` response stream.
//! - [`GrpcState`], [`serve`]: the server with reflection and health, until a shutdown token is
//!   cancelled.
//! - [`status`]: the `StreamError → tonic::Code` mapping.
//! - [`idempotency`]: `idempotency-key` metadata on the mutating RPCs.
//! - [`auth`]: operator API keys (`authorization` metadata) on every `StreamService` call.
//! - `decode`: requests that do not decode are `INVALID_ARGUMENT`.
//! - `health`: `grpc.health.v1` following the instance's readiness.
//! - [`metered`]: calls by method and code, latencies, subscriptions, deliveries (`/metrics`).
//!
//! # Limits
//!
//! A request message may be at most [`GrpcLimits::max_message_bytes`] (64 KiB by default, as
//! REST bodies; beyond, tonic answers `OUT_OF_RANGE`), and a connection may carry at most
//! [`GrpcLimits::max_concurrent_streams`] calls at once (each `Subscribe` is one). Error
//! messages never echo more than a short excerpt of the input.

use std::future::Future;

use orchestrator_domain::broadcast::BroadcastError;
use orchestrator_domain::idempotency::Idempotency;
use orchestrator_domain::policy::access::Access;
use orchestrator_domain::policy::limits::RateLimits;
use orchestrator_domain::policy::readiness::Readiness;
use orchestrator_domain::{change::TransitionError, error::StreamError, service::StreamService};
use orchestrator_realtime::Hub;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

pub mod auth;
mod broadcast;
mod codec;
mod convert;
mod decode;
mod events;
mod health;
pub mod idempotency;
mod metadata;
pub mod metered;
mod subscribe;

pub use codec::{EncodedEvent, ProtoCodec};

/// The generated `livestream.orchestrator.v1` code.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::wildcard_enum_match_arm,
    clippy::unwrap_used
)]
pub mod proto {
    tonic::include_proto!("livestream.orchestrator.v1");

    /// The server, generated apart so that `Subscribe` streams [`crate::EncodedEvent`]s.
    pub mod server {
        include!(concat!(
            env!("OUT_DIR"),
            "/server/livestream.orchestrator.v1.rs"
        ));
    }

    /// The encoded descriptors of `streams.proto` (served by reflection).
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/streams_descriptor.bin"));
}

use proto::server::stream_service_server::{StreamService as StreamRpc, StreamServiceServer};

/// Limits of the gRPC listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcLimits {
    /// Largest request message.
    pub max_message_bytes: usize,
    /// Calls (subscriptions included) one connection may carry at once.
    pub max_concurrent_streams: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_concurrent_streams: 1000,
        }
    }
}

/// What the gRPC service needs.
#[derive(Debug, Clone)]
pub struct GrpcState {
    service: StreamService,
    hub: Hub<ProtoCodec>,
    /// Cancelled when the server shuts down, ending every subscription.
    closing: CancellationToken,
    idempotency: Option<Idempotency>,
    access: Access,
    limits: GrpcLimits,
    rate_limits: std::sync::Arc<RateLimits>,
    readiness: Option<Readiness>,
}

impl GrpcState {
    /// The service's use cases and the instance's fan-out of proto events.
    pub fn new(service: StreamService, hub: Hub<ProtoCodec>) -> Self {
        Self {
            service,
            hub,
            closing: CancellationToken::new(),
            idempotency: None,
            access: Access::open(),
            limits: GrpcLimits::default(),
            rate_limits: std::sync::Arc::new(RateLimits::off()),
            readiness: None,
        }
    }

    /// Counts every `StreamService` call against `limits`, per address and per key (none by
    /// default).
    pub fn with_rate_limits(mut self, limits: std::sync::Arc<RateLimits>) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Checks operator keys on every `StreamService` call with `access` (open by default).
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Message and stream limits (64 KiB and 1000 by default).
    pub fn with_limits(mut self, limits: GrpcLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Reports `readiness` through `grpc.health.v1` (without it, the server reports `SERVING`
    /// while it runs).
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// Honours `idempotency-key` metadata on the mutating RPCs with `idempotency`, the engine
    /// REST uses too.
    pub fn with_idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = Some(idempotency);
        self
    }

    /// Runs a mutating call through the idempotency store, when there is one.
    async fn once<Req, Resp, F, Fut>(
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
        match &self.idempotency {
            Some(engine) => idempotency::run(engine, method, request, call).await,
            None => call(request.into_inner()).await.map(Response::new),
        }
    }
}

/// Serves the orchestrator's gRPC API, reflection and health on `listener` until `shutdown`
/// is cancelled, then ends every subscription (with where to resume) and lets unary calls
/// finish.
///
/// # Errors
/// The reflection descriptors are invalid, or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut state: GrpcState,
    shutdown: CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Subscriptions never finish by themselves; the graceful shutdown would wait for them.
    state.closing = shutdown.clone();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    // Reported before the first call is accepted, then followed while the server runs.
    let readiness = state.readiness.clone();
    let initial = readiness.as_ref().is_none_or(|r| r.report().is_ready());
    health::report(&health, initial).await;
    let follower = readiness.map(|readiness| tokio::spawn(health::follow(health, readiness)));
    let access = state.access.clone();
    let rate_limits = state.rate_limits.clone();
    let limits = state.limits;
    let streams =
        StreamServiceServer::new(state).max_decoding_message_size(limits.max_message_bytes);
    let served = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .layer(metered::MetricsLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(auth::Authenticated::new(streams, access, rate_limits))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await;
    if let Some(follower) = follower {
        follower.abort();
    }
    served?;
    Ok(())
}

/// The gRPC status of a domain error: one exhaustive mapping for every RPC.
pub fn status(err: StreamError) -> Status {
    // Messages may quote a client's input (an excerpt of an id): never raw control or
    // bidirectional characters.
    let message = orchestrator_domain::values::printable(&err.to_string()).into_owned();
    match err {
        StreamError::Invalid(_) | StreamError::Rejected(TransitionError::Invalid(_)) => {
            Status::invalid_argument(message)
        }
        StreamError::NotFound(_)
        | StreamError::Rejected(TransitionError::ParticipantNotFound(_)) => {
            Status::not_found(message)
        }
        StreamError::RoomNameTaken(_) => Status::already_exists(message),
        StreamError::Rejected(
            TransitionError::InvalidTransition { .. } | TransitionError::NotActive(_),
        ) => Status::failed_precondition(message),
        StreamError::Rejected(
            TransitionError::VersionConflict { .. } | TransitionError::PreconditionFailed { .. },
        ) => Status::aborted(message),
        StreamError::MediaUnavailable(_) | StreamError::StoreUnavailable(_) => {
            Status::unavailable(message)
        }
        StreamError::MediaRejected(_) => Status::internal(message),
        StreamError::Broadcast(refused) => broadcast_status(&refused, message),
        StreamError::Internal(_) => {
            tracing::error!(error = %message, "gRPC call failed");
            Status::internal("internal error")
        }
    }
}

/// The code of each broadcast refusal.
fn broadcast_status(refused: &BroadcastError, message: String) -> Status {
    match refused {
        BroadcastError::IngestNotFound | BroadcastError::OutputNotFound(_) => {
            Status::not_found(message)
        }
        BroadcastError::IngestExists | BroadcastError::OutputExists(_) => {
            Status::already_exists(message)
        }
        BroadcastError::TooManyOutputs => Status::resource_exhausted(message),
        BroadcastError::OutputBusy(_) | BroadcastError::StorageNotConfigured(_) => {
            Status::failed_precondition(message)
        }
        BroadcastError::Contended(_) => Status::aborted(message),
        BroadcastError::Unsupported => Status::unimplemented(message),
    }
}

#[tonic::async_trait]
impl StreamRpc for GrpcState {
    type SubscribeStream = subscribe::EventStream;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        subscribe::subscribe(self, request.into_inner()).await
    }

    async fn create_stream(
        &self,
        request: Request<proto::CreateStreamRequest>,
    ) -> Result<Response<proto::Stream>, Status> {
        self.once("CreateStream", request, |request| async move {
            let request = convert::create(request).map_err(status)?;
            let stream = self.service.create(request).await.map_err(status)?;
            Ok(convert::stream(&stream))
        })
        .await
    }

    async fn get_stream(
        &self,
        request: Request<proto::GetStreamRequest>,
    ) -> Result<Response<proto::Stream>, Status> {
        let id = convert::stream_id(&request.into_inner().stream_id).map_err(status)?;
        let view = self.service.view(id).await.map_err(status)?;
        Ok(Response::new(convert::stream_view(&view)))
    }

    async fn list_streams(
        &self,
        request: Request<proto::ListStreamsRequest>,
    ) -> Result<Response<proto::ListStreamsResponse>, Status> {
        let request = convert::list(request.into_inner());
        let page = self.service.list_views(request).await.map_err(status)?;
        Ok(Response::new(proto::ListStreamsResponse {
            streams: page.items.iter().map(convert::stream_view).collect(),
            next_cursor: page
                .next
                .map(|cursor| cursor.as_str().to_owned())
                .unwrap_or_default(),
        }))
    }

    async fn update_stream(
        &self,
        request: Request<proto::UpdateStreamRequest>,
    ) -> Result<Response<proto::Stream>, Status> {
        self.once("UpdateStream", request, |request| async move {
            let id = convert::stream_id(&request.stream_id).map_err(status)?;
            let update = convert::update(request).map_err(status)?;
            let stream = self.service.update(id, update).await.map_err(status)?;
            let view = self
                .service
                .with_participants(stream)
                .await
                .map_err(status)?;
            Ok(convert::stream_view(&view))
        })
        .await
    }

    async fn stop_stream(
        &self,
        request: Request<proto::StopStreamRequest>,
    ) -> Result<Response<proto::Stream>, Status> {
        self.once("StopStream", request, |request| async move {
            let id = convert::stream_id(&request.stream_id).map_err(status)?;
            let stream = self.service.stop(id).await.map_err(status)?;
            let view = self
                .service
                .with_participants(stream)
                .await
                .map_err(status)?;
            Ok(convert::stream_view(&view))
        })
        .await
    }

    async fn join_stream(
        &self,
        request: Request<proto::JoinStreamRequest>,
    ) -> Result<Response<proto::JoinStreamResponse>, Status> {
        self.once("JoinStream", request, |request| async move {
            let id = convert::stream_id(&request.stream_id).map_err(status)?;
            let join = convert::join(request).map_err(status)?;
            let ticket = self.service.join(id, join).await.map_err(status)?;
            Ok(convert::ticket(ticket))
        })
        .await
    }

    async fn leave_stream(
        &self,
        request: Request<proto::LeaveStreamRequest>,
    ) -> Result<Response<proto::Stream>, Status> {
        self.once("LeaveStream", request, |request| async move {
            let id = convert::stream_id(&request.stream_id).map_err(status)?;
            let identity = orchestrator_domain::values::Identity::new(request.identity)
                .map_err(|err| status(StreamError::from(err)))?;
            let departure = self.service.leave(id, identity).await.map_err(status)?;
            let view = self
                .service
                .with_participants(departure.stream)
                .await
                .map_err(status)?;
            Ok(convert::stream_view(&view))
        })
        .await
    }

    async fn get_stream_state(
        &self,
        request: Request<proto::GetStreamStateRequest>,
    ) -> Result<Response<proto::StreamState>, Status> {
        let id = convert::stream_id(&request.into_inner().stream_id).map_err(status)?;
        let view = self.service.view(id).await.map_err(status)?;
        let epoch = self
            .hub
            .event_log()
            .epoch()
            .await
            .map_err(|err| status(err.into()))?;
        Ok(Response::new(convert::state(&view, epoch)))
    }

    async fn list_participants(
        &self,
        request: Request<proto::ListParticipantsRequest>,
    ) -> Result<Response<proto::ListParticipantsResponse>, Status> {
        let request = request.into_inner();
        let id = convert::stream_id(&request.stream_id).map_err(status)?;
        let query = convert::list_participants(&request);
        let page = self.service.participants(id, query).await.map_err(status)?;
        Ok(Response::new(convert::participants(&page)))
    }

    async fn create_ingest(
        &self,
        request: Request<proto::CreateIngestRequest>,
    ) -> Result<Response<proto::Ingest>, Status> {
        self.create_ingest_rpc(request).await
    }

    async fn get_ingest(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Result<Response<proto::Ingest>, Status> {
        self.get_ingest_rpc(request).await
    }

    async fn rotate_ingest_key(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Result<Response<proto::Ingest>, Status> {
        self.rotate_ingest_key_rpc(request).await
    }

    async fn delete_ingest(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Result<Response<proto::DeleteIngestResponse>, Status> {
        self.delete_ingest_rpc(request).await
    }

    async fn add_output(
        &self,
        request: Request<proto::AddOutputRequest>,
    ) -> Result<Response<proto::Output>, Status> {
        self.add_output_rpc(request).await
    }

    async fn list_outputs(
        &self,
        request: Request<proto::ListOutputsRequest>,
    ) -> Result<Response<proto::ListOutputsResponse>, Status> {
        self.list_outputs_rpc(request).await
    }

    async fn get_output(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Result<Response<proto::Output>, Status> {
        self.get_output_rpc(request).await
    }

    async fn start_output(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Result<Response<proto::Output>, Status> {
        self.switch_output_rpc(broadcast::Switch::Start, request)
            .await
    }

    async fn stop_output(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Result<Response<proto::Output>, Status> {
        self.switch_output_rpc(broadcast::Switch::Stop, request)
            .await
    }

    async fn remove_output(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Result<Response<proto::RemoveOutputResponse>, Status> {
        self.remove_output_rpc(request).await
    }
}
