//! Latency histograms and error tallies: what every scenario records and how it is summarised.
//!
//! Latencies are kept in microseconds in an HDR histogram (3 significant digits, constant
//! memory, mergeable), one per connection or subscriber, merged at the end so the hot loops
//! never share a lock.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram records (longer ones are clamped to it): 10 minutes.
const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // Only fails for bounds that are invalid by construction (low < 1, sigfig > 5).
        Self(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"))
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS));
    }

    /// Records one latency given in microseconds (0 counts as 1; above the bound is clamped).
    pub fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail; a failure would only lose samples.
        let _ = self.0.add(&other.0);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The summary reported in tables and JSON lines.
    pub fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        LatencySummary {
            count: self.0.len(),
            mean: round3(self.0.mean() / 1000.0),
            p50: ms(self.0.value_at_quantile(0.50)),
            p90: ms(self.0.value_at_quantile(0.90)),
            p99: ms(self.0.value_at_quantile(0.99)),
            p999: ms(self.0.value_at_quantile(0.999)),
            max: ms(self.0.max()),
        }
    }

    /// (percentile, milliseconds) points for a latency-distribution chart, from p0 to p99.99.
    pub fn percentile_curve(&self) -> Vec<(f64, f64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        CURVE_PERCENTILES
            .iter()
            .map(|&p| (p, self.0.value_at_percentile(p) as f64 / 1000.0))
            .collect()
    }
}

const CURVE_PERCENTILES: [f64; 13] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

/// Failed requests by kind: `status_503`, `timeout`, `connect`, `io`, `ws_closed`, ….
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    /// Counts one error of `kind`.
    pub fn add(&mut self, kind: impl Into<String>) {
        self.add_n(kind, 1);
    }

    /// Counts `n` errors of `kind` (nothing when `n` is 0).
    pub fn add_n(&mut self, kind: impl Into<String>, n: u64) {
        if n > 0 {
            *self.0.entry(kind.into()).or_default() += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Errors) {
        for (kind, n) in &other.0 {
            self.add_n(kind.clone(), *n);
        }
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Count of one kind.
    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    /// `kind=count` pairs, for the human table.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
        assert!(Latencies::new().percentile_curve().is_empty());
    }

    #[test]
    fn percentiles_come_from_the_recorded_distribution() {
        let mut latencies = Latencies::new();
        for ms in 1..=1000 {
            latencies.record(Duration::from_millis(ms));
        }

        let summary = latencies.summary();

        assert_eq!(summary.count, 1000);
        assert!((summary.p50 - 500.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.p99 - 990.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.p999 - 999.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.max - 1000.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.mean - 500.5).abs() <= 1.0, "{summary:?}");
    }

    #[test]
    fn merging_histograms_keeps_every_value() {
        let mut fast = Latencies::new();
        let mut slow = Latencies::new();
        for _ in 0..99 {
            fast.record(Duration::from_micros(100));
        }
        slow.record(Duration::from_secs(2));

        fast.merge(&slow);

        let summary = fast.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.p50 - 0.1).abs() < 0.001, "{summary:?}");
        assert!((summary.max - 2000.0).abs() < 2.0, "{summary:?}");
    }

    #[test]
    fn values_outside_the_bounds_are_clamped_not_lost() {
        let mut latencies = Latencies::new();
        latencies.record(Duration::ZERO);
        latencies.record(Duration::from_secs(3600));

        assert_eq!(latencies.count(), 2);
        assert!(latencies.summary().max <= MAX_MICROS as f64 / 1000.0 * 1.001);
    }

    #[test]
    fn the_percentile_curve_rises_monotonically() {
        let mut latencies = Latencies::new();
        for micros in [10, 20, 30, 4000, 50_000] {
            latencies.record_micros(micros);
        }

        let curve = latencies.percentile_curve();

        assert_eq!(curve.first().map(|p| p.0), Some(0.0));
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1), "{curve:?}");
    }

    #[test]
    fn errors_are_tallied_by_kind() {
        let mut errors = Errors::default();
        errors.add("status_503");
        errors.add("status_503");
        errors.add_n("timeout", 3);
        errors.add_n("connect", 0);
        let mut more = Errors::default();
        more.add("status_503");

        errors.merge(&more);

        assert_eq!(errors.get("status_503"), 3);
        assert_eq!(errors.get("timeout"), 3);
        assert_eq!(errors.get("connect"), 0);
        assert_eq!(errors.total(), 6);
        assert_eq!(errors.describe(), "status_503=3 timeout=3");
        assert_eq!(Errors::default().describe(), "none");
    }
}
