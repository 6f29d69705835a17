// `mutate_root` hands out `&mut` to the root, but what it reads from the
// root is still branded with the scope: returning the root's `Gc` and then
// replacing the root in a later scope would leave the returned pointer
// dangling after a collection.
use tricolor_gc::{Config, Gc, Heap, Mutator, Rootable};

fn main() {
    let heap = Heap::new(Config::default());
    let mut m: Mutator<Rootable!['gc => Gc<'gc, u32>]> = heap.mutator(|mc| Gc::new(mc, 1u32));
    let old = m.mutate_root(|_, root| *root);
    m.mutate_root(|mc, root| *root = Gc::new(mc, 2u32));
    m.collect();
    println!("{}", *old);
}
