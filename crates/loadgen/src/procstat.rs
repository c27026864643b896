//! What a server process costs, read from Linux's `/proc/<pid>`: resident memory now and at
//! its peak (`VmRSS`, `VmHWM` in `status`) and CPU time (`utime + stime` in `stat`).

use std::sync::OnceLock;

use serde::Serialize;

/// A snapshot of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSample {
    /// Resident memory now, KiB.
    pub rss_kb: u64,
    /// Peak resident memory since start, KiB.
    pub peak_rss_kb: u64,
    /// User + system CPU time since start, seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/<pid>`; `None` when the process is gone or this is not Linux.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ProcSample {
        rss_kb: status_kb(&status, "VmRSS:")?,
        peak_rss_kb: status_kb(&status, "VmHWM:")?,
        cpu_s: cpu_ticks(&stat)? as f64 / clock_ticks_per_sec() as f64,
    })
}

/// The soft limit of open files of a process (`Max open files` in `/proc/<pid>/limits`).
pub fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

/// A `Key:   1234 kB` line of `/proc/<pid>/status`.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// `utime + stime` (fields 14 and 15) of `/proc/<pid>/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 is the first here
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `sysconf(_SC_CLK_TCK)` without unsafe code: `getconf CLK_TCK`, else Linux's usual 100.
fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_lines_are_read_in_kib() {
        let status = "Name:\tredis\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";

        assert_eq!(status_kb(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kb(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn cpu_time_is_user_plus_system_even_with_odd_process_names() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";

        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn the_soft_open_files_limit_is_read() {
        let limits =
            "Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            20000                20000                files\n";

        assert_eq!(parse_open_files(limits), Some(20000));
        assert!(open_files_limit(std::process::id()).is_some());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = sample(std::process::id()).expect("running on Linux");

        assert!(sample.rss_kb > 0);
        assert!(sample.peak_rss_kb >= sample.rss_kb);
    }
}
