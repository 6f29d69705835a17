//! Property tests: random graph mutations checked against a shadow graph
//! (STYLE.md, tests tier 2).
//!
//! What this proves, for every generated sequence of operations — allocate
//! into a root slot or as a child, allocate garbage (chains and cycles that
//! point into the live graph), write and delete edges through `Lock` and
//! `RefLock`, set and remove root slots, attach small (noscan class) and big
//! (large span) leaves, make `Root` handles in one scope and read them in
//! later ones, clone and drop them, cut an object off from everything, hang
//! a hub of up to 1024 new objects off the graph (enough grey objects to
//! fill the markers' work buffers), and collect:
//!
//! - the collector never frees, moves or changes a reachable object: after
//!   every op and every cycle the real graph, walked from the root slots and
//!   the handles, has exactly the model's edges (compared by id), and every
//!   object its id, tag, payload checksum and leaf pattern;
//! - marking counts exactly the reachable heap objects
//!   (`stats().live_objects` = model objects + leaves) and the roots table
//!   exactly the live handles;
//! - the sweeper drops exactly the unreachable objects: never a reachable
//!   one, never one twice, and, once a second cycle has finished the first
//!   one's sweep, every one; tearing the heap down drops the rest.
//!
//! The language, the model and all the checks live in
//! `fuzz/fuzz_targets/gc_graph.rs` (its module docs list the checks), shared
//! with the `gc_ops` fuzz target and `fuzz_replay.rs`, so the three drivers
//! check the same invariants. Here proptest generates the ops and shrinks a
//! failure to a short sequence.
//!
//! Every run has `checkmark` on (a reachable object the parallel mark missed
//! aborts the process) and runs under one of several configurations: two
//! markers with background sweeping; one marker; `clobberfree` (a freed
//! object is overwritten, so a premature free shows up as a wrong id); and a
//! stress mix (`stress=1`: a cycle at the end of nearly every allocating
//! scope, with `stoptheworld=2`, lazy sweeping and `clobberfree`). The
//! minimum heap is 256 KiB, so pacing also starts cycles of its own at the
//! end of scopes. One test injects lost marks (`losemark`) and checks that
//! the model notices, so the checks are known to be able to fail.
//!
//! The last three tests are the smallest reproductions of the collector
//! bugs the model found (see their docs): root slots reused after a drop
//! (`roots.rs`, fixed since), objects counted twice by parallel markers
//! (fixed since; before, the two-marker configurations above failed the
//! exact `live_objects` check about one run in eight), and live objects
//! left out of the count when the background sweeper takes a span during
//! the pause (still open when this was written; a narrow race, so it fails
//! rarely, here and in the configurations above).
//!
//! Seeds are fixed (`RngSeed::Fixed`), so the generated sequences are the
//! same on every run (the collector's threads are not: a failure that
//! depends on timing may not shrink well). `PROPTEST_CASES` overrides the
//! number of cases of each configuration.

#[allow(dead_code)]
#[path = "../../../fuzz/fuzz_targets/gc_graph.rs"]
mod gc_graph;

use gc_graph::{Dest, Edge, Init, LeafOp, Op, Setup};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed, TestRunner};

/// Picks are small so that operands collide often (the same object picked
/// twice, self-edges, the same root slot).
fn pick() -> impl Strategy<Value = usize> {
    0..64usize
}

fn edge() -> impl Strategy<Value = Edge> {
    prop_oneof![
        3 => (0..gc_graph::SLOTS as u8).prop_map(Edge::Slot),
        2 => Just(Edge::VecPush),
        2 => pick().prop_map(Edge::VecAt),
    ]
}

fn init() -> impl Strategy<Value = Init> {
    (0..4u8, 0..=gc_graph::MAX_VEC as u8, pick()).prop_map(|(slots, vec_len, first)| Init {
        slots,
        vec_len,
        first,
    })
}

/// Payloads mostly small, some up to 255 bytes.
fn payload() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 0..32u8, 1 => any::<u8>()]
}

