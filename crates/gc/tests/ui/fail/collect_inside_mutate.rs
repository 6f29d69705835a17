// A collection must not run while a scope holds unrooted `Gc`s: `g` is
// reachable from nothing the collector scans, so a cycle here would free
// it under the scope's feet. `mutate` borrows the mutator mutably for the
// whole scope, so `collect` cannot be called from inside.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        let g = Gc::new(mc, 1u32);
        m.collect();
        println!("{}", *g);
    });
}
