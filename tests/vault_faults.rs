//! The `vault` backend when Vault is not well: sealed (a real OpenBao server, sealed by its
//! operator command), answering 5xx, hanging (tests/fakes/vault_faults.py), or not there. Each
//! is one clean error line inside the run's deadline, and a sealed Vault fails at once instead
//! of being retried until the deadline (it will not unseal within a run, and every pull of the
//! node would wait for it).

#![cfg(feature = "vault")]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::fakes::Fake;
use support::sweep::assert_failed;
use support::sweep::run_swept;
use support::vault::{clean_env, Bao, Issuer};
use support::{pod_request, provider, Ran, TempDir};

const IMAGE: &str = "registry.corp.example/team/app";

/// A provider run against `address` with a pod token of `issuer`, `--timeout=TIMEOUT`.
fn ask(address: &str, ca: Option<&std::path::Path>, timeout: &str) -> (Ran, Duration) {
    let dir = TempDir::new("vault-faults");
    let config = dir.join("config.json");
    let rule = json!({"hostRules": [{
        "match": ["registry.corp.example"], "backend": "vault",
        "vault": {"address": address, "podAuth": {"role": "puller"},
                  "kv": {"mount": "secret", "path": "registry"}},
    }]});
    std::fs::write(&config, rule.to_string()).expect("write --config");
    let token = Issuer::new().pod_token("team-a", "app", "aud");
    let config = format!("--config={}", config.display());
    let timeout = format!("--timeout={timeout}");
    let mut cmd = provider(&[&config, &timeout]);
    clean_env(&mut cmd);
    if let Some(ca) = ca {
        cmd.env("VAULT_CACERT", ca);
    }
    let request = pod_request(IMAGE, &token, &[]);
    let started = Instant::now();
    let ran = run_swept(cmd, request.as_bytes());
    (ran, started.elapsed())
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn a_sealed_vault_fails_at_once_with_one_line() {
    let bao = Bao::start();
    bao.cli(&["operator", "seal"]);
    let (ran, took) = ask(&bao.address(), Some(&bao.ca_file()), "30s");
    let sealed = format!(
        "Vault at {}/ is sealed (HTTP 503); an operator has to unseal it",
        bao.address()
    );
    assert_failed(&ran, &[&sealed], &[]);
    assert!(took < Duration::from_secs(5), "not retried: {took:?}");
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn server_errors_are_retried_until_the_deadline_then_reported() {
    let fake = Fake::start("vault_faults.py", &[], &[("mode", "5xx")]);
    let (ran, took) = ask(&fake.url(), None, "4s");
    assert_failed(
        &ran,
        &["login refused: POST auth/jwt/login: HTTP 500 (internal error)"],
        &[],
    );
    assert!(fake.requests().len() >= 2, "retried");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn a_hung_vault_is_cut_at_the_deadline() {
    let fake = Fake::start("vault_faults.py", &[], &[("mode", "hang")]);
    let (ran, took) = ask(&fake.url(), None, "3s");
    assert_failed(&ran, &["no answer before the deadline"], &[]);
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme, the Python fakes): scripts/test.sh runs it"]
fn an_untrusted_certificate_or_no_server_is_one_line() {
    let bao = Bao::start();
    // Without VAULT_CACERT the system store does not know the test CA.
    let (ran, took) = ask(&bao.address(), None, "10s");
    assert_failed(&ran, &["certificate"], &[]);
    assert!(
        took < Duration::from_secs(3),
        "a TLS refusal is not retried: {took:?}"
    );
    drop(bao);
    let (ran, _) = ask("https://127.0.0.1:9", None, "10s");
    assert_failed(&ran, &["unreachable after 3 attempt(s)"], &[]);
}
