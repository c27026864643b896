//! 3.x: reserved bits without a negotiated extension fail the connection (§5.2), after what
//! came before them is answered and before what follows them is.

use crate::client::{frames, Frame};
use crate::script::{Case, Family};

const HELLO: &[u8] = b"Hello, world!";

fn case(id: &str, description: &str) -> Case {
    Case::new(id, Family::ReservedBits, description)
}

/// A text message, the same with `rsv` set, then a ping.
fn sequence(rsv: u8) -> [Frame; 3] {
    [
        Frame::text(HELLO),
        Frame::text(HELLO).rsv(rsv),
        Frame::ping(b""),
    ]
}

pub fn cases() -> Vec<Case> {
    vec![
        case("3.1", "a text message with RSV = 1")
            .send(Frame::text(HELLO).rsv(1).bytes())
            .fails(1002, "reserved_bits"),
        case("3.2", "a text message, the same with RSV = 2, then a ping")
            .send(frames(&sequence(2)))
            .answer("error")
            .fails(1002, "reserved_bits"),
        case(
            "3.3",
            "a text message, the same with RSV = 3, then a ping, frame by frame",
        )
        .frame_wise(&sequence(3))
        .answer("error")
        .fails(1002, "reserved_bits"),
        case(
            "3.4",
            "a text message, the same with RSV = 4, then a ping, byte by byte",
        )
        .chopped(frames(&sequence(4)), 1)
        .answer("error")
        .fails(1002, "reserved_bits"),
        case("3.5", "a binary message with RSV = 5")
            .send(Frame::binary([0x00, 0xFF, 0xFE, 0xFD]).rsv(5).bytes())
            .fails(1002, "reserved_bits"),
        case("3.6", "a ping with RSV = 6")
            .send(Frame::ping(HELLO).rsv(6).bytes())
            .fails(1002, "reserved_bits"),
        case("3.7", "a close with RSV = 7")
            .send(Frame::close(1000, b"").rsv(7).bytes())
            .fails(1002, "reserved_bits"),
    ]
}
