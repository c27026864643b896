//! 1.x: text and binary messages of the sizes around each length encoding.

use crate::client::Frame;
use crate::script::{Case, Family};

pub fn cases() -> Vec<Case> {
    let sizes = [0, 125, 126, 127, 128, 65_535, 65_536];
    let mut cases = Vec::new();
    for (n, &size) in sizes.iter().enumerate() {
        cases.push(
            Case::new(
                format!("1.1.{}", n + 1),
                Family::Framing,
                format!("a text message of {size} bytes"),
            )
            .send(Frame::text(vec![b'*'; size]).bytes())
            .answer("error"),
        );
    }
    cases.push(
        Case::new(
            "1.1.8",
            Family::Framing,
            "a text message of 65536 bytes, written in chops of 997 bytes",
        )
        .chopped(Frame::text(vec![b'*'; 65_536]).bytes(), 997)
        .answer("error"),
    );
    for (n, &size) in sizes.iter().enumerate() {
        cases.push(
            Case::new(
                format!("1.2.{}", n + 1),
                Family::Framing,
                format!("a binary message of {size} bytes"),
            )
            .send(Frame::binary(vec![0xFE; size]).bytes())
            .fails(1003, "binary"),
        );
    }
    cases.push(
        Case::new(
            "1.2.8",
            Family::Framing,
            "a binary message of 65536 bytes, written in chops of 997 bytes",
        )
        .chopped(Frame::binary(vec![0xFE; 65_536]).bytes(), 997)
        .fails(1003, "binary"),
    );
    cases
}
