//! Runs every workload with every allocator binary and reports ratios; see
//! `tricolor_alloc_bench::suite`.

fn main() {
    tricolor_alloc_bench::suite::suite_main();
}
