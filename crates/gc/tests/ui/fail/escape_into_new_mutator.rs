// A new mutator's root is made in a scope of its own: it must not be an
// object of the enclosing scope (here of another heap), which the new
// mutator's heap would never trace.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

type Root = Rootable!['gc => Gc<'gc, u32>];

fn main() {
    let heap_a = Heap::new(Config::default());
    let heap_b = Heap::new(Config::default());
    let mut a: Mutator<Root> = heap_a.mutator(|mc| Gc::new(mc, 1));
    let b: Mutator<Root> = a.mutate(|_, root_a| heap_b.mutator(|_| *root_a));
    drop(b);
}
