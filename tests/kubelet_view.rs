//! `kubelet-view` run as an operator runs it on a node: a kubelet config (file or directory), a
//! bin dir, real provider binaries — this one under its own and a drop-in name, serving a real
//! registry that then pulls with the credential kubelet would try first, and small foreign
//! providers in sh and Python for what only a foreign plugin does wrong (garbage on stdout, an
//! answer in another apiVersion, a hang, env and args that matter, overlapping answers, ports).
//!
//! Every run is checked for the secrets the test planted: none may appear on stdout or stderr,
//! whatever the providers printed. The registry test (docker-registry, htpasswd, umoci, skopeo)
//! and the Python providers (the project's `.venv`) are `#[ignore]`d: `scripts/test.sh` runs
//! them, off every network but loopback.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fakes::venv_python;
use support::registry::TestRegistry;
use support::sweep::{assert_report_swept, plant_basic_auth, secret_token};
use support::{
    auth_entry, base64_encode, drop_in, path_str, provider, run, write_file, write_private_file,
    Ran, TempDir, API_V1 as V1,
};

const V1ALPHA1: &str = "credentialprovider.kubelet.k8s.io/v1alpha1";

/// A node: a bin dir and a config directory in a scratch directory.
struct Node {
    dir: TempDir,
}

impl Node {
    fn new(label: &str) -> Node {
        let dir = TempDir::new(label);
        fs::create_dir(dir.join("bin")).expect("bin dir");
        fs::create_dir(dir.join("conf")).expect("config dir");
        Node { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("conf")
    }

    /// An executable `bin/<name>` with `interpreter` on its `#!` line.
    fn program(&self, name: &str, interpreter: &Path, body: &str) {
        let script = format!("#!{}\n{body}", interpreter.display());
        write_file(&self.bin().join(name), script, 0o755);
    }

    fn sh(&self, name: &str, body: &str) {
        self.program(name, Path::new("/bin/sh"), body);
    }

    fn python(&self, name: &str, body: &str) {
        self.program(name, &venv_python(), body);
    }

    /// A sh provider that reads the request and answers `cache_key_type` and `auth` in
    /// `api_version`.
    fn answers(&self, name: &str, api_version: &str, cache_key_type: &str, auth: Value) {
        self.sh(
            name,
            &answering(&response(api_version, cache_key_type, auth)),
        );
    }

    /// `conf/<file>`: a v1 `CredentialProviderConfig` holding `providers` (YAML list items).
    fn config(&self, file: &str, providers: &[String]) -> PathBuf {
        let path = self.conf().join(file);
        let text = format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{}",
            providers.concat()
        );
        fs::write(&path, text).expect("write config");
        path
    }

    /// A file under the node's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn run(&self, config: &Path, image: &str, extra: &[&str], env: &[(&str, &str)]) -> Ran {
        let bin = self.bin();
        let mut args = vec!["kubelet-view", image, "--config", path_str(config)];
        args.extend(["--bin-dir", path_str(&bin)]);
        args.extend_from_slice(extra);
        let mut cmd = provider(&args);
        cmd.envs(env.iter().copied());
        let ran = run(cmd, b"");
        // No secret planted by this test in the report, whatever the providers printed.
        assert_report_swept(&ran);
        ran
    }

    /// The JSON report and the exit code.
    fn view(&self, config: &Path, image: &str, extra: &[&str]) -> (i32, Value) {
        self.view_env(config, image, extra, &[])
    }

    fn view_env(
        &self,
        config: &Path,
        image: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (i32, Value) {
        let mut args = vec!["--output", "json"];
        args.extend_from_slice(extra);
        let ran = self.run(config, image, &args, env);
        let report: Value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", ran.describe()));
        assert!(ran.stderr.is_empty(), "stderr: {}", ran.stderr);
        (ran.code(), report)
    }

    /// The text report and the exit code.
    fn view_text(&self, config: &Path, image: &str, extra: &[&str]) -> (i32, String) {
        let ran = self.run(config, image, extra, &[]);
        (ran.code(), ran.stdout)
    }
}

