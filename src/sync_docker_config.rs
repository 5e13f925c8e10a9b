//! `sync-docker-config`: keep a Docker `config.json` on the node equal to a Kubernetes Secret.
//!
//! The `file` backend (`--docker-config`) reads its file on every run, so a file that changes
//! is served at once; what it needs is a file on the node that follows the Secret when the
//! credentials rotate. The DaemonSet mounts the Secret as a volume, which kubelet keeps up to
//! date by writing each new version into a fresh `..<timestamp>` directory and swapping the
//! `..data` symlink to it with one rename; the file name itself is a symlink into `..data`.
//! Reading through that name therefore always gives one complete version, and polling it is
//! all the watching needed (kubelet itself refreshes the volume only every minute or so).
//!
//! A new version reaches the node only when it parses as a Docker config (the `file`
//! backend's own parser), so a broken Secret never replaces working credentials; it is
//! written under a temporary name, mode 0600, and renamed over the old file, so a run of the
//! plugin reads the old file or the new one. Logs name the registries, never a credential.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::file::DockerConfig;
use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::{Error, Result};
use crate::install::{remove_stale_temps, replace_file, same_file_content};
use crate::local_file;

/// Mode of the node's copy: it holds registry passwords, readable by root (kubelet) only.
const DEST_MODE: u32 = 0o600;
/// How often the Secret is looked at unless `--interval` says otherwise. Kubelet refreshes a
/// Secret volume about once a minute, so a shorter wait gains little.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// What `sync-docker-config` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// The file in the Secret volume, e.g. `/secret/.dockerconfigjson`.
    pub source: PathBuf,
    /// The node's file the plugin's `--docker-config` names.
    pub dest: PathBuf,
    /// Time between looks.
    pub interval: Duration,
    /// One look, then exit (1 when the Secret is missing or invalid).
    pub once: bool,
}

/// Parses the arguments after `sync-docker-config`.
pub fn parse_args(args: &[String]) -> Result<SyncOptions> {
    let mut source = None;
    let mut dest = None;
    let mut interval = DEFAULT_INTERVAL;
    let mut once = false;
    let mut args = crate::cli::SubcommandArgs::new("sync-docker-config", args);
    while let Some(flag) = args.next_flag() {
        match flag.name {
            "--source" => source = Some(PathBuf::from(args.value(&flag)?)),
            "--dest" => dest = Some(PathBuf::from(args.value(&flag)?)),
            "--interval" => {
                let text = args.value(&flag)?;
                let nanos = parse_go_duration(&text)
                    .map_err(|e| Error::Usage(format!("sync-docker-config: --interval: {e}")))?;
                if nanos < 100_000_000 {
                    return Err(Error::Usage(format!(
                        "sync-docker-config: --interval {text:?} must be at least 100ms"
                    )));
                }
                interval = Duration::from_nanos(nanos as u64);
            }
            "--once" => once = true,
            _ => {
                return Err(Error::Usage(format!(
                    "sync-docker-config: unexpected argument {:?}",
                    flag.arg
                )))
            }
        }
    }
    let need = |v: Option<PathBuf>, flag: &str| {
        v.ok_or_else(|| Error::Usage(format!("sync-docker-config needs {flag}")))
    };
    Ok(SyncOptions {
        source: need(source, "--source SECRET_FILE")?,
        dest: need(dest, "--dest NODE_FILE")?,
        interval,
        once,
    })
}

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The node's file already holds the Secret's content.
    Unchanged,
    /// The node's file was replaced; the registry keys it now holds.
    Updated(Vec<String>),
}

