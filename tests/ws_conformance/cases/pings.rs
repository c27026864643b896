//! 2.x: pings are answered with their payload, pongs are not answered, control frames over
//! 125 bytes fail the connection.

use crate::client::{frames, Frame};
use crate::script::{Case, Expect, Family};

fn case(id: &str, description: &str) -> Case {
    Case::new(id, Family::PingsPongs, description)
}

fn pong(payload: &[u8]) -> Expect {
    Expect::Pong(payload.to_vec())
}

pub fn cases() -> Vec<Case> {
    let binary = [0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF];
    let ping_125 = [0xFE; 125];
    let mut ten_pings = Vec::new();
    let mut ten_pongs = Vec::new();
    for n in 0..10 {
        let payload = format!("payload-{n}").into_bytes();
        ten_pings.push(Frame::ping(payload.clone()));
        ten_pongs.push(pong(&payload));
    }
    let mut cases = vec![
        case("2.1", "a ping without payload")
            .send(Frame::ping(b"").bytes())
            .expect(pong(b"")),
        case("2.2", "a ping with a short text payload")
            .send(Frame::ping(b"Hello, world!").bytes())
            .expect(pong(b"Hello, world!")),
        case("2.3", "a ping with a short binary (not UTF-8) payload")
            .send(Frame::ping(binary).bytes())
            .expect(pong(&binary)),
        case("2.4", "a ping with 125 bytes of payload")
            .send(Frame::ping(ping_125).bytes())
            .expect(pong(&ping_125)),
        case(
            "2.5",
            "a ping with 126 bytes of payload (control frames hold 125 at most)",
        )
        .send(Frame::ping([0xFE; 126]).bytes())
        .fails(1002, "control_too_long"),
        case(
            "2.6",
            "a ping with 125 bytes of payload, written byte by byte",
        )
        .chopped(Frame::ping(ping_125).bytes(), 1)
        .expect(pong(&ping_125)),
        case("2.7", "an unsolicited pong without payload")
            .send(Frame::pong(b"").bytes())
            .expect(Expect::Quiet(std::time::Duration::from_millis(100))),
        case("2.8", "an unsolicited pong with payload")
            .send(Frame::pong(b"unsolicited pong payload").bytes())
            .expect(Expect::Quiet(std::time::Duration::from_millis(100))),
        case("2.9", "an unsolicited pong, then a ping")
            .send(frames(&[
                Frame::pong(b"unsolicited pong payload"),
                Frame::ping(b"ping payload"),
            ]))
            .expect(pong(b"ping payload")),
    ];
    let mut all_ten =
        case("2.10", "ten pings with payloads, back to back").send(frames(&ten_pings));
    let mut all_ten_bytewise = case("2.11", "ten pings with payloads, written byte by byte")
        .chopped(frames(&ten_pings), 1);
    for expected in ten_pongs {
        all_ten = all_ten.expect(expected.clone());
        all_ten_bytewise = all_ten_bytewise.expect(expected);
    }
    cases.push(all_ten);
    cases.push(all_ten_bytewise);
    cases
}