/// One provider entry of a config.
fn provider_entry(name: &str, api_version: &str, match_images: &[&str], extra: &str) -> String {
    format!(
        "  - name: {name}\n    apiVersion: {api_version}\n    defaultCacheDuration: \"5m\"\n    matchImages: {}\n{extra}",
        json!(match_images)
    )
}

/// A sh body that reads the request and prints `answer` (a JSON value) as kubelet wants it.
fn answering(answer: &Value) -> String {
    format!("cat >/dev/null\nprintf '%s\\n' '{answer}'\n")
}

fn response(api_version: &str, cache_key_type: &str, auth: Value) -> Value {
    json!({
        "kind": "CredentialProviderResponse",
        "apiVersion": api_version,
        "cacheKeyType": cache_key_type,
        "cacheDuration": "1m0s",
        "auth": auth,
    })
}

/// (key, provider, username) of each credential kubelet would try.
fn tries(report: &Value) -> Vec<(String, String, String)> {
    report["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .map(|c| {
            let s = |f: &str| c[f].as_str().expect(f).to_string();
            (s("key"), s("provider"), s("username"))
        })
        .collect()
}

fn provider_report<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no provider {name} in {report:#}"))
}

fn triple(key: &str, provider: &str, user: &str) -> (String, String, String) {
    (key.to_string(), provider.to_string(), user.to_string())
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn own_binary_and_a_drop_in_name_serve_a_real_registry_in_kubelets_order() {
    let alice = secret_token(24);
    let bob = secret_token(20);
    let bob_stale = secret_token(22);
    plant_basic_auth("alice", &alice);
    plant_basic_auth("bob", &bob_stale);
    let registry = TestRegistry::start_with_users(&[("alice", &alice), ("bob", &bob)]);
    registry.push_test_image("test/app");
    let host = registry.host();

    let node = Node::new("kubelet-view-registry");
    drop_in(&node.bin(), "cloud-credential-provider");
    drop_in(&node.bin(), "ecr-credential-provider");
    // The node-wide file still has bob's old password; a team file has alice's for test/.
    let bob_file = node.path("bob.json");
    let team_file = node.path("team.json");
    let bob_auth = json!({ "auths": { &host: auth_entry("bob", &bob_stale) } });
    let team_key = format!("https://{host}/v1/test");
    let team_auth = base64_encode(format!("alice:{alice}").as_bytes());
    let team = json!({ "auths": { &team_key: { "auth": team_auth } } });
    write_private_file(&bob_file, bob_auth.to_string().as_bytes());
    write_private_file(&team_file, team.to_string().as_bytes());
    node.config(
        "10-own.yaml",
        &[provider_entry(
            "cloud-credential-provider",
            V1,
            &[&host],
            &format!(
                "    args: [\"get-credentials\", \"--docker-config={}\"]\n",
                bob_file.display()
            ),
        )],
    );
    node.config(
        "20-drop-in.yaml",
        &[provider_entry(
            "ecr-credential-provider",
            V1,
            &[&host, "*.dkr.ecr.*.amazonaws.com"],
            &format!(
                "    args: [\"get-credentials\", \"--docker-config={}\"]\n",
                team_file.display()
            ),
        )],
    );
    let image = format!("{host}/test/app:latest");

    let (code, report) = node.view(&node.conf(), &image, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["kubeletImage"], format!("{host}/test/app"));
    // The longer key first, though its provider comes second in the config.
    assert_eq!(
        tries(&report),
        [
            triple(&format!("{host}/test"), "ecr-credential-provider", "alice"),
            triple(&host, "cloud-credential-provider", "bob"),
        ],
        "{report:#}"
    );
    assert_eq!(report["credentials"][0]["passwordLength"], alice.len());
    // Cache scopes: a path key makes this binary answer Image; the host key Registry.
    let own = provider_report(&report, "cloud-credential-provider");
    assert_eq!(own["cache"]["keyType"], "Registry");
    assert_eq!(own["cache"]["base"], host.as_str());
    let expected_key = format!("\"\\x00\\x{:02x}{host}\\x00\\x00\"", host.len());
    assert_eq!(own["cache"]["cacheKey"], expected_key.as_str());
    let drop_in = provider_report(&report, "ecr-credential-provider");
    assert_eq!(drop_in["cache"]["keyType"], "Image");
    assert_eq!(drop_in["cache"]["base"], format!("{host}/test/app"));
    assert_eq!(
        drop_in["response"]["auth"][0]["kubeletKey"],
        format!("{host}/test")
    );

    // The credential kubelet tries first pulls; the second one would not have.
    let (key, who, user) = &tries(&report)[0];
    let password = match (who.as_str(), user.as_str()) {
        ("ecr-credential-provider", "alice") => &alice,
        other => panic!("unexpected first credential {other:?} under {key}"),
    };
    if let Err(e) = registry.pull_with("test/app", user, password) {
        panic!(
            "pull with kubelet's first credential: {e}\n{}",
            registry.log()
        );
    }
    let err = registry
        .pull_with("test/app", "bob", &bob_stale)
        .expect_err("the stale second credential");
    assert!(err.contains("unauthorized"), "{err}");

    let (code, text) = node.view_text(&node.conf(), &image, &[]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!(
            "kubelet tries, in this order:\n  1. key \"{host}/test\" from \"ecr-credential-provider\": username \"alice\", password 24 bytes\n  2. key \"{host}\" from \"cloud-credential-provider\": username \"bob\", password 22 bytes\n"
        )),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "OK: kubelet gets 2 credentials for \"{host}/test/app\" from its credential providers\n"
        )),
        "{text}"
    );
}

