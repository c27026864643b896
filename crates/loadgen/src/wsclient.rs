//! The WebSocket client of the fan-out subscribers (RFC 6455, client side, no extensions).
//!
//! Why not tokio-tungstenite: at 100,000 deliveries/s the harness shares the two cores with the
//! server it measures, and a general-purpose client spent a third of the harness's user CPU on
//! itself (a zeroed read chunk, a copy and a reference-counted message per frame, two atomic
//! wakers per poll). Here each connection owns one buffer that bytes are read into and frames
//! are parsed in place from; a text frame is handed out as a `&str` into it.
//!
//! Everything a server may legally send is handled: fragmented messages, pings (answered),
//! pongs, close frames. What it may not (a masked frame, reserved bits, a fragmented or long
//! control frame, text that is not UTF-8, a message over [`MAX_MESSAGE`]) is a
//! [`WireError::Protocol`]. Every method is cancel-safe, so it can sit in a `select!`: bytes
//! read stay in the buffer, and what is to be written waits in an outgoing buffer that each
//! call flushes first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The largest message accepted (events are a few hundred bytes; a snapshot a few KiB).
pub const MAX_MESSAGE: usize = 1 << 20;
/// The largest handshake answer accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Read at least this much at a time (one event fits; more arrive in one read when queued).
const READ_CHUNK: usize = 2 * 1024;

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Why a connection failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(String),
    /// The server closed the TCP connection without a close frame.
    #[error("closed")]
    Closed,
    /// The server broke RFC 6455 (or the handshake).
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

impl From<std::io::Error> for WireError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err.to_string())
    }
}

/// A message from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (reassembled if it came in fragments).
    Text(&'a str),
    /// A binary message (the harness expects none; its size is reported).
    Binary(usize),
    /// A close frame: its code (1005 when it had none) and reason.
    Close(u16, &'a str),
}

/// One connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes read and not yet consumed; the frame handed out last starts at 0.
    incoming: BytesMut,
    /// Length of the frame handed out last, dropped from `incoming` by the next call.
    handed_out: usize,
    /// The fragments of a message in progress: its opcode and payload so far.
    fragments: Option<(u8, Vec<u8>)>,
    /// Frames to write (pongs, a close), flushed by the next call.
    outgoing: BytesMut,
    /// Client frames are masked (RFC 6455 5.3): a keyed hash of a frame counter.
    masks: RandomState,
    frames_sent: u64,
}

