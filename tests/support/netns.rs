//! A private network namespace per test, where real cloud host names reach local fakes.
//!
//! The binary must be tested unmodified: it resolves `login.microsoftonline.com` or
//! `metadata.google.internal` and connects to `169.254.169.254` exactly as on a node. So a test
//! builds a namespace (`ip netns add`) whose only interface is `lo`, puts extra addresses such
//! as `169.254.169.254/32` on it, and writes `/etc/netns/NAME/hosts`, which `ip netns exec`
//! bind-mounts over `/etc/hosts` for every command it runs. Fakes and the binary both run in
//! the namespace; nothing there can reach any other network. Needs root (CI and
//! `scripts/test.sh` run as root); a test without it fails with the reason.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{is_root, poll, random_token, require_tool, TempDir};

/// A named network namespace, deleted with everything started in it on drop.
pub struct NetNs {
    name: String,
    hosts: Vec<(String, String)>,
    children: Vec<(String, Child)>,
    logs: TempDir,
}

impl NetNs {
    /// A new namespace with `lo` up. `label` only makes the name readable in `ip netns`.
    pub fn new(label: &str) -> NetNs {
        assert!(
            is_root(),
            "network-namespace tests need root: run scripts/test.sh as root"
        );
        require_tool("ip");
        let name = format!("ccp-{label}-{}", random_token(6).to_lowercase());
        ip(&["netns", "add", &name]);
        let ns = NetNs {
            name,
            hosts: Vec::new(),
            children: Vec::new(),
            logs: TempDir::new("netns-logs"),
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an address to `lo`, e.g. `169.254.169.254/32`, so fixed-IP endpoints can be faked.
    pub fn add_address(&self, cidr: &str) {
        ip(&["-n", &self.name, "addr", "add", cidr, "dev", "lo"]);
    }

    /// Makes `names` resolve to `addr` inside the namespace.
    pub fn map_hosts(&mut self, addr: &str, names: &[&str]) {
        for name in names {
            self.hosts.push((addr.to_string(), (*name).to_string()));
        }
        let dir = self.etc_dir();
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for (addr, name) in &self.hosts {
            text.push_str(&format!("{addr} {name}\n"));
        }
        fs::write(dir.join("hosts"), text).expect("write netns hosts");
    }

    /// A command that runs `program` inside the namespace (environment inherited, so set
    /// `SSL_CERT_FILE` and friends on the returned command).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Starts a background process in the namespace (a fake server); it is killed on drop.
    /// Its stdout/stderr go to a log file shown by [`NetNs::logs`].
    pub fn spawn(&mut self, label: &str, mut cmd: Command) {
        let log = self.logs.join(format!("{label}.log"));
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        self.children.push((label.to_string(), child));
    }

    /// Waits until something accepts TCP connections on `addr:port` inside the namespace.
    pub fn wait_for_port(&mut self, addr: &str, port: u16) {
        let listening = poll(Duration::from_secs(15), || {
            let probe = self
                .command("bash")
                .arg("-c")
                .arg(format!("exec 3<>/dev/tcp/{addr}/{port}"))
                .stderr(Stdio::null())
                .status()
                .expect("probe");
            if probe.success() {
                return Some(());
            }
            let exited = self.children.iter_mut().find_map(|(label, child)| {
                child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|status| format!("{label} exited ({status})"))
            });
            if let Some(what) = exited {
                panic!("{what} before listening:\n{}", self.logs_text());
            }
            None
        });
        assert!(
            listening.is_some(),
            "nothing listens on {addr}:{port} in {}:\n{}",
            self.name,
            self.logs_text()
        );
    }

    /// Everything the background processes printed, for assertion messages.
    pub fn logs_text(&self) -> String {
        let mut text = String::new();
        for (label, _) in &self.children {
            let log = self.logs.join(format!("{label}.log"));
            text.push_str(&format!(
                "--- {label}\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        text
    }

    /// Directory for files of the namespace's processes.
    pub fn logs(&self) -> &Path {
        self.logs.path()
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(self.etc_dir());
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
