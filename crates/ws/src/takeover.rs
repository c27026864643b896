//! Taking a WebSocket connection over from the HTTP server.
//!
//! actix-http hands a request that asks for a WebSocket upgrade, with its connection, to the
//! upgrade service the app installs; [`serve`] is that service. It runs the request through
//! the same HTTP app as every other request (CORS, operator keys, limits, the access log, then
//! the route), marked with a [`Takeover`]. The route ([`crate::configure`]) answers 101 and
//! leaves the connection to serve in the mark; [`serve`] writes the answer and runs the
//! connection on the bare socket (the `socket` module). Any other answer (a refusal, a 404) is
//! written as is and the connection closed.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1::{self, Message};
use actix_http::{HttpMessage, Request, Response};
use actix_web::dev::Service;
use actix_web::web::BytesMut;
use tokio::net::TcpStream;

use crate::connection::Pending;

/// The mark of a handshake request that arrived through [`serve`]: the route puts the
/// connection it accepted in it.
#[derive(Clone, Default)]
pub struct Takeover(Rc<RefCell<Option<Pending>>>);

impl std::fmt::Debug for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accepted = self.0.borrow().is_some();
        f.debug_struct("Takeover")
            .field("accepted", &accepted)
            .finish()
    }
}

impl Takeover {
    pub(crate) fn accept(&self, pending: Pending) {
        *self.0.borrow_mut() = Some(pending);
    }

    fn accepted(&self) -> Option<Pending> {
        self.0.borrow_mut().take()
    }
}

/// Answers the upgrade request `req` through `app`; serves the WebSocket connection if the
/// app accepted it. `held` (whatever the connection's data must keep alive) lives as long as
/// the connection.
///
/// # Errors
/// The connection failed while the answer was written.
pub async fn serve<S, B, H>(
    app: Rc<S>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
    held: H,
) -> io::Result<()>
where
    S: Service<Request>,
    S::Response: Into<Response<B>>,
    S::Error: Into<Response<BoxBody>>,
    B: MessageBody + 'static,
{
    // Both boxed, each in a statement of its own: this future lives as long as the
    // connection, and a future built in the statement that awaits it would keep its space
    // here (the handshake's is the whole app's).
    let handshake = Box::pin(handshake(app, req, framed));
    let accepted = handshake.await?;
    if let Some((pending, io, leftover)) = accepted {
        let connection = pending.serve(io, leftover);
        connection.await;
    }
    drop(held);
    Ok(())
}

/// Runs the handshake through the app and writes its answer: the connection to serve, its
/// socket and the client's bytes that came with the handshake, if the app accepted it.
async fn handshake<S, B>(
    app: Rc<S>,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> io::Result<Option<(Pending, TcpStream, BytesMut)>>
where
    S: Service<Request>,
    S::Response: Into<Response<B>>,
    S::Error: Into<Response<BoxBody>>,
    B: MessageBody + 'static,
{
    let takeover = Takeover::default();
    req.extensions_mut().insert(takeover.clone());
    let response = match app.call(req).await {
        Ok(response) => response.into().map_into_boxed_body(),
        Err(refusal) => refusal.into(),
    };
    let pending = takeover.accepted();
    let (head, body) = response.into_parts();
    if let (Some(pending), true) = (pending, head.status().as_u16() == 101) {
        write(&mut framed, [Message::Item((head, BodySize::None))]).await?;
        // The HTTP codec and its 8 KiB write buffer go here; the read buffer only until the
        // connection has decoded what it holds.
        let parts = framed.into_parts();
        return Ok(Some((pending, parts.io, parts.read_buf)));
    }
    let body = actix_http::body::to_bytes(body).await.unwrap_or_default();
    let size = BodySize::Sized(body.len() as u64);
    let chunk = (!body.is_empty()).then_some(Message::Chunk(Some(body)));
    let messages = [
        Some(Message::Item((head, size))),
        chunk,
        Some(Message::Chunk(None)),
    ];
    write(&mut framed, messages.into_iter().flatten()).await?;
    Ok(None)
}

/// Encodes `messages` and flushes them to the client.
async fn write(
    framed: &mut Framed<TcpStream, h1::Codec>,
    messages: impl IntoIterator<Item = Message<(Response<()>, BodySize)>>,
) -> io::Result<()> {
    for message in messages {
        std::pin::Pin::new(&mut *framed)
            .write(message)
            .map_err(io::Error::other)?;
    }
    std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut *framed).flush::<Message<(Response<()>, BodySize)>>(cx)
    })
    .await
    .map_err(io::Error::other)
}
