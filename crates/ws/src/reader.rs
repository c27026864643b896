//! The frame reader: a client's bytes in, whole messages (or why the connection must close)
//! out. Pure (no socket), so arbitrary bytes can be fuzzed through it on their own
//! (`fuzz/fuzz_targets/ws_frames.rs`).
//!
//! Two layers. The frame check (`frames`) reads the raw bytes as they arrive and refuses a
//! frame on its header, or a text message at its first byte that is not UTF-8, before the
//! rest is buffered. What passes is cut into whole, unmasked frames by actix-http's frame
//! parser ([`actix_http::ws::Parser`]; its codec's message handling is not used, so nothing a
//! client sends can make it log), and the reader puts fragments together and checks close
//! frames. A refusal takes effect in stream order: the messages that came before the refused
//! frame are returned first.

use std::io;

use actix_http::ws::{OpCode, Parser, ProtocolError};
use bytestring::ByteString;
use tokio_util::bytes::{Bytes, BytesMut};

use crate::frames::FrameCheck;

/// How much is read at once.
const READ_CHUNK: usize = 4096;

/// A whole client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (UTF-8 by construction).
    Text(ByteString),
    /// A ping, with the payload its pong must carry.
    Ping(Bytes),
    /// A pong (nothing to do).
    Pong,
    /// The client closes, with its code if it gave one (valid: §7.4).
    Close(Option<u16>),
}

/// Why the client's bytes end the connection: each has its close code (RFC 6455 §7.4.1) and
/// its label in `orchestrator_ws_protocol_errors_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A frame, or a fragmented message, larger than allowed (1009).
    #[error("a frame or message larger than allowed")]
    TooBig,
    /// A binary frame (1003): this server takes JSON text.
    #[error("binary frames are not supported; send JSON text")]
    Binary,
    /// Text, or a close reason, that is not UTF-8 (1007).
    #[error("text that is not UTF-8")]
    InvalidUtf8,
    /// Reserved bits set without an extension that defines them (1002).
    #[error("reserved bits set, and no extension was negotiated")]
    ReservedBits,
    /// An opcode RFC 6455 reserves (1002).
    #[error("a reserved opcode")]
    ReservedOpcode,
    /// A client frame without a mask (1002, §5.1).
    #[error("an unmasked client frame")]
    Unmasked,
    /// A control frame with FIN = 0 (1002, §5.5).
    #[error("a fragmented control frame")]
    FragmentedControl,
    /// A control frame of more than 125 bytes (1002, §5.5).
    #[error("a control frame longer than 125 bytes")]
    ControlTooLong,
    /// A length in a longer form than needed, or with its top bit set (1002, §5.2).
    #[error("a payload length not in its shortest form")]
    InvalidLength,
    /// A continuation frame with no message to continue (1002, §5.4).
    #[error("a continuation frame with nothing to continue")]
    UnexpectedContinuation,
    /// A new message before the fragmented one ended (1002, §5.4).
    #[error("a new message inside an unfinished one")]
    UnfinishedMessage,
    /// A close payload of one byte, or with a code no endpoint may send (1002, §7.4).
    #[error("an invalid close frame")]
    InvalidClose,
    /// A frame actix-http's parser refused after the checks passed it (1002; not expected).
    #[error("a malformed frame")]
    Malformed,
}

impl Refusal {
    /// Every refusal, for the metric's series.
    pub const ALL: [Refusal; 13] = [
        Refusal::TooBig,
        Refusal::Binary,
        Refusal::InvalidUtf8,
        Refusal::ReservedBits,
        Refusal::ReservedOpcode,
        Refusal::Unmasked,
        Refusal::FragmentedControl,
        Refusal::ControlTooLong,
        Refusal::InvalidLength,
        Refusal::UnexpectedContinuation,
        Refusal::UnfinishedMessage,
        Refusal::InvalidClose,
        Refusal::Malformed,
    ];

