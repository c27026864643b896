//! 6.x: text must be UTF-8 (RFC 3629), checked as it arrives: an invalid message fails the
//! connection with 1007 as soon as the byte that makes it invalid arrives, even inside a
//! fragment or a frame whose rest has not; a valid one is answered, wherever its fragments cut
//! its code points.

use std::time::Duration;

use super::PING_MESSAGE;
use crate::client::{frames, Frame};
use crate::script::{Case, Expect, Family};

fn case(id: impl Into<String>, description: impl Into<String>) -> Case {
    Case::new(id, Family::Utf8, description)
}

/// Greek "kosme" (with U+1F79, a 3-byte code point), the classic UTF-8 test word.
const KOSME_TEXT: &str = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}";
const KOSME: &[u8] = KOSME_TEXT.as_bytes();
const VALID: &str = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𤭢 €";

/// "κόσμε", a lone surrogate (ED A0 80: invalid from its second byte), then "edited".
fn invalid_text() -> Vec<u8> {
    [KOSME, &[0xED, 0xA0, 0x80], b"edited"].concat()
}

/// `bytes` as a text message in fragments of one byte.
fn bytewise(bytes: &[u8]) -> Vec<Frame> {
    let last = bytes.len().saturating_sub(1);
    bytes
        .iter()
        .enumerate()
        .map(|(n, byte)| {
            let frame = if n == 0 {
                Frame::text([*byte])
            } else {
                Frame::continuation([*byte])
            };
            frame.fin(n == last)
        })
        .collect()
}

pub fn cases() -> Vec<Case> {
    let quiet = Expect::Quiet(Duration::from_millis(300));
    let valid = VALID.as_bytes();
    let at = valid.iter().position(|b| *b == b'@').unwrap_or(0) + 1;
    let invalid = invalid_text();
    // Where the invalid text stops being valid UTF-8: the byte after ED.
    let offending = KOSME.len() + 1;
    let single = Frame::text(invalid.clone()).bytes();
    let header = single.len() - invalid.len();
    vec![
        case("6.1.1", "an empty text message")
            .send(Frame::text(b"").bytes())
            .answer("error"),
        case("6.1.2", "a text message in three empty fragments")
            .send(frames(&[
                Frame::text(b"").fin(false),
                Frame::continuation(b"").fin(false),
                Frame::continuation(b""),
            ]))
            .answer("error"),
        case(
            "6.1.3",
            "three fragments, the first and last empty, the middle one a whole message",
        )
        .send(frames(&[
            Frame::text(b"").fin(false),
            Frame::continuation(PING_MESSAGE).fin(false),
            Frame::continuation(b""),
        ]))
        .answer("pong"),
        case("6.2.1", "valid UTF-8 text in one frame")
            .send(Frame::text(valid).bytes())
            .answer("error"),
        case(
            "6.2.2",
            "valid UTF-8 text in two fragments cut on a code point boundary",
        )
        .send(frames(&[
            Frame::text(&valid[..at]).fin(false),
            Frame::continuation(&valid[at..]),
        ]))
        .answer("error"),
        case(
            "6.2.3",
            "valid UTF-8 text in fragments of one byte (cutting code points)",
        )
        .send(frames(&bytewise(valid)))
        .answer("error"),
        case(
            "6.2.4",
            "\"κόσμε\" in fragments of one byte (cutting code points)",
        )
        .send(frames(&bytewise(KOSME)))
        .answer("error"),
        case("6.3.1", "invalid UTF-8 text in one frame")
            .send(single.clone())
            .fails(1007, "invalid_utf8"),
        case("6.3.2", "invalid UTF-8 text in fragments of one byte")
            .send(frames(&bytewise(&invalid)))
            .fails(1007, "invalid_utf8"),
        case(
            "6.4.1",
            "invalid UTF-8 text in three fragments: a valid one, a pause, the invalid one (the \
             third is never needed)",
        )
        .send(Frame::text(KOSME).fin(false).bytes())
        .expect(quiet.clone())
        .send(
            Frame::continuation(&invalid[KOSME.len()..KOSME.len() + 3])
                .fin(false)
                .bytes(),
        )
        .fails(1007, "invalid_utf8"),
        case(
            "6.4.2",
            "the same, the second fragment being only the byte that makes the text invalid",
        )
        .send(Frame::text(&invalid[..offending]).fin(false).bytes())
        .expect(quiet.clone())
        .send(
            Frame::continuation(&invalid[offending..=offending])
                .fin(false)
                .bytes(),
        )
        .fails(1007, "invalid_utf8"),
        case(
            "6.4.3",
            "invalid UTF-8 text in ONE frame written in three chops: a valid one, a pause, the \
             invalid one (the frame's rest never comes)",
        )
        .send(single[..header + KOSME.len()].to_vec())
        .expect(quiet.clone())
        .send(single[header + KOSME.len()..header + KOSME.len() + 3].to_vec())
        .fails(1007, "invalid_utf8"),
        case(
            "6.4.4",
            "the same, the second chop being only the byte that makes the text invalid",
        )
        .send(single[..header + offending].to_vec())
        .expect(quiet)
        .send(single[header + offending..=header + offending].to_vec())
        .fails(1007, "invalid_utf8"),
    ]
}

