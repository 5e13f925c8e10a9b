//! `kubelet-status`: does this node's kubelet run this binary as a credential provider, and if
//! not, what exactly to change on this distribution?
//!
//! Installing the binary is half of wiring a node; the other half is kubelet's two flags,
//! which no pod and no installer can set. This command answers from the best source it can
//! see: the running kubelet's command line and start time in `/proc`
//! ([`crate::kubelet_process`]); else the files the distribution keeps kubelet's flags in,
//! read under `--host-root` ([`crate::node_distro`], [`crate::systemd_unit`]). Then:
//!
//! 1. both flags are set (kubelet runs no provider without them);
//! 2. with `--bin-dir`/`--config-dest` (install's own flags, as the pod sees them): they name
//!    what kubelet's flags name, after the `--host-root` mapping;
//! 3. kubelet's config exists and kubelet accepts it ([`crate::validate`], the crate's strict
//!    reader), and one of its providers is an executable in kubelet's bin dir with this
//!    binary's bytes — under its own name or a drop-in name linked to it;
//! 4. kubelet started after the config was last written (it reads it only at start).
//!
//! The verdict is `wired` (exit 0), `not-wired` (exit 1, with the one-line fix for this
//! distribution) or `unknown` (exit 1: what would decide it is not visible here), so the
//! command is the DaemonSet's readiness probe as is. With `--interval` it runs until killed
//! and logs the report at start and whenever it changes.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::cli::PROGRAM_NAMES;
use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::{Error, Result};
use crate::host_root::{Consulted, HostRoot, Look};
use crate::kubelet_config;
use crate::kubelet_flags::CredentialFlags;
use crate::kubelet_process::{self, Agent, KubeletProcess, Search};
use crate::lifetime::format_rfc3339;
use crate::local_file;
use crate::node_distro::{self, Detected, Distribution, RANCHER_BIN_DIR, RANCHER_CONFIG};
use crate::validate;

/// The config path the README's samples and the DaemonSet use, for fixes that need one.
const SAMPLE_CONFIG: &str = "/etc/kubernetes/credential-provider/config.yaml";
/// File modification times and `/proc` start times are compared with this much slack:
/// `/proc` knows a start time to the second only.
const CLOCK_SLACK: Duration = Duration::from_secs(1);

/// What `kubelet-status` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOptions {
    /// Where the host's root is visible (`/` on the node, `/host` in the pod).
    pub host_root: PathBuf,
    /// The bin dir `install` wrote to, as this process sees it.
    pub bin_dir: Option<PathBuf>,
    /// The config `install` wrote, as this process sees it.
    pub config_dest: Option<PathBuf>,
    /// The distribution, when not detected.
    pub distribution: Option<Distribution>,
    /// The kubelet process, when several are visible.
    pub kubelet_pid: Option<u32>,
    /// Which source of kubelet's flags to use.
    pub source: Source,
    /// Run until killed, logging each change.
    pub interval: Option<Duration>,
    /// One JSON object instead of text.
    pub json: bool,
}

/// Where kubelet's flags are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The running kubelet when it is visible, else the node's files.
    Auto,
    /// The running kubelet only (unknown when it is not visible).
    Process,
    /// The node's files only: what kubelet gets at its next start.
    Files,
}

/// Parses the arguments after `kubelet-status`.
pub fn parse_args(args: &[String]) -> Result<StatusOptions> {
    let mut options = StatusOptions {
        host_root: PathBuf::from("/"),
        bin_dir: None,
        config_dest: None,
        distribution: None,
        kubelet_pid: None,
        source: Source::Auto,
        interval: None,
        json: false,
    };
    let mut args = crate::cli::SubcommandArgs::new("kubelet-status", args);
    while let Some(flag) = args.next_flag() {
        match flag.name {
            "--host-root" => options.host_root = PathBuf::from(args.value(&flag)?),
            "--bin-dir" => options.bin_dir = Some(PathBuf::from(args.value(&flag)?)),
            "--config-dest" => options.config_dest = Some(PathBuf::from(args.value(&flag)?)),
            "--distribution" => {
                let name = args.value(&flag)?;
                options.distribution = match name.as_str() {
                    "auto" => None,
                    _ => Some(Distribution::parse(&name).ok_or_else(|| {
                        Error::Usage(format!(
                            "kubelet-status: --distribution {name:?}: choose auto, {}",
                            node_distro::NAMES.join(", ")
                        ))
                    })?),
                };
            }
            "--kubelet-pid" => {
                let text = args.value(&flag)?;
                options.kubelet_pid = Some(text.parse().map_err(|_| {
                    Error::Usage(format!(
                        "kubelet-status: --kubelet-pid {text:?} is not a process id"
                    ))
                })?);
            }
            "--source" => {
                options.source = match args.value(&flag)?.as_str() {
                    "auto" => Source::Auto,
                    "process" => Source::Process,
                    "files" => Source::Files,
                    other => {
                        return Err(Error::Usage(format!(
                            "kubelet-status: --source {other:?}: choose auto, process or files"
                        )))
                    }
                }
            }
            "--interval" => {
                let text = args.value(&flag)?;
                let nanos = parse_go_duration(&text)
                    .map_err(|e| Error::Usage(format!("kubelet-status: --interval: {e}")))?;
                if nanos < 1_000_000_000 {
                    return Err(Error::Usage(format!(
                        "kubelet-status: --interval {text:?} must be at least 1s"
                    )));
                }
                options.interval = Some(Duration::from_nanos(nanos as u64));
            }
            "--output" | "-o" => {
                options.json = match args.value(&flag)?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => {
                        return Err(Error::Usage(format!(
                            "kubelet-status: --output {other:?}: choose text or json"
                        )))
                    }
                }
            }
            _ => {
                return Err(Error::Usage(format!(
                    "kubelet-status: unexpected argument {:?}",
                    flag.arg
                )))
            }
        }
    }
    if options.interval.is_some() && options.json {
        return Err(Error::Usage(
            "kubelet-status: --interval logs text; --output json is for one look".into(),
        ));
    }
    Ok(options)
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Kubelet runs this binary as a credential provider.
    Wired,
    /// It does not; the report says what to change.
    NotWired,
    /// What would decide it is not visible here.
    Unknown,
}

