//! `kubelet-status` run as the real binary against a scratch directory that plays each
//! distribution's node under `--host-root` (its files at their real paths, the binary put in
//! place by the real `install`), and against fake kubelet processes: a copy of bash named
//! `kubelet` (or `k3s`) running a script, so `/proc/PID/cmdline` carries the flags a real
//! kubelet would. Wired and unwired cases per distribution, a config newer than kubelet, a
//! provider whose executable is missing, a drop-in name, bad input. The same with real mount
//! points (what a pod sees) and a kubelet found without `--kubelet-pid` is
//! `tests/shell/kubelet_status_node.sh`.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::{random_token, run_program, wait_for, Ran, TempDir, PROVIDER_BIN as BIN};

const BIN_DIR: &str = "/usr/local/libexec/kubelet-credential-provider";
const CONFIG: &str = "/etc/kubernetes/credential-provider/config.yaml";

/// A node's root file system in a scratch directory.
struct Node {
    dir: TempDir,
}

impl Node {
    fn new(label: &str) -> Node {
        let dir = TempDir::new(label);
        fs::create_dir(dir.join("root")).unwrap();
        Node { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where host path `host` is in the scratch root.
    fn at(&self, host: &str) -> PathBuf {
        self.root().join(host.trim_start_matches('/'))
    }

    fn at_str(&self, host: &str) -> String {
        self.at(host).to_str().expect("UTF-8").to_string()
    }

    fn write(&self, host: &str, text: &str) -> &Node {
        let path = self.at(host);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        self
    }

    /// An executable that is not this binary (a distribution's own plugin).
    fn other_plugin(&self, host: &str) -> &Node {
        self.write(host, "#!/bin/sh\necho not cloud-credential-provider\n");
        fs::set_permissions(self.at(host), fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// The real `install` into this node; `config` is a file of the repository.
    fn install(&self, bin_dir: &str, extra: &[&str], config: Option<(&str, &str)>) -> &Node {
        let mut args = vec![
            "install".to_string(),
            "--bin-dir".into(),
            self.at_str(bin_dir),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        if let Some((src, dest)) = config {
            args.extend([
                "--config".into(),
                src.into(),
                "--config-dest".into(),
                self.at_str(dest),
            ]);
        }
        let ran = run_program(BIN, &self::args(&args));
        assert!(ran.status.success(), "install: {}", ran.describe());
        self
    }

    /// kubelet-status under this root, reading the node's files only (other tests' fake
    /// kubelets run meanwhile), with `extra` arguments.
    fn status(&self, extra: &[&str]) -> Ran {
        let root = self.root();
        let mut args = vec!["kubelet-status", "--host-root", root.to_str().unwrap()];
        args.extend_from_slice(extra);
        if !extra.iter().any(|a| a.starts_with("--kubelet-pid")) {
            args.push("--source=files");
        }
        run_program(BIN, &args)
    }

    fn status_json(&self, extra: &[&str]) -> (Value, Ran) {
        let mut args = extra.to_vec();
        args.push("--output=json");
        let ran = self.status(&args);
        let value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", ran.describe()));
        (value, ran)
    }

    /// The paths install wrote, as kubelet-status takes them (install's own flags).
    fn installed(&self, bin_dir: &str, config: Option<&str>) -> Vec<String> {
        let mut args = vec!["--bin-dir".to_string(), self.at_str(bin_dir)];
        if let Some(config) = config {
            args.extend(["--config-dest".to_string(), self.at_str(config)]);
        }
        args
    }

    /// kubeadm's packaged unit and drop-in, and `kubeadm-flags.env` as `kubeadm join`
    /// writes it.
    fn kubeadm(&self) -> &Node {
        self.write(
            "/usr/lib/systemd/system/kubelet.service",
            "[Unit]\nDescription=kubelet: The Kubernetes Node Agent\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n",
        )
        .write(
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "# Note: This dropin only works with kubeadm and kubelet v1.11+\n[Service]\n\
             Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
             Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\n\
             EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n\
             EnvironmentFile=-/etc/default/kubelet\n\
             ExecStart=\n\
             ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n",
        )
        .write(
            "/var/lib/kubelet/kubeadm-flags.env",
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n",
        )
    }
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The `WIRED:` / `NOT WIRED:` / `UNKNOWN:` line and the `fix` line of a text report.
fn verdict(ran: &Ran) -> (String, Option<String>) {
    let line = ran
        .stdout
        .lines()
        .find(|l| {
            l.starts_with("WIRED: ") || l.starts_with("NOT WIRED: ") || l.starts_with("UNKNOWN: ")
        })
        .unwrap_or_else(|| panic!("no verdict: {}", ran.describe()))
        .to_string();
    let fix = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("fix ("))
        .map(str::to_string);
    (line, fix)
}

fn assert_exit(ran: &Ran, code: i32) {
    assert_eq!(ran.status.code(), Some(code), "{}", ran.describe());
    assert_eq!(ran.stderr, "", "{}", ran.describe());
}

// ---- kubeadm ----

#[test]
fn kubeadm_wired_through_kubelet_extra_args() {
    let node = Node::new("ks-kubeadm");
    node.kubeadm()
        .install(BIN_DIR, &[], Some(("provider-config/generic.yaml", CONFIG)))
        .write(
            "/etc/default/kubelet",
            &format!("KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir={BIN_DIR} --image-credential-provider-config={CONFIG}\n"),
        );
    let installed = node.installed(BIN_DIR, Some(CONFIG));
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "distribution: kubeadm (/var/lib/kubelet/kubeadm-flags.env exists)"
    );
    assert!(
        ran.stdout.contains(&format!(
            "flag: --image-credential-provider-bin-dir={BIN_DIR} (from KUBELET_EXTRA_ARGS in /etc/default/kubelet)\n"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "ok: kubelet's bin dir is where install put the binary ({BIN_DIR})\n"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "ok: kubelet reads the config install wrote ({CONFIG})\n"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("ok: kubelet accepts {CONFIG} (1 provider)\n")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "provider \"cloud-credential-provider\": {BIN_DIR}/cloud-credential-provider runs this binary (the binary itself); matchImages: "
        )),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran),
        (
            "WIRED: kubelet runs this binary as provider \"cloud-credential-provider\"".to_string(),
            None
        )
    );
    // Without the process, the start time is unknown: the report says a restart may be due.
    assert!(
        ran.stdout
            .contains("note: kubelet's start time is not visible here"),
        "{}",
        ran.stdout
    );
}

#[test]
fn kubeadm_without_the_flags_says_where_to_add_them() {
    let node = Node::new("ks-kubeadm-none");
    node.kubeadm()
        .install(BIN_DIR, &[], Some(("provider-config/generic.yaml", CONFIG)));
    let installed = node.installed(BIN_DIR, Some(CONFIG));
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 1);
    assert!(
        ran.stdout.contains("read: /etc/default/kubelet (absent)\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("flag: none for credential providers\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran),
        (
            "NOT WIRED: kubelet has no --image-credential-provider-config: it runs no credential provider".to_string(),
            Some(format!(
                "fix (kubeadm): add --image-credential-provider-bin-dir={BIN_DIR} --image-credential-provider-config={CONFIG} \
                 to KUBELET_EXTRA_ARGS in /etc/default/kubelet (Debian) or /etc/sysconfig/kubelet (RPM), \
                 or nodeRegistration.kubeletExtraArgs before kubeadm join, then systemctl restart kubelet"
            ))
        )
    );
}

#[test]
fn flags_naming_other_paths_than_the_install_are_not_wired() {
    let node = Node::new("ks-kubeadm-other");
    node.kubeadm()
        .install(BIN_DIR, &[], Some(("provider-config/generic.yaml", CONFIG)))
        .write(
            "/var/lib/kubelet/kubeadm-flags.env",
            "KUBELET_KUBEADM_ARGS=\"--image-credential-provider-bin-dir=/opt/plugins --image-credential-provider-config=/etc/kubernetes/other.yaml\"\n",
        );
    let installed = node.installed(BIN_DIR, Some(CONFIG));
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 1);
    assert!(
        ran.stdout.contains(&format!(
            "FAIL: install put the binary in {BIN_DIR}, kubelet runs providers from /opt/plugins\n"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("FAIL: kubelet's config /etc/kubernetes/other.yaml does not exist: kubelet refuses to start without it\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran).1.unwrap(),
        format!(
            "fix (kubeadm): install with --bin-dir /opt/plugins (kubelet's, from KUBELET_KUBEADM_ARGS in /var/lib/kubelet/kubeadm-flags.env), \
             or give kubelet --image-credential-provider-bin-dir={BIN_DIR} (set in KUBELET_EXTRA_ARGS in /etc/default/kubelet (Debian) or \
             /etc/sysconfig/kubelet (RPM), or nodeRegistration.kubeletExtraArgs before kubeadm join) and systemctl restart kubelet"
        )
    );
}

/// A provider whose executable is missing: kubelet would refuse to start, even though the
/// other provider runs this binary.
#[test]
fn a_provider_missing_from_the_bin_dir_fails() {
    let node = Node::new("ks-missing");
    node.kubeadm().install(BIN_DIR, &[], None).write(
        CONFIG,
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n\
         - name: cloud-credential-provider\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 5m\n  matchImages: [\"registry.example.com\"]\n\
         - name: vendor-plugin\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 5m\n  matchImages: [\"vendor.example.com\"]\n",
    )
    .write(
        "/etc/default/kubelet",
        &format!("KUBELET_EXTRA_ARGS=\"--image-credential-provider-bin-dir={BIN_DIR} --image-credential-provider-config={CONFIG}\"\n"),
    );
    let (json, ran) = node.status_json(&[]);
    assert_exit(&ran, 1);
    assert_eq!(json["verdict"], "not-wired");
    assert_eq!(
        json["summary"],
        format!("kubelet refuses {CONFIG}: {BIN_DIR}/vendor-plugin does not exist")
    );
    assert_eq!(
        json["fix"],
        format!("put an executable at {BIN_DIR}/vendor-plugin or remove provider \"vendor-plugin\" from {CONFIG}, then systemctl restart kubelet")
    );
    let providers = json["providers"].as_array().unwrap();
    assert_eq!(providers[0]["runsThisBinary"], true);
    assert_eq!(
        providers[0]["matchImages"],
        serde_json::json!(["registry.example.com"])
    );
    assert_eq!(providers[1]["runsThisBinary"], false);
    assert_eq!(
        providers[1]["problem"],
        "does not exist: kubelet refuses to start"
    );
}

/// A config kubelet's flags name whose only provider has another name and another program.
#[test]
fn a_config_without_this_binary_says_to_add_a_provider() {
    let node = Node::new("ks-other");
    node.kubeadm()
        .other_plugin("/opt/plugins/vendor-plugin")
        .write(
            "/etc/kubernetes/vendor.yaml",
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n\
             - name: vendor-plugin\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 5m\n  matchImages: [\"vendor.example.com\"]\n",
        )
        .write(
            "/etc/default/kubelet",
            "KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir=/opt/plugins --image-credential-provider-config=/etc/kubernetes/vendor.yaml\n",
        );
    let ran = node.status(&[]);
    assert_exit(&ran, 1);
    assert_eq!(
        verdict(&ran),
        (
            "NOT WIRED: no provider of /etc/kubernetes/vendor.yaml runs this binary: /opt/plugins/vendor-plugin is another program (45 bytes), not this binary".to_string(),
            Some("fix (kubeadm): add a provider named cloud-credential-provider to /etc/kubernetes/vendor.yaml (provider-config/ has samples) and install into /opt/plugins, then systemctl restart kubelet".to_string())
        )
    );
}

// ---- EKS AL2023 ----

/// nodeadm's files: the environment file, its config.json and the stock ECR plugin.
fn eks_node(label: &str) -> Node {
    let node = Node::new(label);
    node.write(
        "/etc/eks/kubelet/environment",
        "NODEADM_KUBELET_ARGS=--node-ip=10.0.0.1 --image-credential-provider-bin-dir=/etc/eks/image-credential-provider --config=/etc/kubernetes/kubelet/config.json --image-credential-provider-config=/etc/eks/image-credential-provider/config.json --hostname-override=ip-10-0-0-1\n",
    )
    .write(
        "/etc/eks/image-credential-provider/config.json",
        r#"{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"ecr-credential-provider","matchImages":["*.dkr.ecr.*.amazonaws.com","*.dkr.ecr.*.amazonaws.com.cn"],"defaultCacheDuration":"12h","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}]}"#,
    )
    .other_plugin("/etc/eks/image-credential-provider/ecr-credential-provider");
    node
}

#[test]
fn eks_al2023_is_wired_by_the_drop_in_name_only() {
    let eks_dir = "/etc/eks/image-credential-provider";
    let node = eks_node("ks-eks");
    // The base install (default bin dir) on an EKS node: kubelet never looks there.
    node.install(BIN_DIR, &[], None);
    let installed = node.installed(BIN_DIR, None);
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 1);
    assert!(
        ran.stdout
            .starts_with("distribution: eks-al2023 (/etc/eks/kubelet/environment exists)\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran),
        (
            format!("NOT WIRED: install put the binary in {BIN_DIR}, kubelet runs providers from {eks_dir}"),
            Some(format!(
                "fix (eks-al2023): install with --bin-dir {eks_dir} --drop-in-names: eks-al2023 keeps kubelet's flags and config, whose ecr-credential-provider entry then runs this binary"
            ))
        )
    );

    node.install(eks_dir, &["--drop-in-names"], None);
    let installed = node.installed(eks_dir, None);
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 0);
    assert!(
        ran.stdout.contains(&format!(
            "provider \"ecr-credential-provider\": {eks_dir}/ecr-credential-provider runs this binary (drop-in name, symlink to cloud-credential-provider); matchImages: *.dkr.ecr.*.amazonaws.com, *.dkr.ecr.*.amazonaws.com.cn\n"
        )),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran).0,
        "WIRED: kubelet runs this binary as provider \"ecr-credential-provider\""
    );
}

// ---- AKS and GKE ----

#[test]
fn aks_and_gke_are_wired_by_their_drop_in_names() {
    for (label, default_file, config_path, config, bin_dir, name) in [
        (
            "ks-aks",
            "KUBELET_FLAGS=--address=0.0.0.0 --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider --image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --kubeconfig=/var/lib/kubelet/kubeconfig\nKUBELET_REGISTER_SCHEDULABLE=true\nKUBELET_NODE_LABELS=kubernetes.azure.com/role=agent\n",
            "/var/lib/kubelet/credential-provider-config.yaml",
            "kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders:\n  - name: acr-credential-provider\n    matchImages:\n      - \"*.azurecr.io\"\n      - \"*.azurecr.cn\"\n    defaultCacheDuration: 10m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    args:\n      - /etc/kubernetes/azure.json\n",
            "/var/lib/kubelet/credential-provider",
            "acr-credential-provider",
        ),
        (
            "ks-gke",
            "KUBELET_OPTS=\"--v=2 --cloud-provider=external --image-credential-provider-config=/etc/srv/kubernetes/cri_auth_config.yaml --image-credential-provider-bin-dir=/home/kubernetes/bin --max-pods=110\"\n",
            "/etc/srv/kubernetes/cri_auth_config.yaml",
            "kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders:\n  - name: auth-provider-gcp\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    matchImages:\n    - \"container.cloud.google.com\"\n    - \"gcr.io\"\n    - \"*.gcr.io\"\n    - \"*.pkg.dev\"\n    args:\n    - get-credentials\n    - --v=3\n    defaultCacheDuration: 1m\n",
            "/home/kubernetes/bin",
            "auth-provider-gcp",
        ),
    ] {
        let node = Node::new(label);
        node.write("/etc/default/kubelet", default_file)
            .write(config_path, config)
            .other_plugin(&format!("{bin_dir}/{name}"));
        let ran = node.status(&[]);
        assert_exit(&ran, 1);
        let distribution = &label[3..];
        assert_eq!(
            verdict(&ran),
            (
                format!("NOT WIRED: no provider of {config_path} runs this binary: {bin_dir}/{name} is another program (45 bytes), not this binary"),
                Some(format!("fix ({distribution}): install with --bin-dir {bin_dir} --drop-in-names: kubelet runs {bin_dir}/{name} for provider {name:?}"))
            ),
            "{label}"
        );
        node.install(bin_dir, &["--drop-in-names"], None);
        let installed = node.installed(bin_dir, None);
        let ran = node.status(&args(&installed));
        assert_exit(&ran, 0);
        assert_eq!(
            verdict(&ran).0,
            format!("WIRED: kubelet runs this binary as provider {name:?}"),
            "{label}"
        );
    }
}

// ---- k3s, RKE2 ----

#[test]
fn k3s_is_wired_by_installing_into_its_default_paths() {
    let bin_dir = "/var/lib/rancher/credentialprovider/bin";
    let config = "/var/lib/rancher/credentialprovider/config.yaml";
    let node = Node::new("ks-k3s");
    node.write(
        "/etc/rancher/k3s/config.yaml",
        "write-kubeconfig-mode: \"0644\"\n",
    );
    let ran = node.status(&[]);
    assert_exit(&ran, 1);
    assert!(
        ran.stdout
            .starts_with("distribution: k3s (/etc/rancher/k3s exists)\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("read: {bin_dir} (absent)\n")),
        "{}",
        ran.stdout
    );
    assert_eq!(
        verdict(&ran).1.unwrap(),
        format!("fix (k3s): install into {bin_dir} and {config} (k3s's defaults, passed to kubelet when both exist at its start), then systemctl restart k3s (k3s-agent on agents)")
    );

    node.install(bin_dir, &[], Some(("provider-config/generic.yaml", config)));
    let installed = node.installed(bin_dir, Some(config));
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 0);
    assert!(
        ran.stdout.contains(&format!(
            "flag: --image-credential-provider-bin-dir={bin_dir} (from k3s's default)\n"
        )),
        "{}",
        ran.stdout
    );
}

#[test]
fn rke2_options_in_config_yaml_move_the_paths() {
    let node = Node::new("ks-rke2");
    node.write(
        "/etc/rancher/rke2/config.yaml",
        "image-credential-provider-bin-dir: /opt/cp/bin\nimage-credential-provider-config: /opt/cp/config.yaml\n",
    )
    .install("/opt/cp/bin", &[], Some(("provider-config/generic.yaml", "/opt/cp/config.yaml")));
    let installed = node.installed("/opt/cp/bin", Some("/opt/cp/config.yaml"));
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 0);
    assert!(
        ran.stdout.contains("flag: --image-credential-provider-config=/opt/cp/config.yaml (from /etc/rancher/rke2/config.yaml)\n"),
        "{}",
        ran.stdout
    );
    // A kubelet-arg overrides the option: kubelet gets it last.
    node.write(
        "/etc/rancher/rke2/config.yaml.d/90-kubelet.yaml",
        "kubelet-arg+:\n  - image-credential-provider-config=/etc/elsewhere.yaml\n",
    );
    let ran = node.status(&args(&installed));
    assert_exit(&ran, 1);
    assert_eq!(
        verdict(&ran).0,
        "NOT WIRED: install wrote /opt/cp/config.yaml, kubelet reads /etc/elsewhere.yaml"
    );
    assert!(verdict(&ran).1.unwrap().starts_with("fix (rke2): install with --config-dest /etc/elsewhere.yaml (kubelet's, from /etc/rancher/rke2/config.yaml.d/90-kubelet.yaml)"));
}

// ---- Talos, Bottlerocket ----

#[test]
fn talos_and_bottlerocket_are_explained() {
    let node = Node::new("ks-talos");
    node.write("/etc/os-release", "NAME=\"Talos\"\nID=talos\n");
    let ran = node.status(&[]);
    assert_exit(&ran, 1);
    let (line, fix) = verdict(&ran);
    assert!(line.starts_with("UNKNOWN: kubelet's flags are not visible here; on talos nodes they are set in the machine config"), "{line}");
    assert!(
        fix.unwrap().starts_with("fix (talos): Talos runs providers only from /usr/local/lib/kubelet/credentialproviders"),
        "{}",
        ran.stdout
    );

    let node = Node::new("ks-bottlerocket");
    node.write("/usr/lib/os-release", "NAME=Bottlerocket\nID=bottlerocket\n")
        .write(
            "/usr/lib/systemd/system/kubelet.service",
            "[Service]\nExecStart=/usr/bin/kubelet \\\n    --cloud-provider external \\\n    --config /etc/kubernetes/kubelet/config \\\n    --image-credential-provider-bin-dir /usr/libexec/kubernetes/kubelet/plugins \\\n    --image-credential-provider-config /etc/kubernetes/kubelet/credential-provider-config.yaml\n",
        )
        .write(
            "/etc/kubernetes/kubelet/credential-provider-config.yaml",
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: ecr-credential-provider\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 12h\n  matchImages: [\"*.dkr.ecr.*.amazonaws.com\"]\n",
        )
        .other_plugin("/usr/libexec/kubernetes/kubelet/plugins/ecr-credential-provider");
    std::os::unix::fs::symlink("../usr/lib/os-release", node.at("/etc/os-release")).unwrap();
    let ran = node.status(&[]);
    assert_exit(&ran, 1);
    assert!(ran.stdout.contains("flag: --image-credential-provider-bin-dir=/usr/libexec/kubernetes/kubelet/plugins (from /usr/lib/systemd/system/kubelet.service)\n"), "{}", ran.stdout);
    assert_eq!(
        verdict(&ran).1.unwrap(),
        "fix (bottlerocket): Bottlerocket runs only the credential providers in its read-only OS image (settings.kubernetes.credential-providers); this binary cannot be wired there"
    );
}

// ---- a running kubelet ----

/// A process that looks like kubelet in `/proc`: a copy of bash named `kubelet` (or `k3s`)
/// running a script that sleeps, with kubelet's flags as its arguments.
struct FakeKubelet {
    child: Child,
    /// Its PID as `/proc` numbers it (the tests may run in a PID namespace of their own
    /// whose `/proc` is the parent's).
    pid: u32,
}

impl FakeKubelet {
    fn start(dir: &Path, name: &str, args: &[&str]) -> FakeKubelet {
        let program = dir.join(name);
        // Copied by a child process: this test process must never hold a write descriptor
        // to an executable another test thread forks with (ETXTBSY).
        let copied = Command::new("cp")
            .arg(fs::canonicalize("/bin/bash").unwrap())
            .arg(&program)
            .status()
            .unwrap();
        assert!(copied.success());
        let script = dir.join(if name == "k3s" {
            "server"
        } else {
            "kubelet.sh"
        });
        fs::write(&script, "while sleep 1; do :; done\n").unwrap();
        let marker = format!("--node-labels=ccp-test={}", random_token(16));
        let mut cmd = Command::new(&program);
        cmd.current_dir(dir)
            .arg(if name == "k3s" {
                "server"
            } else {
                script.to_str().unwrap()
            })
            .args(args)
            .arg(&marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap();
        let pid = find_pid(&marker);
        FakeKubelet { child, pid }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `/proc` PID of the process whose command line holds `marker`.
fn find_pid(marker: &str) -> u32 {
    wait_for(
        Duration::from_secs(10),
        "the fake kubelet never showed up in /proc",
        || {
            fs::read_dir("/proc").unwrap().flatten().find_map(|entry| {
                let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
                cmdline
                    .split(|b| *b == 0)
                    .any(|a| a == marker.as_bytes())
                    .then_some(pid)
            })
        },
    )
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// The running kubelet's flags are the truth; a config written after kubelet started is not
/// what kubelet runs with, and the files' newer flags need a restart too.
#[test]
fn a_running_kubelet_and_a_config_newer_than_it() {
    let node = Node::new("ks-process");
    node.kubeadm().install(
        BIN_DIR,
        &["--drop-in-names"],
        Some(("provider-config/generic.yaml", CONFIG)),
    );
    // Written an hour ago, long before kubelet starts.
    set_mtime(
        &node.at(CONFIG),
        SystemTime::now() - Duration::from_secs(3600),
    );
    let bin_flag = format!("--image-credential-provider-bin-dir={BIN_DIR}");
    let kubelet = FakeKubelet::start(
        node.dir.path(),
        "kubelet",
        &[
            "--config=/var/lib/kubelet/config.yaml",
            &bin_flag,
            "--image-credential-provider-config",
            CONFIG,
            "--v=2",
        ],
    );
    let pid = format!("--kubelet-pid={}", kubelet.pid);
    let installed = node.installed(BIN_DIR, Some(CONFIG));
    let mut with_pid = args(&installed);
    with_pid.push(&pid);
    let ran = node.status(&with_pid);
    assert_exit(&ran, 0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines[1].starts_with(&format!(
            "kubelet: process {} ({}), started 20",
            kubelet.pid,
            node.dir.join("kubelet").display()
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "flag: --image-credential-provider-config={CONFIG} (from /proc/{}/cmdline)\n",
            kubelet.pid
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("ok: kubelet started at "),
        "{}",
        ran.stdout
    );
    // The node's files (kubeadm's, no flags) give kubelet none at its next start.
    assert!(
        ran.stdout.contains("note: the node's files give kubelet other flags at its next start: none for credential providers (a restart would leave it without plugins)\n"),
        "{}",
        ran.stdout
    );

    // A new config (other bytes) after kubelet started: kubelet has not read it.
    thread::sleep(Duration::from_millis(2100));
    node.install(BIN_DIR, &[], Some(("provider-config/eks.yaml", CONFIG)));
    let (json, ran) = node.status_json(&with_pid);
    assert_exit(&ran, 1);
    assert_eq!(json["verdict"], "not-wired");
    assert_eq!(json["kubelet"]["pid"], kubelet.pid);
    assert_eq!(json["kubelet"]["flagsFrom"], "process");
    let restart = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "restart")
        .unwrap();
    assert_eq!(restart["state"], "fail");
    assert!(
        restart["message"]
            .as_str()
            .unwrap()
            .contains(", after kubelet started at "),
        "{restart}"
    );
    assert_eq!(
        json["fix"],
        "systemctl restart kubelet, so kubelet reads its config again"
    );
}

/// The flags are in the files but the running kubelet predates them.
#[test]
fn flags_added_but_kubelet_not_restarted() {
    let node = Node::new("ks-stale");
    node.kubeadm()
        .install(BIN_DIR, &[], Some(("provider-config/generic.yaml", CONFIG)))
        .write(
            "/etc/default/kubelet",
            &format!("KUBELET_EXTRA_ARGS=--image-credential-provider-bin-dir={BIN_DIR} --image-credential-provider-config={CONFIG}\n"),
        );
    let kubelet = FakeKubelet::start(
        node.dir.path(),
        "kubelet",
        &["--config", "/var/lib/kubelet/config.yaml"],
    );
    let pid = format!("--kubelet-pid={}", kubelet.pid);
    let ran = node.status(&[&pid]);
    assert_exit(&ran, 1);
    assert_eq!(
        verdict(&ran),
        (
            "NOT WIRED: kubelet has no --image-credential-provider-config: it runs no credential provider".to_string(),
            Some("fix (kubeadm): add --image-credential-provider-bin-dir=/usr/local/libexec/kubelet-credential-provider --image-credential-provider-config=/etc/kubernetes/credential-provider/config.yaml to KUBELET_EXTRA_ARGS in /etc/default/kubelet (Debian) or /etc/sysconfig/kubelet (RPM), or nodeRegistration.kubeletExtraArgs before kubeadm join, then systemctl restart kubelet".to_string())
        )
    );
    assert!(
        ran.stdout.contains(&format!(
            "note: the node's files give kubelet other flags at its next start: --image-credential-provider-bin-dir={BIN_DIR} (from KUBELET_EXTRA_ARGS in /etc/default/kubelet)"
        )),
        "{}",
        ran.stdout
    );
}

/// k3s runs kubelet inside its own process: its options are on the k3s command line.
#[test]
fn a_running_k3s_with_options_on_its_command_line() {
    let node = Node::new("ks-k3s-process");
    node.install(
        "/opt/cp/bin",
        &[],
        Some(("provider-config/generic.yaml", "/opt/cp/config.yaml")),
    );
    set_mtime(
        &node.at("/opt/cp/config.yaml"),
        SystemTime::now() - Duration::from_secs(3600),
    );
    let k3s = FakeKubelet::start(
        node.dir.path(),
        "k3s",
        &[
            "--image-credential-provider-bin-dir",
            "/opt/cp/bin",
            "--image-credential-provider-config=/opt/cp/config.yaml",
        ],
    );
    let pid = format!("--kubelet-pid={}", k3s.pid);
    let ran = node.status(&[&pid]);
    assert_exit(&ran, 0);
    assert!(
        ran.stdout
            .starts_with(&format!("distribution: k3s (process {} is k3s)\n", k3s.pid)),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("flag: --image-credential-provider-bin-dir=/opt/cp/bin (from the k3s process's command line)\n"),
        "{}",
        ran.stdout
    );
}

// ---- bad input ----

#[test]
fn bad_input_is_one_error_line() {
    let node = Node::new("ks-bad");
    for (list, message) in [
        (
            vec!["kubelet-status".to_string(), "--host-root=/nonexistent-ccp-root".into()],
            "cloud-credential-provider: error: kubelet-status: --host-root /nonexistent-ccp-root: No such file or directory (os error 2)\n".to_string(),
        ),
        (
            vec![
                "kubelet-status".to_string(),
                "--host-root".into(),
                node.root().display().to_string(),
                "--bin-dir=/usr/local/bin".into(),
            ],
            format!(
                "cloud-credential-provider: error: kubelet-status: --bin-dir /usr/local/bin is not under --host-root {} (see --help)\n",
                node.root().display()
            ),
        ),
        (
            vec!["kubelet-status".to_string(), "--kubelet-pid=4294967295".into()],
            "cloud-credential-provider: error: kubelet-status: --kubelet-pid 4294967295: no readable command line in /proc/4294967295\n".to_string(),
        ),
    ] {
        let ran = run_program(BIN, &args(&list));
        assert_eq!(ran.status.code(), Some(1), "{list:?}: {}", ran.describe());
        assert_eq!(ran.stdout, "", "{list:?}");
        assert_eq!(ran.stderr, message, "{list:?}");
    }
}

/// `--help` documents the command.
#[test]
fn help_lists_kubelet_status() {
    let ran = run_program(BIN, &["--help"]);
    assert!(ran.stdout.contains("  cloud-credential-provider kubelet-status [--host-root DIR] [--bin-dir DIR] [--config-dest PATH]\n"), "{}", ran.stdout);
}
