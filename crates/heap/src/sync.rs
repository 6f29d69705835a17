//! The concurrency facade: every atomic and every blocking primitive the
//! allocator uses comes through here, so that the loom models (`tests/loom_*.rs`,
//! built with `RUSTFLAGS="--cfg loom"`) swap in loom's checked versions of the
//! very same protocol code, the way tokio and crossbeam do it.
//!
//! Only the protocol modules (`remote.rs`, `lock.rs`) need to be loom-checkable;
//! the global heap itself is not instantiated under loom.

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// Give up the processor while waiting for another thread (a spin loop's
/// back-off once spinning stops paying). Under loom this is loom's yield,
/// which tells the model checker that the thread waits for another.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// A CPU relaxation hint for the first few rounds of a spin loop.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
