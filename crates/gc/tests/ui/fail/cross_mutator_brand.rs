// Two mutators (here of two heaps) have different scope brands: a `Gc`
// made in `b`'s scope must not be stored into an object of `a`'s heap.
// Heap `a`'s collector would never trace into heap `b`, so `b`'s next
// collection would free the object that `a`'s root still points to.
// `'gc` is invariant, and each `mutate` closure is generic over its own.
use tricolor_gc::{Config, Gc, Heap, Lock, Mutator, Rootable, Trace};

#[derive(Trace)]
struct Node<'gc> {
    next: Lock<Option<Gc<'gc, Node<'gc>>>>,
}

type Root = Rootable!['gc => Gc<'gc, Node<'gc>>];

fn main() {
    let heap_a = Heap::new(Config::default());
    let heap_b = Heap::new(Config::default());
    let mut a: Mutator<Root> = heap_a.mutator(|mc| Gc::new(mc, Node { next: Lock::new(None) }));
    let mut b: Mutator<Root> = heap_b.mutator(|mc| Gc::new(mc, Node { next: Lock::new(None) }));
    a.mutate(|mc_a, root_a| {
        b.mutate(|mc_b, _| {
            let foreign = Gc::new(mc_b, Node { next: Lock::new(None) });
            root_a.next.set(mc_a, Some(foreign));
        });
    });
}
