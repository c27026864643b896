//! The client's bytes checked as they are read, ahead of actix-http's frame parser (which
//! only sees whole frames): a frame is refused on its header, and a text message at its first
//! byte that is not UTF-8, before the rest of the frame is buffered.
//!
//! On the header (RFC 6455 §5.2, §5.4, §5.5): reserved bits (no extension is negotiated),
//! reserved opcodes, a binary frame (this server takes JSON text only), a control frame that
//! is fragmented or longer than 125 bytes, a continuation of nothing or a new message inside
//! an unfinished one, an unmasked frame, a length not in its shortest form or over 2^63, and
//! a frame or a fragmented message larger than the limit. A client declaring a 1 GB frame is
//! refused before one byte of it is read; so is, at its first byte, a fragmented ping (which
//! actix-http's codec would log as an ERROR).
//!
//! In the payload: every byte of a text message, unmasked here, is checked as UTF-8 across
//! frames and reads (§8.1: fail fast).

use crate::reader::Refusal;
use crate::utf8::Utf8Stream;

const FIN: u8 = 0x80;
const RSV: u8 = 0x70;
const MASK: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The payload of a text frame, unmasked and checked as it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Text {
    key: [u8; 4],
    /// The key byte that masks the next payload byte.
    at: usize,
    /// Whether this frame ends its message (which must then end on a code point).
    last: bool,
}

/// Where the check is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a frame header: `have` of its bytes so far.
    Header { bytes: [u8; 14], have: usize },
    /// Passing over the payload of the current frame (checking it, if it is text).
    Payload { remaining: u64, text: Option<Text> },
}

const NEXT_HEADER: State = State::Header {
    bytes: [0; 14],
    have: 0,
};

/// Why the bytes were refused, and where the refused frame starts in the stream: the frames
/// before it are whole and still to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) refusal: Refusal,
    pub(crate) frame_start: u64,
}

/// Follows the client's frames across reads.
#[derive(Debug, Clone)]
pub(crate) struct FrameCheck {
    max_message: u64,
    state: State,
    /// Bytes checked so far.
    seen: u64,
    /// Where the current frame starts in the stream.
    frame_start: u64,
    /// Bytes of the fragmented message so far, while one is open.
    message: Option<u64>,
    utf8: Utf8Stream,
}

impl FrameCheck {
    /// Checks frames and messages of at most `max_message` bytes.
    pub(crate) fn new(max_message: usize) -> Self {
        Self {
            max_message: u64::try_from(max_message).unwrap_or(u64::MAX),
            state: NEXT_HEADER,
            seen: 0,
            frame_start: 0,
            message: None,
            utf8: Utf8Stream::default(),
        }
    }

    /// Checks `chunk`, the bytes that follow the ones checked so far.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Refused> {
        let refused = |refusal, frame_start| Refused {
            refusal,
            frame_start,
        };
        while !chunk.is_empty() {
            match &mut self.state {
                State::Payload { remaining, text } => {
                    let take =
                        usize::try_from(*remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                    let (now, rest) = chunk.split_at(take);
                    if let Some(text) = text {
                        check_text(&mut self.utf8, text, now)
                            .map_err(|refusal| refused(refusal, self.frame_start))?;
                    }
                    *remaining -= take as u64;
                    self.seen += take as u64;
                    chunk = rest;
                    if *remaining == 0 {
                        let last = text.is_some_and(|text| text.last);
                        self.next_frame(last)
                            .map_err(|refusal| refused(refusal, self.frame_start))?;
                    }
                }
                State::Header { bytes, have } => {
                    bytes[*have] = chunk[0];
                    *have += 1;
                    self.seen += 1;
                    chunk = &chunk[1..];
                    let (bytes, have) = (*bytes, *have);
                    self.header_byte(&bytes[..have])
                        .map_err(|refusal| refused(refusal, self.frame_start))?;
                }
            }
        }
        Ok(())
    }

    /// Checks a header as far as it has arrived (each rule from the byte that can break it,
    /// the size as soon as the length is known, ahead of the mask key); starts the payload
    /// once the header is complete.
    fn header_byte(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        if bytes.len() == 1 {
            self.check_first_byte(bytes[0])?;
        }
        let Some((length, key_at)) = declared_length(bytes)? else {
            return Ok(());
        };
        let (fin, opcode) = (bytes[0] & FIN != 0, bytes[0] & 0x0F);
        let data = matches!(opcode, TEXT | CONTINUATION);
        let before = if opcode == CONTINUATION {
            self.message.unwrap_or(0)
        } else {
            0
        };
        let total = before.saturating_add(length);
        if total > self.max_message {
            return Err(Refusal::TooBig);
        }
        let Some(key) = bytes.get(key_at..key_at + 4) else {
            return Ok(());
        };
        if data {
            self.message = (!fin).then_some(total);
        }
        self.state = State::Payload {
            remaining: length,
            text: data.then_some(Text {
                key: [key[0], key[1], key[2], key[3]],
                at: 0,
                last: fin,
            }),
        };
        if length == 0 {
            self.next_frame(data && fin)?;
        }
        Ok(())
    }