impl Client {
    /// Connects to `ws://{authority}{path}` and completes the opening handshake.
    ///
    /// # Errors
    /// [`WireError`] when the connection or the handshake fails.
    pub async fn connect(authority: &str, path: &str) -> Result<Self, WireError> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let mut client = Self {
            stream,
            incoming: BytesMut::with_capacity(READ_CHUNK),
            handed_out: 0,
            fragments: None,
            outgoing: BytesMut::new(),
            masks: RandomState::new(),
            frames_sent: 0,
        };
        let key = generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        client.stream.write_all(request.as_bytes()).await?;
        let head_len = client.read_head().await?;
        check_handshake(&client.incoming[..head_len], &key)?;
        client.incoming.advance(head_len);
        Ok(client)
    }

    /// Reads until the answer's head is complete; its length.
    async fn read_head(&mut self) -> Result<usize, WireError> {
        loop {
            if let Some(end) = find(&self.incoming, b"\r\n\r\n") {
                return Ok(end + 4);
            }
            if self.incoming.len() > MAX_HEAD {
                return Err(WireError::Protocol("handshake answer too long"));
            }
            self.fill().await?;
        }
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// [`WireError::Io`] when the socket fails.
    pub async fn send_text(&mut self, text: &str) -> Result<(), WireError> {
        self.queue(TEXT, text.as_bytes());
        self.flush().await
    }

    /// Sends a close frame (normal closure) and waits for nothing.
    ///
    /// # Errors
    /// [`WireError::Io`] when the socket fails.
    pub async fn close(&mut self) -> Result<(), WireError> {
        self.queue(CLOSE, &1000u16.to_be_bytes());
        self.flush().await
    }

    /// The next message; pings are answered and pongs skipped on the way.
    ///
    /// # Errors
    /// [`WireError`] when the socket fails, closes, or carries something RFC 6455 forbids.
    pub async fn next(&mut self) -> Result<Message<'_>, WireError> {
        self.incoming.advance(std::mem::take(&mut self.handed_out));
        loop {
            self.flush().await?;
            let Some(frame) = parse_header(&self.incoming)? else {
                self.fill().await?;
                continue;
            };
            let end = frame.header_len + frame.payload_len;
            if self.incoming.len() < end {
                self.incoming.reserve(end - self.incoming.len());
                self.fill().await?;
                continue;
            }
            match frame.opcode {
                PING => {
                    let payload = self.incoming[frame.header_len..end].to_vec();
                    self.incoming.advance(end);
                    self.queue(PONG, &payload);
                }
                PONG => self.incoming.advance(end),
                CLOSE => {
                    self.handed_out = end;
                    return close_message(&self.incoming[frame.header_len..end]);
                }
                _ => {
                    if let Some((opcode, payload)) = self.assemble(&frame)? {
                        return message(opcode, &self.incoming[payload]);
                    }
                }
            }
        }
    }

    /// Takes the data frame at the start of `incoming`; a whole message's opcode and where
    /// its payload is in `incoming` once it is complete.
    fn assemble(&mut self, frame: &Header) -> Result<Option<(u8, Range<usize>)>, WireError> {
        let end = frame.header_len + frame.payload_len;
        match (frame.opcode, self.fragments.is_some()) {
            (TEXT | BINARY, false) if frame.fin => {
                self.handed_out = end;
                return Ok(Some((frame.opcode, frame.header_len..end)));
            }
            (TEXT | BINARY, false) => self.fragments = Some((frame.opcode, Vec::new())),
            (TEXT | BINARY, true) => return Err(WireError::Protocol("message inside a message")),
            (CONTINUATION, true) => {}
            (CONTINUATION, false) => return Err(WireError::Protocol("continuation of nothing")),
            _ => return Err(WireError::Protocol("reserved opcode")),
        }
        let Some((opcode, payload)) = self.fragments.as_mut() else {
            return Err(WireError::Protocol("continuation of nothing"));
        };
        if payload.len() + frame.payload_len > MAX_MESSAGE {
            return Err(WireError::Protocol("message too large"));
        }
        payload.extend_from_slice(&self.incoming[frame.header_len..end]);
        let opcode = *opcode;
        self.incoming.advance(end);
        if !frame.fin {
            return Ok(None);
        }
        // The reassembled message goes back to the front of `incoming`, to be handed out and
        // dropped like a single frame.
        let whole = self
            .fragments
            .take()
            .map(|(_, whole)| whole)
            .unwrap_or_default();
        let rest = self.incoming.split();
        self.incoming.extend_from_slice(&whole);
        self.incoming.unsplit(rest);
        self.handed_out = whole.len();
        Ok(Some((opcode, 0..whole.len())))
    }

    /// Reads what the socket has (at least one byte).
    async fn fill(&mut self) -> Result<(), WireError> {
        if self.incoming.capacity() - self.incoming.len() < READ_CHUNK / 2 {
            self.incoming.reserve(READ_CHUNK);
        }
        match self.stream.read_buf(&mut self.incoming).await? {
            0 => Err(WireError::Closed),
            _ => Ok(()),
        }
    }

    /// Appends a masked frame (client frames must be masked) to the outgoing buffer.
    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        self.frames_sent += 1;
        let mut hasher = self.masks.build_hasher();
        hasher.write_u64(self.frames_sent);
        let mask = (hasher.finish() as u32).to_be_bytes();
        self.outgoing.put_u8(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => self.outgoing.put_u8(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                self.outgoing.put_u8(0x80 | 126);
                self.outgoing.put_u16(len as u16);
            }
            len => {
                self.outgoing.put_u8(0x80 | 127);
                self.outgoing.put_u64(len as u64);
            }
        }
        self.outgoing.put_slice(&mask);
        self.outgoing
            .extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    }

    /// Writes the outgoing buffer; a cancelled call leaves the rest for the next.
    async fn flush(&mut self) -> Result<(), WireError> {
        while !self.outgoing.is_empty() {
            let written = self.stream.write_buf(&mut self.outgoing).await?;
            if written == 0 {
                return Err(WireError::Closed);
            }
        }
        Ok(())
    }
}

