//! `install`: put this binary (and, when asked, its drop-in names and a kubelet
//! `CredentialProviderConfig`) into place on a node.
//!
//! One installer for every way the plugin reaches a node: `scripts/install.sh` on the node, a
//! node-image build (Packer, cloud-init) and the DaemonSet in `deploy/`, whose image holds
//! nothing but this binary. Kubelet may exec the plugin at any moment while it is being
//! replaced, so nothing here ever makes a half-written file visible under a name kubelet runs:
//! every file is written under a temporary name in the same directory, synced, given its final
//! mode and then renamed over the old one (rename is atomic within a file system; a process
//! exec'ing the old file keeps its old inode). Links are replaced the same way. A run that
//! finds everything in place changes nothing, so a DaemonSet restarting on every node costs no
//! writes and no modification times.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cli::PROGRAM_NAMES;
use crate::error::{Error, Result};
use crate::validate;

/// Where kubelet's `--image-credential-provider-bin-dir` points unless told otherwise; the
/// README's samples and `scripts/install.sh` use it too.
pub const DEFAULT_BIN_DIR: &str = "/usr/local/libexec/kubelet-credential-provider";

/// Mode of the installed binary and of hard-linked drop-in names: kubelet runs as root, but
/// operators run `check` as themselves.
const BINARY_MODE: u32 = 0o755;
/// Mode of an installed kubelet config: it names files, never holds a secret.
const CONFIG_MODE: u32 = 0o644;

/// How drop-in names point at the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// A relative symlink `NAME -> cloud-credential-provider`: `ls -l` shows what it is.
    Symlink,
    /// A hard link: for bin dirs on file systems or in images that refuse symlinks (some
    /// read-only image layers flatten them), and for tools that check `-f` rather than `-e`.
    Hardlink,
}

/// What `install` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// Kubelet's `--image-credential-provider-bin-dir`.
    pub bin_dir: PathBuf,
    /// Also install the names of the plugins this one replaces.
    pub drop_in_names: bool,
    /// How those names point at the binary.
    pub link_style: LinkStyle,
    /// A kubelet config to check and install, and where it goes.
    pub config: Option<(PathBuf, PathBuf)>,
    /// Say what would change, change nothing.
    pub dry_run: bool,
}

/// Parses the arguments after `install`.
pub fn parse_args(args: &[String]) -> Result<InstallOptions> {
    let mut bin_dir = PathBuf::from(DEFAULT_BIN_DIR);
    let mut drop_in_names = false;
    let mut link_style = LinkStyle::Symlink;
    let mut config = None;
    let mut config_dest = None;
    let mut dry_run = false;
    let mut args = crate::cli::SubcommandArgs::new("install", args);
    while let Some(flag) = args.next_flag() {
        match flag.name {
            "--bin-dir" => bin_dir = PathBuf::from(args.value(&flag)?),
            "--drop-in-names" => drop_in_names = true,
            "--link" => {
                link_style = match args.value(&flag)?.as_str() {
                    "symlink" => LinkStyle::Symlink,
                    "hardlink" => LinkStyle::Hardlink,
                    other => {
                        return Err(Error::Usage(format!(
                            "install: --link {other:?}: choose symlink or hardlink"
                        )))
                    }
                }
            }
            "--config" => config = Some(PathBuf::from(args.value(&flag)?)),
            "--config-dest" => config_dest = Some(PathBuf::from(args.value(&flag)?)),
            "--dry-run" => dry_run = true,
            _ => {
                return Err(Error::Usage(format!(
                    "install: unexpected argument {:?}",
                    flag.arg
                )))
            }
        }
    }
    let config = match (config, config_dest) {
        (Some(src), Some(dest)) => Some((src, dest)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(Error::Usage(
                "install: --config needs --config-dest (the path kubelet's \
                 --image-credential-provider-config names)"
                    .into(),
            ))
        }
        (None, Some(_)) => {
            return Err(Error::Usage("install: --config-dest needs --config".into()))
        }
    };
    Ok(InstallOptions {
        bin_dir,
        drop_in_names,
        link_style,
        config,
        dry_run,
    })
}

