//! The cycle: stopping the world at safepoints, marking, and handing over
//! to the sweepers.
//!
//! In this version the whole mark runs with every mutator stopped at a
//! safepoint; the structures it uses (allocate-black, the barrier switch,
//! per-worker grey buffers, sweep generations, lazy sweeping) are the ones
//! a concurrent mark needs, so making it concurrent changes this file and
//! `barrier.rs`, not the API.
//!
//! ## Mutator states and the world stop
//!
//! A mutator is `INSIDE` while it runs a mutation scope and `OUTSIDE`
//! otherwise. Outside a scope a mutator holds no `Gc` (the API's lifetimes
//! see to that), so every mutator outside a scope is at a safepoint: its
//! roots are its root object and its `Root` handles, and the collector may
//! scan them without its help. "Parked" is the same state held on purpose.
//!
//! Stopping is the Dekker handshake of `handshake.rs` (with its argument
//! for SeqCst and a loom model). A mutator that finds the world stopping
//! backs out and sleeps on the world condition variable; one leaving a
//! scope while a stop is pending wakes the collector.
//!
//! ## One cycle (`collect`)
//!
//! 1. Become the collector (one at a time; a caller that finds a cycle
//!    running waits for it and, if it only *requested* a cycle, is done).
//! 2. Stop the world (above). Record the wait as time-to-safepoint.
//! 3. Flush every mutator's allocation cache into the heap lists.
//! 4. Finish the previous cycle's sweep.
//! 5. Mark from the roots in parallel (`mark.rs`); with `checkmark=1`, mark
//!    again on one thread into the check bitmap and compare.
//! 6. `sweepgen += 2`: every span is now unswept; move all of them to their
//!    `unswept` lists. Set the next goal: `marked × (1 + GOGC/100)`.
//! 7. Restart the world; wake the background sweeper (or, with
//!    `stoptheworld=2`, sweep everything before restarting).

use crate::heap::HeapInner;
use crate::mark::{self, Tracer};
use crate::mutator::MutatorCore;
use crate::span::{Bits, GcSpan};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::handshake;
pub use crate::handshake::OUTSIDE;

pub struct WorldState {
    /// Registered mutators.
    pub mutators: Vec<*const MutatorCore>,
    /// A cycle is running.
    pub collecting: bool,
    /// Completed cycles.
    pub cycles: u64,
}

// SAFETY: the mutator pointers are only dereferenced under the world lock,
// while they are registered (a mutator unregisters under the same lock).
unsafe impl Send for WorldState {}

pub struct World {
    pub lock: Mutex<WorldState>,
    pub cv: Condvar,
    pub stopping: AtomicBool,
}

