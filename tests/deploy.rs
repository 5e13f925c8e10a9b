//! deploy/: the container image built without a daemon (`umoci`), pushed to a real registry
//! with `skopeo` and inspected there; the kustomize base checked against the Kubernetes
//! schemas offline (`kubernetes-validate` in the test venv) and rendered with `kubectl
//! kustomize`, with each distribution's overlay and the opt-in components, and their promises
//! checked (least privilege; kubelet-status reads what install writes, read-only, and its
//! readiness probe is the same command); the provider config it installs checked with
//! validate-config.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::fakes::venv_python;
use support::registry::TestRegistry;
use support::{
    find_tool, path_str, random_token, require_tool, run, run_program as run_cmd, TempDir,
    PROVIDER_BIN as BIN,
};

const BASE: &str = "deploy/kustomize/base";
const OVERLAYS: &str = "deploy/kustomize/overlays";
const COMPONENTS: &str = "deploy/kustomize/components";

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
/// Kubernetes version the tool bundles, without a cluster or the network. Run as a module of
/// the venv's interpreter: the `kubernetes-validate` script names the interpreter of the venv
/// it was installed from by absolute path, which breaks when the venv is shared or moved.
fn kubernetes_validate(files: &[&Path]) {
    let mut cmd = Command::new(venv_python());
    cmd.args(["-m", "kubernetes_validate", "--strict"])
        .args(files);
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

/// `kubectl kustomize DIR`, checked against the schemas; the documents, or `None` (and a
/// SKIPPED line) without kubectl.
fn render(dir: &Path) -> Option<Vec<Value>> {
    let Some(kubectl) = find_tool("kubectl") else {
        eprintln!("SKIPPED: kubectl not installed (nothing to render kustomize directories with)");
        return None;
    };
    let ran = run_cmd(&kubectl, &["kustomize", path_str(dir)]);
    assert!(
        ran.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        ran.describe()
    );
    let scratch = TempDir::new("kustomize");
    let rendered = scratch.join("rendered.yaml");
    fs::write(&rendered, &ran.stdout).unwrap();
    kubernetes_validate(&[&rendered]);
    Some(
        ran.stdout
            .split("\n---\n")
            .map(|d| serde_yaml_ng::from_str(d).expect("rendered YAML"))
            .collect(),
    )
}

/// What a rendering must hold besides the common promises of [`check_daemonset`].
struct Expected<'a> {
    /// Resource kinds, in order.
    kinds: &'a [&'a str],
    /// The containers, init container first (the others in any order).
    containers: &'a [&'a str],
    /// The hostPath volumes' paths, in any order.
    host_paths: &'a [&'a str],
    /// The host paths kubelet-status reads: its mounts' host paths, in any order.
    status_reads: &'a [&'a str],
    /// `--distribution` of kubelet-status, if set.
    distribution: Option<&'a str>,
    /// hostPID.
    host_pid: bool,
}