/// The state of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Passed.
    Ok,
    /// Failed: the node is not wired.
    Fail,
    /// Not visible here.
    Unknown,
}

/// One check, in the order they are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `flags`, `bin-dir`, `config-dest`, `config`, `providers` or `restart`.
    pub check: &'static str,
    /// Its outcome.
    pub state: State,
    /// What was found, in one line.
    pub message: String,
}

/// The kubelet process, when one was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletSeen {
    /// Its PID.
    pub pid: Option<u32>,
    /// `kubelet`, or `k3s` (kubelet inside).
    pub agent: Option<Agent>,
    /// Its program.
    pub program: Option<String>,
    /// When it started.
    pub started_at: Option<String>,
    /// Where the flags came from: `process`, `files` or `nowhere`.
    pub flags_from: &'static str,
}

/// One provider of kubelet's config and what kubelet would run for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSeen {
    /// Its name, the executable's name in the bin dir.
    pub name: String,
    /// The host path kubelet runs.
    pub executable: String,
    /// Whether that is this binary.
    pub runs_this_binary: bool,
    /// How it is this binary (`symlink to cloud-credential-provider`, `hard link or copy`).
    pub via: Option<String>,
    /// Why it is not, or why that cannot be told.
    pub problem: Option<String>,
    /// Its `matchImages`.
    pub match_images: Vec<String>,
}

/// What `install` was told, as host paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// `--bin-dir` on the host.
    pub bin_dir: Option<String>,
    /// `--config-dest` on the host.
    pub config: Option<String>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// It, in one line.
    pub summary: String,
    /// What to change, in one line, for this distribution (none when wired).
    pub fix: Option<String>,
    /// The distribution.
    pub distribution: Distribution,
    /// Why it is taken to be that.
    pub distribution_evidence: String,
    /// The kubelet process.
    pub kubelet: KubeletSeen,
    /// Kubelet's credential-provider flags.
    pub flags: CredentialFlags,
    /// Where install put things.
    pub installed: Installed,
    /// The checks.
    pub checks: Vec<Check>,
    /// The providers of kubelet's config.
    pub providers: Vec<ProviderSeen>,
    /// The host files read for the flags.
    pub consulted: Vec<Consulted>,
    /// Assumptions and side findings.
    pub notes: Vec<String>,
}

/// One look: the report for stdout and the exit code (0 only when wired).
pub fn check_once(options: &StatusOptions) -> Result<(String, i32)> {
    let report = evaluate(options)?;
    let text = if options.json {
        // `{:#}` of a Value cannot fail, unlike to_string_pretty's Result.
        let value = serde_json::to_value(&report)
            .map_err(|e| Error::Io(format!("kubelet-status: cannot render the report: {e}")))?;
        format!("{value:#}\n")
    } else {
        render_text(&report)
    };
    Ok((text, exit_code(&report)))
}

/// Runs until killed: a look every interval, the report logged at start and whenever it
/// changes (a failing look too, once until something changes).
pub fn watch(options: &StatusOptions) -> Result<i32> {
    let interval = options.interval.unwrap_or(Duration::from_secs(60));
    say(&format!(
        "checking whether kubelet runs this binary every {}",
        format_go_duration(interval)
    ));
    let mut last: Option<String> = None;
    loop {
        let text = match evaluate(options) {
            Ok(report) => render_text(&report),
            Err(e) => format!("error: {e}\n"),
        };
        if last.as_deref() != Some(text.as_str()) {
            for line in text.lines() {
                say(line);
            }
            last = Some(text);
        }
        std::thread::sleep(interval);
    }
}

fn say(message: &str) {
    crate::log::info(0, || format!("kubelet-status: {message}"));
}

fn exit_code(report: &Report) -> i32 {
    if report.verdict == Verdict::Wired {
        0
    } else {
        1
    }
}

/// What a failed or unknown check calls for, to build the fix line.
#[derive(Debug, Clone)]
enum Problem {
    /// Neither flag, or one without the other.
    Flags,
    /// Kubelet's flags are not visible.
    FlagsNotVisible,
    /// Kubelet's bin dir is not install's.
    BinDirElsewhere,
    /// Kubelet's config is not install's.
    ConfigElsewhere,
    /// Kubelet's config is missing or refused.
    Config(String),
    /// Something kubelet's flags name is not visible.
    NotVisible(String),
    /// No provider runs this binary.
    Providers,
    /// The config changed after kubelet started; or the files set other flags.
    Restart,
}

/// Collects checks and the problem the first failure (or unknown) calls for.
struct Checks {
    checks: Vec<Check>,
    first_fail: Option<Problem>,
    first_unknown: Option<Problem>,
}

impl Checks {
    fn ok(&mut self, check: &'static str, message: String) {
        self.push(check, State::Ok, message);
    }

    fn fail(&mut self, check: &'static str, message: String, problem: Problem) {
        self.push(check, State::Fail, message);
        self.first_fail.get_or_insert(problem);
    }

