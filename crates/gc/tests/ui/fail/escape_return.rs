// A `Gc` must not leave the scope it was made in: after `mutate` returns,
// the mutator is at a safepoint and only its root object and `Root`
// handles keep objects alive, so `m.collect()` frees the object and
// `*escaped` would read freed memory. The closure's result type cannot name
// the scope's lifetime `'gc`.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    let escaped = m.mutate(|mc, _| Gc::new(mc, 1u32));
    m.collect();
    println!("{}", *escaped);
}
