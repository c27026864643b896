//! The gRPC `StreamService` (package `livestream.orchestrator.v1`): the client and messages
//! generated from `proto/streams.proto`, with the API key added to every call.
//!
//! ```no_run
//! # async fn demo(client: orchestrator_client::Client) -> Result<(), orchestrator_client::ClientError> {
//! use orchestrator_client::proto::GetStreamStateRequest;
//!
//! let mut grpc = client.grpc()?;
//! let state = grpc
//!     .get_stream_state(GetStreamStateRequest { stream_id: "…".into() })
//!     .await?
//!     .into_inner();
//! println!("seq {} epoch {}", state.seq, state.epoch);
//! # Ok(()) }
//! ```
//!
//! The channel speaks plaintext HTTP/2 (`http://`); for TLS, build a channel with tonic's TLS
//! features and hand it to [`Client::grpc_on`].

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::{Client, ClientError};

/// The messages and the client generated from `proto/streams.proto` (their docs are the
/// proto's comments, written for the proto, not for rustdoc).
#[allow(
    rustdoc::all,
    missing_docs,
    missing_debug_implementations,
    clippy::wildcard_enum_match_arm,
    clippy::unwrap_used
)]
pub mod proto {
    tonic::include_proto!("livestream.orchestrator.v1");
}

use proto::stream_service_client::StreamServiceClient;

/// The gRPC client, with the API key on every call.
pub type GrpcClient = StreamServiceClient<InterceptedService<Channel, Auth>>;

/// Adds `authorization: Bearer <key>` to every call (nothing without a key).
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Auth(key)"
        } else {
            "Auth(none)"
        })
    }
}

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

impl Client {
    /// The gRPC client on the client's channel (opened on first use, then shared by every
    /// clone of this client).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when the gRPC URL or the API key cannot be used.
    pub fn grpc(&self) -> Result<GrpcClient, ClientError> {
        self.grpc_on(self.grpc_channel()?)
    }

    /// The gRPC client on `channel` (one with TLS, say), with the API key on every call.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when the API key is not valid metadata.
    pub fn grpc_on(&self, channel: Channel) -> Result<GrpcClient, ClientError> {
        Ok(StreamServiceClient::with_interceptor(
            channel,
            self.grpc_auth()?,
        ))
    }

    fn grpc_auth(&self) -> Result<Auth, ClientError> {
        let value = match &self.config().api_key {
            Some(key) => Some(key.bearer().parse().map_err(|_| ClientError::InvalidUrl {
                url: self.config().grpc.clone(),
                reason: "the API key is not valid gRPC metadata (visible ASCII only)".into(),
            })?),
            None => None,
        };
        Ok(Auth(value))
    }

    fn grpc_channel(&self) -> Result<Channel, ClientError> {
        let config = self.config();
        if let Some(channel) = config.grpc_channel.get() {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(config.grpc.clone())
            .map_err(|err| ClientError::InvalidUrl {
                url: config.grpc.clone(),
                reason: err.to_string(),
            })?
            .connect_timeout(Duration::from_secs(5))
            // Subscriptions can be quiet for long: HTTP/2 pings find a dead connection.
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        Ok(config
            .grpc_channel
            .get_or_init(|| endpoint.connect_lazy())
            .clone())
    }
}