    /// What the first byte alone says: reserved bits and opcodes, binary, and whether the
    /// frame fits where it comes (in a fragmented message or not).
    fn check_first_byte(&self, first: u8) -> Result<(), Refusal> {
        if first & RSV != 0 {
            return Err(Refusal::ReservedBits);
        }
        let in_message = self.message.is_some();
        match first & 0x0F {
            CONTINUATION if !in_message => Err(Refusal::UnexpectedContinuation),
            TEXT | BINARY if in_message => Err(Refusal::UnfinishedMessage),
            BINARY => Err(Refusal::Binary),
            CLOSE | PING | PONG if first & FIN == 0 => Err(Refusal::FragmentedControl),
            CONTINUATION | TEXT | CLOSE | PING | PONG => Ok(()),
            _ => Err(Refusal::ReservedOpcode),
        }
    }

    /// The current frame's payload is over: a message ending here must end on a code point.
    fn next_frame(&mut self, ends_text: bool) -> Result<(), Refusal> {
        if ends_text {
            self.utf8.finish().map_err(|_| Refusal::InvalidUtf8)?;
        }
        self.state = NEXT_HEADER;
        self.frame_start = self.seen;
        Ok(())
    }
}

/// Unmasks the text bytes `masked` and checks them as the continuation of the message.
fn check_text(utf8: &mut Utf8Stream, text: &mut Text, masked: &[u8]) -> Result<(), Refusal> {
    let mut plain = [0u8; 256];
    for piece in masked.chunks(plain.len()) {
        for (at, byte) in piece.iter().enumerate() {
            plain[at] = byte ^ text.key[(text.at + at) % 4];
        }
        text.at = (text.at + piece.len()) % 4;
        utf8.feed(&plain[..piece.len()])
            .map_err(|_| Refusal::InvalidUtf8)?;
    }
    Ok(())
}

