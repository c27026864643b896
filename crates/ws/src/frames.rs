//! Frames refused on their header. actix-http's WebSocket codec checks a frame's size only
//! once the whole frame has arrived, so a client declaring a 1 GB frame makes the server
//! buffer up to 1 GB before it says no. [`FrameHeaders`] follows the frame headers in the raw
//! bytes as they are read, and fails as soon as one declares a payload larger than the limit:
//! the connection is closed with 1009 before the payload is read.

/// Where the parser is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a frame header: `have` of its bytes so far.
    Header { bytes: [u8; 14], have: usize },
    /// Skipping the payload of the current frame.
    Payload { remaining: u64 },
}

/// A frame header declared more than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Oversized;

/// Follows client frame headers across chunks.
#[derive(Debug, Clone)]
pub(crate) struct FrameHeaders {
    max_payload: u64,
    state: State,
}

impl FrameHeaders {
    pub(crate) fn new(max_payload: usize) -> Self {
        Self {
            max_payload: u64::try_from(max_payload).unwrap_or(u64::MAX),
            state: State::Header {
                bytes: [0; 14],
                have: 0,
            },
        }
    }

    /// Reads `chunk`, failing on the first header that declares more than the limit.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Oversized> {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Payload { remaining } => {
                    let skip =
                        usize::try_from(*remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                    *remaining -= skip as u64;
                    chunk = &chunk[skip..];
                    if *remaining == 0 {
                        self.state = State::Header {
                            bytes: [0; 14],
                            have: 0,
                        };
                    }
                }
                State::Header { bytes, have } => {
                    bytes[*have] = chunk[0];
                    *have += 1;
                    chunk = &chunk[1..];
                    if let Some(length) = declared_length(&bytes[..*have]) {
                        if length > self.max_payload {
                            return Err(Oversized);
                        }
                        self.state = if length == 0 {
                            State::Header {
                                bytes: [0; 14],
                                have: 0,
                            }
                        } else {
                            State::Payload { remaining: length }
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

/// The payload length a complete header declares; `None` while the header is incomplete.
fn declared_length(header: &[u8]) -> Option<u64> {
    let [_, second, rest @ ..] = header else {
        return None;
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let (extended, length) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(u64::from(short))),
    };
    if rest.len() < extended + mask {
        return None;
    }
    length.or_else(|| {
        let mut be = [0u8; 8];
        be[8 - extended..].copy_from_slice(&rest[..extended]);
        Some(u64::from_be_bytes(be))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header declaring `length`.
    fn header(length: u64) -> Vec<u8> {
        let mut header = vec![0x81];
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
        header.extend_from_slice(&[1, 2, 3, 4]);
        header
    }

    #[test]
    fn a_header_declaring_too_much_is_refused_before_any_payload() {
        let mut headers = FrameHeaders::new(64 * 1024);

        assert_eq!(headers.feed(&header(1 << 30)), Err(Oversized));
    }

    #[test]
    fn frames_within_the_limit_pass_one_after_another_split_anywhere() {
        let mut stream = Vec::new();
        for length in [0_u64, 5, 125, 126, 70_000 - 1, 65_536] {
            stream.extend(header(length));
            stream.extend(std::iter::repeat_n(b'x', length as usize));
        }
        for chunk_size in [1, 3, 7, 1000, stream.len()] {
            let mut headers = FrameHeaders::new(70_000);
            for chunk in stream.chunks(chunk_size) {
                assert_eq!(headers.feed(chunk), Ok(()), "chunks of {chunk_size}");
            }
        }
    }

    #[test]
    fn the_first_oversized_frame_after_good_ones_is_caught_even_byte_by_byte() {
        let mut stream = header(10);
        stream.extend([b'x'; 10]);
        stream.extend(header(65_537));
        let mut headers = FrameHeaders::new(65_536);

        let refused = stream.iter().any(|byte| headers.feed(&[*byte]).is_err());

        assert!(refused);
    }

    #[test]
    fn an_incomplete_header_waits_for_more_bytes() {
        assert_eq!(declared_length(&[0x81]), None);
        assert_eq!(declared_length(&[0x81, 0x80 | 126, 0x01]), None);
        assert_eq!(declared_length(&[0x81, 0x80 | 126, 0x01, 0x00]), None);
        assert_eq!(
            declared_length(&[0x81, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4]),
            Some(256)
        );
        assert_eq!(declared_length(&[0x81, 5]), Some(5));
    }
}