/// Runs the install; returns the report for stdout, one line per file.
///
/// The config is checked before anything is written: a config kubelet would refuse must not
/// leave a new binary behind either, so the node stays as it was.
pub fn run(options: &InstallOptions) -> Result<String> {
    let config = match &options.config {
        Some((src, dest)) => Some((check_config(src)?, dest)),
        None => None,
    };
    let binary = read_own_executable()?;
    let verb = |done: &'static str, would: &'static str| if options.dry_run { would } else { done };
    let mut out = String::new();

    let bin_path = options.bin_dir.join(PROGRAM_NAMES[0]);
    if !options.dry_run {
        create_dir(&options.bin_dir)?;
        for name in PROGRAM_NAMES {
            for stale in remove_stale_temps(&options.bin_dir.join(name)) {
                out.push_str(&format!("removed {}\n", stale.display()));
            }
        }
    }
    let binary_in_place = same_file_content(&bin_path, &binary, BINARY_MODE)?;
    let state = if binary_in_place {
        "unchanged"
    } else {
        if !options.dry_run {
            replace_file(&bin_path, &binary, BINARY_MODE).map_err(|e| io_error(&bin_path, e))?;
        }
        verb("installed", "would install")
    };
    out.push_str(&format!(
        "{state} {} ({} bytes, version {})\n",
        bin_path.display(),
        binary.len(),
        env!("CARGO_PKG_VERSION")
    ));

    if options.drop_in_names {
        for name in &PROGRAM_NAMES[1..] {
            let link = options.bin_dir.join(name);
            let line = match options.link_style {
                LinkStyle::Symlink => {
                    let target = Path::new(PROGRAM_NAMES[0]);
                    if fs::read_link(&link).is_ok_and(|t| t == target) {
                        "unchanged"
                    } else {
                        if !options.dry_run {
                            replace_symlink(&link, target).map_err(|e| io_error(&link, e))?;
                        }
                        verb("linked", "would link")
                    }
                }
                LinkStyle::Hardlink => {
                    // A new binary is a new inode: hard links to the old one must follow it.
                    if binary_in_place && same_inode(&link, &bin_path) {
                        "unchanged"
                    } else {
                        if !options.dry_run {
                            replace_hardlink(&link, &bin_path).map_err(|e| io_error(&link, e))?;
                        }
                        verb("linked", "would link")
                    }
                }
            };
            out.push_str(&format!(
                "{line} {} -> {}\n",
                link.display(),
                PROGRAM_NAMES[0]
            ));
        }
    }

    if let Some((content, dest)) = config {
        let state = if same_file_content(dest, &content, CONFIG_MODE)? {
            "unchanged"
        } else {
            if !options.dry_run {
                if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                    create_dir(parent)?;
                }
                for stale in remove_stale_temps(dest) {
                    out.push_str(&format!("removed {}\n", stale.display()));
                }
                replace_file(dest, &content, CONFIG_MODE).map_err(|e| io_error(dest, e))?;
            }
            verb("wrote", "would write")
        };
        out.push_str(&format!("{state} {}\n", dest.display()));
    }
    Ok(out)
}

/// Runs validate-config's checks on `src` and returns its bytes when kubelet would accept it.
fn check_config(src: &Path) -> Result<Vec<u8>> {
    if !src.is_file() {
        return Err(Error::Config(format!(
            "install: --config {}: not a file (give the one file to install)",
            src.display()
        )));
    }
    let report = validate::validate_path(src, &[])?;
    if !report.is_ok() {
        return Err(Error::Config(format!(
            "install: kubelet would refuse to start with {}: {} (run validate-config {} for all of it); nothing installed",
            src.display(),
            report.errors.join("; ").replace('\n', " "),
            src.display()
        )));
    }
    // Read again for the bytes to install; validate-config read it the same way.
    crate::local_file::read(src)
        .map_err(|e| Error::Config(format!("install: cannot read {}: {e}", src.display())))
}