fn leaf() -> impl Strategy<Value = LeafOp> {
    prop_oneof![
        2 => Just(LeafOp::Clear),
        3 => Just(LeafOp::NewSmall),
        1 => Just(LeafOp::NewBig),
        2 => pick().prop_map(LeafOp::Share),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pick(), payload(), init()).prop_map(|(slot, payload, init)| {
            Op::Alloc { dest: Dest::Root(slot), payload, init }
        }),
        8 => (pick(), edge(), payload(), init()).prop_map(|(parent, edge, payload, init)| {
            Op::Alloc { dest: Dest::Child { parent, edge }, payload, init }
        }),
        2 => (any::<u8>(), payload(), pick())
            .prop_map(|(count, payload, anchor)| Op::Garbage { count, payload, anchor }),
        8 => (pick(), edge(), prop::option::weighted(0.8, pick()))
            .prop_map(|(from, edge, to)| Op::Write { from, edge, to }),
        4 => (pick(), edge()).prop_map(|(from, edge)| Op::Delete { from, edge }),
        3 => (pick(), prop::option::weighted(0.7, pick()))
            .prop_map(|(slot, to)| Op::SetRoot { slot, to }),
        1 => pick().prop_map(|slot| Op::RemoveRoot { slot }),
        3 => (pick(), leaf()).prop_map(|(from, leaf)| Op::SetLeaf { from, leaf }),
        2 => pick().prop_map(|of| Op::AddHandle { of }),
        1 => pick().prop_map(|pick| Op::CloneHandle { pick }),
        2 => pick().prop_map(|pick| Op::DropHandle { pick }),
        2 => pick().prop_map(|of| Op::Isolate { of }),
        1 => (1..=gc_graph::MAX_BULK, 0..8u8, pick())
            .prop_map(|(count, payload, parent)| Op::Bulk { count, payload, parent }),
        3 => Just(Op::Collect),
    ]
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run `cases` generated sequences under `setup`, deterministically.
fn check_model(setup: Setup, cases: u32, seed: u64) {
    let config = ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..400), |ops| {
        gc_graph::run_ops(setup, &ops);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{setup:?}: {e}");
    }
}

#[test]
fn parallel_mark_background_sweep() {
    check_model(Setup::DEFAULT, cases(64), 0x7C01_0001);
}

#[test]
fn one_marker() {
    let setup = Setup {
        mark_workers: 1,
        ..Setup::DEFAULT
    };
    check_model(setup, cases(48), 0x7C01_0002);
}

#[test]
fn clobberfree() {
    let setup = Setup {
        clobberfree: true,
        ..Setup::DEFAULT
    };
    check_model(setup, cases(48), 0x7C01_0003);
}

#[test]
fn stress_lazy_sweep_clobberfree() {
    let setup = Setup {
        mark_workers: 1,
        clobberfree: true,
        background_sweep: false,
        stress: true,
        stoptheworld: 2,
        ..Setup::DEFAULT
    };
    check_model(setup, cases(32), 0x7C01_0004);
}

/// A hand-written sequence through every op, including the cases the
/// generator reaches only sometimes: a handle made in one scope, read after
/// two cycles in a later one, on an object no root slot reaches; a cycle
/// cut off by `Isolate`; a big leaf shared by two objects.
#[test]
fn every_op_in_one_sequence() {
    let init = |slots, vec_len, first| Init {
        slots,
        vec_len,
        first,
    };
    let ops = [
        Op::Alloc {
            dest: Dest::Root(0),
            payload: 40,
            init: init(0, 0, 0),
        },
        Op::Alloc {
            dest: Dest::Child {
                parent: 0,
                edge: Edge::Slot(0),
            },
            payload: 7,
            init: init(3, 2, 0),
        },
        Op::Alloc {
            dest: Dest::Child {
                parent: 1,
                edge: Edge::VecPush,
            },
            payload: 200,
            init: init(1, 8, 1),
        },
        Op::AddHandle { of: 2 },
        Op::SetLeaf {
            from: 1,
            leaf: LeafOp::NewBig,
        },
        Op::SetLeaf {
            from: 2,
            leaf: LeafOp::Share(1),
        },
        Op::SetLeaf {
            from: 0,
            leaf: LeafOp::NewSmall,
        },
        Op::Garbage {
            count: 9,
            payload: 3,
            anchor: 1,
        },
        Op::Collect,
        // Object 2 is now reachable from the root slot and the handle;
        // clear the root slot: only the handle keeps 0, 1 and 2.
        Op::SetRoot { slot: 0, to: None },
        Op::CloneHandle { pick: 0 },
        Op::Collect,
        Op::Write {
            from: 0,
            edge: Edge::VecAt(3),
            to: Some(2),
        },
        Op::Delete {
            from: 1,
            edge: Edge::VecAt(0),
        },
        Op::Isolate { of: 1 },
        Op::Collect,
        Op::Bulk {
            count: 1000,
            payload: 5,
            parent: 0,
        },
        Op::Collect,
        Op::DropHandle { pick: 0 },
        Op::RemoveRoot { slot: 0 },
        Op::Collect,
    ];
    // Two markers; every knob but `gogc` off (one marker, clobberfree, lazy
    // sweep, stress, stoptheworld=2, 4 MiB minimum heap); one marker.
    for setup in [Setup::DEFAULT, Setup::from_byte(0x5F), Setup::from_byte(1)] {
        gc_graph::run_ops(setup, &ops);
    }
}

