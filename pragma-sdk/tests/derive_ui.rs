//! Compile-time behaviour of the derives: every supported field shape compiles, every misuse
//! is a spanned error (expected messages in `tests/ui/fail/*.stderr`).

#[test]
fn derives_compile_or_fail_as_expected() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
