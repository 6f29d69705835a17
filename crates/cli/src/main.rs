//! The `tricolor` command (see the crate docs of `tricolor_cli`).
//!
//! Its global allocator is tricolor's own `Malloc`: the collected heap's
//! pages and everything else the process allocates come from the same page
//! heap, as in a program built on tricolor, and the allocator suite's
//! "tricolor" column (`tricolor worker alloc …`) means exactly that.

#[global_allocator]
static GLOBAL: tricolor_heap::Malloc = tricolor_heap::Malloc;

fn main() {
    std::process::exit(tricolor_cli::run());
}
