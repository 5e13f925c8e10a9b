//! The secret sweep (tests/support/sweep.rs) must be able to fail: a test that never fires
//! proves nothing. Each test here makes a run show a planted secret and expects the sweep's
//! assertion, or shows what the sweep deliberately lets through (a served password on stdout).
//! The leaking "provider" is `sh`, except in the last test, where the real binary prints a
//! value the test planted as if it were a secret.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::thread;

use support::sweep::{
    plant, plant_basic_auth, run_provider, run_swept, secret_token, Planted, VERBOSITY,
};
use support::{random_token, request, Ran};

/// A shell that runs `script` with `S` set to `secret`; `run_swept` appends its flag, which
/// the script sees as `$0`.
fn shell(script: &str, secret: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).env("S", secret);
    cmd
}

/// The message of the panic `f` raises, or `None` when it returns.
fn panic_message(f: impl FnOnce() -> Ran) -> Option<String> {
    let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

#[test]
fn a_planted_secret_in_stderr_fails_the_run() {
    let secret = secret_token(32);
    let message = panic_message(|| run_swept(shell("echo \"token $S\" >&2", &secret), b""))
        .expect("the sweep must fire");
    assert!(message.contains("leaked into stderr"), "{message}");
    // The message points at the secret without spelling it out in its first line.
    assert!(
        message.starts_with("a secret (32 characters, starting "),
        "{message}"
    );
}

#[test]
fn the_base64_of_a_planted_user_and_password_is_a_secret_too() {
    let password = random_token(24);
    let encoded = plant_basic_auth("robot", &password);
    let message =
        panic_message(|| run_swept(shell("echo \"Authorization: Basic $S\" >&2", &encoded), b""))
            .expect("the sweep must fire");
    assert!(message.contains("leaked into stderr"), "{message}");
}

#[test]
fn stdout_is_swept_for_failed_runs_and_check_only() {
    let secret = secret_token(24);
    // A served password is the answer kubelet asked for.
    let ran = run_swept(
        shell("echo \"{\\\"password\\\":\\\"$S\\\"}\"", &secret),
        b"",
    );
    assert!(ran.stdout.contains(&secret));
    // A failed run has no answer to give: a secret on its stdout is a leak.
    let message = panic_message(|| run_swept(shell("echo \"$S\"; exit 1", &secret), b""))
        .expect("the sweep must fire on a failed run's stdout");
    assert!(message.contains("leaked into stdout"), "{message}");
    // `check` reports password lengths, never passwords.
    let mut cmd = shell("echo \"$S\"", &secret);
    cmd.arg("check");
    let message = panic_message(|| run_swept(cmd, b"")).expect("the sweep must fire on check");
    assert!(message.contains("leaked into stdout"), "{message}");
}

#[test]
fn a_secret_planted_by_a_helper_thread_counts() {
    let secret = random_token(40);
    let handle = Planted::here();
    let planted = secret.clone();
    // As the recording proxy does when an STS answer passes through it.
    thread::spawn(move || handle.plant(planted))
        .join()
        .expect("helper thread");
    assert!(
        panic_message(|| run_swept(shell("echo \"$S\" >&2", &secret), b"")).is_some(),
        "a secret planted from another thread of the test must be swept"
    );
}

#[test]
fn the_verbosity_flag_comes_last() {
    let ran = run_swept(shell("echo \"$0\"", ""), b"");
    assert_eq!(ran.stdout.trim(), VERBOSITY);
    let message = panic_message(|| {
        let mut cmd = Command::new("true");
        cmd.args(["--", "image"]);
        run_swept(cmd, b"")
    })
    .expect("after `--` the flag would be an argument");
    assert!(message.contains("no `--`"), "{message}");
}

#[test]
fn short_secrets_are_refused() {
    assert!(catch_unwind(|| plant("p4ss")).is_err());
}

/// The real binary at `--v=10` names the registry it was asked about; planting that name
/// stands in for a leaked secret and fails the run.
#[test]
fn what_the_provider_prints_at_v10_is_swept() {
    let host = format!("reg-{}.example", random_token(12).to_lowercase());
    let request = request(&format!("{host}/app"));
    // Unplanted, the run passes the sweep and logs the host.
    let ran = run_provider(&[], &request);
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(ran.stderr.contains(&host), "{}", ran.stderr);
    plant(host.clone());
    let message = panic_message(|| run_provider(&[], &request)).expect("the sweep must fire");
    assert!(message.contains(&host), "{message}");
}
