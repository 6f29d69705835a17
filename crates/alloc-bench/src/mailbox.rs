//! Batches of blocks and the mailboxes that move them between threads.
//!
//! The cross-thread workloads (`xmalloc-test`, `rptest`) hand blocks from
//! the thread that allocated them to the thread that frees them. As in the
//! C originals, the container itself is allocated from the allocator under
//! test, so the hand-off path touches nothing but that allocator and a
//! futex-based `std::sync::Mutex` (which does not allocate).
//!
//! Glossary:
//! - [`Batch`]: one allocation holding up to [`BATCH_CAP`] [`Block`]s and an
//!   intrusive `next` link.
//! - [`Mailbox`]: a LIFO stack of batches behind a mutex. Blocking receivers
//!   wait on a condvar; a bounded mailbox also makes senders wait, which
//!   keeps the producer/consumer workload's footprint bounded.
//!
//! Lock order: a thread holds at most one mailbox lock at a time.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::block::Block;

/// Blocks per batch: 64, a cache-friendly hand-off unit (1 KiB of `Block`s);
/// xmalloc-test moves blocks in batches for the same reason.
pub const BATCH_CAP: usize = 64;

/// A batch of blocks in transit. Lives in memory from the allocator under
/// test; `len <= BATCH_CAP` and `blocks[..len]` are live.
pub struct Batch {
    next: *mut Batch,
    len: usize,
    blocks: [Block; BATCH_CAP],
}

impl Batch {
    /// Allocates an empty batch from `a`.
    pub fn new<A: GlobalAlloc + ?Sized>(a: &A) -> *mut Batch {
        let l = Layout::new::<Batch>();
        // SAFETY: `Batch` is not zero-sized.
        let b = unsafe { a.alloc(l) }.cast::<Batch>();
        if b.is_null() {
            std::alloc::handle_alloc_error(l);
        }
        // SAFETY: `b` is a fresh, aligned allocation for one `Batch`; only
        // the header is initialised, `blocks[len..]` is never read.
        unsafe {
            ptr::addr_of_mut!((*b).next).write(ptr::null_mut());
            ptr::addr_of_mut!((*b).len).write(0);
        }
        b
    }

    /// Appends `blk`; returns false (and does nothing) when full.
    ///
    /// # Safety
    /// `b` is a live batch owned by the calling thread.
    pub unsafe fn push(b: *mut Batch, blk: Block) -> bool {
        // SAFETY: the caller owns `b`, so nothing else accesses it.
        let b = unsafe { &mut *b };
        if b.len == BATCH_CAP {
            return false;
        }
        b.blocks[b.len] = blk;
        b.len += 1;
        true
    }

    /// Number of blocks in `b`.
    ///
    /// # Safety
    /// `b` is a live batch owned by the calling thread.
    pub unsafe fn len(b: *mut Batch) -> usize {
        // SAFETY: the caller owns `b`.
        unsafe { (*b).len }
    }

    /// Calls `f` on every block of `b`, then frees `b` itself.
    ///
    /// # Safety
    /// `b` is a live batch from `a`, owned by the calling thread, not used
    /// afterwards.
    pub unsafe fn drain<A: GlobalAlloc + ?Sized>(a: &A, b: *mut Batch, mut f: impl FnMut(Block)) {
        // SAFETY: the caller owns `b`; `blocks[..len]` were initialised by
        // `push`.
        unsafe {
            for i in 0..(*b).len {
                f((*b).blocks[i]);
            }
            a.dealloc(b.cast(), Layout::new::<Batch>());
        }
    }
}

struct Stack {
    head: *mut Batch,
    len: usize,
    closed: bool,
}

// SAFETY: the batches linked from `head` are owned by the mailbox and only
// touched by the thread holding its lock.
unsafe impl Send for Stack {}

/// A stack of batches shared between threads (see the module docs).
pub struct Mailbox {
    /// Protects the list, its length and the closed flag.
    stack: Mutex<Stack>,
    /// Signalled when a batch is pushed or the mailbox is closed.
    filled: Condvar,
    /// Signalled when a batch is popped (only waited on when bounded).
    drained: Condvar,
    /// Senders wait while `len >= bound`; 0 means unbounded.
    bound: usize,
}

impl Mailbox {
    /// A mailbox holding at most `bound` batches (0: unbounded).
    pub fn new(bound: usize) -> Self {
        Mailbox {
            stack: Mutex::new(Stack {
                head: ptr::null_mut(),
                len: 0,
                closed: false,
            }),
            filled: Condvar::new(),
            drained: Condvar::new(),
            bound,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Stack> {
        // A poisoned lock means a worker panicked; the scope re-raises that
        // panic, so carrying on here is harmless.
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `b` over, waiting while the mailbox is full.
    ///
    /// # Safety
    /// `b` is a live batch owned by the caller; ownership passes to the
    /// mailbox.
    pub unsafe fn send(&self, b: *mut Batch) {
        let mut s = self.lock();
        while self.bound != 0 && s.len >= self.bound {
            s = self.drained.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        // SAFETY: the caller gave us `b`; we hold the lock for `head`.
        unsafe { (*b).next = s.head };
        s.head = b;
        s.len += 1;
        drop(s);
        self.filled.notify_one();
    }

    /// Takes one batch, waiting until there is one; `None` once the mailbox
    /// is closed and empty.
    pub fn recv(&self) -> Option<*mut Batch> {
        let mut s = self.lock();
        loop {
            if !s.head.is_null() {
                let b = s.head;
                // SAFETY: `b` is linked in the stack, which we hold locked.
                s.head = unsafe { (*b).next };
                s.len -= 1;
                drop(s);
                if self.bound != 0 {
                    self.drained.notify_one();
                }
                return Some(b);
            }
            if s.closed {
                return None;
            }
            s = self.filled.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Takes every batch without waiting; returns the head of a `next`-linked
    /// list (possibly null) for [`Mailbox::free_list`].
    pub fn take_all(&self) -> *mut Batch {
        let mut s = self.lock();
        s.len = 0;
        core::mem::replace(&mut s.head, ptr::null_mut())
    }

    /// Walks a list from [`Mailbox::take_all`], calling `f` on every block
    /// and freeing the batches.
    ///
    /// # Safety
    /// `list` came from `take_all` on a mailbox whose batches were allocated
    /// from `a`; the caller owns it.
    pub unsafe fn free_list<A: GlobalAlloc + ?Sized>(
        a: &A,
        mut list: *mut Batch,
        mut f: impl FnMut(Block),
    ) {
        while !list.is_null() {
            // SAFETY: the caller owns the list; read `next` before freeing.
            let next = unsafe { (*list).next };
            // SAFETY: `list` is a live batch from `a` that we own.
            unsafe { Batch::drain(a, list, &mut f) };
            list = next;
        }
    }

    /// Wakes every receiver; `recv` returns `None` once the stack is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.filled.notify_all();
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let s = self.stack.get_mut().unwrap_or_else(|e| e.into_inner());
        // Workloads drain every mailbox before dropping it; the blocks of a
        // leftover batch (after a worker panic) are leaked, not freed, since
        // the allocator they came from is not known here.
        debug_assert!(s.head.is_null() || std::thread::panicking());
    }
}
