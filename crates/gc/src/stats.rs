//! `Heap::stats()`: what the collector did.

use crate::heap::HeapInner;
use core::sync::atomic::Ordering;
use std::time::Duration;

/// One cycle, as recorded by the collector.
#[derive(Clone, Copy, Debug, Default)]
pub struct CycleRecord {
    /// World stopped → world restarted.
    pub pause: Duration,
    /// Cycle requested → every mutator at a safepoint.
    pub to_safepoint: Duration,
    /// Finishing the previous sweep, inside the pause.
    pub sweep_finish: Duration,
    /// Marking (and checkmark), inside the pause.
    pub mark: Duration,
    pub marked_bytes: usize,
    pub marked_objects: usize,
    /// Allocated since the previous cycle (counted when caches hand spans back).
    pub allocated_bytes: usize,
    pub allocated_objects: usize,
    /// Bytes of spans at the end of the cycle, and the next goal.
    pub heap_bytes: usize,
    pub goal: usize,
}

/// Pauses kept for percentiles and MMU (the most recent ones).
const KEEP: usize = 1 << 16;

/// One stop-the-world pause, timed by the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseEvent {
    /// When the world was stopped, measured from the heap's creation.
    pub start: Duration,
    /// Stopped → restarted.
    pub length: Duration,
    /// The wait before `start` for every mutator to reach a safepoint;
    /// mutators that tried to enter a scope were held during it, so a
    /// utilisation curve should count `[start - to_safepoint, start +
    /// length)` as the disruption.
    pub to_safepoint: Duration,
}

#[derive(Default)]
pub struct StatsInner {
    pub cycles: u64,
    pub last: CycleRecord,
    pub pause_total: Duration,
    pub pause_max: Duration,
    pub to_safepoint_max: Duration,
    pub allocated_bytes: usize,
    pub allocated_objects: usize,
    pub pauses: std::collections::VecDeque<PauseEvent>,
    /// The largest heap seen at the end of a cycle.
    pub peak_heap_bytes: usize,
}

impl StatsInner {
    pub fn record_cycle(&mut self, r: CycleRecord, start: Duration) {
        self.cycles += 1;
        self.last = r;
        self.pause_total += r.pause;
        self.pause_max = self.pause_max.max(r.pause);
        self.to_safepoint_max = self.to_safepoint_max.max(r.to_safepoint);
        self.allocated_bytes += r.allocated_bytes;
        self.allocated_objects += r.allocated_objects;
        self.peak_heap_bytes = self.peak_heap_bytes.max(r.heap_bytes);
        if self.pauses.len() == KEEP {
            self.pauses.pop_front();
        }
        self.pauses.push_back(PauseEvent {
            start,
            length: r.pause,
            to_safepoint: r.to_safepoint,
        });
    }
}

/// A snapshot of a heap's collector figures.
#[derive(Clone, Debug, Default)]
pub struct GcStats {
    /// Completed cycles.
    pub cycles: u64,
    /// Bytes marked by the last cycle (the live heap it found).
    pub live_bytes: usize,
    pub live_objects: usize,
    /// Bytes of spans now (what the heap holds from the page heap).
    pub heap_bytes: usize,
    /// The heap size at which the next cycle is requested.
    pub goal_bytes: usize,
    /// Bytes and objects allocated in completed cycles' intervals (counted
    /// when caches hand spans back, so the current interval is not included).
    pub allocated_bytes: usize,
    pub allocated_objects: usize,
    pub last_pause: Duration,
    /// Of the last pause: finishing the previous sweep, and marking.
    pub last_sweep_finish: Duration,
    pub last_mark: Duration,
    pub pause_total: Duration,
    pub pause_max: Duration,
    /// The longest wait for every mutator to reach a safepoint.
    pub to_safepoint_max: Duration,
    /// The most recent pauses (up to 65536), oldest first, with their start
    /// times (for minimum-mutator-utilisation curves).
    pub pauses: Vec<PauseEvent>,
    /// Time since the heap was created (the clock of `PauseEvent::start`).
    pub uptime: Duration,
    /// `Root` handles alive.
    pub roots: usize,
    /// The goal the last cycle set, and the largest heap a cycle ended with.
    pub last_goal: usize,
    pub peak_heap_bytes: usize,
}

pub fn snapshot(heap: &HeapInner) -> GcStats {
    let s = heap.stats.lock().unwrap_or_else(|e| e.into_inner());
    GcStats {
        cycles: s.cycles,
        live_bytes: s.last.marked_bytes,
        live_objects: s.last.marked_objects,
        // Relaxed: counters.
        heap_bytes: heap.span_bytes.load(Ordering::Relaxed),
        goal_bytes: heap.goal.load(Ordering::Relaxed),
        allocated_bytes: s.allocated_bytes,
        allocated_objects: s.allocated_objects,
        last_pause: s.last.pause,
        last_sweep_finish: s.last.sweep_finish,
        last_mark: s.last.mark,
        pause_total: s.pause_total,
        pause_max: s.pause_max,
        to_safepoint_max: s.to_safepoint_max,
        pauses: s.pauses.iter().copied().collect(),
        uptime: heap.created.elapsed(),
        roots: heap.roots.len(),
        last_goal: s.last.goal,
        peak_heap_bytes: s.peak_heap_bytes,
    }
}
