//! End to end for the `file` backend (`--docker-config`): a real registry that demands Basic
//! auth, a Docker `config.json` naming its credentials, the real binary answering kubelet's
//! piped request, and a real pull with exactly the credentials it answered.
//!
//! Needs docker-registry, htpasswd, umoci and skopeo (`scripts/install-test-deps.sh`), so the
//! tests that pull are `#[ignore]`d; run with `scripts/test.sh`, which runs them and keeps the
//! suite off every network but loopback.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::registry::TestRegistry;
use support::sweep::{plant, plant_basic_auth, run_provider};
use support::{
    auth_entry, base64_encode, kubelet_auth_key, random_token, request, response,
    write_private_file, TempDir, API_V1,
};

const REPO: &str = "test/app";

/// A registry with a fresh random user and password, `test/app:latest` pushed to it.
struct Setup {
    registry: TestRegistry,
    user: String,
    password: String,
    dir: TempDir,
}

impl Setup {
    /// The password and the `auth` form of the credentials are planted (support::sweep).
    fn new(password: String) -> Setup {
        let user = format!("ci-{}", random_token(8).to_lowercase());
        let password = plant(password);
        plant_basic_auth(&user, &password);
        let registry = TestRegistry::start(&user, &password);
        registry.push_test_image(REPO);
        Setup {
            registry,
            user,
            password,
            dir: TempDir::new("docker-config"),
        }
    }

    /// Writes `{"auths": {key: entry}}` as a 0600 config.json and returns its path.
    fn docker_config(&self, key: &str, entry: Value) -> PathBuf {
        let path = self.dir.join("config.json");
        let config = json!({ "auths": { key: entry } });
        write_private_file(&path, config.to_string().as_bytes());
        path
    }
}

/// Runs the provider with `--docker-config CONFIG` for `image`, swept for secrets at `--v=10`
/// (support::sweep): asserts a clean protocol answer (`support::response`: exit 0, exactly one
/// JSON line on stdout, only known fields, kubelet's fixed values), its apiVersion echoed, and
/// returns it parsed.
fn ask(config: &Path, image: &str) -> Value {
    let config = config.to_str().expect("utf-8 path");
    let ran = run_provider(&["--docker-config", config], &request(image));
    let response = response(&ran);
    assert_eq!(response["apiVersion"], API_V1, "apiVersion is echoed");
    response
}

/// Asserts that `response` serves exactly one credential, filed under `key`, equal to
/// `user`/`password`; returns it as (user, password).
fn served(response: &Value, key: &str, user: &str, password: &str) -> (String, String) {
    assert_eq!(response["cacheKeyType"], "Registry", "{response}");
    let auth = response["auth"].as_object().expect("auth is an object");
    assert_eq!(auth.len(), 1, "exactly one credential: {response}");
    let (got_key, creds) = auth.iter().next().expect("one entry");
    assert_eq!(got_key, key, "auth key: {response}");
    assert_eq!(
        creds,
        &auth_entry(user, password),
        "auth entry holds exactly the file's username and password"
    );
    (
        creds["username"].as_str().expect("username").to_string(),
        creds["password"].as_str().expect("password").to_string(),
    )
}

