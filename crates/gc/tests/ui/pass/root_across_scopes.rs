// A `Root` keeps an object alive across scopes and collections; `get`
// brands it with the new scope.
use tricolor_gc::{Config, Gc, Heap, Mutator, Root, Rootable, Trace};

#[derive(Trace)]
struct Leaf<'gc> {
    value: u32,
    child: Option<Gc<'gc, Leaf<'gc>>>,
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    let root: Root<Rootable!['gc => Leaf<'gc>]> = m.mutate(|mc, _| {
        let child = Gc::new(mc, Leaf { value: 2, child: None });
        mc.root(Gc::new(mc, Leaf { value: 1, child: Some(child) }))
    });
    m.collect();
    m.mutate(|mc, _| {
        for _ in 0..1000 {
            Gc::new(mc, Leaf { value: 0, child: None });
        }
    });
    m.collect();
    let sum = m.mutate(|mc, _| {
        let leaf = root.get(mc);
        leaf.value + leaf.child.unwrap().value
    });
    assert_eq!(sum, 3);
}
