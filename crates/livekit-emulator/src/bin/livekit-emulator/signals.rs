//! SIGTERM and SIGINT, listened to from the moment [`Signals::listen`] returns.
//!
//! Registered before the emulator says it listens: a handler installed later, when a task
//! first polls it, leaves a window in which a supervisor that signals as soon as it reads the
//! "listening" line either kills the process (the default action) or, as PID 1 of a container
//! where the default action does nothing, is ignored; and tokio drops a signal that arrives
//! between installing its handler and subscribing to it.

use std::io;

/// The stop signals of this process.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening (inside the tokio runtime).
    ///
    /// # Errors
    /// When a handler cannot be installed.
    #[cfg(unix)]
    pub fn listen() -> io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Ctrl-C only where there is no SIGTERM.
    ///
    /// # Errors
    /// None here; the signature is the Unix one.
    #[cfg(not(unix))]
    pub fn listen() -> io::Result<Self> {
        Ok(Self {})
    }

    /// The name of the next signal received.
    #[cfg(unix)]
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// The name of the next signal received.
    #[cfg(not(unix))]
    pub async fn next(&mut self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}
