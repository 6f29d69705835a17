// A misspelled option must not silently change what is traced: an unknown
// `#[trace(...)]` key is an error at the key.
use tricolor_gc::{Gc, Trace};

#[derive(Trace)]
struct Holder<'gc> {
    #[trace(unsafe_skp)]
    target: Gc<'gc, u32>,
}

fn main() {}
