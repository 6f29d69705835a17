//! Sweeping: turning a span's mark bits into its allocation bits.
//!
//! After a cycle's mark, every span is *unswept* (see the sweep-generation
//! table in `span.rs`) and sits on its key's `unswept` list. Three sweepers
//! take spans off those lists, each under the lists lock, so a span is swept
//! by exactly one of them:
//!
//! 1. **lazy** — a mutator that needs a span of a key sweeps unswept spans of
//!    that key first (`cache.rs`, `acquire`);
//! 2. **proportional** — before a mutator makes a new span it sweeps a couple
//!    of spans' worth of pages of any key (`sweep_some`), so allocation cannot
//!    grow the heap while garbage waits unswept;
//! 3. **background** — one thread per heap sweeps everything left after each
//!    cycle (`start_background`).
//!
//! The next cycle starts by finishing the sweep (`finish`), with the world
//! stopped, so marking never meets an unswept span.
//!
//! Sweeping one span (`sweep_span`):
//! 1. `dead = allocated & !marked`, word by word, where `allocated(i) =
//!    alloc[i] || i < free_index`.
//! 2. Drop each dead object that has drop glue (the descriptor's `drop`),
//!    and with `clobberfree=1` fill it with `0xdf`.
//! 3. The mark bitmap becomes the alloc bitmap (the two swap roles); the old
//!    alloc bitmap is cleared and becomes the next cycle's mark bitmap.
//! 4. `free_index = 0`, `alloc_count = |alloc|`, refill the allocation cache,
//!    `sweepgen = sg`.
//!
//! An empty span (no live object) goes back to the page heap, unless the
//! sweeper is a mutator that wants it for allocation.
//!
//! Destructors run on whichever thread sweeps: that is why `Trace`'s
//! contract requires values to be droppable on any thread, and why a `Drop`
//! impl on a traced type must be explicitly opted into (it must not touch
//! `Gc` fields, whose objects may already be gone).

use crate::heap::HeapInner;
use crate::span::{Bits, GcSpan};
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

/// The clobber pattern of `clobberfree=1`.
pub const CLOBBER_BYTE: u8 = 0xdf;

/// Run the drop glue of the object at `addr`, aborting the process if it
/// panics (a sweeper has no caller to unwind into).
///
/// # Safety
/// `addr` is a dead object of `drop`'s type, dropped once.
unsafe fn run_drop(drop: unsafe fn(*mut u8), addr: usize) {
    // SAFETY: forwarded from the caller.
    let r = std::panic::catch_unwind(|| unsafe { drop(addr as *mut u8) });
    if r.is_err() {
        tricolor_heap::fatal::fatal("tricolor: a destructor panicked while being swept", addr);
    }
}

/// Sweep `s`. Returns the number of live objects.
///
/// # Safety
/// The caller holds `s` exclusively (popped from a list, or the world is
/// stopped) and `s` is unswept.
pub unsafe fn sweep_span(heap: &HeapInner, s: *mut GcSpan) -> u32 {
    // SAFETY: the caller's exclusive hold.
    let span = unsafe { &mut *s };
    // Relaxed: sweepgen changes only with the world stopped, which orders it.
    let sg = heap.sweepgen.load(Ordering::Relaxed);
    debug_assert_eq!(span.sweepgen.load(Ordering::Relaxed), sg.wrapping_sub(2));
    span.sweepgen.store(sg.wrapping_sub(1), Ordering::Relaxed);
    let clobber = heap.config.debug.clobberfree;
    let drop = if span.needs_drop {
        // SAFETY: descriptors are `'static`; a drop span has one.
        unsafe { (*span.desc).drop }
    } else {
        None
    };
    if drop.is_some() || clobber {
        let words = span.words as usize;
        for w in 0..words {
            let base = w * 64;
            if base >= span.nelems as usize {
                break;
            }
            // Relaxed: the span is ours; marking finished before the world
            // restarted (a mutex hand-off) and we got the span through a lock.
            let alloc = span.bits(Bits::Alloc)[w].load(Ordering::Relaxed);
            let marked = span.mark_word(w);
            let below = below_mask(span.free_index as usize, base);
            let valid = valid_mask(span.nelems as usize, base);
            let mut dead = (alloc | below) & !marked & valid;
            while dead != 0 {
                let i = base + dead.trailing_zeros() as usize;
                dead &= dead - 1;
                let addr = span.slot(i);
                if let Some(d) = drop {
                    // SAFETY: allocated and unmarked: unreachable, dropped once
                    // (its alloc bit is cleared by the swap below).
                    unsafe { run_drop(d, addr) };
                }
                if clobber {
                    // SAFETY: a dead slot of this span, ours alone.
                    unsafe {
                        core::ptr::write_bytes(addr as *mut u8, CLOBBER_BYTE, span.elem_size)
                    };
                }
            }
        }
    }
    // The marks become the allocation bits; the mark bytes start clear.
    span.publish_marks();
    span.free_index = 0;
    span.alloc_count = span.count(Bits::Alloc);
    span.refill_cache();
    // Release: pairs with the Acquire loads of verifiers that read a span's
    // bitmaps after seeing it swept (`check_swept`).
    span.sweepgen.store(sg, Ordering::Release);
    span.alloc_count
}

