//! Whole-process runner with `tikv_jemallocator::Jemalloc` as the global allocator; see
//! `tricolor_alloc_bench::process`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    tricolor_alloc_bench::process_main(&GLOBAL);
}
