// `#[trace(static)]` fields are dropped by the sweeper, on its own thread.
// An `Rc` dropped there while the mutator clones another handle to it would
// race on the reference count, so untraced fields must also be `Send`.
use std::rc::Rc;
use tricolor_gc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(static)]
    shared: Rc<String>,
}

fn main() {}
