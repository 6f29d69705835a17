//! A `tricolor bench` worker whose global allocator is `tikv_jemallocator::Jemalloc`: GC
//! workloads run on `Box` (the baseline `box-jemalloc`), allocator-suite
//! workloads as `jemalloc`. See `tricolor_cli::worker`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(tricolor_cli::worker::box_main(&GLOBAL, "jemalloc"));
}
