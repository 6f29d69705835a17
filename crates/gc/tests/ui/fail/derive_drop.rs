// A destructor of a collected object runs when the sweeper frees it, after
// the objects it points to may already have been freed in the same cycle:
// this `drop` would read freed memory. The derive refuses a `Drop` impl
// unless the type says `#[trace(unsafe_drop)]`.
use tricolor_gc::{Gc, Trace};

#[derive(Trace)]
struct Noisy<'gc> {
    target: Gc<'gc, u32>,
}

impl Drop for Noisy<'_> {
    fn drop(&mut self) {
        println!("{}", *self.target);
    }
}

fn main() {}
