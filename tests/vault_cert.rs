//! The `vault` backend with a TLS client certificate (`VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`),
//! against a real OpenBao: the cert auth method as the node's identity (the certificate is the
//! credential, presented in the handshake), and a listener that refuses clients without a
//! certificate (`tls_require_and_verify_client_cert`). Certificates come from throwaway CAs
//! (trustme); every run goes through the secret sweep.

#![cfg(feature = "vault")]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::fakes::TestCa;
use support::registry::TestRegistry;
use support::sweep::{assert_failed, plant, run_swept, secret_token};
use support::vault::{clean_env, Bao};
use support::{random_token, request, response, Ran};

const REPO: &str = "team/app";

/// A registry with a fresh user and `REPO` pushed, and a server holding that user at
/// `secret/registry/a`, readable with policy `pull-a`.
fn world(bao: &Bao) -> (TestRegistry, String, String) {
    let user = format!("robot-{}", random_token(6).to_lowercase());
    let password = secret_token(24);
    let reg = TestRegistry::start(&user, &password);
    reg.push_test_image(REPO);
    bao.kv_read_policy(None, "pull-a", "registry/a");
    bao.kv_put(
        None,
        "registry/a",
        &[("username", &user), ("password", &password)],
    );
    (reg, user, password)
}

/// The provider's swept run for `reg`'s image with a rule using `vault`, Vault's CA trusted,
/// and `env` (the client certificate variables) on top of a clean Vault environment.
fn ask(bao: &Bao, reg: &TestRegistry, vault: Value, env: &[(&str, &Path)]) -> Ran {
    let config = bao.dir().join(format!("config-{}.json", random_token(6)));
    let rule = json!({"hostRules": [{"match": [reg.host()], "backend": "vault", "vault": vault}]});
    std::fs::write(&config, rule.to_string()).expect("write --config");
    let mut cmd: Command = support::provider(&["get-credentials"]);
    clean_env(&mut cmd);
    cmd.arg(format!("--config={}", config.display()))
        .env("VAULT_CACERT", bao.ca_file())
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())));
    run_swept(cmd, request(&reg.image(REPO)).as_bytes())
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn the_cert_auth_method_logs_the_node_in_with_its_certificate() {
    let node = TestCa::client("node-1.cluster.example");
    let bao = Bao::start();
    let (reg, user, password) = world(&bao);
    bao.cli(&["auth", "enable", "cert"]);
    bao.cli(&[
        "write",
        "auth/cert/certs/nodes",
        &format!("certificate=@{}", node.ca().display()),
        "token_policies=pull-a",
        "token_ttl=10m",
    ]);
    let vault = json!({
        "address": bao.address(),
        "nodeAuth": {"cert": {"name": "nodes"}},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let with_cert = [
        ("VAULT_CLIENT_CERT", node.cert()),
        ("VAULT_CLIENT_KEY", node.key()),
    ];
    let with_cert: Vec<(&str, &Path)> = with_cert.iter().map(|(k, v)| (*k, v.as_path())).collect();

    let ran = ask(&bao, &reg, vault.clone(), &with_cert);
    assert_eq!(
        response(&ran)["auth"],
        json!({ reg.host(): {"username": user, "password": password} })
    );
    assert!(
        ran.stderr
            .contains("the node (cert role \"nodes\" at auth/cert), policies [default, pull-a]"),
        "{}",
        ran.stderr
    );
    reg.pull_with(REPO, &user, &password)
        .unwrap_or_else(|e| panic!("pull with the served credentials: {e}"));
    // The login this run made was revoked after the read.
    assert_eq!(bao.live_logins("cert"), Vec::<Value>::new());

    // No certificate configured: the line names the two variables.
    let ran = ask(&bao, &reg, vault.clone(), &[]);
    assert_failed(
        &ran,
        &["a cert login needs the node's certificate in VAULT_CLIENT_CERT and its key in VAULT_CLIENT_KEY"],
        &[],
    );

    // A certificate of another CA: Vault refuses the login.
    let intruder = TestCa::client("intruder.example");
    let (cert, key) = (intruder.cert(), intruder.key());
    let ran = ask(
        &bao,
        &reg,
        vault.clone(),
        &[("VAULT_CLIENT_CERT", &cert), ("VAULT_CLIENT_KEY", &key)],
    );
    assert_failed(
        &ran,
        &["the node (cert role \"nodes\" at auth/cert): login failed: POST auth/cert/login"],
        &[],
    );

    // Half a configuration, and a key file that holds no key: one line each, no content.
    let ran = ask(
        &bao,
        &reg,
        vault.clone(),
        &[("VAULT_CLIENT_CERT", &node.cert())],
    );
    assert_failed(
        &ran,
        &["VAULT_CLIENT_CERT is set but VAULT_CLIENT_KEY is not"],
        &[],
    );
    let not_a_key = bao.dir().join("not-a-key.pem");
    std::fs::write(&not_a_key, plant(secret_token(40))).expect("write the bad key");
    let ran = ask(
        &bao,
        &reg,
        vault,
        &[
            ("VAULT_CLIENT_CERT", &node.cert()),
            ("VAULT_CLIENT_KEY", &not_a_key),
        ],
    );
    assert_failed(&ran, &["holds no PEM private key"], &[]);
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_listener_that_demands_a_client_certificate_gets_the_nodes() {
    let node = TestCa::client("node-1.cluster.example");
    let bao = Bao::start_requiring_client_certs(&node);
    let (reg, user, password) = world(&bao);
    let created: Value =
        serde_json::from_str(&bao.cli(&["token", "create", "-format=json", "-policy=pull-a"]))
            .expect("token create");
    let token_file = bao.dir().join("agent-token");
    let token = plant(created["auth"]["client_token"].as_str().expect("token"));
    support::write_private_file(&token_file, token.as_bytes());
    let vault = json!({
        "address": bao.address(),
        "nodeAuth": {"token": {"file": token_file}},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let (cert, key) = (node.cert(), node.key());
    let ran = ask(
        &bao,
        &reg,
        vault.clone(),
        &[("VAULT_CLIENT_CERT", &cert), ("VAULT_CLIENT_KEY", &key)],
    );
    assert_eq!(
        response(&ran)["auth"],
        json!({ reg.host(): {"username": user, "password": password} })
    );

    // Without it the handshake is refused: one line, at once (not retried to the deadline).
    let started = std::time::Instant::now();
    let ran = ask(&bao, &reg, vault, &[]);
    let took = started.elapsed();
    let line = assert_failed(&ran, &["vault backend, registry "], &[]);
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}: {line}");
}
