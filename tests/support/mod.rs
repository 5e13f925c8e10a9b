//! Helpers shared by the integration tests; a test crate says `mod support;` and uses what it
//! needs (hence `allow(dead_code)`: every crate uses a different subset). Each helper exists
//! once, here: a test file keeps only what is its own scenario.
//!
//! Scratch files and tools:
//! - [`TempDir`]: a unique scratch directory per test, removed on drop; [`TempDir::write`] and
//!   [`write_file`], [`write_private_file`]: a file with exactly the mode asked for;
//! - [`random_bytes`], [`random_token`]: test secrets from `/dev/urandom`, so no password is
//!   written in the code; [`base64_encode`], [`base64url_encode`], [`jwt`]: encodings of them;
//! - [`repo_path`], [`path_str`]: files of the repository, paths as arguments;
//! - [`find_tool`], [`require_tool`], [`is_root`]: an external tool or root the test needs; a
//!   missing one FAILS the test (never skips it) and says how to install it. Tests that need
//!   either are `#[ignore = "needs …; scripts/test.sh runs it"]`, so a plain `cargo test` runs
//!   everything else on any machine;
//! - [`free_port`], [`http_get`], [`poll`], [`wait_for`]: loopback ports, a bare HTTP probe and
//!   the one wait-until loop.
//!
//! Processes:
//! - [`Ran`]: what a finished process did; [`Ran::error_line`] checks the one-line failure
//!   contract of a run at kubelet's default verbosity;
//! - [`Running`], [`run`], [`run_program`]: run a process with piped input, output read as it
//!   comes, and a time limit ([`PROCESS_TIMEOUT`]);
//! - [`PROVIDER_BIN`], [`provider`], [`provider_as`], [`drop_in`]: the binary under test, with
//!   nothing a cloud SDK could pick up from the developer's shell, and under a drop-in name.
//!
//! kubelet's side of the protocol:
//! - [`kubelet_request`], [`request`], [`pod_request`]: the request ([`API_V1`] unless asked),
//!   with or without a pod token;
//! - [`response`]: a successful run's answer, checked the way kubelet decodes it
//!   ([`RESPONSE_FIELDS`]);
//!   [`only_auth`], [`auth_entry`]: its `auth` entries; [`kubelet_auth_key`]: the key kubelet
//!   files one under; [`go_seconds`]: its `cacheDuration` in seconds.
//!
//! Parts that stand in for the world:
//! - [`fakes`]: the Python fakes of `tests/fakes/` (the venv, a fake on a loopback port and the
//!   port it reports, its request log) and [`fakes::TestCa`], a throwaway CA;
//! - [`netns`]: a private network namespace where real cloud host names reach local fakes;
//! - [`registry`]: a real OCI registry on loopback with Basic auth;
//! - [`moto`]: moto, the ECR token fake, a recording fault proxy and a clean AWS environment;
//! - [`sweep`]: the secret sweep every backend scenario's provider runs go through (`--v=10`,
//!   no planted or issued secret in stderr, nor on stdout of a failed run);
//! - [`vault`]: a real OpenBao server (`bao server -dev` with TLS) set up with its own CLI, and
//!   [`vault::Issuer`], the cluster's service-account issuer that signs pod tokens for it.
//!
//! Run the suite with `scripts/test.sh`: it keeps the tests off every network but loopback and
//! runs the ignored ones too.
#![allow(dead_code)]

pub mod fakes;
pub mod moto;
pub mod netns;
pub mod registry;
pub mod sweep;
pub mod vault;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// The binary under test, built by cargo for the integration tests.
pub const PROVIDER_BIN: &str = env!("CARGO_BIN_EXE_cloud-credential-provider");

/// Longest any helper waits for a child process before killing it and failing the test.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Scratch files

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

    /// [`write_file`] of `name` in this directory; returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.join(name);
        write_file(&path, contents, mode);
        path
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

/// Writes `contents` to a new file at `path` with exactly `mode` (whatever the umask). Whatever
/// was at `path` is removed first, so a symbolic link there is replaced, never written through.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            panic!("remove {}: {e}", path.display())
        }
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_ref()))
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(mode)))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// [`write_file`] with mode 0600 (credential files must not be world-readable).
pub fn write_private_file(path: &Path, contents: impl AsRef<[u8]>) {
    write_file(path, contents, 0o600);
}

