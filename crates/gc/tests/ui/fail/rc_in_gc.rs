// The sweeper runs destructors on its own thread (observed: with repeated
// `collect`s, 12-52% of 100 000 destructors ran on a thread other than the
// mutator's). An `Rc` in a collected object would be dropped there while
// this thread clones the other handle: a data race on the non-atomic
// reference count. So `Rc` is not `Trace`, and the std cells and `Arc` are
// `Trace` only for `Send` contents (trace.rs): every `Trace` type's drop
// glue must be sound on any thread.
use std::rc::Rc;
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    let shared = Rc::new(String::from("shared"));
    m.mutate(|mc, _| {
        Gc::new(mc, shared.clone());
    });
    m.collect();
    for _ in 0..1000 {
        let _ = shared.clone();
    }
}