    fn unknown(&mut self, check: &'static str, message: String, problem: Problem) {
        self.push(check, State::Unknown, message);
        self.first_unknown.get_or_insert(problem);
    }

    /// A failure that belongs before the checks made so far, from `index` on: it is the
    /// first failure then.
    fn fail_before(&mut self, index: usize, failures: Vec<(&'static str, String, Problem)>) {
        let mut first = None;
        for (offset, (check, message, problem)) in failures.into_iter().enumerate() {
            self.checks.insert(
                index + offset,
                Check {
                    check,
                    state: State::Fail,
                    message,
                },
            );
            first.get_or_insert(problem);
        }
        if first.is_some() {
            self.first_fail = first;
        }
    }

    fn push(&mut self, check: &'static str, state: State, message: String) {
        self.checks.push(Check {
            check,
            state,
            message,
        });
    }
}

/// Everything the fix line is built from.
struct Context<'a> {
    distribution: Distribution,
    host: &'a HostRoot,
    flags: &'a CredentialFlags,
    installed_bin: Option<&'a Path>,
    installed_config: Option<&'a Path>,
    providers: &'a [ProviderSeen],
    file_flags_differ: bool,
    source: Source,
}

/// Looks at the node and decides.
pub fn evaluate(options: &StatusOptions) -> Result<Report> {
    let host = HostRoot::open(&options.host_root)?;
    let installed_bin = options
        .bin_dir
        .as_deref()
        .map(|p| host_path(&host, p, "--bin-dir"))
        .transpose()?;
    let installed_config = options
        .config_dest
        .as_deref()
        .map(|p| host_path(&host, p, "--config-dest"))
        .transpose()?;

    let mut notes = Vec::new();
    let process = find_kubelet(options, &mut notes)?;
    let detected = match options.distribution {
        Some(distribution) => Detected {
            distribution,
            evidence: "--distribution".into(),
        },
        None => node_distro::detect(&host, process.as_ref()),
    };
    let distribution = match &process {
        Some(p) if p.agent == Agent::K3s => Distribution::K3s,
        _ => detected.distribution,
    };
    let mut consulted = Vec::new();
    let seen = read_flags(&host, distribution, process.as_ref(), options.source);
    consulted.extend(seen.consulted);
    notes.extend(seen.notes);
    let (flags, flags_from, file_flags_differ) = (seen.flags, seen.from, seen.files_differ);

    let mut checks = Checks {
        checks: Vec::new(),
        first_fail: None,
        first_unknown: None,
    };
    let mut providers = Vec::new();
    if let Some(flags) = &flags {
        check_wiring(
            &host,
            flags,
            process.as_ref(),
            InstallPaths {
                bin_dir: installed_bin.as_deref(),
                config: installed_config.as_deref(),
            },
            &mut checks,
            &mut providers,
            &mut notes,
        );
    } else {
        let message = if options.source == Source::Process {
            "no kubelet process is visible here (--source process)".to_string()
        } else {
            format!(
                "kubelet's flags are not visible here; on {} nodes they are set in {}",
                distribution.name(),
                distribution.where_flags_go()
            )
        };
        // Files the flags' sources name that are not mounted here: those are what to mount.
        let unseen: Vec<&str> = consulted
            .iter()
            .filter(|c| c.state == Look::<()>::NotVisible.state())
            .map(|c| c.path.as_str())
            .collect();
        let problem = if unseen.is_empty() {
            Problem::FlagsNotVisible
        } else {
            Problem::NotVisible(unseen.join(", "))
        };
        checks.unknown("flags", message, problem);
    }
    let flags = flags.unwrap_or_default();

    let wired = providers.iter().any(|p| p.runs_this_binary);
    let (verdict, problem) = match (checks.first_fail.take(), checks.first_unknown.take()) {
        (Some(problem), _) => (Verdict::NotWired, Some(problem)),
        (None, _) if wired => (Verdict::Wired, None),
        (None, Some(problem)) => (Verdict::Unknown, Some(problem)),
        (None, None) => (Verdict::NotWired, Some(Problem::Providers)),
    };
    let summary = match verdict {
        Verdict::Wired => {
            let names: Vec<String> = providers
                .iter()
                .filter(|p| p.runs_this_binary)
                .map(|p| format!("{:?}", p.name))
                .collect();
            format!(
                "kubelet runs this binary as provider {}",
                names.join(" and ")
            )
        }
        _ => checks
            .checks
            .iter()
            .find(|c| {
                c.state
                    == if verdict == Verdict::NotWired {
                        State::Fail
                    } else {
                        State::Unknown
                    }
            })
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "no provider of kubelet's config runs this binary".into()),
    };
    let context = Context {
        distribution,
        host: &host,
        flags: &flags,
        installed_bin: installed_bin.as_deref(),
        installed_config: installed_config.as_deref(),
        providers: &providers,
        file_flags_differ,
        source: options.source,
    };
    let fix = problem.map(|p| fix_line(&p, &context));
    let display = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Ok(Report {
        verdict,
        summary,
        fix,
        distribution,
        distribution_evidence: detected.evidence,
        kubelet: KubeletSeen {
            pid: process.as_ref().map(|p| p.pid),
            agent: process.as_ref().map(|p| p.agent),
            program: process.as_ref().map(|p| p.argv[0].clone()),
            started_at: process.as_ref().and_then(|p| p.started).map(format_rfc3339),
            flags_from,
        },
        flags,
        installed: Installed {
            bin_dir: display(&installed_bin),
            config: display(&installed_config),
        },
        checks: checks.checks,
        providers,
        consulted,
        notes,
    })
}

