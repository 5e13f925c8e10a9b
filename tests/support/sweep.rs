//! The secret sweep: every provider run of the integration scenarios goes through
//! [`run_swept`], which runs the binary at `--v=10` (more than it ever needs: every diagnostic
//! it has) and fails the test when a secret shows up where it must not — in stderr, or on stdout
//! of a failed run or of `check` (whose report shows password lengths, never passwords).
//!
//! The secrets are the ones the running test planted ([`plant`], [`secret_token`]) and the ones
//! its fakes issued: the helpers that start fakes or make credentials (`Moto`, `EcrFake`,
//! `NodeKeys`, the recording proxy, the Azure and Google fakes) plant what they hand out, so
//! each scenario checks its own secrets without listing them. Planted secrets belong to the
//! test's thread; a helper thread that learns a secret later (the proxy reading an STS answer)
//! plants it through the [`Planted`] handle it took when the test started it. A test that runs
//! the provider by hand can still call [`assert_swept`], [`assert_no_secret`] with a list, or,
//! for a report that must show no secret even when the run succeeds (`kubelet-view`),
//! [`assert_report_swept`].
//!
//! At `--v=10` stderr holds the decision lines as well as the warnings and the error that a run
//! at kubelet's default verbosity prints; [`Ran::quiet_lines`](super::Ran::quiet_lines) gives
//! those back for the tests of the one-line failure contract ([`assert_failed`]; tests/cli.rs
//! checks that the filter agrees with a quiet run). tests/secret_sweep.rs shows that the sweep
//! fails a test.

use std::process::Command;
use std::sync::{Arc, Mutex};

use super::{provider, random_token, run, Ran};

/// The verbosity every swept run gets, appended last so that it wins over the test's own.
pub const VERBOSITY: &str = "--v=10";

/// Shorter secrets could appear in a message by chance; tests plant random ones.
const MIN_SECRET_LEN: usize = 8;

/// The secrets of one test: a handle that helper threads of the test can keep and plant into.
#[derive(Clone, Default)]
pub struct Planted(Arc<Mutex<Vec<String>>>);

impl Planted {
    /// The test thread's set.
    pub fn here() -> Planted {
        PLANTED.with(Planted::clone)
    }

    /// Registers `secret` (see [`plant`]).
    pub fn plant(&self, secret: impl Into<String>) -> String {
        let secret = secret.into();
        assert!(
            secret.len() >= MIN_SECRET_LEN,
            "planted secret {secret:?} is shorter than {MIN_SECRET_LEN} characters"
        );
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !all.contains(&secret) {
            all.push(secret.clone());
        }
        secret
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

thread_local! {
    static PLANTED: Planted = Planted::default();
}

/// Registers `secret` for the rest of the test: every later swept run fails if it leaks.
/// Returns it, so a test can write `let password = plant(...)`.
pub fn plant(secret: impl Into<String>) -> String {
    Planted::here().plant(secret)
}

/// A random `[A-Za-z0-9]` secret of `len` characters, planted.
pub fn secret_token(len: usize) -> String {
    plant(random_token(len))
}

/// Standard base64 of `user:password`, as Docker's `auth` field and ECR's token hold it, planted:
/// leaking the encoded pair leaks the password.
pub fn plant_basic_auth(user: &str, password: &str) -> String {
    plant(super::base64_encode(
        format!("{user}:{password}").as_bytes(),
    ))
}

/// Everything planted for this test so far.
pub fn planted() -> Vec<String> {
    Planted::here().all()
}

/// Fails when any of `secrets` is in the run's stderr or, for a failed run, its stdout.
pub fn assert_no_secret(ran: &Ran, secrets: &[&str]) {
    assert_no_secret_in(ran, secrets, !ran.status.success());
}

/// The message names the secret by length and first characters only: enough to find it among
/// the test's secrets, and the output around it is printed in full anyway.
fn assert_no_secret_in(ran: &Ran, secrets: &[&str], check_stdout: bool) {
    for secret in secrets {
        assert!(
            !ran.stderr.contains(secret),
            "a secret ({} characters, starting {:?}) leaked into stderr:\n{}",
            secret.len(),
            secret.get(..4).unwrap_or_default(),
            ran.stderr
        );
        if check_stdout {
            assert!(
                !ran.stdout.contains(secret),
                "a secret ({} characters, starting {:?}) leaked into stdout ({}):\n{}",
                secret.len(),
                secret.get(..4).unwrap_or_default(),
                ran.status,
                ran.stdout
            );
        }
    }
}

/// For a run the test had to start itself (many at once, or at the verbosity under test):
/// asserts that no secret planted for this test is in its stderr or, for a failed run, its
/// stdout.
pub fn assert_swept(ran: &Ran) {
    let secrets = planted();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret(ran, &secrets);
}

/// For a run whose stdout is a report rather than kubelet's answer (`check`, `kubelet-view`):
/// asserts that no secret planted for this test is in its stderr or its stdout, whatever its
/// exit.
pub fn assert_report_swept(ran: &Ran) {
    let secrets = planted();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret_in(ran, &secrets, true);
}

/// Runs the provider command `cmd` at [`VERBOSITY`] with `stdin`, then asserts that no secret
/// planted for this test leaked (see the module docs).
pub fn run_swept(mut cmd: Command, stdin: &[u8]) -> Ran {
    // After `--` the verbosity flag would be an image name.
    assert!(
        !cmd.get_args().any(|a| a == "--"),
        "run_swept appends {VERBOSITY}: no `--` in {cmd:?}"
    );
    let check = cmd.get_args().any(|a| a == "check");
    cmd.arg(VERBOSITY);
    let ran = run(cmd, stdin);
    let secrets = planted();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret_in(&ran, &secrets, check || !ran.status.success());
    ran
}

/// [`run_swept`] for the binary under its own name with `args` ([`super::provider`]).
pub fn run_provider(args: &[&str], stdin: &str) -> Ran {
    run_swept(provider(args), stdin.as_bytes())
}

/// The one-line failure contract of a swept run: exit 1, nothing on stdout, exactly one line
/// at kubelet's default verbosity ([`Ran::quiet_lines`]), the error, naming every one of
/// `needles`; none of `secrets` anywhere. Returns that line.
pub fn assert_failed(ran: &Ran, needles: &[&str], secrets: &[&str]) -> String {
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert_eq!(ran.stdout, "", "{}", ran.describe());
    assert_no_secret(ran, secrets);
    let lines = ran.quiet_lines();
    assert_eq!(lines.len(), 1, "one stderr line: {:?}", ran.stderr);
    assert!(
        lines[0].starts_with("cloud-credential-provider: error: "),
        "{:?}",
        ran.stderr
    );
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} missing from {:?}", lines[0]);
    }
    lines[0].to_string()
}