/// The DaemonSet keeps its least-privilege promises and its kubelet-status container is
/// wired to what install writes:
/// - no service account token, no host network or IPC (host PID only when asked);
/// - every container: read-only root, no privilege escalation, no capability, limits, our image;
/// - every hostPath volume mounted at `/host` + its host path (what `--host-root=/host` maps);
/// - kubelet-status mounts everything read-only; its readiness probe execs the binary (no
///   shell) with its own arguments but `--interval`; its `--bin-dir`/`--config-dest` are
///   install's.
fn check_daemonset(docs: &[Value], expected: &Expected) {
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, expected.kinds);
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    for field in ["hostNetwork", "hostIPC"] {
        assert!(pod[field].is_null() || pod[field] == false, "{field}");
    }
    assert_eq!(pod["hostPID"] == true, expected.host_pid, "hostPID");

    let volumes = pod["volumes"].as_array().unwrap();
    let host_path_of = |name: &str| -> Option<String> {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["hostPath"]["path"].as_str())
            .map(str::to_string)
    };
    // Order is kustomize's merge order, which means nothing to kubelet: compared as sets.
    let sorted = |list: &[&str]| -> Vec<String> {
        let mut list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        list.sort();
        list
    };
    let host_paths: Vec<&str> = volumes
        .iter()
        .filter_map(|v| v["hostPath"]["path"].as_str())
        .collect();
    assert_eq!(sorted(&host_paths), sorted(expected.host_paths));

    let containers: Vec<&Value> = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["containers"].as_array().unwrap())
        .collect();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], expected.containers[0], "the init container");
    assert_eq!(sorted(&names[1..]), sorted(&expected.containers[1..]));
    for c in &containers {
        let name = &c["name"];
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");
        assert!(c["resources"]["limits"]["cpu"].is_string(), "{name}");
        assert_eq!(c["image"], "cloud-credential-provider:0.1.0", "{name}");
        for m in c["volumeMounts"].as_array().unwrap() {
            let volume = m["name"].as_str().unwrap();
            if let Some(host) = host_path_of(volume) {
                assert_eq!(
                    m["mountPath"].as_str().unwrap(),
                    format!("/host{host}"),
                    "{name}: volume {volume}"
                );
            }
        }
    }

    let text_args = |c: &Value| -> Vec<String> {
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let flag = |args: &[String], name: &str| -> Option<String> {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
    };
    let install = text_args(containers[0]);
    assert_eq!(install[0], "install");
    let status_container = containers
        .iter()
        .find(|c| c["name"] == "kubelet-status")
        .expect("a kubelet-status container");
    let status = text_args(status_container);
    assert_eq!(status[0], "kubelet-status");
    assert_eq!(flag(&status, "--host-root").as_deref(), Some("/host"));
    assert_eq!(flag(&status, "--interval").as_deref(), Some("1m"));
    assert_eq!(flag(&status, "--bin-dir"), flag(&install, "--bin-dir"));
    assert_eq!(
        flag(&status, "--config-dest"),
        flag(&install, "--config-dest")
    );
    assert_eq!(
        flag(&status, "--distribution").as_deref(),
        expected.distribution
    );
    let mut probe: Vec<String> = vec!["/cloud-credential-provider".into()];
    probe.extend(
        status
            .iter()
            .filter(|a| !a.starts_with("--interval"))
            .cloned(),
    );
    let exec = &status_container["readinessProbe"]["exec"]["command"];
    assert_eq!(exec, &serde_json::json!(probe));
    let reads: Vec<String> = status_container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["readOnly"], true, "kubelet-status mount {m}");
            host_path_of(m["name"].as_str().unwrap()).expect("a hostPath volume")
        })
        .collect();
    let reads: Vec<&str> = reads.iter().map(String::as_str).collect();
    assert_eq!(sorted(&reads), sorted(expected.status_reads));
}

const KUBEADM_READS: &[&str] = &[
    "/usr/local/libexec/kubelet-credential-provider",
    "/etc/kubernetes/credential-provider",
    "/etc/os-release",
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/etc/default",
    "/var/lib/kubelet/kubeadm-flags.env",
];

/// The base (kubeadm nodes): the two directories install writes, what kubelet-status reads.
#[test]
#[ignore = "needs kubectl and .venv (kubernetes-validate): scripts/test.sh runs it"]
fn kustomize_base_renders_to_a_least_privilege_daemonset() {
    let Some(docs) = render(Path::new(BASE)) else {
        return;
    };
    check_daemonset(
        &docs,
        &Expected {
            kinds: &["Namespace", "ConfigMap", "DaemonSet"],
            containers: &["install", "sync-docker-config", "kubelet-status"],
            host_paths: KUBEADM_READS,
            status_reads: KUBEADM_READS,
            distribution: None,
            host_pid: false,
        },
    );
    let pod = &docs[2]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["args"][0], "sync-docker-config");
}

