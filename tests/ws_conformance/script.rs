//! What a case is (what the client sends, what RFC 6455 expects of this server in return) and
//! how one is run against a server: on a connection of its own, every expectation in order,
//! then the closing handshake, which the server must complete by closing the TCP connection.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::client::{Frame, Peer, Received, ServerFrame, CLOSE, PONG, TEXT};

/// How long the server has to close the TCP connection once the closing handshake is done
/// (RFC 6455 §7.1.1: the server closes it first).
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// The Autobahn TestSuite's case families (and this project's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Framing,
    PingsPongs,
    ReservedBits,
    Opcodes,
    Fragmentation,
    Utf8,
    Close,
    Limits,
    Misc,
    Compression,
    Project,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Framing => "1 Framing",
            Family::PingsPongs => "2 Pings and pongs",
            Family::ReservedBits => "3 Reserved bits",
            Family::Opcodes => "4 Opcodes",
            Family::Fragmentation => "5 Fragmentation",
            Family::Utf8 => "6 UTF-8 handling",
            Family::Close => "7 Close handling",
            Family::Limits => "9 Limits and performance",
            Family::Misc => "10 Miscellaneous",
            Family::Compression => "12, 13 permessage-deflate",
            Family::Project => "P Framing rules Autobahn does not cover",
        }
    }
}

/// Which server a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The default limits (`realtime.max_message_bytes` = 64 KiB).
    Default,
    /// Messages up to 16 MiB, for the large-message family.
    Large,
}

/// What the server must do next.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Answers with one JSON text message of this `type` (the protocol's answer to a text
    /// message: this server is not an echo server).
    Answer(&'static str),
    /// A pong with this payload.
    Pong(Vec<u8>),
    /// Nothing at all (no frame, no close) for this long.
    Quiet(Duration),
    /// Fails the connection: a close frame with `code`, counted in
    /// `orchestrator_ws_protocol_errors_total{reason}`, then the TCP connection closed.
    Failure { code: u16, reason: &'static str },
}

/// One step of a case.
#[derive(Debug, Clone)]
pub enum Step {
    /// Bytes written at once.
    Send(Vec<u8>),
    /// Bytes written in pieces of at most this many, one write each.
    Chopped(Vec<u8>, usize),
    /// Frames written one write each, a moment apart.
    FrameWise(Vec<Vec<u8>>),
    /// A pause that expects nothing.
    Pause(Duration),
    Expect(Expect),
    /// The client closes with this frame (and whatever follows it in the same write); the
    /// server answers with a close carrying `echo` (`None`: an empty close), sends nothing
    /// after it and closes the TCP connection.
    Close {
        bytes: Vec<u8>,
        echo: Option<u16>,
    },
}

/// One case: what is sent, what must come back.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub family: Family,
    pub description: String,
    pub server: Server,
    pub steps: Vec<Step>,
    /// Header lines added to the handshake, whose answer must then name no extension.
    pub offer: Option<&'static str>,
}

