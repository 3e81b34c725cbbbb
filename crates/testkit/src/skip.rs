//! A test that needs something from the machine (a datastore server, a
//! browser) calls `missing(...)` / `browser_missing(...)` when it cannot
//! have it: under the matching `KOMAINU_REQUIRE_*=1` (CI) that fails the
//! test with the reason; elsewhere the test is skipped with a banner on
//! stderr so that a developer's green run does not hide what it left out.
//! One rule for every kind of requirement: `missing_required_by`.

/// Set by `.ci/run`: every datastore test must run.
pub const REQUIRE_ENV: &str = "KOMAINU_REQUIRE_DATASTORES";

/// Set by `.ci/run`: every browser test must run.
pub const REQUIRE_BROWSER_ENV: &str = "KOMAINU_REQUIRE_BROWSER";

/// Whether the variable `env` asks for the requirement (set, not empty,
/// not `0`).
pub fn required_by(env: &str) -> bool {
    std::env::var(env).is_ok_and(|value| value != "0" && !value.is_empty())
}

/// Whether datastores are required by this run.
pub fn required() -> bool {
    required_by(REQUIRE_ENV)
}

/// Reports that `what` is unavailable: panics when `env` requires it, else
/// prints a loud skip notice. Callers return right after.
pub fn missing_required_by(env: &str, what: &str, why: &str) {
    assert!(
        !required_by(env),
        "{what} is required by this run ({env} is set) but unavailable: {why}"
    );
    eprintln!(
        "\n!!!!! SKIPPED: {what} unavailable ({why}); set {env}=1 to make this a failure !!!!!\n"
    );
}

/// Reports a missing datastore server (see `missing_required_by`).
pub fn missing(server: &str, why: &str) {
    missing_required_by(REQUIRE_ENV, server, why);
}

/// Reports a missing browser or WebDriver (see `missing_required_by`).
pub fn browser_missing(what: &str, why: &str) {
    missing_required_by(REQUIRE_BROWSER_ENV, what, why);
}
