// A `Gc` must not be smuggled out of its scope through a captured variable
// either: `out` outlives the scope, so after `m.collect()` it would hold a
// pointer to a freed object.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    let mut out = None;
    m.mutate(|mc, _| out = Some(Gc::new(mc, 1u32)));
    m.collect();
    println!("{}", *out.unwrap());
}
