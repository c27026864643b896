//! `grpc.health.v1` following the instance's [`Readiness`]: both the server as a whole (`""`)
//! and `livestream.orchestrator.v1.StreamService` answer `SERVING` only while the instance is
//! ready (not draining, the store and LiveKit answering), `NOT_SERVING` otherwise, so a gRPC
//! load balancer drains it exactly when an HTTP one does.
//!
//! The reporter keeps the last status it was told; this module tells it whenever the
//! readiness changes. The readiness is in-process state (the app's background checks write
//! it), so looking at it every [`FOLLOW_EVERY`] costs a lock, never a network call.

use std::time::Duration;

use orchestrator_domain::policy::readiness::Readiness;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::proto::server::stream_service_server::StreamServiceServer;
use crate::GrpcState;

/// How often the reported status is brought in line with the readiness.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// The service name health checks ask about.
fn service_name() -> &'static str {
    <StreamServiceServer<GrpcState> as tonic::server::NamedService>::NAME
}

pub(crate) async fn report(reporter: &HealthReporter, ready: bool) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    reporter.set_service_status(service_name(), status).await;
}

/// Keeps the reported status in line with `readiness` until the task is dropped (the server
/// stops).
pub(crate) async fn follow(reporter: HealthReporter, readiness: Readiness) {
    let mut reported = None;
    loop {
        let ready = readiness.report().is_ready();
        if reported != Some(ready) {
            report(&reporter, ready).await;
            reported = Some(ready);
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}
