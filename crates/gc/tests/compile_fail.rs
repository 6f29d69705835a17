//! Compile-fail tests (trybuild): the unsound shapes that the `Gc` API and
//! `#[derive(Trace)]` must refuse, and the sound ones they must accept.
//!
//! Each case in `ui/fail/` opens with a comment saying which unsound program
//! it proves impossible; its `.stderr` is the expected compiler output, and
//! a case only counts if that output names the intended reason (regenerate
//! with `TRYBUILD=overwrite` and read the diff). `ui/pass/` cases are
//! compiled *and run*.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
