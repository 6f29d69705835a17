//! Marking: the tracer, object scanning and the parallel mark phase.
//!
//! Glossary:
//! - **Tracer** — what `Trace::trace` reports pointers to. It greys an
//!   object: sets its bit in the mark (or check) bitmap and, if the bit was
//!   clear and the object can hold pointers, pushes it on the marker's local
//!   work (`work.rs`).
//! - **Oblet** — a 128 KiB piece of a large object (Go's `maxObletBytes`).
//!   A large object scanned by a pointer map or as an array of references is
//!   pushed as one entry per piece, so one huge array cannot leave all other
//!   markers idle. (A Rust type's `trace` is one opaque call and cannot be
//!   split; types that large are rare outside arrays.)
//!
//! The mark phase (`mark`), run by the collector with every mutator stopped
//! at a safepoint (`collector.rs`):
//! 1. The coordinator greys the roots (`roots.rs`) into buffers it hands to
//!    the pool.
//! 2. `workers` markers (a rayon pool owned by the heap) each drain grey
//!    objects: pop, look up the span in the page map, call the descriptor's
//!    scan, which greys what it points to. They balance through the pool and
//!    stop together when no grey object is left anywhere (`work.rs`).
//! 3. With `checkmark=1`, the whole graph is marked again, on one thread,
//!    into the check bitmap; any object found then but not by the parallel
//!    mark is a collector bug and aborts the process with its address.
//!
//! Memory ordering: the markers read objects written by mutators. Every
//! mutator stopped (`collector.rs`, a mutex hand-off) before the mark began,
//! and the markers started after that (rayon's broadcast is a channel
//! hand-off), so every object's contents happen-before its scan. Mark bits
//! need no ordering of their own (see `GcSpan::set`).

use crate::desc::Scan;
use crate::span::{Bits, GcSpan, SCAN_NONE, SCAN_OBJECT};
use crate::work::{LocalWork, WorkPool};
use tricolor_heap::arena;

/// Objects larger than this are scanned in pieces of this size (Go's
/// `maxObletBytes`, 128 KiB).
pub const OBLET_BYTES: usize = 128 << 10;

/// Receives the pointers a value holds. Passed to `Trace::trace`.
pub struct Tracer {
    work: *mut LocalWork<'static>,
    which: Bits,
    /// `which == Mark` and no fault injection: the hot path.
    plain: bool,
    /// Debug: skip every `lose_every`-th newly found object (0 = never).
    lose_every: u64,
    seen: u64,
}

impl Tracer {
    /// A tracer greying into `work`'s buffers, setting bitmap `which`.
    pub(crate) fn new(work: &mut LocalWork<'_>, which: Bits, lose_every: u64) -> Tracer {
        Tracer {
            work: (work as *mut LocalWork<'_>).cast::<LocalWork<'static>>(),
            which,
            plain: which == Bits::Mark && lose_every == 0,
            lose_every,
            seen: 0,
        }
    }

    #[inline(always)]
    fn work(&mut self) -> &mut LocalWork<'static> {
        // SAFETY: the tracer never outlives the `LocalWork` it was made from
        // (both live in the same marker frame), and nothing else uses it
        // while the tracer runs.
        unsafe { &mut *self.work }
    }

    /// Grey the object at `addr`.
    ///
    /// # Safety
    /// `addr` points into a live object of the heap being marked.
    #[inline(always)]
    pub(crate) unsafe fn mark_addr(&mut self, addr: usize) {
        // SAFETY: a live object is in the committed heap and its run's page
        // map entries point at its `GcSpan` (whose first field is the `Span`).
        let span = unsafe { &*(arena::span_of_unchecked(addr) as *const GcSpan) };
        let i = span.index_of(addr);
        if self.plain {
            // SAFETY: `i` is the index of a live object, so `i < nelems`.
            if !unsafe { span.set_unchecked(Bits::Mark, i) } {
                return;
            }
        } else if !self.set_slow(span, i) {
            return;
        }
        if span.scan_kind == SCAN_OBJECT {
            let base = span.slot(i);
            // Start fetching the object now; it is scanned soon (the work
            // buffer is a stack).
            prefetch(base);
            self.work().push(base);
        } else if span.scan_kind != SCAN_NONE {
            self.push_oblets(span.slot(i), span.elem_size);
        }
    }

    /// Checkmark and fault injection: set the bit the slow way.
    #[cold]
    fn set_slow(&mut self, span: &GcSpan, i: usize) -> bool {
        if self.lose_every != 0 && self.which == Bits::Mark {
            // SAFETY: `i` is the index of a live object.
            if !unsafe { span.test_unchecked(Bits::Mark, i) } {
                self.seen += 1;
                if self.seen.is_multiple_of(self.lose_every) {
                    return false;
                }
            }
        }
        // SAFETY: as above.
        unsafe { span.set_unchecked(self.which, i) }
    }

    #[cold]
    fn push_oblets(&mut self, base: usize, size: usize) {
        let mut off = 0;
        while off < size {
            self.work().push(base + off);
            off += OBLET_BYTES;
        }
    }

    /// Report one pointer to an object (its start, or inside it).
    ///
    /// # Safety
    /// `p` points into a live object of the heap being traced.
    #[inline(always)]
    pub unsafe fn mark_raw(&mut self, p: *const u8) {
        // SAFETY: forwarded from the caller.
        unsafe { self.mark_addr(p as usize) }
    }
}

