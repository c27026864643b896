//! Any bytes a WebSocket client sends, cut into reads anywhere: the frame reader
//! (`orchestrator_ws::reader`) answers messages and at most one refusal and never panics; how
//! the bytes are cut into reads changes nothing it answers; a text message is within the limit
//! (and UTF-8, by its type); what it holds after each read is at most one unfinished frame and
//! one unfinished message within the limit, whatever length a header declares (a frame
//! refused on its header is never buffered); after a refusal it holds nothing and keeps
//! answering that refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_ws::reader::{Incoming, Reader, Refusal};

/// A small limit, so the fuzzer reaches it.
const MAX: usize = 256;
/// The longest frame header: 2 bytes, a 64-bit length, the mask key.
const HEADER: usize = 14;

/// Everything `stream` reads as, fed `chunk` bytes at a time.
fn read(stream: &[u8], chunk: usize) -> Vec<Result<Incoming, Refusal>> {
    let mut reader = Reader::new(MAX);
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        reader.push(piece);
        loop {
            match reader.next_message() {
                Ok(Some(message)) => {
                    if let Incoming::Text(text) = &message {
                        assert!(text.len() <= MAX, "a text of {} bytes", text.len());
                    }
                    out.push(Ok(message));
                }
                Ok(None) => break,
                Err(refusal) => {
                    assert_eq!(reader.buffered(), 0, "holds bytes after {refusal:?}");
                    reader.push(piece);
                    assert_eq!(reader.next_message(), Err(refusal));
                    out.push(Err(refusal));
                    return out;
                }
            }
        }
        assert!(
            reader.buffered() <= HEADER + 2 * MAX,
            "holds {} bytes",
            reader.buffered()
        );
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = read(stream, stream.len().max(1));
    let pieces = read(stream, usize::from(cut % 32) + 1);
    assert_eq!(whole, pieces, "cut into reads of {}", cut % 32 + 1);
});