/// A family of test sequences (Markus Kuhn's UTF-8 decoder stress test, as Autobahn groups
/// it): its title and its sequences with whether each is valid UTF-8.
struct Group {
    title: &'static str,
    sequences: Vec<(bool, Vec<u8>)>,
}

fn group(title: &'static str, valid: bool, sequences: &[&[u8]]) -> Group {
    Group {
        title,
        sequences: sequences.iter().map(|s| (valid, s.to_vec())).collect(),
    }
}

fn encoded(code_points: impl IntoIterator<Item = u32>) -> Vec<Vec<u8>> {
    code_points
        .into_iter()
        .filter_map(char::from_u32)
        .map(|c| c.to_string().into_bytes())
        .collect()
}

fn groups() -> Vec<Group> {
    let prefixes = (1..=KOSME.len())
        .map(|end| (KOSME_TEXT.is_char_boundary(end), KOSME[..end].to_vec()))
        .collect();
    let lonely =
        |first: u8, last: u8| -> Vec<u8> { (first..=last).flat_map(|b| [b, b' ']).collect() };
    let missing: [&[u8]; 10] = [
        &[0xC0],
        &[0xE0, 0x80],
        &[0xF0, 0x80, 0x80],
        &[0xF8, 0x80, 0x80, 0x80],
        &[0xFC, 0x80, 0x80, 0x80, 0x80],
        &[0xDF],
        &[0xEF, 0xBF],
        &[0xF7, 0xBF, 0xBF],
        &[0xFB, 0xBF, 0xBF, 0xBF],
        &[0xFD, 0xBF, 0xBF, 0xBF, 0xBF],
    ];
    let noncharacters = encoded(
        std::iter::once(0xFFFE)
            .chain(std::iter::once(0xFFFF))
            .chain(
                (1..=16u32).flat_map(|plane| [plane * 0x10000 + 0xFFFE, plane * 0x10000 + 0xFFFF]),
            ),
    );
    let surrogate_pairs: Vec<Vec<u8>> = [[0xA0, 0x80], [0xAD, 0xBF], [0xAE, 0x80], [0xAF, 0xBF]]
        .iter()
        .flat_map(|high| {
            [[0xB0, 0x80], [0xBF, 0xBF]]
                .iter()
                .map(move |low| vec![0xED, high[0], high[1], 0xED, low[0], low[1]])
        })
        .collect();
    vec![
        group(
            "some valid UTF-8 sequences",
            true,
            &[
                b"hello$world",
                "hello¢world".as_bytes(),
                "hello€world".as_bytes(),
                "hello𤭢world".as_bytes(),
                KOSME,
            ],
        ),
        Group {
            title: "every prefix of \"κόσμε\"",
            sequences: prefixes,
        },
        group(
            "the first code point of each length",
            true,
            &[
                &[0x00],
                &[0xC2, 0x80],
                &[0xE0, 0xA0, 0x80],
                &[0xF0, 0x90, 0x80, 0x80],
            ],
        ),
        group(
            "the first 5- and 6-byte sequences (beyond Unicode)",
            false,
            &[
                &[0xF8, 0x88, 0x80, 0x80, 0x80],
                &[0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],
            ],
        ),
        group(
            "the last code point of each length",
            true,
            &[
                &[0x7F],
                &[0xDF, 0xBF],
                &[0xEF, 0xBF, 0xBF],
                &[0xF4, 0x8F, 0xBF, 0xBF],
            ],
        ),
        group(
            "the last 4-, 5- and 6-byte sequences (beyond U+10FFFF)",
            false,
            &[
                &[0xF7, 0xBF, 0xBF, 0xBF],
                &[0xFB, 0xBF, 0xBF, 0xBF, 0xBF],
                &[0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF],
            ],
        ),
        Group {
            title: "other boundaries (U+D7FF, U+E000, U+FFFD, U+10FFFF valid; U+110000 not)",
            sequences: vec![
                (true, vec![0xED, 0x9F, 0xBF]),
                (true, vec![0xEE, 0x80, 0x80]),
                (true, vec![0xEF, 0xBF, 0xBD]),
                (true, vec![0xF4, 0x8F, 0xBF, 0xBF]),
                (false, vec![0xF4, 0x90, 0x80, 0x80]),
            ],
        },
        Group {
            title: "unexpected continuation bytes",
            sequences: [1, 2, 3, 4, 5, 6, 7]
                .iter()
                .map(|n| {
                    (
                        false,
                        [0x80, 0xBF].iter().cycle().take(*n).copied().collect(),
                    )
                })
                .chain(std::iter::once((false, (0x80..=0xBF).collect())))
                .collect(),
        },
        Group {
            title: "lonely start bytes, each followed by a space",
            sequences: vec![
                (false, lonely(0xC0, 0xDF)),
                (false, lonely(0xE0, 0xEF)),
                (false, lonely(0xF0, 0xF7)),
                (false, lonely(0xF8, 0xFB)),
                (false, lonely(0xFC, 0xFD)),
            ],
        },
        group(
            "sequences missing their last continuation byte",
            false,
            &missing,
        ),
        Group {
            title: "all of those, concatenated",
            sequences: vec![(false, missing.concat())],
        },
        group(
            "impossible bytes",
            false,
            &[&[0xFE], &[0xFF], &[0xFE, 0xFE, 0xFF, 0xFF]],
        ),
        group(
            "overlong forms of \"/\"",
            false,
            &[
                &[0xC0, 0xAF],
                &[0xE0, 0x80, 0xAF],
                &[0xF0, 0x80, 0x80, 0xAF],
                &[0xF8, 0x80, 0x80, 0x80, 0xAF],
                &[0xFC, 0x80, 0x80, 0x80, 0x80, 0xAF],
            ],
        ),
        group(
            "the largest overlong forms",
            false,
            &[
                &[0xC1, 0xBF],
                &[0xE0, 0x9F, 0xBF],
                &[0xF0, 0x8F, 0xBF, 0xBF],
                &[0xF8, 0x87, 0xBF, 0xBF, 0xBF],
                &[0xFC, 0x83, 0xBF, 0xBF, 0xBF, 0xBF],
            ],
        ),
        group(
            "overlong forms of NUL",
            false,
            &[
                &[0xC0, 0x80],
                &[0xE0, 0x80, 0x80],
                &[0xF0, 0x80, 0x80, 0x80],
                &[0xF8, 0x80, 0x80, 0x80, 0x80],
                &[0xFC, 0x80, 0x80, 0x80, 0x80, 0x80],
            ],
        ),
        group(
            "single UTF-16 surrogates",
            false,
            &[
                &[0xED, 0xA0, 0x80],
                &[0xED, 0xAD, 0xBF],
                &[0xED, 0xAE, 0x80],
                &[0xED, 0xAF, 0xBF],
                &[0xED, 0xB0, 0x80],
                &[0xED, 0xBE, 0x80],
                &[0xED, 0xBF, 0xBF],
            ],
        ),
        Group {
            title: "paired UTF-16 surrogates",
            sequences: surrogate_pairs.into_iter().map(|s| (false, s)).collect(),
        },
        Group {
            title: "noncharacters (valid UTF-8)",
            sequences: noncharacters.into_iter().map(|s| (true, s)).collect(),
        },
        Group {
            title: "specials U+FFF9..U+FFFF (valid UTF-8)",
            sequences: encoded(0xFFF9..=0xFFFF)
                .into_iter()
                .map(|s| (true, s))
                .collect(),
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// 6.5 - 6.23: each sequence as a text message of its own.
pub fn vectors() -> Vec<Case> {
    let mut cases = Vec::new();
    for (n, group) in groups().into_iter().enumerate() {
        for (m, (valid, bytes)) in group.sequences.into_iter().enumerate() {
            assert_eq!(
                valid,
                std::str::from_utf8(&bytes).is_ok(),
                "the table says {} is {}valid UTF-8",
                hex(&bytes),
                if valid { "" } else { "in" }
            );
            let shown = if bytes.len() > 12 {
                format!("{} … ({} bytes)", hex(&bytes[..12]), bytes.len())
            } else {
                hex(&bytes)
            };
            let sent = case(
                format!("6.{}.{}", n + 5, m + 1),
                format!("{}: {shown}", group.title),
            )
            .send(Frame::text(bytes).bytes());
            cases.push(if valid {
                sent.answer("error")
            } else {
                sent.fails(1007, "invalid_utf8")
            });
        }
    }
    cases
}
