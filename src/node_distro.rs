//! What each Kubernetes distribution does with kubelet's flags: how to recognise its nodes,
//! where it keeps the flags (for a pod that cannot see the kubelet process), and what an
//! operator changes there. Each path says where it comes from:
//!
//! | distribution | flags kept in | source |
//! |---|---|---|
//! | kubeadm | `kubelet.service` + `kubelet.service.d/10-kubeadm.conf`: `KUBELET_KUBEADM_ARGS` of `/var/lib/kubelet/kubeadm-flags.env`, `KUBELET_EXTRA_ARGS` of `/etc/default/kubelet` or `/etc/sysconfig/kubelet` | kubernetes/release packaging (`10-kubeadm.conf`), kubeadm docs "Configuring each kubelet" |
//! | EKS AL2023 | `NODEADM_KUBELET_ARGS` of `/etc/eks/kubelet/environment` (`ExecStart=/usr/bin/kubelet $NODEADM_KUBELET_ARGS`); bin dir `/etc/eks/image-credential-provider`, config `config.json` there, rewritten at boot | awslabs/amazon-eks-ami `nodeadm/internal/kubelet/environment.go`, `image-credential-provider.go` |
//! | AKS | `KUBELET_FLAGS` of `/etc/default/kubelet` (the unit runs a wrapper script that appends it); bin dir `/var/lib/kubelet/credential-provider`, config `/var/lib/kubelet/credential-provider-config.yaml` | Azure/AgentBaker `cse_config.sh` (`ensureKubelet`), `kubelet.sh` |
//! | GKE | `KUBELET_OPTS` of `/etc/default/kubelet`; bin dir `/home/kubernetes/bin`, config `/etc/srv/kubernetes/cri_auth_config.yaml` | kubernetes `cluster/gce/gci/configure-helper.sh` (`start-kubelet`, `configure-auth-provider-gcp`) |
//! | k3s, RKE2 | `/etc/rancher/{k3s,rke2}/config.yaml` and `config.yaml.d/*.yaml` (`kubelet-arg`, `image-credential-provider-bin-dir`, `image-credential-provider-config`), their command line; defaults `/var/lib/rancher/credentialprovider/{bin,config.yaml}`, passed to kubelet only when both exist when the agent starts | k3s `pkg/cli/cmds/agent.go`, `pkg/daemons/agent` (`ImageCredProvAvailable`) |
//! | Talos | the machine config; bin dir `/usr/local/lib/kubelet/credentialproviders` (system extensions), config `/etc/kubernetes/kubelet-credentialproviderconfig.yaml` | siderolabs/talos `pkg/machinery/constants`, `kubelet_service.go` |
//! | Bottlerocket | its settings API; bin dir `/usr/libexec/kubernetes/kubelet/plugins` in the read-only OS image | bottlerocket `kubelet` unit |

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml_ng::Value;

use crate::host_root::{Consulted, HostRoot, Look};
use crate::kubelet_flags::{split_whitespace, CredentialFlags, FlagValue};
use crate::kubelet_process::{Agent, KubeletProcess};
use crate::systemd_unit::{self, env_value};

/// A kind of node, as far as kubelet's flags go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// kubeadm-built nodes (and kind).
    Kubeadm,
    /// Amazon EKS on Amazon Linux 2023 (nodeadm).
    EksAl2023,
    /// Azure Kubernetes Service.
    Aks,
    /// Google Kubernetes Engine.
    Gke,
    /// k3s.
    K3s,
    /// RKE2.
    Rke2,
    /// Talos Linux.
    Talos,
    /// Bottlerocket.
    Bottlerocket,
    /// Anything else: kubelet started by a systemd unit of the operator's.
    Generic,
}

/// The names `--distribution` takes, in [`Distribution`] order.
pub const NAMES: &[&str] = &[
    "kubeadm",
    "eks-al2023",
    "aks",
    "gke",
    "k3s",
    "rke2",
    "talos",
    "bottlerocket",
    "generic",
];