/// The checks can fail: with fault injection (`losemark=3`: the marker
/// skips one in three newly found objects) and `checkmark` off, the first
/// collect of a graph of a few dozen objects must be caught by the model
/// (the `live_objects` count is checked before anything is read, so no
/// freed object is touched).
#[test]
fn lost_marks_are_caught() {
    let setup = Setup {
        checkmark: false,
        losemark: 3,
        ..Setup::DEFAULT
    };
    let mut ops: Vec<Op> = (0..40)
        .map(|i| Op::Alloc {
            dest: Dest::Child {
                parent: i,
                edge: Edge::VecPush,
            },
            payload: 16,
            init: Init {
                slots: 0,
                vec_len: 0,
                first: 0,
            },
        })
        .collect();
    ops.push(Op::Collect);
    let r = std::panic::catch_unwind(|| gc_graph::run_ops(setup, &ops));
    let msg = r.expect_err("lost marks went unnoticed");
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("live_objects"), "unexpected failure: {msg}");
}

/// Regression test for a collector bug the model found (`roots.rs`,
/// `RootTable`; fixed in the source while this file was written): the free
/// list of root slots ended in `FREE_END = usize::MAX`, stored in a freed
/// slot as `(next << 1) | 1`, which for `usize::MAX` is `usize::MAX` again,
/// and `insert` decoded it as `usize::MAX >> 1`, not `FREE_END`. So after a
/// `Root` was dropped while no slot was free, the next `Root` reused the
/// slot and the one after that indexed slot `2^63 - 1`: a panic (index out
/// of bounds) inside `Mutation::root`, or `Root::clone`.
#[test]
fn root_slots_reused_after_a_drop() {
    use tricolor_gc::{Gc, Heap, Rootable};
    type U64 = Rootable!['gc => u64];
    let heap = Heap::new(Setup::DEFAULT.config());
    let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    m.mutate(|mc, _| {
        let g = Gc::new(mc, 7u64);
        drop(mc.root::<U64>(g));
        let a = mc.root::<U64>(g);
        let b = mc.root::<U64>(g); // panicked here
        let c = b.clone();
        assert_eq!(*a.get(mc) + *b.get(mc) + *c.get(mc), 21);
    });
    assert_eq!(heap.stats().roots, 0);
}

/// Regression test for a collector bug the model found (fixed in the
/// source while this file was written, by counting the marked objects from
/// the mark bytes after marking, `collector.rs`, `count_marked`): a mark
/// byte is set with a relaxed load and a separate store, not a
/// read-modify-write (`span.rs`, `GcSpan::set_unchecked`, by design), so two
/// markers that reach the same unmarked object at the same time both see 0,
/// both store 1, and both "win" it. The tracer used to count every win into
/// `marked_objects` / `marked_bytes`, so `stats().live_objects`,
/// `live_bytes` and the pacer's `marked_bytes` (hence the next goal)
/// over-counted. Marking itself stayed correct (the second scan is wasted
/// work).
///
/// The graph makes the race likely: 600 root objects (more than a marker's
/// two 254-entry work buffers hold, so the root work is split between the
/// two markers), two of them, in different buffers, pointing at the same
/// 100,000 pointer-free leaves. The marker that scans the second hub only
/// loads marked bytes, so it catches up with the one still marking, and the
/// two then test the same bytes in step. The race needs both markers on a
/// CPU at once: on an idle 2-core machine the test failed 10 runs of 10
/// before the fix (by 1 to thousands of objects, within the first heap's
/// first 131 cycles); on a loaded one it could pass. Each round is a fresh
/// heap of 200 cycles.
#[test]
fn parallel_mark_counts_each_object_once() {
    use tricolor_gc::{Config, DebugKnobs, Gc, Heap, Rootable, Trace};

    #[derive(Trace)]
    struct Hub<'gc> {
        leaves: Vec<Gc<'gc, [u64; 4]>>,
    }

    const ROOTS: usize = 600;
    const LEAVES: usize = 100_000;
    const ROUNDS: usize = 3;
    const CYCLES: usize = 200;
    for round in 0..ROUNDS {
        let heap = Heap::new(Config {
            gogc: None,
            min_heap: 4 << 20,
            max_heap: None,
            mark_workers: 2,
            background_sweep: true,
            debug: DebugKnobs::default(),
        });
        let mut m = heap.mutator::<Rootable!['gc => Vec<Gc<'gc, Hub<'gc>>>]>(|mc| {
            let leaves: Vec<_> = (0..LEAVES as u64).map(|i| Gc::new(mc, [i; 4])).collect();
            (0..ROOTS)
                .map(|r| {
                    let leaves = if r % 300 == 0 {
                        leaves.clone()
                    } else {
                        Vec::new()
                    };
                    Gc::new(mc, Hub { leaves })
                })
                .collect()
        });
        for cycle in 0..CYCLES {
            m.collect();
            let live = heap.stats().live_objects;
            assert_eq!(
                live,
                ROOTS + LEAVES,
                "live_objects in round {round}, cycle {cycle}: {} objects counted twice",
                live as isize - (ROOTS + LEAVES) as isize
            );
        }
    }
}

