//! Whole-process runner with `std::alloc::System` as the global allocator; see
//! `tricolor_alloc_bench::process`.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    tricolor_alloc_bench::process_main(&GLOBAL);
}
