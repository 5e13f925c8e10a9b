//! The Python fakes of `tests/fakes/` and what every test that starts one needs: the project's
//! venv (`scripts/install-test-deps.sh` makes it: moto, trustme, kubernetes-validate), a fake on
//! a loopback port of the test's own network ([`Fake`]), the JSON-lines request log the HTTP
//! fakes keep (`fakehttp.py`), and a throwaway CA for the TLS ones ([`TestCa`]).
//!
//! Fakes inside a network namespace are started with [`super::netns::NetNs::spawn`] from a
//! command built the same way: [`venv_python`], [`script`], [`set_options`].

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{repo_path, wait_for, TempDir};

/// A program of the project's Python venv; a missing venv fails the test with the fix.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = repo_path(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "missing {}: run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

/// The Python of the venv, which runs every fake.
pub fn venv_python() -> PathBuf {
    venv_bin("python")
}

/// `tests/fakes/NAME`.
pub fn script(name: &str) -> PathBuf {
    repo_path("tests/fakes").join(name)
}

/// Adds `--set KEY=VALUE` for each option (how `fakehttp.py` fakes take their behaviour).
pub fn set_options(cmd: &mut Command, options: &[(&str, &str)]) {
    for (k, v) in options {
        cmd.arg("--set").arg(format!("{k}={v}"));
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

/// A `fakehttp.py` fake on a loopback port of the test's own network (`scripts/test.sh`:
/// loopback only), started with `--port 0 --ready FILE --log FILE` (it writes the port it got
/// into the ready file); killed on drop. Its output goes to a file that is shown if it dies
/// before listening.
pub struct Fake {
    child: Child,
    port: u16,
    log: PathBuf,
    dir: TempDir,
}

impl Fake {
    /// Starts `tests/fakes/SCRIPT` with `args` and `--set` `options`; waits until it listens.
    pub fn start(name: &str, args: &[&OsStr], options: &[(&str, &str)]) -> Fake {
        let dir = TempDir::new("fake");
        let ready = dir.join("ready");
        let log = dir.join("requests.jsonl");
        let output = dir.join("output.log");
        let out = fs::File::create(&output).expect("fake output file");
        let mut cmd = Command::new(venv_python());
        cmd.arg(script(name))
            .args(["--port", "0", "--ready"])
            .arg(&ready)
            .arg("--log")
            .arg(&log)
            .args(args);
        set_options(&mut cmd, options);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let port = ready_port(&ready, &mut child, name, &output);
        Fake {
            child,
            port,
            log,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT` (the value for `GCE_METADATA_HOST`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        read_log(&self.log)
    }

    /// A directory that lives as long as the fake (for files it serves).
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a fake gets to write its port into its `--ready` file.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The port the fake `name` writes into `ready` once it listens. Fails the test if `child`
/// exits first (showing `output`, where its output goes) or nothing readable appears within
/// [`READY_TIMEOUT`].
fn ready_port(ready: &Path, child: &mut Child, name: &str, output: &Path) -> u16 {
    wait_for(READY_TIMEOUT, &format!("{name} did not start"), || {
        if let Some(port) = fs::read_to_string(ready)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Some(port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let shown = fs::read_to_string(output).unwrap_or_default();
            panic!("{name} exited ({status}): {shown}");
        }
        None
    })
}

/// A throwaway CA and a server certificate for `names` (host names or IP addresses), made by
/// `tests/fakes/make_certs.py` with trustme. Point the binary's `SSL_CERT_FILE` at [`TestCa::ca`]:
/// that replaces the system bundle, so nothing but the fakes is trusted.
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    /// Issues the certificates.
    pub fn new(names: &[&str]) -> TestCa {
        TestCa::issue(None, names)
    }

    /// A CA whose leaf, for `name`, is a TLS client certificate with `name` as its subject's
    /// common name too (Vault's cert auth names a login after it).
    pub fn client(name: &str) -> TestCa {
        TestCa::issue(Some(name), &[name])
    }

    fn issue(common_name: Option<&str>, names: &[&str]) -> TestCa {
        let dir = TempDir::new("test-ca");
        let mut cmd = Command::new(venv_python());
        cmd.arg(script("make_certs.py"));
        if let Some(cn) = common_name {
            cmd.args(["--common-name", cn]);
        }
        let status = cmd
            .arg(dir.path())
            .args(names)
            .status()
            .expect("run make_certs.py");
        assert!(status.success(), "make_certs.py failed");
        TestCa { dir }
    }

    /// The CA certificate (PEM) to trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate chain (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server key (PEM).
    pub fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}
