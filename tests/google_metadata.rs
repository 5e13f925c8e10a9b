//! The gcr backend against a fake metadata server on loopback, reached through
//! `GCE_METADATA_HOST` as Google's client libraries allow: the node-token flow, the dockercfg
//! flows, key files, the `KUBE_SIDECAR_*` overrides, the failure paths, and that nothing talks
//! to the metadata server when the request does not need it.
//!
//! Needs `.venv` for the fake and wakes the gcr backend: every test is `#[ignore]`d, run with
//! `scripts/test.sh` (loopback only, ignored tests included).

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use std::time::{Duration, Instant};

use google_common::{fake, key_file, provider, provider_as, Fake, EMAIL_PATH, TOKEN_PATH};
use serde_json::{json, Value};
use support::sweep::{assert_failed, assert_no_secret, plant, run_swept};
use support::{
    auth_entry as auth, base64_encode, drop_in, free_port, go_seconds, random_token, request,
    response, write_private_file, TempDir, API_V1,
};

const EMAIL: &str = "node-puller@proj.iam.gserviceaccount.com";

struct Node {
    fake: Fake,
    token: String,
    home: TempDir,
}

impl Node {
    fn new(extra: &[(&str, &str)]) -> Node {
        let token = format!("ya29.{}", random_token(40));
        let mut options = vec![("token", token.as_str()), ("email", EMAIL)];
        options.extend_from_slice(extra);
        Node {
            fake: fake(&options),
            token,
            home: TempDir::new("google-home"),
        }
    }