#[test]
fn this_binary_with_args_it_refuses_fails_and_shows_why() {
    let node = Node::new("kubelet-view-own-args");
    drop_in(&node.bin(), "cloud-credential-provider");
    let config = node.config(
        "c.yaml",
        &[provider_entry(
            "cloud-credential-provider",
            V1,
            &["reg.example"],
            "    args: [\"get-credentials\", \"--bogus\"]\n",
        )],
    );
    let (code, report) = node.view(&config, "reg.example/app", &[]);
    assert_eq!(code, 1);
    let own = provider_report(&report, "cloud-credential-provider");
    assert_eq!(own["outcome"], "failed");
    assert_eq!(own["run"]["ended"], "exit status 1");
    let stderr = own["run"]["stderr"].as_str().expect("stderr shown");
    assert!(stderr.contains("unknown option --bogus"), "{stderr}");
    assert!(
        own["kubeletLogs"].as_str().unwrap_or("").contains(
            "error execing credential provider plugin cloud-credential-provider for image reg.example/app: exit status 1: cloud-credential-provider: error: unknown option --bogus"
        ),
        "{own:#}"
    );
    // validate-config's warning about the same args comes along.
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("every run with args"),
        "{report:#}"
    );
}

#[test]
fn a_config_directory_runs_the_matching_providers_in_kubelets_order() {
    let node = Node::new("kubelet-view-dir");
    let pw = [secret_token(12), secret_token(13)];
    node.answers(
        "alpha",
        V1,
        "Registry",
        json!({ "reg.example": auth_entry("a", &pw[0]) }),
    );
    node.sh("beta", "echo never run >&2; exit 1\n");
    node.answers(
        "gamma",
        V1,
        "Global",
        json!({ "*.example": auth_entry("g", &pw[1]) }),
    );
    node.config(
        "10-first.yaml",
        &[
            provider_entry("alpha", V1, &["reg.example"], ""),
            provider_entry("beta", V1, &["other.example"], ""),
        ],
    );
    // JSON is YAML: kubelet reads *.json files of the directory the same way.
    fs::write(
        node.conf().join("20-second.json"),
        json!({
            "apiVersion": "kubelet.config.k8s.io/v1",
            "kind": "CredentialProviderConfig",
            "providers": [{
                "name": "gamma", "apiVersion": V1, "defaultCacheDuration": "5m",
                "matchImages": ["*.example"]
            }]
        })
        .to_string(),
    )
    .expect("json config");
    fs::write(node.conf().join("README.txt"), "not a config").expect("other file");

    let (code, report) = node.view(&node.conf(), "reg.example/app", &[]);
    assert_eq!(code, 0, "{report:#}");
    let files: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(files.len(), 2, "README.txt is not read: {files:?}");
    assert!(files[0].ends_with("10-first.yaml") && files[1].ends_with("20-second.json"));
    let outcomes: Vec<(&str, &str)> = report["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("alpha", "answered"),
            ("beta", "not-matched"),
            ("gamma", "answered")
        ]
    );
    assert_eq!(
        tries(&report),
        [
            triple("reg.example", "alpha", "a"),
            triple("*.example", "gamma", "g")
        ]
    );
    let gamma = provider_report(&report, "gamma");
    assert_eq!(gamma["cache"]["base"], "<global>");
    assert!(gamma["cache"]["effect"]
        .as_str()
        .unwrap()
        .contains("every image its matchImages accept, on any registry"));
}

