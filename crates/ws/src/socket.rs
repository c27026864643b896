//! The WebSocket protocol on a TCP connection the HTTP server handed over after the
//! handshake ([`crate::takeover`]): client frames read and aggregated, server frames written
//! straight to the socket.
//!
//! Why not actix-ws: under it every connection keeps the HTTP dispatcher's two fixed 8 KiB
//! buffers (16 of an idle connection's 23 KiB) and every frame goes through a session channel
//! to the dispatcher's task, copied twice on the way. Here an idle connection holds no buffer
//! at all (one is allocated while bytes arrive and given back once they are decoded) and a
//! frame is one vectored write of its header and the shared payload.

use std::io::{self, IoSlice};

use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use bytestring::ByteString;
use tokio::net::TcpStream;
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::frames::FrameHeaders;

/// How much is read at once.
const READ_CHUNK: usize = 4096;

/// Close codes this server sends (RFC 6455, 7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCode {
    Normal = 1000,
    Away = 1001,
    Protocol = 1002,
    Unsupported = 1003,
    Policy = 1008,
    Size = 1009,
}

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub(crate) code: CloseCode,
    pub(crate) description: Option<String>,
}

/// A whole client message.
#[derive(Debug)]
pub(crate) enum Incoming {
    Text(ByteString),
    Binary,
    Ping(Bytes),
    Pong,
    Close,
}

/// Why the client's bytes cannot be read as WebSocket messages.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("a frame or message larger than allowed")]
    TooBig,
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The reading side: the bytes not decoded yet and a message being continued.
pub(crate) struct Reader {
    buffer: BytesMut,
    headers: FrameHeaders,
    codec: Codec,
    continued: Option<(bool, BytesMut)>,
    max_message: usize,
}

impl Reader {
    /// A reader of client messages up to `max_message` bytes, starting with `leftover` (bytes
    /// that arrived with the handshake).
    pub(crate) fn new(leftover: BytesMut, max_message: usize) -> Result<Self, ReadError> {
        let mut headers = FrameHeaders::new(max_message);
        headers.feed(&leftover).map_err(|_| ReadError::TooBig)?;
        Ok(Self {
            buffer: leftover,
            headers,
            codec: Codec::new().max_size(max_message),
            continued: None,
            max_message,
        })
    }

    /// The next message; `None` once the client has closed its side or the socket failed.
    /// Cancel-safe: it only awaits readiness, so dropping it loses no byte.
    pub(crate) async fn recv(&mut self, io: &TcpStream) -> Option<Result<Incoming, ReadError>> {
        loop {
            match self.decode() {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(err) => return Some(Err(err)),
            }
            if io.readable().await.is_err() {
                return None;
            }
            let before = self.buffer.len();
            self.buffer.reserve(READ_CHUNK);
            match io.try_read_buf(&mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {
                    if self.headers.feed(&self.buffer[before..]).is_err() {
                        return Some(Err(ReadError::TooBig));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
        }
    }

    /// Decodes buffered frames until one completes a message.
    fn decode(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let frame = match self.codec.decode(&mut self.buffer) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    if self.buffer.is_empty() {
                        // An idle connection holds no read buffer.
                        self.buffer = BytesMut::new();
                    }
                    return Ok(None);
                }
                Err(ProtocolError::Overflow) => return Err(ReadError::TooBig),
                Err(err) => return Err(ReadError::Protocol(err.to_string())),
            };
            if let Some(message) = self.message(frame)? {
                return Ok(Some(message));
            }
        }
    }

    fn message(&mut self, frame: Frame) -> Result<Option<Incoming>, ReadError> {
        Ok(Some(match frame {
            Frame::Text(bytes) => text(bytes)?,
            Frame::Binary(_) => Incoming::Binary,
            Frame::Ping(payload) => Incoming::Ping(payload),
            Frame::Pong(_) => Incoming::Pong,
            Frame::Close(_) => Incoming::Close,
            Frame::Continuation(item) => return self.continuation(item),
        }))
    }

    fn continuation(&mut self, item: Item) -> Result<Option<Incoming>, ReadError> {
        let (bytes, last) = match item {
            Item::FirstText(bytes) => {
                self.continued = Some((true, BytesMut::from(&bytes[..])));
                return Ok(None);
            }
            Item::FirstBinary(bytes) => {
                self.continued = Some((false, BytesMut::from(&bytes[..])));
                return Ok(None);
            }
            Item::Continue(bytes) => (bytes, false),
            Item::Last(bytes) => (bytes, true),
        };
        let Some((is_text, mut message)) = self.continued.take() else {
            return Err(ReadError::Protocol(
                "a continuation without a first frame".into(),
            ));
        };
        if message.len() + bytes.len() > self.max_message {
            return Err(ReadError::TooBig);
        }
        message.extend_from_slice(&bytes);
        if !last {
            self.continued = Some((is_text, message));
            return Ok(None);
        }
        Ok(Some(if is_text {
            text(message.freeze())?
        } else {
            Incoming::Binary
        }))
    }
}

