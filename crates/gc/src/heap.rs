//! `Heap`: one collected heap, its span lists and its configuration.
//!
//! A process may have several independent heaps; each has its own spans,
//! mutators, roots, cycle and marker threads, and shares only the page heap
//! underneath with the others and with malloc.
//!
//! Glossary:
//! - **key** — which spans may serve an allocation: untyped noscan spans are
//!   keyed by size class (`1..NUM_SIZE_CLASSES`); typed spans by
//!   `TYPED_KEY_BASE + slot`, one slot per type descriptor the heap has seen;
//!   large spans by `LARGE_KEY`.
//! - **SpanSet** — the spans of one key that no mutator caches: `partial`
//!   (swept, has free slots), `full` (swept, no free slot) and `unswept`
//!   (marked in the last cycle, not swept since).
//!
//! All lists are under one lock (`lists`), held for list operations only:
//! sweeping, marking and allocation run outside it. Lock order: the world
//! lock (`collector.rs`) → `lists` → the allocator's page-heap lock.

use crate::debug::{self, DebugKnobs};
use crate::desc::TypeDesc;
use crate::meta::MetaVec;
use crate::span::{GcSpan, LARGE_KEY};
use crate::stats::StatsInner;
use crate::work::WorkPool;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tricolor_heap::lock::RawLock;
use tricolor_heap::size_class::NUM_SIZE_CLASSES;

/// First key of typed spans.
pub const TYPED_KEY_BASE: u32 = NUM_SIZE_CLASSES as u32;

/// How a heap behaves. `Config::default()` reads `TRICOLOR_GOGC` and
/// `TRICOLOR_DEBUG`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Heap growth between cycles in percent of the live heap (Go's `GOGC`);
    /// `None` never triggers a cycle on its own.
    pub gogc: Option<u32>,
    /// The heap goal never drops below this (Go's 4 MiB `heapMinimum`).
    pub min_heap: usize,
    /// Hard limit on the bytes of spans; allocation beyond it fails with
    /// [`AllocError::HeapLimit`] (`Gc::try_new`).
    pub max_heap: Option<usize>,
    /// Marker threads; 0 = one per available CPU (`TRICOLOR_MARK_WORKERS`).
    pub mark_workers: usize,
    /// Sweep in a background thread (otherwise only lazily and at the next
    /// cycle's start).
    pub background_sweep: bool,
    pub debug: DebugKnobs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gogc: debug::gogc_from_env(),
            min_heap: 4 << 20,
            max_heap: None,
            mark_workers: std::env::var("TRICOLOR_MARK_WORKERS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            background_sweep: true,
            debug: DebugKnobs::from_env(),
        }
    }
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The heap would exceed `Config::max_heap`. End the scope, let a cycle
    /// run (`Mutator::collect`), and retry.
    HeapLimit,
    /// The operating system refused memory.
    OutOfMemory,
    /// The type cannot be allocated here (alignment above the 8 KiB page).
    Unsupported,
}

impl core::fmt::Display for AllocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AllocError::HeapLimit => "the collected heap reached its configured limit",
            AllocError::OutOfMemory => "the operating system refused memory",
            AllocError::Unsupported => "alignment above the page size (8 KiB) is not supported",
        })
    }
}

impl std::error::Error for AllocError {}

/// An intrusive doubly linked list of spans (links in `GcSpan::next/prev`).
pub struct SpanList {
    head: *mut GcSpan,
    pub len: usize,
}

impl SpanList {
    pub const fn new() -> Self {
        SpanList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    /// # Safety
    /// `s` is on no list; the caller holds the lists lock.
    pub unsafe fn push(&mut self, s: *mut GcSpan) {
        // SAFETY: the caller's guarantee.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.head;
            if !self.head.is_null() {
                (*self.head).prev = s;
            }
        }
        self.head = s;
        self.len += 1;
    }

