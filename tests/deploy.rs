//! deploy/: the container image built without a daemon (`umoci`), pushed to a real registry
//! with `skopeo` and inspected there; the kustomize base checked against the Kubernetes
//! schemas offline (`kubernetes-validate` in the test venv) and rendered with `kubectl
//! kustomize`; the provider config it installs checked with validate-config.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::fakes::venv_bin;
use support::registry::TestRegistry;
use support::{
    find_tool, path_str, random_token, require_tool, run, run_program as run_cmd, TempDir,
    PROVIDER_BIN as BIN,
};

const BASE: &str = "deploy/kustomize/base";

/// The image holds the binary and nothing else, runs it as its entrypoint as root, and
/// survives a push to and a pull from a registry.
#[test]
#[ignore = "needs umoci, objcopy, docker-registry, htpasswd and skopeo: scripts/test.sh runs it"]
fn image_is_the_binary_alone_with_it_as_entrypoint() {
    require_tool("umoci");
    let dir = TempDir::new("image");
    let layout = dir.join("oci");
    // The debug build carries ~190 MB of debug info that the release build does not; without
    // it the image is built and pushed in seconds. Same code, same static linking.
    let binary = dir.join("cloud-credential-provider");
    let stripped = run_cmd(
        require_tool("objcopy"),
        &["--strip-debug", BIN, path_str(&binary)],
    );
    assert!(
        stripped.status.success(),
        "objcopy: {}",
        stripped.describe()
    );
    let built = run_cmd(
        Path::new("bash"),
        &[
            "deploy/image/build.sh",
            path_str(&binary),
            path_str(&layout),
            "test",
        ],
    );
    assert!(built.status.success(), "build.sh: {}", built.describe());

    let registry = TestRegistry::start("pusher", &random_token(24));
    let creds = registry.push_creds();
    let reference = format!(
        "docker://{}/cloud-credential-provider:test",
        registry.host()
    );
    let pushed = registry.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("--dest-creds={creds}"),
        &format!("oci:{}:test", layout.display()),
        &reference,
    ]);
    assert!(pushed.status.success(), "push: {}", pushed.describe());

    let inspect = |extra: &[&str]| -> Value {
        let mut args = vec!["inspect", "--tls-verify=false"];
        let flag = format!("--creds={creds}");
        args.push(&flag);
        args.extend_from_slice(extra);
        args.push(&reference);
        let ran = registry.skopeo(&args);
        assert!(
            ran.status.success(),
            "inspect {extra:?}: {}",
            ran.describe()
        );
        serde_json::from_str(&ran.stdout).expect("inspect prints JSON")
    };
    let config = inspect(&["--config"]);
    let c = &config["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/cloud-credential-provider"]),
        "{config:#}"
    );
    assert_eq!(c["User"], "0:0", "{config:#}");
    assert!(c.get("Cmd").is_none_or(Value::is_null), "a cmd: {config:#}");
    assert!(
        c.get("Env").is_none_or(Value::is_null),
        "an environment (PATH for a shell?): {config:#}"
    );
    assert_eq!(config["os"], "linux");
    let manifest = inspect(&["--raw"]);
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest:#}");

    // Pull it back and list the one layer: the binary, root's, 0755; no /bin/sh, nothing else.
    let pulled = dir.join("pulled");
    let ran = registry.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("--src-creds={creds}"),
        &reference,
        &format!("dir:{}", pulled.display()),
    ]);
    assert!(ran.status.success(), "pull: {}", ran.describe());
    let digest = layers[0]["digest"].as_str().expect("layer digest");
    let blob = pulled.join(digest.trim_start_matches("sha256:"));
    let listing = run_cmd(Path::new("tar"), &["-tvzf", path_str(&blob)]);
    assert!(listing.status.success(), "tar: {}", listing.describe());
    // The root directory and the binary; GNU tar also checks the archive is complete.
    let entries: Vec<&str> = listing.stdout.lines().collect();
    assert_eq!(
        entries.len(),
        2,
        "layer holds more than the binary: {entries:?}"
    );
    assert!(
        entries[0].starts_with("drwxr-xr-x 0/0 ") && entries[0].ends_with(" ."),
        "{entries:?}"
    );
    let fields: Vec<&str> = entries[1].split_whitespace().collect();
    assert_eq!(fields[0], "-rwxr-xr-x", "{entries:?}");
    assert_eq!(fields[1], "0/0", "{entries:?}");
    assert_eq!(
        fields.last(),
        Some(&"cloud-credential-provider"),
        "{entries:?}"
    );
    let binary_size = fs::metadata(&binary).unwrap().len();
    assert_eq!(fields[2], binary_size.to_string());
    eprintln!(
        "image: 1 layer of {} bytes compressed, binary {binary_size} bytes (this test's debug build without debug info)",
        layers[0]["size"]
    );
}