#[test]
fn provider_env_overrides_the_nodes_and_args_are_passed() {
    let node = Node::new("kubelet-view-env");
    let password = secret_token(16);
    node.sh(
        "envy",
        &format!(
            "cat >/dev/null\nuser=\"$CCP_KV_NODE_ONLY/$CCP_KV_BOTH/$CCP_KV_NEW/$1/$#\"\nprintf '{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{V1}\",\"cacheKeyType\":\"Image\",\"auth\":{{\"reg.example\":{{\"username\":\"%s\",\"password\":\"{password}\"}}}}}}\\n' \"$user\"\n"
        ),
    );
    let config = node.config(
        "c.yaml",
        &[provider_entry("envy",
            V1,
            &["reg.example"],
            "    args: [\"first arg\", \"second\"]\n    env:\n      - {name: CCP_KV_BOTH, value: provider}\n      - {name: CCP_KV_NEW, value: new}\n",
        )],
    );
    let node_env = [("CCP_KV_NODE_ONLY", "node"), ("CCP_KV_BOTH", "node")];
    let (code, report) = node.view_env(&config, "reg.example/app", &[], &node_env);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        tries(&report),
        [triple(
            "reg.example",
            "envy",
            "node/provider/new/first arg/2"
        )]
    );
    let run = &provider_report(&report, "envy")["run"];
    assert_eq!(
        run["env"],
        json!([
            { "name": "CCP_KV_BOTH", "overridesNode": true },
            { "name": "CCP_KV_NEW", "overridesNode": false },
        ])
    );
    assert_eq!(run["command"][1], "first arg");
    // No cacheDuration in the answer: the provider's defaultCacheDuration applies.
    let cache = &provider_report(&report, "envy")["cache"];
    assert_eq!(cache["duration"], "5m0s");
    assert_eq!(cache["durationFrom"], "defaultCacheDuration");
    assert_eq!(cache["base"], "reg.example/app");
}

