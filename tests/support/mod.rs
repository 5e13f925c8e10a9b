//! Helpers shared by the integration tests; a test crate says `mod support;` and uses what it
//! needs (hence `allow(dead_code)`: every crate uses a different subset).
//!
//! - [`TempDir`]: a unique scratch directory per test, removed on drop;
//! - [`random_token`]: test secrets from `/dev/urandom`, so no password is written in the code;
//! - [`require_tool`]: an external tool the test needs; a missing one FAILS the test (never
//!   skips it) and says how to install it;
//! - [`run`], [`run_provider`]: run a process with piped input and a time limit;
//! - [`wait_for_ready_port`]: the port a fake started with `--ready FILE` listens on;
//! - [`request`], [`pod_request`]: kubelet's v1 request, with or without a pod token;
//! - [`only_auth`]: the single `auth` entry of a response;
//! - [`go_seconds`]: a Go duration (`cacheDuration`) in seconds;
//! - [`registry`]: a real OCI registry on loopback with Basic auth;
//! - [`moto`]: moto, the ECR token fake, a recording fault proxy and a clean AWS environment;
//! - [`sweep`]: the secret sweep every backend scenario's provider runs go through (`--v=10`,
//!   no planted or issued secret in stderr, nor on stdout of a failed run).
//!
//! Run the suite with `scripts/test.sh`: it keeps the tests off every network but loopback.
#![allow(dead_code)]

pub mod moto;
pub mod netns;
pub mod registry;
pub mod sweep;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test, built by cargo for the integration tests.
pub const PROVIDER_BIN: &str = env!("CARGO_BIN_EXE_cloud-credential-provider");

/// Longest any helper waits for a child process before killing it and failing the test.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh directory under the system temp dir, private to one test (mode 0700), removed with
/// everything in it on drop. Set `CCP_KEEP_TEST_DIRS=1` to keep it for a post-mortem.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `label` only makes the name readable in `ls /tmp`.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "ccp-test-{label}-{}-{n}-{}",
            std::process::id(),
            random_token(6)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("CCP_KEEP_TEST_DIRS").is_some() {
            eprintln!("keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `n` bytes from the kernel's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .unwrap_or_else(|e| panic!("read /dev/urandom: {e}"));
    buf
}

/// A random string of `len` characters from `[A-Za-z0-9]`, for passwords, tokens, realms.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len) {
            // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

/// Standard base64 with padding (what Docker's `config.json` `auth` field holds).
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes `contents` to `path` with mode 0600 (credential files must not be world-readable).
pub fn write_private_file(path: &Path, contents: &[u8]) {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Full path of the external program `name`, or a panic that says how to get it: tests that
/// need a tool fail without it, they never skip.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("missing {name}: run scripts/install-test-deps.sh"))
}

/// True when the tests run as (possibly namespaced) root.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// What a finished process did.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The stderr lines a run at kubelet's default verbosity prints: warnings and the error.
    /// A swept run ([`sweep::run_swept`], `--v=10`) has its decision lines in between.
    pub fn quiet_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| {
                l.starts_with("cloud-credential-provider: error: ")
                    || l.starts_with("cloud-credential-provider: warning: ")
            })
            .collect()
    }

    /// One line for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{}; stdout: {:?}; stderr: {:?}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with `stdin` piped in and stdout/stderr captured. Kills it and panics after
/// [`PROCESS_TIMEOUT`], so a hung child fails its test instead of stalling the suite.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Ran {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // A child that exits without reading closes the pipe: that write error is not ours to report.
    let writer = thread::spawn(move || drop(input.write_all(&stdin)));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {PROCESS_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Ran {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// How long a fake gets to write its port into its `--ready` file.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The port a fake (`tests/fakes/*.py`, started with `--ready FILE`) writes into `ready` once it
/// listens. Panics if `child` exits first (showing `output`, the file its output goes to, if
/// any) or nothing readable appears within [`READY_TIMEOUT`]; `what` names the fake.
pub fn wait_for_ready_port(
    ready: &Path,
    child: &mut Child,
    what: &str,
    output: Option<&Path>,
) -> u16 {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(port) = fs::read_to_string(ready)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return port;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let shown = output
                .map(|p| fs::read_to_string(p).unwrap_or_default())
                .unwrap_or_default();
            panic!("{what} exited ({status}): {shown}");
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        thread::sleep(Duration::from_millis(20));
    }
}

/// `cacheDuration` text in Go's form (`29m59s`, `1h0m0s`, `59s`) in seconds; panics on anything
/// else.
pub fn go_seconds(text: &str) -> u64 {
    let mut total = 0u64;
    let mut num = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => num.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = num.parse().unwrap_or_else(|_| panic!("duration {text:?}"));
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                num.clear();
            }
            _ => panic!("unexpected duration {text:?}"),
        }
    }
    assert!(num.is_empty(), "duration {text:?}");
    total
}

/// Runs the binary under test with `args`, `stdin` piped in (kubelet's request) and the test's
/// environment.
pub fn run_provider(args: &[&str], stdin: &str) -> Ran {
    run_provider_with_env(args, stdin, &[])
}

/// [`run_provider`] with extra environment variables.
pub fn run_provider_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(PROVIDER_BIN);
    cmd.args(args).envs(env.iter().copied());
    run(cmd, stdin.as_bytes())
}

/// A `CredentialProviderRequest` of `api_version` for `image`: compact JSON and one trailing
/// newline, as kubelet writes it. The keys come out sorted (`apiVersion`, `image`, `kind`: with
/// its default features serde_json keeps an object's keys in a sorted map), not in kubelet's
/// order (`kind`, `apiVersion`, `image`); the decoder must not care, and tests/cli.rs sends
/// kubelet's order byte for byte.
pub fn kubelet_request(api_version: &str, image: &str) -> String {
    let mut s = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": api_version,
        "image": image,
    })
    .to_string();
    s.push('\n');
    s
}

/// The kubelet API version the backend tests speak.
pub const API_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// A v1 `CredentialProviderRequest` for `image` as compact JSON, no trailing newline.
pub fn request(image: &str) -> String {
    serde_json::json!({"kind": "CredentialProviderRequest", "apiVersion": API_V1, "image": image})
        .to_string()
}

/// [`request`] with a pod's service-account token and the service account's annotations.
pub fn pod_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": API_V1,
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

/// The only entry of a response's `auth`: (key, username, password).
pub fn only_auth(resp: &serde_json::Value) -> (String, String, String) {
    let auth = resp["auth"].as_object().expect("auth object");
    assert_eq!(auth.len(), 1, "{resp}");
    let (key, entry) = auth.iter().next().expect("one entry");
    (
        key.clone(),
        entry["username"].as_str().expect("username").to_string(),
        entry["password"].as_str().expect("password").to_string(),
    )
}

/// The index key kubelet files a response `auth` key under (protocol doc §2.1): scheme
/// dropped, a leading `/v1/` or `/v2/` path segment dropped, and a bare `/` path dropped.
pub fn kubelet_auth_key(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let path = if path.starts_with("/v1/") || path.starts_with("/v2/") {
        &path[3..]
    } else {
        path
    };
    if path.is_empty() || path == "/" {
        host.to_string()
    } else {
        format!("{host}{path}")
    }
}