    /// The close code the connection is closed with.
    pub fn close_code(self) -> u16 {
        match self {
            Refusal::TooBig => 1009,
            Refusal::Binary => 1003,
            Refusal::InvalidUtf8 => 1007,
            Refusal::ReservedBits
            | Refusal::ReservedOpcode
            | Refusal::Unmasked
            | Refusal::FragmentedControl
            | Refusal::ControlTooLong
            | Refusal::InvalidLength
            | Refusal::UnexpectedContinuation
            | Refusal::UnfinishedMessage
            | Refusal::InvalidClose
            | Refusal::Malformed => 1002,
        }
    }

    /// Its label in `orchestrator_ws_protocol_errors_total{reason}`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::TooBig => "too_big",
            Refusal::Binary => "binary",
            Refusal::InvalidUtf8 => "invalid_utf8",
            Refusal::ReservedBits => "reserved_bits",
            Refusal::ReservedOpcode => "reserved_opcode",
            Refusal::Unmasked => "unmasked",
            Refusal::FragmentedControl => "fragmented_control",
            Refusal::ControlTooLong => "control_too_long",
            Refusal::InvalidLength => "invalid_length",
            Refusal::UnexpectedContinuation => "unexpected_continuation",
            Refusal::UnfinishedMessage => "unfinished_message",
            Refusal::InvalidClose => "invalid_close",
            Refusal::Malformed => "malformed",
        }
    }
}

/// Reads one client's messages.
#[derive(Debug)]
pub struct Reader {
    /// Bytes not read as frames yet.
    buffer: BytesMut,
    check: FrameCheck,
    /// Bytes taken into the buffer so far: the stream position of its end.
    taken: u64,
    /// Set once the check refused a frame: returned when the frames before it are read.
    refused: Option<Refusal>,
    /// The fragmented text message being put together.
    message: Option<BytesMut>,
    max_message: usize,
}

impl Reader {
    /// A reader of messages up to `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self::with_leftover(max_message, BytesMut::new())
    }

    /// A reader starting with `leftover`, the client's bytes that came with the handshake.
    pub(crate) fn with_leftover(max_message: usize, leftover: BytesMut) -> Self {
        let mut reader = Self {
            buffer: leftover,
            check: FrameCheck::new(max_message),
            taken: 0,
            refused: None,
            message: None,
            max_message,
        };
        reader.check_from(0);
        reader
    }

    /// Takes bytes the client sent.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.refused.is_none() {
            let before = self.buffer.len();
            self.buffer.extend_from_slice(bytes);
            self.check_from(before);
        }
    }

    /// Takes what `read` puts in the buffer (a socket read, without a copy).
    pub(crate) fn read_with(
        &mut self,
        read: impl FnOnce(&mut BytesMut) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let before = self.buffer.len();
        self.buffer.reserve(READ_CHUNK);
        let read = read(&mut self.buffer)?;
        self.check_from(before);
        Ok(read)
    }

    /// Bytes held, not read as messages yet (a refused frame's never are).
    pub fn buffered(&self) -> usize {
        self.buffer.len() + self.message.as_ref().map_or(0, BytesMut::len)
    }

    /// Checks the buffer's bytes from `from` on; on a refusal, drops the refused frame and
    /// everything after it.
    fn check_from(&mut self, from: usize) {
        let new = &self.buffer[from..];
        let end = self.taken + new.len() as u64;
        if let Err(refused) = self.check.feed(new) {
            let keep = usize::try_from(end - refused.frame_start)
                .ok()
                .and_then(|dropped| self.buffer.len().checked_sub(dropped))
                .unwrap_or(0);
            self.buffer.truncate(keep);
            self.refused = Some(refused.refusal);
        }
        self.taken = end;
    }

    /// The next whole message; `Ok(None)` until more bytes arrive. Once refused, every call
    /// answers the refusal (after the messages that came before it).
    ///
    /// # Errors
    /// Why the connection must close ([`Refusal`]).
    pub fn next_message(&mut self) -> Result<Option<Incoming>, Refusal> {
        loop {
            match Parser::parse(&mut self.buffer, true, self.max_message) {
                Ok(Some((fin, opcode, payload))) => {
                    match self.frame(fin, opcode, payload.unwrap_or_default()) {
                        Ok(Some(message)) => return Ok(Some(message)),
                        Ok(None) => {}
                        Err(refusal) => return Err(self.refuse(refusal)),
                    }
                }
                Ok(None) => {
                    if self.buffer.is_empty() {
                        // An idle connection holds no read buffer.
                        self.buffer = BytesMut::new();
                    }
                    return match self.refused {
                        Some(refusal) => Err(self.refuse(refusal)),
                        None => Ok(None),
                    };
                }
                Err(err) => {
                    let refusal = if matches!(err, ProtocolError::Overflow) {
                        Refusal::TooBig
                    } else {
                        Refusal::Malformed
                    };
                    return Err(self.refuse(refusal));
                }
            }
        }
    }

    /// Ends reading: nothing more is held.
    fn refuse(&mut self, refusal: Refusal) -> Refusal {
        self.refused = Some(refusal);
        self.buffer = BytesMut::new();
        self.message = None;
        refusal
    }

    fn frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, Refusal> {
        Ok(Some(match opcode {
            OpCode::Text if fin => text(payload.freeze())?,
            OpCode::Text => {
                // A copy: the payload shares the read buffer's allocation.
                self.message = Some(BytesMut::from(&payload[..]));
                return Ok(None);
            }
            OpCode::Continue => {
                let Some(mut message) = self.message.take() else {
                    return Err(Refusal::UnexpectedContinuation);
                };
                if message.len() + payload.len() > self.max_message {
                    return Err(Refusal::TooBig);
                }
                message.extend_from_slice(&payload);
                if !fin {
                    self.message = Some(message);
                    return Ok(None);
                }
                text(message.freeze())?
            }
            OpCode::Ping => Incoming::Ping(payload.freeze()),
            OpCode::Pong => Incoming::Pong,
            OpCode::Close => close(&payload)?,
            OpCode::Binary => return Err(Refusal::Binary),
            OpCode::Bad => return Err(Refusal::ReservedOpcode),
        }))
    }
}

