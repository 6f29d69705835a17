// `#[trace(unsafe_drop)]` lets a derived type implement `Drop`; this one
// only touches a plain counter (never a `Gc` field), which is what the
// opt-in promises. The sweeper runs it once the object is garbage.
use std::sync::atomic::{AtomicUsize, Ordering};
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable, Trace};

static DROPPED: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
#[trace(unsafe_drop)]
struct Counted<'gc> {
    _target: Option<Gc<'gc, u32>>,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        for _ in 0..100 {
            Gc::new(mc, Counted { _target: Some(Gc::new(mc, 1)) });
        }
    });
    // Every object is dead: a sweep (lazy, background, or the next cycle's
    // `finish`) or, at the latest, the heap's own drop runs each destructor
    // exactly once.
    m.collect();
    m.collect();
    drop(m);
    drop(heap);
    assert_eq!(DROPPED.load(Ordering::Relaxed), 100);
}
