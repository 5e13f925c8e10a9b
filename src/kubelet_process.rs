//! The running kubelet, found in `/proc`: the best source of its flags, since its command line
//! is what it actually started with, and its start time says whether it has read the config
//! on disk (kubelet reads `--image-credential-provider-config` only when it starts).
//!
//! Visible on the node itself (`scripts/install.sh`, a node-image step, an operator's shell)
//! and from a pod that shares the host's PID namespace (`hostPID: true`, the opt-in
//! `deploy/kustomize/components/host-pid`). A pod without it sees only its own processes,
//! and the caller falls back to the files the distribution keeps kubelet's flags in.
//!
//! k3s runs kubelet inside its own process (`k3s server` / `k3s agent`), so there the k3s
//! process stands for kubelet: its arguments carry `--kubelet-arg` and the
//! `--image-credential-provider-*` options. RKE2 starts a real `kubelet` process.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::local_file;

/// What runs kubelet's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    /// A `kubelet` process.
    Kubelet,
    /// `k3s server` or `k3s agent`, with kubelet inside.
    K3s,
}

/// A process running kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletProcess {
    /// Its PID (in the PID namespace this process sees).
    pub pid: u32,
    /// What it is.
    pub agent: Agent,
    /// Its command line, program first.
    pub argv: Vec<String>,
    /// When it started, to the second; `None` when `/proc` does not say.
    pub started: Option<SystemTime>,
}

/// What a search of `/proc` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// Exactly one process runs kubelet.
    Found(KubeletProcess),
    /// None is visible (no `hostPID`, or kubelet is not running).
    NotVisible,
    /// Several are (a host running kind or other nested nodes): which one serves this node
    /// cannot be told, so none is used; `--kubelet-pid` picks one.
    Several(Vec<u32>),
    /// `--kubelet-pid` named a process that cannot be read.
    Unreadable(String),
}

/// Looks for kubelet in `proc` (`/proc`); with `pid`, reads that process only.
pub fn find(proc: &Path, pid: Option<u32>) -> Search {
    if let Some(pid) = pid {
        return match read_process(proc, pid) {
            Some((argv, comm)) => Search::Found(KubeletProcess {
                pid,
                agent: classify(&argv, &comm).unwrap_or(Agent::Kubelet),
                argv,
                started: start_time(proc, pid),
            }),
            None => Search::Unreadable(format!(
                "--kubelet-pid {pid}: no readable command line in {}",
                proc.join(pid.to_string()).display()
            )),
        };
    }
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Search::NotVisible;
    };
    let own = own_pid(proc);
    let mut found: Vec<(KubeletProcess, Option<u32>)> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Some((argv, comm)) = read_process(proc, pid) else {
            continue;
        };
        if let Some(agent) = classify(&argv, &comm) {
            let parent = stat_fields(proc, pid).map(|(ppid, _)| ppid);
            let process = KubeletProcess {
                pid,
                agent,
                argv,
                started: None,
            };
            found.push((process, parent));
        }
    }
    // Kubelet forks to exec plugins and mount helpers: for a moment each child has kubelet's
    // name and command line. A candidate whose parent is a candidate is such a child.
    let pids: Vec<u32> = found.iter().map(|(p, _)| p.pid).collect();
    found.retain(|(_, parent)| !parent.is_some_and(|pp| pids.contains(&pp)));
    match found.len() {
        0 => Search::NotVisible,
        1 => {
            let (mut process, _) = found.remove(0);
            process.started = start_time(proc, process.pid);
            Search::Found(process)
        }
        _ => {
            let mut pids: Vec<u32> = found.iter().map(|(p, _)| p.pid).collect();
            pids.sort_unstable();
            Search::Several(pids)
        }
    }
}

/// This process's PID as `proc` numbers it: `/proc/self`'s target, which differs from
/// `getpid()` in a PID namespace whose `/proc` is the parent's (a sandbox that unshares PIDs
/// without mounting a new `/proc`).
pub fn own_pid(proc: &Path) -> u32 {
    std::fs::read_link(proc.join("self"))
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(std::process::id)
}

