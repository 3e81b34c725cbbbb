//! A test that needs a datastore server calls `missing(...)` when it cannot
//! reach one: under `KOMAINU_REQUIRE_DATASTORES=1` (CI) that fails the test
//! with the reason; elsewhere the test is skipped with a banner on stderr so
//! that a developer's green run does not hide what it left out.

/// Set by `.ci/run`: every datastore test must run.
pub const REQUIRE_ENV: &str = "KOMAINU_REQUIRE_DATASTORES";

pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|value| value != "0" && !value.is_empty())
}

/// Reports a missing server: panics when datastores are required, else
/// prints a loud skip notice. Callers return right after.
pub fn missing(server: &str, why: &str) {
    assert!(
        !required(),
        "{server} is required by this run ({REQUIRE_ENV} is set) but unavailable: {why}"
    );
    eprintln!(
        "\n!!!!! SKIPPED: {server} unavailable ({why}); set {REQUIRE_ENV}=1 to make this a failure !!!!!\n"
    );
}
