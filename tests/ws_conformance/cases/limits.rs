//! 9.x: large messages (up to 16 MiB on a server configured for them), in one frame, in
//! fragments of 64 bytes to 4 MiB, written in chops of 64 bytes to 2 KiB, and many small
//! round trips; binary messages of every size are refused (1003) from their first header. 9.9:
//! a message that never ends is cut off at `realtime.max_message_bytes` (1009). 10.1: a
//! message in 1300-byte fragments.

use crate::client::{frames, Frame};
use crate::script::{Case, Family, Server};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn case(id: impl Into<String>, description: impl Into<String>) -> Case {
    Case::new(id, Family::Limits, description).on(Server::Large)
}

fn size(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

const SIZES: [usize; 6] = [64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB];
const FRAGMENTS: [usize; 9] = [
    64,
    256,
    KIB,
    4 * KIB,
    16 * KIB,
    64 * KIB,
    256 * KIB,
    MIB,
    4 * MIB,
];
const CHOPS: [usize; 6] = [64, 128, 256, 512, KIB, 2 * KIB];

/// A message of `total` bytes in fragments of `fragment` bytes.
fn fragmented(
    opcode_frame: fn(Vec<u8>) -> Frame,
    total: usize,
    fragment: usize,
    byte: u8,
) -> Vec<u8> {
    let count = total.div_ceil(fragment);
    (0..count)
        .flat_map(|n| {
            let len = fragment.min(total - n * fragment);
            let frame = if n == 0 {
                opcode_frame(vec![byte; len])
            } else {
                Frame::continuation(vec![byte; len])
            };
            frame.fin(n + 1 == count).bytes()
        })
        .collect()
}

pub fn text_messages() -> Vec<Case> {
    SIZES
        .iter()
        .enumerate()
        .map(|(n, &bytes)| {
            case(
                format!("9.1.{}", n + 1),
                format!("a text message of {}", size(bytes)),
            )
            .send(Frame::text(vec![b'*'; bytes]).bytes())
            .answer("error")
        })
        .collect()
}

pub fn binary_messages() -> Vec<Case> {
    SIZES
        .iter()
        .enumerate()
        .map(|(n, &bytes)| {
            case(
                format!("9.2.{}", n + 1),
                format!("a binary message of {}", size(bytes)),
            )
            .send(Frame::binary(vec![0xFE; bytes]).bytes())
            .fails(1003, "binary")
        })
        .collect()
}

pub fn fragmented_text() -> Vec<Case> {
    FRAGMENTS
        .iter()
        .enumerate()
        .map(|(n, &fragment)| {
            case(
                format!("9.3.{}", n + 1),
                format!("a 4 MiB text message in fragments of {}", size(fragment)),
            )
            .send(fragmented(Frame::text, 4 * MIB, fragment, b'*'))
            .answer("error")
        })
        .collect()
}

pub fn fragmented_binary() -> Vec<Case> {
    FRAGMENTS
        .iter()
        .enumerate()
        .map(|(n, &fragment)| {
            case(
                format!("9.4.{}", n + 1),
                format!("a 4 MiB binary message in fragments of {}", size(fragment)),
            )
            .send(fragmented(Frame::binary, 4 * MIB, fragment, 0xFE))
            .fails(1003, "binary")
        })
        .collect()
}

pub fn chopped_text() -> Vec<Case> {
    CHOPS
        .iter()
        .enumerate()
        .map(|(n, &chop)| {
            case(
                format!("9.5.{}", n + 1),
                format!("a 1 MiB text message written in chops of {}", size(chop)),
            )
            .chopped(Frame::text(vec![b'*'; MIB]).bytes(), chop)
            .answer("error")
        })
        .collect()
}

pub fn chopped_binary() -> Vec<Case> {
    CHOPS
        .iter()
        .enumerate()
        .map(|(n, &chop)| {
            case(
                format!("9.6.{}", n + 1),
                format!("a 1 MiB binary message written in chops of {}", size(chop)),
            )
            .chopped(Frame::binary(vec![0xFE; MIB]).bytes(), chop)
            .fails(1003, "binary")
        })
        .collect()
}

pub fn round_trips() -> Vec<Case> {
    let sizes = [0, 16, 64, 256, KIB, 4 * KIB];
    let mut cases = Vec::new();
    for (n, &bytes) in sizes.iter().enumerate() {
        let mut text = case(
            format!("9.7.{}", n + 1),
            format!(
                "1000 text messages of {}, each sent once the last is answered",
                size(bytes)
            ),
        );
        for _ in 0..1000 {
            text = text
                .send(Frame::text(vec![b'*'; bytes]).bytes())
                .answer("error");
        }
        cases.push(text);
    }
    for (n, &bytes) in sizes.iter().enumerate() {
        cases.push(
            case(
                format!("9.8.{}", n + 1),
                format!(
                    "1000 binary messages of {} (the first is refused)",
                    size(bytes)
                ),
            )
            .send(Frame::binary(vec![0xFE; bytes]).bytes())
            .fails(1003, "binary"),
        );
    }
    cases
}

pub fn misc() -> Vec<Case> {
    let endless: Vec<Frame> = std::iter::once(Frame::text(vec![b'*'; 4 * KIB]).fin(false))
        .chain((1..20).map(|_| Frame::continuation(vec![b'*'; 4 * KIB]).fin(false)))
        .collect();
    vec![
        Case::new(
            "9.9.1",
            Family::Limits,
            "a text message of endless 4 KiB fragments (20 sent, 80 KiB, past the default 64 KiB)",
        )
        .send(frames(&endless))
        .fails(1009, "too_big"),
        Case::new(
            "10.1.1",
            Family::Misc,
            "a 64 KiB text message in fragments of 1300 bytes",
        )
        .send(fragmented(Frame::text, 64 * KIB, 1300, b'*'))
        .answer("error"),
    ]
}
