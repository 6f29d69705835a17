// A hash map's `trace` reports only keys and values, never its hasher. A
// `BuildHasher` holding a `Gc` would be untraced: after `m.collect()` the
// map's hasher would point to a freed object (observed before the fix: the
// seed read 0 instead of 7 once later allocations reused the slot). So the
// impls require `S: 'static` (like the std cells), which a `Gc<'gc, _>` is
// not, and this program is refused.
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasher;
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

struct GcHasher<'gc>(Gc<'gc, u64>);

impl BuildHasher for GcHasher<'_> {
    type Hasher = DefaultHasher;
    fn build_hasher(&self) -> DefaultHasher {
        let _seed = *self.0;
        DefaultHasher::new()
    }
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, HashMap<u32, u32, GcHasher<'gc>>>]> =
        heap.mutator(|mc| {
            let mut map = HashMap::with_hasher(GcHasher(Gc::new(mc, 7)));
            map.insert(1, 1);
            Gc::new(mc, map)
        });
    m.collect();
    // Hashing reads the hasher's `Gc`, whose object was freed.
    m.mutate(|_, map| map.get(&1).copied());
}
