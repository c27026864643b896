//! Log lines to standard output in batches. Writing each line with its own `write` call cost a
//! quarter of the throughput of a cheap request (one access line each, tens of thousands per
//! second): here a request only appends its line to a shared buffer, and one background thread
//! writes whatever has gathered every [`FLUSH_EVERY`] (sooner once [`FLUSH_AT`] bytes wait).
//!
//! Lines reach standard output at most [`FLUSH_EVERY`] late, and the [`Flusher`] `main` holds
//! writes the last ones at exit. If standard output stops taking lines (a stalled log
//! collector), at most [`MAX_PENDING`] bytes wait; later lines are dropped and counted, and the
//! count is written as soon as lines flow again, so memory stays bounded and the gap is visible.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The longest a line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer at once.
pub const FLUSH_AT: usize = 64 * 1024;
/// Bytes that may wait at most; beyond, lines are dropped (and counted).
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Shared {
    fn append(&self, line: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() + line.len() > MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.extend_from_slice(line);
        if pending.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Waits for lines (at most [`FLUSH_EVERY`]) and swaps them out into `batch`.
    fn take(&self, batch: &mut Vec<u8>) {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut pending, _) = self
            .wake
            .wait_timeout_while(pending, FLUSH_EVERY, |pending| {
                pending.len() < FLUSH_AT && !self.closed.load(Ordering::Acquire)
            })
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *pending, batch);
    }
}

/// The writer the fmt layer formats each event into (one `write_all` per line).
#[derive(Debug, Clone)]
pub struct BatchedStdout {
    shared: Arc<Shared>,
}

/// Writes the batches; dropping it writes what is left and stops the thread.
#[derive(Debug)]
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer for the fmt layer and the flusher `main` keeps until it returns.
///
/// # Errors
/// The thread cannot be started.
pub fn stdout() -> std::io::Result<(BatchedStdout, Flusher)> {
    let shared = Arc::new(Shared::default());
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_batches(&worker))?;
    Ok((
        BatchedStdout {
            shared: shared.clone(),
        },
        Flusher {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches(shared: &Shared) {
    let mut batch = Vec::with_capacity(FLUSH_AT);
    loop {
        let closing = shared.closed.load(Ordering::Acquire);
        shared.take(&mut batch);
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let notice = format!(
                "{{\"level\":\"WARN\",\"message\":\"{dropped} log lines dropped: standard \
                 output did not keep up\"}}\n"
            );
            batch.extend_from_slice(notice.as_bytes());
        }
        if !batch.is_empty() {
            // Nowhere to report a failing standard output: the lines are lost either way.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if closing {
            return;
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's line.
#[derive(Debug)]
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_bound_are_dropped_and_counted() {
        let shared = Shared::default();
        let line = vec![b'x'; 1024 * 1024];

        for _ in 0..10 {
            shared.append(&line);
        }

        assert_eq!(shared.pending.lock().unwrap().len(), MAX_PENDING);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_batch_is_taken_once_enough_has_gathered_or_the_interval_passed() {
        let shared = Shared::default();
        shared.append(b"one\n");
        shared.append(b"two\n");
        let mut batch = Vec::new();

        let started = std::time::Instant::now();
        shared.take(&mut batch);

        assert_eq!(batch, b"one\ntwo\n");
        assert!(started.elapsed() >= FLUSH_EVERY);
        assert!(shared.pending.lock().unwrap().is_empty());
    }
}
