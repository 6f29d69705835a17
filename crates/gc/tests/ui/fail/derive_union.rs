// The collector cannot know which field of a union is live, so it cannot
// trace one: tracing `addr` as a `Gc` when `bits` was written would mark a
// wild pointer, and not tracing it would miss a live one.
use tricolor_gc::{Gc, Trace};

#[derive(Trace)]
union Either<'gc> {
    addr: Gc<'gc, u32>,
    bits: usize,
}

fn main() {}