impl Case {
    pub fn new(id: impl Into<String>, family: Family, description: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            family,
            description: description.into(),
            server: Server::Default,
            steps: Vec::new(),
            offer: None,
        }
    }

    /// Offers extensions in the handshake (the server must accept none).
    pub fn offering(mut self, headers: &'static str) -> Self {
        self.offer = Some(headers);
        self
    }

    pub fn on(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    pub fn send(mut self, bytes: Vec<u8>) -> Self {
        self.steps.push(Step::Send(bytes));
        self
    }

    pub fn chopped(mut self, bytes: Vec<u8>, chop: usize) -> Self {
        self.steps.push(Step::Chopped(bytes, chop));
        self
    }

    pub fn frame_wise(mut self, frames: &[Frame]) -> Self {
        self.steps
            .push(Step::FrameWise(frames.iter().map(Frame::bytes).collect()));
        self
    }

    pub fn pause(mut self, pause: Duration) -> Self {
        self.steps.push(Step::Pause(pause));
        self
    }

    pub fn expect(mut self, expect: Expect) -> Self {
        self.steps.push(Step::Expect(expect));
        self
    }

    pub fn answer(self, kind: &'static str) -> Self {
        self.expect(Expect::Answer(kind))
    }

    pub fn fails(self, code: u16, reason: &'static str) -> Self {
        self.expect(Expect::Failure { code, reason })
    }

    pub fn closes(mut self, bytes: Vec<u8>, echo: Option<u16>) -> Self {
        self.steps.push(Step::Close { bytes, echo });
        self
    }

    /// Whether the case ends the connection itself (else the client closes normally).
    fn ends_itself(&self) -> bool {
        matches!(
            self.steps.last(),
            Some(Step::Close { .. } | Step::Expect(Expect::Failure { .. }))
        )
    }

    /// The steps, ended by the client's normal close when the case does not end otherwise.
    fn steps_to_run(&self) -> Vec<Step> {
        let mut steps = self.steps.clone();
        if !self.ends_itself() {
            steps.push(Step::Close {
                bytes: Frame::close(1000, b"").bytes(),
                echo: Some(1000),
            });
        }
        steps
    }

    /// The reason the server must count this case's failure under, if it fails it.
    pub fn refusal(&self) -> Option<&'static str> {
        self.steps.iter().find_map(|step| {
            if let Step::Expect(Expect::Failure { reason, .. }) = step {
                Some(*reason)
            } else {
                None
            }
        })
    }

    /// What RFC 6455 expects of this server, in words.
    pub fn expected(&self) -> String {
        let mut said: Vec<String> = Vec::new();
        if self.offer.is_some() {
            said.push("a handshake answer naming no extension".to_owned());
        }
        for step in self.steps_to_run() {
            let text = match step {
                Step::Expect(Expect::Answer(kind)) => format!("{} `{kind}` answer", article(kind)),
                Step::Expect(Expect::Pong(payload)) => {
                    format!("a pong with the ping's {}-byte payload", payload.len())
                }
                Step::Expect(Expect::Quiet(pause)) => {
                    format!("nothing for {} ms", pause.as_millis())
                }
                Step::Expect(Expect::Failure { code, reason }) => {
                    format!("close {code} (counted as `{reason}`), TCP closed")
                }
                Step::Close {
                    echo: Some(code), ..
                } => {
                    format!("close {code} echoed, nothing after it, TCP closed by the server")
                }
                Step::Close { echo: None, .. } => {
                    "an empty close echoed, nothing after it, TCP closed by the server".to_owned()
                }
                Step::Send(_) | Step::Chopped(..) | Step::FrameWise(_) | Step::Pause(_) => continue,
            };
            match said.last_mut() {
                Some(last) if *last == text || last.starts_with(&format!("{text} ×")) => {
                    let count = last
                        .rsplit_once(" ×")
                        .and_then(|(_, n)| n.parse::<usize>().ok())
                        .unwrap_or(1);
                    *last = format!("{text} ×{}", count + 1);
                }
                _ => said.push(text),
            }
        }
        said.join("; then ")
    }

    /// Bytes the client sends (to give large cases time in proportion).
    fn volume(&self) -> usize {
        self.steps
            .iter()
            .map(|step| match step {
                Step::Send(bytes) | Step::Chopped(bytes, _) | Step::Close { bytes, .. } => {
                    bytes.len()
                }
                Step::FrameWise(frames) => frames.iter().map(Vec::len).sum(),
                Step::Pause(_) | Step::Expect(_) => 0,
            })
            .sum()
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A server the cases run against.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub key: String,
}

