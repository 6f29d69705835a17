//! Minimum mutator utilisation (Cheng & Blelloch, PLDI 2001).
//!
//! Given the intervals during which the mutators could not run (the
//! collector's stop-the-world pauses, or the stalls a heartbeat thread
//! saw) over a run `[start, end]`, the utilisation of a window `[t, t+w]`
//! is the fraction of it *not* covered by those intervals, and
//! `MMU(w)` is its minimum over every window of length `w` inside the run.
//! MMU(w) = 0 means some pause is at least `w` long; MMU(w) for large `w`
//! tends to the run's overall utilisation.
//!
//! The minimum is attained by a window that starts where a pause starts or
//! ends where a pause ends (sliding a window that does neither changes its
//! covered time linearly, so one direction does not increase it), so the
//! algorithm is:
//!
//! 1. clip the intervals to the run, sort them and merge overlaps;
//! 2. keep prefix sums of their lengths, so the pause time in `[start, t]`
//!    (`busy_before`) is a binary search plus a correction for the interval
//!    that straddles `t`;
//! 3. evaluate every candidate window (clamped into the run) and take the
//!    minimum: O(n log n) for n intervals.
//!
//! Times are `f64` seconds on any common clock. `percentile` (nearest rank)
//! lives here too: the pause summaries use both.

/// Windows at which curves are reported and plotted, in seconds: 1 ms to
/// 10 s, three points per decade.
pub const CURVE_WINDOWS: &[f64] = &[
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0,
];

/// Pause intervals over one run, ready for queries.
#[derive(Clone, Debug)]
pub struct Utilisation {
    start: f64,
    end: f64,
    /// Sorted, disjoint `(start, end)` pairs inside `[start, end]`.
    pauses: Vec<(f64, f64)>,
    /// `prefix[i]` = total length of `pauses[..i]`.
    prefix: Vec<f64>,
}

impl Utilisation {
    /// `pauses` are `(start, length)` pairs in seconds; the run is `[start,
    /// end]`.
    pub fn new(pauses: impl IntoIterator<Item = (f64, f64)>, start: f64, end: f64) -> Self {
        let end = end.max(start);
        let mut v: Vec<(f64, f64)> = pauses
            .into_iter()
            .filter(|&(s, l)| s.is_finite() && l.is_finite() && l > 0.0)
            .map(|(s, l)| (s.max(start), (s + l).min(end)))
            .filter(|&(s, e)| e > s)
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut prefix = Vec::with_capacity(merged.len() + 1);
        prefix.push(0.0);
        for &(s, e) in &merged {
            let last = *prefix.last().unwrap_or(&0.0);
            prefix.push(last + (e - s));
        }
        Utilisation {
            start,
            end,
            pauses: merged,
            prefix,
        }
    }

    /// The run's length in seconds.
    pub fn span(&self) -> f64 {
        self.end - self.start
    }

    /// Total pause time.
    pub fn paused(&self) -> f64 {
        *self.prefix.last().unwrap_or(&0.0)
    }

    /// Pause time in `[self.start, t]`.
    fn busy_before(&self, t: f64) -> f64 {
        let i = self.pauses.partition_point(|p| p.0 < t);
        let mut busy = self.prefix[i];
        if i > 0 {
            let (_, e) = self.pauses[i - 1];
            if e > t {
                busy -= e - t;
            }
        }
        busy
    }

    /// Utilisation of `[a, a + w]`.
    fn window(&self, a: f64, w: f64) -> f64 {
        let a = a.clamp(self.start, (self.end - w).max(self.start));
        let b = (a + w).min(self.end);
        if b <= a {
            return 1.0;
        }
        1.0 - (self.busy_before(b) - self.busy_before(a)) / (b - a)
    }

    /// MMU for windows of `w` seconds. A window longer than the run is the
    /// whole run.
    pub fn mmu(&self, w: f64) -> f64 {
        if self.pauses.is_empty() || self.span() <= 0.0 {
            return 1.0;
        }
        let w = w.min(self.span());
        let mut min = 1.0f64;
        for &(s, e) in &self.pauses {
            min = min.min(self.window(s, w)).min(self.window(e - w, w));
        }
        min.max(0.0)
    }

    /// `(window seconds, MMU)` at each of `windows` no longer than the run.
    pub fn curve(&self, windows: &[f64]) -> Vec<(f64, f64)> {
        let first = windows.first().copied().unwrap_or(0.0);
        windows
            .iter()
            .filter(|&&w| w <= self.span().max(first))
            .map(|&w| (w, self.mmu(w)))
            .collect()
    }
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted `xs`; NaN if
/// empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn no_pauses_is_full_utilisation() {
        let u = Utilisation::new([], 0.0, 10.0);
        assert_eq!(u.mmu(0.001), 1.0);
        assert_eq!(u.paused(), 0.0);
    }

    #[test]
    fn one_pause() {
        // 10 ms pause in a 1 s run.
        let u = Utilisation::new([(0.5, 0.010)], 0.0, 1.0);
        assert!(close(u.mmu(0.005), 0.0));
        assert!(close(u.mmu(0.010), 0.0));
        assert!(close(u.mmu(0.020), 0.5));
        assert!(close(u.mmu(0.100), 0.9));
        assert!(close(u.mmu(1.0), 0.99));
        assert!(close(u.mmu(5.0), 0.99), "a window longer than the run");
    }

    #[test]
    fn close_pauses_add_up_and_overlaps_merge() {
        // Two 2 ms pauses 1 ms apart: a 5 ms window holds both.
        let u = Utilisation::new([(0.100, 0.002), (0.103, 0.002)], 0.0, 1.0);
        assert!(close(u.mmu(0.005), 0.2));
        let v = Utilisation::new([(0.1, 0.004), (0.102, 0.004)], 0.0, 1.0);
        assert!(close(v.paused(), 0.006));
    }

    #[test]
    fn pauses_at_the_edges_are_clipped() {
        let u = Utilisation::new([(-1.0, 1.5), (0.99, 0.5)], 0.0, 1.0);
        assert!(close(u.paused(), 0.51));
        assert!(close(u.mmu(0.1), 0.0));
        assert!(close(u.mmu(1.0), 0.49));
    }

    #[test]
    fn mmu_is_monotone_enough_on_a_random_trace() {
        let mut pauses = Vec::new();
        let mut t = 0.0;
        for i in 0..200 {
            t += 0.003 + (i % 7) as f64 * 0.001;
            pauses.push((t, 0.0005 + (i % 3) as f64 * 0.0005));
        }
        let u = Utilisation::new(pauses, 0.0, t + 0.01);
        let c = u.curve(CURVE_WINDOWS);
        for w in c.windows(2) {
            assert!(w[0].1 <= w[1].1 + 0.35, "{c:?}");
        }
        // Brute force at one window.
        let w = 0.01;
        let mut min: f64 = 1.0;
        let mut a = 0.0;
        while a + w <= u.end {
            min = min.min(u.window(a, w));
            a += 0.00005;
        }
        assert!(u.mmu(w) <= min + 1e-9, "{} vs brute {}", u.mmu(w), min);
    }

    #[test]
    fn percentiles() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), 50.0);
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 50.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