impl World {
    pub fn new() -> World {
        World {
            lock: Mutex::new(WorldState {
                mutators: Vec::new(),
                collecting: false,
                cycles: 0,
            }),
            cv: Condvar::new(),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, WorldState> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        g: MutexGuard<'a, WorldState>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, WorldState> {
        match timeout {
            None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
            Some(t) => {
                self.cv
                    .wait_timeout(g, t)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// Enter a mutation scope: wait out a stopped world.
pub fn enter(heap: &HeapInner, state: &AtomicU8) {
    loop {
        if handshake::try_enter(state, &heap.world.stopping) {
            return;
        }
        let mut g = heap.world.state();
        heap.world.cv.notify_all();
        // Acquire: pairs with `end_stop` (read again by `try_enter`).
        while heap.world.stopping.load(Ordering::Acquire) {
            g = heap.world.wait(g, None);
        }
    }
}

/// Leave a mutation scope: a safepoint.
pub fn leave(heap: &HeapInner, state: &AtomicU8) {
    if handshake::leave(state, &heap.world.stopping) {
        let _g = heap.world.state();
        heap.world.cv.notify_all();
    }
}

/// Why a cycle runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reason {
    /// `collect()`: run a whole cycle that starts after this call.
    Explicit,
    /// The heap reached its goal (or `stress=N`): any cycle will do.
    Requested,
}

/// Run a cycle. The caller is outside any scope of this heap.
pub fn collect(heap: &HeapInner, reason: Reason) {
    let t_start = Instant::now();
    let mut g = heap.world.state();
    let seen = g.cycles;
    while g.collecting {
        g = heap.world.wait(g, None);
    }
    if reason == Reason::Requested && g.cycles != seen {
        return; // someone else just collected
    }
    if reason == Reason::Requested && !heap.gc_requested.load(Ordering::Relaxed) {
        return;
    }
    g.collecting = true;
    handshake::begin_stop(&heap.world.stopping);
    // 2. Wait until every mutator is outside its scope.
    loop {
        let inside = g.mutators.iter().any(|&m| {
            // SAFETY: registered mutators are alive while the lock is held.
            !handshake::is_outside(unsafe { &(*m).state })
        });
        if !inside {
            break;
        }
        g = heap.world.wait(g, Some(Duration::from_millis(1)));
    }
    let t_stopped = Instant::now();
    heap.gc_requested.store(false, Ordering::Relaxed);

    // 3. Flush caches. The mutators are outside and cannot enter while
    //    `stopping` is set; their caches are ours to touch.
    let mut allocated = 0;
    let mut allocated_objects = 0;
    for &m in g.mutators.iter() {
        // SAFETY: registered and stopped (see above).
        let c = unsafe { &mut *(*m).cache.get() };
        c.flush(heap);
        allocated += core::mem::take(&mut c.allocated);
        allocated_objects += core::mem::take(&mut c.allocated_objects);
    }
    // 4. Finish the sweep.
    crate::sweep::finish(heap);
    let t_swept = Instant::now();

    // 5. Mark.
    heap.marking.store(true, Ordering::Relaxed);
    let knobs = heap.config.debug;
    let mutators: &[*const MutatorCore] = &g.mutators;
    let mut roots = |t: &mut Tracer| {
        for &m in mutators {
            // SAFETY: registered and stopped.
            unsafe { (*m).trace_roots(t) };
        }
        heap.roots.trace(t);
    };
    let result = mark::mark(
        &heap.pool,
        heap.workers(),
        Bits::Mark,
        knobs.losemark,
        &mut roots,
    );
    if result.out_of_memory {
        tricolor_heap::fatal::fatal(
            "tricolor: out of memory for grey work buffers while marking",
            0,
        );
    }
    if knobs.checkmark {
        checkmark(heap, &mut roots);
    }
    heap.marking.store(false, Ordering::Relaxed);
    let t_marked = Instant::now();

    // Count what was marked now, while every span is swept and listed: once
    // the spans move to the unswept lists below, the background sweeper
    // (woken by the previous cycle) may take one before we count it.
    let (marked, marked_objects) = count_marked(heap);

    // 6. New sweep generation: every span becomes unswept.
    heap.sweepgen.fetch_add(2, Ordering::Relaxed);
    heap.lists.with(|l| {
        let mut n = 0;
        for set in l.all_sets() {
            n += set.partial.len + set.full.len;
            // SAFETY: the lock is held (inside `with`).
            unsafe {
                let (partial, full, unswept) = (&mut set.partial, &mut set.full, &mut set.unswept);
                unswept.append(partial);
                unswept.append(full);
            }
        }
        l.unswept += n;
    });
    heap.marked_bytes.store(marked, Ordering::Relaxed);
    let allocated_since = heap.allocated_since.swap(0, Ordering::Relaxed);
    let goal = match heap.config.gogc {
        Some(p) => (marked + marked / 100 * p as usize).max(heap.config.min_heap),
        None => usize::MAX,
    };
    heap.goal.store(goal, Ordering::Relaxed);
    if knobs.stoptheworld >= 2 {
        crate::sweep::finish(heap);
    }
    let t_end = Instant::now();
    g.cycles += 1;
    let cycle = g.cycles;
    // Relaxed: a counter for polling (`Heap::cycles`); the cycle's effects
    // are published by the world restart.
    heap.cycles.store(cycle as usize, Ordering::Relaxed);
    handshake::end_stop(&heap.world.stopping);
    g.collecting = false;
    heap.world.cv.notify_all();
    drop(g);
    if knobs.stoptheworld < 2 {
        heap.sweeper.wake();
    }

    let pause = t_end - t_stopped;
    let to_safepoint = t_stopped - t_start;
    let heap_bytes = heap.span_bytes.load(Ordering::Relaxed);
    {
        let mut s = heap.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.record_cycle(
            crate::stats::CycleRecord {
                pause,
                to_safepoint,
                sweep_finish: t_swept - t_stopped,
                mark: t_marked - t_swept,
                marked_bytes: marked,
                marked_objects,
                allocated_bytes: allocated,
                allocated_objects,
                heap_bytes,
                goal,
            },
            t_stopped - heap.created,
        );
    }
    if knobs.gctrace > 0 {
        eprintln!(
            "gc {cycle}: pause {:.3} ms (finish sweep {:.3} + mark {:.3}), to safepoint {:.3} ms, \
             {} -> {} MB (heap -> marked), {} MB allocated since, {} MB goal, {} objects marked, {} markers",
            pause.as_secs_f64() * 1e3,
            (t_swept - t_stopped).as_secs_f64() * 1e3,
            (t_marked - t_swept).as_secs_f64() * 1e3,
            to_safepoint.as_secs_f64() * 1e3,
            heap_bytes >> 20,
            marked >> 20,
            allocated_since >> 20,
            if goal == usize::MAX { 0 } else { goal >> 20 },
            marked_objects,
            heap.workers().map_or(1, |w| w.current_num_threads()),
        );
    }
}

/// Bytes and objects marked, from the spans' mark bytes (world stopped,
/// marking over). About a millisecond per 128 MiB of 16-byte objects.
fn count_marked(heap: &HeapInner) -> (usize, usize) {
    heap.lists.with(|l| {
        let (mut bytes, mut objects) = (0, 0);
        for set in l.all_sets() {
            for s in set
                .partial
                .iter()
                .chain(set.full.iter())
                .chain(set.unswept.iter())
            {
                // SAFETY: listed spans are alive; the lock is held.
                let span = unsafe { &*s };
                let n = span.count_marks() as usize;
                objects += n;
                bytes += n * span.elem_size;
            }
        }
        (bytes, objects)
    })
}

/// `checkmark=1`: re-mark everything on one thread into the check bitmap
/// and abort if the real mark missed an object.
fn checkmark(heap: &HeapInner, roots: &mut dyn FnMut(&mut Tracer)) {
    let mut spans: Vec<*mut GcSpan> = Vec::new();
    heap.lists.with(|l| {
        for set in l.all_sets() {
            spans.extend(
                set.partial
                    .iter()
                    .chain(set.full.iter())
                    .chain(set.unswept.iter()),
            );
        }
    });
    for &s in &spans {
        // SAFETY: the world is stopped; spans stay alive until we return.
        unsafe { (*s).clear(Bits::Check) };
    }
    mark::mark(&heap.pool, None, Bits::Check, 0, roots);
    for &s in &spans {
        // SAFETY: as above.
        let span = unsafe { &*s };
        for i in 0..span.nelems as usize {
            if span.test(Bits::Check, i) && !span.test(Bits::Mark, i) {
                tricolor_heap::fatal::fatal(
                    "tricolor: checkmark: a reachable object was not marked",
                    span.slot(i),
                );
            }
        }
    }
}