// ---------------------------------------------------------------------------------------------
// Test secrets and their encodings

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
pub fn base64_encode(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The URL-safe alphabet of JWTs, with or without `=` padding.
pub fn base64url_encode(data: impl AsRef<[u8]>, padded: bool) -> String {
    if padded {
        base64::engine::general_purpose::URL_SAFE.encode(data)
    } else {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }
}

/// A JWT-shaped token: `header` (already encoded), the base64url of `claims`, `signature`.
/// Nothing checks signatures of what a test hands out, so any text will do.
pub fn jwt(header: &str, claims: &Value, padded: bool, signature: &str) -> String {
    format!(
        "{header}.{}.{signature}",
        base64url_encode(claims.to_string(), padded)
    )
}

// ---------------------------------------------------------------------------------------------
// The repository, tools and privileges

/// `relative` inside the repository (tests run there, but a path that says so survives a
/// `current_dir`).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A path as a command-line argument (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Full path of the executable `name` on `PATH` (or in /usr/sbin, /sbin), if there is one.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// [`find_tool`], or a panic that says how to get it: tests that need a tool fail without it,
/// they never skip (and are `#[ignore]`d, so a plain `cargo test` does not run them).
pub fn require_tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| panic!("missing {name}: run scripts/install-test-deps.sh"))
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

// ---------------------------------------------------------------------------------------------
// Ports and waiting

/// A loopback port the kernel just handed out and took back. Whoever binds it next may race
/// another process: callers check that what answers is theirs, or retry.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"))
}

/// How often [`poll`] asks.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Asks `probe` every 20 ms until it answers `Some`, for at most `timeout`; `None` when it
/// never did. A probe that sees the wait is hopeless (the awaited process exited) panics.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(answer) = probe() {
            return Some(answer);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_EVERY);
    }
}

/// [`poll`], failing the test with `what` (what never happened) after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll(timeout, probe).unwrap_or_else(|| panic!("{what} (waited {timeout:?})"))
}

/// One `GET path` to `127.0.0.1:port` over a plain TCP connection (a readiness probe, a fake's
/// counters): the answer's head (status line and headers) and body. Bounded: 250 ms to connect,
/// 2 s each to send and to read.
pub fn http_get(port: u16, path: &str) -> Result<(String, String), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(250)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(2))))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Ok((head.to_string(), body.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Processes

/// What a finished process did.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The exit code; a process killed by a signal fails the test.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {}", self.describe()))
    }

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

    /// The failure contract of a run at kubelet's default verbosity: exit 1, nothing on stdout
    /// and exactly one stderr line, the error. Returns that line.
    pub fn error_line(&self) -> &str {
        assert_eq!(self.code(), 1, "exit code: {}", self.describe());
        assert_eq!(self.stdout, "", "stdout must be empty on failure");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one stderr line: {}", self.describe());
        assert!(
            lines[0].starts_with("cloud-credential-provider: error: "),
            "{}",
            self.describe()
        );
        lines[0]
    }

    /// Stdout of a successful run, parsed as JSON (a `check` or `cache` report).
    pub fn json(&self) -> Value {
        assert!(self.status.success(), "failed: {}", self.describe());
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.describe()))
    }

    /// One line for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{}; stdout: {:?}; stderr: {:?}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A child process with stdin, stdout and stderr piped. Its output is read as it comes (a
