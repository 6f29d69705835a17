//! Cross-thread frees: the span's *thread-free* list and the cache's
//! *reclaim* stack. These are the allocator's two lock-free protocols; both
//! are model-checked by `tests/loom_remote.rs`.
//!
//! # The thread-free list
//!
//! Every span has three free lists (free-list sharding, as in mimalloc):
//! `free` (the owner allocates from it), `local_free` (the owner frees onto
//! it) — both plain pointers, touched only by the owning thread — and
//! `thread_free`, a lock-free stack onto which any other thread pushes the
//! blocks it frees. The owner collects `thread_free` with one atomic swap in
//! its slow path. A remote free is therefore exactly one successful CAS.
//!
//! The stack's word packs the head pointer (blocks are at least 8-byte
//! aligned) with a two-bit *tag*:
//!
//! | tag       | set by            | meaning                                          |
//! |-----------|-------------------|--------------------------------------------------|
//! | NORMAL    | anyone            | the owner will find these blocks when it looks    |
//! | FULL      | owner             | the span had no free block and the owner parked it on its full list, out of sight; the first remote free must tell the owner |
//! | NOTIFYING | the first freer   | that freer is pushing the span onto the owner's reclaim stack |
//!
//! Transitions (each one CAS or swap on the word):
//!
//! 1. owner `try_mark_full`: `(null, NORMAL) → (null, FULL)`; fails if a block
//!    arrived since the owner last collected (then it collects instead).
//! 2. remote `push`: `(p, t) → (b, t')` with `b.next = p`, where
//!    `t' = NOTIFYING` if `t == FULL` (this freer won the notification) and
//!    `t' = t` otherwise.
//! 3. the winner, after pushing the span onto the owner's reclaim stack:
//!    `finish_notify`: `NOTIFYING → NORMAL`.
//! 4. owner `clear_full` (it wants the span back before any freer notified,
//!    e.g. it freed into it itself): `FULL → NORMAL`. If it finds NOTIFYING it
//!    waits for step 3, so that on return the span is either never going to be
//!    pushed, or already on the reclaim stack — never "about to be".
//! 5. owner `take_all`: `(p, t) → (null, t)`, returning `p`.
//!
//! Why the NOTIFYING state: the owner must never re-park a span (step 1) or
//! hand it to another owner while a notification for it is still in flight,
//! or the span could be linked onto two reclaim stacks at once through its
//! single `notify_next` link. Step 4's wait closes that window; it is only
//! reached when the owner and a remote freer touch the same full span in the
//! same instant, and lasts as long as one push.
//!
//! # The reclaim stack
//!
//! Each thread cache has a Treiber stack of spans that remote freers took off
//! its full list (step 3 pushes onto it). Many threads push; only the owner
//! pops, and it pops *everything at once* with a swap, so there is no ABA
//! problem (a node can only be re-pushed after the owner has taken it).
//!
//! # Memory ordering
//!
//! - A freer writes `block.next` then publishes the block with a Release CAS;
//!   the owner's `take_all` swap is Acquire, so it reads the links it follows.
//! - `try_mark_full` is Release: the owner's writes to the span's owner-only
//!   fields happen-before the winning freer's Acquire read of FULL in `push`,
//!   and so before whoever adopts the span after it.
//! - The reclaim push is Release and the owner's swap is Acquire, so the
//!   owner sees the span as the freer left it.

use crate::sync::{spin_hint, yield_now, AtomicPtr, AtomicUsize, Ordering};
use core::ptr;

/// A free block: while free, its first word links to the next free block.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
}

const TAG_MASK: usize = 0b11;
const NORMAL: usize = 0;
const FULL: usize = 1;
const NOTIFYING: usize = 2;

/// What a remote free found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The block is on the list; nothing else to do.
    Plain,
    /// The span was parked as full: the caller must push the span onto its
    /// owner's reclaim stack and then call [`ThreadFree::finish_notify`].
    MustNotify,
}

/// How [`ThreadFree::clear_full`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleared {
    /// The owner took the span back before any remote free; nothing is in flight.
    Quiet,
    /// A remote freer already notified; the span is on (or was already taken
    /// from) the owner's reclaim stack.
    AlreadyNotified,
}

/// The span's cross-thread free list: see the module docs.
pub struct ThreadFree {
    word: AtomicUsize,
}

