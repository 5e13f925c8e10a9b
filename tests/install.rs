//! `install` and `sync-docker-config`, run as the real binary against scratch host paths: the
//! installer racing a process that execs the plugin, idempotence, drop-in names, a refused
//! config, `--dry-run`; the Docker config sync against a directory updated the way kubelet
//! updates a projected Secret volume.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    base64_encode, path_str, random_token, request, run, run_program as run_bin, wait_for, Ran,
    TempDir, PROVIDER_BIN as BIN,
};

const NAMES: [&str; 4] = [
    "cloud-credential-provider",
    "ecr-credential-provider",
    "acr-credential-provider",
    "auth-provider-gcp",
];

fn install(bin: &Path, args: &[&str]) -> Ran {
    let mut all = vec!["install"];
    all.extend_from_slice(args);
    run_bin(bin, &all)
}

/// A second binary with other bytes that runs the same: the test binary with bytes appended
/// (the ELF loader ignores them). Written by `cp` and `dd` in child processes so this test
/// process never holds a write descriptor to an executable another test thread could inherit
/// across a fork (which would make exec'ing it fail with ETXTBSY for reasons of the test's own).
fn variant_binary(dir: &Path) -> PathBuf {
    let copy = dir.join("variant").join("cloud-credential-provider");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let ran = run_bin(
        Path::new("sh"),
        &[
            "-c",
            "cp \"$1\" \"$2\" && printf 'variant' >>\"$2\"",
            "sh",
            BIN,
            path_str(&copy),
        ],
    );
    assert!(ran.status.success(), "{}", ran.describe());
    copy
}

/// The race kubelet can lose: it execs the plugin while an install replaces it. A thread
/// execs the installed binary and a drop-in name in a loop while 20 installs alternate two
/// different binaries: every exec must start and answer (no ETXTBSY, ENOENT or "exec format
/// error" from a half-written file, no missing link).
#[test]
fn execs_racing_repeated_installs_never_fail() {
    let dir = TempDir::new("install-race");
    let bin_dir = dir.join("bin");
    let variant = variant_binary(dir.path());
    let sources = [PathBuf::from(BIN), variant];
    let first = install(
        &sources[0],
        &["--bin-dir", path_str(&bin_dir), "--drop-in-names"],
    );
    assert!(first.status.success(), "{}", first.describe());

    let stop = Arc::new(AtomicBool::new(false));
    let execs = Arc::new(AtomicU32::new(0));
    let looper = {
        let stop = stop.clone();
        let execs = execs.clone();
        let targets = [
            bin_dir.join("cloud-credential-provider"),
            bin_dir.join("ecr-credential-provider"),
        ];
        thread::spawn(move || -> Vec<String> {
            let mut failures = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let target = &targets[i % 2];
                i += 1;
                let result = Command::new(target)
                    .arg("--version")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output();
                execs.fetch_add(1, Ordering::Relaxed);
                match result {
                    Ok(out)
                        if out.status.success()
                            && out.stdout.starts_with(b"cloud-credential-provider ") => {}
                    Ok(out) => failures.push(format!("{}: {}", target.display(), out.status)),
                    Err(e) => failures.push(format!("{}: {e}", target.display())),
                }
            }
            failures
        })
    };
    let installs = 20;
    let started = Instant::now();
    for n in 0..installs {
        let ran = install(
            &sources[(n + 1) % 2],
            &["--bin-dir", path_str(&bin_dir), "--drop-in-names"],
        );
        assert!(ran.status.success(), "install {n}: {}", ran.describe());
        assert!(
            ran.stdout.starts_with("installed "),
            "install {n} replaced the binary: {}",
            ran.stdout
        );
    }
    stop.store(true, Ordering::Relaxed);
    let failures = looper.join().expect("exec loop");
    let execs = execs.load(Ordering::Relaxed);
    eprintln!(
        "{installs} installs in {:?}; {execs} execs raced them, {} failed",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "failed execs: {failures:?}");
    assert!(
        execs >= installs as u32,
        "only {execs} execs raced {installs} installs"
    );
    let left: Vec<_> = fs::read_dir(&bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// `--help` tells an operator about both node commands.
#[test]
fn help_lists_install_and_sync() {
    let ran = run_bin(Path::new(BIN), &["--help"]);
    assert!(ran.status.success());
    assert!(
        ran.stdout
            .contains("  cloud-credential-provider install [--bin-dir DIR] [--drop-in-names]"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "  cloud-credential-provider sync-docker-config --source SECRET_FILE --dest NODE_FILE"
        ),
        "{}",
        ran.stdout
    );
    let ran = run_bin(Path::new(BIN), &["install", "--nope"]);
    assert_eq!(ran.status.code(), Some(1));
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        "cloud-credential-provider: error: install: unexpected argument \"--nope\" (see --help)\n"
    );
}