/// Runs `case` on a connection of its own: `Err` says how the server went wrong.
pub async fn run(case: &Case, target: &Target) -> Result<(), String> {
    let (mut peer, head) = Peer::open(target.addr, &target.key, case.offer.unwrap_or("")).await?;
    if case.offer.is_some()
        && head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions")
    {
        return Err(format!("the server accepted an extension: {head}"));
    }
    let patience = Duration::from_secs(5) + Duration::from_millis((case.volume() / 4096) as u64);
    let greeting = peer.receive(patience).await?;
    if answer_of(&greeting).as_deref() != Some("connected") {
        return Err(format!(
            "expected the `connected` greeting, got {}",
            describe(&greeting)
        ));
    }
    for step in case.steps_to_run() {
        match step {
            Step::Send(bytes) => peer.send(&bytes).await,
            Step::Chopped(bytes, chop) => peer.send_chopped(&bytes, chop).await,
            Step::FrameWise(frames) => {
                for frame in frames {
                    peer.send(&frame).await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            Step::Pause(pause) => tokio::time::sleep(pause).await,
            Step::Expect(expect) => expectation(&mut peer, expect, patience).await?,
            Step::Close { bytes, echo } => {
                peer.send(&bytes).await;
                closing(&mut peer, echo, patience).await?;
            }
        }
    }
    Ok(())
}

/// The `type` of a JSON text message.
fn answer_type(frame: &ServerFrame) -> Option<String> {
    if frame.opcode != TEXT {
        return None;
    }
    let value: Value = serde_json::from_slice(&frame.payload).ok()?;
    value["type"].as_str().map(str::to_owned)
}

fn describe(received: &Received) -> String {
    match received {
        Received::Frame(frame) if frame.opcode == CLOSE => format!("close {}", close_text(frame)),
        Received::Frame(frame) if frame.opcode == TEXT => {
            format!("text {}", String::from_utf8_lossy(&frame.payload))
        }
        Received::Frame(frame) => format!("opcode {:#x} {:?}", frame.opcode, frame.payload),
        Received::Closed => "the TCP connection closed".to_owned(),
        Received::Nothing => "nothing".to_owned(),
    }
}

fn close_code(frame: &ServerFrame) -> Option<u16> {
    match frame.payload[..] {
        [high, low, ..] => Some(u16::from_be_bytes([high, low])),
        _ => None,
    }
}

fn close_text(frame: &ServerFrame) -> String {
    match close_code(frame) {
        Some(code) => format!("{code} {:?}", String::from_utf8_lossy(&frame.payload[2..])),
        None => format!("without a code ({} bytes)", frame.payload.len()),
    }
}

/// The frame received, if one was.
fn frame_of(received: &Received) -> Option<&ServerFrame> {
    if let Received::Frame(frame) = received {
        Some(frame)
    } else {
        None
    }
}

/// The `type` of the JSON text message received, if one was.
fn answer_of(received: &Received) -> Option<String> {
    frame_of(received).and_then(answer_type)
}

/// The code of the close frame received: `None` if none was, `Some(None)` if it had none.
fn close_of(received: &Received) -> Option<Option<u16>> {
    frame_of(received)
        .filter(|frame| frame.opcode == CLOSE)
        .map(close_code)
}

async fn expectation(peer: &mut Peer, expect: Expect, patience: Duration) -> Result<(), String> {
    match expect {
        Expect::Answer(kind) => {
            let got = peer.receive(patience).await?;
            if answer_of(&got).as_deref() == Some(kind) {
                Ok(())
            } else {
                Err(format!(
                    "expected {} `{kind}` answer, got {}",
                    article(kind),
                    describe(&got)
                ))
            }
        }
        Expect::Pong(payload) => {
            let got = peer.receive(patience).await?;
            if frame_of(&got).is_some_and(|f| f.opcode == PONG && f.payload == payload) {
                Ok(())
            } else {
                Err(format!("expected a pong, got {}", describe(&got)))
            }
        }
        Expect::Quiet(pause) => {
            let got = peer.receive(pause).await?;
            if matches!(got, Received::Nothing) {
                Ok(())
            } else {
                Err(format!("expected nothing, got {}", describe(&got)))
            }
        }
        Expect::Failure { code, .. } => {
            let got = peer.receive(patience).await?;
            if close_of(&got) != Some(Some(code)) {
                return Err(format!("expected close {code}, got {}", describe(&got)));
            }
            // A conforming client answers the close, then waits for the server to end the TCP
            // connection.
            peer.send(&Frame::close(code, b"").bytes()).await;
            closed(peer).await
        }
    }
}

/// The server's answer to the client's close, then the end of the TCP connection.
async fn closing(peer: &mut Peer, echo: Option<u16>, patience: Duration) -> Result<(), String> {
    let got = peer.receive(patience).await?;
    if close_of(&got) == Some(echo) {
        return closed(peer).await;
    }
    let wanted = echo.map_or("an empty close".to_owned(), |code| format!("close {code}"));
    Err(format!("expected {wanted}, got {}", describe(&got)))
}

/// After the closing handshake: nothing more, and the server closes the TCP connection.
async fn closed(peer: &mut Peer) -> Result<(), String> {
    match peer.receive(CLOSE_WITHIN).await? {
        Received::Closed => Ok(()),
        Received::Nothing => Err(format!(
            "the server did not close the TCP connection within {} s of the closing handshake",
            CLOSE_WITHIN.as_secs()
        )),
        frame @ Received::Frame(_) => Err(format!("{} after the close", describe(&frame))),
    }
}
