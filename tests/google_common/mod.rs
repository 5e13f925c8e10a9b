//! Helpers of the Google tests (`tests/google_*.rs`, `tests/token_cache.rs`,
//! `tests/static_binary.rs`): the fake of Google's endpoints (`tests/fakes/google_fake.py`) on
//! a loopback port ([`fake`]) or inside a [`NetNs`] ([`GoogleNs`]), a provider command whose
//! Google-related environment is set explicitly (never inherited from the machine running the
//! tests), and service-account key files. What is not Google's own lives in `tests/support`.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub use crate::support::fakes::Fake;
use crate::support::fakes::{read_log, script, set_options, venv_python, TestCa};
use crate::support::netns::NetNs;
use crate::support::sweep::plant;
use crate::support::{TempDir, PROVIDER_BIN};

pub const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
pub const EMAIL_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/email";
/// The HTTPS names the fake answers for inside a namespace.
pub const TLS_NAMES: [&str; 3] = [
    "sts.googleapis.com",
    "iamcredentials.googleapis.com",
    "oauth2.googleapis.com",
];
/// Variables that change where the binary gets Google credentials; every test sets or
/// removes each of them.
pub const GOOGLE_ENV: [&str; 5] = [
    "GCE_METADATA_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "KUBE_SIDECAR_CACHE_DURATION",
    "KUBE_SIDECAR_CACHE_TYPE",
    "SSL_CERT_FILE",
];

/// Options of google_fake.py whose values are tokens it issues.
const ISSUED_TOKENS: [&str; 5] = [
    "token",
    "sts_token",
    "iam_token",
    "oauth_token",
    "adc_token",
];

/// Plants (support::sweep) every token the fake will issue with `options`.
fn plant_issued(options: &[(&str, &str)]) {
    for (k, v) in options {
        if ISSUED_TOKENS.contains(k) {
            plant(*v);
        }
    }
}

/// `google_fake.py` on a loopback port of the test's own network (`scripts/test.sh`: loopback
/// only) with `--set` `options`; every token it will issue is planted.
pub fn fake(options: &[(&str, &str)]) -> Fake {
    plant_issued(options);
    Fake::start("google_fake.py", &[], options)
}

/// A namespace where `metadata.google.internal` (plain HTTP, port 80) and the Google HTTPS
/// APIs (port 443, certificate from a test CA) are the fake, with one request log each.
pub struct GoogleNs {
    pub ns: NetNs,
    pub ca: TestCa,
    pub metadata_log: PathBuf,
    pub tls_log: PathBuf,
    pub home: TempDir,
}

impl GoogleNs {
    pub fn start(label: &str, options: &[(&str, &str)]) -> GoogleNs {
        plant_issued(options);
        let ca = TestCa::new(&TLS_NAMES);
        let mut ns = NetNs::new(label);
        let mut names = vec!["metadata.google.internal"];
        names.extend(TLS_NAMES);
        ns.map_hosts("127.0.0.1", &names);
        let metadata_log = ns.logs().join("metadata.jsonl");
        let tls_log = ns.logs().join("tls.jsonl");
        let fake = |extra: &[&str], log: &Path| {
            let mut cmd = ns.command(venv_python());
            cmd.arg(script("google_fake.py"))
                .args(extra)
                .arg("--log")
                .arg(log);
            set_options(&mut cmd, options);
            cmd
        };
        let plain = fake(&["--port", "80"], &metadata_log);
        let tls_args = [
            "--port".to_string(),
            "443".to_string(),
            "--cert".to_string(),
            ca.cert().display().to_string(),
            "--key".to_string(),
            ca.key().display().to_string(),
        ];
        let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
        let tls = fake(&tls_args, &tls_log);
        ns.spawn("metadata-fake", plain);
        ns.spawn("tls-fake", tls);
        ns.wait_for_port("127.0.0.1", 80);
        ns.wait_for_port("127.0.0.1", 443);
        GoogleNs {
            ns,
            ca,
            metadata_log,
            tls_log,
            home: TempDir::new("google-home"),
        }
    }

    /// The unmodified binary inside the namespace: no `GCE_METADATA_HOST`, the test CA as the
    /// only trusted root, an empty `$HOME`.
    pub fn provider(&self, args: &[&str]) -> Command {
        let mut cmd = self.ns.command(PROVIDER_BIN);
        cmd.args(args);
        without_google_env(&mut cmd);
        cmd.env("SSL_CERT_FILE", self.ca.ca())
            .env("HOME", self.home.path());
        cmd
    }

    pub fn metadata_requests(&self) -> Vec<Value> {
        read_log(&self.metadata_log)
    }

    pub fn tls_requests(&self) -> Vec<Value> {
        read_log(&self.tls_log)
    }
}

/// The binary on the test's own network, its Google environment cleared, `$HOME` set to
/// `home` (so no gcloud ADC file of the machine is found), then `env` applied.
pub fn provider(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Command {
    provider_as(Path::new(PROVIDER_BIN), args, home, env)
}

/// [`provider`] started as `program` (a symlink with a drop-in name).
pub fn provider_as(program: &Path, args: &[&str], home: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    without_google_env(&mut cmd);
    cmd.env("HOME", home).envs(env.iter().copied());
    cmd
}

/// Removes every [`GOOGLE_ENV`] variable from what `cmd` inherits.
fn without_google_env(cmd: &mut Command) {
    for name in GOOGLE_ENV {
        cmd.env_remove(name);
    }
}

/// Writes a service-account key file whose `token_uri` is `token_uri`; its private key is
/// planted for the secret sweep (each line of the PEM body).
pub fn key_file(path: &Path, token_uri: &str, email: &str) {
    let status = Command::new(venv_python())
        .arg(script("google_keyfile.py"))
        .arg(path)
        .args([token_uri, email])
        .status()
        .expect("google_keyfile.py");
    assert!(status.success(), "google_keyfile.py failed");
    let key: Value = serde_json::from_str(&fs::read_to_string(path).expect("read key file"))
        .expect("key file is JSON");
    let pem = key["private_key"].as_str().expect("private_key");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        plant(line);
    }
}
