// As `cell_gc_field.rs`, without a derive: a `Cell` holding a `Gc` cannot
// be allocated in the heap, so `set` on it can never bypass the barrier.
use std::cell::Cell;
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        let holder = Gc::new(mc, Cell::new(None));
        holder.set(Some(Gc::new(mc, 1u32)));
    });
}
