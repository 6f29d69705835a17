//! Property tests: random allocate / free / realloc sequences against a
//! simple model of the live blocks (STYLE.md, tests tier 2).
//!
//! The model and its checks live in `fuzz/fuzz_targets/ops.rs`, shared with
//! the fuzz target and `fuzz_replay.rs`, so the three drivers check the same
//! invariants (listed there): alignment, no overlap, preserved contents,
//! zeroed memory, `usable_size`, `span_of` / `object_base` of interior
//! pointers, and exact heap statistics after every operation.
//!
//! The statistics checks are exact, so they need the heap to themselves:
//! every test here takes `HEAP` first (the heap is process-global; the test
//! harness runs tests on parallel threads, but it does not allocate through
//! this heap, which is not the global allocator here).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 48).

#[allow(dead_code)]
#[path = "../../../fuzz/fuzz_targets/ops.rs"]
mod ops;

use ops::{Model, Op, Resize, MAX_SIZE};
use proptest::prelude::*;
use std::sync::{Mutex, MutexGuard};
use tricolor_heap::size_class::CLASS_SIZE;

static HEAP: Mutex<()> = Mutex::new(());

fn heap_to_myself() -> MutexGuard<'static, ()> {
    HEAP.lock().unwrap_or_else(|e| e.into_inner())
}

/// Mostly 0..=512 bytes, some up to 40 KiB, a few up to 2 MiB.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        16 => 0..=512usize,
        4 => 513..=40 * 1024usize,
        1 => 40 * 1024 + 1..=MAX_SIZE,
    ]
}

/// log2 of the alignment: mostly ≤ 16 bytes, some up to a page, a few up
/// to 1 MiB.
fn align_shift() -> impl Strategy<Value = u32> {
    prop_oneof![
        12 => 0..=4u32,
        3 => 5..=13u32,
        1 => 14..=ops::MAX_ALIGN_SHIFT,
    ]
}

fn resize() -> impl Strategy<Value = Resize> {
    prop_oneof![
        size().prop_map(Resize::To),
        any::<u8>().prop_map(Resize::Scale)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (size(), align_shift()).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift, zeroed: false }),
        2 => (size(), align_shift()).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift, zeroed: true }),
        6 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        4 => (any::<usize>(), resize()).prop_map(|(pick, to)| Op::Realloc { pick, to }),
        2 => any::<usize>().prop_map(|pick| Op::Check { pick }),
        1 => Just(Op::Release),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_match_the_model(ops in prop::collection::vec(op(), 1..160)) {
        let _heap = heap_to_myself();
        let mut model = Model::new();
        for op in ops {
            model.apply(op);
        }
        model.finish();
    }
}

/// Every class boundary (class size − 1, size, + 1) at every alignment up
/// to 1 MiB, each block kept live while the next ones are made, then freed
/// in an interleaved order; and each size realloc'ed across the boundary.
#[test]
fn class_boundaries_at_every_alignment() {
    let _heap = heap_to_myself();
    let mut model = Model::new();
    for (c, &class_size) in CLASS_SIZE.iter().enumerate().skip(1) {
        let s = class_size as usize;
        for size in [s - 1, s, s + 1] {
            for align_shift in 0..=ops::MAX_ALIGN_SHIFT {
                model.apply(Op::Alloc {
                    size,
                    align_shift,
                    zeroed: align_shift % 3 == 0,
                });
            }
            model.apply(Op::Realloc {
                pick: size,
                to: Resize::To(size + 1),
            });
            model.apply(Op::Realloc {
                pick: size * 7,
                to: Resize::Scale(31),
            });
        }
        // Keep the live set (and the per-op checks) small.
        while model.live() > 64 {
            model.apply(Op::Free { pick: c * 13 });
        }
    }
    model.finish();
}

/// Freed large blocks come back zeroed from `alloc_zeroed`, whether their
/// pages were released to the OS (and so are known to be zero) or are still
/// dirty (and must be cleared).
#[test]
fn alloc_zeroed_reuses_dirty_and_released_pages() {
    let _heap = heap_to_myself();
    let mut model = Model::new();
    for round in 0..8u32 {
        for size in [40 << 10, 256 << 10, 1 << 20, MAX_SIZE] {
            model.apply(Op::Alloc {
                size,
                align_shift: 3,
                zeroed: false,
            });
        }
        while model.live() > 0 {
            model.apply(Op::Free { pick: 0 });
        }
        if round % 2 == 1 {
            model.apply(Op::Release);
        }
        for size in [
            MAX_SIZE,
            1 << 20,
            256 << 10,
            40 << 10,
            100_000,
            32 << 10,
            4000,
        ] {
            model.apply(Op::Alloc {
                size,
                align_shift: round % 14,
                zeroed: true,
            });
        }
        while model.live() > 0 {
            model.apply(Op::Free { pick: 1 });
        }
    }
    model.finish();
}

/// `malloc.rs`: "align not a power of two → null". The small fast path
/// (`size <= 32 KiB && align <= 8`) is taken before the power-of-two test,
/// so `alloc(8, 3)` (and align 0, 5, 6, 7) returns a block.
#[test]
fn non_power_of_two_alignment_is_refused() {
    let _heap = heap_to_myself();
    for align in [0usize, 3, 5, 6, 7] {
        let p = tricolor_heap::alloc(8, align);
        let z = tricolor_heap::alloc_zeroed(8, align);
        // SAFETY: whatever came back came from the heap (or is null).
        unsafe {
            tricolor_heap::free(p);
            tricolor_heap::free(z);
        }
        assert!(p.is_null(), "alloc(8, {align}) = {p:p}");
        assert!(z.is_null(), "alloc_zeroed(8, {align}) = {z:p}");
    }
}
