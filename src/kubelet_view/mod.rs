//! `kubelet-view IMAGE --config PATH --bin-dir DIR`: run a node's credential providers for one
//! image the way kubelet would, and show what kubelet would do with their answers.
//!
//! `check` answers for this binary's own backends and `validate-config --image` says which
//! providers match; neither runs the node's wiring, where most "why is this pull anonymous /
//! 401" problems live: the bin dir, a provider name that is not the file's, `args` the binary
//! rejects, an `env` entry that overrides the node's, the request apiVersion, kubelet's strict
//! decoding, a `matchImages` without the image's port, two providers answering for one host.
//! This command:
//!
//! 1. reads and validates the config as kubelet does (`validate-config`'s reader and rules) and
//!    registers the providers as kubelet does (the bin dir exists, every name is an executable
//!    there); when kubelet would refuse to start, it says so and runs nothing;
//! 2. runs every provider whose `matchImages` accept the image, in config order, with
//!    kubelet's argv, environment, request and timeout ([`exec`], [`provider`]), and reads each
//!    answer with kubelet's strictness ([`response`]);
//! 3. feeds the accepted answers into one keyring and lists the credentials kubelet would try,
//!    in kubelet's order, with each answer's cache key and duration ([`keyring`]).
//!
//! Any provider binary works, not only this one. Secrets are never shown: passwords are
//! lengths and provider output is masked ([`mask`]). The exit status is 0 when kubelet would
//! get credentials for the image from its providers, 1 otherwise, so node bootstrap scripts
//! and readiness probes can use it.
//!
//! It is a subcommand of its own rather than a `validate-config` flag: it executes programs
//! (validate-config, which `install` runs before writing anything, only reads), its exit status
//! answers another question, and its flags are parsed here, like `install`'s, away from the
//! parser every kubelet run goes through.

mod exec;
mod keyring;
mod mask;
mod provider;
mod report;
mod response;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{annotation_flag, SubcommandArgs};
use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::kubelet_config::{self, Provider};
use crate::pattern::go_quote;
use crate::validate;

use keyring::Keyring;
use provider::{Pod, Setting};
use report::{CredentialReport, FileReport, Outcome, Report};

/// The longest `--plugin-timeout` accepted.
const MAX_PLUGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// `--help` text of the subcommand.
pub const HELP: &str = "  cloud-credential-provider kubelet-view IMAGE --config PATH --bin-dir DIR
                                    [--service-account-token-file FILE]
                                    [--service-account-annotation KEY=VALUE]...
                                    [--plugin-timeout DUR] [--output text|json]
      What kubelet gets for IMAGE on this node. PATH and DIR are kubelet's
      --image-credential-provider-config (file or directory) and
      --image-credential-provider-bin-dir (those flag names work here too). Runs every
      provider whose matchImages match IMAGE as kubelet does (DIR/<name> with its args, its
      env over this environment, the request in its apiVersion, killed with its process
      group after kubelet's 1m0s or --plugin-timeout), reads each answer as strictly as
      kubelet, and lists the credentials kubelet would try, in its order, with each answer's
      cache key and duration and a failing provider's stderr. Any provider binary. Passwords
      show as lengths; provider output is masked. --service-account-* as for check (for
      providers with tokenAttributes). Exit status 0 when kubelet would get credentials for
      IMAGE, else 1: usable as a readiness check.
";

/// What `kubelet-view` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The image as typed.
    pub image: String,
    /// Kubelet's `--image-credential-provider-config`.
    pub config: PathBuf,
    /// Kubelet's `--image-credential-provider-bin-dir`.
    pub bin_dir: PathBuf,
    /// The pod's service-account token, from a file.
    pub service_account_token_file: Option<PathBuf>,
    /// The service account's annotations.
    pub service_account_annotations: BTreeMap<String, String>,
    /// Per provider run; kubelet's is fixed at one minute.
    pub plugin_timeout: Duration,
    /// `--output json`.
    pub json: bool,
}