const ALL: &[Distribution] = &[
    Distribution::Kubeadm,
    Distribution::EksAl2023,
    Distribution::Aks,
    Distribution::Gke,
    Distribution::K3s,
    Distribution::Rke2,
    Distribution::Talos,
    Distribution::Bottlerocket,
    Distribution::Generic,
];

/// k3s's and RKE2's default credential-provider bin dir (k3s `pkg/cli/cmds/agent.go`).
pub const RANCHER_BIN_DIR: &str = "/var/lib/rancher/credentialprovider/bin";
/// k3s's and RKE2's default credential-provider config.
pub const RANCHER_CONFIG: &str = "/var/lib/rancher/credentialprovider/config.yaml";
/// nodeadm's kubelet environment file and the variable in it.
const EKS_ENV_FILE: &str = "/etc/eks/kubelet/environment";
const EKS_ENV_VAR: &str = "NODEADM_KUBELET_ARGS";
/// AKS's and GKE's kubelet environment file (different variables in it).
const DEFAULT_KUBELET: &str = "/etc/default/kubelet";
const AKS_ENV_VAR: &str = "KUBELET_FLAGS";
const GKE_ENV_VAR: &str = "KUBELET_OPTS";
const KUBEADM_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";

impl Distribution {
    /// Its `--distribution` name.
    pub fn name(self) -> &'static str {
        NAMES[ALL.iter().position(|d| *d == self).unwrap_or(ALL.len() - 1)]
    }

    /// The distribution called `name`.
    pub fn parse(name: &str) -> Option<Distribution> {
        NAMES.iter().position(|n| *n == name).map(|i| ALL[i])
    }

    /// Where an operator sets kubelet's flags on this distribution.
    pub fn where_flags_go(self) -> &'static str {
        match self {
            Distribution::Kubeadm => "KUBELET_EXTRA_ARGS in /etc/default/kubelet (Debian) or /etc/sysconfig/kubelet (RPM), or nodeRegistration.kubeletExtraArgs before kubeadm join",
            Distribution::EksAl2023 => "the NodeConfig's spec.kubelet.flags (user data; nodeadm writes them at boot)",
            Distribution::Aks => "nowhere an operator owns: AKS writes KUBELET_FLAGS in /etc/default/kubelet itself",
            Distribution::Gke => "nowhere an operator owns: GKE writes KUBELET_OPTS in /etc/default/kubelet itself",
            Distribution::K3s => "/etc/rancher/k3s/config.yaml (image-credential-provider-bin-dir, image-credential-provider-config)",
            Distribution::Rke2 => "/etc/rancher/rke2/config.yaml (image-credential-provider-bin-dir, image-credential-provider-config)",
            Distribution::Talos => "the machine config",
            Distribution::Bottlerocket => "nowhere: Bottlerocket's settings enable only its own providers",
            Distribution::Generic => "kubelet's systemd unit or a drop-in (kubelet.service.d/*.conf)",
        }
    }

    /// The command that restarts kubelet here.
    pub fn restart(self) -> &'static str {
        match self {
            Distribution::K3s => "systemctl restart k3s (k3s-agent on agents)",
            Distribution::Rke2 => "systemctl restart rke2-server (rke2-agent on agents)",
            Distribution::Talos => "talosctl service kubelet restart",
            _ => "systemctl restart kubelet",
        }
    }

    /// For nodes whose kubelet flags and config the platform writes: its bin dir and the
    /// provider its config runs, which `install --drop-in-names` makes this binary.
    pub fn drop_in(self) -> Option<(&'static str, &'static str)> {
        match self {
            Distribution::EksAl2023 => Some((
                "/etc/eks/image-credential-provider",
                "ecr-credential-provider",
            )),
            Distribution::Aks => Some((
                "/var/lib/kubelet/credential-provider",
                "acr-credential-provider",
            )),
            Distribution::Gke => Some(("/home/kubernetes/bin", "auth-provider-gcp")),
            _ => None,
        }
    }

    /// For nodes where a pod cannot put this binary where kubelet runs providers: why, and
    /// what is possible instead.
    pub fn immutable(self) -> Option<&'static str> {
        match self {
            Distribution::Talos => Some(
                "Talos runs providers only from /usr/local/lib/kubelet/credentialproviders, part of its immutable image: \
                 ship this binary in a system extension there and set machine.kubelet.credentialProviderConfig in the machine config; \
                 a pod can neither install it nor change kubelet's flags",
            ),
            Distribution::Bottlerocket => Some(
                "Bottlerocket runs only the credential providers in its read-only OS image \
                 (settings.kubernetes.credential-providers); this binary cannot be wired there",
            ),
            _ => None,
        }
    }
}