/// Scan the object (or oblet) at `addr`: grey everything it points to.
///
/// # Safety
/// `addr` is an entry popped from the grey work of the heap being marked.
unsafe fn scan(t: &mut Tracer, addr: usize) {
    // SAFETY: grey entries are live objects (or oblets) of this heap.
    let span = unsafe { &*(arena::span_of_unchecked(addr) as *const GcSpan) };
    if let Some(f) = span.trace {
        // SAFETY: `addr` is the start of a live object of the span's type
        // (Rust types are never split into oblets).
        unsafe { f(addr as *const u8, t) };
        return;
    }
    // SAFETY: only spans with a descriptor are ever pushed (noscan spans are
    // not), and descriptors are `'static`.
    let desc = unsafe { &*span.desc };
    let (lo, hi) = if span.class == 0 {
        let end = span.start + span.elem_size;
        (addr, end.min(addr + OBLET_BYTES))
    } else {
        (addr, addr + span.elem_size)
    };
    match desc.scan {
        Scan::None => {}
        // SAFETY: `addr` is the start of a live object of the descriptor's type.
        Scan::Trace(f) => unsafe { f(addr as *const u8, t) },
        Scan::Refs => {
            let mut p = lo;
            while p < hi {
                // SAFETY: the object's words are initialised references or
                // null (the embedder's contract for `Scan::Refs`; raw objects
                // are zeroed at allocation).
                let r = unsafe { *(p as *const usize) };
                if r != 0 {
                    // SAFETY: a non-null reference is a live object.
                    unsafe { t.mark_addr(r) };
                }
                p += 8;
            }
        }
        Scan::PointerMap(map) => {
            let base = span.slot(span.index_of(addr));
            let first = (lo - base) / 8;
            let last = ((hi - base) / 8).min(map.len() * 64);
            let mut w = first;
            while w < last {
                let bits = map[w / 64] >> (w % 64);
                if bits == 0 {
                    w = (w | 63) + 1;
                    continue;
                }
                w += bits.trailing_zeros() as usize;
                if w >= last {
                    break;
                }
                // SAFETY: the map marks this word as a reference or null.
                let r = unsafe { *((base + w * 8) as *const usize) };
                if r != 0 {
                    // SAFETY: a non-null reference is a live object.
                    unsafe { t.mark_addr(r) };
                }
                w += 1;
            }
        }
    }
}

#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Drain grey work until the pool says marking is over. A panic in a
/// `trace` (a buggy manual `Trace` impl, or tracing memory the collector
/// already freed) aborts the process: a marker that unwound would never
/// count itself idle, and the others would wait for it forever.
fn drain(t: &mut Tracer) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drain_inner(t)));
    if r.is_err() {
        tricolor_heap::fatal::fatal("tricolor: a marker panicked while tracing", 0);
    }
}

fn drain_inner(t: &mut Tracer) {
    let mut n = 0u32;
    loop {
        let addr = match t.work().pop_local() {
            Some(a) => a,
            None => match t.work().pop() {
                Some(a) => a,
                None => return,
            },
        };
        // SAFETY: popped from this heap's grey work.
        unsafe { scan(t, addr) };
        n = n.wrapping_add(1);
        if n.is_multiple_of(64) {
            t.work().balance();
        }
    }
}

/// What a mark phase found. (The marked bytes and objects are counted
/// afterwards from the mark bytes, `collector.rs`: two markers racing on one
/// object both "win" it, so counting in the tracer would overcount.)
#[derive(Default, Clone, Copy, Debug)]
pub struct MarkResult {
    pub out_of_memory: bool,
}

/// Mark everything reachable from `roots` into bitmap `which`, on the
/// rayon pool `workers` (or on this thread when `None`).
pub(crate) fn mark(
    pool: &WorkPool,
    workers: Option<&rayon::ThreadPool>,
    which: Bits,
    lose_every: u64,
    roots: &mut dyn FnMut(&mut Tracer),
) -> MarkResult {
    let n = workers.map_or(1, |w| w.current_num_threads());
    pool.begin(n);
    let mut result = MarkResult::default();
    {
        let mut lw = LocalWork::new(pool);
        let mut t = Tracer::new(&mut lw, which, lose_every);
        roots(&mut t);
        lw.flush();
        result.out_of_memory |= lw.out_of_memory;
    }
    let total = std::sync::Mutex::new(result);
    let run = |_: rayon::BroadcastContext<'_>| {
        let mut lw = LocalWork::new(pool);
        let mut t = Tracer::new(&mut lw, which, lose_every);
        drain(&mut t);
        let mut r = total.lock().unwrap_or_else(|e| e.into_inner());
        r.out_of_memory |= lw.out_of_memory;
    };
    match workers {
        Some(w) => {
            w.broadcast(run);
        }
        None => {
            let mut lw = LocalWork::new(pool);
            let mut t = Tracer::new(&mut lw, which, lose_every);
            drain(&mut t);
            let mut r = total.lock().unwrap_or_else(|e| e.into_inner());
            r.out_of_memory |= lw.out_of_memory;
        }
    }
    total.into_inner().unwrap_or_else(|e| e.into_inner())
}
