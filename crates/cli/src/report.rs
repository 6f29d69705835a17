//! The records that leave a process, and their one-line renderings.
//!
//! - [`WorkerRecord`] — one benchmark run of one variant, printed by a
//!   worker as a single JSON line and parsed by the parent (`bench.rs`).
//! - [`GcSummary`] — the collector's figures for a run, from `GcStats`:
//!   cycles, stop-the-world pauses (max / p99 / p50 by nearest rank over
//!   `GcStats::pauses`, and a histogram), time to safepoint, heap sizes,
//!   and the MMU curve over the run's wall time (`mmu.rs`).
//! - [`HeartbeatSummary`] — the gaps a 1 ms heartbeat thread saw, and the
//!   MMU curve they imply (each gap longer than the period counts its
//!   excess as time the mutators could not run).
//!
//! Pause events are stamped from the heap's creation (`PauseEvent::start`)
//! and `GcStats::uptime` is the same clock, so a run's window is the
//! uptime read before and after it.

use crate::latency::LatencySummary;
use crate::mmu::{percentile, Utilisation, CURVE_WINDOWS};
use crate::units::{fmt_bytes, fmt_ms};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tricolor_gc::GcStats;

/// One point of an MMU curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MmuPoint {
    pub window_ms: f64,
    pub mmu: f64,
}

/// MMU at the three windows every report prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mmu3 {
    pub ms1: f64,
    pub ms10: f64,
    pub ms100: f64,
}

impl Mmu3 {
    fn of(u: &Utilisation) -> Self {
        Mmu3 {
            ms1: u.mmu(0.001),
            ms10: u.mmu(0.010),
            ms100: u.mmu(0.100),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "1 ms {:.2}, 10 ms {:.2}, 100 ms {:.2}",
            self.ms1, self.ms10, self.ms100
        )
    }
}

fn curve(u: &Utilisation) -> Vec<MmuPoint> {
    u.curve(CURVE_WINDOWS)
        .into_iter()
        .map(|(w, m)| MmuPoint {
            window_ms: w * 1e3,
            mmu: m,
        })
        .collect()
}

/// The collector's figures for one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GcSummary {
    pub cycles: u64,
    pub pause_count: usize,
    pub pause_total_ms: f64,
    pub pause_max_ms: f64,
    pub pause_p99_ms: f64,
    pub pause_p50_ms: f64,
    /// The pause lengths as a histogram (for plots).
    pub pauses: LatencySummary,
    pub to_safepoint_max_ms: f64,
    pub peak_heap_bytes: usize,
    pub heap_bytes: usize,
    pub live_bytes: usize,
    pub run_seconds: f64,
    pub mmu: Mmu3,
    pub mmu_curve: Vec<MmuPoint>,
}

impl GcSummary {
    /// Summarise `s` over the run `[start, end]` (heap uptimes).
    pub fn from_stats(s: &GcStats, start: Duration, end: Duration) -> Self {
        let mut lengths: Vec<f64> = s
            .pauses
            .iter()
            .map(|p| p.length.as_secs_f64() * 1e3)
            .collect();
        lengths.sort_by(f64::total_cmp);
        // The disruption of a pause starts with the wait for safepoints:
        // mutators that tried to enter a scope were already held then.
        let u = Utilisation::new(
            s.pauses.iter().map(|p| {
                let start = p.start.saturating_sub(p.to_safepoint);
                (
                    start.as_secs_f64(),
                    (p.start + p.length - start).as_secs_f64(),
                )
            }),
            start.as_secs_f64(),
            end.as_secs_f64(),
        );
        let or_zero = |x: f64| if lengths.is_empty() { 0.0 } else { x };
        GcSummary {
            cycles: s.cycles,
            pause_count: lengths.len(),
            pause_total_ms: s.pause_total.as_secs_f64() * 1e3,
            pause_max_ms: s.pause_max.as_secs_f64() * 1e3,
            pause_p99_ms: or_zero(percentile(&lengths, 99.0)),
            pause_p50_ms: or_zero(percentile(&lengths, 50.0)),
            pauses: LatencySummary::of(s.pauses.iter().map(|p| p.length)),
            to_safepoint_max_ms: s.to_safepoint_max.as_secs_f64() * 1e3,
            peak_heap_bytes: s.peak_heap_bytes.max(s.heap_bytes),
            heap_bytes: s.heap_bytes,
            live_bytes: s.live_bytes,
            run_seconds: (end.saturating_sub(start)).as_secs_f64(),
            mmu: Mmu3::of(&u),
            mmu_curve: curve(&u),
        }
    }

