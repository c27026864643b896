//! UTF-8 checked as it arrives: a text message is refused at the first byte that cannot be
//! part of valid UTF-8 (RFC 6455 §8.1), however its bytes are cut into fragments and reads,
//! keeping only the up to three bytes of a code point that is not complete yet.

/// The bytes seen cannot be the start of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

/// The state of a text being checked: the bytes of its last, incomplete code point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Utf8Stream {
    pending: [u8; 4],
    have: usize,
}

impl Utf8Stream {
    /// Checks `bytes` as the continuation of the text so far.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        // First complete the code point the last bytes left open, one byte at a time: it
        // needs at most three more.
        while self.have > 0 {
            let Some((&next, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[self.have] = next;
            self.have += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.have]) {
                Ok(_) => self.have = 0,
                Err(err) if err.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(err) if err.error_len().is_some() => Err(InvalidUtf8),
            Err(err) => {
                // Valid so far, ending inside a code point (at most three bytes of it).
                let tail = &bytes[err.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.have = tail.len();
                Ok(())
            }
        }
    }

    /// The text ends here: it must not end inside a code point.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.have == 0;
        *self = Self::default();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `text` cut into pieces of `size` bytes.
    fn check_in_pieces(text: &[u8], size: usize) -> Result<(), InvalidUtf8> {
        let mut stream = Utf8Stream::default();
        for piece in text.chunks(size) {
            stream.feed(piece)?;
        }
        stream.finish()
    }

    #[test]
    fn valid_text_passes_however_it_is_cut() {
        let text = "plain, é, €, 𤭢, \u{1f79}, \u{10ffff}".as_bytes();

        for size in 1..=text.len() {
            assert_eq!(check_in_pieces(text, size), Ok(()), "pieces of {size}");
        }
    }

    #[test]
    fn invalid_text_is_refused_at_the_byte_that_makes_it_invalid() {
        // A lone surrogate: ED is a valid start, A0 after it is not.
        let text = [b'a', 0xED, 0xA0, 0x80];
        let mut stream = Utf8Stream::default();

        assert_eq!(stream.feed(&text[..2]), Ok(()));
        assert_eq!(stream.feed(&text[2..3]), Err(InvalidUtf8));
    }

    #[test]
    fn every_kind_of_invalid_sequence_is_refused_in_any_pieces() {
        let invalid: [&[u8]; 8] = [
            &[0xC0, 0xAF],             // overlong
            &[0xE0, 0x80, 0xAF],       // overlong
            &[0xF4, 0x90, 0x80, 0x80], // beyond U+10FFFF
            &[0xED, 0xBF, 0xBF],       // surrogate
            &[0x80],                   // a continuation byte first
            &[0xFE],                   // never in UTF-8
            &[0xE2, 0x82, b'('],       // cut short by an ASCII byte
            &[0xF8, 0x88, 0x80, 0x80, 0x80],
        ];
        for text in invalid {
            for size in 1..=text.len() {
                assert_eq!(
                    check_in_pieces(text, size),
                    Err(InvalidUtf8),
                    "{text:x?}/{size}"
                );
            }
        }
    }

    #[test]
    fn a_text_ending_inside_a_code_point_is_refused_at_its_end_and_the_stream_starts_over() {
        let mut stream = Utf8Stream::default();

        assert_eq!(stream.feed(&[b'x', 0xE2, 0x82]), Ok(()));
        assert_eq!(stream.finish(), Err(InvalidUtf8));
        assert_eq!(stream.feed(b"next"), Ok(()));
        assert_eq!(stream.finish(), Ok(()));
    }
}
