//! Running the emulator as an HTTP server.

use std::future::Future;
use std::net::TcpListener;

use actix_web::{App, HttpServer};

use crate::Emulator;

/// Runs the emulator's HTTP server on an already-bound listener until `shutdown` resolves.
///
/// Taking a bound listener lets callers bind port 0 and learn the address before serving.
/// Signal handling is left to the caller (the server is embedded in other processes), and a
/// single worker is plenty for a control-plane emulator.
pub async fn serve(
    listener: TcpListener,
    emulator: Emulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let server = HttpServer::new(move || {
        let emulator = emulator.clone();
        App::new().configure(move |cfg| emulator.configure(cfg))
    })
    .listen(listener)?
    .disable_signals()
    .workers(1)
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    server.await
}
