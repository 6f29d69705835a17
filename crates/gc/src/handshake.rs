//! The world-stop handshake between mutators and the collector, on its own
//! so that the loom model (`tests/loom_world.rs`) runs this very code.
//!
//! Each side stores its own variable, issues a sequentially consistent
//! fence, then loads the other side's variable (Dekker):
//!
//! ```text
//!   collector                               mutator entering a scope
//!   stopping = true                         state = INSIDE
//!   fence(SeqCst)                           fence(SeqCst)
//!   every state == OUTSIDE? (Acquire)       stopping? (Acquire)
//!                                             yes: state = OUTSIDE (Release), back out
//! ```
//!
//! The two fences are ordered in the single total order of SeqCst
//! operations; whichever comes second is followed by a load that sees the
//! other side's store. So either the collector sees `INSIDE` (and waits for
//! the scope to end) or the mutator sees `stopping` (and backs out); they
//! cannot both proceed. Release/Acquire alone is not enough: it allows both
//! loads to read the old values (a store buffer delays each store past the
//! other side's load), and then a mutator runs inside its scope while the
//! collector marks. (Fences rather than SeqCst accesses because the loom
//! model checks fences exactly but models SeqCst accesses as AcqRel; the
//! cost on x86 is the same one `mfence` a SeqCst store would pay.)
//!
//! Data: `leave` stores `OUTSIDE` with Release and the collector loads it
//! with Acquire, so everything the scope wrote happens-before the marking;
//! `end_stop` stores `false` with Release and `try_enter` loads it with
//! Acquire, so everything the collector did happens-before the next scope.
//! `leave` then fences and loads `stopping` to decide whether to wake the
//! collector (the waking goes through the world lock, `collector.rs`).

use crate::sync::{fence, AtomicBool, AtomicU8, Ordering};

/// A mutator is outside any mutation scope (at a safepoint).
pub const OUTSIDE: u8 = 0;
/// A mutator is running a mutation scope.
pub const INSIDE: u8 = 1;

/// Try to enter a scope. False: the world is stopping; the caller must wait
/// for the stop to end and try again.
#[inline]
pub fn try_enter(state: &AtomicU8, stopping: &AtomicBool) -> bool {
    // Relaxed store + SeqCst fence + Acquire load: the mutator half of the
    // Dekker handshake (module docs); the Acquire pairs with `end_stop`.
    state.store(INSIDE, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    if !stopping.load(Ordering::Acquire) {
        return true;
    }
    // Release: pairs with the collector's Acquire in `is_outside`.
    state.store(OUTSIDE, Ordering::Release);
    false
}

/// Leave a scope. Returns whether a stop is pending (then wake the collector).
#[inline]
pub fn leave(state: &AtomicU8, stopping: &AtomicBool) -> bool {
    // Release: publishes the scope's writes to the collector's Acquire in
    // `is_outside`. The fence orders this store before the load of
    // `stopping` (the same Dekker argument: a collector that began a stop
    // either sees OUTSIDE or is seen here and woken).
    state.store(OUTSIDE, Ordering::Release);
    fence(Ordering::SeqCst);
    stopping.load(Ordering::Relaxed)
}

/// Enter a scope that another open scope of the same heap on this thread
/// already protects: the world cannot be stopped while that scope is open
/// (the collector waits for it), so there is nothing to check.
#[inline]
pub fn enter_nested(state: &AtomicU8) {
    // Relaxed: nothing to publish or observe (see above).
    state.store(INSIDE, Ordering::Relaxed);
}

/// The collector: announce a stop.
#[inline]
pub fn begin_stop(stopping: &AtomicBool) {
    // Relaxed store + SeqCst fence: the collector half of the handshake.
    stopping.store(true, Ordering::Relaxed);
    fence(Ordering::SeqCst);
}

/// The collector: is this mutator outside its scope?
#[inline]
pub fn is_outside(state: &AtomicU8) -> bool {
    // Acquire: pairs with the Release stores of OUTSIDE (the scope's writes
    // happen-before the marking that follows).
    state.load(Ordering::Acquire) == OUTSIDE
}

/// The collector: let the world run again.
#[inline]
pub fn end_stop(stopping: &AtomicBool) {
    // Release: pairs with the Acquire in `try_enter`: the collector's work
    // happens-before the next scope.
    stopping.store(false, Ordering::Release);
}
