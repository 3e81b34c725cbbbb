//! Records the git revision the binary was built from, for `--version`:
//! `KOMAINU_GIT_REVISION` (short hash, `-dirty` when the tree had changes),
//! or `unknown` when built outside a git checkout (a source tarball). And
//! packs the binary's relative relocations where the C library can read
//! them packed (see [`pack_relative_relocations`]).

use std::process::Command;

fn main() {
    pack_relative_relocations();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let revision = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}-dirty") } else { hash }
        }
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=KOMAINU_GIT_REVISION={revision}");
    // Rebuilt when HEAD moves (a commit, a checkout); a dirty flag may lag
    // until then, which is fine for a version string.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// Relative relocations in DT_RELR (about 10 KB here) instead of
/// `.rela.dyn` (600 KB): the loader reads every entry at start, and those
/// pages stayed resident for the process's life, about 0.55 MiB of an idle
/// worker's RSS. The binary stays position-independent. Only when building
/// for this machine's own glibc and that glibc is 2.36 or later: the linker
/// makes the binary require `GLIBC_ABI_DT_RELR`, which older glibc (Ubuntu
/// 22.04's 2.35, RHEL 9's 2.34) does not have, so the flag there would make
/// a binary that does not start.
fn pack_relative_relocations() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("TARGET") == var("HOST");
    if !native || var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let glibc = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|text| glibc_version(&text));
    if glibc.is_some_and(|version| version >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// `(major, minor)` of getconf's "glibc 2.36".
fn glibc_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
