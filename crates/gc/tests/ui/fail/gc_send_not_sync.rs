// A `Gc` gives shared access to its object from any thread that holds it,
// so it may cross threads only if the object is `Sync`. An object with a
// `Lock` (a `Cell` inside) is not: two threads could `get`/`set` it at once.
use tricolor_gc::{Config, Gc, Heap, Lock, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        let g = Gc::new(mc, Lock::new(1u32));
        std::thread::scope(|s| {
            s.spawn(move || g.get());
        });
    });
}