/// The bytes of the running executable.
///
/// `/proc/self/exe` rather than the path `current_exe` names: it still opens the running
/// binary when the file it was started from has just been replaced or removed (an install
/// racing another), where the path would give the new file or nothing.
fn read_own_executable() -> Result<Vec<u8>> {
    let open = || -> io::Result<Vec<u8>> {
        let mut file = match File::open("/proc/self/exe") {
            Ok(file) => file,
            Err(_) => File::open(std::env::current_exe()?)?,
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    open().map_err(|e| {
        Error::Io(format!(
            "install: cannot read this program's executable: {e}"
        ))
    })
}

/// Whether `path` is a regular file (not a link to one) holding `content` with `mode`.
pub(crate) fn same_file_content(path: &Path, content: &[u8], mode: u32) -> Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(path, e)),
    };
    if !meta.is_file()
        || meta.len() != content.len() as u64
        || meta.permissions().mode() & 0o7777 != mode
    {
        return Ok(false);
    }
    let existing = fs::read(path).map_err(|e| io_error(path, e))?;
    Ok(existing == content)
}

fn same_inode(a: &Path, b: &Path) -> bool {
    match (fs::symlink_metadata(a), fs::symlink_metadata(b)) {
        (Ok(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))
}

fn io_error(path: &Path, e: io::Error) -> Error {
    Error::Io(format!("install: {}: {e}", path.display()))
}

/// Replaces `path` with a file holding `content` and `mode`, atomically: a reader (or an
/// exec) sees the old file or the new one, never a part. The new file is synced before the
/// rename and the directory after it, so a crash leaves one of the two complete.
pub fn replace_file(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let temp = temp_name(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            // Nobody else may open it while it is incomplete; the final mode comes below.
            .mode(0o600)
            .open(&temp)?;
        file.write_all(content)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        // Closed before the rename: an executable still open for writing cannot be exec'd
        // (ETXTBSY), and after the rename kubelet may exec it at once.
        drop(file);
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_parent(path)
}

/// Points `link` at `target` (a symlink), replacing whatever `link` was in one rename.
fn replace_symlink(link: &Path, target: &Path) -> io::Result<()> {
    let temp = temp_name(link)?;
    std::os::unix::fs::symlink(target, &temp)?;
    if let Err(e) = fs::rename(&temp, link) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent(link)
}

/// Makes `link` a hard link of `file`, replacing whatever `link` was in one rename.
fn replace_hardlink(link: &Path, file: &Path) -> io::Result<()> {
    let temp = temp_name(link)?;
    fs::hard_link(file, &temp)?;
    if let Err(e) = fs::rename(&temp, link) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent(link)
}

/// A name next to `path` that no other run uses: hidden, with pid and a counter, so kubelet
/// (which runs only the names its config lists) never picks it up.
fn temp_name(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(temp))
}

/// How old a temporary file must be before a later run takes it for the leftover of a run
/// that was killed (OOM, node shutdown) between writing and renaming it. No run takes
/// anywhere near this long, so a run in progress never loses its file.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary files of `path` ([`temp_name`]) older than [`STALE_TEMP_AGE`], which
/// would otherwise stay in kubelet's bin dir for good; returns what was removed. Best effort:
/// a file that cannot be removed is left for the next run.
pub(crate) fn remove_stale_temps(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let old = fs::symlink_metadata(entry.path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// Syncs the directory holding `path`, so the rename itself survives a crash.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// The `install` part of `--help`.
pub const HELP: &str = "  cloud-credential-provider install [--bin-dir DIR] [--drop-in-names] [--link symlink|hardlink]
                                    [--config FILE --config-dest PATH] [--dry-run]
      Copy this binary into DIR (kubelet's --image-credential-provider-bin-dir, default
      /usr/local/libexec/kubelet-credential-provider) under a temporary name, sync it, then
      rename it into place, so a kubelet exec racing the install runs the old file or the new
      one. --drop-in-names also links ecr-credential-provider, acr-credential-provider and
      auth-provider-gcp to it. --config checks FILE as validate-config does and, only if
      kubelet would accept it, writes it to PATH (kubelet's --image-credential-provider-config).
      Nothing is written when the config is refused, nor for files already in place
      (reported as unchanged). --dry-run says what would change.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_install_only_the_binary_into_the_default_bin_dir() {
        let options = parse_args(&[]).unwrap();
        assert_eq!(options.bin_dir, PathBuf::from(DEFAULT_BIN_DIR));
        assert!(!options.drop_in_names && !options.dry_run);
        assert_eq!(options.link_style, LinkStyle::Symlink);
        assert_eq!(options.config, None);
    }

    #[test]
    fn flags_take_values_both_ways() {
        let options = parse_args(&args(&[
            "--bin-dir=/b",
            "--config",
            "/c.yaml",
            "--config-dest=/etc/k/c.yaml",
            "--link",
            "hardlink",
            "--drop-in-names",
            "--dry-run",
        ]))
        .unwrap();
        assert_eq!(options.bin_dir, PathBuf::from("/b"));
        assert_eq!(
            options.config,
            Some((PathBuf::from("/c.yaml"), PathBuf::from("/etc/k/c.yaml")))
        );
        assert_eq!(options.link_style, LinkStyle::Hardlink);
        assert!(options.drop_in_names && options.dry_run);
    }

    #[test]
    fn config_and_config_dest_come_together() {
        let e = parse_args(&args(&["--config", "/c.yaml"])).unwrap_err();
        assert!(
            e.to_string().contains("--config needs --config-dest"),
            "{e}"
        );
        let e = parse_args(&args(&["--config-dest", "/c.yaml"])).unwrap_err();
        assert!(
            e.to_string().contains("--config-dest needs --config"),
            "{e}"
        );
    }

    #[test]
    fn unknown_and_empty_arguments_are_refused() {
        let e = parse_args(&args(&["--bin-dir="])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "install: --bin-dir needs a value (see --help)"
        );
        let e = parse_args(&args(&["extra"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "install: unexpected argument \"extra\" (see --help)"
        );
        assert!(parse_args(&args(&["--link", "copy"])).is_err());
    }

    #[test]
    fn temp_names_are_hidden_and_distinct() {
        let a = temp_name(Path::new("/d/cloud-credential-provider")).unwrap();
        let b = temp_name(Path::new("/d/cloud-credential-provider")).unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".cloud-credential-provider.tmp-"),
            "{name}"
        );
        assert_eq!(a.parent(), Some(Path::new("/d")));
    }

    #[test]
    fn only_old_temporary_files_of_the_name_are_removed() {
        let dir = std::env::temp_dir().join(format!("ccp-install-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cloud-credential-provider");
        let make = |name: &str, age: u64| {
            let file = File::create(dir.join(name)).unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
            file.set_modified(when).unwrap();
        };
        make(".cloud-credential-provider.tmp-1-0", 7200);
        make(".cloud-credential-provider.tmp-2-0", 60);
        make(".other.tmp-3-0", 7200);
        let removed = remove_stale_temps(&path);
        assert_eq!(
            removed,
            vec![dir.join(".cloud-credential-provider.tmp-1-0")]
        );
        let mut left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                OsString::from(".cloud-credential-provider.tmp-2-0"),
                OsString::from(".other.tmp-3-0")
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replace_file_sets_mode_and_content_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("ccp-install-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        replace_file(&path, b"one", 0o755).unwrap();
        replace_file(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert!(same_file_content(&path, b"two", 0o600).unwrap());
        assert!(!same_file_content(&path, b"two", 0o644).unwrap());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("f")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
