//! Holding the reconciler lease through a pass of any length: renewed well before it expires,
//! and checked (fencing token) before every write.

use std::time::Duration;

use orchestrator_domain::coordination::LeaseStore;
use orchestrator_domain::error::StreamError;
use tokio::time::Instant;

use crate::ReconcileError;

/// A lease this instance holds.
pub(crate) struct Held<'a> {
    leases: &'a dyn LeaseStore,
    name: &'static str,
    holder: &'a str,
    token: u64,
    ttl: Duration,
    renewed: Instant,
}

impl<'a> Held<'a> {
    /// Takes (or extends) the lease; `None` when another instance holds it.
    pub(crate) async fn acquire(
        leases: &'a dyn LeaseStore,
        name: &'static str,
        holder: &'a str,
        ttl: Duration,
    ) -> Result<Option<Held<'a>>, ReconcileError> {
        let grant = leases
            .acquire(name, holder, ttl)
            .await
            .map_err(StreamError::from)?;
        Ok(grant.map(|grant| Held {
            leases,
            name,
            holder,
            token: grant.token,
            ttl,
            renewed: Instant::now(),
        }))
    }

    /// Renews the lease once a third of its ttl has passed since the last renewal.
    ///
    /// # Errors
    /// [`ReconcileError::LostLease`] when it was lost, `Service` when the store failed.
    pub(crate) async fn keep(&mut self) -> Result<(), ReconcileError> {
        if self.renewed.elapsed() < self.ttl / 3 {
            return Ok(());
        }
        let kept = self
            .leases
            .renew(self.name, self.holder, self.token, self.ttl)
            .await
            .map_err(StreamError::from)?;
        if !kept {
            return Err(ReconcileError::LostLease);
        }
        self.renewed = Instant::now();
        Ok(())
    }

    /// Checks the fencing token right before a write: a holder that lost the lease (paused
    /// past its ttl) must not write.
    ///
    /// # Errors
    /// As [`Held::keep`].
    pub(crate) async fn fence(&mut self) -> Result<(), ReconcileError> {
        self.keep().await?;
        let current = self
            .leases
            .is_current(self.name, self.token)
            .await
            .map_err(StreamError::from)?;
        if current {
            Ok(())
        } else {
            Err(ReconcileError::LostLease)
        }
    }
}

/// Releases the lease if `holder` still holds it, so a successor needs not wait for it to
/// expire. Best effort: an unreleased lease expires by itself.
pub(crate) async fn release(leases: &dyn LeaseStore, name: &str, holder: &str) {
    if let Ok(Some(grant)) = leases.acquire(name, holder, Duration::from_millis(1)).await {
        let _ = leases.release(name, holder, grant.token).await;
    }
}