/// The kubelet process to read, per `--source` and `--kubelet-pid`; what was not usable
/// becomes a note.
fn find_kubelet(
    options: &StatusOptions,
    notes: &mut Vec<String>,
) -> Result<Option<KubeletProcess>> {
    if options.source == Source::Files {
        return Ok(None);
    }
    match kubelet_process::find(Path::new("/proc"), options.kubelet_pid) {
        Search::Found(p) => Ok(Some(p)),
        Search::Unreadable(why) => Err(Error::Config(format!("kubelet-status: {why}"))),
        Search::NotVisible => {
            notes.push(
                "no kubelet process is visible (a pod without hostPID, or kubelet is not running)"
                    .into(),
            );
            Ok(None)
        }
        Search::Several(pids) => {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            notes.push(format!(
                "several kubelet processes are visible ({}): none is used; --kubelet-pid picks one",
                pids.join(", ")
            ));
            Ok(None)
        }
    }
}

/// Kubelet's flags and where they came from.
struct FlagsSeen {
    /// `None` when no source shows them.
    flags: Option<CredentialFlags>,
    /// `process`, `files` or `nowhere`.
    from: &'static str,
    /// The running kubelet's flags differ from what its files give it at the next start,
    /// and those set credential-provider flags.
    files_differ: bool,
    consulted: Vec<Consulted>,
    notes: Vec<String>,
}

/// Kubelet's flags: the running process's, else the node's files'. With a process, the files
/// are read too: flags changed there but not yet in effect call for a restart.
fn read_flags(
    host: &HostRoot,
    distribution: Distribution,
    process: Option<&KubeletProcess>,
    source: Source,
) -> FlagsSeen {
    let mut seen = FlagsSeen {
        flags: None,
        from: "nowhere",
        files_differ: false,
        consulted: Vec::new(),
        notes: Vec::new(),
    };
    match process {
        // k3s's kubelet gets its flags from k3s's options: its command line and files.
        Some(p) if p.agent == Agent::K3s => {
            let args = p.argv.get(2..).unwrap_or_default();
            let found = node_distro::flags_from_files(host, distribution, Some(args));
            seen.consulted = found.consulted;
            seen.notes = found.notes;
            seen.from = "process";
            seen.flags = found.flags;
        }
        Some(p) => {
            let flags = CredentialFlags::scan(&p.argv[1..], &format!("/proc/{}/cmdline", p.pid));
            let files = node_distro::flags_from_files(host, distribution, None);
            let differ = |f: &CredentialFlags| {
                f.bin_dir() != flags.bin_dir() || f.provider_config() != flags.provider_config()
            };
            if let Some(next) = files.flags.filter(differ) {
                seen.files_differ = next.any_credential_flag();
                let what = if next.any_credential_flag() {
                    next.lines().join(", ")
                } else {
                    "none for credential providers (a restart would leave it without plugins)"
                        .into()
                };
                seen.notes.push(format!(
                    "the node's files give kubelet other flags at its next start: {what}"
                ));
                seen.consulted = files.consulted;
            }
            seen.from = "process";
            seen.flags = Some(flags);
        }
        None if source == Source::Process => {}
        None => {
            let found = node_distro::flags_from_files(host, distribution, None);
            seen.consulted = found.consulted;
            seen.notes = found.notes;
            if found.flags.is_some() {
                seen.from = "files";
            }
            seen.flags = found.flags;
        }
    }
    seen
}

/// The host path of `local` (a path as this process sees it).
fn host_path(host: &HostRoot, local: &Path, flag: &str) -> Result<PathBuf> {
    if !local.is_absolute() {
        return Err(Error::Usage(format!(
            "kubelet-status: {flag} {} must be an absolute path",
            local.display()
        )));
    }
    host.host_path_of(local).ok_or_else(|| {
        Error::Usage(format!(
            "kubelet-status: {flag} {} is not under --host-root {}",
            local.display(),
            host.root().display()
        ))
    })
}

/// A flag's value as a host path (kubelet runs with `/` as its working directory).
fn flag_path(value: &str) -> PathBuf {
    Path::new("/").join(value)
}

