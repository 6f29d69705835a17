// Every field of a derived type is traced, so every field's type must be
// `Trace`. `Plain` holds a `Gc` but has no `Trace` impl: if the derive let
// it through, the marker would never see `Plain`'s pointer and would free
// the object it points to.
use tricolor_gc::{Gc, Trace};

struct Plain<'gc> {
    target: Gc<'gc, u32>,
}

#[derive(Trace)]
struct Holder<'gc> {
    plain: Plain<'gc>,
    count: u32,
}

fn main() {}
