//! The node's file system as `kubelet-status` sees it: the real one (`/`), or the parts of it a
//! pod mounts under a prefix (`--host-root /host`).
//!
//! Every path kubelet's flags and unit files name is a host path. Inside the DaemonSet's pod
//! the host's `/etc/default` is `/host/etc/default`, and only what the pod mounts is there at
//! all. Two things follow:
//!
//! - symlinks are host symlinks: an absolute target (`/etc/os-release -> /usr/lib/os-release`)
//!   means the host's `/usr/lib`, so links are followed here, one component at a time, inside
//!   the root ([`HostRoot::resolve`]) rather than by the kernel in the pod's own root;
//! - a missing file is only known to be missing when its place is visible: under a root that
//!   holds mounts, a path outside every mount may exist on the host unseen. `/proc/self/mountinfo`
//!   says which mount points lie under the root; a root with none (the real `/`, or a plain
//!   directory a test fills) shows the whole host.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::local_file;

/// Symlinks followed for one path before giving up, as the kernel's `ELOOP` limit.
const MAX_SYMLINKS: u32 = 40;

/// What reading a host file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look<T> {
    /// The file, read.
    Found(T),
    /// The file does not exist on the host.
    Absent,
    /// Its place is not mounted here: it may exist on the host unseen.
    NotVisible,
    /// It exists but could not be read; the text says why.
    Unreadable(String),
}

impl<T> Look<T> {
    /// What became of the file, for a report: `read`, `absent`, `not visible here`, or
    /// `unreadable: why`.
    pub fn state(&self) -> String {
        match self {
            Look::Found(_) => "read".into(),
            Look::Absent => "absent".into(),
            Look::NotVisible => "not visible here".into(),
            Look::Unreadable(why) => format!("unreadable: {why}"),
        }
    }
}

/// One host file a verdict rests on, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consulted {
    /// The host path.
    pub path: String,
    /// [`Look::state`].
    pub state: String,
}

impl Consulted {
    /// The entry for `path` and what reading it gave.
    pub fn new<T>(path: &Path, look: &Look<T>) -> Consulted {
        Consulted {
            path: path.display().to_string(),
            state: look.state(),
        }
    }
}

/// The host's root as this process sees it.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
    /// Mount points at or under `root` (empty: the whole root is the host's).
    mounts: Vec<PathBuf>,
}