fn text(bytes: Bytes) -> Result<Incoming, Refusal> {
    ByteString::try_from(bytes)
        .map(Incoming::Text)
        .map_err(|_| Refusal::InvalidUtf8)
}

/// A close frame's payload: nothing, or a code an endpoint may send and a UTF-8 reason.
fn close(payload: &[u8]) -> Result<Incoming, Refusal> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(Refusal::InvalidClose),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // §7.4: 1000-1003 and 1007-1011 (1012-1014 registered since), 3000-4999 for
            // libraries and applications; 1004-1006 and 1015 are never sent.
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(Refusal::InvalidClose);
            }
            std::str::from_utf8(reason).map_err(|_| Refusal::InvalidUtf8)?;
            Ok(Incoming::Close(Some(code)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut frame = vec![first, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    /// Everything `bytes` reads as, up to and including a refusal.
    fn read(bytes: &[u8], max: usize) -> Vec<Result<Incoming, Refusal>> {
        let mut reader = Reader::new(max);
        reader.push(bytes);
        let mut out = Vec::new();
        loop {
            match reader.next_message() {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(refusal) => {
                    out.push(Err(refusal));
                    return out;
                }
            }
        }
    }

    fn text_of(text: &str) -> Result<Incoming, Refusal> {
        Ok(Incoming::Text(text.into()))
    }

    #[test]
    fn texts_pings_and_a_fragmented_text_are_read_as_whole_messages() {
        let mut bytes = client_frame(0x81, b"hello");
        bytes.extend(client_frame(0x89, b"p"));
        bytes.extend(client_frame(0x01, b"fra"));
        bytes.extend(client_frame(0x8A, b"pong between fragments"));
        bytes.extend(client_frame(0x00, b"gme"));
        bytes.extend(client_frame(0x80, b"nted"));
        bytes.extend(client_frame(0x88, &[0x03, 0xE8]));

        assert_eq!(
            read(&bytes, 1024),
            [
                text_of("hello"),
                Ok(Incoming::Ping(Bytes::from_static(b"p"))),
                Ok(Incoming::Pong),
                text_of("fragmented"),
                Ok(Incoming::Close(Some(1000))),
            ]
        );
    }

    #[test]
    fn what_came_before_a_refused_frame_is_read_first() {
        let mut bytes = client_frame(0x81, b"first");
        bytes.extend(client_frame(0x89, b"then"));
        bytes.extend(client_frame(0xC1, b"reserved bit"));
        bytes.extend(client_frame(0x89, b"never answered"));

        assert_eq!(
            read(&bytes, 1024),
            [
                text_of("first"),
                Ok(Incoming::Ping(Bytes::from_static(b"then"))),
                Err(Refusal::ReservedBits),
            ]
        );
    }

    #[test]
    fn a_fragmented_control_frame_is_refused_before_the_parser_sees_it() {
        for first in [0x08, 0x09, 0x0A] {
            assert_eq!(
                read(&client_frame(first, b"frag"), 1024),
                [Err(Refusal::FragmentedControl)]
            );
        }
    }

    #[test]
    fn close_frames_are_echoed_when_valid_and_refused_otherwise() {
        let close = |payload: &[u8]| read(&client_frame(0x88, payload), 1024);

        assert_eq!(close(b""), [Ok(Incoming::Close(None))]);
        assert_eq!(
            close(&[0x0B, 0xB8, b'o', b'k']),
            [Ok(Incoming::Close(Some(3000)))]
        );
        assert_eq!(close(&[0x03]), [Err(Refusal::InvalidClose)]);
        for code in [0_u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(
                close(&code.to_be_bytes()),
                [Err(Refusal::InvalidClose)],
                "{code}"
            );
        }
        assert_eq!(close(&[0x03, 0xE8, 0xFF]), [Err(Refusal::InvalidUtf8)]);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_1007() {
        let refused = read(&client_frame(0x81, &[0xff, 0xfe]), 1024);

        assert_eq!(refused, [Err(Refusal::InvalidUtf8)]);
        assert_eq!(Refusal::InvalidUtf8.close_code(), 1007);
    }

    #[test]
    fn a_message_whose_fragments_add_up_past_the_limit_is_too_big() {
        let mut bytes = client_frame(0x01, b"12345");
        bytes.extend(client_frame(0x80, b"67890"));

        assert_eq!(read(&bytes, 8), [Err(Refusal::TooBig)]);
    }

    #[test]
    fn a_refused_frame_is_never_buffered() {
        let mut reader = Reader::new(64);
        let mut bytes = client_frame(0x81, b"kept");
        let mut huge = vec![0x81, 0x80 | 127];
        huge.extend_from_slice(&(1_u64 << 40).to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        bytes.extend(&huge);

        reader.push(&bytes);
        reader.push(&[b'x'; 4096]);

        assert_eq!(reader.buffered(), client_frame(0x81, b"kept").len());
        assert_eq!(
            reader.next_message(),
            Ok(Some(Incoming::Text("kept".into())))
        );
        assert_eq!(reader.next_message(), Err(Refusal::TooBig));
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn a_refusal_found_in_a_whole_frame_holds_whatever_comes_next() {
        // Found by the ws_frames fuzz target: a close whose reason is not UTF-8, then bytes
        // that would start a binary frame.
        let mut reader = Reader::new(64);
        reader.push(&client_frame(0x88, &[0x0B, 0xB8, 0x8C]));

        assert_eq!(reader.next_message(), Err(Refusal::InvalidUtf8));
        reader.push(&client_frame(0x82, b"binary"));
        assert_eq!(reader.next_message(), Err(Refusal::InvalidUtf8));
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn once_everything_is_read_the_reader_holds_no_buffer() {
        let mut reader = Reader::new(64);
        reader.push(&client_frame(0x81, b"hi"));

        assert!(reader.next_message().unwrap().is_some());
        assert!(reader.next_message().unwrap().is_none());

        assert_eq!(reader.buffer.capacity(), 0);
    }

    #[test]
    fn every_refusal_has_a_distinct_label_and_a_close_code_of_its_kind() {
        let mut labels: Vec<&str> = Refusal::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();

        assert_eq!(labels.len(), Refusal::ALL.len());
        assert!(Refusal::ALL
            .iter()
            .all(|r| matches!(r.close_code(), 1002 | 1003 | 1007 | 1009)));
    }
}
