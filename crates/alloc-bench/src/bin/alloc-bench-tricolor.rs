//! Whole-process runner with `tricolor_heap::Malloc` as the global allocator; see
//! `tricolor_alloc_bench::process`.

#[global_allocator]
static GLOBAL: tricolor_heap::Malloc = tricolor_heap::Malloc;

fn main() {
    tricolor_alloc_bench::process_main(&GLOBAL);
}