#[test]
fn a_provider_that_hangs_is_killed_with_its_children_and_reported() {
    let node = Node::new("kubelet-view-timeout");
    let child_pid = node.path("child.pid");
    node.sh(
        "slow",
        &format!(
            "echo asking the metadata server >&2\nsleep 60 &\necho $! > {}\nwait\n",
            child_pid.display()
        ),
    );
    let config = node.config(
        "c.yaml",
        &[provider_entry("slow", V1, &["reg.example"], "")],
    );
    let started = Instant::now();
    let (code, report) = node.view(&config, "reg.example/app", &["--plugin-timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{report:#}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let slow = provider_report(&report, "slow");
    assert_eq!(slow["outcome"], "failed");
    assert_eq!(slow["run"]["timedOut"], true);
    assert!(slow["run"]["durationMs"].as_u64().unwrap() >= 1000);
    assert_eq!(slow["run"]["stderr"], "asking the metadata server\n");
    assert_eq!(
        slow["kubeletLogs"],
        "Failed getting credential from external registry credential provider: error execing credential provider plugin slow for image reg.example/app: context deadline exceeded: asking the metadata server"
    );
    assert_eq!(report["pluginTimeout"], "1s");
    // The plugin's child died with it: gone, or a zombie nobody reaped yet.
    let pid = fs::read_to_string(&child_pid).expect("child pid");
    let stat = fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
    assert!(matches!(state, None | Some('Z')), "child state {state:?}");
}

#[test]
fn garbage_on_stdout_is_refused_as_kubelet_refuses_it() {
    let node = Node::new("kubelet-view-garbage");
    let leaked = secret_token(14);
    let answer = response(
        V1,
        "Registry",
        json!({ "reg.example": auth_entry("u", &leaked) }),
    );
    // A log line before the answer, carrying the secret the way careless logs do.
    node.sh(
        "chatty",
        &format!("cat >/dev/null\necho \"level=info msg=fetched password={leaked}\"\nprintf '%s\\n' '{answer}'\n"),
    );
    let config = node.config(
        "c.yaml",
        &[provider_entry("chatty", V1, &["reg.example"], "")],
    );
    let (code, report) = node.view(&config, "reg.example/app", &[]);
    assert_eq!(code, 1);
    let chatty = provider_report(&report, "chatty");
    assert_eq!(chatty["outcome"], "failed");
    assert_eq!(
        chatty["kubeletLogs"],
        "Failed getting credential from external registry credential provider: error reading GVK from response: couldn't get version/kind; json parse error: invalid character 'l' looking for beginning of value"
    );
    assert_eq!(
        chatty["run"]["stdoutStart"],
        "level=info msg=fetched password=[secret, 14 bytes]"
    );
    assert!(report["credentials"].as_array().unwrap().is_empty());
}

#[test]
#[ignore = "needs .venv (Python providers): scripts/test.sh runs it"]
fn a_v1alpha1_answer_counts_only_when_kubelet_asked_in_v1alpha1() {
    let node = Node::new("kubelet-view-v1alpha1");
    let password = secret_token(18);
    let record = node.path("request.json");
    // Answers in whatever apiVersion it is asked in, and records the request.
    node.python(
        "echoer",
        &format!(
            r#"import json, sys
raw = sys.stdin.read()
open({record:?}, "w").write(raw)
req = json.loads(raw)
print(json.dumps({{"kind": "CredentialProviderResponse", "apiVersion": req["apiVersion"],
    "cacheKeyType": "Registry", "auth": {{"reg.example:5000": {{"username": "old", "password": {password:?}}}}}}}))
"#,
            record = record.display().to_string(),
        ),
    );
    // Always answers in v1alpha1, whatever it is asked.
    node.answers(
        "stuck",
        V1ALPHA1,
        "Registry",
        json!({ "reg.example:5000": auth_entry("s", &password) }),
    );
    let config = node.config(
        "c.yaml",
        &[
            provider_entry("echoer", V1ALPHA1, &["reg.example:5000"], ""),
            provider_entry("stuck", V1, &["reg.example:5000"], ""),
        ],
    );
    let (code, report) = node.view(&config, "reg.example:5000/app", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        fs::read_to_string(&record).expect("recorded request"),
        "{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1alpha1\",\"image\":\"reg.example:5000/app\"}\n"
    );
    assert_eq!(provider_report(&report, "echoer")["outcome"], "answered");
    let stuck = provider_report(&report, "stuck");
    assert_eq!(stuck["outcome"], "failed");
    assert_eq!(
        stuck["kubeletLogs"],
        "Failed getting credential from external registry credential provider: apiVersion from credential plugin response did not match expected apiVersion:credentialprovider.kubelet.k8s.io/v1, actual apiVersion:credentialprovider.kubelet.k8s.io/v1alpha1"
    );
    assert_eq!(
        tries(&report),
        [triple("reg.example:5000", "echoer", "old")]
    );
}

#[test]
fn overlapping_providers_are_tried_in_kubelets_key_order() {
    let node = Node::new("kubelet-view-overlap");
    let pw: Vec<String> = (0..4).map(|_| secret_token(10)).collect();
    let first = json!({
        "reg.example:5000": auth_entry("first-host", &pw[0]),
        "*.example:5000": auth_entry("first-glob", &pw[1]),
    });
    let second = json!({
        "https://reg.example:5000/v2/team": auth_entry("second-team", &pw[2]),
        "reg.example:5000": auth_entry("second-host", &pw[3]),
    });
    node.answers("first", V1, "Registry", first);
    node.answers("second", V1, "Image", second);
    let config = node.config(
        "c.yaml",
        &[
            provider_entry("first", V1, &["*.example:5000"], ""),
            provider_entry("second", V1, &["reg.example:5000"], ""),
        ],
    );
    let (code, report) = node.view(&config, "reg.example:5000/team/app", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        tries(&report),
        [
            triple("reg.example:5000/team", "second", "second-team"),
            triple("reg.example:5000", "first", "first-host"),
            triple("reg.example:5000", "second", "second-host"),
            triple("*.example:5000", "first", "first-glob"),
        ]
    );
    // Another repository of the registry: the team key no longer matches.
    let (_, report) = node.view(&config, "reg.example:5000/other", &[]);
    assert_eq!(tries(&report).len(), 3);
    let (code, text) = node.view_text(&config, "reg.example:5000/team/app", &[]);
    assert_eq!(code, 0);
    assert!(
        text.contains("  auth:         \"https://reg.example:5000/v2/team\" (kubelet key \"reg.example:5000/team\"): username \"second-team\", password 10 bytes; matches the image\n"),
        "{text}"
    );
}

#[test]
fn ports_decide_which_provider_runs_and_which_key_matches() {
    let node = Node::new("kubelet-view-ports");
    let pw = secret_token(12);
    node.sh("portless-pattern", "echo never run >&2; exit 1\n");
    node.answers(
        "portless-key",
        V1,
        "Registry",
        json!({ "reg.example": auth_entry("k", &pw) }),
    );
    let config = node.config(
        "c.yaml",
        &[
            provider_entry("portless-pattern", V1, &["reg.example"], ""),
            provider_entry("portless-key", V1, &["reg.example:5000"], ""),
        ],
    );
    let (code, report) = node.view(&config, "reg.example:5000/app", &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        provider_report(&report, "portless-pattern")["outcome"],
        "not-matched"
    );
    let keyed = provider_report(&report, "portless-key");
    assert_eq!(keyed["outcome"], "answered");
    assert_eq!(keyed["response"]["auth"][0]["matchesImage"], false);
    assert!(report["credentials"].as_array().unwrap().is_empty());

    // With only the port-less pattern, validate-config's hint names the fix.
    let config = node.config(
        "only.yaml",
        &[provider_entry("portless-pattern", V1, &["reg.example"], "")],
    );
    let (code, text) = node.view_text(&config, "reg.example:5000/app", &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("pattern \"reg.example\" would match as \"reg.example:5000\""),
        "{text}"
    );
    assert!(text.ends_with(
        "NO CREDENTIALS: kubelet gets none for \"reg.example:5000/app\" from its credential providers\n"
    ));
}

#[test]
#[ignore = "needs .venv (Python providers): scripts/test.sh runs it"]
fn service_account_tokens_follow_token_attributes() {
    let node = Node::new("kubelet-view-token");
    let token = secret_token(40);
    let token_file = node.path("token");
    write_private_file(&token_file, format!("{token}\n").as_bytes());
    let record = node.path("request.json");
    // Records the request, says on stderr what it got, and answers with the token as password.
    node.python(
        "pod-identity",
        &format!(
            r#"import json, sys
raw = sys.stdin.read()
open({record:?}, "w").write(raw)
req = json.loads(raw)
sys.stderr.write("got token " + req.get("serviceAccountToken", "none") + "\n")
print(json.dumps({{"kind": "CredentialProviderResponse", "apiVersion": req["apiVersion"],
    "cacheKeyType": "Registry", "auth": {{"reg.example": {{"username": "pod", "password": req.get("serviceAccountToken", "")}}}}}}))
"#,
            record = record.display().to_string(),
        ),
    );
    let with = |cache_type: &str| {
        format!(
            "    tokenAttributes:\n      serviceAccountTokenAudience: reg.example\n      cacheType: {cache_type}\n      requireServiceAccount: true\n      requiredServiceAccountAnnotationKeys: [\"example.com/team\"]\n      optionalServiceAccountAnnotationKeys: [\"example.com/extra\"]\n"
        )
    };
    let config = node.config(
        "sa.yaml",
        &[provider_entry(
            "pod-identity",
            V1,
            &["reg.example"],
            &with("ServiceAccount"),
        )],
    );
    let token_arg = token_file.to_str().unwrap();

    // No token: a pod without a service account, which kubelet skips.
    let (code, report) = node.view(&config, "reg.example/app", &[]);
    assert_eq!(code, 1);
    let p = provider_report(&report, "pod-identity");
    assert_eq!(p["outcome"], "skipped");
    assert!(p["skipped"]
        .as_str()
        .unwrap()
        .contains("requireServiceAccount"));
    assert!(!record.exists(), "kubelet would not run it");

    // A token, but the required annotation missing: skipped as well.
    let (_, report) = node.view(
        &config,
        "reg.example/app",
        &["--service-account-token-file", token_arg],
    );
    assert_eq!(
        provider_report(&report, "pod-identity")["outcome"],
        "skipped"
    );

    // Everything there: the token and the configured annotations are sent; the answer echoes
    // the token as password, which kubelet refuses with cacheType ServiceAccount.
    let sa = [
        "--service-account-token-file",
        token_arg,
        "--service-account-annotation",
        "example.com/team=a",
        "--service-account-annotation",
        "example.com/unlisted=x",
    ];
    let (code, report) = node.view(&config, "reg.example/app", &sa);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        fs::read_to_string(&record).unwrap(),
        format!("{{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"{V1}\",\"image\":\"reg.example/app\",\"serviceAccountToken\":\"{token}\",\"serviceAccountAnnotations\":{{\"example.com/team\":\"a\"}}}}\n")
    );
    let p = provider_report(&report, "pod-identity");
    assert_eq!(p["outcome"], "failed");
    assert!(p["kubeletLogs"].as_str().unwrap().starts_with(
        "Credential provider plugin returned the service account token as the password"
    ));
    assert_eq!(
        p["run"]["stderr"],
        "got token [service-account token, 40 bytes]\n"
    );
    assert_eq!(p["run"]["request"]["serviceAccountToken"], true);

    // cacheType Token allows it; the cache key then depends on the pod, which is not known.
    let config = node.config(
        "sa.yaml",
        &[provider_entry(
            "pod-identity",
            V1,
            &["reg.example"],
            &with("Token"),
        )],
    );
    let (code, report) = node.view(&config, "reg.example/app", &sa);
    assert_eq!(code, 0, "{report:#}");
    let cache = &provider_report(&report, "pod-identity")["cache"];
    assert!(cache.get("cacheKey").is_none());
    assert!(cache["serviceAccount"]
        .as_str()
        .unwrap()
        .contains("SHA-256"));
    assert_eq!(report["credentials"][0]["passwordLength"], token.len());
}

#[test]
fn a_failing_providers_stderr_is_shown_with_its_secrets_masked() {
    let node = Node::new("kubelet-view-stderr");
    let password = secret_token(20);
    let client_secret = secret_token(30);
    node.sh(
        "leaky",
        &format!(
            "cat >/dev/null\necho \"retrying with client secret $CLIENT_SECRET\" >&2\necho '{{\"auth\":{{\"r\":{{\"password\":\"{password}\"' >&2\nexit 7\n"
        ),
    );
    let config = node.config(
        "c.yaml",
        &[provider_entry(
            "leaky",
            V1,
            &["reg.example"],
            &format!("    env: [{{name: CLIENT_SECRET, value: \"{client_secret}\"}}]\n"),
        )],
    );
    let (code, text) = node.view_text(&config, "reg.example/app", &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("  ended:        exit status 7 after "),
        "{text}"
    );
    assert!(
        text.contains("  stderr:       | retrying with client secret [value of CLIENT_SECRET, 30 bytes]\n                | {\"auth\":{\"r\":{\"password\":\"[secret, 20 bytes]\"\n"),
        "{text}"
    );
    assert!(
        text.contains("  FAILED:       the plugin failed: exit status 7\n"),
        "{text}"
    );
}

#[test]
fn kubelet_refusing_to_start_runs_nothing() {
    let node = Node::new("kubelet-view-startup");
    let ran_marker = node.path("ran");
    node.sh(
        "present",
        &format!("touch {}\nexit 1\n", ran_marker.display()),
    );
    let config = node.config(
        "c.yaml",
        &[
            provider_entry("present", V1, &["reg.example"], ""),
            // Not for this image, but kubelet registers every provider at start-up.
            provider_entry("absent", V1, &["other.example"], ""),
        ],
    );
    let (code, report) = node.view(&config, "reg.example/app", &[]);
    assert_eq!(code, 1);
    let errors = report["startupErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    assert!(errors[0]
        .as_str()
        .unwrap()
        .starts_with("plugin binary executable  did not exist (provider \"absent\""));
    assert!(report["providers"].as_array().unwrap().is_empty());
    assert!(!ran_marker.exists());

    // No bin dir at all, and a config kubelet refuses: both reported, in kubelet's order.
    let bad = node.config(
        "bad.yaml",
        &[provider_entry(
            "present",
            "credentialprovider.kubelet.k8s.io/v2",
            &["reg.example"],
            "",
        )],
    );
    let nowhere = node.path("nowhere");
    let args = ["kubelet-view", "reg.example/app", "-o", "json"];
    let mut cmd = provider(&args);
    cmd.args(["--bin-dir", path_str(&nowhere), "--config", path_str(&bad)]);
    let ran = run(cmd, b"");
    assert_eq!(ran.code(), 1);
    let report: Value = serde_json::from_str(&ran.stdout).expect("json");
    let errors: Vec<&str> = report["startupErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors[0].starts_with("plugin binary directory ")
            && errors[0].ends_with("nowhere did not exist"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("providers.apiVersion: Unsupported value"),
        "{errors:?}"
    );
}

#[test]
fn bad_input_is_one_line_on_stderr() {
    for (args, message) in [
        (&["kubelet-view"][..], "kubelet-view needs an IMAGE"),
        (
            &[
                "kubelet-view",
                "bad image",
                "--config",
                "c",
                "--bin-dir",
                "b",
            ],
            "kubelet-view: image \"bad image\" contains whitespace",
        ),
        (
            &["kubelet-view", "x", "--frobnicate"],
            "unexpected argument \"--frobnicate\"",
        ),
    ] {
        let ran = run(provider(args), b"");
        let line = ran.error_line();
        assert!(line.contains(message), "{line}");
    }
    // A missing config is kubelet refusing to start: a report, exit 1.
    let args = [
        "kubelet-view",
        "reg.example/app",
        "--config",
        "/nonexistent-ccp/c.yaml",
        "--bin-dir",
        "/",
    ];
    let ran = run(provider(&args), b"");
    assert_eq!(ran.code(), 1);
    assert!(
        ran.stdout.contains("kubelet would refuse to start")
            && ran.stdout.ends_with("NO CREDENTIALS: kubelet gets none for \"reg.example/app\" from its credential providers\n"),
        "{}",
        ran.describe()
    );
}

#[test]
fn answers_kubelet_reads_and_then_throws_away_are_shown_with_why() {
    let node = Node::new("kubelet-view-discarded");
    let pw = [secret_token(12), secret_token(12)];
    // kubernetes-sigs/kind#4185: a cacheKeyType kubelet does not know.
    node.answers(
        "bad-key-type",
        V1,
        "ServiceAccount",
        json!({ "reg.example": auth_entry("a", &pw[0]) }),
    );
    // A field the response type does not have: the strict decoder refuses the whole answer.
    let mut extra_field = response(
        V1,
        "Registry",
        json!({ "reg.example": auth_entry("b", &pw[1]) }),
    );
    extra_field["expiresAt"] = json!("2030-01-01T00:00:00Z");
    node.sh("extra-field", &answering(&extra_field));
    let config = node.config(
        "c.yaml",
        &[
            provider_entry("bad-key-type", V1, &["reg.example"], ""),
            provider_entry("extra-field", V1, &["reg.example"], ""),
        ],
    );
    let (code, report) = node.view(&config, "reg.example/app", &[]);
    assert_eq!(code, 1, "{report:#}");
    let bad = provider_report(&report, "bad-key-type");
    assert_eq!(bad["outcome"], "failed");
    assert_eq!(
        bad["kubeletLogs"],
        "credential provider plugin did not return a valid cacheKeyType: \"ServiceAccount\""
    );
    // The answer was read before kubelet threw it away: shown, password as a length.
    assert_eq!(bad["response"]["auth"][0]["passwordLength"], 12);
    let extra = provider_report(&report, "extra-field");
    assert_eq!(
        extra["kubeletLogs"],
        "Failed getting credential from external registry credential provider: error decoding credential provider plugin response from stdout"
    );
    assert!(
        extra["error"]
            .as_str()
            .unwrap()
            .ends_with("unknown field \"expiresAt\""),
        "{extra:#}"
    );
    assert!(extra.get("response").is_none());
}
