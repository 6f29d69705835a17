//! Latency histograms and their summaries.
//!
//! A [`Recorder`] is an HdrHistogram (Gil Tene's; the `hdrhistogram`
//! crate) of nanoseconds with three significant digits, from 1 ns to one
//! hour: recording is a few nanoseconds and allocation-free, so a workload
//! can time every operation. A [`LatencySummary`] is what leaves the
//! process: count, mean, p50 / p90 / p99 / p99.9, max, and log₂ buckets
//! from 1 µs up for plotting. The same summary describes three things:
//!
//! - operation latency timed from outside the collector (each `msgbuf`
//!   store, including any pause that landed in it);
//! - the gaps between heartbeats (`heartbeat`);
//! - the collector's own stop-the-world pauses (`GcStats::pauses`).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Highest value kept exactly: one hour in nanoseconds; longer values
/// saturate.
const HIGHEST_NS: u64 = 3_600_000_000_000;

/// Three significant digits: 0.1% relative error, the HdrHistogram default.
const SIGFIG: u8 = 3;

/// A histogram of durations.
#[derive(Clone, Debug)]
pub struct Recorder {
    hist: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            hist: Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG)
                .expect("constant histogram bounds are valid"),
        }
    }

    /// Record one duration (saturating above an hour).
    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.hist.saturating_record(ns);
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.hist;
        let us = |ns: u64| ns as f64 / 1e3;
        if h.is_empty() {
            return LatencySummary::default();
        }
        let buckets = h
            .iter_log(1000, 2.0)
            .map(|v| Bucket {
                upper_us: us(v.value_iterated_to()),
                count: v.count_since_last_iteration(),
            })
            .collect();
        LatencySummary {
            count: h.len(),
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            buckets,
        }
    }
}

/// One log₂ bucket: `count` values in `(previous upper, upper_us]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub upper_us: f64,
    pub count: u64,
}

/// A histogram's summary, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub buckets: Vec<Bucket>,
}

impl LatencySummary {
    /// The summary of a list of durations.
    pub fn of(ds: impl IntoIterator<Item = Duration>) -> Self {
        let mut r = Recorder::new();
        for d in ds {
            r.record(d);
        }
        r.summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises() {
        let mut r = Recorder::new();
        for i in 1..=1000u64 {
            r.record(Duration::from_micros(i));
        }
        r.record(Duration::from_millis(50));
        let s = r.summary();
        assert_eq!(s.count, 1001);
        assert!((s.p50_us - 500.0).abs() < 2.5, "{s:?}"); // 3 significant digits
        assert!((s.max_us - 50_000.0).abs() < 50.0, "{s:?}");
        assert!(s.p999_us >= 999.0 && s.p999_us <= 1001.0, "{s:?}");
        assert_eq!(s.buckets.iter().map(|b| b.count).sum::<u64>(), 1001);
        assert!(LatencySummary::of([]).count == 0);
    }
}
