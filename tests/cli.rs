//! The built binary, driven the way kubelet and operators drive it: piped JSON on stdin,
//! arguments, exit codes, stdout and stderr checked exactly.

mod support;

use std::path::Path;

use support::sweep::{plant_basic_auth, run_swept, secret_token, VERBOSITY};
use support::{
    drop_in, kubelet_request as request, provider_as, response, Ran, TempDir, API_V1 as V1,
    PROVIDER_BIN as BIN,
};

const V1BETA1: &str = "credentialprovider.kubelet.k8s.io/v1beta1";
const V1ALPHA1: &str = "credentialprovider.kubelet.k8s.io/v1alpha1";

/// Whether `arg` sets the verbosity (`-v`, `-vv`, `--v=N`, `--v N`, `-v=N`, `--verbose`).
fn is_verbosity_flag(arg: &str) -> bool {
    let flag = arg.split_once('=').map_or(arg, |(f, _)| f);
    flag == "--v" || flag == "--verbose" || (flag.len() > 1 && flag[1..].bytes().all(|b| b == b'v'))
}

/// Runs `bin` as asked, and once more at `--v=10` through the secret sweep (support::sweep):
/// nothing planted may leak, and the loud run's warnings and error must be what a quiet run
/// prints (its whole stderr), which is what lets the other tests read the failure contract off
/// swept runs (`Ran::quiet_lines`).
fn run_with(bin: &Path, args: &[&str], stdin: &[u8]) -> Ran {
    let ran = support::run(provider_as(bin, args), stdin);
    let loud = run_swept(provider_as(bin, args), stdin);
    let quiet = if args.iter().any(|a| is_verbosity_flag(a)) {
        ran.quiet_lines()
    } else {
        ran.stderr.lines().collect()
    };
    assert_eq!(
        loud.quiet_lines(),
        quiet,
        "{args:?} at {VERBOSITY}: {}",
        loud.stderr
    );
    ran
}

fn run(args: &[&str], stdin: &str) -> Ran {
    run_with(Path::new(BIN), args, stdin.as_bytes())
}

/// Asserts the failure contract (`Ran::error_line`) and that the error holds `needle`.
fn assert_fails(r: &Ran, needle: &str) {
    let line = r.error_line();
    assert!(line.contains(needle), "{line:?} should contain {needle:?}");
}

#[test]
fn unclaimed_host_gets_empty_auth_in_every_api_version() {
    for version in [V1, V1BETA1, V1ALPHA1] {
        let r = run(&[], &request(version, "registry.example.com/team/app"));
        assert_eq!(r.code(), 0, "{}", r.stderr);
        assert_eq!(
            r.stdout,
            format!(
                "{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{version}\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"5m0s\",\"auth\":{{}}}}\n"
            )
        );
        assert_eq!(r.stderr, "");
    }
}

#[test]
fn get_credentials_argument_and_kubelet_test_vector_are_accepted() {
    let input = "{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"image\":\"test.registry.io/foobar\",\"serviceAccountToken\":\"service-account-token\",\"serviceAccountAnnotations\":{\"domain.io/annotation1\":\"value1\"}}\n";
    let r = run(&["get-credentials"], input);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\""));
}

#[test]
fn hand_typed_hub_image_with_tag_is_normalised() {
    let r = run(
        &["-v", "--static-cache-duration=90s"],
        &request(V1, "nginx:1.27"),
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("\"cacheDuration\":\"1m30s\""),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("docker.io/library/nginx"), "{}", r.stderr);
}