    /// # Safety
    /// The caller holds the lists lock.
    pub unsafe fn pop(&mut self) -> Option<*mut GcSpan> {
        let s = self.head;
        if s.is_null() {
            return None;
        }
        // SAFETY: `s` is on this list.
        unsafe { self.remove(s) };
        Some(s)
    }

    /// # Safety
    /// `s` is on this list; the caller holds the lists lock.
    pub unsafe fn remove(&mut self, s: *mut GcSpan) {
        // SAFETY: the caller's guarantee: `s` and its neighbours are on this list.
        unsafe {
            if (*s).prev.is_null() {
                self.head = (*s).next;
            } else {
                (*(*s).prev).next = (*s).next;
            }
            if !(*s).next.is_null() {
                (*(*s).next).prev = (*s).prev;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
        }
        self.len -= 1;
    }

    /// Move every span of `other` onto this list.
    ///
    /// # Safety
    /// The caller holds the lists lock.
    pub unsafe fn append(&mut self, other: &mut SpanList) {
        // SAFETY: both lists are under the lock.
        while let Some(s) = unsafe { other.pop() } {
            // SAFETY: just removed from `other`.
            unsafe { self.push(s) };
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = *mut GcSpan> + '_ {
        let mut s = self.head;
        core::iter::from_fn(move || {
            if s.is_null() {
                return None;
            }
            let r = s;
            // SAFETY: list members are valid while the lock is held (the
            // caller of `iter` holds it).
            s = unsafe { (*s).next };
            Some(r)
        })
    }
}

impl Default for SpanList {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
pub struct SpanSet {
    pub partial: SpanList,
    pub full: SpanList,
    pub unswept: SpanList,
}

/// The lists lock's contents.
pub struct Lists {
    /// Untyped noscan spans by size class (index 0 unused).
    pub classes: [SpanSet; NUM_SIZE_CLASSES],
    /// Typed spans by slot.
    pub typed: Vec<SpanSet>,
    /// `typed_desc[slot]`: the descriptor of slot `slot`.
    pub typed_desc: MetaVec<usize>,
    /// Large spans (`partial` unused: a large span is full).
    pub large: SpanSet,
    /// Unswept spans in all sets.
    pub unswept: usize,
    /// Where the proportional sweeper looks next.
    pub cursor: usize,
}

// SAFETY: the span pointers are heap-owned records reached only under the
// lists lock (see the ownership table in `span.rs`).
unsafe impl Send for Lists {}

impl Lists {
    fn new() -> Self {
        Lists {
            classes: core::array::from_fn(|_| SpanSet::default()),
            typed: Vec::new(),
            typed_desc: MetaVec::new(),
            large: SpanSet::default(),
            unswept: 0,
            cursor: 0,
        }
    }

    /// The set for `key`.
    pub fn set(&mut self, key: u32) -> &mut SpanSet {
        if key == LARGE_KEY {
            &mut self.large
        } else if key < TYPED_KEY_BASE {
            &mut self.classes[key as usize]
        } else {
            &mut self.typed[(key - TYPED_KEY_BASE) as usize]
        }
    }

    /// Every set, for walks.
    pub fn all_sets(&mut self) -> impl Iterator<Item = &mut SpanSet> {
        self.classes
            .iter_mut()
            .chain(self.typed.iter_mut())
            .chain(core::iter::once(&mut self.large))
    }

    /// The key of typed spans of `desc`, creating a slot on first use.
    pub fn key_for(&mut self, desc: *const TypeDesc) -> Option<u32> {
        let d = desc as usize;
        if let Some(i) = self.typed_desc.as_slice().iter().position(|&x| x == d) {
            return Some(TYPED_KEY_BASE + i as u32);
        }
        if !self.typed_desc.push(d) {
            return None;
        }
        // The set vector grows through the global allocator: this happens
        // once per type per heap, not on allocation paths proper.
        self.typed.push(SpanSet::default());
        Some(TYPED_KEY_BASE + (self.typed.len() - 1) as u32)
    }

    /// Put a swept span where it belongs by its fill.
    ///
    /// # Safety
    /// `s` is on no list and swept; the lock is held (we are `&mut`).
    pub unsafe fn put_swept(&mut self, s: *mut GcSpan) {
        // SAFETY: the caller's guarantee.
        unsafe {
            let key = (*s).key;
            let full = (*s).is_full();
            let set = self.set(key);
            if full {
                set.full.push(s);
            } else {
                set.partial.push(s);
            }
        }
    }
}

/// A value under a `RawLock` (the allocator's futex lock: no allocation, no
/// poisoning).
pub struct Locked<T> {
    lock: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached with `lock` held.
unsafe impl<T: Send> Sync for Locked<T> {}
unsafe impl<T: Send> Send for Locked<T> {}

impl<T> Locked<T> {
    pub fn new(value: T) -> Self {
        Locked {
            lock: RawLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.lock();
        struct Unlock<'a>(&'a RawLock);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // SAFETY: taken by this thread in `with`.
                unsafe { self.0.unlock() }
            }
        }
        let _u = Unlock(&self.lock);
        // SAFETY: the lock is held, so this is the only reference.
        f(unsafe { &mut *self.value.get() })
    }
}

/// The shared state of one heap. Owned through `Arc` by the `Heap` handles,
/// the mutators and the roots.
pub struct HeapInner {
    pub id: usize,
    pub config: Config,
    pub lists: Locked<Lists>,
    /// The sweep generation (see `span.rs`); +2 per cycle.
    pub sweepgen: AtomicU32,
    /// Requests a cycle at the next safepoint of any mutator.
    pub gc_requested: AtomicBool,
    /// Allocate black: mutators set the mark bit of new objects.
    pub marking: AtomicBool,
    /// Bytes of every span of the heap.
    pub span_bytes: AtomicUsize,
    /// Bytes handed to allocation caches since the last mark (an estimate
    /// of allocation: whole free slots of each span taken).
    pub allocated_since: AtomicUsize,
    /// The same, for `stress=N`.
    pub stress_since: AtomicUsize,
    /// Bytes marked by the last cycle.
    pub marked_bytes: AtomicUsize,
    /// The heap size at which the next cycle is requested.
    pub goal: AtomicUsize,
    /// Spans being swept by someone right now (`sweep.rs`).
    pub sweeping: AtomicUsize,
    pub world: crate::collector::World,
    pub roots: crate::roots::RootTable,
    pub pool: WorkPool,
    pub workers: OnceLock<Option<rayon::ThreadPool>>,
    pub stats: Mutex<StatsInner>,
    pub sweeper: Arc<crate::sweep::SweeperSignal>,
    /// Completed cycles (cheap to poll: `Heap::cycles`).
    pub cycles: AtomicUsize,
    /// The clock of pause start times (`stats.rs`).
    pub created: std::time::Instant,
}

static NEXT_HEAP_ID: AtomicUsize = AtomicUsize::new(1);

impl HeapInner {
    pub fn new(config: Config) -> Arc<HeapInner> {
        let min = config.min_heap;
        let inner = Arc::new(HeapInner {
            // Relaxed: a unique number, no data published with it.
            id: NEXT_HEAP_ID.fetch_add(1, Ordering::Relaxed),
            config,
            lists: Locked::new(Lists::new()),
            sweepgen: AtomicU32::new(2),
            gc_requested: AtomicBool::new(false),
            marking: AtomicBool::new(false),
            span_bytes: AtomicUsize::new(0),
            allocated_since: AtomicUsize::new(0),
            stress_since: AtomicUsize::new(0),
            marked_bytes: AtomicUsize::new(0),
            goal: AtomicUsize::new(min),
            sweeping: AtomicUsize::new(0),
            world: crate::collector::World::new(),
            roots: crate::roots::RootTable::new(),
            pool: WorkPool::new(),
            workers: OnceLock::new(),
            stats: Mutex::new(StatsInner::default()),
            sweeper: Arc::new(crate::sweep::SweeperSignal::default()),
            cycles: AtomicUsize::new(0),
            created: std::time::Instant::now(),
        });
        if inner.config.background_sweep {
            crate::sweep::start_background(&inner);
        }
        inner
    }

    /// The marker threads (built on first use).
    pub fn workers(&self) -> Option<&rayon::ThreadPool> {
        self.workers
            .get_or_init(|| {
                let n = match self.config.mark_workers {
                    0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                    n => n,
                };
                if n <= 1 {
                    return None;
                }
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("tricolor-mark-{i}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// Count `bytes` handed to a cache, and request a cycle if the heap
    /// reached its goal (or `stress=N` bytes went by).
    #[inline]
    pub fn note_allocation(&self, bytes: usize) {
        // Relaxed: counters; a request that comes one span late is harmless.
        let since = self.allocated_since.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let stress = self.config.debug.stress;
        if stress != 0 && self.stress_since.fetch_add(bytes, Ordering::Relaxed) + bytes >= stress {
            self.stress_since.store(0, Ordering::Relaxed);
            self.gc_requested.store(true, Ordering::Relaxed);
        }
        if self.config.gogc.is_some()
            && self.marked_bytes.load(Ordering::Relaxed) + since
                >= self.goal.load(Ordering::Relaxed)
        {
            self.gc_requested.store(true, Ordering::Relaxed);
        }
    }

    /// Make a new span for `key`, within the heap limit.
    pub fn new_span(
        &self,
        class: usize,
        large_size: usize,
        desc: *const TypeDesc,
        key: u32,
    ) -> Result<*mut GcSpan, AllocError> {
        let bytes = if class == 0 {
            large_size.next_multiple_of(tricolor_heap::PAGE_SIZE)
        } else {
            tricolor_heap::size_class::CLASS_PAGES[class] as usize * tricolor_heap::PAGE_SIZE
        };
        // Relaxed: the limit is a soft fence checked per span; racing
        // allocators may overshoot it by one span each.
        let now = self.span_bytes.load(Ordering::Relaxed);
        if let Some(max) = self.config.max_heap {
            if now + bytes > max {
                self.gc_requested.store(true, Ordering::Relaxed);
                return Err(AllocError::HeapLimit);
            }
        }
        // Acquire-free: sweepgen only changes with the world stopped, and this
        // thread is a running mutator (or the collector itself).
        let sg = self.sweepgen.load(Ordering::Relaxed);
        let s = GcSpan::create(class, large_size, desc, key, self.id, sg)
            .ok_or(AllocError::OutOfMemory)?;
        self.span_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(s.as_ptr())
    }

    /// Free an empty span.
    ///
    /// # Safety
    /// `s` is on no list, holds no live object, and nobody references it.
    pub unsafe fn free_span(&self, s: *mut GcSpan) {
        // SAFETY: the caller's guarantee.
        let bytes = unsafe { (*s).bytes() };
        // SAFETY: as above.
        unsafe { GcSpan::destroy(core::ptr::NonNull::new_unchecked(s)) };
        // Relaxed: a counter.
        self.span_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Drop for HeapInner {
    fn drop(&mut self) {
        self.sweeper.shutdown();
        // Nobody else can reach the heap: no mutator, no root, no sweeper
        // batch (each holds an `Arc`). Drop every allocated object that has
        // drop glue, then return every span.
        let mut spans: Vec<*mut GcSpan> = Vec::new();
        self.lists.with(|l| {
            for set in l.all_sets() {
                for list in [&mut set.partial, &mut set.full, &mut set.unswept] {
                    // SAFETY: the lock is held (we are in `with`).
                    while let Some(s) = unsafe { list.pop() } {
                        spans.push(s);
                    }
                }
            }
        });
        for s in spans {
            // SAFETY: every span is ours alone now; its allocated objects are
            // dead (unreachable: no mutator or root is left).
            unsafe {
                crate::sweep::drop_all_objects(s);
                self.free_span(s);
            }
        }
        self.pool.release_all();
    }
}
