//! The binary as minimal node OSes (Talos, Bottlerocket, Flatcar) run it: statically linked, in
//! a root that holds nothing but the binary, `/etc/hosts`, `/etc/resolv.conf` and a CA bundle
//! (no C library, no NSS modules, no `/proc`). It fetches a token over TLS from a fake reached
//! by its real host name, once through the hosts file and once through DNS.
//!
//! The fake is Google's STS (`sts.googleapis.com`, GKE workload identity): one TLS call, no
//! metadata server. Every HTTP client of the binary resolves names the same way
//! (`src/resolver.rs` behind `src/http.rs`), so this path stands for all of them.

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use google_common::GoogleNs;
use serde_json::{json, Value};
use support::fakes::{script, venv_python};
use support::sweep::{plant, run_swept};
use support::{
    auth_entry, pod_request, random_token, require_tool, response, Ran, TempDir, PROVIDER_BIN,
};

const IDP: &str =
    "https://container.googleapis.com/v1/projects/proj/locations/europe-west1/clusters/c1";
const ENABLE: &str = "iam.gke.io/enable-wi-image-pull";
const ARGS: [&str; 6] = [
    "get-credentials",
    "--authFlow=gcr",
    "--identity-provider",
    IDP,
    "--project-id=proj",
    "-v",
];

#[test]
#[ignore = "needs file(1): scripts/test.sh runs it"]
fn the_binary_is_statically_linked() {
    let file = require_tool("file");
    let out = Command::new(file)
        .arg("-L")
        .arg(PROVIDER_BIN)
        .output()
        .expect("run file");
    let text = String::from_utf8_lossy(&out.stdout);
    // Not a static PIE either: .cargo/config.toml asks for a fixed load address (no
    // self-relocation at start-up).
    assert!(text.contains("statically linked"), "{text}");
}

/// A root directory with only what a minimal node gives a plugin.
fn minimal_root(ca: &Path, hosts: &str, resolv_conf: &str) -> TempDir {
    let root = TempDir::new("minimal-root");
    fs::create_dir_all(root.join("etc/ssl")).expect("mkdir etc/ssl");
    let bin = root.join("cloud-credential-provider");
    fs::copy(PROVIDER_BIN, &bin).expect("copy the binary");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(root.join("etc/hosts"), hosts).expect("hosts");
    fs::write(root.join("etc/resolv.conf"), resolv_conf).expect("resolv.conf");
    fs::copy(ca, root.join("etc/ssl/ca.pem")).expect("copy the CA");
    root
}

/// Runs the binary chrooted into `root` (a new mount namespace) inside the fake's network
/// namespace, with an environment that holds only the CA bundle's path; swept for secrets at
/// `--v=10` (support::sweep).
fn run_in_root(g: &GoogleNs, root: &TempDir, token: &str) -> Ran {
    let mut cmd = g.ns.command("unshare");
    cmd.arg("--mount")
        .arg("--root")
        .arg(root.path())
        .arg("/cloud-credential-provider")
        .args(ARGS)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("SSL_CERT_FILE", "/etc/ssl/ca.pem");
    run_swept(
        cmd,
        pod_request("gcr.io/proj/app", token, &[(ENABLE, "true")]).as_bytes(),
    )
}

/// Checks the answer and that exactly one token exchange reached the fake by name.
fn assert_served(g: &GoogleNs, ran: &Ran, sts_token: &str, exchanges: usize) {
    let r = response(ran);
    assert_eq!(
        r["auth"],
        json!({"gcr.io": auth_entry("_token", sts_token)})
    );
    let tls = g.tls_requests();
    assert_eq!(tls.len(), exchanges, "{tls:?}");
    assert_eq!(tls[exchanges - 1]["headers"]["host"], "sts.googleapis.com");
}

#[test]
#[ignore = "needs root (network namespaces, unshare --root) and .venv (trustme, Google and DNS fakes): scripts/test.sh runs it"]
fn a_minimal_root_resolves_through_the_hosts_file_and_through_dns() {
    require_tool("unshare");
    let sts_token = format!("ya29.fed-{}", random_token(30));
    let pod_token = plant(format!("eyJ.pod-{}", random_token(40)));
    let mut g = GoogleNs::start("static", &[("sts_token", sts_token.as_str())]);

    // 1. /etc/hosts names the host; the nameserver (nothing listens yet) is never asked.
    let root = minimal_root(
        &g.ca.ca(),
        "127.0.0.1 localhost\n127.0.0.1 sts.googleapis.com\n",
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    );
    let ran = run_in_root(&g, &root, &pod_token);
    assert_served(&g, &ran, &sts_token, 1);

    // 2. Only DNS knows the host: a nameserver on 127.0.0.1:53 of the namespace.
    let dns_dir = TempDir::new("dns-fake");
    let mut dns = g.ns.command(venv_python());
    dns.arg(script("dns_fake.py"))
        .args(["--bind", "127.0.0.1", "--port", "53", "--ready"])
        .arg(dns_dir.join("ready"))
        .arg("sts.googleapis.com=127.0.0.1");
    // The fake logs each query as a JSON line on stdout, which spawn() keeps in the log dir.
    g.ns.spawn("dns-fake", dns);
    g.ns.wait_for_port("127.0.0.1", 53);
    let root = minimal_root(
        &g.ca.ca(),
        "127.0.0.1 localhost\n",
        "nameserver 127.0.0.1\nsearch example.internal\noptions timeout:2 attempts:2\n",
    );
    let ran = run_in_root(&g, &root, &pod_token);
    assert_served(&g, &ran, &sts_token, 2);
    let asked: Vec<Value> = fs::read_to_string(g.ns.logs().join("dns-fake.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("query log line"))
        .collect();
    let names: Vec<(&str, &str)> = asked
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap_or(""),
                q["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // Two dots ≥ ndots 1: the name as is first (A and AAAA), which answers.
    assert!(names.contains(&("sts.googleapis.com", "A")), "{asked:?}");
    assert!(
        names.iter().all(|(n, _)| *n == "sts.googleapis.com"),
        "{asked:?}"
    );
}
