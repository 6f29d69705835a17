// The barriered cells are the way to store a `Gc` into a heap object (the
// control for `fail/cell_gc_*.rs`): `Lock::set` and `RefLock::borrow_mut`
// take the scope's `Mutation`, and what they store survives collections.
use tricolor_gc::{Config, Gc, Heap, Lock, Mutator, RefLock, Rootable, Trace};

#[derive(Trace)]
struct Holder<'gc> {
    slot: Lock<Option<Gc<'gc, u32>>>,
    list: RefLock<Vec<Gc<'gc, u32>>>,
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, Holder<'gc>>]> = heap.mutator(|mc| {
        Gc::new(mc, Holder { slot: Lock::new(None), list: RefLock::new(Vec::new()) })
    });
    m.mutate(|mc, root| {
        root.slot.set(mc, Some(Gc::new(mc, 1u32)));
        let mut list = root.list.borrow_mut(mc);
        for i in 0..10 {
            list.push(Gc::new(mc, i));
        }
    });
    m.collect();
    m.mutate(|mc, _| {
        for _ in 0..1000 {
            Gc::new(mc, 0u32);
        }
    });
    m.collect();
    let (one, sum) = m.mutate(|_, root| {
        let sum: u32 = root.list.borrow().iter().map(|g| **g).sum();
        (*root.slot.get().unwrap(), sum)
    });
    assert_eq!((one, sum), (1, 45));
}