#[test]
fn bad_requests_fail_with_one_clear_line() {
    let cases: &[(&str, &str)] = &[
        ("{\"apiVersion\":", "not valid JSON"),
        ("[1,2]", "not a JSON object"),
        ("", "no request on stdin"),
        ("   \n", "no request on stdin"),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","image":"a.io/b"}"#,
            "request kind is \"CredentialProviderResponse\"",
        ),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a.io/b"}"#,
            "no \"kind\"",
        ),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","kind":"CredentialProviderRequest","image":"a.io/b"}"#,
            "apiVersion \"credentialprovider.kubelet.k8s.io/v2\" is not supported",
        ),
        (
            r#"{"kind":"CredentialProviderRequest","image":"a.io/b"}"#,
            "no \"apiVersion\"",
        ),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":""}"#,
            "empty \"image\"",
        ),
        (
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":7}"#,
            "\"image\" must be a string",
        ),
        (
            "https://index.docker.io/v1/\n",
            "Docker credential-helper protocol",
        ),
    ];
    for (input, needle) in cases {
        assert_fails(&run(&[], input), needle);
    }
}

#[test]
fn oversized_and_non_utf8_input_is_refused() {
    let big = vec![b' '; (1 << 20) + 10];
    assert_fails(&run_with(Path::new(BIN), &[], &big), "larger than");
    assert_fails(
        &run_with(Path::new(BIN), &[], b"{\"image\":\"\xc3\x28\"}"),
        "not valid UTF-8",
    );
}

#[test]
fn usage_errors_fail_with_one_clear_line() {
    assert_fails(
        &run(&["--no-such-flag"], ""),
        "unknown option --no-such-flag",
    );
    assert_fails(&run(&["get"], ""), "Docker credential-helper verb");
    assert_fails(&run(&["--timeout=5m"], ""), "at most 55s");
    assert_fails(&run(&["check"], ""), "check needs an IMAGE");
}

#[test]
fn help_and_version_go_to_stdout() {
    let r = run(&["--help"], "");
    assert_eq!(r.code(), 0);
    assert!(r.stdout.contains("validate-config PATH"));
    assert!(r.stdout.contains("--docker-config PATH"));
    let r = run(&["--version"], "");
    assert_eq!(r.code(), 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("cloud-credential-provider {}", env!("CARGO_PKG_VERSION"))
    );
    let mut clouds = Vec::new();
    for (enabled, name) in [
        (cfg!(feature = "aws"), "aws"),
        (cfg!(feature = "azure"), "azure"),
        (cfg!(feature = "gcp"), "gcp"),
        (cfg!(feature = "vault"), "vault"),
    ] {
        if enabled {
            clouds.push(name);
        }
    }
    if !clouds.is_empty() {
        assert_eq!(lines[2], format!("features: {}", clouds.join(", ")));
    }
    assert!(lines[3].starts_with("crypto:   ring "), "{}", r.stdout);
    // The binary is built with the same rustflags as this test (.cargo/config.toml).
    let linking = if cfg!(target_feature = "crt-static") {
        "statically linked"
    } else {
        "dynamically linked"
    };
    assert!(lines[4].ends_with(linking), "{}", r.stdout);
}

/// A binary built without a cloud still recognises that cloud's hosts, and says why it cannot
/// serve them instead of letting the pull go anonymous.
#[cfg(not(all(feature = "aws", feature = "azure", feature = "gcp")))]
#[test]
fn a_cloud_left_out_of_the_build_is_named_in_the_error() {
    for (enabled, feature, image) in [
        (
            cfg!(feature = "aws"),
            "aws",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
        ),
        (
            cfg!(feature = "azure"),
            "azure",
            "myregistry.azurecr.io/app",
        ),
        (
            cfg!(feature = "gcp"),
            "gcp",
            "europe-docker.pkg.dev/p/r/app",
        ),
    ] {
        if enabled {
            continue;
        }
        let r = run(&[], &request(V1, image));
        assert_fails(&r, &format!("built without the `{feature}` feature"));
    }
}