fn text(bytes: Bytes) -> Result<Incoming, ReadError> {
    ByteString::try_from(bytes)
        .map(Incoming::Text)
        .map_err(|_| ReadError::Protocol("a text message that is not UTF-8".into()))
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

/// Text frames written in one system call at most.
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

/// Sends up to [`MAX_BATCH`] text messages (the rest is ignored) in one vectored write: what
/// a slow client let pile up reaches it in one segment, not one per message.
pub(crate) async fn text_frames(io: &TcpStream, texts: &[&str]) -> io::Result<()> {
    let texts = &texts[..texts.len().min(MAX_BATCH)];
    let headers: [([u8; 10], usize); MAX_BATCH] = std::array::from_fn(|at| {
        texts
            .get(at)
            .map_or(([0; 10], 0), |text| header(OpCode::Text, text.len()))
    });
    let mut slices: [IoSlice<'_>; 2 * MAX_BATCH] = std::array::from_fn(|_| IoSlice::new(&[]));
    for (at, (text, (header, used))) in texts.iter().zip(&headers).enumerate() {
        slices[2 * at] = IoSlice::new(&header[..*used]);
        slices[2 * at + 1] = IoSlice::new(text.as_bytes());
    }
    write_all(io, &mut slices[..2 * texts.len()]).await
}

/// Sends a ping without payload.
pub(crate) async fn ping(io: &TcpStream) -> io::Result<()> {
    write_frame(io, OpCode::Ping, b"").await
}

/// Answers a ping with its payload.
pub(crate) async fn pong(io: &TcpStream, payload: &[u8]) -> io::Result<()> {
    write_frame(io, OpCode::Pong, payload).await
}

/// Sends a close frame with `reason` (its description cut to what a control frame holds).
pub(crate) async fn close(io: &TcpStream, reason: &CloseReason) -> io::Result<()> {
    let mut payload = (reason.code as u16).to_be_bytes().to_vec();
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

    /// A masked client frame.
    fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut frame = vec![(u8::from(fin) << 7) | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    fn decoded(bytes: &[u8], max: usize) -> Vec<Result<String, String>> {
        let mut reader = Reader::new(BytesMut::from(bytes), max).unwrap();
        let mut out = Vec::new();
        loop {
            match reader.decode() {
                Ok(Some(Incoming::Text(text))) => out.push(Ok(text.to_string())),
                Ok(Some(other)) => out.push(Ok(format!("{other:?}"))),
                Ok(None) => return out,
                Err(err) => {
                    out.push(Err(err.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn texts_pings_and_a_fragmented_text_are_read_as_whole_messages() {
        let mut bytes = client_frame(0x1, true, b"hello");
        bytes.extend(client_frame(0x9, true, b"p"));
        bytes.extend(client_frame(0x1, false, b"fra"));
        bytes.extend(client_frame(0x0, false, b"gme"));
        bytes.extend(client_frame(0x0, true, b"nted"));
        bytes.extend(client_frame(0x8, true, &[0x03, 0xE8]));

        let messages = decoded(&bytes, 1024);

        assert_eq!(
            messages,
            [
                Ok("hello".to_owned()),
                Ok("Ping(b\"p\")".to_owned()),
                Ok("fragmented".to_owned()),
                Ok("Close".to_owned()),
            ]
        );
    }

    #[test]
    fn a_message_whose_fragments_add_up_past_the_limit_is_too_big() {
        let mut bytes = client_frame(0x1, false, b"12345");
        bytes.extend(client_frame(0x0, true, b"67890"));

        assert_eq!(decoded(&bytes, 8), [Err(ReadError::TooBig.to_string())]);
    }

    #[test]
    fn text_that_is_not_utf8_is_a_protocol_error() {
        let messages = decoded(&client_frame(0x1, true, &[0xff, 0xfe]), 1024);

        assert!(matches!(messages.as_slice(), [Err(err)] if err.contains("UTF-8")));
    }

    #[test]
    fn an_unmasked_client_frame_is_a_protocol_error() {
        let messages = decoded(&[0x81, 0x02, b'h', b'i'], 1024);

        assert!(matches!(messages.as_slice(), [Err(err)] if err.starts_with("protocol error")));
    }

    #[test]
    fn once_everything_is_decoded_the_reader_holds_no_buffer() {
        let mut reader =
            Reader::new(BytesMut::from(&client_frame(0x1, true, b"hi")[..]), 64).unwrap();

        assert!(reader.decode().unwrap().is_some());
        assert!(reader.decode().unwrap().is_none());

        assert_eq!(reader.buffer.capacity(), 0);
    }
}
