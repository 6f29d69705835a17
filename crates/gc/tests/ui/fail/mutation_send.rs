// Only the scope's own thread may allocate or run write barriers: the
// mutation context drives this mutator's unsynchronised allocation cache.
// `Mutation` is neither `Send` nor `Sync`, so not even a scoped thread
// (which would satisfy every lifetime) may use it.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        std::thread::scope(|s| {
            s.spawn(|| Gc::new(mc, 1u32));
        });
    });
}
