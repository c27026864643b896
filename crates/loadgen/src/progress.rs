//! The progress line on stderr while a phase runs: rewritten in place on a terminal, one line
//! every few seconds otherwise (CI logs stay short).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Counters the workers bump and the progress line reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Completed units (requests, joins, deliveries…).
    pub done: AtomicU64,
    /// Failed units.
    pub errors: AtomicU64,
}

impl Counters {
    /// Counts one success.
    pub fn ok(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` successes.
    pub fn ok_n(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one failure.
    pub fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running progress line; [`Progress::finish`] clears it.
#[derive(Debug)]
pub struct Progress {
    counters: Arc<Counters>,
    task: JoinHandle<()>,
    terminal: bool,
}

impl Progress {
    /// Starts reporting `label`'s counters; `total` is the expected length of the phase, if
    /// known, and `unit` names what is counted.
    pub fn start(label: String, unit: &'static str, total: Option<Duration>) -> Self {
        let counters = Arc::new(Counters::default());
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last = (started, 0u64);
            loop {
                tokio::time::sleep(every).await;
                let done = shared.done.load(Ordering::Relaxed);
                let errors = shared.errors.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate = (done - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
                last = (now, done);
                let line = line(&label, started.elapsed(), total, done, rate, unit, errors);
                if terminal {
                    eprint!("\r{line}\x1b[K");
                } else {
                    eprintln!("{line}");
                }
                let _ = std::io::stderr().flush();
            }
        });
        Self {
            counters,
            task,
            terminal,
        }
    }

    /// The counters to bump.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Stops the line and clears it (dropping does the same, e.g. on an early error).
    pub fn finish(self) {}
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if self.terminal {
            eprint!("\r\x1b[K");
        }
    }
}

fn line(
    label: &str,
    elapsed: Duration,
    total: Option<Duration>,
    done: u64,
    rate: f64,
    unit: &str,
    errors: u64,
) -> String {
    let time = match total {
        Some(total) => format!("{:.0}/{:.0} s", elapsed.as_secs_f64(), total.as_secs_f64()),
        None => format!("{:.0} s", elapsed.as_secs_f64()),
    };
    format!("[{label}] {time}  {done} {unit} ({rate:.0}/s)  errors {errors}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_time_counts_rate_and_errors() {
        let text = line(
            "http-get",
            Duration::from_secs(3),
            Some(Duration::from_secs(8)),
            120_000,
            40_000.4,
            "requests",
            2,
        );

        assert_eq!(
            text,
            "[http-get] 3/8 s  120000 requests (40000/s)  errors 2"
        );
    }
}
