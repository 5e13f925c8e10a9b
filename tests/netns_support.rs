//! Self-test of the network-namespace test harness the cloud tests build on: a fake behind a
//! real host name and a fixed link-local address, reached over TLS trusting only a test CA.

mod support;

use support::fakes::{script, venv_python, TestCa};
use support::netns::NetNs;

#[test]
#[ignore = "needs root (a network namespace) and .venv (trustme, echo fake): scripts/test.sh runs it"]
fn real_host_names_and_metadata_address_reach_local_fakes_only() {
    let ca = TestCa::new(&["login.microsoftonline.com"]);
    let mut ns = NetNs::new("selftest");
    ns.add_address("169.254.169.254/32");
    ns.map_hosts("127.0.0.1", &["login.microsoftonline.com"]);
    let log = ns.logs().join("requests.jsonl");

    let mut tls = ns.command(venv_python());
    tls.arg(script("echo.py"))
        .args(["--port", "443", "--cert"])
        .arg(ca.cert())
        .arg("--key")
        .arg(ca.key())
        .arg("--log")
        .arg(&log);
    ns.spawn("tls-fake", tls);
    let mut plain = ns.command(venv_python());
    plain
        .arg(script("echo.py"))
        .args(["--bind", "169.254.169.254", "--port", "80"]);
    ns.spawn("imds-fake", plain);
    ns.wait_for_port("127.0.0.1", 443);
    ns.wait_for_port("169.254.169.254", 80);

    let client = r#"
import json, os, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
a = json.load(urllib.request.urlopen("https://login.microsoftonline.com/tenant/oauth2", context=ctx))
b = json.load(urllib.request.urlopen("http://169.254.169.254/metadata"))
print(a["path"], b["path"])
"#;
    let out = ns
        .command(venv_python())
        .args(["-c", client])
        .env("SSL_CERT_FILE", ca.ca())
        .output()
        .expect("client");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        ns.logs_text()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "/tenant/oauth2 /metadata"
    );
    let logged = std::fs::read_to_string(&log).expect("request log");
    assert!(logged.contains("\"path\": \"/tenant/oauth2\""), "{logged}");
}
