// A type that contains itself through `Gc` derives `Trace` (no bounds on
// field types), and the collector keeps a linked list reachable from the
// root alive across collections.
use tricolor_gc::{Config, Gc, Heap, Lock, Mutator, Rootable, Trace};

#[derive(Trace)]
struct Node<'gc> {
    value: u32,
    next: Lock<Option<Gc<'gc, Node<'gc>>>>,
}

fn main() {
    assert!(<Node<'static> as Trace>::NEEDS_TRACE);
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, Node<'gc>>]> =
        heap.mutator(|mc| Gc::new(mc, Node { value: 0, next: Lock::new(None) }));
    m.mutate(|mc, root| {
        let mut tail = *root;
        for value in 1..100 {
            let n = Gc::new(mc, Node { value, next: Lock::new(None) });
            tail.next.set(mc, Some(n));
            tail = n;
        }
    });
    m.collect();
    let sum = m.mutate(|_, root| {
        let mut sum = 0;
        let mut cur = Some(*root);
        while let Some(n) = cur {
            sum += n.value;
            cur = n.next.get();
        }
        sum
    });
    assert_eq!(sum, (0..100).sum::<u32>());
}