/// A distribution and why it was picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The distribution.
    pub distribution: Distribution,
    /// What showed it (`/etc/eks/kubelet/environment exists`), or `--distribution`.
    pub evidence: String,
}

/// Recognises the node from the kubelet process (when visible) and the host's files.
pub fn detect(host: &HostRoot, process: Option<&KubeletProcess>) -> Detected {
    let found = |distribution, evidence: String| Detected {
        distribution,
        evidence,
    };
    if let Some(p) = process {
        if p.agent == Agent::K3s {
            return found(Distribution::K3s, format!("process {} is k3s", p.pid));
        }
        if p.argv[0].contains("/rancher/rke2/") {
            return found(
                Distribution::Rke2,
                format!("kubelet runs from {}", p.argv[0]),
            );
        }
    }
    if let Look::Found(text) = host.read_text(Path::new("/etc/os-release")) {
        match env_value(&text, "ID").as_deref() {
            Some("talos") => return found(Distribution::Talos, "/etc/os-release: ID=talos".into()),
            Some("bottlerocket") => {
                return found(
                    Distribution::Bottlerocket,
                    "/etc/os-release: ID=bottlerocket".into(),
                )
            }
            _ => {}
        }
    }
    if exists(host, EKS_ENV_FILE) {
        return found(Distribution::EksAl2023, format!("{EKS_ENV_FILE} exists"));
    }
    if let Look::Found(text) = host.read_text(Path::new(DEFAULT_KUBELET)) {
        if env_value(&text, AKS_ENV_VAR).is_some() {
            return found(
                Distribution::Aks,
                format!("{DEFAULT_KUBELET} sets {AKS_ENV_VAR}"),
            );
        }
        if env_value(&text, GKE_ENV_VAR).is_some() {
            return found(
                Distribution::Gke,
                format!("{DEFAULT_KUBELET} sets {GKE_ENV_VAR}"),
            );
        }
    }
    for (dir, distribution) in [
        ("/etc/rancher/rke2", Distribution::Rke2),
        ("/etc/rancher/k3s", Distribution::K3s),
    ] {
        if exists(host, dir) {
            return found(distribution, format!("{dir} exists"));
        }
    }
    if exists(host, KUBEADM_FLAGS_ENV) {
        return found(Distribution::Kubeadm, format!("{KUBEADM_FLAGS_ENV} exists"));
    }
    found(
        Distribution::Generic,
        "no distribution's files are visible".into(),
    )
}

fn exists(host: &HostRoot, path: &str) -> bool {
    matches!(host.metadata(Path::new(path)), Look::Found(_))
}

/// Kubelet's flags as the files of `distribution` set them.
#[derive(Debug, Clone, Default)]
pub struct FileFlags {
    /// The flags; `None` when the files that hold them are not visible here.
    pub flags: Option<CredentialFlags>,
    /// Every file looked at.
    pub consulted: Vec<Consulted>,
    /// What the reader assumed or could not follow.
    pub notes: Vec<String>,
}

