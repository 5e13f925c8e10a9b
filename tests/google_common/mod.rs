//! Helpers of the Google tests (`tests/google_*.rs`): the fake of Google's endpoints
//! (`tests/fakes/google_fake.py`) on a loopback port or inside a [`NetNs`], its request log,
//! kubelet requests with service-account tokens, and a provider command whose Google-related
//! environment is set explicitly (never inherited from the machine running the tests).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::netns::{fakes_dir, venv_python, NetNs, TestCa};
use crate::support::sweep::plant;
use crate::support::{wait_for_ready_port, TempDir, PROVIDER_BIN};

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

/// The fake on a loopback port of the test's own network (`scripts/test.sh`: loopback only).
pub struct Fake {
    child: Child,
    port: u16,
    log: PathBuf,
    pub dir: TempDir,
}

impl Fake {
    /// Starts the fake with `--set` options; waits until it listens.
    pub fn start(options: &[(&str, &str)]) -> Fake {
        plant_issued(options);
        let dir = TempDir::new("google-fake");
        let ready = dir.join("ready");
        let log = dir.join("requests.jsonl");
        let out = fs::File::create(dir.join("fake.log")).expect("fake log");
        let mut cmd = Command::new(venv_python());
        cmd.arg(fakes_dir().join("google_fake.py"))
            .args(["--port", "0", "--ready"])
            .arg(&ready)
            .arg("--log")
            .arg(&log);
        for (k, v) in options {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn google_fake.py");
        let port = wait_for_ready_port(
            &ready,
            &mut child,
            "google_fake.py",
            Some(&dir.join("fake.log")),
        );
        Fake {
            child,
            port,
            log,
            dir,
        }
    }

    /// `127.0.0.1:PORT`, the value for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Value> {
        read_log(&self.log)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON-lines request log at `path` (missing file: no requests).
pub fn read_log(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("log line is JSON"))
        .collect()
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
            cmd.arg(fakes_dir().join("google_fake.py"))
                .args(extra)
                .arg("--log")
                .arg(log);
            for (k, v) in options {
                cmd.arg("--set").arg(format!("{k}={v}"));
            }
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
        for name in GOOGLE_ENV {
            cmd.env_remove(name);
        }
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
    for name in GOOGLE_ENV {
        cmd.env_remove(name);
    }
    cmd.env("HOME", home).envs(env.iter().copied());
    cmd
}

/// [`crate::support::pod_request`] with the trailing newline kubelet sends.
pub fn pod_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> String {
    let mut s = crate::support::pod_request(image, token, annotations);
    s.push('\n');
    s
}

/// Parses a successful run's stdout as the response.
pub fn response(ran: &crate::support::Ran) -> Value {
    assert!(ran.status.success(), "provider failed: {}", ran.describe());
    assert_eq!(ran.stdout.matches('\n').count(), 1, "{}", ran.describe());
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", ran.stdout))
}

/// Asserts a failed run: exit 1, nothing on stdout, one error line containing every `parts`
/// and none of the `secrets`.
pub fn assert_failed(ran: &crate::support::Ran, parts: &[&str], secrets: &[&str]) {
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert!(ran.stdout.is_empty(), "{}", ran.describe());
    for part in parts {
        assert!(
            ran.stderr.contains(part),
            "missing {part:?}: {}",
            ran.describe()
        );
    }
    for secret in secrets {
        assert!(
            !ran.stderr.contains(secret),
            "secret leaked: {}",
            ran.describe()
        );
    }
}

/// Writes a service-account key file whose `token_uri` is `token_uri`; its private key is
/// planted for the secret sweep (each line of the PEM body).
pub fn key_file(path: &Path, token_uri: &str, email: &str) {
    let status = Command::new(venv_python())
        .arg(fakes_dir().join("google_keyfile.py"))
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
