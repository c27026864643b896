//! P.x: what RFC 6455 asks that the Autobahn cases do not send: lengths in a longer form than
//! needed (§5.2: the minimal number of bytes MUST be used) or with the most significant bit
//! set, unmasked client frames (§5.1), a fragmented close, control frames and messages refused
//! from their header before their payload arrives, UTF-8 checked across fragments and inside a
//! frame whose rest never comes, the size limit to the byte, and the extension offer declined.

use crate::client::{frames, Frame, Length, CLOSE, PING, TEXT};
use crate::script::{Case, Family};

fn case(id: &str, description: &str) -> Case {
    Case::new(id, Family::Project, description)
}

/// The header of a masked frame declaring `length` (its payload never sent).
fn header_only(opcode: u8, fin: bool, length: u64) -> Vec<u8> {
    let frame = Frame::new(opcode, Vec::new())
        .fin(fin)
        .length(Length::Declared(length));
    frame.bytes()
}

pub fn cases() -> Vec<Case> {
    let mut msb = vec![0x81, 0x80 | 127];
    msb.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    msb.extend_from_slice(&[1, 2, 3, 4]);
    let partial_utf8 = Frame::text([b"valid so far ".as_slice(), &[0xC0, 0xAF]].concat())
        .length(Length::Declared(100))
        .bytes();
    vec![
        case("P.1", "a 5-byte text message whose length is written in the 16-bit form")
            .send(Frame::text(b"hello").length(Length::Wide16).bytes())
            .fails(1002, "invalid_length"),
        case("P.2", "a 200-byte text message whose length is written in the 64-bit form")
            .send(Frame::text(vec![b'*'; 200]).length(Length::Wide64).bytes())
            .fails(1002, "invalid_length"),
        case("P.3", "a 64-bit length with its most significant bit set")
            .send(msb)
            .fails(1002, "invalid_length"),
        case("P.4", "an unmasked text message")
            .send(Frame::text(b"hello").unmasked().bytes())
            .fails(1002, "unmasked"),
        case("P.5", "a close in two fragments")
            .send(frames(&[
                Frame::close(1000, b"frag").fin(false),
                Frame::continuation(b"ment"),
            ]))
            .fails(1002, "fragmented_control"),
        case("P.6", "a ping header declaring 126 bytes, its payload never sent")
            .send(header_only(PING, true, 126))
            .fails(1002, "control_too_long"),
        case("P.7", "a close header declaring 64 KiB, its payload never sent")
            .send(header_only(CLOSE, true, 65_536))
            .fails(1002, "control_too_long"),
        case("P.8", "a text header declaring 1 GiB, its payload never sent")
            .send(header_only(TEXT, true, 1 << 30))
            .fails(1009, "too_big"),
        case("P.9", "a text message of 65537 bytes, one over the limit")
            .send(Frame::text(vec![b'*'; 65_537]).bytes())
            .fails(1009, "too_big"),
        case(
            "P.10",
            "a 40 KiB first fragment, then a continuation header declaring 40 KiB more (never sent)",
        )
        .send(
            [
                Frame::text(vec![b'*'; 40 * 1024]).fin(false).bytes(),
                header_only(0x0, true, 40 * 1024),
            ]
            .concat(),
        )
        .fails(1009, "too_big"),
        case(
            "P.11",
            "a binary first fragment, its continuation never sent (refused from its header)",
        )
        .send(header_only(0x2, false, 100))
        .fails(1003, "binary"),
        case(
            "P.12",
            "a 100-byte text frame whose 14th byte (C0) makes it invalid UTF-8, its rest never sent",
        )
        .send(partial_utf8)
        .fails(1007, "invalid_utf8"),
        case(
            "P.13",
            "a fragment ending inside a code point (E2 82) continued by a byte that cannot end it",
        )
        .send(frames(&[
            Frame::text([b'a', 0xE2, 0x82]).fin(false),
            Frame::continuation(b"(").fin(false),
        ]))
        .fails(1007, "invalid_utf8"),
        case("P.14", "a 4-byte code point cut across four fragments")
            .send(frames(&[
                Frame::text([0xF0]).fin(false),
                Frame::continuation([0xA4]).fin(false),
                Frame::continuation([0xAD]).fin(false),
                Frame::continuation([0xA2]),
            ]))
            .answer("error"),
        case("P.15", "a text message whose last fragment ends inside a code point")
            .send(frames(&[
                Frame::text(b"ends with ").fin(false),
                Frame::continuation([0xE2, 0x82]),
            ]))
            .fails(1007, "invalid_utf8"),
        case(
            "P.16",
            "12, 13: a handshake offering permessage-deflate is answered without the extension",
        )
        .offering("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
        .send(Frame::text(b"compressed? no").rsv(4).bytes())
        .fails(1002, "reserved_bits"),
    ]
}
