//! Criterion benches: each workload (except `rust-collections`, which uses
//! the global allocator) with the four allocators side by side, at the
//! registry's `bench_scale` (~10 ms per iteration with glibc), and a
//! `fast_path` group of single-threaded alloc/free loops.
//!
//! The bench process's global allocator is `System` for every line; only
//! the allocator handed to the workload differs. Whole-process comparisons,
//! where the global allocator differs too, are `alloc-suite`'s job.
//!
//! Sized for a 2-core machine: 10 samples, 0.5 s warm-up and 2 s of
//! measurement per line, about 2.5 minutes in all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tricolor_alloc_bench::{Params, Workload, WORKLOADS};

fn configure(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn workload_group<A: GlobalAlloc + Sync>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    a: &A,
    w: &Workload,
    p: &Params,
) {
    g.bench_function(name, |b| b.iter(|| black_box(w.run(a, black_box(p)))));
}

fn workloads(c: &mut Criterion) {
    for w in WORKLOADS.iter().filter(|w| !w.uses_global) {
        let p = w.defaults.with_scale(w.bench_scale);
        let mut g = c.benchmark_group(w.name);
        configure(&mut g);
        workload_group(&mut g, "tricolor", &tricolor_heap::Malloc, w, &p);
        workload_group(&mut g, "mimalloc", &mimalloc::MiMalloc, w, &p);
        workload_group(&mut g, "jemalloc", &tikv_jemallocator::Jemalloc, w, &p);
        workload_group(&mut g, "system", &System, w, &p);
        g.finish();
    }
}

/// Allocations per iteration in the fast-path loops.
const BATCH: usize = 1000;

/// `BATCH` alloc(32)+free pairs: the thread cache's best case.
fn pairs<A: GlobalAlloc>(a: &A) {
    let l = Layout::from_size_align(32, 8).expect("valid");
    for _ in 0..BATCH {
        // SAFETY: non-zero size; the block is freed right away with its layout.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null());
            p.write(1);
            a.dealloc(black_box(p), l);
        }
    }
}

/// `BATCH` allocations of `size` bytes, then all freed in order.
fn batch<A: GlobalAlloc>(a: &A, size: usize, ptrs: &mut [*mut u8]) {
    let l = Layout::from_size_align(size, 8).expect("valid");
    for p in ptrs.iter_mut() {
        // SAFETY: non-zero size.
        *p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        // SAFETY: the block has at least one byte.
        unsafe { p.write(1) };
    }
    for &p in ptrs.iter() {
        // SAFETY: allocated above with `l`, freed once.
        unsafe { a.dealloc(black_box(p), l) };
    }
}

fn fast_path_for<A: GlobalAlloc>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    a: &A,
) {
    g.bench_function(format!("pair32/{name}"), |b| b.iter(|| pairs(a)));
    let mut ptrs = vec![std::ptr::null_mut(); BATCH];
    for size in [16, 64, 256, 1024, 4096] {
        g.bench_function(format!("batch{size}/{name}"), |b| {
            b.iter(|| batch(a, size, &mut ptrs))
        });
    }
}

fn fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_path");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(BATCH as u64));
    fast_path_for(&mut g, "tricolor", &tricolor_heap::Malloc);
    fast_path_for(&mut g, "mimalloc", &mimalloc::MiMalloc);
    fast_path_for(&mut g, "jemalloc", &tikv_jemallocator::Jemalloc);
    fast_path_for(&mut g, "system", &System);
    g.finish();
}

criterion_group!(benches, workloads, fast_path);
criterion_main!(benches);