/// The payload length a header declares once its length bytes have arrived, and where its
/// mask key starts; refuses the header as soon as a byte makes it invalid.
fn declared_length(bytes: &[u8]) -> Result<Option<(u64, usize)>, Refusal> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    if second & MASK == 0 {
        return Err(Refusal::Unmasked);
    }
    let short = second & 0x7F;
    if first & 0x0F >= CLOSE && short > 125 {
        return Err(Refusal::ControlTooLong);
    }
    let extended = match short {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    if rest.len() < extended {
        return Ok(None);
    }
    let length = match extended {
        0 => u64::from(short),
        _ => {
            let mut be = [0u8; 8];
            be[8 - extended..].copy_from_slice(&rest[..extended]);
            u64::from_be_bytes(be)
        }
    };
    // §5.2: the minimal number of bytes MUST be used, and the 64-bit form's top bit is 0.
    let shortest = match extended {
        0 => true,
        2 => length >= 126,
        _ => length > 0xFFFF && length >> 63 == 0,
    };
    if !shortest {
        return Err(Refusal::InvalidLength);
    }
    Ok(Some((length, 2 + extended)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [1, 2, 3, 4];

    /// A masked client frame header: `first` byte (FIN, RSV, opcode), then `length`.
    fn header(first: u8, length: u64) -> Vec<u8> {
        let mut header = vec![first];
        match length {
            0..=125 => header.push(0x80 | length as u8),
            126..=0xffff => {
                header.push(0x80 | 126);
                header.extend_from_slice(&(length as u16).to_be_bytes());
            }
            _ => {
                header.push(0x80 | 127);
                header.extend_from_slice(&length.to_be_bytes());
            }
        }
        header.extend_from_slice(&KEY);
        header
    }

    /// A whole masked frame.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = header(first, payload.len() as u64);
        frame.extend(payload.iter().zip(KEY.iter().cycle()).map(|(b, k)| b ^ k));
        frame
    }

    fn refusal(bytes: &[u8], max: usize) -> Option<Refusal> {
        FrameCheck::new(max)
            .feed(bytes)
            .err()
            .map(|refused| refused.refusal)
    }

    #[test]
    fn a_header_declaring_too_much_is_refused_before_any_payload() {
        assert_eq!(
            refusal(&header(0x81, 1 << 30), 64 * 1024),
            Some(Refusal::TooBig)
        );
    }

    #[test]
    fn frames_within_the_limit_pass_one_after_another_split_anywhere() {
        let mut stream = Vec::new();
        for length in [0_u64, 5, 125, 126, 70_000 - 1, 65_536] {
            stream.extend(frame(0x81, &vec![b'x'; length as usize]));
        }
        stream.extend(frame(0x89, b"ping"));
        stream.extend(frame(0x01, b"frag"));
        stream.extend(frame(0x8A, b"pong in between"));
        stream.extend(frame(0x80, "mented \u{e9}".as_bytes()));
        for chunk_size in [1, 3, 7, 1000, stream.len()] {
            let mut check = FrameCheck::new(70_000);
            for chunk in stream.chunks(chunk_size) {
                assert_eq!(check.feed(chunk), Ok(()), "chunks of {chunk_size}");
            }
        }
    }

    #[test]
    fn each_rule_of_the_header_is_enforced_from_the_byte_that_breaks_it() {
        let mut non_minimal_16 = vec![0x81, 0x80 | 126, 0, 5];
        non_minimal_16.extend_from_slice(&KEY);
        let mut non_minimal_64 = vec![0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        non_minimal_64.extend_from_slice(&KEY);
        let mut top_bit = vec![0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 5];
        top_bit.extend_from_slice(&KEY);
        let cases: [(&[u8], Refusal); 11] = [
            (&[0xC1], Refusal::ReservedBits),
            (&[0x83], Refusal::ReservedOpcode),
            (&[0x8B], Refusal::ReservedOpcode),
            (&[0x82], Refusal::Binary),
            (&[0x09], Refusal::FragmentedControl),
            (&[0x08], Refusal::FragmentedControl),
            (&[0x80], Refusal::UnexpectedContinuation),
            (&[0x81, 0x05], Refusal::Unmasked),
            (&[0x89, 0x80 | 126], Refusal::ControlTooLong),
            (&non_minimal_16, Refusal::InvalidLength),
            (&non_minimal_64, Refusal::InvalidLength),
        ];
        for (bytes, expected) in cases {
            assert_eq!(refusal(bytes, 1 << 20), Some(expected), "{bytes:x?}");
        }
        assert_eq!(refusal(&top_bit, usize::MAX), Some(Refusal::InvalidLength));
    }

    #[test]
    fn a_length_is_judged_as_soon_as_it_is_known_not_once_the_mask_key_follows() {
        // actix-http's parser refuses a 64-bit length with its top bit set from its length
        // bytes; the check must have refused it first (the fuzz target found the gap).
        let top_bit = [
            0x81,
            0x80 | 127,
            0xFF,
            0x20,
            0x77,
            0x7D,
            0x71,
            0x67,
            0x21,
            0x3E,
        ];
        let too_big = [0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0];

        assert_eq!(refusal(&top_bit, 1 << 20), Some(Refusal::InvalidLength));
        assert_eq!(refusal(&too_big, 1 << 20), Some(Refusal::TooBig));
    }

    #[test]
    fn a_message_inside_an_unfinished_one_is_refused() {
        let mut bytes = frame(0x01, b"first");
        bytes.extend(frame(0x81, b"second"));

        assert_eq!(refusal(&bytes, 1024), Some(Refusal::UnfinishedMessage));
    }

    #[test]
    fn fragments_adding_up_past_the_limit_are_refused_on_the_header_that_passes_it() {
        let mut bytes = frame(0x01, &[b'x'; 6]);
        bytes.extend(header(0x80, 5));

        assert_eq!(refusal(&bytes, 10), Some(Refusal::TooBig));
    }

    #[test]
    fn text_is_refused_at_its_first_invalid_byte_and_names_where_its_frame_starts() {
        let good = frame(0x81, b"fine");
        let mut bytes = good.clone();
        // A 100-byte frame whose third byte cannot follow the second.
        bytes.extend(header(0x81, 100));
        bytes.extend(
            [b'o', 0xE2, b'(']
                .iter()
                .zip(KEY.iter().cycle())
                .map(|(b, k)| b ^ k),
        );
        let mut check = FrameCheck::new(1024);

        let refused = check.feed(&bytes);

        assert_eq!(
            refused,
            Err(Refused {
                refusal: Refusal::InvalidUtf8,
                frame_start: good.len() as u64,
            })
        );
    }

    #[test]
    fn a_code_point_may_span_fragments_but_a_message_may_not_end_inside_one() {
        let euro = "€".as_bytes();
        let mut spanning = frame(0x01, &euro[..1]);
        spanning.extend(frame(0x00, &euro[1..2]));
        spanning.extend(frame(0x80, &euro[2..]));
        let mut cut = frame(0x01, b"x");
        cut.extend(frame(0x80, &euro[..2]));

        assert_eq!(refusal(&spanning, 1024), None);
        assert_eq!(refusal(&cut, 1024), Some(Refusal::InvalidUtf8));
    }
}