/// Each distribution's overlay: drop-in installs for EKS AL2023, AKS and GKE (no config of
/// ours, no Secret sync), k3s's and RKE2's default paths.
#[test]
#[ignore = "needs kubectl and .venv (kubernetes-validate): scripts/test.sh runs it"]
fn kustomize_overlays_render_per_distribution() {
    let drop_in = ["Namespace", "DaemonSet"].as_slice();
    let drop_in_containers = ["install", "kubelet-status"].as_slice();
    let cases: &[(&str, Expected)] = &[
        (
            "eks-al2023",
            Expected {
                kinds: drop_in,
                containers: drop_in_containers,
                host_paths: &[
                    "/etc/eks/image-credential-provider",
                    "/etc/os-release",
                    "/etc/eks/kubelet",
                ],
                status_reads: &[
                    "/etc/eks/image-credential-provider",
                    "/etc/os-release",
                    "/etc/eks/kubelet",
                ],
                distribution: Some("eks-al2023"),
                host_pid: false,
            },
        ),
        (
            "aks",
            Expected {
                kinds: drop_in,
                containers: drop_in_containers,
                host_paths: &[
                    "/var/lib/kubelet/credential-provider",
                    "/etc/os-release",
                    "/etc/default",
                    "/var/lib/kubelet/credential-provider-config.yaml",
                ],
                status_reads: &[
                    "/var/lib/kubelet/credential-provider",
                    "/etc/os-release",
                    "/etc/default",
                    "/var/lib/kubelet/credential-provider-config.yaml",
                ],
                distribution: Some("aks"),
                host_pid: false,
            },
        ),
        (
            "gke",
            Expected {
                kinds: drop_in,
                containers: drop_in_containers,
                host_paths: &[
                    "/home/kubernetes/bin",
                    "/etc/os-release",
                    "/etc/default",
                    "/etc/srv/kubernetes/cri_auth_config.yaml",
                ],
                status_reads: &[
                    "/home/kubernetes/bin",
                    "/etc/os-release",
                    "/etc/default",
                    "/etc/srv/kubernetes/cri_auth_config.yaml",
                ],
                distribution: Some("gke"),
                host_pid: false,
            },
        ),
        (
            "k3s",
            Expected {
                kinds: &["Namespace", "ConfigMap", "DaemonSet"],
                containers: &["install", "sync-docker-config", "kubelet-status"],
                host_paths: &[
                    "/var/lib/rancher/credentialprovider",
                    "/etc/kubernetes/credential-provider",
                    "/etc/os-release",
                    "/etc/rancher/k3s",
                ],
                status_reads: &[
                    "/var/lib/rancher/credentialprovider",
                    "/etc/os-release",
                    "/etc/rancher/k3s",
                ],
                distribution: Some("k3s"),
                host_pid: false,
            },
        ),
        (
            "rke2",
            Expected {
                kinds: &["Namespace", "ConfigMap", "DaemonSet"],
                containers: &["install", "sync-docker-config", "kubelet-status"],
                host_paths: &[
                    "/var/lib/rancher/credentialprovider",
                    "/etc/kubernetes/credential-provider",
                    "/etc/os-release",
                    "/etc/rancher/rke2",
                ],
                status_reads: &[
                    "/var/lib/rancher/credentialprovider",
                    "/etc/os-release",
                    "/etc/rancher/rke2",
                ],
                distribution: Some("rke2"),
                host_pid: false,
            },
        ),
    ];
    for (overlay, expected) in cases {
        let dir = Path::new(OVERLAYS).join(overlay);
        let Some(docs) = render(&dir) else {
            return;
        };
        check_daemonset(&docs, expected);
    }
}

/// The opt-in components on top of the base: host-pid adds hostPID and nothing else;
/// sysconfig adds one read-only mount of /etc/sysconfig for kubelet-status.
#[test]
#[ignore = "needs kubectl and .venv (kubernetes-validate): scripts/test.sh runs it"]
fn kustomize_components_add_host_pid_and_sysconfig() {
    let scratch = TempDir::new("kustomize-components");
    // kustomize takes relative paths only: from the scratch directory up to `/`, then down.
    let up = "../".repeat(scratch.path().components().count() - 1);
    let repo = std::env::current_dir().unwrap();
    let from_root = |dir: &str| {
        format!(
            "{up}{}/{dir}",
            repo.display().to_string().trim_start_matches('/')
        )
    };
    fs::write(
        scratch.join("kustomization.yaml"),
        format!(
            "resources:\n  - {}\ncomponents:\n  - {}\n  - {}\n",
            from_root(BASE),
            from_root(&format!("{COMPONENTS}/host-pid")),
            from_root(&format!("{COMPONENTS}/sysconfig")),
        ),
    )
    .unwrap();
    let Some(docs) = render(scratch.path()) else {
        return;
    };
    let mut reads = KUBEADM_READS.to_vec();
    reads.push("/etc/sysconfig");
    check_daemonset(
        &docs,
        &Expected {
            kinds: &["Namespace", "ConfigMap", "DaemonSet"],
            containers: &["install", "sync-docker-config", "kubelet-status"],
            host_paths: &reads,
            status_reads: &reads,
            distribution: None,
            host_pid: true,
        },
    );
}
