//! The real `livekit-emulator` binary as a process: started with only the environment a test
//! gives it, its logs collected, signalled, and waited for within bounds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use livekit_api::access_token::{AccessToken, VideoGrants};

/// How long the binary may take to say it listens (a cold debug binary on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a stop may take once signalled; the emulator needs milliseconds.
pub const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The binary with `args` and only `env` (plus PATH).
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_livekit-emulator"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    command
}

/// Runs the binary to its end, failing the test if it is still running after `limit` (it is
/// then killed): for the invocations that must not start a server.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("the binary's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("livekit-emulator {args:?} still ran after {limit:?}");
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running emulator, killed if a test ends before it exits.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    /// Every line written so far, standard output then standard error as they come.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free loopback port (unless `env` or `args` say otherwise) and waits
/// for its "listening" line, which names the bound address.
pub fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
    let child = command(args, &[&[("LIVEKIT_EMULATOR_PORT", "0")], env].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        logs: Arc::new(Mutex::new(Vec::new())),
    };
    let (tx, rx) = mpsc::channel();
    collect(
        running.child.stdout.take().unwrap(),
        running.logs.clone(),
        Some(tx),
    );
    collect(
        running.child.stderr.take().unwrap(),
        running.logs.clone(),
        None,
    );
    // A panic from here on drops `running`, which kills the process.
    let line = rx.recv_timeout(START_LIMIT).unwrap_or_else(|_| {
        panic!(
            "no listening line within {START_LIMIT:?}: {:#?}",
            running.logs()
        )
    });
    running.addr = listening_address(&line);
    running
}

/// Gathers the lines of `stream` into `logs`, announcing the listening line on `listening`.
fn collect(
    stream: impl Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    listening: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            logs.lock().unwrap().push(line.clone());
            if line.contains("livekit emulator listening") {
                if let Some(listening) = &listening {
                    let _ = listening.send(line);
                }
            }
        }
    });
}

/// The address of a listening line, human (`address=…`) or JSON (`"address":"…"`). Colour
/// codes are skipped: whether there are any is a test of its own.
fn listening_address(line: &str) -> SocketAddr {
    let address = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(json) => json["address"].as_str().unwrap().to_owned(),
        Err(_) => without_colours(line)
            .split_whitespace()
            .find_map(|word| word.strip_prefix("address="))
            .unwrap_or_else(|| panic!("an address in {line:?}"))
            .to_owned(),
    };
    address.parse().unwrap()
}

/// `line` without its ANSI colour sequences (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

impl Running {
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Its exit status, failing the test if it has not exited within `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The collectors read to the end of the pipes: the last lines land.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} later: {:#?}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The first line that contains `text`, colour codes removed.
    pub fn line_with(&self, text: &str) -> String {
        let logs = self.logs();
        logs.iter()
            .map(|line| without_colours(line))
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("a line with {text:?} in {logs:#?}"))
    }

    /// The status line of `ListRooms` called with a token issued by `key` and signed with
    /// `secret`.
    pub fn list_rooms_as(&self, key: &str, secret: &str) -> String {
        let token = AccessToken::with_api_key(key, secret)
            .with_grants(VideoGrants {
                room_list: true,
                ..VideoGrants::default()
            })
            .to_jwt()
            .unwrap();
        let answer = exchange(
            self.addr,
            &format!(
                "POST /twirp/livekit.RoomService/ListRooms HTTP/1.1\r\nHost: test\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
        );
        answer.lines().next().unwrap_or_default().to_owned()
    }

    /// A request whose body is only half sent: it stays open until the socket is written to
    /// or dropped.
    pub fn open_request(&self) -> TcpStream {
        let mut socket = TcpStream::connect(self.addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        socket.write_all(HALF_REQUEST.as_bytes()).unwrap();
        // Read by the server before a signal follows.
        std::thread::sleep(Duration::from_millis(200));
        socket
    }
}

/// A `/emulator/connect` call with 12 of its 22 body bytes sent; [`REST_OF_BODY`] ends it.
const HALF_REQUEST: &str = "POST /emulator/connect HTTP/1.1\r\nHost: test\r\n\
    Content-Type: application/json\r\nContent-Length: 22\r\nConnection: close\r\n\r\n\
    {\"token\": \"n";
/// The rest of [`HALF_REQUEST`]'s body.
pub const REST_OF_BODY: &str = "ot-a-jwt\"}";

/// Sends raw HTTP/1.1 and returns the whole answer (the server closes the connection).
pub fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
