//! AWS test parts on loopback: moto, a fake of the ECR token APIs, a recording fault proxy, a
//! hung endpoint, and a runner that gives the provider a clean AWS environment.
//!
//! - [`Moto`]: `.venv/bin/moto_server -H 127.0.0.1 -p <free port>` (installed by
//!   `scripts/install-test-deps.sh`), killed on drop. Real STS `AssumeRoleWithWebIdentity` and
//!   ECR `GetAuthorizationToken`; its ECR password is `<account>-auth-token`, where the account is
//!   that of the role the caller assumed (moto maps the temporary key back to the role), so a
//!   password tells which identity made the call.
//! - [`EcrFake`]: `tests/fakes/aws_ecr_fake.py`, for ECR Public and for tokens with a future
//!   expiry (moto has neither).
//! - [`FaultProxy`]: an HTTP/1.1 proxy in front of either that records every request (target,
//!   SigV4 scope, body) and answers the first requests with scripted faults (throttling, 5xx,
//!   silence) before passing the rest through; it plants the temporary credentials STS answers
//!   through it (moto makes them up) for the secret sweep.
//! - [`HungEndpoint`]: accepts connections and never answers.
//! - [`run_aws`]: runs the provider with every `AWS_*` and proxy variable of the test process
//!   removed, no profile files, IMDS disabled, and the given variables.
//!
//! Nothing here reaches further than 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::fakes::{script, venv_bin, venv_python, TestCa};
use super::sweep::{plant, plant_basic_auth, run_swept, Planted};
use super::{free_port, http_get, poll, random_token, Ran, TempDir, PROVIDER_BIN};

/// Plants (see [`super::sweep`]) the ECR password moto issues for `account`, and its token.
pub fn plant_moto_password(account: &str) -> String {
    let password = plant(format!("{account}-auth-token"));
    plant_basic_auth("AWS", &password);
    password
}