/// Bits of word `base / 64` for slots below `free_index`.
#[inline]
fn below_mask(free_index: usize, base: usize) -> u64 {
    if free_index >= base + 64 {
        !0
    } else if free_index <= base {
        0
    } else {
        (1u64 << (free_index - base)) - 1
    }
}

/// Bits of word `base / 64` for slots that exist.
#[inline]
fn valid_mask(nelems: usize, base: usize) -> u64 {
    below_mask(nelems, base)
}

/// Drop every allocated object of `s` (the heap is going away).
///
/// # Safety
/// Nobody references any object of `s` any more; `s` is ours alone.
pub unsafe fn drop_all_objects(s: *mut GcSpan) {
    // SAFETY: the caller's guarantee.
    let span = unsafe { &*s };
    if !span.needs_drop {
        return;
    }
    // SAFETY: descriptors are `'static`.
    let Some(d) = (unsafe { (*span.desc).drop }) else {
        return;
    };
    for i in 0..span.nelems as usize {
        // An unswept span's objects are those allocated before its last
        // mark; its alloc bits and free index still say which.
        if span.is_allocated(i) {
            // SAFETY: an allocated object nobody can reach, dropped once.
            unsafe { run_drop(d, span.slot(i)) };
        }
    }
}

/// Sweep one unswept span of any key and put it where it belongs. Returns
/// its pages, or `None` if nothing is left to sweep.
fn sweep_one(heap: &HeapInner) -> Option<usize> {
    // SAFETY: the lock is held inside `with`.
    let s = heap.lists.with(|l| {
        if l.unswept == 0 {
            return None;
        }
        let n = l.classes.len() + l.typed.len() + 1;
        for k in 0..n {
            let i = (l.cursor + k) % n;
            let set = if i < l.classes.len() {
                &mut l.classes[i]
            } else if i < l.classes.len() + l.typed.len() {
                &mut l.typed[i - l.classes.len()]
            } else {
                &mut l.large
            };
            // SAFETY: the lock is held.
            if let Some(s) = unsafe { set.unswept.pop() } {
                l.cursor = i;
                l.unswept -= 1;
                // Relaxed: a count `finish` waits on; see `acquire`.
                heap.sweeping.fetch_add(1, Ordering::Relaxed);
                return Some(s);
            }
        }
        None
    })?;
    // SAFETY: popped from an unswept list: ours alone.
    let live = unsafe { sweep_span(heap, s) };
    // SAFETY: still ours.
    let pages = unsafe { (*s).header.npages };
    if live == 0 {
        // SAFETY: no live object; on no list; nobody references it.
        unsafe { heap.free_span(s) };
    } else {
        // SAFETY: the lock is held inside `with`; swept and on no list.
        heap.lists.with(|l| unsafe { l.put_swept(s) });
    }
    // Release: pairs with the Acquire in `finish`, so the collector sees the
    // span's final state once the count drops.
    heap.sweeping.fetch_sub(1, Ordering::Release);
    Some(pages)
}

/// Sweep spans of any key until about `pages` pages are swept or nothing is
/// left. Returns the pages swept.
pub fn sweep_some(heap: &HeapInner, pages: usize) -> usize {
    let mut done = 0;
    while done < pages {
        match sweep_one(heap) {
            Some(p) => done += p,
            None => break,
        }
    }
    done
}

/// Finish sweeping (the world is stopped): sweep every span left and wait
/// for sweepers holding one.
pub fn finish(heap: &HeapInner) {
    while sweep_one(heap).is_some() {}
    let backoff = crossbeam_utils::Backoff::new();
    // Acquire: pairs with the Release decrements of the sweepers.
    while heap.sweeping.load(Ordering::Acquire) != 0 {
        backoff.snooze();
    }
}

/// Wakes the background sweeper; shared with its thread, which holds only a
/// `Weak` to the heap so that the heap can go away.
#[derive(Default)]
pub struct SweeperSignal {
    state: Mutex<(bool, bool)>, // (work pending, shut down)
    cv: Condvar,
    started: AtomicBool,
}

impl SweeperSignal {
    pub fn wake(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = true;
        self.cv.notify_one();
    }

    pub fn shutdown(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1 = true;
        self.cv.notify_one();
    }

    /// Wait for work; false on shutdown.
    fn wait(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.1 {
                return false;
            }
            if s.0 {
                s.0 = false;
                return true;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Start the heap's background sweeper thread.
pub fn start_background(heap: &Arc<HeapInner>) {
    if heap.sweeper.started.swap(true, Ordering::Relaxed) {
        return;
    }
    let weak: Weak<HeapInner> = Arc::downgrade(heap);
    let signal = heap.sweeper.clone();
    let spawned = std::thread::Builder::new()
        .name("tricolor-sweep".into())
        .spawn(move || {
            while signal.wait() {
                loop {
                    let Some(heap) = weak.upgrade() else { return };
                    // In batches, so the heap can go away between them.
                    if sweep_some(&heap, 256) == 0 {
                        break;
                    }
                }
            }
        });
    if spawned.is_err() {
        // No thread: sweeping stays lazy and proportional, which is enough.
        heap.sweeper.started.store(false, Ordering::Relaxed);
    }
}
