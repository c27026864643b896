//! Child processes with a deadline (`redis-cli`), and [`redis_cli`] for assertions.

use std::fmt;
use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{LOOPBACK, POLL_INTERVAL, REDIS_CLI, REDIS_CLI_TIMEOUT};

/// Runs `redis-cli -h 127.0.0.1 -p <port> <args…>` (bounded 10 s) and returns its stdout.
/// Panics if it cannot run, times out or exits unsuccessfully.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let mut all: Vec<String> = vec!["-h".into(), LOOPBACK.to_string(), "-p".into()];
    all.push(port.to_string());
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    match run_bounded(REDIS_CLI, &all, REDIS_CLI_TIMEOUT) {
        Ok(output) if output.status.success() => output.stdout,
        Ok(output) => panic!(
            "redis-harness: `redis-cli {}` exited with {}:\n{}",
            all.join(" "),
            output.status,
            output.text()
        ),
        Err(error) => panic!("redis-harness: `redis-cli {}`: {error}", all.join(" ")),
    }
}

#[derive(Debug)]
pub(crate) struct RunOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl RunOutput {
    pub(crate) fn text(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

#[derive(Debug)]
pub(crate) enum RunError {
    NotInstalled,
    TimedOut(Duration),
    Io(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotInstalled => write!(f, "not on PATH"),
            RunError::TimedOut(timeout) => write!(f, "did not finish within {timeout:?}; killed"),
            RunError::Io(error) => write!(f, "{error}"),
        }
    }
}

/// Runs `program args…` with a deadline, killing it when the deadline passes. Output is drained
/// by threads so a chatty child cannot block on a full pipe while we poll it.
pub(crate) fn run_bounded(
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<RunOutput, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                RunError::NotInstalled
            } else {
                RunError::Io(error)
            }
        })?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut(timeout));
            }
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Io(error));
            }
        }
    };
    Ok(RunOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

pub(crate) fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