/// One look: copies `source` to `dest` when it differs and is a valid Docker config.
pub fn sync_once(source: &Path, dest: &Path) -> Result<Outcome> {
    let bytes = local_file::read(source).map_err(|e| {
        Error::Config(format!(
            "sync-docker-config: cannot read {}: {e}; {} kept as it is",
            source.display(),
            dest.display()
        ))
    })?;
    let invalid = |why: String| {
        Error::Config(format!(
            "sync-docker-config: {} is not a Docker config: {why}; {} kept as it is",
            source.display(),
            dest.display()
        ))
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not UTF-8".into()))?;
    let parsed = DockerConfig::parse(source, text).map_err(invalid)?;
    if same_file_content(dest, &bytes, DEST_MODE)? {
        return Ok(Outcome::Unchanged);
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Io(format!("sync-docker-config: {}: {e}", parent.display())))?;
    }
    for stale in remove_stale_temps(dest) {
        say(&format!("removed {}", stale.display()));
    }
    replace_file(dest, &bytes, DEST_MODE)
        .map_err(|e| Error::Io(format!("sync-docker-config: {}: {e}", dest.display())))?;
    Ok(Outcome::Updated(
        parsed.entries.into_iter().map(|e| e.key).collect(),
    ))
}

/// Runs the command: one look with `--once`, else a look every interval until killed.
/// A failed look in the loop is logged once (until the next change) and the loop goes on:
/// the Secret may be fixed, and the node keeps its last good file meanwhile.
pub fn run(options: &SyncOptions) -> Result<i32> {
    if options.once {
        let outcome = sync_once(&options.source, &options.dest)?;
        report(options, &outcome);
        return Ok(0);
    }
    say(&format!(
        "syncing {} to {} every {}",
        options.source.display(),
        options.dest.display(),
        format_go_duration(options.interval)
    ));
    let mut last_error: Option<String> = None;
    loop {
        match sync_once(&options.source, &options.dest) {
            Ok(outcome) => {
                if last_error.take().is_some() || outcome != Outcome::Unchanged {
                    report(options, &outcome);
                }
            }
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    crate::log::error(&text);
                    last_error = Some(text);
                }
            }
        }
        std::thread::sleep(options.interval);
    }
}

fn report(options: &SyncOptions, outcome: &Outcome) {
    match outcome {
        Outcome::Unchanged => say(&format!("{} unchanged", options.dest.display())),
        Outcome::Updated(keys) => say(&format!(
            "updated {} (mode 0600) from {}: {} entr{} [{}]",
            options.dest.display(),
            options.source.display(),
            keys.len(),
            if keys.len() == 1 { "y" } else { "ies" },
            keys.join(", ")
        )),
    }
}

fn say(message: &str) {
    crate::log::info(0, || format!("sync-docker-config: {message}"));
}

/// The `sync-docker-config` part of `--help`.
pub const HELP: &str =
    "  cloud-credential-provider sync-docker-config --source SECRET_FILE --dest NODE_FILE
                                    [--interval DUR] [--once]
      Keep NODE_FILE (the file a --docker-config names) equal to SECRET_FILE, a Docker config
      in a mounted Kubernetes Secret (e.g. /secret/.dockerconfigjson): every DUR (default
      10s) SECRET_FILE is read and, when it differs and parses as a Docker config, written
      to NODE_FILE under a temporary name, mode 0600, and renamed into place. A missing or
      invalid SECRET_FILE never replaces NODE_FILE. --once looks once and exits (1 when
      SECRET_FILE is missing or invalid).
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn source_and_dest_are_required_and_interval_defaults() {
        let o = parse_args(&args(&["--source", "/s", "--dest=/d"])).unwrap();
        assert_eq!(o.interval, DEFAULT_INTERVAL);
        assert!(!o.once);
        let e = parse_args(&args(&["--source", "/s"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sync-docker-config needs --dest NODE_FILE (see --help)"
        );
    }

    #[test]
    fn interval_is_a_go_duration_of_at_least_100ms() {
        let o = parse_args(&args(&["--source=/s", "--dest=/d", "--interval=1m30s"])).unwrap();
        assert_eq!(o.interval, Duration::from_secs(90));
        assert!(parse_args(&args(&["--source=/s", "--dest=/d", "--interval=10ms"])).is_err());
        assert!(parse_args(&args(&["--source=/s", "--dest=/d", "--interval=x"])).is_err());
    }
}
