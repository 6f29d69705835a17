//! loom model of the world-stop handshake (`src/handshake.rs`, compiled here
//! against loom's atomics): a mutator entering a scope and a collector
//! stopping the world never both proceed. The "heap" is a loom `UnsafeCell`
//! that the mutator writes inside its scope and the collector reads while
//! the world is stopped; loom reports any interleaving in which the two
//! accesses race, so a handshake that let both through would fail here.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p tricolor-gc --release --test loom_world`.
//! (Checked to fail with either SeqCst fence in `handshake.rs` removed.)
#![cfg(loom)]

mod sync {
    pub use loom::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
}

#[allow(dead_code)]
#[path = "../src/handshake.rs"]
mod handshake;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU8};
use loom::sync::Arc;

struct World {
    stopping: AtomicBool,
    mutator: AtomicU8,
    heap: UnsafeCell<u64>,
}

fn mutator_scope(w: &World) {
    // Enter; on a stop, back out and wait (outside) until it ends, as
    // `collector::enter` does on the world condition variable.
    while !handshake::try_enter(&w.mutator, &w.stopping) {
        while w.stopping.load(sync::Ordering::Acquire) {
            loom::thread::yield_now();
        }
    }
    // SAFETY (loom checks it): inside a scope, no collector runs.
    w.heap.with_mut(|p| unsafe { *p += 1 });
    handshake::leave(&w.mutator, &w.stopping);
}

fn collector_cycle(w: &World) {
    handshake::begin_stop(&w.stopping);
    while !handshake::is_outside(&w.mutator) {
        loom::thread::yield_now();
    }
    // The world is stopped: read the heap (marking).
    // SAFETY (loom checks it): the mutator is outside its scope.
    w.heap.with(|p| unsafe { *p });
    handshake::end_stop(&w.stopping);
}

#[test]
fn a_scope_and_a_stopped_world_exclude_each_other() {
    // Both sides spin (yielding) while the other holds them off; bound the
    // preemptions so the spinning stays finite (as the allocator's models do).
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let w = Arc::new(World {
            stopping: AtomicBool::new(false),
            mutator: AtomicU8::new(handshake::OUTSIDE),
            heap: UnsafeCell::new(0),
        });
        let w2 = w.clone();
        let m = loom::thread::spawn(move || {
            mutator_scope(&w2);
            mutator_scope(&w2);
        });
        collector_cycle(&w);
        m.join().unwrap();
        // SAFETY: both threads are done (joined above).
        w.heap.with(|p| assert_eq!(unsafe { *p }, 2));
    });
}