/// A second run with the same binary and config writes nothing: same inodes, same
/// modification times, every line "unchanged".
#[test]
fn second_install_changes_nothing_and_says_so() {
    let dir = TempDir::new("install-idem");
    let bin_dir = dir.join("bin");
    let dest = dir.join("etc/kubernetes/credential-provider.yaml");
    let args = [
        "--bin-dir",
        path_str(&bin_dir),
        "--drop-in-names",
        "--config",
        "provider-config/eks.yaml",
        "--config-dest",
        path_str(&dest),
    ];
    let first = install(Path::new(BIN), &args);
    assert!(first.status.success(), "{}", first.describe());
    let size = fs::metadata(BIN).unwrap().len();
    let version = env!("CARGO_PKG_VERSION");
    let b = bin_dir.display();
    assert_eq!(
        first.stdout,
        format!(
            "installed {b}/cloud-credential-provider ({size} bytes, version {version})\n\
             linked {b}/ecr-credential-provider -> cloud-credential-provider\n\
             linked {b}/acr-credential-provider -> cloud-credential-provider\n\
             linked {b}/auth-provider-gcp -> cloud-credential-provider\n\
             wrote {}\n",
            dest.display()
        )
    );
    assert_eq!(first.stderr, "");
    assert_eq!(
        fs::read(&dest).unwrap(),
        fs::read("provider-config/eks.yaml").unwrap()
    );
    assert_eq!(mode(&dest), 0o644);
    assert_eq!(mode(&bin_dir.join("cloud-credential-provider")), 0o755);
    assert_eq!(
        fs::read(bin_dir.join("cloud-credential-provider")).unwrap(),
        fs::read(BIN).unwrap()
    );
    let before = snapshot(&bin_dir, &dest);

    let second = install(Path::new(BIN), &args);
    assert!(second.status.success(), "{}", second.describe());
    assert_eq!(
        second.stdout,
        first
            .stdout
            .replace("installed ", "unchanged ")
            .replace("linked ", "unchanged ")
            .replace("wrote ", "unchanged ")
    );
    assert_eq!(
        snapshot(&bin_dir, &dest),
        before,
        "the second run wrote something"
    );
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// (name, inode, mtime) of every entry that install manages.
fn snapshot(bin_dir: &Path, dest: &Path) -> Vec<(String, u64, i64, i64)> {
    let mut paths: Vec<PathBuf> = NAMES.iter().map(|n| bin_dir.join(n)).collect();
    paths.push(dest.to_path_buf());
    paths
        .iter()
        .map(|p| {
            let m = fs::symlink_metadata(p).unwrap();
            (p.display().to_string(), m.ino(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

/// Drop-in names answer kubelet under the reference plugins' names, as symlinks (the default)
/// or hard links; hard links follow a new binary.
#[test]
fn drop_in_names_answer_as_symlinks_or_hard_links() {
    let dir = TempDir::new("install-dropin");
    let bin_dir = dir.join("bin");
    let ran = install(
        Path::new(BIN),
        &["--bin-dir", path_str(&bin_dir), "--drop-in-names"],
    );
    assert!(ran.status.success(), "{}", ran.describe());
    for name in &NAMES[1..] {
        let link = bin_dir.join(name);
        assert_eq!(fs::read_link(&link).unwrap(), Path::new(NAMES[0]));
        let mut cmd = Command::new(&link);
        cmd.arg("get-credentials");
        let answered = run(cmd, request("registry.example.com/app").as_bytes());
        assert!(answered.status.success(), "{name}: {}", answered.describe());
        assert!(
            answered.stdout.contains(r#""auth":{}"#),
            "{name}: {}",
            answered.stdout
        );
    }

    // Switching to hard links replaces the symlinks in place.
    let hard = [
        "--bin-dir",
        path_str(&bin_dir),
        "--drop-in-names",
        "--link",
        "hardlink",
    ];
    let ran = install(Path::new(BIN), &hard);
    assert!(ran.status.success(), "{}", ran.describe());
    let main_ino = fs::metadata(bin_dir.join(NAMES[0])).unwrap().ino();
    for name in &NAMES[1..] {
        let meta = fs::symlink_metadata(bin_dir.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is not a hard link");
        assert_eq!(meta.ino(), main_ino, "{name}");
    }
    let again = install(Path::new(BIN), &hard);
    assert_eq!(
        again.stdout.matches("unchanged ").count(),
        4,
        "{}",
        again.stdout
    );

    // A new binary is a new inode; the hard links must move with it.
    let variant = variant_binary(dir.path());
    let ran = install(&variant, &hard);
    assert!(ran.status.success(), "{}", ran.describe());
    let new_ino = fs::metadata(bin_dir.join(NAMES[0])).unwrap().ino();
    assert_ne!(new_ino, main_ino);
    for name in &NAMES[1..] {
        assert_eq!(
            fs::metadata(bin_dir.join(name)).unwrap().ino(),
            new_ino,
            "{name}"
        );
    }
}

/// What a killed install left behind (a temporary file over an hour old) goes with the next
/// install; a younger one may belong to a run in progress and stays.
#[test]
fn install_removes_what_a_killed_install_left() {
    let dir = TempDir::new("install-stale");
    let bin_dir = dir.join("bin");
    fs::create_dir_all(&bin_dir).unwrap();
    let stale = bin_dir.join(".cloud-credential-provider.tmp-4242-0");
    let young = bin_dir.join(".cloud-credential-provider.tmp-4243-0");
    for (path, age) in [(&stale, 7200), (&young, 5)] {
        let file = fs::File::create(path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }
    let ran = install(Path::new(BIN), &["--bin-dir", path_str(&bin_dir)]);
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(
        ran.stdout
            .starts_with(&format!("removed {}\ninstalled ", stale.display())),
        "{}",
        ran.stdout
    );
    assert!(!stale.exists() && young.exists());
}

/// A config kubelet would refuse stops the install before anything is written: no bin dir,
/// no binary, no config; one error line, exit 1.
#[test]
fn config_kubelet_refuses_installs_nothing() {
    let dir = TempDir::new("install-refuse");
    let bad = dir.join("bad.yaml");
    fs::write(
        &bad,
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
    )
    .unwrap();
    let bin_dir = dir.join("bin");
    let dest = dir.join("etc/config.yaml");
    let ran = install(
        Path::new(BIN),
        &[
            "--bin-dir",
            path_str(&bin_dir),
            "--config",
            path_str(&bad),
            "--config-dest",
            path_str(&dest),
        ],
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.starts_with(&format!(
            "cloud-credential-provider: error: install: kubelet would refuse to start with {}: ",
            bad.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.trim_end().ends_with("nothing installed"),
        "{}",
        ran.stderr
    );
    assert!(!bin_dir.exists(), "bin dir created by a refused install");
    assert!(!dest.exists());
}

/// `--dry-run` says what would change and writes nothing, not even the bin dir.
#[test]
fn dry_run_writes_nothing() {
    let dir = TempDir::new("install-dry");
    let bin_dir = dir.join("bin");
    let dest = dir.join("etc/config.yaml");
    let ran = install(
        Path::new(BIN),
        &[
            "--bin-dir",
            path_str(&bin_dir),
            "--drop-in-names",
            "--config",
            "provider-config/generic.yaml",
            "--config-dest",
            path_str(&dest),
            "--dry-run",
        ],
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", ran.stdout);
    assert!(lines[0].starts_with(&format!(
        "would install {}/cloud-credential-provider (",
        bin_dir.display()
    )));
    assert_eq!(
        lines[1],
        format!(
            "would link {}/ecr-credential-provider -> cloud-credential-provider",
            bin_dir.display()
        )
    );
    assert_eq!(lines[4], format!("would write {}", dest.display()));
    assert!(!bin_dir.exists() && !dest.parent().unwrap().exists());
}

// ---- sync-docker-config ----

/// A directory kubelet keeps a Secret volume in, updated as kubelet's AtomicWriter does: each
/// version goes into a new `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed
/// over `..data`, each key is a symlink `KEY -> ..data/KEY`, and the old version is removed.
struct ProjectedVolume {
    dir: PathBuf,
    versions: u32,
}

impl ProjectedVolume {
    fn new(dir: PathBuf) -> ProjectedVolume {
        fs::create_dir_all(&dir).unwrap();
        ProjectedVolume { dir, versions: 0 }
    }

    fn update(&mut self, files: &[(&str, &[u8])]) {
        self.versions += 1;
        let old = fs::read_link(self.dir.join("..data")).ok();
        let ts = format!(
            "..2026_12_02_01_00_{:02}.{:09}",
            self.versions,
            self.versions * 7919
        );
        let ts_dir = self.dir.join(&ts);
        fs::create_dir(&ts_dir).unwrap();
        for (name, content) in files {
            fs::write(ts_dir.join(name), content).unwrap();
            fs::set_permissions(ts_dir.join(name), fs::Permissions::from_mode(0o644)).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&ts, &tmp).unwrap();
        fs::rename(&tmp, self.dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = self.dir.join(name);
            if fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(Path::new("..data").join(name), &link).unwrap();
            }
        }
        if let Some(old) = old {
            fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

fn docker_config(host: &str, user: &str, password: &str) -> Vec<u8> {
    let auth = base64_encode(format!("{user}:{password}"));
    format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}\n").into_bytes()
}

const KEY: &str = ".dockerconfigjson";

/// One look copies a valid Secret (mode 0600), a second finds nothing to do, an invalid
/// Secret leaves the node's file as it was; no password in any output.
#[test]
fn sync_once_copies_valid_secrets_only() {
    let dir = TempDir::new("sync-once");
    let mut volume = ProjectedVolume::new(dir.join("secret"));
    let password = random_token(24);
    let good = docker_config("registry.example.com", "robot", &password);
    volume.update(&[(KEY, &good)]);
    let source = dir.join("secret").join(KEY);
    let dest = dir.join("node/etc/registry-credentials.json");
    let args = [
        "sync-docker-config",
        "--source",
        path_str(&source),
        "--dest",
        path_str(&dest),
        "--once",
    ];

    let ran = run_bin(Path::new(BIN), &args);
    assert!(ran.status.success(), "{}", ran.describe());
    assert_eq!(
        ran.stderr,
        format!(
            "cloud-credential-provider: sync-docker-config: updated {} (mode 0600) from {}: 1 entry [registry.example.com]\n",
            dest.display(),
            source.display()
        )
    );
    assert_eq!(fs::read(&dest).unwrap(), good);
    assert_eq!(mode(&dest), 0o600);
    let ino = fs::metadata(&dest).unwrap().ino();

    let ran = run_bin(Path::new(BIN), &args);
    assert_eq!(
        ran.stderr,
        format!(
            "cloud-credential-provider: sync-docker-config: {} unchanged\n",
            dest.display()
        )
    );
    assert_eq!(
        fs::metadata(&dest).unwrap().ino(),
        ino,
        "rewritten though unchanged"
    );

    // Not a Docker config (auth is not base64 of user:password), holding the secret.
    let broken = format!("{{\"auths\":{{\"registry.example.com\":{{\"auth\":\"{password}\"}}}}}}");
    volume.update(&[(KEY, broken.as_bytes())]);
    let ran = run_bin(Path::new(BIN), &args);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("is not a Docker config"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("kept as it is"), "{}", ran.stderr);
    assert!(!ran.stderr.contains(&password) && !ran.stdout.contains(&password));
    assert_eq!(fs::read(&dest).unwrap(), good);
}

/// The loop follows every version kubelet projects, skips an invalid one and resumes after
/// it; it logs each change once, never a password.
#[test]
fn sync_loop_follows_secret_volume_updates() {
    let dir = TempDir::new("sync-loop");
    let mut volume = ProjectedVolume::new(dir.join("secret"));
    let source = dir.join("secret").join(KEY);
    let dest = dir.join("node/registry-credentials.json");
    let passwords: Vec<String> = (0..3).map(|_| random_token(24)).collect();
    let versions: Vec<Vec<u8>> = passwords
        .iter()
        .map(|p| docker_config("registry.example.com", "robot", p))
        .collect();
    volume.update(&[(KEY, &versions[0])]);

    let stderr_path = dir.join("stderr");
    let mut child = Command::new(BIN)
        .args([
            "sync-docker-config",
            "--source",
            path_str(&source),
            "--dest",
            path_str(&dest),
            "--interval=100ms",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let ten_s = Duration::from_secs(10);
    let became = |content: &[u8]| {
        wait_for(ten_s, "dest never became the new version", || {
            (fs::read(&dest).ok().as_deref() == Some(content)).then_some(())
        })
    };
    let logged = |what: &str, times: usize| {
        wait_for(
            ten_s,
            &format!("{what:?} never logged {times} times"),
            || {
                let log = fs::read_to_string(&stderr_path).unwrap();
                (log.matches(what).count() >= times).then_some(())
            },
        )
    };
    became(&versions[0]);
    volume.update(&[(KEY, &versions[1])]);
    became(&versions[1]);
    volume.update(&[(KEY, b"{not json")]);
    // Until the loop has looked at it (a loaded machine may delay a look well past 100 ms).
    logged("not valid JSON", 1);
    assert_eq!(
        fs::read(&dest).unwrap(),
        versions[1],
        "an invalid Secret replaced the file"
    );
    volume.update(&[(KEY, &versions[2])]);
    became(&versions[2]);
    // The log line follows the rename: wait for it before stopping the loop.
    logged(": updated ", 3);
    assert_eq!(mode(&dest), 0o600);
    let _ = child.kill();
    let _ = child.wait();

    let log = fs::read_to_string(&stderr_path).unwrap();
    for p in &passwords {
        assert!(!log.contains(p.as_str()), "password in the log: {log}");
    }
    let updated = log.lines().filter(|l| l.contains(": updated ")).count();
    let errors = log
        .lines()
        .filter(|l| l.contains("error: ") && l.contains("not valid JSON"))
        .count();
    assert_eq!((updated, errors), (3, 1), "{log}");
}
