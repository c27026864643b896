//! 4.x: reserved opcodes (3-7 for data, 11-15 for control) fail the connection, after what
//! came before them is answered and before what follows them is.

use crate::client::{frames, Frame};
use crate::script::{Case, Family};

const HELLO: &[u8] = b"Hello, world!";

/// The five cases of one range of reserved opcodes (`first` .. `first + 4`).
fn range(group: &str, first: u8, kind: &str) -> Vec<Case> {
    let id = |n: u8| format!("{group}.{n}");
    let reserved = |n: u8, payload: &[u8]| frames(&[Frame::new(first + n - 1, payload)]);
    let then = |n: u8, payload: &[u8]| {
        frames(&[
            Frame::text(HELLO),
            Frame::new(first + n - 1, payload),
            Frame::ping(b""),
        ])
    };
    let family = Family::Opcodes;
    vec![
        Case::new(
            id(1),
            family,
            format!("a frame with the reserved {kind} opcode {first}"),
        )
        .send(reserved(1, b""))
        .fails(1002, "reserved_opcode"),
        Case::new(
            id(2),
            family,
            format!(
                "a frame with the reserved {kind} opcode {} and a payload",
                first + 1
            ),
        )
        .send(reserved(2, b"reserved opcode payload"))
        .fails(1002, "reserved_opcode"),
        Case::new(
            id(3),
            family,
            format!(
                "a text message, a frame with opcode {}, then a ping",
                first + 2
            ),
        )
        .send(then(3, b""))
        .answer("error")
        .fails(1002, "reserved_opcode"),
        Case::new(
            id(4),
            family,
            format!(
                "a text message, a frame with opcode {} and a payload, then a ping",
                first + 3
            ),
        )
        .send(then(4, HELLO))
        .answer("error")
        .fails(1002, "reserved_opcode"),
        Case::new(
            id(5),
            family,
            format!(
                "a text message, a frame with opcode {} and a payload, then a ping, byte by byte",
                first + 4
            ),
        )
        .chopped(then(5, HELLO), 1)
        .answer("error")
        .fails(1002, "reserved_opcode"),
    ]
}

pub fn cases() -> Vec<Case> {
    let mut cases = range("4.1", 3, "data");
    cases.extend(range("4.2", 11, "control"));
    cases
}