/// Parses the arguments after `kubelet-view`. Kubelet's own flag names are accepted for the
/// config and the bin dir, so they can be pasted from kubelet's command line.
pub fn parse_args(args: &[String]) -> Result<Options> {
    let mut image = None;
    let mut config = None;
    let mut bin_dir = None;
    let mut token_file = None;
    let mut annotations = BTreeMap::new();
    let mut plugin_timeout = exec::KUBELET_TIMEOUT;
    let mut json = false;
    let mut args = SubcommandArgs::new("kubelet-view", args);
    while let Some(flag) = args.next_flag() {
        match flag.name {
            "--config" | "--image-credential-provider-config" => {
                config = Some(PathBuf::from(args.value(&flag)?))
            }
            "--bin-dir" | "--image-credential-provider-bin-dir" => {
                bin_dir = Some(PathBuf::from(args.value(&flag)?))
            }
            "--service-account-token-file" => token_file = Some(PathBuf::from(args.value(&flag)?)),
            "--service-account-annotation" => {
                let (key, value) = annotation_flag(flag.name, &args.value(&flag)?)?;
                annotations.insert(key, value);
            }
            "--plugin-timeout" => plugin_timeout = timeout_flag(&args.value(&flag)?)?,
            "-o" | "--output" => {
                json = match args.value(&flag)?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => {
                        return Err(Error::Usage(format!(
                            "kubelet-view: --output {other:?}: choose text or json"
                        )))
                    }
                }
            }
            name if !name.starts_with('-') && image.is_none() => image = Some(flag.arg.to_string()),
            _ => {
                return Err(Error::Usage(format!(
                    "kubelet-view: unexpected argument {:?}",
                    flag.arg
                )))
            }
        }
    }
    let missing = |what: &str| Error::Usage(format!("kubelet-view needs {what}"));
    Ok(Options {
        image: image.ok_or_else(|| missing("an IMAGE"))?,
        config: config.ok_or_else(|| {
            missing("--config PATH (kubelet's --image-credential-provider-config)")
        })?,
        bin_dir: bin_dir.ok_or_else(|| {
            missing("--bin-dir DIR (kubelet's --image-credential-provider-bin-dir)")
        })?,
        service_account_token_file: token_file,
        service_account_annotations: annotations,
        plugin_timeout,
        json,
    })
}

fn timeout_flag(text: &str) -> Result<Duration> {
    let nanos = parse_go_duration(text)
        .map_err(|e| Error::Usage(format!("kubelet-view: --plugin-timeout: {e}")))?;
    let timeout = u64::try_from(nanos)
        .map(Duration::from_nanos)
        .unwrap_or_default();
    if timeout.is_zero() || timeout > MAX_PLUGIN_TIMEOUT {
        return Err(Error::Usage(format!(
            "kubelet-view: --plugin-timeout {text:?} must be above 0s and at most {}",
            format_go_duration(MAX_PLUGIN_TIMEOUT)
        )));
    }
    Ok(timeout)
}

/// Runs it: the report for stdout and the exit status.
pub fn run(options: &Options) -> Result<(String, i32)> {
    let image = ImageRef::parse(&options.image)
        .map_err(|e| Error::Usage(format!("kubelet-view: {e}")))?
        .name();
    let pod = Pod {
        token: options
            .service_account_token_file
            .as_deref()
            .map(|path| crate::check::read_token_file("kubelet-view", path))
            .transpose()?,
        annotations: options.service_account_annotations.clone(),
    };
    let validation =
        validate::validate_path(&options.config, std::slice::from_ref(&options.image))?;
    let loaded = kubelet_config::load(&options.config);
    let matched = validation.image_results.first();

    let mut report = Report {
        image: options.image.clone(),
        kubelet_image: image.clone(),
        config: options.config.display().to_string(),
        files: loaded
            .files
            .iter()
            .map(|file| FileReport {
                path: file.display().to_string(),
                providers: loaded
                    .providers
                    .iter()
                    .filter(|p| &p.source == file)
                    .map(|p| p.name.clone())
                    .collect(),
            })
            .collect(),
        bin_dir: options.bin_dir.display().to_string(),
        plugin_timeout: format_go_duration(options.plugin_timeout),
        startup_errors: Vec::new(),
        warnings: validation.warnings.clone(),
        hints: matched.map(|m| m.hints.clone()).unwrap_or_default(),
        providers: Vec::new(),
        credentials: Vec::new(),
        docker_hub_fallback: false,
        notes: validation.notes.clone(),
        ok: false,
    };

    // Kubelet's start-up order: the bin dir, the config, its validation, each executable.
    report
        .startup_errors
        .extend(bin_dir_error(&options.bin_dir));
    report
        .startup_errors
        .extend(validation.errors.iter().cloned());
    if report.startup_errors.is_empty() {
        for provider in &loaded.providers {
            report
                .startup_errors
                .extend(executable_error(&options.bin_dir, provider));
        }
    }
    if !report.startup_errors.is_empty() {
        return Ok(finish(report, options.json));
    }

    let setting = Setting {
        image: &image,
        bin_dir: &options.bin_dir,
        timeout: options.plugin_timeout,
        pod: &pod,
    };
    let mut keyring = Keyring::default();
    let mut notes = Vec::new();
    for provider in &loaded.providers {
        let matched_by = matched.and_then(|m| {
            m.matches
                .iter()
                .find(|hit| hit.provider == provider.name)
                .map(|hit| hit.pattern.as_str())
        });
        report.providers.push(provider::evaluate(
            provider,
            matched_by,
            &setting,
            &mut keyring,
            &mut notes,
        )?);
    }
    let lookup = keyring.lookup(&image);
    report.docker_hub_fallback = lookup.hub_fallback;
    report.credentials = lookup
        .tries
        .iter()
        .map(|(key, credential)| CredentialReport {
            key: (*key).to_string(),
            provider: credential.provider.clone(),
            username: credential.username.clone(),
            password_length: credential.password.len(),
        })
        .collect();
    report.notes.extend(notes);
    if pod.token.is_some()
        && !report.providers.iter().any(|p| {
            p.run
                .as_ref()
                .is_some_and(|r| r.request.service_account_token)
        })
    {
        report.notes.push(
            "the service-account token was sent to no provider: kubelet sends it only to providers with tokenAttributes whose matchImages accept the image".into(),
        );
    }
    if report
        .providers
        .iter()
        .all(|p| p.outcome == Outcome::NotMatched)
    {
        report.notes.push(format!(
            "no provider's matchImages accept {}: kubelet runs none of them for this image",
            go_quote(&image)
        ));
    }
    report.notes.push(
        "kubelet tries the pod's imagePullSecrets first, then the node's Docker config files, then these; this shows the providers' part".into(),
    );
    report.ok = !report.credentials.is_empty();
    Ok(finish(report, options.json))
}

