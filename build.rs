//! Build facts for `--version`: the git commit and the versions of the crypto stack, so a
//! node operator can tell exactly which build kubelet runs.
//!
//! Sets `CCP_GIT_COMMIT` (short hash, `-dirty` when the sources differ from it, `unknown`
//! outside a git checkout) and `CCP_RING_VERSION` / `CCP_RUSTLS_VERSION` (from Cargo.lock).

use std::process::Command;

fn main() {
    println!("cargo:rustc-env=CCP_GIT_COMMIT={}", git_commit());
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (krate, var) in [
        ("ring", "CCP_RING_VERSION"),
        ("rustls", "CCP_RUSTLS_VERSION"),
    ] {
        let version = locked_version(&lock, krate).unwrap_or_else(|| "unknown".to_string());
        println!("cargo:rustc-env={var}={version}");
    }
    // The commit changes with HEAD and the dirty flag with the sources: watch both.
    for path in ["Cargo.lock", "Cargo.toml", "build.rs", "src"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        // --git-path knows where a worktree keeps each file.
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// `git ARGS` in the package directory, trimmed; `None` when git or the repository is absent.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn git_commit() -> String {
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_string();
    };
    // Only what is built counts as dirty: a changed test or README does not change the binary.
    let dirty = Command::new("git")
        .args([
            "diff",
            "--quiet",
            "HEAD",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
        ])
        .status()
        .map(|s| !s.success())
        .unwrap_or(false);
    if dirty {
        format!("{hash}-dirty")
    } else {
        hash
    }
}

/// The version of `krate` in Cargo.lock's text.
fn locked_version(lock: &str, krate: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{krate}\"") {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}
