//! The process's own resources, in Prometheus' standard names (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc` on Linux. Elsewhere
//! the families are declared without series.
//!
//! A scrape reads files of constant size (`/proc/self/stat`, `/proc/self/status`). The open
//! descriptors are another matter: counting them walks `/proc/self/fd`, one entry per
//! connection (20,000 WebSocket clients), so [`count_open_fds`] runs in the metrics upkeep
//! every few seconds and a scrape reads what it found.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::metrics::{Family, FAMILIES};

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`: fixed at 100 by the
/// kernel's ABI whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// No count of open descriptors yet.
const UNCOUNTED: u64 = u64::MAX;

static OPEN_FDS: AtomicU64 = AtomicU64::new(UNCOUNTED);

/// Counts the process's open file descriptors and keeps the count for the next scrapes.
pub fn count_open_fds() {
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        let count = entries.filter(Result::is_ok).count();
        OPEN_FDS.store(u64::try_from(count).unwrap_or(UNCOUNTED), Ordering::Relaxed);
    }
}

/// What `/proc/self/stat` says of the process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    /// User plus system CPU time, in seconds.
    cpu_seconds: f64,
    /// When the process started, in seconds after the machine booted.
    started_after_boot: f64,
}

/// Reads `/proc/self/stat`'s line: the name (field 2) is in parentheses and may hold spaces
/// and parentheses itself, so fields are counted after its last `)`.
fn parse_stat(line: &str) -> Option<Stat> {
    let (_, after_name) = line.rsplit_once(')')?;
    // Field 3 (the state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<f64> { fields.get(number - 3)?.parse().ok() };
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) / USER_HZ,
        started_after_boot: field(22)? / USER_HZ,
    })
}

/// A `Name:   1234 kB` line of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, name: &str) -> Option<f64> {
    let line = status.lines().find_map(|line| line.strip_prefix(name))?;
    let kib: f64 = line
        .strip_prefix(':')?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024.0)
}

/// The boot time (`btime`, unix seconds) of `/proc/stat`.
fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The process's start time in unix seconds: it never changes, so it is read once.
fn start_time(stat: &Stat) -> Option<f64> {
    static START: OnceLock<Option<f64>> = OnceLock::new();
    *START.get_or_init(|| {
        let boot = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
        Some(boot + stat.started_after_boot)
    })
}

/// Appends the process families it can read to `text` (each with its `# HELP` and `# TYPE`).
pub fn render(text: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|line| parse_stat(&line));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if OPEN_FDS.load(Ordering::Relaxed) == UNCOUNTED {
        // Before the first upkeep: once, not at every scrape.
        count_open_fds();
    }
    let open_fds = Some(OPEN_FDS.load(Ordering::Relaxed)).filter(|&n| n != UNCOUNTED);
    let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft);
    let samples = [
        ("process_cpu_seconds_total", stat.map(|s| s.cpu_seconds)),
        (
            "process_resident_memory_bytes",
            status_bytes(&status, "VmRSS"),
        ),
        (
            "process_virtual_memory_bytes",
            status_bytes(&status, "VmSize"),
        ),
        ("process_open_fds", open_fds.map(|n| n as f64)),
        ("process_max_fds", max_fds.map(|n| n as f64)),
        (
            "process_start_time_seconds",
            stat.as_ref().and_then(start_time),
        ),
    ];
    for (name, value) in samples {
        if let (Some(value), Some(family)) = (value, family(name)) {
            write_sample(text, family, value);
        }
    }
}

fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|family| family.name == name)
}

fn write_sample(text: &mut String, family: &Family, value: f64) {
    let kind = match family.kind {
        super::metrics::Kind::Counter => "counter",
        super::metrics::Kind::Gauge | super::metrics::Kind::Histogram => "gauge",
    };
    let _ = write!(
        text,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n",
        name = family.name,
        help = family.help
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a name that holds a space and a parenthesis.
    const STAT: &str = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 3561 0 0 0 250 75 0 0 \
                        20 0 9 0 123456 1620000000 5000 18446744073709551615 1 1 0 0 0 0 0 \
                        4096 17472 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn cpu_time_and_start_come_from_the_fields_after_the_name() {
        let stat = parse_stat(STAT).unwrap();

        assert_eq!(stat.cpu_seconds, 3.25, "(250 + 75) ticks at 100 per second");
        assert_eq!(stat.started_after_boot, 1234.56);
    }

    #[test]
    fn a_truncated_stat_line_is_no_sample() {
        assert_eq!(parse_stat("4242 (orchestrator) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn memory_sizes_are_read_in_bytes_from_status() {
        let status = "Name:\torchestrator\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\n";

        assert_eq!(status_bytes(status, "VmRSS"), Some(10_485_760.0));
        assert_eq!(status_bytes(status, "VmSize"), Some(209_715_200.0));
        assert_eq!(status_bytes(status, "VmSwap"), None);
    }

    #[test]
    fn the_boot_time_is_the_btime_line_of_proc_stat() {
        let proc_stat = "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n";

        assert_eq!(boot_time(proc_stat), Some(1_700_000_000.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn on_linux_every_process_family_is_rendered_with_a_plausible_value() {
        count_open_fds();
        // Enough CPU time to show: times are counted in hundredths of a second.
        let busy = std::time::Instant::now();
        while busy.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(busy.elapsed());
        }
        let mut text = String::new();

        render(&mut text);

        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {text}"))
                .parse()
                .unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1.0e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(
            value("process_open_fds") >= 3.0,
            "at least the standard streams"
        );
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") > 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(text.contains("# TYPE process_open_fds gauge\n"));
    }
}
