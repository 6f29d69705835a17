//! The workload registry: every workload by name, with its default
//! parameters, dispatchable with any allocator.
//!
//! Dispatch is an enum ([`Kind`]) rather than a table of function pointers so
//! that [`Workload::run`] is monomorphised for the concrete allocator (the
//! whole-process runners and criterion call it that way, with no virtual
//! call between the workload and `alloc`), while [`Workload::run_dyn`] serves
//! drivers that pick the allocator at run time.

use core::alloc::GlobalAlloc;

use crate::workloads::*;
use crate::{Outcome, Params};

/// An allocator behind a trait object: any `GlobalAlloc + Sync`.
pub trait DynAlloc: GlobalAlloc + Sync {}
impl<T: GlobalAlloc + Sync> DynAlloc for T {}

/// Which workload; see each module for what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Larson,
    XmallocTest,
    CacheScratch,
    CacheThrash,
    Mstress,
    Rptest,
    GlibcSimple,
    GlibcThread,
    AllocTest,
    MallocLarge,
    RustCollections,
}

/// A registry entry.
#[derive(Debug)]
pub struct Workload {
    /// Command-line name, as in mimalloc-bench.
    pub name: &'static str,
    /// One line: what it stresses.
    pub description: &'static str,
    /// Parameters of a whole-process run; `scale: 1.0` takes about a second
    /// with glibc on the 2-core reference machine.
    pub defaults: Params,
    /// Scale of one criterion iteration: about 10 ms with glibc in a
    /// release build. Tests run a tenth of it.
    pub bench_scale: f64,
    /// Same `Params` give the same `Outcome` with any allocator and schedule.
    pub deterministic: bool,
    /// Allocates through the global allocator, ignoring the one passed in:
    /// only meaningful in whole-process runs.
    pub uses_global: bool,
    pub kind: Kind,
}

impl Workload {
    /// Runs the workload with allocator `a`.
    pub fn run<A: GlobalAlloc + Sync + ?Sized>(&self, a: &A, p: &Params) -> Outcome {
        match self.kind {
            Kind::Larson => larson::run(a, p),
            Kind::XmallocTest => xmalloc::run(a, p),
            Kind::CacheScratch => cache_scratch::run(a, p),
            Kind::CacheThrash => cache_thrash::run(a, p),
            Kind::Mstress => mstress::run(a, p),
            Kind::Rptest => rptest::run(a, p),
            Kind::GlibcSimple => glibc_simple::run(a, p),
            Kind::GlibcThread => glibc_thread::run(a, p),
            Kind::AllocTest => alloc_test::run(a, p),
            Kind::MallocLarge => malloc_large::run(a, p),
            Kind::RustCollections => rust_collections::run(p),
        }
    }

    /// Runs the workload with an allocator chosen at run time.
    pub fn run_dyn(&self, a: &dyn DynAlloc, p: &Params) -> Outcome {
        self.run(a, p)
    }
}

const fn entry(
    name: &'static str,
    kind: Kind,
    threads: usize,
    bench_scale: f64,
    description: &'static str,
) -> Workload {
    Workload {
        name,
        description,
        defaults: Params::new(threads, 1.0),
        bench_scale,
        deterministic: true,
        uses_global: matches!(kind, Kind::RustCollections),
        kind,
    }
}

/// Multi-threaded workloads default to 4 threads: twice the reference
/// machine's cores, so contention and preemption both show, and the
/// checksums stay the same on any machine.
const MT: usize = 4;

/// Every workload, in the order reports list them.
pub const WORKLOADS: &[Workload] = &[
    entry("larson", Kind::Larson, MT, 0.01,
        "server simulation: random replace in per-thread slots, slots inherited by successor threads"),
    entry("xmalloc-test", Kind::XmallocTest, MT, 0.01,
        "producers allocate, consumers free through a shared queue: all frees cross-thread"),
    entry("cache-scratch", Kind::CacheScratch, MT, 0.01,
        "passive false sharing: objects packed by main, freed by workers, then alloc+write loops"),
    entry("cache-thrash", Kind::CacheThrash, MT, 0.01,
        "active false sharing: each thread allocates tiny objects and writes them repeatedly"),
    entry("mstress", Kind::Mstress, MT, 0.01,
        "mimalloc stress: short/long-lived mix up to 80 KiB, transfers between threads, full checks"),
    entry("rptest", Kind::Rptest, MT, 0.01,
        "rpmalloc bench: log-uniform 16 B..16 KB working sets, batches freed by the next thread"),
    entry("glibc-simple", Kind::GlibcSimple, 1, 0.01,
        "fast path: batches of 25..1600 same-size 16/32/64 B blocks allocated then freed"),
    entry("glibc-thread", Kind::GlibcThread, MT, 0.01,
        "per-thread 1024-slot working set, inverse-square sizes 4 B..32 KiB, every byte written"),
    entry("alloc-test", Kind::AllocTest, MT, 0.01,
        "per-thread random working set that grows and shrinks, log-uniform sizes 8..1000 B"),
    entry("malloc-large", Kind::MallocLarge, 1, 0.01,
        "5-25 MiB blocks, every page touched, 4 live at once: the OS path"),
    entry("rust-collections", Kind::RustCollections, 2, 0.05,
        "std BTreeMap/HashMap/Vec<String>/String build-and-drop via the global allocator"),
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for w in WORKLOADS {
            assert_eq!(find(w.name).map(|f| f.kind), Some(w.kind));
        }
        assert!(find("nope").is_none());
        assert_eq!(WORKLOADS.len(), 11);
    }
}
