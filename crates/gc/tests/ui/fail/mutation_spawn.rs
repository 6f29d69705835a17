// As `mutation_send.rs`, with `std::thread::spawn`: the mutation context
// must not reach another thread. (The closure is not `'static` either, but
// the error that must come first is the thread-safety one.)
use tricolor_gc::{Config, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => ()]> = heap.mutator(|_| ());
    m.mutate(|mc, _| {
        std::thread::spawn(move || mc.heap_id()).join().unwrap();
    });
}