impl HostRoot {
    /// The root at `root`, which must be a directory.
    pub fn open(root: &Path) -> Result<HostRoot> {
        if !root.is_absolute() {
            return Err(Error::Usage(format!(
                "kubelet-status: --host-root {} must be an absolute path",
                root.display()
            )));
        }
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::Config(format!(
                    "kubelet-status: --host-root {}: not a directory",
                    root.display()
                )))
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "kubelet-status: --host-root {}: {e}",
                    root.display()
                )))
            }
        }
        let root = normalize(root);
        let mounts = if root == Path::new("/") {
            Vec::new()
        } else {
            mount_points_under(&root)
        };
        Ok(HostRoot { root, mounts })
    }

    /// The host's own root: every path as it is.
    #[cfg(test)]
    pub fn native() -> HostRoot {
        HostRoot {
            root: PathBuf::from("/"),
            mounts: Vec::new(),
        }
    }

    /// The root as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where host path `host` is here, without following symlinks.
    pub fn local(&self, host: &Path) -> PathBuf {
        let relative: PathBuf = host
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        self.root.join(relative)
    }

    /// The host path of `local` (a path as this process sees it), or `None` when it is not
    /// under the root.
    pub fn host_path_of(&self, local: &Path) -> Option<PathBuf> {
        let rest = normalize(local)
            .strip_prefix(&self.root)
            .ok()?
            .to_path_buf();
        Some(Path::new("/").join(rest))
    }

    /// `host` with every symlink on the way followed as the host would (absolute targets
    /// mean the host's root), `.` and `..` applied: a host path. Components that do not exist
    /// are kept as they are.
    pub fn resolve(&self, host: &Path) -> io::Result<PathBuf> {
        let mut resolved = PathBuf::from("/");
        let mut rest: VecDeque<OsString> = normal_parts(host).into();
        let mut hops = 0;
        while let Some(part) = rest.pop_front() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&part);
            let local = self.local(&candidate);
            match fs::symlink_metadata(&local) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(io::Error::other(format!(
                            "more than {MAX_SYMLINKS} symlinks on the way to {}",
                            host.display()
                        )));
                    }
                    let target = fs::read_link(&local)?;
                    if target.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    for part in normal_parts(&target).into_iter().rev() {
                        rest.push_front(part);
                    }
                }
                _ => resolved = candidate,
            }
        }
        Ok(resolved)
    }

    /// Whether host path `host` (resolved) lies where this process can see the host.
    pub fn is_visible(&self, host: &Path) -> bool {
        if self.mounts.is_empty() {
            return true;
        }
        let local = self.local(host);
        self.mounts.iter().any(|m| local.starts_with(m))
    }

    /// Reads host file `host` as text (symlinks followed in the root).
    pub fn read_text(&self, host: &Path) -> Look<String> {
        let resolved = match self.resolve(host) {
            Ok(resolved) => resolved,
            Err(e) => return Look::Unreadable(e.to_string()),
        };
        match local_file::read_text(&self.local(&resolved)) {
            Ok(text) => Look::Found(text),
            Err(e) if e.is_not_found() => self.absent_or_unseen(&resolved),
            Err(e) => Look::Unreadable(e.to_string()),
        }
    }

    /// Metadata of host path `host` (symlinks followed in the root).
    pub fn metadata(&self, host: &Path) -> Look<fs::Metadata> {
        let resolved = match self.resolve(host) {
            Ok(resolved) => resolved,
            Err(e) => return Look::Unreadable(e.to_string()),
        };
        match fs::metadata(self.local(&resolved)) {
            Ok(meta) => Look::Found(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.absent_or_unseen(&resolved),
            Err(e) => Look::Unreadable(e.to_string()),
        }
    }

    /// The entries of host directory `host`, sorted; `Absent` when there is no such directory.
    pub fn read_dir(&self, host: &Path) -> Look<Vec<OsString>> {
        let resolved = match self.resolve(host) {
            Ok(resolved) => resolved,
            Err(e) => return Look::Unreadable(e.to_string()),
        };
        match fs::read_dir(self.local(&resolved)) {
            Ok(entries) => {
                let mut names: Vec<OsString> = entries
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .collect();
                names.sort();
                Look::Found(names)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.absent_or_unseen(&resolved),
            Err(e) => Look::Unreadable(e.to_string()),
        }
    }

    fn absent_or_unseen<T>(&self, resolved: &Path) -> Look<T> {
        if self.is_visible(resolved) {
            Look::Absent
        } else {
            Look::NotVisible
        }
    }
}

/// `path`'s normal components, `..` kept (applied by [`HostRoot::resolve`]), `.` dropped.
fn normal_parts(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// `path` without `.` components and trailing slashes (lexically; `..` kept).
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Mount points at or under `root`, from `/proc/self/mountinfo` (field 5, octal escapes such
/// as `\040` for a space decoded). Unreadable mountinfo: none, i.e. the root counts as a
/// plain copy of the host.
fn mount_points_under(root: &Path) -> Vec<PathBuf> {
    let Ok(text) = local_file::read_text(Path::new("/proc/self/mountinfo")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|mount| mount.starts_with(root))
        .collect()
}

/// Decodes mountinfo's `\ooo` octal escapes.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(b) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ccp-host-root-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let dir = scratch("links");
        fs::create_dir_all(dir.join("usr/lib")).unwrap();
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("usr/lib/os-release"), "ID=talos\n").unwrap();
        symlink("/usr/lib/os-release", dir.join("etc/os-release")).unwrap();
        symlink("usr/lib", dir.join("lib")).unwrap();
        let host = HostRoot::open(&dir).unwrap();
        assert_eq!(
            host.resolve(Path::new("/etc/os-release")).unwrap(),
            Path::new("/usr/lib/os-release")
        );
        // `..` after a symlink leaves its target, as in the kernel: /lib is /usr/lib here.
        assert_eq!(
            host.resolve(Path::new("/lib/../etc/./os-release")).unwrap(),
            Path::new("/usr/etc/os-release")
        );
        assert_eq!(
            host.read_text(Path::new("/etc/os-release")),
            Look::Found("ID=talos\n".into())
        );
        assert_eq!(host.read_text(Path::new("/etc/missing")), Look::Absent);
        symlink("/loop", dir.join("loop")).unwrap();
        assert!(matches!(
            host.read_text(Path::new("/loop")),
            Look::Unreadable(_)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_paths_map_both_ways() {
        let host = HostRoot {
            root: PathBuf::from("/host"),
            mounts: Vec::new(),
        };
        assert_eq!(
            host.local(Path::new("/etc/default/kubelet")),
            Path::new("/host/etc/default/kubelet")
        );
        assert_eq!(
            host.host_path_of(Path::new("/host/usr/local/bin/")),
            Some(PathBuf::from("/usr/local/bin"))
        );
        assert_eq!(host.host_path_of(Path::new("/hostile/x")), None);
        assert_eq!(
            HostRoot::native().host_path_of(Path::new("/a/b")),
            Some(PathBuf::from("/a/b"))
        );
    }

    #[test]
    fn only_mounted_places_are_visible_when_the_root_holds_mounts() {
        let host = HostRoot {
            root: PathBuf::from("/host"),
            mounts: vec![
                PathBuf::from("/host/etc/default"),
                PathBuf::from("/host/var/lib/kubelet/kubeadm-flags.env"),
            ],
        };
        assert!(host.is_visible(Path::new("/etc/default/kubelet")));
        assert!(host.is_visible(Path::new("/var/lib/kubelet/kubeadm-flags.env")));
        assert!(!host.is_visible(Path::new("/var/lib/kubelet/config.yaml")));
        assert!(!host.is_visible(Path::new("/etc/sysconfig/kubelet")));
        assert!(HostRoot::native().is_visible(Path::new("/anything")));
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/host/a\040b"), "/host/a b");
        assert_eq!(unescape_mountinfo(r"/x\\"), r"/x\\");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn relative_and_missing_roots_are_refused() {
        assert!(HostRoot::open(Path::new("host")).is_err());
        assert!(HostRoot::open(Path::new("/nonexistent-ccp-root")).is_err());
    }
}
