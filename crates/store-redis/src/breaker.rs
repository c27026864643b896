//! Failing fast while Redis is down. Without it, every request during an outage would wait for
//! the command timeout (2 s) before its 503: a connection that is reconnecting queues commands,
//! and a Redis that stopped answering (paused, partitioned) keeps them in flight.
//!
//! [`Breaker::check`] runs before every store operation: it refuses at once while fred is not
//! connected, or while the breaker is open. The first command that times out (or fails on I/O)
//! opens it; a probe then pings Redis every [`PROBE_EVERY`] and closes it as soon as Redis
//! answers, so service resumes within a fraction of a second of Redis coming back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::error::{Error, ErrorKind};
use fred::prelude::{Client, ClientLike};
use fred::types::ClientState;
use orchestrator_domain::ports::StoreError;

/// How often an open breaker pings Redis, and how long each ping may take.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Opens after a timeout, closes when a ping succeeds. Shared by the clones of a connection.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    open: AtomicBool,
}

impl Breaker {
    /// Whether a command should be sent.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] while Redis is known to be unreachable.
    pub(crate) fn check(&self, client: &Client) -> Result<(), StoreError> {
        if self.open.load(Ordering::Acquire) {
            crate::metered::failed_fast();
            return Err(StoreError::Unavailable(
                "Redis is not answering (failing fast until it does)".into(),
            ));
        }
        match client.state() {
            ClientState::Connected => Ok(()),
            ClientState::Connecting | ClientState::Disconnected | ClientState::Disconnecting => {
                crate::metered::failed_fast();
                Err(StoreError::Unavailable(
                    "not connected to Redis (reconnecting)".into(),
                ))
            }
        }
    }

    /// Notes a failed command; a timeout or an I/O failure opens the breaker and starts the
    /// probe that will close it.
    pub(crate) fn failed(self: &Arc<Self>, client: &Client, err: &Error) {
        crate::metered::failed(err);
        let outage = matches!(err.kind(), ErrorKind::Timeout | ErrorKind::IO);
        if outage && !self.open.swap(true, Ordering::AcqRel) {
            crate::metered::breaker_open(true);
            tracing::warn!(error = %err, "Redis stopped answering; failing fast until it does");
            let breaker = Arc::clone(self);
            let client = client.clone();
            tokio::spawn(async move { breaker.probe(client).await });
        }
    }

    async fn probe(&self, client: Client) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let answered = tokio::time::timeout(PROBE_EVERY, client.ping::<String>(None)).await;
            if matches!(answered, Ok(Ok(_))) {
                self.open.store(false, Ordering::Release);
                crate::metered::breaker_open(false);
                tracing::info!("Redis answers again");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::test_connection;

    #[tokio::test]
    async fn a_timeout_opens_the_breaker_and_an_answering_redis_closes_it() {
        let (conn, _server) = test_connection().await;
        conn.check().unwrap();

        let _ = conn.failed(Error::new(ErrorKind::Timeout, "request timed out"));

        assert!(conn.check().is_err(), "fails fast after a timeout");
        let mut closed = false;
        for _ in 0..50 {
            tokio::time::sleep(PROBE_EVERY).await;
            if conn.check().is_ok() {
                closed = true;
                break;
            }
        }
        assert!(
            closed,
            "the probe found Redis answering and closed the breaker"
        );
    }

    #[tokio::test]
    async fn errors_redis_answered_do_not_open_the_breaker() {
        let (conn, _server) = test_connection().await;

        let _ = conn.failed(Error::new(ErrorKind::InvalidArgument, "bad script"));

        assert!(conn.check().is_ok());
    }
}