impl ThreadFree {
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        ThreadFree {
            word: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    pub fn new() -> Self {
        ThreadFree {
            word: AtomicUsize::new(0),
        }
    }

    /// Push a block freed by a thread other than the owner.
    ///
    /// # Safety
    /// `block` is a block of this span that the caller owns (a live object
    /// being freed), at least 8 bytes long and 8-byte aligned, and it is not
    /// used again by the caller.
    #[inline]
    pub unsafe fn push(&self, block: *mut Block) -> Pushed {
        debug_assert!(block as usize & TAG_MASK == 0);
        // Relaxed initial read: the CAS below validates it.
        let mut old = self.word.load(Ordering::Relaxed);
        loop {
            let tag = old & TAG_MASK;
            let new_tag = if tag == FULL { NOTIFYING } else { tag };
            // SAFETY: the caller owns `block`; linking it is our write to make.
            unsafe { (*block).next = (old & !TAG_MASK) as *mut Block };
            // Release: publishes `block.next` (and the freed object's last
            // writes) to the owner's Acquire `take_all`. Acquire on success:
            // if we win FULL → NOTIFYING we read the owner field next, which
            // the owner wrote before its Release `try_mark_full`.
            match self.word.compare_exchange_weak(
                old,
                block as usize | new_tag,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) if tag == FULL => return Pushed::MustNotify,
                Ok(_) => return Pushed::Plain,
                Err(cur) => old = cur,
            }
        }
    }