/// The served credentials pull the image; the same user with a tampered password does not.
fn assert_pull_works_only_with(setup: &Setup, user: &str, password: &str) {
    let reg = &setup.registry;
    if let Err(e) = reg.pull_with(REPO, user, password) {
        panic!(
            "pull with the served credentials failed: {e}\n--- registry log ---\n{}",
            reg.log()
        );
    }
    let mut tampered = password.to_string();
    let last = tampered.pop().expect("non-empty password");
    tampered.push(if last == 'x' { 'y' } else { 'x' });
    let err = reg
        .pull_with(REPO, user, &tampered)
        .expect_err("a tampered password must not pull");
    assert!(
        err.contains("unauthorized"),
        "tampered password: expected an unauthorized error, got: {err}"
    );
    let err = reg
        .pull_anonymously(REPO)
        .expect_err("the registry must refuse anonymous pulls");
    assert!(err.contains("unauthorized"), "anonymous pull: {err}");
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn auth_field_credentials_are_served_and_pull() {
    // A colon in the password: Docker splits `auth` at the FIRST colon only.
    let setup = Setup::new(format!("{}:{}+/=", random_token(12), random_token(12)));
    let host = setup.registry.host();
    let auth = base64_encode(format!("{}:{}", setup.user, setup.password).as_bytes());
    let config = setup.docker_config(&host, json!({ "auth": auth }));

    let response = ask(&config, &setup.registry.image(REPO));
    let (user, password) = served(&response, &host, &setup.user, &setup.password);
    assert_pull_works_only_with(&setup, &user, &password);
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn username_password_fields_are_served_and_pull() {
    let setup = Setup::new(format!("{}\"\\{}", random_token(16), random_token(8)));
    let host = setup.registry.host();
    let config = setup.docker_config(
        &host,
        json!({ "username": setup.user, "password": setup.password }),
    );

    let response = ask(&config, &setup.registry.image(REPO));
    let (user, password) = served(&response, &host, &setup.user, &setup.password);
    assert_pull_works_only_with(&setup, &user, &password);
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn docker_v1_url_key_is_served_under_a_key_kubelet_files_as_the_host() {
    let setup = Setup::new(random_token(24));
    let host = setup.registry.host();
    let key = format!("https://{host}/v1/");
    let auth = base64_encode(format!("{}:{}", setup.user, setup.password).as_bytes());
    let config = setup.docker_config(&key, json!({ "auth": auth }));

    let response = ask(&config, &setup.registry.image(REPO));
    // The answer may keep the file's key or normalise it; kubelet files either under the host
    // (protocol doc §2.1), and that is what has to hold.
    let auth = response["auth"].as_object().expect("auth is an object");
    let got_key = auth.keys().next().cloned().unwrap_or_default();
    assert_eq!(kubelet_auth_key(&got_key), host, "auth key {got_key:?}");
    let (user, password) = served(&response, &got_key, &setup.user, &setup.password);
    assert_pull_works_only_with(&setup, &user, &password);
}

#[test]
fn other_port_or_host_gets_no_credentials() {
    // No registry needed: nothing may be served, whatever listens.
    let dir = TempDir::new("docker-config");
    let config = dir.join("config.json");
    let auth = plant_basic_auth("someone", &plant(random_token(16)));
    let file = json!({ "auths": { "127.0.0.1:5000": { "auth": auth } } });
    write_private_file(&config, file.to_string().as_bytes());

    // Kubelet matching: ports must be equal, including both absent (protocol doc §2.2).
    for image in [
        "127.0.0.1:5001/test/app",
        "127.0.0.1/test/app",
        "localhost:5000/test/app",
    ] {
        let response = ask(&config, image);
        assert_eq!(response["auth"], json!({}), "{image}: {response}");
    }
    // Sanity: the same file does serve its own host.
    let response = ask(&config, "127.0.0.1:5000/test/app");
    assert_eq!(response["auth"].as_object().map(|a| a.len()), Some(1));
}

#[test]
fn support_base64_matches_rfc4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain:?}");
    }
}

#[test]
fn support_kubelet_auth_key_follows_keyring_normalisation() {
    assert_eq!(kubelet_auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
    assert_eq!(
        kubelet_auth_key("https://127.0.0.1:5000/v1/"),
        "127.0.0.1:5000"
    );
    assert_eq!(kubelet_auth_key("http://reg.io/v2/team"), "reg.io/team");
    assert_eq!(kubelet_auth_key("reg.io/team/app"), "reg.io/team/app");
    assert_eq!(kubelet_auth_key("https://reg.io/"), "reg.io");
}
