//! Whole-process runner with `mimalloc::MiMalloc` as the global allocator; see
//! `tricolor_alloc_bench::process`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tricolor_alloc_bench::process_main(&GLOBAL);
}
