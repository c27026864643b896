//! The instance's one Redis subscription: every event published by any instance arrives here
//! once and is fanned out in process through a broadcast channel. Pub/sub is at-most-once, so
//! consumers track seqs and backfill gaps from the event log.

use std::sync::Arc;

use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use orchestrator_domain::event::StreamEvent;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::client::{builder, ConnectError, RedisConfig};

/// Keeps the subscription alive; dropping it unsubscribes and stops the fan-out.
#[derive(Debug)]
pub struct Subscriber {
    client: SubscriberClient,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let client = self.client.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = client.quit().await;
            });
        }
    }
}

impl Subscriber {
    /// Subscribes to `channel` and forwards each event to `feed`. Resubscribes by itself after
    /// a reconnect.
    ///
    /// # Errors
    /// [`ConnectError`] when Redis cannot be reached.
    pub async fn start(
        config: &RedisConfig,
        channel: &str,
        feed: broadcast::Sender<Arc<StreamEvent>>,
    ) -> Result<Self, ConnectError> {
        let client = builder(config)?
            .build_subscriber_client()
            .map_err(|err| ConnectError::Config(err.to_string()))?;
        let connected = tokio::time::timeout(config.connect_timeout * 2, client.init()).await;
        match connected {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(ConnectError::Unreachable(err.to_string())),
            Err(_) => return Err(ConnectError::Unreachable("connection timed out".into())),
        }
        let mut messages = client.message_rx();
        let forward = tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        let Some(json) = message.value.as_str() else {
                            continue;
                        };
                        match serde_json::from_str::<StreamEvent>(&json) {
                            // No receiver is fine: nobody is watching right now.
                            Ok(event) => {
                                crate::metered::published(&event);
                                let _ = feed.send(Arc::new(event));
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "unreadable event notification")
                            }
                        }
                    }
                    // Missed notifications are recovered by seq backfill downstream.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        client
            .subscribe(channel)
            .await
            .map_err(|err| ConnectError::Unreachable(err.to_string()))?;
        let resubscribe = client.manage_subscriptions();
        Ok(Self {
            client,
            tasks: vec![forward, resubscribe],
        })
    }
}