/// `/proc/PID/cmdline` split at NULs, and `/proc/PID/comm`; `None` for a kernel thread, a
/// zombie or a process gone meanwhile.
fn read_process(proc: &Path, pid: u32) -> Option<(Vec<String>, String)> {
    let dir = proc.join(pid.to_string());
    let raw = local_file::read(&dir.join("cmdline")).ok()?;
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if argv.is_empty() {
        return None;
    }
    let comm = local_file::read_text(&dir.join("comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default();
    Some((argv, comm))
}

/// Whether a process runs kubelet, by its program name (argv\[0\]) or its command name.
fn classify(argv: &[String], comm: &str) -> Option<Agent> {
    let program = Path::new(&argv[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if program == "kubelet" || comm == "kubelet" {
        return Some(Agent::Kubelet);
    }
    let k3s_mode = argv.get(1).is_some_and(|a| a == "server" || a == "agent");
    if (program == "k3s" && k3s_mode) || comm == "k3s-server" || comm == "k3s-agent" {
        return Some(Agent::K3s);
    }
    None
}

/// The parent PID (field 4) and the start in clock ticks since boot (field 22) of
/// `/proc/PID/stat`.
fn stat_fields(proc: &Path, pid: u32) -> Option<(u32, u64)> {
    let stat = local_file::read_text(&proc.join(pid.to_string()).join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // `fields[0]` is field 3.
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(19)?.parse().ok()?;
    Some((parent, ticks))
}

/// When `pid` started: boot time (`btime` of `/proc/stat`) plus its start in clock ticks.
/// Good to the second, which is all `btime` has.
fn start_time(proc: &Path, pid: u32) -> Option<SystemTime> {
    let (_, ticks) = stat_fields(proc, pid)?;
    let boot: u64 = local_file::read_text(&proc.join("stat"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a constant of the C library.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|t| *t > 0)?;
    let since_boot = Duration::from_millis(ticks.checked_mul(1000)? / per_second);
    Some(UNIX_EPOCH + Duration::from_secs(boot) + since_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn kubelet_and_k3s_are_recognised_by_name() {
        assert_eq!(
            classify(&argv("/usr/bin/kubelet --v=2"), "kubelet"),
            Some(Agent::Kubelet)
        );
        assert_eq!(
            classify(
                &argv("/var/lib/rancher/rke2/data/v1/bin/kubelet"),
                "kubelet"
            ),
            Some(Agent::Kubelet)
        );
        // A script or copy named kubelet: the command name is the file's.
        assert_eq!(
            classify(&argv("/bin/sh /opt/kubelet"), "kubelet"),
            Some(Agent::Kubelet)
        );
        assert_eq!(
            classify(&argv("/usr/local/bin/k3s server"), "k3s-server"),
            Some(Agent::K3s)
        );
        assert_eq!(
            classify(&argv("/usr/local/bin/k3s agent --token x"), "k3s"),
            Some(Agent::K3s)
        );
        assert_eq!(
            classify(&argv("/usr/local/bin/k3s kubectl get pods"), "k3s"),
            None
        );
        assert_eq!(
            classify(&argv("/usr/bin/kubelet-status"), "kubelet-status"),
            None
        );
        assert_eq!(classify(&argv("vim /etc/default/kubelet"), "vim"), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_is_found_by_pid() {
        let own = own_pid(Path::new("/proc"));
        let started = start_time(Path::new("/proc"), own).expect("start time");
        let age = SystemTime::now()
            .duration_since(started)
            .expect("started in the past");
        assert!(age < Duration::from_secs(24 * 3600), "{age:?}");
        let (parent, _) = stat_fields(Path::new("/proc"), own).expect("stat");
        assert_eq!(
            Some(parent),
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|v| v.trim().parse().ok())
        );
        match find(Path::new("/proc"), Some(own)) {
            Search::Found(p) => {
                assert_eq!(p.pid, own);
                assert!(p.started.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            find(Path::new("/proc"), Some(u32::MAX)),
            Search::Unreadable(_)
        ));
    }
}