/// Whether host paths `a` and `b` name the same place once symlinks are followed.
fn same_place(host: &HostRoot, a: &Path, b: &Path) -> bool {
    match (host.resolve(a), host.resolve(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What `install` was told, as host paths (`--bin-dir`, `--config-dest`).
#[derive(Clone, Copy)]
struct InstallPaths<'a> {
    bin_dir: Option<&'a Path>,
    config: Option<&'a Path>,
}

/// Checks 1-4 of the module doc on `flags`.
fn check_wiring(
    host: &HostRoot,
    flags: &CredentialFlags,
    process: Option<&KubeletProcess>,
    installed: InstallPaths,
    checks: &mut Checks,
    providers: &mut Vec<ProviderSeen>,
    notes: &mut Vec<String>,
) {
    let (bin_dir, config) = match (flags.bin_dir(), flags.provider_config()) {
        (Some(b), Some(c)) => (flag_path(b), flag_path(c)),
        (_, None) => {
            checks.fail(
                "flags",
                "kubelet has no --image-credential-provider-config: it runs no credential provider"
                    .into(),
                Problem::Flags,
            );
            return;
        }
        (None, Some(_)) => {
            checks.fail(
                "flags",
                "kubelet has --image-credential-provider-config but no --image-credential-provider-bin-dir: it needs both"
                    .into(),
                Problem::Flags,
            );
            return;
        }
    };
    checks.ok(
        "flags",
        format!(
            "kubelet runs providers named in {} from {}",
            config.display(),
            bin_dir.display()
        ),
    );

    // Where install put things, against where kubelet looks. A mismatch alone is a note
    // when kubelet runs this binary anyway (from a copy installed elsewhere).
    let place_checks = checks.checks.len();
    let mut elsewhere = Vec::new();
    if let Some(installed) = installed.bin_dir {
        if same_place(host, installed, &bin_dir) {
            checks.ok(
                "bin-dir",
                format!(
                    "kubelet's bin dir is where install put the binary ({})",
                    installed.display()
                ),
            );
        } else {
            elsewhere.push((
                "bin-dir",
                format!(
                    "install put the binary in {}, kubelet runs providers from {}",
                    installed.display(),
                    bin_dir.display()
                ),
                Problem::BinDirElsewhere,
            ));
        }
    }
    if let Some(installed) = installed.config {
        let inside = installed.parent().is_some_and(|dir| {
            same_place(host, dir, &config)
                && matches!(host.metadata(&config), Look::Found(m) if m.is_dir())
        });
        if same_place(host, installed, &config) || inside {
            checks.ok(
                "config-dest",
                format!(
                    "kubelet reads the config install wrote ({})",
                    installed.display()
                ),
            );
        } else {
            elsewhere.push((
                "config-dest",
                format!(
                    "install wrote {}, kubelet reads {}",
                    installed.display(),
                    config.display()
                ),
                Problem::ConfigElsewhere,
            ));
        }
    }

    let config_changed = check_config(host, &config, checks, providers);
    if !providers.is_empty() {
        check_providers(host, &bin_dir, &config, checks, providers);
    }

    if providers.iter().any(|p| p.runs_this_binary) {
        for (_, message, _) in elsewhere {
            notes.push(format!(
                "{message} (kubelet runs this binary from there anyway)"
            ));
        }
    } else {
        checks.fail_before(place_checks, elsewhere);
    }

    // Kubelet reads its config only when it starts.
    if let Some(changed) = config_changed {
        match process.and_then(|p| p.started) {
            Some(started) if changed > started + CLOCK_SLACK => checks.fail(
                "restart",
                format!(
                    "{} changed at {}, after kubelet started at {}: kubelet still runs with what it read then",
                    config.display(),
                    format_rfc3339(changed),
                    format_rfc3339(started)
                ),
                Problem::Restart,
            ),
            Some(started) => checks.ok(
                "restart",
                format!(
                    "kubelet started at {}, after {} was last written ({})",
                    format_rfc3339(started),
                    config.display(),
                    format_rfc3339(changed)
                ),
            ),
            None => notes.push(format!(
                "kubelet's start time is not visible here: kubelet reads its flags and {} only when it starts, \
                 so a change made after it started (the config was last written {}) needs a restart",
                config.display(),
                format_rfc3339(changed)
            )),
        }
    }
}

/// Reads kubelet's config as kubelet would; returns when it last changed.
fn check_config(
    host: &HostRoot,
    config: &Path,
    checks: &mut Checks,
    providers: &mut Vec<ProviderSeen>,
) -> Option<SystemTime> {
    let meta = match host.metadata(config) {
        Look::Found(meta) => meta,
        Look::Absent => {
            checks.fail(
                "config",
                format!(
                    "kubelet's config {} does not exist: kubelet refuses to start without it",
                    config.display()
                ),
                Problem::Config("does not exist".into()),
            );
            return None;
        }
        Look::NotVisible => {
            checks.unknown(
                "config",
                format!("kubelet's config {} is not visible here", config.display()),
                Problem::NotVisible(config.display().to_string()),
            );
            return None;
        }
        Look::Unreadable(why) => {
            checks.unknown(
                "config",
                format!("cannot read kubelet's config {}: {why}", config.display()),
                Problem::NotVisible(config.display().to_string()),
            );
            return None;
        }
    };
    let local = match host.resolve(config) {
        Ok(resolved) => host.local(&resolved),
        Err(e) => {
            checks.unknown(
                "config",
                format!("cannot follow {}: {e}", config.display()),
                Problem::NotVisible(config.display().to_string()),
            );
            return None;
        }
    };
    let report = match validate::validate_path(&local, &[]) {
        Ok(report) => report,
        Err(e) => {
            checks.fail(
                "config",
                format!("kubelet's config {}: {e}", config.display()),
                Problem::Config(e.to_string()),
            );
            return None;
        }
    };
    let loaded = kubelet_config::load(&local);
    let mut changed = meta.modified().ok();
    for file in &loaded.files {
        if let Ok(m) = std::fs::metadata(file).and_then(|m| m.modified()) {
            changed = changed.max(Some(m));
        }
    }
    if !report.is_ok() {
        let first = report.errors.first().cloned().unwrap_or_default();
        checks.fail(
            "config",
            format!(
                "kubelet refuses its config {} at its next start: {}",
                config.display(),
                first.replace('\n', " ")
            ),
            Problem::Config(first),
        );
        return changed;
    }
    checks.ok(
        "config",
        format!(
            "kubelet accepts {} ({} provider{})",
            config.display(),
            loaded.providers.len(),
            if loaded.providers.len() == 1 { "" } else { "s" }
        ),
    );
    providers.extend(loaded.providers.into_iter().map(|p| ProviderSeen {
        name: p.name,
        executable: String::new(),
        runs_this_binary: false,
        via: None,
        problem: None,
        match_images: p.match_images,
    }));
    changed
}

/// For each provider: is `bin_dir/NAME` this binary? Kubelet itself, when it starts, refuses
/// a bin dir that does not exist and a provider whose executable does not exist or cannot be
/// executed (`exec.LookPath`, pkg/credentialprovider/plugin/plugin.go): those fail even when
/// another provider runs this binary, since kubelet's next start would fail.
fn check_providers(
    host: &HostRoot,
    bin_dir: &Path,
    config: &Path,
    checks: &mut Checks,
    providers: &mut [ProviderSeen],
) {
    match host.metadata(bin_dir) {
        Look::Found(meta) if meta.is_dir() => {}
        Look::Found(_) | Look::Absent => {
            checks.fail(
                "providers",
                format!(
                    "kubelet's bin dir {} is not a directory: kubelet refuses to start",
                    bin_dir.display()
                ),
                Problem::Providers,
            );
            return;
        }
        Look::NotVisible | Look::Unreadable(_) => {
            checks.unknown(
                "providers",
                format!(
                    "kubelet's bin dir {} is not visible here",
                    bin_dir.display()
                ),
                Problem::NotVisible(bin_dir.display().to_string()),
            );
            return;
        }
    }
    let mut refused = Vec::new();
    let mut unseen = false;
    for provider in providers.iter_mut() {
        let executable = bin_dir.join(&provider.name);
        provider.executable = executable.display().to_string();
        let mut refuse = |provider: &mut ProviderSeen, why: &str| {
            provider.problem = Some(format!("{why}: kubelet refuses to start"));
            refused.push(format!("{} {why}", provider.executable));
        };
        match host.metadata(&executable) {
            Look::Found(meta) if !meta.is_file() => refuse(provider, "is not a file"),
            Look::Found(meta)
                if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 == 0 =>
            {
                refuse(provider, "is not executable")
            }
            Look::Absent => refuse(provider, "does not exist"),
            Look::Found(meta) => {
                let local = host
                    .resolve(&executable)
                    .map(|r| host.local(&r))
                    .unwrap_or_else(|_| host.local(&executable));
                match is_this_binary(&local, meta.len()) {
                    Ok(true) => {
                        provider.runs_this_binary = true;
                        provider.via = Some(via(host, &executable, &provider.name));
                    }
                    Ok(false) => {
                        provider.problem = Some(format!(
                            "is another program ({} bytes), not this binary",
                            meta.len()
                        ))
                    }
                    Err(e) => {
                        unseen = true;
                        provider.problem = Some(format!("cannot be read: {e}"))
                    }
                }
            }
            Look::NotVisible => {
                unseen = true;
                provider.problem = Some("is not visible here".into())
            }
            Look::Unreadable(why) => {
                unseen = true;
                provider.problem = Some(format!("cannot be read: {why}"))
            }
        }
    }
    let ours = providers.iter().find(|p| p.runs_this_binary);
    if !refused.is_empty() {
        checks.fail(
            "providers",
            format!(
                "kubelet refuses {}: {}",
                config.display(),
                refused.join("; ")
            ),
            Problem::Providers,
        );
    } else if let Some(p) = ours {
        checks.ok(
            "providers",
            format!("provider {:?} runs this binary ({})", p.name, p.executable),
        );
    } else if unseen {
        checks.unknown(
            "providers",
            format!(
                "what kubelet runs from {} is not visible here",
                bin_dir.display()
            ),
            Problem::NotVisible(bin_dir.display().to_string()),
        );
    } else {
        checks.fail(
            "providers",
            format!(
                "no provider of {} runs this binary: {}",
                config.display(),
                providers
                    .iter()
                    .map(|p| format!(
                        "{} {}",
                        p.executable,
                        p.problem.as_deref().unwrap_or("is not this binary")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Problem::Providers,
        );
    }
}

/// How `executable` (known to be this binary) is: a symlink, a drop-in name, a file.
fn via(host: &HostRoot, executable: &Path, name: &str) -> String {
    let link = std::fs::read_link(host.local(executable)).ok();
    let drop_in = name != PROGRAM_NAMES[0] && PROGRAM_NAMES.contains(&name);
    match (link, drop_in) {
        (Some(target), true) => format!("drop-in name, symlink to {}", target.display()),
        (Some(target), false) => format!("symlink to {}", target.display()),
        (None, true) => "drop-in name, hard link or copy".into(),
        (None, false) => "the binary itself".into(),
    }
}

/// Whether the file at `local` (of `len` bytes) holds exactly this program's bytes.
/// Compared in chunks, so a probe every few seconds costs no more memory than a buffer.
fn is_this_binary(local: &Path, len: u64) -> io::Result<bool> {
    let mut own = match File::open("/proc/self/exe") {
        Ok(file) => file,
        Err(_) => File::open(std::env::current_exe()?)?,
    };
    if own.metadata()?.len() != len {
        return Ok(false);
    }
    let (mut other, _) = local_file::open(local).map_err(|e| io::Error::other(e.to_string()))?;
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(&mut own, &mut a)?;
        let m = read_full(&mut other, &mut b)?;
        if n != m || a[..n] != b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The one line that says what to change.
fn fix_line(problem: &Problem, c: &Context) -> String {
    let d = c.distribution;
    if let Some(why) = d.immutable() {
        if !matches!(problem, Problem::Restart) {
            return why.to_string();
        }
    }
    let kubelet_bin = c.flags.bin_dir().map(flag_path);
    let kubelet_config = c.flags.provider_config().map(flag_path);
    let show = |p: Option<&Path>, default: &str| {
        p.map_or_else(|| default.to_string(), |p| p.display().to_string())
    };
    let want_bin = show(c.installed_bin, crate::install::DEFAULT_BIN_DIR);
    let want_config = show(c.installed_config, SAMPLE_CONFIG);
    let restart = d.restart();
    let drop_in = d.drop_in();
    match problem {
        Problem::Restart if c.file_flags_differ => format!(
            "kubelet's files already set new flags: {restart} to apply them"
        ),
        Problem::Restart => format!("{restart}, so kubelet reads its config again"),
        Problem::Flags => match (drop_in, d) {
            (Some((dir, name)), _) => format!(
                "{} sets kubelet's flags itself: install with --bin-dir {dir} --drop-in-names so its {name} entry runs this binary",
                d.name()
            ),
            (None, Distribution::K3s | Distribution::Rke2) => format!(
                "install into {RANCHER_BIN_DIR} and {RANCHER_CONFIG} ({}'s defaults, passed to kubelet when both exist at its start), then {restart}",
                d.name()
            ),
            _ => format!(
                "add --image-credential-provider-bin-dir={want_bin} --image-credential-provider-config={want_config} to {}, then {restart}",
                d.where_flags_go()
            ),
        },
        Problem::BinDirElsewhere => {
            let kubelet_bin = show(kubelet_bin.as_deref(), "");
            match drop_in {
                Some((_, name)) => format!(
                    "install with --bin-dir {kubelet_bin} --drop-in-names: {} keeps kubelet's flags and config, whose {name} entry then runs this binary",
                    d.name()
                ),
                None => format!(
                    "install with --bin-dir {kubelet_bin} (kubelet's, from {}), or give kubelet --image-credential-provider-bin-dir={want_bin} \
                     (set in {}) and {restart}",
                    origin(&c.flags.image_credential_provider_bin_dir),
                    d.where_flags_go()
                ),
            }
        }
        Problem::ConfigElsewhere => {
            let kubelet_config = show(kubelet_config.as_deref(), "");
            match drop_in {
                Some((dir, name)) => format!(
                    "{} writes {kubelet_config} itself: install no config there; install with --bin-dir {dir} --drop-in-names so its {name} entry runs this binary",
                    d.name()
                ),
                None => format!(
                    "install with --config-dest {kubelet_config} (kubelet's, from {}), or give kubelet --image-credential-provider-config={want_config} \
                     (set in {}) and {restart}",
                    origin(&c.flags.image_credential_provider_config),
                    d.where_flags_go()
                ),
            }
        }
        Problem::Config(why) => {
            let kubelet_config = show(kubelet_config.as_deref(), "");
            format!(
                "kubelet's config {kubelet_config} {}: install one with --config FILE --config-dest {kubelet_config} (validate-config shows what kubelet refuses), then {restart}",
                if why == "does not exist" { "does not exist".to_string() } else { "is refused".to_string() }
            )
        }
        Problem::Providers => {
            let bin = kubelet_bin.unwrap_or_default();
            let ours = c.providers.iter().find(|p| {
                !p.runs_this_binary && PROGRAM_NAMES.contains(&p.name.as_str())
            });
            let refused = c.providers.iter().find(|p| {
                p.problem
                    .as_deref()
                    .is_some_and(|w| w.ends_with("kubelet refuses to start"))
            });
            match (ours, refused) {
                (Some(p), _) => format!(
                    "install with --bin-dir {}{}: kubelet runs {} for provider {:?}",
                    bin.display(),
                    if p.name == PROGRAM_NAMES[0] { "" } else { " --drop-in-names" },
                    bin.join(&p.name).display(),
                    p.name
                ),
                (None, Some(p)) => format!(
                    "put an executable at {} or remove provider {:?} from {}, then {restart}",
                    bin.join(&p.name).display(),
                    p.name,
                    show(kubelet_config.as_deref(), "")
                ),
                (None, None) => format!(
                    "add a provider named {} to {} (provider-config/ has samples) and install into {}, then {restart}",
                    PROGRAM_NAMES[0],
                    show(kubelet_config.as_deref(), ""),
                    bin.display()
                ),
            }
        }
        Problem::FlagsNotVisible | Problem::NotVisible(_) => {
            let what = match problem {
                Problem::NotVisible(path) => path.clone(),
                _ => flag_places(d).join(", "),
            };
            if c.source == Source::Process {
                "run it on the node, or in a pod with the host-pid component, while kubelet runs".into()
            } else if c.host.root() == Path::new("/") {
                format!(
                    "no file kubelet-status knows for {} nodes holds kubelet's flags here: give --distribution, \
                     or run it while kubelet runs (it then reads kubelet's command line)",
                    d.name()
                )
            } else if what.starts_with("/etc/sysconfig/") {
                "add deploy/kustomize/components/sysconfig (RPM-based nodes keep kubelet's extra \
                 flags in /etc/sysconfig/kubelet; it mounts /etc/sysconfig read-only)"
                    .into()
            } else {
                format!(
                    "mount {what} read-only under {} (or add the host-pid component, deploy/kustomize/components/host-pid)",
                    c.host.root().display()
                )
            }
        }
    }
}

/// Where a flag was set, for fixes.
fn origin(flag: &Option<crate::kubelet_flags::FlagValue>) -> String {
    flag.as_ref()
        .map_or_else(|| "nowhere".into(), |f| f.from.clone())
}

/// The host paths a pod mounts to read `distribution`'s kubelet flags.
fn flag_places(distribution: Distribution) -> Vec<&'static str> {
    match distribution {
        Distribution::Kubeadm | Distribution::Generic => vec![
            "/etc/systemd/system",
            "/usr/lib/systemd/system",
            "/etc/default",
            "/var/lib/kubelet/kubeadm-flags.env",
        ],
        Distribution::EksAl2023 => vec!["/etc/eks/kubelet"],
        Distribution::Aks | Distribution::Gke => vec!["/etc/default"],
        Distribution::K3s => vec!["/etc/rancher/k3s", RANCHER_BIN_DIR, RANCHER_CONFIG],
        Distribution::Rke2 => vec!["/etc/rancher/rke2", RANCHER_BIN_DIR, RANCHER_CONFIG],
        Distribution::Talos | Distribution::Bottlerocket => vec!["kubelet's process"],
    }
}

/// The report as text: what was seen, each check, the verdict and the fix.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text.replace('\n', " "));
        out.push('\n');
    };
    line(format!(
        "distribution: {} ({})",
        r.distribution.name(),
        r.distribution_evidence
    ));
    match (r.kubelet.pid, &r.kubelet.program) {
        (Some(pid), Some(program)) => line(format!(
            "kubelet: process {pid} ({program}){}",
            r.kubelet
                .started_at
                .as_deref()
                .map(|t| format!(", started {t}"))
                .unwrap_or_default()
        )),
        _ => line("kubelet: no process visible".into()),
    }
    for c in &r.consulted {
        line(format!("read: {} ({})", c.path, c.state));
    }
    if !r.flags.any_credential_flag() && r.kubelet.flags_from != "nowhere" {
        line("flag: none for credential providers".into());
    }
    for f in r.flags.lines() {
        line(format!("flag: {f}"));
    }
    for c in &r.checks {
        let state = match c.state {
            State::Ok => "ok",
            State::Fail => "FAIL",
            State::Unknown => "unknown",
        };
        line(format!("{state}: {}", c.message));
    }
    for p in &r.providers {
        let what = if p.runs_this_binary {
            format!("runs this binary ({})", p.via.as_deref().unwrap_or(""))
        } else {
            p.problem.clone().unwrap_or_else(|| "not checked".into())
        };
        line(format!(
            "provider {:?}: {} {what}; matchImages: {}",
            p.name,
            p.executable,
            p.match_images.join(", ")
        ));
    }
    for n in &r.notes {
        line(format!("note: {n}"));
    }
    let verdict = match r.verdict {
        Verdict::Wired => "WIRED",
        Verdict::NotWired => "NOT WIRED",
        Verdict::Unknown => "UNKNOWN",
    };
    line(format!("{verdict}: {}", r.summary));
    if let Some(fix) = &r.fix {
        line(format!("fix ({}): {fix}", r.distribution.name()));
    }
    out
}

/// The `kubelet-status` part of `--help`.
pub const HELP: &str = "  cloud-credential-provider kubelet-status [--host-root DIR] [--bin-dir DIR] [--config-dest PATH]
                                    [--distribution NAME] [--source auto|process|files]
                                    [--kubelet-pid PID] [--interval DUR] [--output text|json]
      Does this node's kubelet run this binary as a credential provider? Reads kubelet's
      flags from its process (/proc: on the node, or from a pod with hostPID), else from
      where the distribution keeps them (kubeadm, eks-al2023, aks, gke, k3s, rke2; talos and
      bottlerocket explained), under DIR (default /: the host root as mounted, e.g. /host).
      Checks that both --image-credential-provider-* flags are set, that they name --bin-dir
      and --config-dest (install's flags, as this process sees them), that kubelet accepts
      the config and one provider's executable is this binary (or a drop-in name of it),
      and that kubelet started after the config changed. Prints the verdict and, when not
      wired, the one-line fix for the distribution. Exit 0 when wired, 1 otherwise: it
      serves as a readiness probe. --source files reads only the node's files (what kubelet
      gets at its next start); --kubelet-pid picks a process when several are visible.
      --interval logs the report at start and on each change.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse_with_install_s_path_flags() {
        let o = parse_args(&args(&[
            "--host-root=/host",
            "--bin-dir",
            "/host/usr/local/libexec/kubelet-credential-provider",
            "--config-dest=/host/etc/kubernetes/credential-provider/config.yaml",
            "--distribution=k3s",
            "--kubelet-pid=42",
            "-o",
            "json",
        ]))
        .unwrap();
        assert_eq!(o.host_root, PathBuf::from("/host"));
        assert_eq!(o.distribution, Some(Distribution::K3s));
        assert_eq!(o.kubelet_pid, Some(42));
        assert!(o.json && o.interval.is_none());
        let o = parse_args(&args(&["--distribution=auto", "--interval=1m"])).unwrap();
        assert_eq!(o.distribution, None);
        assert_eq!(o.interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn bad_options_are_usage_errors() {
        for (list, message) in [
            (
                &["--distribution=eks"][..],
                "choose auto, kubeadm, eks-al2023",
            ),
            (&["--kubelet-pid=x"], "is not a process id"),
            (&["--interval=10ms"], "at least 1s"),
            (&["--interval=1m", "-o", "json"], "--interval logs text"),
            (&["--output=yaml"], "choose text or json"),
            (&["--source=env"], "choose auto, process or files"),
            (&["--bogus"], "unexpected argument"),
        ] {
            let e = parse_args(&args(list)).unwrap_err().to_string();
            assert!(e.contains(message), "{list:?}: {e}");
        }
    }

    #[test]
    fn install_paths_must_be_under_the_host_root() {
        let host = HostRoot::native();
        assert_eq!(
            host_path(&host, Path::new("/usr/bin"), "--bin-dir").unwrap(),
            PathBuf::from("/usr/bin")
        );
        assert!(host_path(&host, Path::new("usr/bin"), "--bin-dir").is_err());
    }
}