    /// Push like [`ThreadFree::push`], but only if that cannot win a
    /// notification: returns false, pushing nothing, if the list is parked
    /// (FULL). The caller then enters the [`NotifyGate`] and calls `push`.
    /// This keeps the common remote free at one CAS while every notification
    /// runs inside the gate that `fork` closes.
    ///
    /// # Safety
    /// As for [`ThreadFree::push`].
    #[inline]
    pub unsafe fn try_push(&self, block: *mut Block) -> bool {
        debug_assert!(block as usize & TAG_MASK == 0);
        // Relaxed initial read: the CAS below validates it.
        let mut old = self.word.load(Ordering::Relaxed);
        loop {
            if old & TAG_MASK == FULL {
                return false;
            }
            // SAFETY: the caller owns `block`.
            unsafe { (*block).next = (old & !TAG_MASK) as *mut Block };
            // Release: as in `push`. The tag is kept (NORMAL or NOTIFYING).
            match self.word.compare_exchange_weak(
                old,
                block as usize | (old & TAG_MASK),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }

    /// The notifying freer is done: the span is on the owner's reclaim stack.
    pub fn finish_notify(&self) {
        // Release: pairs with the Acquire loads in `clear_full`: an owner that
        // sees NORMAL again also sees the span on its reclaim stack.
        let prev = self.word.fetch_and(!TAG_MASK, Ordering::Release);
        debug_assert_eq!(prev & TAG_MASK, NOTIFYING);
    }

    /// Owner: take every block pushed so far, leaving the tag alone.
    #[inline]
    pub fn take_all(&self) -> *mut Block {
        // Relaxed peek: most of the time the list is empty and we skip the RMW.
        let mut old = self.word.load(Ordering::Relaxed);
        loop {
            if old & !TAG_MASK == 0 {
                return ptr::null_mut();
            }
            // Acquire: pairs with the Release CAS in `push`, making each
            // block's `next` link visible before we follow it.
            match self.word.compare_exchange_weak(
                old,
                old & TAG_MASK,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (old & !TAG_MASK) as *mut Block,
                Err(cur) => old = cur,
            }
        }
    }

    /// Owner: park the span as full. Succeeds only if no block is waiting and
    /// the tag is NORMAL.
    pub fn try_mark_full(&self) -> bool {
        // Release on success: the owner's span writes happen-before the
        // Acquire CAS of the freer that wins the notification (and so before
        // whoever adopts the span after it). Relaxed on failure: the caller
        // collects next, and `take_all` acquires on its own.
        self.word
            .compare_exchange(NORMAL, FULL, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Owner: un-park a span it had marked full. Waits out a notification in
    /// flight; see the module docs, transition 4.
    pub fn clear_full(&self) -> Cleared {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with `finish_notify`'s Release (see there).
            let cur = self.word.load(Ordering::Acquire);
            match cur & TAG_MASK {
                FULL => {
                    // Relaxed: a FULL word holds no block (any push turns FULL
                    // into NOTIFYING), so there is nothing to acquire, and
                    // nothing of ours needs publishing to a freer.
                    if self
                        .word
                        .compare_exchange_weak(
                            cur,
                            cur & !TAG_MASK,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        return Cleared::Quiet;
                    }
                }
                NOTIFYING => {
                    spins += 1;
                    if spins < 64 {
                        spin_hint();
                    } else {
                        yield_now();
                    }
                }
                _ => return Cleared::AlreadyNotified,
            }
        }
    }

    /// Is the tag FULL or NOTIFYING? (Diagnostics and assertions.)
    pub fn is_parked(&self) -> bool {
        // Relaxed: a snapshot for assertions.
        self.word.load(Ordering::Relaxed) & TAG_MASK != NORMAL
    }

    /// Is anything waiting on the list? (A hint; it may change at once.)
    #[inline]
    pub fn has_blocks(&self) -> bool {
        // Relaxed: a hint; `take_all` does the real, ordered read.
        self.word.load(Ordering::Relaxed) & !TAG_MASK != 0
    }
}

#[cfg(not(loom))]
impl Default for ThreadFree {
    fn default() -> Self {
        Self::new()
    }
}

/// The gate every notification (the span push of transition 3 and the
/// `finish_notify` that ends it) runs inside, so that `fork` can wait until
/// none is half done.
///
/// Why: a notification leaves the span NOTIFYING until its freer calls
/// `finish_notify`. If `fork` copied the process in between, the child would
/// inherit a NOTIFYING span and no thread to finish it, and its owner would
/// wait in `clear_full` forever. The fork prepare handler closes the gate and
/// waits for the notifications inside to leave; new ones wait outside until
/// the parent and child reopen it. Plain remote frees (`try_push`) never
/// touch the gate.
///
/// `state` = number of notifiers inside, plus `CLOSED` while a fork runs.
pub struct NotifyGate {
    state: AtomicUsize,
}

const CLOSED: usize = 1 << (usize::BITS - 1);

impl NotifyGate {
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        NotifyGate {
            state: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    pub fn new() -> Self {
        NotifyGate {
            state: AtomicUsize::new(0),
        }
    }

    /// Enter, waiting while the gate is closed.
    pub fn enter(&self) {
        let mut spins = 0u32;
        loop {
            // Relaxed: the CAS below validates it.
            let cur = self.state.load(Ordering::Relaxed);
            // Acquire: pairs with `close`'s and `open`'s Release so the
            // notification starts after a fork that already finished.
            if cur & CLOSED == 0
                && self
                    .state
                    .compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            spins += 1;
            if spins < 64 {
                spin_hint();
            } else {
                yield_now();
            }
        }
    }

    /// Leave (the notification is complete).
    pub fn exit(&self) {
        // Release: the notification's writes (the span push, finish_notify)
        // happen-before `close` sees the count drop.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// Close the gate and wait for every notifier inside to leave (the fork
    /// prepare handler).
    pub fn close(&self) {
        // AcqRel on the RMW and Acquire on the loads: pairs with `exit`.
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) != CLOSED {
            spins += 1;
            if spins < 64 {
                spin_hint();
            } else {
                yield_now();
            }
        }
    }

    /// Reopen after `fork` (in the parent and in the child).
    pub fn open(&self) {
        // Release: pairs with the Acquire CAS in `enter`.
        self.state.fetch_and(!CLOSED, Ordering::Release);
    }
}

#[cfg(not(loom))]
impl Default for NotifyGate {
    fn default() -> Self {
        Self::new()
    }
}

/// Something that can sit on a [`ReclaimStack`]: it has one link for it.
pub trait StackLink: Sized {
    fn stack_next(&self) -> &AtomicPtr<Self>;
}

/// Many pushers, one owner that takes everything at once: see the module docs.
pub struct ReclaimStack<T: StackLink> {
    head: AtomicPtr<T>,
}

impl<T: StackLink> ReclaimStack<T> {
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        ReclaimStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    pub fn new() -> Self {
        ReclaimStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Push `node`.
    ///
    /// # Safety
    /// `node` is valid, stays valid until the owner has taken it, and is on no
    /// reclaim stack (it is not reachable from any stack's `take_all` result
    /// that has not been fully walked).
    pub unsafe fn push(&self, node: *mut T) {
        // Relaxed: the CAS validates it.
        let mut old = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed store of the link: published by the Release CAS below.
            // SAFETY: the caller guarantees `node` is valid.
            unsafe { (*node).stack_next().store(old, Ordering::Relaxed) };
            // Release: pairs with the Acquire swap in `take_all`.
            match self
                .head
                .compare_exchange_weak(old, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(cur) => old = cur,
            }
        }
    }

    /// Owner: take the whole stack. Walk it with `stack_next`.
    pub fn take_all(&self) -> *mut T {
        // Relaxed peek avoids the RMW when empty (the common case).
        if self.head.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: pairs with `push`'s Release; the links are visible.
        self.head.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// Is the stack empty? (A hint.)
    pub fn is_empty(&self) -> bool {
        // Relaxed: a hint.
        self.head.load(Ordering::Relaxed).is_null()
    }
}

#[cfg(not(loom))]
impl<T: StackLink> Default for ReclaimStack<T> {
    fn default() -> Self {
        Self::new()
    }
}
