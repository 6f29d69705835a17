// `mutate_root` gives `&mut` to the root; swapping the roots of two
// mutators (here of two heaps) would give each heap a root object that
// lives in the other heap, which neither collector traces. The roots carry
// different scope brands, so their types differ.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

type Root = Rootable!['gc => Gc<'gc, u32>];

fn main() {
    let heap_a = Heap::new(Config::default());
    let heap_b = Heap::new(Config::default());
    let mut a: Mutator<Root> = heap_a.mutator(|mc| Gc::new(mc, 1));
    let mut b: Mutator<Root> = heap_b.mutator(|mc| Gc::new(mc, 2));
    a.mutate_root(|_, root_a| {
        b.mutate_root(|_, root_b| std::mem::swap(root_a, root_b));
    });
}
