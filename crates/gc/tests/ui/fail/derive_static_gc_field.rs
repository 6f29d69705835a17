// `#[trace(static)]` leaves a field untraced on the grounds that a
// `'static` type cannot hold a `Gc`. A `Gc<'gc, _>` is not `'static`, so
// the derive must refuse it here, at the definition, rather than leave the
// pointer untraced.
use tricolor_gc::{Gc, Trace};

#[derive(Trace)]
struct Holder<'gc> {
    #[trace(static)]
    target: Gc<'gc, u32>,
}

fn main() {}