    fn run(&self, args: &[&str], image: &str, env: &[(&str, &str)]) -> support::Ran {
        let host = self.fake.host();
        let mut all = vec![("GCE_METADATA_HOST", host.as_str())];
        all.extend_from_slice(env);
        run_swept(
            provider(args, self.home.path(), &all),
            request(image).as_bytes(),
        )
    }
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn node_token_comes_from_the_metadata_server_with_the_flavor_header() {
    let node = Node::new(&[("expires_in", "3600")]);
    let ran = node.run(&[], "gcr.io/proj/app", &[]);
    let r = response(&ran);
    assert_eq!(r["kind"], "CredentialProviderResponse");
    assert_eq!(r["apiVersion"], API_V1);
    assert_eq!(r["cacheKeyType"], "Registry");
    assert_eq!(r["auth"], json!({"gcr.io": auth("_token", &node.token)}));
    let secs = go_seconds(r["cacheDuration"].as_str().unwrap());
    assert!((1799..=1800).contains(&secs), "half of 3600 s: {secs}");

    let requests = node.fake.requests();
    let paths: Vec<&str> = requests
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [EMAIL_PATH, TOKEN_PATH]);
    for r in &requests {
        assert_eq!(r["method"], "GET");
        assert_eq!(r["headers"]["metadata-flavor"], "Google", "{r}");
        assert_eq!(r["body"], "");
    }
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn fixed_keys_and_artifact_registry_hosts() {
    let node = Node::new(&[("expires_in", "120")]);
    let r = response(&node.run(
        &["--gcr-fixed-keys"],
        "us-central1-docker.pkg.dev/proj/repo/app",
        &[],
    ));
    let want = auth("_token", &node.token);
    assert_eq!(
        r["auth"],
        json!({
            "us-central1-docker.pkg.dev": want,
            "container.cloud.google.com": want,
            "gcr.io": want,
            "*.gcr.io": want,
            "*.pkg.dev": want,
        })
    );
    let secs = go_seconds(r["cacheDuration"].as_str().unwrap());
    assert!((59..=60).contains(&secs), "{secs}");
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn drop_in_name_accepts_the_reference_arguments() {
    let node = Node::new(&[]);
    let dir = TempDir::new("drop-in");
    let link = drop_in(dir.path(), "auth-provider-gcp");
    let host = node.fake.host();
    for args in [
        &["get-credentials", "--authFlow=gcr", "--v=3"][..],
        &["get-credentials", "--authFlow", "gcr"][..],
    ] {
        let cmd = provider_as(
            &link,
            args,
            node.home.path(),
            &[("GCE_METADATA_HOST", &host)],
        );
        let ran = run_swept(cmd, request("eu.gcr.io/proj/app").as_bytes());
        let r = response(&ran);
        assert_eq!(r["auth"], json!({"eu.gcr.io": auth("_token", &node.token)}));
        if args.contains(&"--v=3") {
            assert!(ran.stderr.contains(EMAIL), "identity at -v: {}", ran.stderr);
            assert!(!ran.stderr.contains(&node.token), "{}", ran.stderr);
        }
    }
    // The reference's flag values are checked, not ignored.
    let ran = node.run(&["--authFlow=metadata"], "gcr.io/p/a", &[]);
    assert_failed(
        &ran,
        &["--authFlow", "gcr, dockercfg or dockercfg-url"],
        &[],
    );
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn kube_sidecar_variables_override_cache_type_and_duration() {
    let node = Node::new(&[]);
    let r = response(&node.run(
        &[],
        "gcr.io/proj/app",
        &[
            ("KUBE_SIDECAR_CACHE_DURATION", "10m"),
            ("KUBE_SIDECAR_CACHE_TYPE", "image"),
        ],
    ));
    assert_eq!(r["cacheDuration"], "10m0s");
    assert_eq!(r["cacheKeyType"], "Image");
    let r = response(&node.run(
        &[],
        "gcr.io/proj/app",
        &[("KUBE_SIDECAR_CACHE_TYPE", "global")],
    ));
    assert_eq!(r["cacheKeyType"], "Global");
    assert_ne!(r["cacheDuration"], "0s");

    let before = node.fake.requests().len();
    let ran = node.run(
        &[],
        "gcr.io/proj/app",
        &[("KUBE_SIDECAR_CACHE_TYPE", "Registry")],
    );
    assert_failed(
        &ran,
        &["KUBE_SIDECAR_CACHE_TYPE", "image, registry or global"],
        &[],
    );
    let ran = node.run(
        &[],
        "gcr.io/proj/app",
        &[("KUBE_SIDECAR_CACHE_DURATION", "5")],
    );
    assert_failed(&ran, &["KUBE_SIDECAR_CACHE_DURATION"], &[]);
    assert_eq!(
        node.fake.requests().len(),
        before,
        "bad overrides cost no token"
    );
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn no_metadata_request_when_the_request_does_not_need_one() {
    let node = Node::new(&[]);
    let r = response(&node.run(&[], "registry.example.com/team/app", &[]));
    assert_eq!(r["auth"], json!({}));
    let host = node.fake.host();
    let env = [("GCE_METADATA_HOST", host.as_str())];
    for args in [
        &["check", "gcr.io/proj/app", "--offline"][..],
        &[
            "check",
            "europe-docker.pkg.dev/p/r/a",
            "--offline",
            "-o",
            "json",
        ][..],
        &["check", "nginx"][..],
    ] {
        let ran = run_swept(provider(args, node.home.path(), &env), b"");
        assert!(ran.status.success(), "{}", ran.describe());
    }
    assert_eq!(node.fake.requests(), Vec::<Value>::new());

    // Online, check shows the identity and expiry, never the token.
    let ran = run_swept(
        provider(
            &["check", "gcr.io/proj/app", "-o", "json"],
            node.home.path(),
            &env,
        ),
        b"",
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["backend"], "gcr");
    assert!(
        report["identity"].as_str().unwrap().contains(EMAIL),
        "{report}"
    );
    assert!(
        report["expiresAt"].as_str().unwrap().ends_with('Z'),
        "{report}"
    );
    assert_eq!(
        report["details"]["flow"],
        "gcr (OAuth access token, username _token)"
    );
    assert!(!ran.stdout.contains(&node.token));
}

#[test]
#[ignore = "wakes the gcr backend, which could probe instance metadata: needs a loopback-only netns; scripts/test.sh runs it"]
fn an_absent_metadata_server_fails_fast_and_is_named() {
    let home = TempDir::new("google-home");
    // Nothing listens there.
    let host = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let ran = run_swept(
        provider(&[], home.path(), &[("GCE_METADATA_HOST", &host)]),
        request("gcr.io/proj/app").as_bytes(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_failed(
        &ran,
        &[
            "gcr backend, registry gcr.io",
            "flow gcr",
            &format!("metadata server {host} is unreachable"),
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
        &[],
    );
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_hung_metadata_server_is_abandoned_within_bounds() {
    let node = Node::new(&[("hang", "metadata")]);
    let started = Instant::now();
    let ran = node.run(&["--timeout=3s"], "gcr.io/proj/app", &[]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "cut at --timeout: {took:?}");
    assert_failed(&ran, &["registry gcr.io", "flow gcr"], &[]);

    // Without --timeout (30 s), one metadata call still gives up after its own budget.
    let started = Instant::now();
    let ran = node.run(&[], "gcr.io/proj/app", &[]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "metadata budget: {took:?}");
    assert_failed(&ran, &["metadata server", "too slow"], &[]);
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_loaded_metadata_server_is_retried_until_it_answers() {
    // 503 five times: retried on the short transient backoff, well inside the deadline.
    let node = Node::new(&[("metadata_fail", "5:503")]);
    let ran = node.run(&[], "gcr.io/proj/app", &[]);
    let r = response(&ran);
    assert_eq!(r["auth"]["gcr.io"]["password"], node.token.as_str());
    assert_eq!(
        node.fake.requests().len(),
        5 + 2,
        "5 failures, then email and token"
    );

    // 429 with Retry-After: 1, three times: each wait honours it, past the 6 s a silent server
    // gets, because this one answers.
    let node = Node::new(&[("metadata_fail", "3:429")]);
    let started = Instant::now();
    let ran = node.run(&[], "gcr.io/proj/app", &[]);
    let took = started.elapsed();
    let r = response(&ran);
    assert_eq!(r["auth"]["gcr.io"]["password"], node.token.as_str());
    assert!(
        took >= Duration::from_secs(3),
        "three Retry-After waits: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");

    // Throttled for good: given up at the run's deadline, not at the first answer.
    let node = Node::new(&[("metadata_fail", "1000:429")]);
    let started = Instant::now();
    let ran = node.run(&["--timeout=8s"], "gcr.io/proj/app", &[]);
    let took = started.elapsed();
    assert_failed(&ran, &["HTTP 429"], &[]);
    assert!(took >= Duration::from_secs(6), "kept trying: {took:?}");
    assert!(took < Duration::from_secs(9), "within --timeout: {took:?}");
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn metadata_errors_are_errors_not_anonymous_pulls() {
    let node = Node::new(&[("metadata_status", "404")]);
    let ran = node.run(&[], "gcr.io/proj/app", &[]);
    assert_failed(&ran, &["default service account email", "HTTP 404"], &[]);
    let node = Node::new(&[("metadata_status", "503")]);
    let started = Instant::now();
    let ran = node.run(&["--timeout=4s"], "gcr.io/proj/app", &[]);
    let took = started.elapsed();
    assert_failed(&ran, &["HTTP 503"], &[]);
    // 5xx is retried with backoff until the deadline, then the last answer is the error.
    let calls = node.fake.requests().len();
    assert!((4..=12).contains(&calls), "backed-off retries: {calls}");
    assert!(took < Duration::from_secs(5), "within --timeout: {took:?}");
}

// ---------------------------------------------------------------------------------------------
// dockercfg flows
// ---------------------------------------------------------------------------------------------

/// A fake whose `google-dockercfg` attribute (and `/dockercfg`) serve `config`.
fn dockercfg_fake(config: &str, extra: &[(&str, &str)]) -> Node {
    let dir = TempDir::new("dockercfg");
    let path = dir.join("dockercfg.json");
    write_private_file(&path, config.as_bytes());
    let path_text = path.display().to_string();
    let mut options = vec![("dockercfg_file", path_text.as_str())];
    options.extend_from_slice(extra);
    let mut node = Node::new(&options);
    node.home = dir; // the file lives as long as the fake
    node
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn dockercfg_attribute_padded_unpadded_and_auth_overriding_username() {
    let padded = plant(base64_encode(b"gcr-user:p1"));
    assert!(padded.ends_with('='));
    let unpadded = plant(
        base64_encode(b"corp-user:pw:2")
            .trim_end_matches('=')
            .to_string(),
    );
    let config = json!({
        "gcr.io": {"auth": padded, "email": "a@b"},
        "https://registry.example:5000": {"auth": unpadded, "username": "x", "password": "y"},
    });
    let node = dockercfg_fake(&config.to_string(), &[]);
    let r = response(&node.run(&["--authFlow=dockercfg"], "gcr.io/proj/app", &[]));
    assert_eq!(r["auth"], json!({"gcr.io": auth("gcr-user", "p1")}));
    assert_eq!(r["cacheKeyType"], "Registry");
    assert_eq!(r["cacheDuration"], "5m0s");
    // Not a Google host: with a dockercfg flow, served too.
    let r = response(&node.run(
        &["--authFlow", "dockercfg"],
        "registry.example:5000/app",
        &[],
    ));
    assert_eq!(
        r["auth"],
        json!({"registry.example:5000": auth("corp-user", "pw:2")})
    );
    // No entry matches: no credentials.
    let r = response(&node.run(&["--authFlow=dockercfg"], "quay.io/org/app", &[]));
    assert_eq!(r["auth"], json!({}));
    let requests = node.fake.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            r["path"],
            "/computeMetadata/v1/instance/attributes/google-dockercfg"
        );
        assert_eq!(r["headers"]["metadata-flavor"], "Google");
    }
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn bad_dockercfg_entries_are_errors_without_the_secret() {
    plant("secretvalue");
    let node = dockercfg_fake(r#"{"gcr.io":{"auth":"!!!not-base64-secretvalue"}}"#, &[]);
    let ran = node.run(&["--authFlow=dockercfg"], "gcr.io/proj/app", &[]);
    assert_failed(
        &ran,
        &[
            "flow dockercfg",
            "instance attribute google-dockercfg",
            "not valid base64",
        ],
        &["secretvalue"],
    );
    let no_colon = plant(base64_encode(b"nocolonsecret"));
    plant("nocolonsecret");
    let node = dockercfg_fake(&json!({"gcr.io": {"auth": no_colon}}).to_string(), &[]);
    let ran = node.run(&["--authFlow=dockercfg"], "gcr.io/proj/app", &[]);
    assert_failed(&ran, &["no colon"], &["nocolonsecret"]);
    // Attribute not set on the instance.
    let node = Node::new(&[]);
    let ran = node.run(&["--authFlow=dockercfg"], "gcr.io/proj/app", &[]);
    assert_failed(&ran, &["google-dockercfg", "HTTP 404"], &[]);
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn dockercfg_url_is_fetched_over_http_without_the_metadata_header() {
    let password = plant(random_token(24));
    let config = json!({"auths": {"gcr.io": {"username": "_json_key", "password": password}}});
    let node = dockercfg_fake(
        &config.to_string(),
        &[(
            "dockercfg_url",
            "http://{self}/dockercfg?X-Goog-Signature=sig",
        )],
    );
    let r = response(&node.run(&["--authFlow=dockercfg-url"], "gcr.io/proj/app", &[]));
    assert_eq!(r["auth"], json!({"gcr.io": auth("_json_key", &password)}));
    let requests = node.fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[0]["path"],
        "/computeMetadata/v1/instance/attributes/google-dockercfg-url"
    );
    assert_eq!(requests[0]["headers"]["metadata-flavor"], "Google");
    assert_eq!(requests[1]["path"], "/dockercfg");
    assert_eq!(requests[1]["query"]["X-Goog-Signature"], "sig");
    assert!(requests[1]["headers"].get("metadata-flavor").is_none());
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn dockercfg_url_refuses_other_schemes_and_hides_signed_queries() {
    for url in ["file:///etc/passwd", "gs://bucket/dockercfg", "/etc/passwd"] {
        let node = dockercfg_fake("{}", &[("dockercfg_url", url)]);
        let ran = node.run(&["--authFlow=dockercfg-url"], "gcr.io/proj/app", &[]);
        assert_failed(&ran, &["flow dockercfg-url", "http:// or https://"], &[]);
        // Only the attribute was read; nothing was fetched.
        assert_eq!(node.fake.requests().len(), 1);
    }
    plant("SECRETSIG");
    let node = dockercfg_fake(
        "{}",
        &[("dockercfg_url", "http://{self}/missing?sig=SECRETSIG")],
    );
    let ran = node.run(&["--authFlow=dockercfg-url"], "gcr.io/proj/app", &[]);
    assert_failed(&ran, &["/missing", "HTTP 404"], &["SECRETSIG"]);
}

// ---------------------------------------------------------------------------------------------
// Service-account key file
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_key_file_wins_over_the_metadata_server() {
    let oauth_token = format!("ya29.key-{}", random_token(30));
    let dir = TempDir::new("keyfile");
    let key = dir.join("key.json");
    let email = "ci-puller@proj.iam.gserviceaccount.com";
    // The fake knows its port only once started: start it, then write the key naming it.
    let node = Node::new(&[
        ("oauth_token", &oauth_token),
        ("key_file", &key.display().to_string()),
    ]);
    let token_uri = format!("http://{}/token", node.fake.host());
    key_file(&key, &token_uri, email);
    let key_text = key.display().to_string();
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", key_text.as_str())];
    let ran = node.run(&["-v"], "gcr.io/proj/app", &env);
    let r = response(&ran);
    assert_eq!(r["auth"], json!({"gcr.io": auth("_token", &oauth_token)}));
    assert!(ran.stderr.contains(email), "{}", ran.stderr);
    let requests = node.fake.requests();
    assert_eq!(requests.len(), 1, "no metadata request: {requests:?}");
    assert_eq!(requests[0]["path"], "/token");
    assert_eq!(
        requests[0]["form"]["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );

    // A key the token endpoint does not know: its refusal is shown, the key never.
    let other = dir.join("other.json");
    key_file(&other, &token_uri, email);
    let other_text = other.display().to_string();
    let ran = node.run(
        &[],
        "gcr.io/proj/app",
        &[("GOOGLE_APPLICATION_CREDENTIALS", other_text.as_str())],
    );
    assert_failed(
        &ran,
        &[email, "HTTP 400", "invalid_grant", "bad signature"],
        &["PRIVATE KEY"],
    );
    // The signed assertion is a credential too; the fake's refusal quotes it, the error must not.
    let requests = node.fake.requests();
    let assertions: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["form"]["assertion"].as_str())
        .collect();
    assert_eq!(assertions.len(), 2, "{requests:?}");
    assert_no_secret(&ran, &assertions);
    // A missing key file is an error, not a fallback to the metadata server.
    let ran = node.run(
        &[],
        "gcr.io/proj/app",
        &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
    );
    assert_failed(
        &ran,
        &["GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json"],
        &[],
    );
    assert!(node.fake.requests().iter().all(|r| r["path"] == "/token"));
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn metadata_requests_never_go_through_a_proxy() {
    // A node-wide HTTP_PROXY without a NO_PROXY entry for the metadata server must not break
    // node identity: the link-local metadata server is always reached directly.
    let node = Node::new(&[("expires_in", "3600")]);
    let ran = node.run(
        &[],
        "gcr.io/proj/app",
        &[
            ("HTTP_PROXY", "http://127.0.0.1:9"),
            ("http_proxy", "http://127.0.0.1:9"),
        ],
    );
    let r = response(&ran);
    assert_eq!(r["auth"]["gcr.io"]["password"], node.token.as_str());
}
