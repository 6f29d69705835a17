//! A `tricolor bench` worker whose global allocator is `mimalloc::MiMalloc`: GC
//! workloads run on `Box` (the baseline `box-mimalloc`), allocator-suite
//! workloads as `mimalloc`. See `tricolor_cli::worker`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tricolor_cli::worker::box_main(&GLOBAL, "mimalloc"));
}
