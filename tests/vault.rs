//! The `vault` backend against a real OpenBao server (`bao server -dev`, TLS trusted through
//! `VAULT_CACERT`): a pod's JWT login, KV version 2, the answer pulling from a real registry
//! with skopeo; a service account without access getting a clean error and never the node's
//! credentials; revocation of the login token checked through Vault's own token store; the
//! node's identities (AppRole, a token file); Docker config entries kept in Vault.
//! tests/vault_lease.rs has the dynamic secrets engine and tests/vault_faults.rs the failures.
//!
//! Every provider run goes through the secret sweep (support::sweep, `--v=10`): the root token,
//! the pod tokens, AppRole ids and the registry passwords are planted.

#![cfg(feature = "vault")]

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::fakes::Fake;
use support::registry::TestRegistry;
use support::sweep::{assert_failed, plant, run_swept, secret_token};
use support::vault::{clean_env, Bao, Issuer};
use support::{go_seconds, pod_request, random_token, response, write_private_file, Ran};

const AUDIENCE: &str = "vault.registry.example";
const REPO: &str = "team/app";

/// A kubelet request for `image`, with the pod's service-account token when there is one.
fn request(image: &str, token: Option<&str>, annotations: &[(&str, &str)]) -> String {
    match token {
        Some(token) => pod_request(image, token, annotations),
        None => support::request(image),
    }
}

/// The provider with `--config` holding `rule` (one host rule, YAML flow mapping), Vault's CA
/// in `VAULT_CACERT` and no other Vault variable than `env`.
fn provider(bao: &Bao, rule: &Value, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let config = bao.dir().join(format!("config-{}.json", random_token(6)));
    std::fs::write(&config, json!({"hostRules": [rule]}).to_string()).expect("write --config");
    let mut cmd = support::provider(&["get-credentials"]);
    clean_env(&mut cmd);
    cmd.arg(format!("--config={}", config.display()))
        .args(extra)
        .env("VAULT_CACERT", bao.ca_file())
        .envs(env.iter().copied());
    cmd
}

