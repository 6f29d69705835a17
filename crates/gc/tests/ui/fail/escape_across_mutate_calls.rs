// A `Gc` of one scope must not be used in the next scope of the same
// mutator: between the two the mutator is at a safepoint where a cycle may
// run, and the object is not reachable from the root. Here it is kept in a
// vector that lives across both calls and stored into the root in the
// second one, which would make the root point to a freed object.
use tricolor_gc::{Config, Gc, Heap, Lock, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Lock<Option<Gc<'gc, u32>>>]> =
        heap.mutator(|_| Lock::new(None));
    let mut kept = Vec::new();
    m.mutate(|mc, _| kept.push(Gc::new(mc, 1u32)));
    m.collect();
    m.mutate(|mc, root| root.set(mc, Some(kept[0])));
}
