//! The WebSocket protocol on a TCP connection the HTTP server handed over after the
//! handshake ([`crate::takeover`]): client messages read through the frame reader
//! ([`crate::reader`]), server frames written straight to the socket.
//!
//! Why not actix-ws: under it every connection keeps the HTTP dispatcher's two fixed 8 KiB
//! buffers (16 of an idle connection's 23 KiB) and every frame goes through a session channel
//! to the dispatcher's task, copied twice on the way. Here an idle connection holds no buffer
//! at all (one is allocated while bytes arrive and given back once they are decoded) and a
//! frame is one vectored write of its header and the shared payload.

use std::io::{self, IoSlice};

use tokio::net::TcpStream;

use crate::reader::{Incoming, Reader, Refusal};

/// Close codes this server sends of its own (RFC 6455, 7.4.1; those that answer the client's
/// bytes come with their [`Refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCode {
    Away = 1001,
    Policy = 1008,
}

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub(crate) code: u16,
    pub(crate) description: Option<String>,
}

impl CloseReason {
    pub(crate) fn new(code: CloseCode, description: impl Into<String>) -> Self {
        Self {
            code: code as u16,
            description: Some(description.into()),
        }
    }
}

/// The client's next message; `None` once the client has closed its side or the socket
/// failed. Cancel-safe: it only awaits readiness, so dropping it loses no byte.
pub(crate) async fn recv(reader: &mut Reader, io: &TcpStream) -> Option<Result<Incoming, Refusal>> {
    loop {
        match reader.next_message() {
            Ok(Some(message)) => return Some(Ok(message)),
            Ok(None) => {}
            Err(refusal) => return Some(Err(refusal)),
        }
        if io.readable().await.is_err() {
            return None;
        }
        match reader.read_with(|buffer| io.try_read_buf(buffer)) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
    }
}

/// Frame opcodes the server sends.
#[derive(Debug, Clone, Copy)]
enum OpCode {
    Text = 0x1,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// A final, unmasked frame header for `length` payload bytes: its bytes and its length.
fn header(opcode: OpCode, length: usize) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = 0x80 | opcode as u8;
    let used = match length {
        0..=125 => {
            header[1] = length as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(length as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(length as u64).to_be_bytes());
            10
        }
    };
    (header, used)
}

/// Text frames in one vectored write (two slices each, far below the system's `IOV_MAX`).
/// A bound on one write, not on what is sent: [`text_frames`] writes more in several, and the
/// connection leaves what it did not gather for a write in its queue, for the next one.
pub(crate) const MAX_BATCH: usize = 16;

/// Writes one frame: header and payload in one vectored write, as many as the socket needs.
async fn write_frame(io: &TcpStream, opcode: OpCode, payload: &[u8]) -> io::Result<()> {
    let (header, used) = header(opcode, payload.len());
    write_all(
        io,
        &mut [IoSlice::new(&header[..used]), IoSlice::new(payload)],
    )
    .await
}

/// Writes every slice, in as few system calls as the socket allows.
async fn write_all(io: &TcpStream, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match io.try_write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => io.writable().await?,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Sends a text message.
pub(crate) async fn text_frame(io: &TcpStream, text: &str) -> io::Result<()> {
    write_frame(io, OpCode::Text, text.as_bytes()).await
}

/// Sends text messages, [`MAX_BATCH`] per vectored write: what a slow client let pile up
/// reaches it in few segments, not one per message.
pub(crate) async fn text_frames(io: &TcpStream, texts: &[&str]) -> io::Result<()> {
    for batch in texts.chunks(MAX_BATCH) {
        let headers: [([u8; 10], usize); MAX_BATCH] = std::array::from_fn(|at| {
            batch
                .get(at)
                .map_or(([0; 10], 0), |text| header(OpCode::Text, text.len()))
        });
        let mut slices: [IoSlice<'_>; 2 * MAX_BATCH] = std::array::from_fn(|_| IoSlice::new(&[]));
        for (at, (text, (header, used))) in batch.iter().zip(&headers).enumerate() {
            slices[2 * at] = IoSlice::new(&header[..*used]);
            slices[2 * at + 1] = IoSlice::new(text.as_bytes());
        }
        write_all(io, &mut slices[..2 * batch.len()]).await?;
    }
    Ok(())
}

/// Sends a ping without payload.
pub(crate) async fn ping(io: &TcpStream) -> io::Result<()> {
    write_frame(io, OpCode::Ping, b"").await
}

/// Answers a ping with its payload.
pub(crate) async fn pong(io: &TcpStream, payload: &[u8]) -> io::Result<()> {
    write_frame(io, OpCode::Pong, payload).await
}

/// Sends a close frame with `reason` (its description cut to what a control frame holds), or
/// without payload.
pub(crate) async fn close(io: &TcpStream, reason: Option<&CloseReason>) -> io::Result<()> {
    let Some(reason) = reason else {
        return write_frame(io, OpCode::Close, b"").await;
    };
    let mut payload = reason.code.to_be_bytes().to_vec();
    if let Some(description) = &reason.description {
        let mut end = description.len().min(123);
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&description.as_bytes()[..end]);
    }
    write_frame(io, OpCode::Close, &payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_texts_go_out_as_consecutive_frames_in_one_write() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        let (mut client, (server, _)) = (client.unwrap(), server.unwrap());
        let long = "x".repeat(300);

        text_frames(&server, &["a", &long, "bc"]).await.unwrap();
        drop(server);
        let mut received = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client, &mut received)
            .await
            .unwrap();

        let mut expected = vec![0x81, 1, b'a', 0x81, 126, 1, 44];
        expected.extend(long.as_bytes());
        expected.extend([0x81, 2, b'b', b'c']);
        assert_eq!(received, expected);
    }

    #[test]
    fn a_header_uses_the_shortest_length_encoding() {
        assert_eq!(header(OpCode::Text, 5).1, 2);
        assert_eq!(&header(OpCode::Text, 5).0[..2], &[0x81, 5]);
        assert_eq!(&header(OpCode::Ping, 126).0[..4], &[0x89, 126, 0, 126]);
        assert_eq!(header(OpCode::Pong, 65_535).1, 4);
        let (long, used) = header(OpCode::Close, 65_536);
        assert_eq!(used, 10);
        assert_eq!(&long[..10], &[0x88, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[tokio::test]
    async fn a_hundred_queued_texts_all_arrive_in_order_in_batches_of_the_bound() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        let (mut client, (server, _)) = (client.unwrap(), server.unwrap());
        let texts: Vec<String> = (0..100).map(|n| format!("message {n}")).collect();
        let slices: Vec<&str> = texts.iter().map(String::as_str).collect();

        text_frames(&server, &slices).await.unwrap();
        drop(server);
        let mut received = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client, &mut received)
            .await
            .unwrap();

        let mut expected = Vec::new();
        for text in &texts {
            expected.extend([0x81, text.len() as u8]);
            expected.extend(text.as_bytes());
        }
        assert!(texts.len() > 6 * MAX_BATCH, "past the bound several times");
        assert_eq!(received, expected);
    }
}