/// chatty child never blocks on a full pipe); its input is written when the test says, so
/// many runs can be started first and released together. Killed if dropped unfinished.
pub struct Running {
    child: Child,
    what: String,
    stdin: Option<ChildStdin>,
    writer: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let spawned = Instant::now();
        let read_all = |mut pipe: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
        let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
        Running {
            stdin: child.stdin.take(),
            child,
            what,
            writer: None,
            stdout: Some(stdout),
            stderr: Some(stderr),
            spawned,
        }
    }

    /// Writes `input` and closes stdin. A child that exits without reading closes the pipe:
    /// that write error is not the test's to report.
    pub fn send(&mut self, input: &[u8]) {
        let mut stdin = self.stdin.take().expect("input sent once");
        let input = input.to_vec();
        self.writer = Some(thread::spawn(move || drop(stdin.write_all(&input))));
    }

    /// Kills the process now (SIGKILL); [`Running::finish`] still collects what it did.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the child");
    }

    /// Waits for the exit, at most `limit` (then kills it and fails the test); returns what it
    /// did and when it was seen to end.
    pub fn finish(mut self, limit: Duration) -> (Ran, Instant) {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {limit:?}", self.what);
            }
            thread::sleep(Duration::from_millis(2));
        };
        let ended = Instant::now();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let text = |pipe: Option<JoinHandle<Vec<u8>>>| {
            let bytes = pipe
                .map(|p| p.join().expect("pipe reader"))
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let ran = Ran {
            status,
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
        };
        (ran, ended)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` with `stdin` piped in and stdout/stderr captured. Kills it and panics after
/// [`PROCESS_TIMEOUT`], so a hung child fails its test instead of stalling the suite.
pub fn run(cmd: Command, stdin: &[u8]) -> Ran {
    let mut running = Running::start(cmd);
    running.send(stdin);
    running.finish(PROCESS_TIMEOUT).0
}

/// [`run`] of `program` with `args` and nothing on stdin.
pub fn run_program(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args);
    run(cmd, b"")
}

/// The binary under test with `args`, and nothing a cloud SDK could pick up from the
/// developer's shell (an AWS profile, instance metadata).
pub fn provider(args: &[&str]) -> Command {
    provider_as(Path::new(PROVIDER_BIN), args)
}

/// [`provider`] started as `program` (a [`drop_in`] name).
pub fn provider_as(program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// A symbolic link `dir/name` to the binary under test, as a kubelet bin dir holds a drop-in
/// name (`ecr-credential-provider`, ...); made once, returned every time.
pub fn drop_in(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(PROVIDER_BIN, &link)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
    }
    link
}

// ---------------------------------------------------------------------------------------------
// kubelet's side of the protocol

/// The kubelet API version the backend tests speak.
pub const API_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

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

/// [`kubelet_request`] of the v1 API.
pub fn request(image: &str) -> String {
    kubelet_request(API_V1, image)
}

/// [`request`] with a pod's service-account token and the service account's annotations.
pub fn pod_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let mut s = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": API_V1,
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string();
    s.push('\n');
    s
}

/// Every field a `CredentialProviderResponse` may carry: kubelet decodes strictly, so any
/// other top-level field makes it discard the whole answer (protocol doc §1.5).
pub const RESPONSE_FIELDS: [&str; 5] = [
    "kind",
    "apiVersion",
    "cacheKeyType",
    "cacheDuration",
    "auth",
];

/// The answer of a successful run, checked as kubelet decodes it: exit 0, exactly one JSON
/// line on stdout, only known fields, kubelet's fixed values.
pub fn response(ran: &Ran) -> Value {
    assert!(ran.status.success(), "provider failed: {}", ran.describe());
    assert!(
        ran.stdout.ends_with('\n') && ran.stdout.matches('\n').count() == 1,
        "stdout must be exactly one JSON line: {}",
        ran.describe()
    );
    let response = ran.json();
    let fields = response.as_object().expect("response is a JSON object");
    for name in fields.keys() {
        assert!(
            RESPONSE_FIELDS.contains(&name.as_str()),
            "unknown response field {name:?} (kubelet's strict decoder rejects it): {response}"
        );
    }
    assert_eq!(response["kind"], "CredentialProviderResponse");
    assert!(
        ["Image", "Registry", "Global"].contains(&response["cacheKeyType"].as_str().unwrap_or("")),
        "cacheKeyType must be Image, Registry or Global: {response}"
    );
    assert!(
        response.get("cacheDuration").is_none_or(Value::is_string),
        "cacheDuration must be a Go duration string: {response}"
    );
    response
}

/// The only entry of a response's `auth`: (key, username, password).
pub fn only_auth(resp: &Value) -> (String, String, String) {
    let auth = resp["auth"].as_object().expect("auth object");
    assert_eq!(auth.len(), 1, "{resp}");
    let (key, entry) = auth.iter().next().expect("one entry");
    (
        key.clone(),
        entry["username"].as_str().expect("username").to_string(),
        entry["password"].as_str().expect("password").to_string(),
    )
}

/// An `auth` entry as a response holds it.
pub fn auth_entry(username: &str, password: &str) -> Value {
    serde_json::json!({"username": username, "password": password})
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
