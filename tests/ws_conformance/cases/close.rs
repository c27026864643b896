//! 7.x: the closing handshake. The server answers a close with the client's code (§5.5.1: it
//! SHOULD echo it; an empty close gets an empty close), handles nothing the client sends after
//! its close, and then closes the TCP connection first (§7.1.1). A close payload of one byte,
//! or with a code that is reserved, unassigned or out of range, fails the connection with 1002;
//! a reason that is not UTF-8, with 1007.

use crate::client::{frames, Frame};
use crate::script::{Case, Family, Server};

fn case(id: impl Into<String>, description: impl Into<String>) -> Case {
    Case::new(id, Family::Close, description)
}

fn normal() -> Frame {
    Frame::close(1000, b"")
}

pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        case("7.1.1", "a text message followed by a close")
            .send(frames(&[Frame::text(b"Hello World!"), normal()]))
            .answer("error")
            .closes(Vec::new(), Some(1000)),
        case("7.1.2", "two closes")
            .closes(frames(&[normal(), Frame::close(1000, b"")]), Some(1000)),
        case("7.1.3", "a ping after a close")
            .closes(frames(&[normal(), Frame::ping(b"")]), Some(1000)),
        case("7.1.4", "a text message after a close")
            .closes(frames(&[normal(), Frame::text(PING)]), Some(1000)),
        case("7.1.5", "a first fragment, a close, then the last fragment").closes(
            frames(&[
                Frame::text(&PING[..8]).fin(false),
                normal(),
                Frame::continuation(&PING[8..]),
            ]),
            Some(1000),
        ),
        case(
            "7.1.6",
            "a 256 KiB text message, a short one, a close and a ping, back to back",
        )
        .on(Server::Large)
        .send(frames(&[
            Frame::text(vec![b'*'; 256 * 1024]),
            Frame::text(b"Hello World!"),
            normal(),
            Frame::ping(b""),
        ]))
        .answer("error")
        .answer("error")
        .closes(Vec::new(), Some(1000)),
        case("7.3.1", "a close without payload")
            .closes(Frame::new(crate::client::CLOSE, b"").bytes(), None),
        case("7.3.2", "a close with a one-byte payload")
            .send(Frame::new(crate::client::CLOSE, b"a").bytes())
            .fails(1002, "invalid_close"),
        case("7.3.3", "a close with a code").closes(normal().bytes(), Some(1000)),
        case("7.3.4", "a close with a code and a reason")
            .closes(Frame::close(1000, b"Hello World!").bytes(), Some(1000)),
        case(
            "7.3.5",
            "a close with a code and a reason of 123 bytes (the most)",
        )
        .closes(Frame::close(1000, &[b'*'; 123]).bytes(), Some(1000)),
        case(
            "7.3.6",
            "a close with a code and a reason of 124 bytes (payload of 126)",
        )
        .send(Frame::close(1000, &[b'*'; 124]).bytes())
        .fails(1002, "control_too_long"),
        case("7.5.1", "a close whose reason is not UTF-8")
            .send(Frame::close(1000, &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xED, 0xA0, 0x80]).bytes())
            .fails(1007, "invalid_utf8"),
    ];
    // 1012-1014 were registered with IANA after RFC 6455 (Autobahn's list predates them).
    let valid = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999, 1012, 1013,
        1014,
    ];
    for (n, code) in valid.into_iter().enumerate() {
        cases.push(
            case(
                format!("7.7.{}", n + 1),
                format!("a close with the valid code {code}"),
            )
            .closes(Frame::close(code, b"").bytes(), Some(code)),
        );
    }
    // 1015 (a TLS failure, never sent) is not in Autobahn's list.
    let invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015];
    for (n, code) in invalid.into_iter().enumerate() {
        cases.push(
            case(
                format!("7.9.{}", n + 1),
                format!("a close with the invalid code {code}"),
            )
            .send(Frame::close(code, b"").bytes())
            .fails(1002, "invalid_close"),
        );
    }
    for (n, code) in [5000, 65535].into_iter().enumerate() {
        cases.push(
            case(
                format!("7.13.{}", n + 1),
                format!("a close with the out-of-range code {code}"),
            )
            .send(Frame::close(code, b"").bytes())
            .fails(1002, "invalid_close"),
        );
    }
    cases
}

const PING: &[u8] = super::PING_MESSAGE;