/// `kubernetes-validate --strict` on `files`: every resource passes the schemas of the
/// Kubernetes version the tool bundles, without a cluster or the network.
fn kubernetes_validate(files: &[&Path]) {
    let mut cmd = Command::new(venv_bin("kubernetes-validate"));
    cmd.arg("--strict").args(files);
    let ran = run(cmd, b"");
    assert!(
        ran.status.success(),
        "kubernetes-validate: {}",
        ran.describe()
    );
    assert!(
        !ran.stdout.contains("ERROR") && !ran.stdout.contains("WARN"),
        "{}",
        ran.stdout
    );
}

#[test]
#[ignore = "needs .venv (kubernetes-validate): scripts/test.sh runs it"]
fn kustomize_base_resources_pass_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = ["namespace.yaml", "daemonset.yaml"]
        .iter()
        .map(|f| Path::new(BASE).join(f))
        .collect();
    kubernetes_validate(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
}

/// The config the DaemonSet installs is one kubelet accepts (install would refuse it
/// otherwise, on every node).
#[test]
fn kustomize_base_provider_config_passes_validate_config() {
    let ran = run_cmd(
        Path::new(BIN),
        &["validate-config", &format!("{BASE}/provider-config.yaml")],
    );
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(ran.stdout.contains("OK: 1 provider"), "{}", ran.stdout);
}

/// Rendered with kustomize, the base passes the schemas and keeps its least-privilege
/// promises: two hostPath volumes (bin dir, config dir), no host namespaces, no service
/// account token, read-only root, no capabilities, limits on every container.
#[test]
#[ignore = "needs kubectl and .venv (kubernetes-validate): scripts/test.sh runs it"]
fn kustomize_base_renders_to_a_least_privilege_daemonset() {
    let Some(kubectl) = find_tool("kubectl") else {
        eprintln!("SKIPPED: kubectl not installed (nothing to render the kustomize base with)");
        return;
    };
    let ran = run_cmd(&kubectl, &["kustomize", BASE]);
    assert!(
        ran.status.success(),
        "kubectl kustomize: {}",
        ran.describe()
    );
    let dir = TempDir::new("kustomize");
    let rendered = dir.join("rendered.yaml");
    fs::write(&rendered, &ran.stdout).unwrap();
    kubernetes_validate(&[&rendered]);

    let docs: Vec<Value> = ran
        .stdout
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("rendered YAML"))
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "ConfigMap", "DaemonSet"]);
    let ds = &docs[2];
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod[field].is_null() || pod[field] == false, "{field}");
    }
    let host_paths: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["hostPath"]["path"].as_str())
        .collect();
    assert_eq!(
        host_paths,
        [
            "/usr/local/libexec/kubelet-credential-provider",
            "/etc/kubernetes/credential-provider"
        ]
    );
    let containers: Vec<&Value> = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["containers"].as_array().unwrap())
        .collect();
    assert_eq!(containers.len(), 2);
    for c in containers {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c["name"]);
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", c["name"]);
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{}",
            c["name"]
        );
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{}",
            c["name"]
        );
        assert!(c["resources"]["limits"]["cpu"].is_string(), "{}", c["name"]);
        assert_eq!(
            c["image"], "cloud-credential-provider:0.1.0",
            "{}",
            c["name"]
        );
    }
    assert_eq!(pod["initContainers"][0]["args"][0], "install");
    assert_eq!(pod["containers"][0]["args"][0], "sync-docker-config");
}
