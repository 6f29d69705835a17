//! Limits and isolation: what this proves is that the heap limit is a clean,
//! recoverable error (never a crash, never exceeded by more than the
//! documented one span per racing mutator), that the one forbidden
//! collection — from inside a scope of the same heap — is refused with a
//! clear panic that leaves the heap usable, and that heaps in one process
//! are independent.
//!
//! - With `max_heap = 8 MiB`, `Gc::try_new` eventually returns
//!   `Err(AllocError::HeapLimit)` (small and large objects), drops the value
//!   it was given, and the heap stays under the limit. Ending the scope and
//!   collecting makes the garbage reusable: allocation succeeds again, about
//!   as much as before. Live data keeps the limit in force until it dies.
//!   Two threads racing to the limit overshoot it by at most a span each.
//!   `Gc::new` at the limit aborts with a message (in a child process).
//! - `Heap::collect` / `Mutator::collect` inside a scope of the same heap on
//!   the same thread panic with a message naming the problem; afterwards
//!   the same and other threads collect normally.
//! - Alignment the heap cannot honour is refused (`AllocError::Unsupported`)
//!   rather than handed out misaligned.
//! - Two heaps: objects of heap A (kept through its root and a `Root`)
//!   survive hundreds of cycles of heap B, driven by two threads with
//!   `stress` and `clobberfree`; A's cycle count and size do not move;
//!   `Root::get` with a scope of the other heap panics.
//!
//! Two tests are repros of collector bugs found while writing this file
//! (see their doc comments); they fail until the bugs are fixed.
//!
//! Runs in about a second in release.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;
use tricolor_gc::{AllocError, Config, DebugKnobs, Gc, Heap, Lock, Mutator, Root, Rootable, Trace};

const MIB: usize = 1 << 20;
const LIMIT: usize = 8 * MIB;

/// Shared by every `Obj`: its strong count is `1 +` the undropped ones.
struct Token;

/// 256 bytes with drop glue (the token).
#[derive(Trace)]
struct Obj {
    token: Arc<Token>,
    id: u64,
    pad: [u64; 30],
}

/// A large object (64 KiB).
type Big = [u64; 8192];

fn limited(gogc: Option<u32>) -> Config {
    Config {
        gogc,
        min_heap: 4 * MIB,
        max_heap: Some(LIMIT),
        mark_workers: 2,
        background_sweep: true,
        debug: DebugKnobs {
            clobberfree: true,
            ..DebugKnobs::default()
        },
    }
}

/// The panic message of a caught panic.
fn message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic>")
    }
}

#[test]
fn try_new_fails_at_the_limit_and_recovers_after_a_cycle() {
    let token = Arc::new(Token);
    let heap = Heap::new(limited(Some(100)));
    let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    // Fill the heap with garbage within one scope (no cycle can run).
    let fill = |m: &mut Mutator<Rootable!['gc => ()]>| {
        m.mutate(|mc, _| {
            let mut n = 0u64;
            loop {
                let v = Obj {
                    token: token.clone(),
                    id: n,
                    pad: [n; 30],
                };
                match Gc::try_new(mc, v) {
                    Ok(g) => assert_eq!(g.id, n),
                    Err(e) => {
                        assert_eq!(e, AllocError::HeapLimit);
                        break;
                    }
                }
                n += 1;
                assert!(n < 1 << 20, "no limit after {n} objects");
            }
            // A large object does not fit either.
            assert_eq!(
                Gc::try_new(mc, [7u64; 8192]).err(),
                Some(AllocError::HeapLimit)
            );
            n
        })
    };
    let before = Arc::strong_count(&token);
    let n1 = fill(&mut m);
    let st = heap.stats();
    assert!(
        st.heap_bytes <= LIMIT,
        "heap {} B over the limit",
        st.heap_bytes
    );
    assert!(
        st.heap_bytes >= LIMIT - LIMIT / 8,
        "the limit hit early: {} B",
        st.heap_bytes
    );
    assert!(n1 as usize > LIMIT / 2 / 256, "only {n1} objects fit");
    // Every value that made it is in the heap (garbage, not yet swept); the
    // one refused was dropped, not leaked.
    assert!(Arc::strong_count(&token) - before <= n1 as usize);
    // The scope ended with a cycle requested; collect again so every span
    // is swept, then the heap takes about as much as the first time.
    m.collect();
    m.collect();
    assert_eq!(
        Arc::strong_count(&token),
        before,
        "the refused value and all garbage were dropped"
    );
    let n2 = fill(&mut m);
    assert!(
        n2 >= n1 * 9 / 10,
        "after collecting, only {n2} objects fit (first time {n1})"
    );
    m.collect();
    m.collect();
    m.mutate(|mc, _| {
        let b: Gc<'_, Big> = Gc::try_new(mc, [3u64; 8192]).expect("a large object fits again");
        assert_eq!(b[8191], 3);
    });
}

