//! `RawLock`: the allocator's mutex.
//!
//! The allocator cannot use `std::sync::Mutex` (its guard cannot be held across
//! the `pthread_atfork` prepare/parent/child callbacks) nor `parking_lot`
//! (its parking table allocates through the global allocator, which may be
//! us). So it has its own: a three-state futex mutex ("Futexes Are Tricky",
//! Drepper 2011, mutex #3), with a short spin before sleeping because the
//! critical sections it guards (a central list push, a page-bitmap update) are
//! a few hundred nanoseconds.
//!
//! States of `state`:
//!
//! | value | meaning                                  |
//! |-------|------------------------------------------|
//! | 0     | unlocked                                 |
//! | 1     | locked, nobody sleeping                  |
//! | 2     | locked, a thread may be sleeping on it   |
//!
//! Under loom the futex is emulated with a loom `Mutex` + `Condvar` (wait
//! checks the value and sleeps atomically with respect to wake, as the kernel
//! does), so a lost wake-up shows up as a deadlock; and the spin phase is
//! shortened (a spin is a loom yield). The state machine is the same.

#[cfg(all(not(loom), not(target_os = "linux")))]
use crate::sync::yield_now;
use crate::sync::{spin_hint, AtomicU32, Ordering};

/// A non-reentrant mutual exclusion lock with explicit `lock`/`unlock`, usable
/// from `pthread_atfork` handlers and from inside the global allocator (it
/// never allocates and never panics).
pub struct RawLock {
    state: AtomicU32,
    /// Under loom: the kernel's wait queue for `state` (see the module docs).
    #[cfg(loom)]
    futex: (loom::sync::Mutex<()>, loom::sync::Condvar),
}

/// Spins before the first sleep. The critical sections are short; a handful
/// of `pause`s (each ~40 cycles on current x86) usually sees the holder leave.
/// (Under loom each spin is a yield, and two are enough to reach every path.)
const SPINS_BEFORE_SLEEP: u32 = if cfg!(loom) { 2 } else { 64 };

impl RawLock {
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawLock {
            state: AtomicU32::new(0),
        }
    }

    #[cfg(loom)]
    pub fn new() -> Self {
        RawLock {
            state: AtomicU32::new(0),
            futex: (loom::sync::Mutex::new(()), loom::sync::Condvar::new()),
        }
    }

    /// Acquire the lock, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) {
        // Acquire: pairs with the Release in `unlock`, so everything the
        // previous holder wrote inside the critical section is visible here.
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        for _ in 0..SPINS_BEFORE_SLEEP {
            spin_hint();
            // Relaxed peek: only the CAS below takes the lock, with Acquire.
            if self.state.load(Ordering::Relaxed) == 0
                && self
                    .state
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // Announce a sleeper (state 2) and sleep until the swap finds it free.
        // Acquire on the successful swap (returns 0) pairs with `unlock`.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            self.wait_while_contended();
        }
    }

    /// Try to take the lock without waiting.
    #[inline]
    pub fn try_lock(&self) -> bool {
        // Acquire: as in `lock`.
        self.state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Release the lock.
    ///
    /// # Safety
    /// The calling thread holds the lock (it returned from `lock` or a
    /// successful `try_lock` and has not unlocked since). The one exception is
    /// the fork child handler, where the holder was this very thread before
    /// `fork` duplicated it.
    #[inline]
    pub unsafe fn unlock(&self) {
        // Release: publishes the critical section to the next `lock`'s Acquire.
        if self.state.swap(0, Ordering::Release) == 2 {
            self.wake_one();
        }
    }

    /// Reset to unlocked without waking anyone: the fork child's handler, where
    /// the only thread is the one that held every lock across `fork`.
    ///
    /// # Safety
    /// Only in a freshly forked child, by its only thread.
    pub unsafe fn force_unlock_in_child(&self) {
        // Relaxed: the child has one thread; there is nobody to publish to.
        self.state.store(0, Ordering::Relaxed);
    }

    #[cfg(all(not(loom), target_os = "linux"))]
    fn wait_while_contended(&self) {
        // SAFETY: FUTEX_WAIT reads the u32 behind `as_ptr`, which lives as long
        // as `self`; it sleeps only while the value is still 2, so a wake that
        // raced ahead of us is not lost.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.state.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                2u32,
                core::ptr::null::<libc::timespec>(),
            );
        }
    }

    #[cfg(all(not(loom), target_os = "linux"))]
    fn wake_one(&self) {
        // SAFETY: FUTEX_WAKE only uses the address as a key.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.state.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1i32,
            );
        }
    }

    #[cfg(all(not(loom), not(target_os = "linux")))]
    fn wait_while_contended(&self) {
        yield_now();
    }

    #[cfg(all(not(loom), not(target_os = "linux")))]
    fn wake_one(&self) {}

    /// FUTEX_WAIT(state, 2), emulated: the check and the sleep are atomic
    /// with respect to `wake_one`, as under the kernel's futex bucket lock.
    #[cfg(loom)]
    fn wait_while_contended(&self) {
        let (queue, cv) = &self.futex;
        let guard = queue.lock().unwrap();
        // Relaxed: the kernel's read of the futex word orders nothing either.
        if self.state.load(Ordering::Relaxed) == 2 {
            drop(cv.wait(guard).unwrap());
        }
    }

    /// FUTEX_WAKE(state, 1), emulated.
    #[cfg(loom)]
    fn wake_one(&self) {
        let (queue, cv) = &self.futex;
        let _guard = queue.lock().unwrap();
        cv.notify_one();
    }

    /// Is the lock held by someone? For assertions only.
    pub fn is_locked(&self) -> bool {
        // Relaxed: a diagnostic snapshot.
        self.state.load(Ordering::Relaxed) != 0
    }
}

#[cfg(not(loom))]
impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn mutual_exclusion_under_contention() {
        struct Shared {
            lock: RawLock,
            counter: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: `counter` is only touched with `lock` held.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared {
            lock: RawLock::new(),
            counter: std::cell::UnsafeCell::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        s.lock.lock();
                        // SAFETY: the lock is held.
                        unsafe { *s.counter.get() += 1 };
                        // SAFETY: this thread holds the lock.
                        unsafe { s.lock.unlock() };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *s.counter.get() }, 80_000);
        assert!(!s.lock.is_locked());
    }

    #[test]
    fn try_lock_fails_while_held() {
        let l = RawLock::new();
        assert!(l.try_lock());
        assert!(!l.try_lock());
        // SAFETY: held by this thread.
        unsafe { l.unlock() };
        assert!(l.try_lock());
        // SAFETY: held by this thread.
        unsafe { l.unlock() };
    }
}