    /// `23 cycles; STW pauses max 4.10 ms, p99 …`
    pub fn line(&self) -> String {
        format!(
            "{} cycles; STW pauses max {}, p99 {}, p50 {}, total {}; to safepoint max {}; \
             MMU {}; peak heap {}",
            self.cycles,
            fmt_ms(self.pause_max_ms),
            fmt_ms(self.pause_p99_ms),
            fmt_ms(self.pause_p50_ms),
            fmt_ms(self.pause_total_ms),
            fmt_ms(self.to_safepoint_max_ms),
            self.mmu.line(),
            fmt_bytes(self.peak_heap_bytes),
        )
    }
}

/// What a heartbeat thread saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatSummary {
    pub period_us: f64,
    pub beats: u64,
    /// Time between consecutive beats (ideally the period).
    pub gaps: LatencySummary,
    pub mmu: Mmu3,
    pub mmu_curve: Vec<MmuPoint>,
}

impl HeartbeatSummary {
    /// From beat completion times (seconds on any clock, increasing) over
    /// the run `[start, end]`.
    pub fn from_beats(period: Duration, beats: &[f64], start: f64, end: f64) -> Self {
        let p = period.as_secs_f64();
        let gaps: Vec<Duration> = beats
            .windows(2)
            .map(|w| Duration::from_secs_f64((w[1] - w[0]).max(0.0)))
            .collect();
        // A gap of g > p means the thread could not run for g - p: count
        // that as a pause ending at the late beat.
        let stalls = beats.windows(2).filter_map(|w| {
            let g = w[1] - w[0];
            (g > p).then(|| (w[1] - (g - p), g - p))
        });
        let u = Utilisation::new(stalls, start, end);
        HeartbeatSummary {
            period_us: p * 1e6,
            beats: beats.len() as u64,
            gaps: LatencySummary::of(gaps),
            mmu: Mmu3::of(&u),
            mmu_curve: curve(&u),
        }
    }
}

/// One run of one variant of a workload: the worker's JSON line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub workload: String,
    /// `tricolor`, `box-mimalloc`, `box-system`, `box-jemalloc`.
    pub variant: String,
    /// The workload's parameters, as a person would read them.
    pub params: String,
    /// The workload alone (not process start-up).
    pub seconds: f64,
    /// `VmHWM`: the whole process's resident high-water mark (see
    /// `tricolor_alloc_bench::process::peak_rss_kib`).
    pub peak_rss_kib: u64,
    /// Hex, because JSON numbers are doubles. Equal across variants.
    pub checksum: String,
    /// Objects allocated (or operations, per workload).
    pub ops: u64,
    /// Per-operation latency timed from outside the collector.
    pub latency: Option<LatencySummary>,
    pub heartbeat: Option<HeartbeatSummary>,
    /// The collector's figures (the `tricolor` variant only).
    pub gc: Option<GcSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tricolor_gc::PauseEvent;

    #[test]
    fn gc_summary_from_stats() {
        let ms = Duration::from_millis;
        let s = GcStats {
            cycles: 3,
            pauses: vec![
                PauseEvent {
                    start: ms(100),
                    length: ms(2),
                    ..PauseEvent::default()
                },
                PauseEvent {
                    start: ms(500),
                    length: ms(4),
                    ..PauseEvent::default()
                },
                PauseEvent {
                    start: ms(900),
                    length: ms(1),
                    ..PauseEvent::default()
                },
            ],
            pause_total: ms(7),
            pause_max: ms(4),
            ..GcStats::default()
        };
        let g = GcSummary::from_stats(&s, ms(0), ms(1000));
        assert_eq!(g.pause_count, 3);
        assert_eq!(g.pause_max_ms, 4.0);
        assert_eq!(g.pause_p50_ms, 2.0);
        assert_eq!(g.mmu.ms1, 0.0);
        assert!((g.mmu.ms10 - 0.6).abs() < 1e-9, "{:?}", g.mmu);
        let back: GcSummary = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn heartbeat_gaps_become_stalls() {
        // Beats every 1 ms, except one 11 ms gap: a 10 ms stall.
        let mut beats: Vec<f64> = (0..100).map(|i| i as f64 * 0.001).collect();
        let last = *beats.last().unwrap();
        beats.extend((1..100).map(|i| last + 0.010 + i as f64 * 0.001));
        let h = HeartbeatSummary::from_beats(Duration::from_millis(1), &beats, 0.0, 0.22);
        assert_eq!(h.beats, 199);
        assert!(h.gaps.max_us > 10_000.0);
        assert_eq!(h.mmu.ms1, 0.0);
        assert!(h.mmu.ms100 > 0.85 && h.mmu.ms100 < 0.95, "{:?}", h.mmu);
    }
}