/// Reads kubelet's flags from where `distribution` keeps them. `k3s_args`: the arguments of
/// a running k3s process (after `server`/`agent`), which override its config files.
pub fn flags_from_files(
    host: &HostRoot,
    distribution: Distribution,
    k3s_args: Option<&[String]>,
) -> FileFlags {
    match distribution {
        Distribution::K3s | Distribution::Rke2 => rancher_flags(host, distribution, k3s_args),
        // The platforms' own files: their units start kubelet with that variable (AKS through
        // a wrapper script, so its unit's command line is not kubelet's).
        Distribution::EksAl2023 => env_file_flags(host, EKS_ENV_FILE, EKS_ENV_VAR),
        Distribution::Aks => env_file_flags(host, DEFAULT_KUBELET, AKS_ENV_VAR),
        Distribution::Gke => env_file_flags(host, DEFAULT_KUBELET, GKE_ENV_VAR),
        Distribution::Talos => FileFlags {
            notes: vec![
                "Talos keeps kubelet's flags in its machine config, which no file on the node shows; \
                 the running kubelet's command line does (the host-pid component)"
                    .into(),
            ],
            ..FileFlags::default()
        },
        Distribution::Kubeadm => {
            let (mut from_unit, unit_found) = unit_flags(host, "kubelet.service");
            if unit_found {
                return from_unit;
            }
            // The unit is not visible (a pod that mounts kubeadm's files only).
            let fallback = kubeadm_env_flags(host);
            from_unit.consulted.extend(fallback.consulted);
            from_unit.notes.extend(fallback.notes);
            from_unit.flags = fallback.flags;
            from_unit
        }
        Distribution::Bottlerocket | Distribution::Generic => unit_flags(host, "kubelet.service").0,
    }
}

/// The flags of systemd service `name` (kubelet's own unit), and whether a unit was found.
fn unit_flags(host: &HostRoot, name: &str) -> (FileFlags, bool) {
    let (service, consulted) = systemd_unit::read_service(host, name);
    let mut out = FileFlags {
        consulted,
        ..FileFlags::default()
    };
    let Some(service) = service else {
        out.notes.push(format!("no {name} unit was found"));
        return (out, false);
    };
    let Some(program) = service.program() else {
        out.notes.push(format!("{name} has no ExecStart"));
        return (out, true);
    };
    if Path::new(program)
        .file_name()
        .is_none_or(|n| n != "kubelet")
    {
        out.notes.push(format!(
            "{name} starts {program}, not kubelet: its arguments are not kubelet's flags"
        ));
        return (out, true);
    }
    let mut flags = CredentialFlags::default();
    flags.apply_tagged(&service.argv[1..]);
    // An environment file the unit names but this process cannot see may hold the flags.
    let unseen: Vec<&str> = out
        .consulted
        .iter()
        .filter(|c| c.state != "read" && c.state != "absent")
        .map(|c| c.path.as_str())
        .collect();
    if !unseen.is_empty() {
        if !flags.any_credential_flag() {
            out.notes.push(format!(
                "{} may set them but cannot be read here",
                unseen.join(", ")
            ));
            return (out, true);
        }
        out.notes.push(format!(
            "{} cannot be read here; it could override these flags",
            unseen.join(", ")
        ));
    }
    out.flags = Some(flags);
    (out, true)
}

/// The flags in variable `var` of environment file `path`.
fn env_file_flags(host: &HostRoot, path: &str, var: &str) -> FileFlags {
    let look = host.read_text(Path::new(path));
    let mut out = FileFlags {
        consulted: vec![Consulted::new(Path::new(path), &look)],
        ..FileFlags::default()
    };
    match look {
        Look::Found(text) => {
            let words = split_whitespace(&env_value(&text, var).unwrap_or_default());
            out.flags = Some(CredentialFlags::scan(&words, &format!("{var} in {path}")));
        }
        Look::Absent => {
            out.notes.push(format!("{path} does not exist"));
            out.flags = Some(CredentialFlags::default());
        }
        _ => {}
    }
    out
}

