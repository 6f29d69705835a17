//! What a workload is given ([`Params`]) and what it returns ([`Outcome`]).

/// How big a run is.
///
/// `scale` multiplies each workload's iteration counts (never its working
/// set shapes), so the same access pattern runs tiny in tests (`0.001`),
/// short under criterion (`~0.02`) and full in whole-process runs (`1.0`,
/// about a second with glibc on a 2-core machine; see the crate docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Worker threads. Single-threaded workloads ignore it.
    pub threads: usize,
    /// Iteration-count multiplier, > 0.
    pub scale: f64,
}

impl Params {
    pub const fn new(threads: usize, scale: f64) -> Self {
        Params { threads, scale }
    }

    pub const fn with_scale(self, scale: f64) -> Self {
        Params { scale, ..self }
    }

    pub const fn with_threads(self, threads: usize) -> Self {
        Params { threads, ..self }
    }

    /// `threads`, at least 1.
    pub fn threads(&self) -> usize {
        self.threads.max(1)
    }

    /// `base * scale`, rounded, at least 1: an iteration count.
    pub fn count(&self, base: usize) -> usize {
        let n = (base as f64 * self.scale).round();
        if n.is_finite() && n >= 1.0 {
            n as usize
        } else {
            1
        }
    }
}

/// What a run produced. Both fields depend only on the workload, its
/// `Params` and its seeds, never on the allocator or the thread schedule,
/// so runs with different allocators must agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Wrapping sum of the digests of every block freed (see `block.rs`),
    /// or of the data a workload computed.
    pub checksum: u64,
    /// Allocator operations performed (alloc + free + realloc).
    pub ops: u64,
}

impl Outcome {
    /// Combines two partial outcomes; order-independent.
    pub fn merge(self, o: Outcome) -> Outcome {
        Outcome {
            checksum: self.checksum.wrapping_add(o.checksum),
            ops: self.ops + o.ops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_rounds_and_never_hits_zero() {
        let p = Params::new(1, 0.25);
        assert_eq!(p.count(10), 3);
        assert_eq!(p.with_scale(0.0).count(10), 1);
        assert_eq!(p.with_scale(f64::NAN).count(10), 1);
        assert_eq!(p.with_scale(2.0).count(10), 20);
    }
}