fn docker_config(dir: &TempDir, auths: &str, mode: u32) -> std::path::PathBuf {
    dir.write("config.json", format!(r#"{{"auths":{{{auths}}}}}"#), mode)
}

#[test]
fn docker_config_entries_are_served_for_matching_images() {
    let dir = TempDir::new("serve");
    let secret = secret_token(24);
    let path = docker_config(
        &dir,
        &format!(
            r#""https://reg.example:5000/v1/":{{"auth":"{}"}}"#,
            plant_basic_auth("robot", &secret)
        ),
        0o600,
    );
    let path = path.to_str().unwrap();
    let r = run(
        &["--docker-config", path],
        &request(V1BETA1, "reg.example:5000/team/app"),
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        format!("{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{V1BETA1}\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"5m0s\",\"auth\":{{\"reg.example:5000\":{{\"username\":\"robot\",\"password\":\"{secret}\"}}}}}}\n")
    );
    // kubelet's port rule: the same host without the port is somebody else.
    let r = run(
        &["--docker-config", path],
        &request(V1, "reg.example/team/app"),
    );
    assert!(r.stdout.contains("\"auth\":{}"), "{}", r.stdout);
}

#[test]
fn a_path_key_is_cached_per_image_only() {
    let dir = TempDir::new("path");
    let path = docker_config(
        &dir,
        r#""reg.example/team-a":{"username":"a","password":"pa"}"#,
        0o600,
    );
    let r = run(
        &["--docker-config", path.to_str().unwrap()],
        &request(V1, "reg.example/team-a/app"),
    );
    assert!(
        r.stdout.contains("\"cacheKeyType\":\"Image\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("\"reg.example/team-a\":{\"username\":\"a\""),
        "{}",
        r.stdout
    );
}

#[test]
fn the_file_is_read_on_every_run() {
    let dir = TempDir::new("fresh");
    let path = docker_config(
        &dir,
        r#""reg.example":{"username":"u","password":"first"}"#,
        0o600,
    );
    let args = ["--docker-config", path.to_str().unwrap()];
    assert!(run(&args, &request(V1, "reg.example/a"))
        .stdout
        .contains("\"first\""));
    docker_config(
        &dir,
        r#""reg.example":{"username":"u","password":"second"}"#,
        0o600,
    );
    assert!(run(&args, &request(V1, "reg.example/a"))
        .stdout
        .contains("\"second\""));
}

#[test]
fn a_world_readable_file_is_served_with_a_warning() {
    let dir = TempDir::new("mode");
    let path = docker_config(
        &dir,
        r#""reg.example":{"username":"u","password":"p"}"#,
        0o644,
    );
    let r = run(
        &["--docker-config", path.to_str().unwrap()],
        &request(V1, "reg.example/a"),
    );
    assert_eq!(r.code(), 0);
    assert!(
        r.stderr.contains("readable by group or others (mode 644)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("\"password\":\"p\""));
}

#[test]
fn a_missing_file_warns_and_a_broken_file_fails() {
    let dir = TempDir::new("broken");
    let missing = dir.join("absent.json");
    let r = run(
        &["--docker-config", missing.to_str().unwrap()],
        &request(V1, "reg.example/a"),
    );
    assert_eq!(r.code(), 0);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(r.stdout.contains("\"auth\":{}"));

    let secret = secret_token(24);
    let broken = dir.write(
        "broken.json",
        format!(r#"{{"auths":{{"reg.example":{{"auth":"{secret}!"}}}}}}"#),
        0o600,
    );
    let r = run(
        &["--docker-config", broken.to_str().unwrap()],
        &request(V1, "reg.example/a"),
    );
    assert_fails(&r, "\"auth\" is not valid base64");
    assert!(!r.stderr.contains(&secret));
}

#[test]
fn a_missing_file_is_not_cached_and_is_served_once_it_appears() {
    let dir = TempDir::new("appears");
    let other = docker_config(
        &dir,
        r#""other.example":{"username":"u","password":"p"}"#,
        0o600,
    );
    let late = dir.join("late.json");
    let args = [
        "--docker-config",
        other.to_str().unwrap(),
        "--docker-config",
        late.to_str().unwrap(),
    ];
    let r = run(&args, &request(V1, "reg.example/a"));
    let first = response(&r);
    assert_eq!(first["auth"], serde_json::json!({}));
    assert_eq!(first["cacheDuration"], "0s", "kubelet must ask again");
    assert_eq!(first["cacheKeyType"], "Registry");
    assert_eq!(
        r.stderr,
        format!(
            "cloud-credential-provider: warning: docker config {} does not exist; serving nothing from it\n",
            late.display()
        )
    );

    // Vault Agent renders the file: the very next run serves it.
    let secret = secret_token(24);
    dir.write(
        "late.json",
        format!(r#"{{"auths":{{"reg.example":{{"username":"u","password":"{secret}"}}}}}}"#),
        0o600,
    );
    let second = response(&run(&args, &request(V1, "reg.example/a")));
    assert_eq!(second["auth"]["reg.example"]["password"], secret.as_str());
    assert_eq!(second["cacheDuration"], "5m0s");
    // With every file present, "no credentials" is cached again.
    let third = response(&run(&args, &request(V1, "unlisted.example/a")));
    assert_eq!(third["auth"], serde_json::json!({}));
    assert_eq!(third["cacheDuration"], "5m0s");
}

#[test]
fn verbose_logs_never_show_the_password() {
    let dir = TempDir::new("verbose");
    let secret = secret_token(24);
    let path = docker_config(
        &dir,
        &format!(r#""reg.example":{{"username":"u","password":"{secret}"}}"#),
        0o600,
    );
    let r = run(
        &["--v=10", "--docker-config", path.to_str().unwrap()],
        &request(V1, "reg.example/a"),
    );
    assert_eq!(r.code(), 0);
    assert!(r.stdout.contains(&secret));
    assert!(!r.stderr.is_empty(), "verbose mode logs its decisions");
    assert!(!r.stderr.contains(&secret), "{}", r.stderr);
}

#[test]
fn check_explains_routing_offline_without_secrets() {
    let r = run(
        &[
            "check",
            "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws/app:1.0",
            "--offline",
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(
        v["image"],
        "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws/app"
    );
    assert_eq!(
        v["registry"],
        "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws"
    );
    assert_eq!(v["backend"], "ecr");
    assert_eq!(v["details"]["region"], "us-gov-west-1");
    assert_eq!(v["details"]["partition"], "aws-us-gov");
    assert_eq!(v["details"]["fips"], "true");
    assert_eq!(v["details"]["dual-stack"], "true");
    assert!(v.get("authKeys").is_none());

    for (image, backend) in [
        ("public.ecr.aws/nginx/nginx", "ecr-public"),
        ("myregistry.azurecr.io/app", "acr"),
        ("europe-docker.pkg.dev/p/r/app", "gcr"),
        ("nginx", "none"),
        ("myregistry.westeurope.data.azurecr.io/app", "none"),
    ] {
        let r = run(&["check", image, "--offline", "-o", "json"], "");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
        assert_eq!(v["backend"], backend, "{image}");
    }
}

#[test]
fn check_fetches_from_a_docker_config_and_redacts_the_password() {
    let dir = TempDir::new("check");
    let secret = secret_token(24);
    let path = docker_config(
        &dir,
        &format!(r#""reg.example":{{"username":"robot","password":"{secret}"}}"#),
        0o600,
    );
    let path = path.to_str().unwrap();
    let r = run(
        &[
            "check",
            "reg.example/app:2",
            "--docker-config",
            path,
            "--output=json",
        ],
        "",
    );
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stdout.contains(&secret));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["backend"], "file");
    assert_eq!(v["authKeys"], serde_json::json!(["reg.example"]));
    assert_eq!(v["credentials"][0]["username"], "robot");
    assert_eq!(v["credentials"][0]["passwordLength"], secret.len());
    assert_eq!(v["expiresAt"], serde_json::Value::Null);
    assert_eq!(v["cacheDuration"], "5m0s");

    let r = run(&["check", "reg.example/app:2", "--docker-config", path], "");
    assert_eq!(r.code(), 0);
    assert!(r.stdout.contains("backend:       file"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("auth key:      reg.example (username \"robot\", password redacted"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&secret));
}

#[test]
#[ignore = "wakes the acr backend, which could probe instance metadata: needs a loopback-only netns; scripts/test.sh runs it"]
fn check_reports_a_fetch_failure_with_exit_1() {
    // A missing azure.json fails before any network step (no IMDS probe from a test).
    let r = run(
        &[
            "check",
            "myregistry.azurecr.io/app",
            "--azure-config",
            "/nonexistent/azure.json",
            "-o",
            "json",
        ],
        "",
    );
    assert_eq!(r.code(), 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("report still printed");
    assert_eq!(v["backend"], "acr");
    assert!(v["error"].as_str().unwrap().contains("acr backend"));
    assert!(r.stderr.contains("error: acr backend"));
}

#[test]
fn host_rules_send_mirrors_to_a_backend() {
    let dir = TempDir::new("rules");
    let config = dir.write("ccp.yaml",
        "hostRules:\n  - match: [\"mirror.corp.example:5000\"]\n    backend: ecr\n    region: eu-west-1\n  - match: [\"*.corp.example\"]\n    backend: none\n",
        0o644,
    );
    let config = config.to_str().unwrap();
    let r = run(
        &[
            "check",
            "mirror.corp.example:5000/app",
            "--config",
            config,
            "--offline",
            "-o",
            "json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["backend"], "ecr");
    assert_eq!(v["details"]["region"], "eu-west-1");
    assert!(v["reason"].as_str().unwrap().contains("hostRules[0]"));
    let r = run(&["--config", config], &request(V1, "git.corp.example/app"));
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"auth\":{}"));
    let bad = dir.write(
        "bad.yaml",
        "hostRules:\n  - match: [\"x.example\"]\n    backend: ecr\n",
        0o644,
    );
    assert_fails(
        &run(
            &["--config", bad.to_str().unwrap()],
            &request(V1, "x.example/a"),
        ),
        "needs \"region\"",
    );
}

#[test]
fn drop_in_names_accept_the_reference_plugins_arguments() {
    let dir = TempDir::new("dropin");
    for name in [
        "ecr-credential-provider",
        "acr-credential-provider",
        "auth-provider-gcp",
    ] {
        let link = drop_in(dir.path(), name);
        let r = run_with(
            &link,
            &["get-credentials", "/etc/kubernetes/azure.json"],
            request(V1, "registry.example.com/a").as_bytes(),
        );
        assert_eq!(r.code(), 0, "{name}: {}", r.stderr);
        assert!(r.stdout.contains("\"auth\":{}"));
    }
    // Under its own name, a stray argument is a mistake worth reporting.
    assert_fails(
        &run(&["get-credentials", "/etc/kubernetes/azure.json"], ""),
        "unexpected argument",
    );
}

#[test]
fn check_sends_a_pod_token_from_a_file_without_printing_it() {
    let dir = TempDir::new("check-sa");
    let token = secret_token(24);
    let token_file = dir.write("token", format!("{token}\n"), 0o600);
    let config = docker_config(
        &dir,
        r#""reg.example":{"username":"u","password":"p"}"#,
        0o600,
    );
    let args = [
        "check",
        "reg.example/app",
        "--docker-config",
        config.to_str().unwrap(),
        "--service-account-token-file",
        token_file.to_str().unwrap(),
        "--service-account-annotation",
        "eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/puller",
    ];
    let r = run(&args, "");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stdout.contains("pod token:"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "annotation:    eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/puller"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let r = run(&json_args, "");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(
        v["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/puller"
    );
    assert!(!r.stdout.contains(&token));

    let empty = dir.write("empty", "\n", 0o600);
    let r = run(
        &[
            "check",
            "reg.example/app",
            "--service-account-token-file",
            empty.to_str().unwrap(),
        ],
        "",
    );
    assert_fails(&r, "is empty");
}