/// The provider's answer (swept for secrets) for `reg`'s test image, served by a rule with the
/// `vault` block, with the pod's `token` and `annotations` as kubelet sends them.
fn ask(
    bao: &Bao,
    reg: &TestRegistry,
    vault: Value,
    token: Option<&str>,
    annotations: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Ran {
    run_swept(
        provider(bao, &rule(&reg.host(), vault), &[], env),
        request(&reg.image(REPO), token, annotations).as_bytes(),
    )
}

/// A host rule for `host` served by `vault`.
fn rule(host: &str, vault: Value) -> Value {
    json!({"match": [host], "backend": "vault", "vault": vault})
}

/// A failed swept run: the one error line, holding every one of `parts`.
fn failed_with(ran: &Ran, parts: &[&str]) -> String {
    assert_failed(ran, parts, &[])
}

/// A registry with user `robot-a` and a fresh password, `team/app` pushed.
fn registry() -> (TestRegistry, String, String) {
    let user = format!("robot-{}", random_token(6).to_lowercase());
    let password = secret_token(24);
    let reg = TestRegistry::start(&user, &password);
    reg.push_test_image(REPO);
    (reg, user, password)
}

/// A server with JWT auth for `issuer`, the registry credentials at `secret/registry/a`,
/// readable by role `puller-a` (service account team-a/app) only; role `puller-b` (team-b/app)
/// may read `secret/registry/b` only.
fn pod_world(issuer: &Issuer, user: &str, password: &str) -> Bao {
    let bao = Bao::start();
    bao.enable_jwt(None, issuer);
    bao.kv_read_policy(None, "pull-a", "registry/a");
    bao.kv_read_policy(None, "pull-b", "registry/b");
    bao.jwt_role(
        None,
        "puller-a",
        ("team-a", "app"),
        AUDIENCE,
        "pull-a",
        "10m",
    );
    bao.jwt_role(
        None,
        "puller-b",
        ("team-b", "app"),
        AUDIENCE,
        "pull-b",
        "10m",
    );
    bao.kv_put(
        None,
        "registry/a",
        &[("username", user), ("password", password)],
    );
    bao.kv_put(
        None,
        "registry/b",
        &[("username", "b"), ("password", &secret_token(20))],
    );
    bao
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_pods_jwt_login_reads_kv_and_the_answer_pulls() {
    let issuer = Issuer::new();
    let (reg, user, password) = registry();
    let bao = pod_world(&issuer, &user, &password);
    let vault = json!({
        "address": bao.address(),
        "podAuth": {"role": "puller-a"},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let token = issuer.pod_token("team-a", "app", AUDIENCE);
    let ran = ask(&bao, &reg, vault, Some(&token), &[], &[]);
    let r = response(&ran);
    assert_eq!(
        r["auth"],
        json!({ reg.host(): {"username": user, "password": password} })
    );
    assert_eq!(r["cacheKeyType"], "Registry");
    // KV carries no lease: --static-cache-duration (5m), within the login token's 10 minutes.
    assert_eq!(r["cacheDuration"], "5m0s");
    reg.pull_with(REPO, &user, &password)
        .unwrap_or_else(|e| panic!("pull with the served credentials: {e}"));
    // The login token was revoked right after the read: no token from a JWT login is alive.
    assert_eq!(bao.live_logins("jwt"), Vec::<Value>::new());
    // What the run did, at -v: the role, the path and the fields, never a value.
    assert!(
        ran.stderr
            .contains("service account team-a/app (jwt role \"puller-a\" at auth/jwt)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "read secret/data/registry/a: fields \"username\" and \"password\"; no lease"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_service_account_without_access_gets_a_clean_error_never_the_nodes_credentials() {
    let issuer = Issuer::new();
    let (reg, user, password) = registry();
    let bao = pod_world(&issuer, &user, &password);
    // The node could read everything (the root token): it must never be used for a pod.
    let vault = json!({
        "address": bao.address(),
        "podAuth": {"role": "puller-a", "roleAnnotation": "vault.example.com/role"},
        "nodeAuth": {"token": {}},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let node_env = [("VAULT_TOKEN", bao.root_token())];

    // team-b/app logs in as its own role (annotation) and may not read registry/a.
    let token = issuer.pod_token("team-b", "app", AUDIENCE);
    let ran = ask(
        &bao,
        &reg,
        vault.clone(),
        Some(&token),
        &[("vault.example.com/role", "puller-b")],
        &node_env,
    );
    let line = failed_with(
        &ran,
        &[
            "vault backend, registry 127.0.0.1:",
            "service account team-b/app (jwt role \"puller-b\" at auth/jwt) may not read \
             secret/data/registry/a (policies [default, pull-b]): GET secret/data/registry/a: \
             HTTP 403 (1 error occurred: * permission denied",
            "the node's credentials are not used instead",
        ],
    );
    assert!(!line.contains(&password));
    assert_eq!(
        bao.live_logins("jwt"),
        Vec::<Value>::new(),
        "revoked after the refusal too"
    );

    // team-b/app asking for role puller-a: Vault refuses the login itself.
    let ran = ask(&bao, &reg, vault.clone(), Some(&token), &[], &node_env);
    failed_with(
        &ran,
        &[
            "service account team-b/app (jwt role \"puller-a\" at auth/jwt): login refused: \
             POST auth/jwt/login: HTTP 400",
            "the node's credentials are not used instead",
        ],
    );

    // A token for another audience, and one signed by another issuer: refused as well.
    for token in [
        issuer.pod_token("team-a", "app", "some-other-audience"),
        Issuer::new().pod_token("team-a", "app", AUDIENCE),
    ] {
        let ran = ask(&bao, &reg, vault.clone(), Some(&token), &[], &node_env);
        failed_with(&ran, &["login refused", "not used instead"]);
    }
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn node_identity_with_approle_files_and_with_a_token_file() {
    let (reg, user, password) = registry();
    let bao = Bao::start();
    bao.kv_read_policy(None, "node-pull", "registry/node");
    bao.kv_put(
        None,
        "registry/node",
        &[("username", &user), ("password", &password)],
    );
    bao.cli(&["auth", "enable", "approle"]);
    bao.cli(&[
        "write",
        "auth/approle/role/node",
        "token_policies=node-pull",
        "token_ttl=20m",
    ]);
    let role_id = plant(bao.cli(&["read", "-field=role_id", "auth/approle/role/node/role-id"]));
    let secret_id = plant(bao.cli(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/node/secret-id",
    ]));
    let dir = bao.dir().to_path_buf();
    let (role_file, secret_file) = (dir.join("role-id"), dir.join("secret-id"));
    write_private_file(&role_file, format!("{}\n", role_id.trim()).as_bytes());
    write_private_file(&secret_file, secret_id.trim().as_bytes());
    let kv = json!({"mount": "secret", "path": "registry/node"});

    let vault = json!({
        "address": bao.address(),
        "nodeAuth": {"approle": {"roleIdFile": role_file, "secretIdFile": secret_file}},
        "kv": kv,
        "cacheDuration": "1h",
    });
    let ran = ask(&bao, &reg, vault, None, &[], &[]);
    let r = response(&ran);
    assert_eq!(r["auth"][reg.host()]["password"], password.as_str());
    // The rule's hour is capped at the login token's TTL (20 minutes).
    assert_eq!(r["cacheDuration"], "20m0s");
    assert_eq!(bao.live_logins("approle"), Vec::<Value>::new());
    reg.pull_with(REPO, &user, &password).expect("pull");

    // A token file (a Vault Agent sink): used as it is, never revoked, TTL caps the cache.
    let created: Value = serde_json::from_str(&bao.cli(&[
        "token",
        "create",
        "-format=json",
        "-policy=node-pull",
        "-ttl=30m",
    ]))
    .expect("token create");
    let token = plant(created["auth"]["client_token"].as_str().expect("token"));
    let token_file: PathBuf = dir.join("agent-token");
    write_private_file(&token_file, token.as_bytes());
    let vault = json!({
        "address": bao.address(),
        "nodeAuth": {"token": {"file": token_file}},
        "kv": kv,
        "cacheDuration": "2h",
    });
    let ran = ask(&bao, &reg, vault, None, &[], &[]);
    let r = response(&ran);
    assert_eq!(r["auth"][reg.host()]["username"], user.as_str());
    let cached = go_seconds(r["cacheDuration"].as_str().expect("cacheDuration"));
    assert!(
        (1790..=1800).contains(&cached),
        "30 minutes of TTL left: {cached}"
    );
    let looked = bao.write("auth/token/lookup", json!({ "token": token }));
    assert!(
        looked["data"]["ttl"].as_u64().expect("ttl") > 0,
        "the token is still alive"
    );
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn node_identity_with_kubernetes_auth_and_the_agents_token_file() {
    let (reg, user, password) = registry();
    let issuer = Issuer::new();
    // The token of the node agent's own service account, which the API server (the fake)
    // confirms to Vault through a TokenReview.
    let node_token = issuer.pod_token(
        "kube-system",
        "credential-provider",
        "https://kubernetes.default.svc",
    );
    let api = Fake::start("tokenreview_fake.py", &[], &[("token", &node_token)]);
    let bao = Bao::start();
    bao.kv_read_policy(None, "node-pull", "registry/node");
    bao.kv_put(
        None,
        "registry/node",
        &[("username", &user), ("password", &password)],
    );
    bao.cli(&["auth", "enable", "kubernetes"]);
    bao.write(
        "auth/kubernetes/config",
        // The fake API server speaks plain HTTP; the CA is required but goes unused.
        json!({"kubernetes_host": api.url(), "disable_local_ca_jwt": true,
               "kubernetes_ca_cert": std::fs::read_to_string(bao.ca_file()).expect("CA")}),
    );
    bao.write(
        "auth/kubernetes/role/node",
        json!({"bound_service_account_names": ["credential-provider"],
               "bound_service_account_namespaces": ["kube-system"],
               "token_policies": ["node-pull"], "token_ttl": "15m"}),
    );
    let token_file = bao.dir().join("sa-token");
    write_private_file(&token_file, node_token.as_bytes());
    let vault = json!({
        "address": bao.address(),
        "nodeAuth": {"kubernetes": {"role": "node", "tokenFile": token_file}},
        "kv": {"mount": "secret", "path": "registry/node"},
    });
    let ran = ask(&bao, &reg, vault.clone(), None, &[], &[]);
    let r = response(&ran);
    assert_eq!(
        r["auth"],
        json!({ reg.host(): {"username": user, "password": password} })
    );
    reg.pull_with(REPO, &user, &password).expect("pull");
    let reviews = api.requests();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0]["json"]["spec"]["token"], node_token.as_str());
    assert_eq!(bao.live_logins("kubernetes"), Vec::<Value>::new());

    // A token the API server does not know: Vault refuses the login.
    write_private_file(
        &token_file,
        issuer
            .pod_token("kube-system", "credential-provider", "x")
            .as_bytes(),
    );
    let ran = ask(&bao, &reg, vault, None, &[], &[]);
    failed_with(
        &ran,
        &["the node (kubernetes role \"node\" at auth/kubernetes): login failed: POST auth/kubernetes/login: HTTP 403"],
    );
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_docker_config_kept_in_vault_serves_the_entry_for_the_image() {
    let issuer = Issuer::new();
    let (reg, user, password) = registry();
    let bao = pod_world(&issuer, &user, &password);
    let other = secret_token(20);
    let config = json!({"auths": {
        reg.host(): {"auth": support::sweep::plant_basic_auth(&user, &password)},
        "elsewhere.example": {"username": "x", "password": other},
    }});
    bao.kv_put(
        None,
        "registry/a",
        &[(".dockerconfigjson", &config.to_string())],
    );
    let vault = json!({
        "address": bao.address(),
        "podAuth": {"role": "puller-a"},
        "kv": {"mount": "secret", "path": "registry/a"},
        "dockerConfigJsonField": ".dockerconfigjson",
    });
    let token = issuer.pod_token("team-a", "app", AUDIENCE);
    let ran = ask(&bao, &reg, vault.clone(), Some(&token), &[], &[]);
    let r = response(&ran);
    assert_eq!(
        r["auth"],
        json!({ reg.host(): {"username": user, "password": password} })
    );
    reg.pull_with(REPO, &user, &password).expect("pull");

    // An image no entry matches: an error naming the entries, never their credentials.
    let image = format!(
        "{}:1/{REPO}",
        reg.host().split(':').next().unwrap_or_default()
    );
    let ran = run_swept(
        provider(&bao, &rule(&image, vault), &[], &[]),
        request(&image, Some(&token), &[]).as_bytes(),
    );
    failed_with(
        &ran,
        &["has no entry matching 127.0.0.1:1/team/app (entries: "],
    );
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn the_namespace_header_selects_an_openbao_namespace() {
    let issuer = Issuer::new();
    let (reg, user, password) = registry();
    let bao = Bao::start();
    let ns = Some("team-a");
    bao.cli(&["namespace", "create", "team-a"]);
    bao.cli_in(ns, &["secrets", "enable", "-path=secret", "kv-v2"], "");
    bao.enable_jwt(ns, &issuer);
    bao.kv_read_policy(ns, "pull-a", "registry/a");
    bao.jwt_role(ns, "puller-a", ("team-a", "app"), AUDIENCE, "pull-a", "10m");
    bao.kv_put(
        ns,
        "registry/a",
        &[("username", &user), ("password", &password)],
    );
    let vault = json!({
        "address": bao.address(),
        "podAuth": {"role": "puller-a"},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let token = issuer.pod_token("team-a", "app", AUDIENCE);
    let ask = |env: &[(&str, &str)]| ask(&bao, &reg, vault.clone(), Some(&token), &[], env);
    let r = response(&ask(&[("VAULT_NAMESPACE", "team-a")]));
    assert_eq!(r["auth"][reg.host()]["password"], password.as_str());
    // Outside the namespace there is no JWT auth method at all.
    failed_with(&ask(&[]), &["login refused", "POST auth/jwt/login"]);
}

#[test]
fn validate_config_checks_the_token_attributes_a_vault_rule_needs() {
    let dir = support::TempDir::new("vault-validate");
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "hostRules:\n- match: [harbor.example]\n  backend: vault\n  vault:\n    \
         podAuth: {role: pull, roleAnnotation: vault.example.com/role, audience: vault.example}\n    \
         kv: {mount: secret, path: harbor}\n",
    )
    .expect("write rules");
    let kubelet = |audience: &str| {
        let path = dir.join(format!("kubelet-{audience}.yaml"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n\
                 providers:\n- name: cloud-credential-provider\n  \
                 apiVersion: credentialprovider.kubelet.k8s.io/v1\n  \
                 args: [get-credentials, \"--config={}\"]\n  defaultCacheDuration: 5m\n  \
                 matchImages: [harbor.example]\n  tokenAttributes:\n    \
                 serviceAccountTokenAudience: {audience}\n    cacheType: ServiceAccount\n    \
                 requireServiceAccount: true\n    \
                 optionalServiceAccountAnnotationKeys: [vault.example.com/role]\n",
                rules.display()
            ),
        )
        .expect("write kubelet config");
        let path = path.to_str().expect("UTF-8 path");
        support::run(support::provider(&["validate-config", path]), b"")
    };
    let ran = kubelet("vault.example");
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(!ran.stdout.contains("warning:"), "{}", ran.stdout);
    let ran = kubelet("wrong.example");
    assert!(ran.status.success(), "warnings only: {}", ran.describe());
    assert!(
        ran.stdout.contains(
            "(vault): the JWT role's bound audience (podAuth.audience \"vault.example\") is not \
             tokenAttributes.serviceAccountTokenAudience \"wrong.example\": Vault refuses every \
             pod login"
        ),
        "{}",
        ran.stdout
    );
}

#[test]
#[ignore = "needs .venv (OpenBao's bao, trustme), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn vault_calls_take_the_environments_proxy_or_vault_proxy_addr_instead() {
    let issuer = Issuer::new();
    let (reg, user, password) = registry();
    let bao = pod_world(&issuer, &user, &password);
    let proxy_user = format!("node-{}", random_token(6).to_lowercase());
    let proxy_password = secret_token(20);
    let proxy = Fake::start(
        "connect_proxy.py",
        &[],
        &[("require_auth", &format!("{proxy_user}:{proxy_password}"))],
    );
    let via = |user: &str, password: &str| format!("http://{user}:{password}@{}", proxy.host());
    let vault = json!({
        "address": bao.address(),
        "podAuth": {"role": "puller-a"},
        "kv": {"mount": "secret", "path": "registry/a"},
    });
    let token = issuer.pod_token("team-a", "app", AUDIENCE);
    // Each call of the run (login, read, revoke) is tunnelled to OpenBao's TLS port.
    let tunnels = || {
        let target = bao.address().trim_start_matches("https://").to_string();
        let connects: Vec<Value> = proxy.requests();
        assert!(
            connects.iter().all(|r| r["path"] == target.as_str()),
            "{connects:?}"
        );
        connects.len()
    };
    let answer = |env: &[(&str, &str)]| {
        let mut cmd = provider(&bao, &rule(&reg.host(), vault.clone()), &[], &[]);
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"] {
            cmd.env_remove(name).env_remove(name.to_lowercase());
        }
        cmd.envs(env.iter().copied());
        run_swept(cmd, request(&reg.image(REPO), Some(&token), &[]).as_bytes())
    };

    // The environment's proxy, with its own credentials.
    let ran = answer(&[("HTTPS_PROXY", &via(&proxy_user, &proxy_password))]);
    assert_eq!(
        response(&ran)["auth"][reg.host()],
        json!({"username": user, "password": password})
    );
    assert!(tunnels() >= 1, "the run did not take the proxy");
    assert!(proxy
        .requests()
        .iter()
        .all(|r| r["headers"]["proxy-authorization"].is_string()));
    reg.pull_with(REPO, &user, &password)
        .unwrap_or_else(|e| panic!("pull with the credentials read through the proxy: {e}"));

    // VAULT_PROXY_ADDR wins over a dead HTTPS_PROXY, and over NO_PROXY, as in Vault's clients.
    let before = tunnels();
    let ran = answer(&[
        ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ("NO_PROXY", "127.0.0.1"),
        ("VAULT_PROXY_ADDR", &via(&proxy_user, &proxy_password)),
    ]);
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(tunnels() > before, "VAULT_PROXY_ADDR was not used");

    // The proxy refusing its credentials: one line, no proxy password or token in it.
    let wrong = secret_token(20);
    let started = std::time::Instant::now();
    let ran = answer(&[("VAULT_PROXY_ADDR", &via(&proxy_user, &wrong))]);
    let took = started.elapsed();
    let line = failed_with(
        &ran,
        &["vault backend, registry ", "proxy authorization required"],
    );
    // Refused credentials are not retried until the deadline.
    assert!(took < std::time::Duration::from_secs(5), "{took:?}: {line}");

    // A proxy variable that is no URL: named, its value never shown.
    let ran = answer(&[("VAULT_PROXY_ADDR", &format!("::{}", secret_token(12)))]);
    failed_with(&ran, &["VAULT_PROXY_ADDR is not a valid proxy URL"]);
}