/// A frame's header, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: usize,
}

/// The header at the start of `bytes`, `None` until all of it is there.
fn parse_header(bytes: &[u8]) -> Result<Option<Header>, WireError> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(WireError::Protocol("reserved bits set"));
    }
    if second & 0x80 != 0 {
        return Err(WireError::Protocol("masked server frame"));
    }
    let (fin, opcode) = (first & 0x80 != 0, first & 0x0F);
    let (header_len, payload_len) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(len) => (4, u64::from(u16::from_be_bytes([len[0], len[1]]))),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(len) => (10, u64::from_be_bytes(len.try_into().unwrap_or_default())),
            None => return Ok(None),
        },
        len => (2, u64::from(len)),
    };
    let payload_len = usize::try_from(payload_len)
        .ok()
        .filter(|len| *len <= MAX_MESSAGE)
        .ok_or(WireError::Protocol("message too large"))?;
    if opcode >= CLOSE && (!fin || payload_len > 125) {
        return Err(WireError::Protocol("fragmented or long control frame"));
    }
    Ok(Some(Header {
        fin,
        opcode,
        header_len,
        payload_len,
    }))
}

fn message(opcode: u8, payload: &[u8]) -> Result<Message<'_>, WireError> {
    if opcode == BINARY {
        return Ok(Message::Binary(payload.len()));
    }
    std::str::from_utf8(payload)
        .map(Message::Text)
        .map_err(|_| WireError::Protocol("text that is not UTF-8"))
}

fn close_message(payload: &[u8]) -> Result<Message<'_>, WireError> {
    match payload {
        [] => Ok(Message::Close(1005, "")),
        [high, low, reason @ ..] => std::str::from_utf8(reason)
            .map(|reason| Message::Close(u16::from_be_bytes([*high, *low]), reason))
            .map_err(|_| WireError::Protocol("close reason that is not UTF-8")),
        [_] => Err(WireError::Protocol("one-byte close payload")),
    }
}

