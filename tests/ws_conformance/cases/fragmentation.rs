//! 5.x: fragmented text messages are reassembled (with pings between their fragments answered
//! at once); fragmented control frames, continuations of nothing and a new message inside an
//! unfinished one fail the connection.
//!
//! The fragmented messages here are `{"type":"ping"}` cut into pieces: the `pong` answer shows
//! the server put them back together.

use std::time::Duration;

use super::PING_MESSAGE;
use crate::client::{frames, Frame};
use crate::script::{Case, Expect, Family};

fn case(id: &str, description: &str) -> Case {
    Case::new(id, Family::Fragmentation, description)
}

/// `{"type":"ping"}` in fragments cut at `cuts`.
fn fragmented(cuts: &[usize]) -> Vec<Frame> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(PING_MESSAGE.len());
    let last = bounds.len() - 2;
    bounds
        .windows(2)
        .enumerate()
        .map(|(n, bound)| {
            let piece = &PING_MESSAGE[bound[0]..bound[1]];
            let frame = if n == 0 {
                Frame::text(piece)
            } else {
                Frame::continuation(piece)
            };
            frame.fin(n == last)
        })
        .collect()
}

/// `{"type":"ping"}` in two fragments with a ping between them.
fn with_ping_between() -> Vec<Frame> {
    let mut frames = fragmented(&[8]);
    frames.insert(1, Frame::ping(b"ping payload"));
    frames
}

/// A continuation of nothing (`fin` as given), then a text message.
fn orphan(fin: bool) -> Vec<Frame> {
    vec![
        Frame::continuation(b"non-continuation payload").fin(fin),
        Frame::text(b"Hello, world!"),
    ]
}

pub fn cases() -> Vec<Case> {
    let pong = || Expect::Pong(b"ping payload".to_vec());
    let mut cases = vec![
        case("5.1", "a ping in two fragments")
            .send(frames(&[
                Frame::ping(b"fragment1").fin(false),
                Frame::continuation(b"fragment2"),
            ]))
            .fails(1002, "fragmented_control"),
        case("5.2", "a pong in two fragments")
            .send(frames(&[
                Frame::pong(b"fragment1").fin(false),
                Frame::continuation(b"fragment2"),
            ]))
            .fails(1002, "fragmented_control"),
        case("5.3", "a text message in two fragments")
            .send(frames(&fragmented(&[8])))
            .answer("pong"),
        case("5.4", "a text message in two fragments, frame by frame")
            .frame_wise(&fragmented(&[8]))
            .answer("pong"),
        case("5.5", "a text message in two fragments, byte by byte")
            .chopped(frames(&fragmented(&[8])), 1)
            .answer("pong"),
        case(
            "5.6",
            "a text message in two fragments with a ping between them",
        )
        .send(frames(&with_ping_between()))
        .expect(pong())
        .answer("pong"),
        case("5.7", "the same, frame by frame")
            .frame_wise(&with_ping_between())
            .expect(pong())
            .answer("pong"),
        case("5.8", "the same, byte by byte")
            .chopped(frames(&with_ping_between()), 1)
            .expect(pong())
            .answer("pong"),
    ];
    let orphans = [
        ("5.9", true, "at once"),
        ("5.10", true, "frame by frame"),
        ("5.11", true, "byte by byte"),
        ("5.12", false, "at once"),
        ("5.13", false, "frame by frame"),
        ("5.14", false, "byte by byte"),
    ];
    for (id, fin, how) in orphans {
        let description = format!(
            "a continuation (FIN = {fin}) with nothing to continue, then a text message, {how}"
        );
        let frames_sent = orphan(fin);
        let sent = match how {
            "at once" => case(id, &description).send(frames(&frames_sent)),
            "frame by frame" => case(id, &description).frame_wise(&frames_sent),
            _ => case(id, &description).chopped(frames(&frames_sent), 1),
        };
        cases.push(sent.fails(1002, "unexpected_continuation"));
    }
    let mut after_message = fragmented(&[8]);
    after_message.extend(orphan(false));
    cases.push(
        case(
            "5.15",
            "a text message in two fragments, then a continuation of nothing, then a text message",
        )
        .send(frames(&after_message))
        .answer("pong")
        .fails(1002, "unexpected_continuation"),
    );
    for (id, fin) in [("5.16", false), ("5.17", true)] {
        let round = [
            Frame::continuation(b"fragment1").fin(fin),
            Frame::text(b"fragment2").fin(false),
            Frame::continuation(b"fragment3"),
        ];
        let twice: Vec<Frame> = round.iter().chain(round.iter()).cloned().collect();
        cases.push(
            case(
                id,
                &format!(
                    "twice: a continuation (FIN = {fin}) of nothing, then a text message in two fragments"
                ),
            )
            .send(frames(&twice))
            .fails(1002, "unexpected_continuation"),
        );
    }
    cases.push(
        case(
            "5.18",
            "a text message in two fragments whose second is a text frame too",
        )
        .send(frames(&[
            Frame::text(b"fragment1").fin(false),
            Frame::text(b"fragment2"),
        ]))
        .fails(1002, "unfinished_message"),
    );
    cases.extend(pings_between_fragments());
    cases
}

/// 5.19, 5.20: a message in five fragments with two pings between them and a pause in the
/// middle: each ping is answered as it arrives, the message once it is whole.
fn pings_between_fragments() -> Vec<Case> {
    let pieces = fragmented(&[4, 8, 11, 13]);
    let first: Vec<Frame> = vec![
        pieces[0].clone(),
        pieces[1].clone(),
        Frame::ping(b"pongme 1!"),
    ];
    let second: Vec<Frame> = vec![
        pieces[2].clone(),
        pieces[3].clone(),
        Frame::ping(b"pongme 2!"),
        pieces[4].clone(),
    ];
    let pause = Duration::from_millis(300);
    vec![
        case(
            "5.19",
            "a text message in five fragments, a ping after the second and the fourth, a pause \
             after the first ping",
        )
        .send(frames(&first))
        .expect(Expect::Pong(b"pongme 1!".to_vec()))
        .pause(pause)
        .send(frames(&second))
        .expect(Expect::Pong(b"pongme 2!".to_vec()))
        .answer("pong"),
        case("5.20", "the same, frame by frame")
            .frame_wise(&first)
            .expect(Expect::Pong(b"pongme 1!".to_vec()))
            .pause(pause)
            .frame_wise(&second)
            .expect(Expect::Pong(b"pongme 2!".to_vec()))
            .answer("pong"),
    ]
}