/// kubeadm's flags without the unit: `10-kubeadm.conf`'s order, the kubeadm flags file and
/// then the operator's extra args.
fn kubeadm_env_flags(host: &HostRoot) -> FileFlags {
    let mut out = FileFlags::default();
    let mut flags = CredentialFlags::default();
    let mut visible = false;
    let mut unseen = Vec::new();
    for (path, var) in [
        (KUBEADM_FLAGS_ENV, "KUBELET_KUBEADM_ARGS"),
        ("/etc/default/kubelet", "KUBELET_EXTRA_ARGS"),
        ("/etc/sysconfig/kubelet", "KUBELET_EXTRA_ARGS"),
    ] {
        let look = host.read_text(Path::new(path));
        out.consulted.push(Consulted::new(Path::new(path), &look));
        match look {
            Look::Found(text) => {
                visible = true;
                let words = split_whitespace(&env_value(&text, var).unwrap_or_default());
                flags.apply(&words, &format!("{var} in {path}"));
            }
            Look::Absent => visible = true,
            _ => unseen.push(path),
        }
    }
    if !unseen.is_empty() && !flags.any_credential_flag() {
        out.notes.push(format!(
            "{} may set them but cannot be read here",
            unseen.join(", ")
        ));
    } else if visible {
        out.notes.push(
            "kubelet.service is not visible here: read kubeadm's files in 10-kubeadm.conf's order; \
             a drop-in of the operator's would not be seen"
                .into(),
        );
        out.flags = Some(flags);
    }
    out
}

/// k3s's or RKE2's kubelet flags: its options from config files and command line, the
/// defaults, the rule that it passes them only when both paths exist, then `kubelet-arg`.
fn rancher_flags(
    host: &HostRoot,
    distribution: Distribution,
    process_args: Option<&[String]>,
) -> FileFlags {
    let name = distribution.name();
    let mut out = FileFlags::default();
    let mut options = RancherOptions::default();
    let etc = PathBuf::from(format!("/etc/rancher/{name}"));
    let config = etc.join("config.yaml");
    let look = host.read_text(&config);
    out.consulted.push(Consulted::new(&config, &look));
    let mut config_visible = !matches!(look, Look::NotVisible | Look::Unreadable(_));
    if let Look::Found(text) = look {
        options.apply_yaml(&text, &config, &mut out.notes);
    }
    let drop_ins = etc.join("config.yaml.d");
    match host.read_dir(&drop_ins) {
        Look::Found(names) => {
            for file in names {
                let lossy = file.to_string_lossy();
                if !(lossy.ends_with(".yaml") || lossy.ends_with(".yml")) {
                    continue;
                }
                let path = drop_ins.join(&file);
                let look = host.read_text(&path);
                out.consulted.push(Consulted::new(&path, &look));
                if let Look::Found(text) = look {
                    options.apply_yaml(&text, &path, &mut out.notes);
                }
            }
        }
        Look::NotVisible => config_visible = false,
        _ => {}
    }
    // The command line: the running process's, else the unit's.
    match process_args {
        Some(args) => options.apply_cli(args, "the k3s process's command line"),
        None => {
            let units: &[&str] = match distribution {
                Distribution::K3s => &["k3s.service", "k3s-agent.service"],
                _ => &["rke2-server.service", "rke2-agent.service"],
            };
            for unit in units {
                let (service, consulted) = systemd_unit::read_service(host, unit);
                out.consulted.extend(consulted);
                if let Some(service) = service {
                    let words: Vec<String> = service
                        .argv
                        .iter()
                        .skip(1)
                        .map(|(w, _)| w.clone())
                        .collect();
                    options.apply_cli(&words, unit);
                    break;
                }
            }
        }
    }
    if !config_visible {
        out.notes.push(format!(
            "{} is not visible here: assuming it does not change the credential-provider options",
            etc.display()
        ));
    }
    let bin_dir = options.bin_dir.unwrap_or_else(|| FlagValue {
        value: RANCHER_BIN_DIR.into(),
        from: format!("{name}'s default"),
    });
    let config = options.config.unwrap_or_else(|| FlagValue {
        value: RANCHER_CONFIG.into(),
        from: format!("{name}'s default"),
    });
    // k3s `ImageCredProvAvailable`: the bin dir must be a directory and the config must
    // exist and not be one, or the agent passes neither flag.
    let bin_look = host.metadata(Path::new(&bin_dir.value));
    let config_look = host.metadata(Path::new(&config.value));
    out.consulted
        .push(Consulted::new(Path::new(&bin_dir.value), &bin_look));
    out.consulted
        .push(Consulted::new(Path::new(&config.value), &config_look));
    let mut flags = CredentialFlags::default();
    match (&bin_look, &config_look) {
        (Look::Found(b), Look::Found(c)) if b.is_dir() && !c.is_dir() => {
            flags.image_credential_provider_bin_dir = Some(bin_dir);
            flags.image_credential_provider_config = Some(config);
        }
        (Look::NotVisible | Look::Unreadable(_), _) | (_, Look::NotVisible | Look::Unreadable(_)) => {
            out.notes.push(format!(
                "{} or {} is not visible here: cannot tell whether {name} passes them to kubelet",
                bin_dir.value, config.value
            ));
            return out;
        }
        _ => out.notes.push(format!(
            "{name} passes --image-credential-provider-bin-dir and --image-credential-provider-config to kubelet \
             only when {} is a directory and {} a file when it starts",
            bin_dir.value, config.value
        )),
    }
    for (arg, from) in &options.kubelet_args {
        flags.apply(&[format!("--{}", arg.trim_start_matches('-'))], from);
    }
    out.flags = Some(flags);
    out
}