fn finish(report: Report, json: bool) -> (String, i32) {
    let text = if json {
        report.render_json()
    } else {
        report.render_text()
    };
    (text, if report.ok { 0 } else { 1 })
}

/// Kubelet's first start-up check: `os.Stat(binDir)`.
fn bin_dir_error(bin_dir: &Path) -> Option<String> {
    match std::fs::metadata(bin_dir) {
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(format!(
            "plugin binary directory {} did not exist",
            bin_dir.display()
        )),
        Err(e) => Some(format!(
            "error inspecting binary directory {}: stat {}: {}",
            bin_dir.display(),
            bin_dir.display(),
            e
        )),
    }
}

/// Kubelet's `exec.LookPath(filepath.Join(binDir, name))`, with the message kubelet exits
/// with (which leaves out the path, as `LookPath` returns none on failure) followed by it.
fn executable_error(bin_dir: &Path, provider: &Provider) -> Option<String> {
    let path = bin_dir.join(&provider.name);
    let shown = path.display();
    let problem = match std::fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(format!(
                "plugin binary executable  did not exist (provider {}: no file {shown}; kubelet runs <bin-dir>/<provider name>)",
                go_quote(&provider.name)
            ))
        }
        Err(e) => format!("stat {shown}: {e}"),
        Ok(meta) if meta.is_dir() => "is a directory".to_string(),
        Ok(_) if !executable(&path) => "permission denied".to_string(),
        Ok(_) => return None,
    };
    Some(format!(
        "error inspecting binary executable : exec: {}: {problem} (provider {})",
        go_quote(&shown.to_string()),
        go_quote(&provider.name)
    ))
}

/// Go's `findExecutable`: `faccessat(X_OK, AT_EACCESS)`, i.e. for the effective user.
fn executable(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: faccessat(2) reads the NUL-terminated path, which outlives the call, and
    // writes nothing.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::X_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_parse_in_both_spellings() {
        let o = parse_args(&args(&[
            "reg.io/app",
            "--image-credential-provider-config=/etc/k/c.yaml",
            "--bin-dir",
            "/bin/d",
            "--service-account-annotation",
            "a.io/x=y=z",
            "--plugin-timeout=5s",
            "-o",
            "json",
        ]))
        .unwrap();
        assert_eq!(o.image, "reg.io/app");
        assert_eq!(o.config, PathBuf::from("/etc/k/c.yaml"));
        assert_eq!(o.bin_dir, PathBuf::from("/bin/d"));
        assert_eq!(o.service_account_annotations["a.io/x"], "y=z");
        assert_eq!(o.plugin_timeout, Duration::from_secs(5));
        assert!(o.json);
        let d = parse_args(&args(&["x", "--config", "c", "--bin-dir", "b"])).unwrap();
        assert_eq!(d.plugin_timeout, Duration::from_secs(60));
        assert!(!d.json);
    }

    #[test]
    fn missing_and_unknown_arguments_are_usage_errors() {
        for (list, message) in [
            (&["--config", "c", "--bin-dir", "b"][..], "needs an IMAGE"),
            (&["x", "--bin-dir", "b"], "needs --config PATH"),
            (&["x", "--config", "c"], "needs --bin-dir DIR"),
            (
                &["x", "y", "--config", "c", "--bin-dir", "b"],
                "unexpected argument \"y\"",
            ),
            (&["x", "--nope"], "unexpected argument \"--nope\""),
            (&["x", "--plugin-timeout=0s"], "must be above 0s"),
            (&["x", "--plugin-timeout=1h"], "at most 10m0s"),
            (&["x", "--output=yaml"], "choose text or json"),
            (
                &["x", "--service-account-annotation=k"],
                "expected KEY=VALUE",
            ),
        ] {
            let e = parse_args(&args(list)).unwrap_err().to_string();
            assert!(e.contains(message), "{list:?}: {e}");
        }
    }
}
