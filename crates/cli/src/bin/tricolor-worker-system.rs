//! A `tricolor bench` worker whose global allocator is `std::alloc::System`: GC
//! workloads run on `Box` (the baseline `box-system`), allocator-suite
//! workloads as `system`. See `tricolor_cli::worker`.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    std::process::exit(tricolor_cli::worker::box_main(&GLOBAL, "system"));
}
