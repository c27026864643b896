//! A raw-frame WebSocket client: frames built bit by bit (any FIN, reserved bits, opcode, mask
//! and length encoding), written at once, in chops or frame by frame, and the server's frames
//! read back and checked against what RFC 6455 asks of a server's own frames.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// How a frame writes its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// The shortest form of the payload's length (what §5.2 requires).
    Shortest,
    /// The 16-bit form, whatever the length.
    Wide16,
    /// The 64-bit form, whatever the length.
    Wide64,
    /// Claims this many bytes (in its shortest form), whatever payload follows.
    Declared(u64),
}

/// A frame as a client sends it (masked unless told otherwise).
#[derive(Debug, Clone)]
pub struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    length: Length,
    payload: Vec<u8>,
}

impl Frame {
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            masked: true,
            length: Length::Shortest,
            payload: payload.into(),
        }
    }

    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(TEXT, payload)
    }

    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(BINARY, payload)
    }

    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(PING, payload)
    }

    pub fn pong(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(PONG, payload)
    }

    pub fn continuation(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(CONTINUATION, payload)
    }

    /// A close frame with a code and a reason (any bytes).
    pub fn close(code: u16, reason: &[u8]) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        Self::new(CLOSE, payload)
    }

    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// Sets the three reserved bits (RSV1 is 4, RSV2 2, RSV3 1).
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv & 0b111;
        self
    }

    pub fn unmasked(mut self) -> Self {
        self.masked = false;
        self
    }

    pub fn length(mut self, length: Length) -> Self {
        self.length = length;
        self
    }

    /// The frame on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | (self.opcode & 0x0F)];
        let mask_bit = u8::from(self.masked) << 7;
        let actual = self.payload.len() as u64;
        match self.length {
            Length::Shortest => push_shortest(&mut out, mask_bit, actual),
            Length::Declared(declared) => push_shortest(&mut out, mask_bit, declared),
            Length::Wide16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(actual as u16).to_be_bytes());
            }
            Length::Wide64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&actual.to_be_bytes());
            }
        }
        if self.masked {
            let key = [0x5A, 0xC3, 0x0F, 0x96];
            out.extend_from_slice(&key);
            out.extend(
                self.payload
                    .iter()
                    .zip(key.iter().cycle())
                    .map(|(b, k)| b ^ k),
            );
        } else {
            out.extend_from_slice(&self.payload);
        }
        out
    }
}

fn push_shortest(out: &mut Vec<u8>, mask_bit: u8, length: u64) {
    if length < 126 {
        out.push(mask_bit | length as u8);
    } else if length <= u64::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(length as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&length.to_be_bytes());
    }
}

/// The bytes of several frames, back to back.
pub fn frames(frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(Frame::bytes).collect()
}

/// A frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// What reading from the server gave.
#[derive(Debug)]
pub enum Received {
    Frame(ServerFrame),
    /// The server closed the TCP connection (or reset it).
    Closed,
    /// Nothing within the time given.
    Nothing,
}

/// One WebSocket connection, opened with a raw handshake.
pub struct Peer {
    socket: TcpStream,
    read: Vec<u8>,
}

impl Peer {
    /// Connects to `/ws` with `key` and `extra` header lines (each ending in CRLF); returns the
    /// connection and the server's answer head.
    pub async fn open(addr: SocketAddr, key: &str, extra: &str) -> Result<(Peer, String), String> {
        let mut socket = TcpStream::connect(addr)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        socket.set_nodelay(true).map_err(|err| err.to_string())?;
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {key}\r\n{extra}\r\n"
        );
        socket
            .write_all(request.as_bytes())
            .await
            .map_err(|err| format!("handshake: {err}"))?;
        let mut read = Vec::new();
        let end = loop {
            if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut chunk))
                .await
                .map_err(|_| "no handshake answer within 5 s".to_owned())?
                .map_err(|err| format!("handshake: {err}"))?;
            if n == 0 || read.len() > 8192 {
                return Err("the server closed during the handshake".into());
            }
            read.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&read[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(format!("handshake refused: {head}"));
        }
        read.drain(..end);
        Ok((Peer { socket, read }, head))
    }

    /// Writes `bytes`. A write the server no longer takes (it closed) is not an error here:
    /// what the server answered is read afterwards.
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.socket.write_all(bytes).await;
    }

    /// Writes `bytes` in pieces of at most `chop`, one write each.
    pub async fn send_chopped(&mut self, bytes: &[u8], chop: usize) {
        for piece in bytes.chunks(chop.max(1)) {
            if self.socket.write_all(piece).await.is_err() {
                return;
            }
            if chop < 16 {
                // Tiny chops: give the server a chance to read each one on its own.
                tokio::task::yield_now().await;
            }
        }
    }

    /// The next frame from the server (its heartbeat pings skipped), checked against RFC
    /// 6455's rules for a server's frames.
    pub async fn receive(&mut self, within: Duration) -> Result<Received, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(frame) = self.parse()? {
                if frame.opcode == PING && frame.payload.is_empty() {
                    continue;
                }
                return Ok(Received::Frame(frame));
            }
            let mut chunk = vec![0u8; 64 * 1024];
            match tokio::time::timeout_at(deadline, self.socket.read(&mut chunk)).await {
                Err(_) => return Ok(Received::Nothing),
                Ok(Ok(0) | Err(_)) => {
                    if self.read.is_empty() {
                        return Ok(Received::Closed);
                    }
                    return Err(format!(
                        "the connection ended inside a frame ({} bytes left)",
                        self.read.len()
                    ));
                }
                Ok(Ok(n)) => self.read.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// One whole server frame from what was read, if there is one.
    fn parse(&mut self) -> Result<Option<ServerFrame>, String> {
        let [first, second, rest @ ..] = &self.read[..] else {
            return Ok(None);
        };
        let (first, second) = (*first, *second);
        if first & 0x70 != 0 {
            return Err(format!("the server set reserved bits: {first:#04x}"));
        }
        if first & 0x80 == 0 {
            return Err("the server fragmented a message (this server sends whole ones)".into());
        }
        if second & 0x80 != 0 {
            return Err("the server masked a frame (§5.1: it must not)".into());
        }
        let (length, used) = match second & 0x7F {
            126 if rest.len() >= 2 => (u64::from(u16::from_be_bytes([rest[0], rest[1]])), 2),
            127 if rest.len() >= 8 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&rest[..8]);
                (u64::from_be_bytes(be), 8)
            }
            126 | 127 => return Ok(None),
            short => (u64::from(short), 0),
        };
        let shortest = match used {
            0 => true,
            2 => length >= 126,
            _ => length > u64::from(u16::MAX),
        };
        if !shortest {
            return Err(format!(
                "the server wrote length {length} in a longer form than needed"
            ));
        }
        let opcode = first & 0x0F;
        if opcode >= 0x8 && length > 125 {
            return Err(format!("the server sent a {length}-byte control frame"));
        }
        let start = 2 + used;
        let end = start + usize::try_from(length).map_err(|_| "a huge server frame")?;
        if self.read.len() < end {
            return Ok(None);
        }
        let payload = self.read[start..end].to_vec();
        self.read.drain(..end);
        Ok(Some(ServerFrame { opcode, payload }))
    }
}