/// The k3s/RKE2 options that decide kubelet's credential-provider flags.
#[derive(Debug, Default)]
struct RancherOptions {
    bin_dir: Option<FlagValue>,
    config: Option<FlagValue>,
    /// `kubelet-arg` entries (`name=value`), each with where it was set.
    kubelet_args: Vec<(String, String)>,
}

impl RancherOptions {
    /// One config file: scalars replace, `kubelet-arg` replaces, `kubelet-arg+` appends.
    fn apply_yaml(&mut self, text: &str, path: &Path, notes: &mut Vec<String>) {
        let from = path.display().to_string();
        let parsed = crate::parse_limits::check_yaml(text)
            .and_then(|_| serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string()));
        let map = match parsed {
            Ok(Value::Mapping(map)) => map,
            Ok(Value::Null) => return,
            Ok(_) => {
                notes.push(format!("{from} is not a YAML mapping; ignored"));
                return;
            }
            Err(e) => {
                notes.push(format!("{from} is not valid YAML ({e}); ignored"));
                return;
            }
        };
        let text_of = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let list_of = |v: &Value| -> Vec<String> {
            match v {
                Value::Sequence(items) => items.iter().filter_map(text_of).collect(),
                other => text_of(other).into_iter().collect(),
            }
        };
        for (key, value) in &map {
            let Some(key) = key.as_str() else { continue };
            match key {
                "image-credential-provider-bin-dir" => {
                    self.bin_dir = text_of(value).map(|value| FlagValue {
                        value,
                        from: from.clone(),
                    })
                }
                "image-credential-provider-config" => {
                    self.config = text_of(value).map(|value| FlagValue {
                        value,
                        from: from.clone(),
                    })
                }
                "kubelet-arg" => {
                    self.kubelet_args = list_of(value)
                        .into_iter()
                        .map(|a| (a, from.clone()))
                        .collect()
                }
                "kubelet-arg+" => self
                    .kubelet_args
                    .extend(list_of(value).into_iter().map(|a| (a, from.clone()))),
                _ => {}
            }
        }
    }

    /// Command-line options (urfave/cli: `--name value`, `--name=value`, one dash too).
    fn apply_cli(&mut self, args: &[String], from: &str) {
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            if !matches!(
                name,
                "kubelet-arg"
                    | "image-credential-provider-bin-dir"
                    | "image-credential-provider-config"
            ) {
                continue;
            }
            let Some(value) = inline.or_else(|| iter.next().cloned()) else {
                continue;
            };
            let value = FlagValue {
                value,
                from: from.to_string(),
            };
            match name {
                "kubelet-arg" => self.kubelet_args.push((value.value, value.from)),
                "image-credential-provider-bin-dir" => self.bin_dir = Some(value),
                _ => self.config = Some(value),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Host {
        dir: PathBuf,
    }

    impl Host {
        fn new(label: &str) -> Host {
            let dir =
                std::env::temp_dir().join(format!("ccp-distro-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Host { dir }
        }
        fn write(&self, path: &str, text: &str) -> &Host {
            let p = self.dir.join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
            self
        }
        fn mkdir(&self, path: &str) -> &Host {
            fs::create_dir_all(self.dir.join(path.trim_start_matches('/'))).unwrap();
            self
        }
        fn root(&self) -> HostRoot {
            HostRoot::open(&self.dir).unwrap()
        }
    }

    impl Drop for Host {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn names_round_trip() {
        for d in ALL {
            assert_eq!(Distribution::parse(d.name()), Some(*d));
        }
        assert_eq!(Distribution::parse("eks"), None);
    }

    #[test]
    fn each_distribution_is_recognised_by_its_files() {
        type Files<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, Files, Distribution)] = &[
            (
                "talos",
                &[("/etc/os-release", "NAME=Talos\nID=talos\n")],
                Distribution::Talos,
            ),
            (
                "br",
                &[("/usr/lib/os-release", "ID=\"bottlerocket\"\n")],
                Distribution::Bottlerocket,
            ),
            (
                "eks",
                &[(
                    "/etc/eks/kubelet/environment",
                    "NODEADM_KUBELET_ARGS=--v=2\n",
                )],
                Distribution::EksAl2023,
            ),
            (
                "aks",
                &[(
                    "/etc/default/kubelet",
                    "KUBELET_FLAGS=--v=2\nKUBELET_NODE_LABELS=a=b\n",
                )],
                Distribution::Aks,
            ),
            (
                "gke",
                &[("/etc/default/kubelet", "KUBELET_OPTS=\"--v=2\"\n")],
                Distribution::Gke,
            ),
            (
                "k3s",
                &[("/etc/rancher/k3s/config.yaml", "")],
                Distribution::K3s,
            ),
            (
                "rke2",
                &[("/etc/rancher/rke2/config.yaml", "")],
                Distribution::Rke2,
            ),
            (
                "kubeadm",
                &[
                    (
                        "/var/lib/kubelet/kubeadm-flags.env",
                        "KUBELET_KUBEADM_ARGS=\"\"\n",
                    ),
                    ("/etc/default/kubelet", "KUBELET_EXTRA_ARGS=\n"),
                ],
                Distribution::Kubeadm,
            ),
            ("generic", &[], Distribution::Generic),
        ];
        for (label, files, want) in cases {
            let host = Host::new(&format!("detect-{label}"));
            for (path, text) in *files {
                host.write(path, text);
            }
            if *label == "br" {
                host.mkdir("/etc");
                std::os::unix::fs::symlink(
                    "../usr/lib/os-release",
                    host.dir.join("etc/os-release"),
                )
                .unwrap();
            }
            assert_eq!(detect(&host.root(), None).distribution, *want, "{label}");
        }
    }

    #[test]
    fn eks_aks_and_gke_flags_come_from_their_environment_files() {
        let host = Host::new("envs");
        host.write(
            "/etc/eks/kubelet/environment",
            "NODEADM_KUBELET_ARGS=--node-ip=10.0.0.1 --image-credential-provider-bin-dir=/etc/eks/image-credential-provider --image-credential-provider-config=/etc/eks/image-credential-provider/config.json --v=2\n",
        );
        let got = flags_from_files(&host.root(), Distribution::EksAl2023, None);
        let flags = got.flags.expect("flags");
        assert_eq!(flags.bin_dir(), Some("/etc/eks/image-credential-provider"));
        assert_eq!(
            flags.image_credential_provider_config.unwrap().from,
            "NODEADM_KUBELET_ARGS in /etc/eks/kubelet/environment"
        );

        host.write(
            "/etc/default/kubelet",
            "KUBELET_FLAGS=--address=0.0.0.0 --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider --image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml\nKUBELET_OPTS=\"--image-credential-provider-bin-dir=/home/kubernetes/bin\"\n",
        );
        let aks = flags_from_files(&host.root(), Distribution::Aks, None)
            .flags
            .unwrap();
        assert_eq!(aks.bin_dir(), Some("/var/lib/kubelet/credential-provider"));
        let gke = flags_from_files(&host.root(), Distribution::Gke, None)
            .flags
            .unwrap();
        assert_eq!(gke.bin_dir(), Some("/home/kubernetes/bin"));
        assert_eq!(gke.provider_config(), None);
    }

    #[test]
    fn k3s_uses_its_defaults_only_when_both_exist() {
        let host = Host::new("k3s");
        host.write("/etc/rancher/k3s/config.yaml", "token: not-read\n");
        let got = flags_from_files(&host.root(), Distribution::K3s, None);
        assert_eq!(got.flags, Some(CredentialFlags::default()));
        assert!(
            got.notes.iter().any(|n| n.contains("only when")),
            "{:?}",
            got.notes
        );

        host.mkdir(RANCHER_BIN_DIR).write(RANCHER_CONFIG, "x");
        let flags = flags_from_files(&host.root(), Distribution::K3s, None)
            .flags
            .unwrap();
        assert_eq!(flags.bin_dir(), Some(RANCHER_BIN_DIR));
        assert_eq!(
            flags.image_credential_provider_config.unwrap().from,
            "k3s's default"
        );

        // config.yaml, its drop-ins and kubelet-arg, which kubelet gets last.
        host.mkdir("/opt/cp/bin")
            .write("/opt/cp/config.yaml", "x")
            .write(
                "/etc/rancher/k3s/config.yaml",
                "image-credential-provider-bin-dir: /opt/cp/bin\nkubelet-arg:\n  - v=2\n",
            );
        host.write(
            "/etc/rancher/k3s/config.yaml.d/50-cp.yaml",
            "image-credential-provider-config: /opt/cp/config.yaml\nkubelet-arg+: image-credential-provider-config=/opt/override.yaml\n",
        );
        let flags = flags_from_files(&host.root(), Distribution::K3s, None)
            .flags
            .unwrap();
        assert_eq!(flags.bin_dir(), Some("/opt/cp/bin"));
        assert_eq!(flags.provider_config(), Some("/opt/override.yaml"));

        // The running process's options win over the files.
        let args: Vec<String> = ["--image-credential-provider-bin-dir", RANCHER_BIN_DIR]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let flags = flags_from_files(&host.root(), Distribution::K3s, Some(&args))
            .flags
            .unwrap();
        assert_eq!(flags.bin_dir(), Some(RANCHER_BIN_DIR));
    }

    #[test]
    fn talos_has_no_files_to_read() {
        let host = Host::new("talos-files");
        let got = flags_from_files(&host.root(), Distribution::Talos, None);
        assert_eq!(got.flags, None);
        assert!(Distribution::Talos.immutable().is_some());
        assert!(Distribution::Kubeadm.immutable().is_none());
    }
}