#[test]
fn live_data_keeps_the_limit_until_it_dies() {
    let token = Arc::new(Token);
    let heap = Heap::new(limited(None));
    let mut m = heap.mutator::<Rootable!['gc => Vec<Gc<'gc, Obj>>]>(|_| Vec::new());
    let kept = m.mutate_root(|mc, keep| {
        let mut id = 0;
        while let Ok(g) = Gc::try_new(
            mc,
            Obj {
                token: token.clone(),
                id,
                pad: [id; 30],
            },
        ) {
            keep.push(g);
            id += 1;
        }
        keep.len()
    });
    m.collect();
    m.collect();
    // Everything is live: still no room, and nothing was dropped.
    let r = m.mutate(|mc, _| {
        Gc::try_new(
            mc,
            Obj {
                token: token.clone(),
                id: 0,
                pad: [0; 30],
            },
        )
        .map(|_| ())
    });
    assert_eq!(r, Err(AllocError::HeapLimit));
    assert_eq!(Arc::strong_count(&token), 1 + kept);
    // Contents intact; then let every other object die.
    m.mutate_root(|_, keep| {
        for (i, g) in keep.iter().enumerate() {
            assert!(g.id == i as u64 && g.pad == [i as u64; 30], "object {i}");
        }
        let mut i = 0;
        keep.retain(|_| {
            i += 1;
            i % 2 == 0
        });
    });
    m.collect();
    m.collect();
    assert_eq!(Arc::strong_count(&token), 1 + kept / 2);
    let more = m.mutate_root(|mc, keep| {
        let mut n = 0;
        while n < kept / 4 {
            let g = Gc::try_new(
                mc,
                Obj {
                    token: token.clone(),
                    id: 1 << 32,
                    pad: [0; 30],
                },
            )
            .expect("room after half the live data died");
            keep.push(g);
            n += 1;
        }
        n
    });
    assert_eq!(more, kept / 4);
}

#[test]
fn racing_mutators_overshoot_the_limit_by_at_most_a_span_each() {
    let heap = Heap::new(limited(None));
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let heap = &heap;
            s.spawn(move || {
                let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
                m.mutate(|mc, _| {
                    let mut n = 0u64;
                    while let Ok(g) = Gc::try_new(mc, [t; 8]) {
                        assert_eq!(g[7], t);
                        n += 1;
                    }
                    n
                })
            });
        }
    });
    // The 64-byte class has 64 KiB spans.
    let st = heap.stats();
    assert!(
        st.heap_bytes <= LIMIT + 2 * (64 << 10),
        "heap {} B, limit {LIMIT} B",
        st.heap_bytes
    );
}

/// `Gc::new` (not `try_new`) at the limit aborts with a message. Child
/// process: the abort is the expected outcome.
#[test]
fn gc_new_at_the_limit_aborts_with_a_message() {
    const CHILD: &str = "TRICOLOR_LIMITS_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let heap = Heap::new(limited(None));
        let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
        m.mutate(|mc, _| {
            for i in 0..(1u64 << 22) {
                Gc::new(mc, [i; 8]);
            }
        });
        eprintln!("limits child: no limit");
        std::process::exit(0);
    }
    let out = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--exact",
            "gc_new_at_the_limit_aborts_with_a_message",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("spawn the child");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("configured limit"), "{err}");
}