/// How long moto may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto over HTTPS on 127.0.0.1 with a certificate from a throwaway CA, which clients must
    /// be told to trust (`SSL_CERT_FILE` = [`TestCa::ca`]).
    pub fn start_tls() -> (Moto, TestCa) {
        let ca = TestCa::new(&["127.0.0.1"]);
        let cert = ca.cert().display().to_string();
        let key = ca.key().display().to_string();
        let moto = Moto::start_with(&["-s", "-c", &cert, "-k", &key]);
        (moto, ca)
    }

    fn start_with(extra: &[&str]) -> Moto {
        // The account moto answers for callers whose keys it did not create.
        plant_moto_password("123456789012");
        let bin = venv_bin("moto_server");
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .args(extra)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            // Some(false): it exited, most likely because another process took the port.
            let listening = poll(READY_TIMEOUT, || {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Some(true);
                }
                match child.try_wait() {
                    Ok(Some(status)) => {
                        eprintln!("moto_server exited early: {status}");
                        Some(false)
                    }
                    _ => None,
                }
            })
            .unwrap_or_else(|| {
                panic!("moto_server did not listen on 127.0.0.1:{port} within {READY_TIMEOUT:?}")
            });
            if listening {
                return Moto { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server: no free port after 5 attempts");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/fakes/aws_ecr_fake.py` handing out `AWS:<password>` that expires `expires_in` seconds
/// after each request; it exits when dropped (its stdin closes).
pub struct EcrFake {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl EcrFake {
    pub fn start(password: &str, expires_in: Duration) -> EcrFake {
        EcrFake::spawn(password, expires_in, None)
    }

    /// A fake that throttles like the real API: a token bucket of `rate` calls a second and
    /// `burst` calls, `ThrottlingException` when empty.
    pub fn start_throttled(password: &str, expires_in: Duration, rate: u32, burst: u32) -> EcrFake {
        EcrFake::spawn(password, expires_in, Some((rate, burst)))
    }

    /// (calls received, calls throttled) so far.
    pub fn stats(&self) -> (u64, u64) {
        let (_, body) = http_get(self.port, "/stats").expect("ask the ECR fake for its stats");
        let v: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
        (
            v["calls"].as_u64().unwrap_or(0),
            v["throttled"].as_u64().unwrap_or(0),
        )
    }

    fn spawn(password: &str, expires_in: Duration, throttle: Option<(u32, u32)>) -> EcrFake {
        plant(password);
        plant_basic_auth("AWS", password);
        let script = script("aws_ecr_fake.py");
        let mut cmd = Command::new(venv_python());
        if let Some((rate, burst)) = throttle {
            cmd.env("ECR_FAKE_RATE", rate.to_string())
                .env("ECR_FAKE_BURST", burst.to_string());
        }
        let mut child = cmd
            .arg(&script)
            .env("ECR_FAKE_PASSWORD", password)
            .env("ECR_FAKE_EXPIRES_IN", expires_in.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read the fake's port: {e}"));
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("aws_ecr_fake.py printed {line:?}, not PORT <n>"));
        EcrFake { child, stdin, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for EcrFake {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, `x-amzn-ErrorType`/`Content-Type` headers and body.
    Status {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Read the request and never answer (the connection stays open until the proxy drops).
    Silence,
}

impl Fault {
    /// ECR's throttling answer (JSON 1.1): HTTP 400 with `ThrottlingException`.
    pub fn throttling_exception() -> Fault {
        Fault::Status {
            status: 400,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        }
    }

    /// A bare HTTP 429.
    pub fn too_many_requests() -> Fault {
        Fault::Status {
            status: 429,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"TooManyRequestsException","message":"slow down"}"#.into(),
        }
    }

    /// A bare status from something in front of AWS (a proxy, a VPC endpoint): an HTML body, no
    /// AWS error code.
    pub fn bare_status(status: u16) -> Fault {
        Fault::Status {
            status,
            content_type: "text/html",
            body: format!("<html><body><h1>{status}</h1></body></html>"),
        }
    }

    /// HTTP 500 with ECR's `ServerException`.
    pub fn server_error() -> Fault {
        Fault::Status {
            status: 500,
            content_type: "application/x-amz-json-1.1",
            body: r#"{"__type":"ServerException","message":"internal failure"}"#.into(),
        }
    }

    /// HTTP 503 without a body.
    pub fn unavailable() -> Fault {
        Fault::Status {
            status: 503,
            content_type: "text/plain",
            body: String::new(),
        }
    }

    /// STS's query-protocol error: HTTP 403 `AccessDenied` with `message`.
    pub fn sts_access_denied(message: &str) -> Fault {
        Fault::Status {
            status: 403,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                 <Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>\
                 </Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
            ),
        }
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `X-Amz-Target` (JSON protocols) or the `Action` of a form body (STS).
    pub fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.to_string();
        }
        self.form("Action").unwrap_or_default()
    }

    /// (region, service) of the SigV4 credential scope, when the request was signed.
    pub fn signing_scope(&self) -> Option<(String, String)> {
        let auth = self.header("authorization")?;
        let credential = auth.split("Credential=").nth(1)?.split(',').next()?;
        let parts: Vec<&str> = credential.split('/').collect();
        (parts.len() == 5).then(|| (parts[2].to_string(), parts[3].to_string()))
    }

    /// A field of an `application/x-www-form-urlencoded` body, decoded.
    pub fn form(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| url_decode(v))
        })
    }
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A recording HTTP/1.1 proxy on 127.0.0.1 in front of `upstream_port`; see the module docs.
/// Each connection carries one request (answers say `Connection: close`).
pub struct FaultProxy {
    port: u16,
    seen: Arc<Mutex<Vec<Recorded>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    /// Passes everything through, recording it.
    pub fn recording(upstream_port: u16) -> FaultProxy {
        FaultProxy::start(upstream_port, Vec::new())
    }

    /// Answers request n (0-based) with `faults[n]`, and every later one from upstream.
    pub fn start(upstream_port: u16, faults: Vec<Fault>) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("local addr").port();
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (seen2, held2) = (seen.clone(), held.clone());
        // The proxy's threads plant into the secrets of the test that started it.
        let planted = Planted::here();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (seen, held, faults) = (seen2.clone(), held2.clone(), faults.clone());
                let planted = planted.clone();
                thread::spawn(move || {
                    serve_one(stream, upstream_port, &seen, &held, &faults, &planted)
                });
            }
        });
        FaultProxy { port, seen, held }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        for s in self.held.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn serve_one(
    mut client: TcpStream,
    upstream_port: u16,
    seen: &Mutex<Vec<Recorded>>,
    held: &Mutex<Vec<TcpStream>>,
    faults: &[Fault],
    planted: &Planted,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, body)) = read_message(&mut client) else {
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let n = {
        let mut seen = seen.lock().expect("lock");
        seen.push(Recorded {
            method,
            path,
            headers: headers.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        seen.len() - 1
    };
    match faults.get(n) {
        Some(Fault::Silence) => {
            held.lock().expect("lock").push(client);
        }
        Some(Fault::Status {
            status,
            content_type,
            body,
        }) => {
            let mut answer = format!(
                "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nConnection: close\r\n",
                body.len()
            );
            if body.contains("__type") {
                if let Some(kind) = body.split('"').nth(3) {
                    answer.push_str(&format!("x-amzn-ErrorType: {kind}\r\n"));
                }
            }
            answer.push_str("\r\n");
            answer.push_str(body);
            let _ = client.write_all(answer.as_bytes());
        }
        None => {
            let Ok(mut upstream) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port)) else {
                let _ = client.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            };
            let mut request = format!("{request_line}\r\n");
            for (k, v) in &headers {
                if !k.eq_ignore_ascii_case("connection") {
                    request.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            request.push_str("Connection: close\r\n\r\n");
            let mut bytes = request.into_bytes();
            bytes.extend_from_slice(&body);
            if upstream.write_all(&bytes).is_err() {
                return;
            }
            let mut response = Vec::new();
            let _ = upstream.read_to_end(&mut response);
            // Planted before the client can read the answer, so before the run can end.
            for secret in issued_credentials(&String::from_utf8_lossy(&response)) {
                planted.plant(secret);
            }
            let _ = client.write_all(&with_connection_close(&response));
        }
    }
}

/// The secret parts of temporary credentials in an STS answer (`AssumeRoleWithWebIdentity`,
/// XML): the secret access key and the session token.
fn issued_credentials(answer: &str) -> Vec<String> {
    let mut found = Vec::new();
    for element in ["SecretAccessKey", "SessionToken"] {
        let (open, close) = (format!("<{element}>"), format!("</{element}>"));
        let mut rest = answer;
        while let Some(start) = rest.find(&open) {
            let value = &rest[start + open.len()..];
            let Some(end) = value.find(&close) else { break };
            let value = value[..end].trim();
            if !value.is_empty() {
                found.push(value.to_string());
            }
            rest = &value[end..];
        }
    }
    found
}

/// Reads one HTTP/1.1 message head and its `Content-Length` body.
fn read_message(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = buf[..head_end].to_vec();
    let length = String::from_utf8_lossy(&head)
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The upstream answer with its `Connection` header replaced by `Connection: close`, so the
/// client never tries to reuse a connection this proxy is about to close.
fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(end) = find(response, b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}

/// Accepts TCP connections and never answers; they close when this is dropped.
pub struct HungEndpoint {
    port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl HungEndpoint {
    pub fn start() -> HungEndpoint {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("local addr").port();
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let held2 = held.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                held2.lock().expect("lock").push(stream);
            }
        });
        HungEndpoint { port, held }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HungEndpoint {
    fn drop(&mut self) {
        for s in self.held.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Static test credentials for the node, generated per test: the secret key must never show up
/// in the provider's output.
pub struct NodeKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl NodeKeys {
    pub fn random() -> NodeKeys {
        NodeKeys {
            access_key_id: format!("AKIA{}", random_token(16).to_uppercase()),
            secret_access_key: plant(random_token(40)),
        }
    }
}

/// A clean AWS environment for one provider run: no inherited `AWS_*` or proxy variables,
/// profile files pointing into `dir` (absent unless the test writes them), IMDS disabled, the
/// node keys (if any) and `extra` on top.
pub struct AwsEnv {
    pub dir: TempDir,
    pub vars: Vec<(String, String)>,
}

impl AwsEnv {
    pub fn new(keys: Option<&NodeKeys>) -> AwsEnv {
        let dir = TempDir::new("aws");
        let mut vars = vec![
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            (
                "AWS_CONFIG_FILE".to_string(),
                dir.join("config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                dir.join("credentials").display().to_string(),
            ),
        ];
        if let Some(keys) = keys {
            vars.push(("AWS_ACCESS_KEY_ID".into(), keys.access_key_id.clone()));
            vars.push((
                "AWS_SECRET_ACCESS_KEY".into(),
                keys.secret_access_key.clone(),
            ));
        }
        AwsEnv { dir, vars }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_string(), value.into()));
        self
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`.
    pub fn endpoint(&mut self, service: &str, url: impl Into<String>) -> &mut Self {
        self.set(&format!("AWS_ENDPOINT_URL_{service}"), url)
    }

    /// Writes `text` to the AWS config file this environment names.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.dir.join("config");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl AwsEnv {
    /// `program` (the provider, or a symlink to it) with this environment only: every `AWS_*`,
    /// proxy and trust-store variable of the test process removed, then [`AwsEnv::vars`] set.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy().to_ascii_uppercase();
            if name_text.starts_with("AWS_")
                || name_text.ends_with("_PROXY")
                || name_text == "SSL_CERT_FILE"
                || name_text == "SSL_CERT_DIR"
            {
                cmd.env_remove(&name);
            }
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }
}

/// Runs the provider (or `program`, a symlink to it) with `env` only ([`AwsEnv::command`]),
/// swept for secrets at `--v=10` ([`super::sweep`]).
pub fn run_aws_as(program: &Path, args: &[&str], stdin: &str, env: &AwsEnv) -> Ran {
    let mut cmd = env.command(program);
    cmd.args(args);
    run_swept(cmd, stdin.as_bytes())
}

/// [`run_aws_as`] with the provider binary under its own name.
pub fn run_aws(args: &[&str], stdin: &str, env: &AwsEnv) -> Ran {
    run_aws_as(Path::new(PROVIDER_BIN), args, stdin, env)
}
