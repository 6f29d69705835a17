// Storing a `Gc` into an object already in the heap must run the write
// barrier, or a concurrent mark can miss the new pointer and free its
// target. `std::cell::Cell::set` runs no barrier, so `Cell` is `Trace` only
// for `'static` contents, which cannot hold a `Gc`; the barriered cell is
// `Lock`.
use std::cell::Cell;
use tricolor_gc::{Gc, Trace};

#[derive(Trace)]
struct Holder<'gc> {
    slot: Cell<Option<Gc<'gc, u32>>>,
}

fn main() {}