#[test]
fn collect_inside_a_scope_of_the_same_heap_panics_and_leaves_the_heap_usable() {
    let heap = Heap::new(Config {
        max_heap: None,
        ..limited(Some(100))
    });
    let mut m = heap.mutator::<Rootable!['gc => Gc<'gc, u64>]>(|mc| Gc::new(mc, 42u64));
    let mut m2 = heap.mutator::<Rootable!['gc => ()]>(|_| ());

    let e = catch_unwind(AssertUnwindSafe(|| m.mutate(|_, _| heap.collect())))
        .expect_err("Heap::collect inside a scope must panic");
    let msg = message(&*e);
    assert!(
        msg.contains("collect() called inside a mutation scope"),
        "unclear message: {msg}"
    );

    // Another mutator of the same heap, same thread.
    let e = catch_unwind(AssertUnwindSafe(|| m.mutate(|_, _| m2.collect())))
        .expect_err("Mutator::collect inside another mutator's scope must panic");
    assert!(message(&*e).contains("inside a mutation scope"));

    // The panics unwound the scopes: everything still works.
    m.collect();
    m2.collect();
    assert_eq!(m.mutate(|_, r| **r), 42);

    // The world is not wedged: a cycle from another thread completes.
    let (tx, rx) = channel();
    std::thread::scope(|s| {
        let heap = &heap;
        s.spawn(move || {
            let mut m3 = heap.mutator::<Rootable!['gc => ()]>(|_| ());
            m3.collect();
            heap.collect();
            tx.send(()).expect("send");
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a collection from another thread hung after the panics");
    });
    assert_eq!(m.mutate(|_, r| **r), 42);
}

#[derive(Trace)]
struct Node<'gc> {
    id: u64,
    check: u64,
    next: Lock<Option<Gc<'gc, Node<'gc>>>>,
}

fn check_of(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x1234
}

type List = Rootable!['gc => Option<Gc<'gc, Node<'gc>>>];

#[test]
fn independent_heaps_do_not_interfere() {
    let knobs = DebugKnobs {
        checkmark: true,
        clobberfree: true,
        ..DebugKnobs::default()
    };
    // Heap A: no cycles but the ones asked for.
    let a = Heap::new(Config {
        gogc: None,
        debug: knobs,
        ..limited(None)
    });
    let b = Heap::new(Config {
        max_heap: None,
        min_heap: MIB,
        debug: DebugKnobs {
            stress: 128 << 10,
            ..knobs
        },
        ..limited(Some(100))
    });
    let mut ma = a.mutator::<List>(|_| None);
    let root_a: Root<Rootable!['gc => Node<'gc>]> = ma.mutate_root(|mc, r| {
        let mut head = None;
        for id in (0..10_000u64).rev() {
            head = Some(Gc::new(
                mc,
                Node {
                    id,
                    check: check_of(id),
                    next: Lock::new(head),
                },
            ));
        }
        *r = head;
        let extra = Gc::new(
            mc,
            Node {
                id: 1 << 40,
                check: check_of(1 << 40),
                next: Lock::new(None),
            },
        );
        mc.root(extra)
    });
    ma.collect();
    let a_cycles = a.stats().cycles;
    let a_heap = a.stats().heap_bytes;
    let verify_a = |ma: &mut Mutator<List>| {
        ma.mutate(|mc, r| {
            let mut cur = *r;
            for id in 0..10_000u64 {
                let n = cur.expect("heap A's list is complete");
                assert!(
                    n.id == id && n.check == check_of(id),
                    "heap A node {id} damaged: {:#x}",
                    n.id
                );
                cur = n.next.get();
            }
            let x = root_a.get(mc);
            assert!(x.id == 1 << 40 && x.check == check_of(1 << 40));
        })
    };
    // Heap B churns on two threads while A's thread verifies.
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let b = &b;
            s.spawn(move || {
                let mut mb = b.mutator::<List>(|_| None);
                for step in 0..3000u64 {
                    mb.mutate_root(|mc, r| {
                        let mut head = None;
                        for k in 0..64 {
                            let id = (t << 32) | (step << 8) | k;
                            head = Some(Gc::new(
                                mc,
                                Node {
                                    id,
                                    check: check_of(id),
                                    next: Lock::new(head),
                                },
                            ));
                        }
                        if let Some(old) = r.replace(head.expect("64 nodes")) {
                            assert_eq!(old.check, check_of(old.id), "heap B damaged");
                        }
                    });
                }
            });
        }
        for _ in 0..50 {
            verify_a(&mut ma);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    verify_a(&mut ma);
    let (sa, sb) = (a.stats(), b.stats());
    assert!(sb.cycles >= 50, "heap B ran only {} cycles", sb.cycles);
    assert_eq!(sa.cycles, a_cycles, "heap B's cycles ran on heap A");
    assert_eq!(sa.heap_bytes, a_heap, "heap A's size moved");
    // A root of heap A cannot be read in a scope of heap B.
    let mut mb = b.mutator::<Rootable!['gc => ()]>(|_| ());
    let e = catch_unwind(AssertUnwindSafe(|| {
        mb.mutate(|mc, _| {
            root_a.get(mc);
        })
    }))
    .expect_err("Root::get across heaps must panic");
    assert!(message(&*e).contains("another heap"), "{}", message(&*e));
    ma.collect();
    verify_a(&mut ma);
}

/// BUG: a `RawMutator` region is not a scope to the "collect inside a
/// scope" check, so collecting from inside one on the same thread waits
/// for this very thread forever instead of panicking.
///
/// `mutator.rs` counts open scopes per thread in `OPEN_SCOPES` and
/// `assert_outside` panics if the heap has one; `RawMutator::enter`
/// (`raw.rs`) never registers its region there. `Heap::collect()` then
/// stops the world and waits for the raw mutator, which is this thread,
/// to leave. The same gap makes `RawMutator::leave` run a requested cycle
/// while a typed scope of the same heap is still open on the thread (it
/// checks only `gc_requested`, not `any_scope_open()`), which hangs the
/// same way. The hang is caught with a timeout (the stuck thread is left
/// behind; the harness exits anyway).
#[test]
fn collect_inside_a_raw_region_panics_instead_of_hanging() {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let heap = Heap::new(Config::default());
        let mut raw = heap.raw_mutator();
        raw.enter();
        let r = catch_unwind(AssertUnwindSafe(|| heap.collect()));
        let _ = tx.send(r.map_err(|e| message(&*e)));
        if !std::thread::panicking() {
            raw.leave();
        }
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Err(msg)) => assert!(msg.contains("inside"), "unclear message: {msg}"),
        Ok(Ok(())) => panic!("Heap::collect inside a raw region returned (the world stopped around a running mutator?)"),
        Err(_) => panic!("deadlock: Heap::collect inside a RawMutator region on the same thread hangs instead of panicking"),
    }
}

#[derive(Trace)]
#[repr(align(16384))]
struct Aligned16K {
    word: u64,
}

/// BUG: a pointer-free, drop-free type aligned above the 8 KiB page gets a
/// misaligned object from `Gc::new` / `Gc::try_new` instead of
/// `AllocError::Unsupported`.
///
/// Such a type takes the noscan path (`cache.rs`, `alloc_noscan`): no small
/// class honours the alignment, so it goes to `alloc_large` with a null
/// descriptor, and `alloc_large` checks the alignment only through the
/// descriptor (`if !desc.is_null() { .. align > PAGE_SIZE .. }`). Large
/// spans are only page-aligned, so about half the objects are misaligned:
/// a `&Aligned16K` to them is undefined behaviour in safe code. (The same
/// type with drop glue or a `Gc` field gets `Err(Unsupported)`, as it
/// should.) Large 40 000-byte objects in between shift the page heap.
#[test]
fn over_aligned_pointer_free_objects_are_refused_or_aligned() {
    let heap = Heap::new(Config::default());
    let mut m = heap.mutator::<Rootable!['gc => ()]>(|_| ());
    let misaligned = m.mutate(|mc, _| {
        let mut bad = Vec::new();
        for i in 0..16u64 {
            let _shift = Gc::new(mc, [0u8; 40_000]);
            match Gc::try_new(mc, Aligned16K { word: i }) {
                Ok(g) => {
                    let a = Gc::as_ptr(g) as usize;
                    if !a.is_multiple_of(16384) {
                        bad.push(a);
                    }
                }
                Err(e) => assert_eq!(e, AllocError::Unsupported),
            }
        }
        bad
    });
    assert!(
        misaligned.is_empty(),
        "Gc::try_new returned {} objects of a 16 KiB-aligned type at misaligned addresses: {:x?}",
        misaligned.len(),
        misaligned
    );
}

/// BUG: making or dropping a mutator inside a scope of the same heap hangs
/// when another thread has started a cycle.
///
/// `MutatorCore::register` and `MutatorCore::unregister` (`mutator.rs`;
/// `RawMutator`'s drop has the same loop) wait `while g.collecting`. A cycle
/// started on another thread sets `collecting` and then waits for every
/// mutator to leave its scope — including the scope this thread is in, so
/// neither side can proceed. (Nested scopes of the same heap already get
/// this right: `ScopeGuard::enter` does not wait when the thread has a
/// scope of the heap open.) Here thread 1 opens a scope, thread 2 calls
/// `Heap::collect`, and thread 1 — 200 ms later, when the collector is
/// waiting for it — drops a second mutator, then makes a third. A timeout
/// turns the hang into a failure (the stuck threads are left behind; the
/// harness exits anyway). If the collector had not started within 200 ms
/// the test would pass without exercising the bug, never fail spuriously.
#[test]
fn mutators_can_be_made_and_dropped_inside_a_scope_while_a_cycle_waits() {
    let heap = Heap::new(Config::default());
    let (go_tx, go_rx) = channel::<()>();
    let (done_tx, done_rx) = channel::<()>();
    let h1 = heap.clone();
    std::thread::spawn(move || {
        let mut m1 = h1.mutator::<Rootable!['gc => ()]>(|_| ());
        let other = h1.mutator::<Rootable!['gc => ()]>(|_| ());
        m1.mutate(|_, _| {
            go_tx.send(()).expect("send");
            std::thread::sleep(Duration::from_millis(200));
            drop(other);
            let third = h1.mutator::<Rootable!['gc => Gc<'gc, u64>]>(|mc| Gc::new(mc, 3));
            drop(third);
        });
        let _ = done_tx.send(());
    });
    go_rx.recv().expect("thread 1 is inside its scope");
    let h2 = heap.clone();
    std::thread::spawn(move || h2.collect());
    done_rx.recv_timeout(Duration::from_secs(5)).expect(
        "deadlock: making or dropping a mutator inside a scope waits for a cycle that waits for that scope",
    );
}