/// Collector bug found by the model (`one_marker`, 1 case in 500; still
/// present when this was written): `collector.rs` counts the marked objects
/// (`count_marked`) *after* step 6 has moved every span to the `unswept`
/// lists, and the background sweeper does not stop with the world. A
/// sweeper woken by the previous cycle that takes the lists lock between
/// the two pops an unswept span and sweeps it, which clears its mark bytes
/// (or holds it off the lists) while `count_marked` runs: the span's live
/// objects are not counted, and `stats().live_objects`, `live_bytes` and
/// the pacer's `marked_bytes` (so the next goal) come out short, here 0
/// instead of 1. Instrumenting a scratch copy confirmed it: every short
/// count coincided with the `tricolor-sweep` thread popping a span between
/// step 6 and `count_marked`. Marking is not affected (the early sweep uses
/// final marks). Fix: count before step 6, while no span is unswept (no
/// sweeper can take one), e.g. right after `checkmark`.
///
/// The window is a few hundred nanoseconds per cycle, so this fails only
/// now and then: on this 2-core machine about once per 10,000–100,000
/// back-to-back cycles (it needs the sweeper's wake-up from one cycle to
/// land on the next cycle's step 6). 20,000 cycles here (about half a
/// second on an idle machine), 20× with `TRICOLOR_STRESS_LONG=1`.
#[test]
fn background_sweeper_does_not_cut_the_live_count() {
    use tricolor_gc::{Config, DebugKnobs, Gc, Heap, Rootable};

    let long = matches!(std::env::var("TRICOLOR_STRESS_LONG").as_deref(), Ok("1"));
    let cycles = if long { 400_000 } else { 20_000 };
    let heap = Heap::new(Config {
        gogc: None,
        min_heap: 4 << 20,
        max_heap: None,
        mark_workers: 1,
        background_sweep: true,
        debug: DebugKnobs::default(),
    });
    let mut m = heap.mutator::<Rootable!['gc => Gc<'gc, [u64; 4]>]>(|mc| Gc::new(mc, [7; 4]));
    for cycle in 0..cycles {
        m.collect();
        assert_eq!(
            heap.stats().live_objects,
            1,
            "cycle {cycle}: the one live object was not counted"
        );
    }
}