/// Checks the `101` answer and its `Sec-WebSocket-Accept` for `key`.
fn check_handshake(head: &[u8], key: &str) -> Result<(), WireError> {
    let head = std::str::from_utf8(head).map_err(|_| WireError::Protocol("handshake bytes"))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(WireError::Protocol("handshake refused"));
    }
    let accept = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, value)| value.trim());
    if accept != Some(derive_accept_key(key.as_bytes()).as_str()) {
        return Err(WireError::Protocol("handshake accept key"));
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers the handshake (`accept_key` overrides the right answer), then
    /// runs `script` on the socket; the client connected to it.
    async fn connected<F, Fut>(
        accept_key: Option<&'static str>,
        script: F,
    ) -> Result<Client, WireError>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while find(&head, b"\r\n\r\n").is_none() {
                let mut byte = [0; 1];
                socket.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let key = head
                .lines()
                .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let accept =
                accept_key.map_or_else(|| derive_accept_key(key.as_bytes()), str::to_owned);
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            script(socket).await;
        });
        Client::connect(&authority, "/ws").await
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![first];
        match payload.len() {
            len @ 0..=125 => bytes.push(len as u8),
            len => {
                bytes.push(126);
                bytes.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Reads one masked client frame: its opcode and unmasked payload.
    async fn client_frame(socket: &mut TcpStream) -> (u8, Vec<u8>) {
        let mut head = [0; 2];
        socket.read_exact(&mut head).await.unwrap();
        assert_eq!(head[1] & 0x80, 0x80, "client frames are masked");
        let mut mask = [0; 4];
        socket.read_exact(&mut mask).await.unwrap();
        let mut payload = vec![0; usize::from(head[1] & 0x7F)];
        socket.read_exact(&mut payload).await.unwrap();
        let unmasked = payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m);
        (head[0] & 0x0F, unmasked.collect())
    }

    #[tokio::test]
    async fn a_text_frame_split_over_several_reads_is_handed_out_whole() {
        let event = "x".repeat(300);
        let bytes = frame(0x81, event.as_bytes());
        let mut client = connected(None, move |mut socket| async move {
            for piece in bytes.chunks(7) {
                socket.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            socket.write_all(&frame(0x81, b"after")).await.unwrap();
        })
        .await
        .unwrap();

        assert_eq!(client.next().await, Ok(Message::Text(&"x".repeat(300))));
        assert_eq!(client.next().await, Ok(Message::Text("after")));
    }

    #[tokio::test]
    async fn a_fragmented_message_is_reassembled_and_a_ping_between_its_fragments_answered() {
        let (pong_tx, pong_rx) = tokio::sync::oneshot::channel();
        let mut client = connected(None, |mut socket| async move {
            let mut bytes = frame(0x01, b"ab");
            bytes.extend(frame(0x89, b"are you there"));
            bytes.extend(frame(0x80, b"cd"));
            bytes.extend(frame(0x81, b"next"));
            socket.write_all(&bytes).await.unwrap();
            let _ = pong_tx.send(client_frame(&mut socket).await);
        })
        .await
        .unwrap();

        assert_eq!(client.next().await, Ok(Message::Text("abcd")));
        assert_eq!(client.next().await, Ok(Message::Text("next")));
        assert_eq!(pong_rx.await.unwrap(), (PONG, b"are you there".to_vec()));
    }

    #[tokio::test]
    async fn a_sent_text_is_one_masked_frame() {
        let (received_tx, received_rx) = tokio::sync::oneshot::channel();
        let mut client = connected(None, |mut socket| async move {
            let _ = received_tx.send(client_frame(&mut socket).await);
        })
        .await
        .unwrap();

        client.send_text(r#"{"type":"subscribe"}"#).await.unwrap();

        let (opcode, payload) = received_rx.await.unwrap();
        assert_eq!(opcode, TEXT);
        assert_eq!(payload, br#"{"type":"subscribe"}"#);
    }

    #[tokio::test]
    async fn a_close_frame_carries_its_code_and_reason() {
        let mut client = connected(None, |mut socket| async move {
            let mut payload = 1008u16.to_be_bytes().to_vec();
            payload.extend_from_slice(b"slow consumer");
            socket.write_all(&frame(0x88, &payload)).await.unwrap();
        })
        .await
        .unwrap();

        assert_eq!(
            client.next().await,
            Ok(Message::Close(1008, "slow consumer"))
        );
    }

    #[tokio::test]
    async fn what_rfc_6455_forbids_a_server_is_a_protocol_error() {
        let forbidden = [
            (
                vec![0x81, 0x80 | 1, 1, 2, 3, 4, b'a'],
                "masked server frame",
            ),
            (frame(0xC1, b"a"), "reserved bits set"),
            (frame(0x80, b"a"), "continuation of nothing"),
            (frame(0x09, b"a"), "fragmented or long control frame"),
            (frame(0x81, &[0xFF, 0xFE]), "text that is not UTF-8"),
            (vec![0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0], "message too large"),
        ];
        for (bytes, why) in forbidden {
            let mut client = connected(None, move |mut socket| async move {
                socket.write_all(&bytes).await.unwrap();
            })
            .await
            .unwrap();

            assert_eq!(client.next().await, Err(WireError::Protocol(why)), "{why}");
        }
    }

    #[tokio::test]
    async fn a_connection_closed_without_a_close_frame_is_reported_as_closed() {
        let mut client = connected(None, |socket| async move { drop(socket) })
            .await
            .unwrap();

        assert_eq!(client.next().await, Err(WireError::Closed));
    }

    #[tokio::test]
    async fn a_handshake_answered_with_the_wrong_accept_key_is_refused() {
        let refused = connected(Some("d3Jvbmc="), |_socket| async {}).await;

        assert_eq!(
            refused.err(),
            Some(WireError::Protocol("handshake accept key"))
        );
    }
}
