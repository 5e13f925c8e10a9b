//! A real OCI registry on loopback that demands HTTP Basic auth, so end-to-end tests can prove
//! that the credentials the provider hands out actually pull an image.
//!
//! Debian's `docker-registry` (distribution 2.8) serves `/v2/` on `127.0.0.1:<free port>` with
//! an htpasswd (bcrypt) file; `umoci` builds a one-layer OCI image and `skopeo` pushes and pulls
//! it. Each [`TestRegistry`] has its own temp dir (storage, config, log) and its own process,
//! killed on drop. Backend tests (file, ECR, ACR, GCR) share it: start one with the user name and
//! password a fake cloud will hand out, push, run the provider, then [`TestRegistry::pull_with`]
//! what it answered.
//!
//! ```ignore
//! let reg = TestRegistry::start("AWS", &support::random_token(32));
//! reg.push_test_image("team/app");
//! // ... run the provider for reg.image("team/app") ...
//! reg.pull_with("team/app", &user, &password).expect("served credentials pull");
//! ```

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{free_port, http_get, is_root, poll, random_token, require_tool, run, TempDir};

/// How long a registry may take to answer its first `/v2/` probe.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The tag [`TestRegistry::push_test_image`] pushes and [`TestRegistry::pull_with`] pulls.
pub const TEST_TAG: &str = "latest";

/// A running `docker-registry serve` with Basic auth; killed (and its files removed) on drop.
pub struct TestRegistry {
    child: Child,
    port: u16,
    users: Vec<(String, String)>,
    /// The OCI layout of the test image, built on first push.
    image_layout: OnceLock<PathBuf>,
    pulls: AtomicU32,
    // Fields drop after `Drop::drop` has killed the process, so the files go last.
    dir: TempDir,
}

impl TestRegistry {
    /// A registry that accepts exactly `user`:`password`.
    pub fn start(user: &str, password: &str) -> TestRegistry {
        TestRegistry::start_with_users(&[(user, password)])
    }

    /// A registry that accepts each of `users` (user name, password); pushes use the first.
    /// Passwords may contain any character; user names may not contain `:`.
    pub fn start_with_users(users: &[(&str, &str)]) -> TestRegistry {
        assert!(!users.is_empty(), "a test registry needs at least one user");
        let registry_bin = require_tool("docker-registry");
        let htpasswd_bin = require_tool("htpasswd");
        let dir = TempDir::new("registry");

        let htpasswd = dir.join("htpasswd");
        for (i, (user, password)) in users.iter().enumerate() {
            assert!(!user.contains(':'), "user name {user:?} contains ':'");
            let mut cmd = Command::new(&htpasswd_bin);
            // -i: the password comes on stdin, not in the process list.
            cmd.arg("-B").arg("-i");
            if i == 0 {
                cmd.arg("-c");
            }
            cmd.arg(&htpasswd).arg(user);
            let ran = run(cmd, password.as_bytes());
            assert!(ran.status.success(), "htpasswd: {}", ran.describe());
        }

        // A realm unique to this registry: the readiness probe checks it, so a registry of
        // another test that happens to hold the port is never mistaken for ours.
        let realm = format!("ccp-test-{}", random_token(12));
        let log_path = dir.join("registry.log");
        for _attempt in 0..5 {
            // A race for the port with another process is caught by the realm check.
            let port = free_port();
            let config = dir.join("config.yml");
            fs::write(&config, registry_config(dir.path(), port, &realm))
                .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
            let log = File::create(&log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
            let mut cmd = Command::new(&registry_bin);
            cmd.arg("serve").arg(&config).current_dir(dir.path());
            // REGISTRY_* variables override the config file.
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(name);
                }
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log fd"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn docker-registry: {e}"));
            match wait_ready(&mut child, port, &realm, &log_path) {
                Ready::Yes => {
                    return TestRegistry {
                        child,
                        port,
                        users: users
                            .iter()
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                            .collect(),
                        image_layout: OnceLock::new(),
                        pulls: AtomicU32::new(0),
                        dir,
                    }
                }
                Ready::PortTaken => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Ready::No(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "docker-registry on 127.0.0.1:{port} did not come up: {why}\n--- registry log ---\n{}",
                        fs::read_to_string(&log_path).unwrap_or_default()
                    )
                }
            }
        }
        panic!("docker-registry: no free port after 5 attempts");
    }

    /// `127.0.0.1:PORT`: the registry host as it appears in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The first user's `user:password`, as skopeo's `--dest-creds` takes it.
    pub fn push_creds(&self) -> String {
        format!("{}:{}", self.users[0].0, self.users[0].1)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/<repo>`: the image string kubelet sends for this repository (protocol
    /// doc §1.3: no tag, no scheme).
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host())
    }

    /// The htpasswd file the registry authenticates against. It rereads the file, so a user
    /// written there later (a fake issuing registry users) can pull at once.
    pub fn htpasswd_file(&self) -> PathBuf {
        self.dir.join("htpasswd")
    }

    /// Everything the registry has logged so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Builds (once per registry) a tiny one-layer OCI image and pushes it as
    /// `HOST/<repo>:latest` with the first user's credentials. Returns that reference.
    pub fn push_test_image(&self, repo: &str) -> String {
        let layout = self.image_layout.get_or_init(|| self.build_test_image());
        let (user, password) = &self.users[0];
        let dest = format!("docker://{}:{TEST_TAG}", self.image(repo));
        let ran = self.skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("--dest-creds={user}:{password}"),
            &format!("oci:{}:{TEST_TAG}", layout.display()),
            &dest,
        ]);
        assert!(
            ran.status.success(),
            "push to {dest}: {}\n--- registry log ---\n{}",
            ran.describe(),
            self.log()
        );
        format!("{}:{TEST_TAG}", self.image(repo))
    }

    /// Pulls `HOST/<repo>:latest` (manifest, config and layer) with `user`:`password`, the way
    /// a container runtime would with credentials kubelet got from a provider. `Err` carries
    /// skopeo's message, e.g. `... unauthorized: authentication required`.
    pub fn pull_with(&self, repo: &str, user: &str, password: &str) -> Result<(), String> {
        self.pull(repo, &format!("--src-creds={user}:{password}"))
    }

    /// Pulls `HOST/<repo>:latest` with no credentials (this registry refuses that).
    pub fn pull_anonymously(&self, repo: &str) -> Result<(), String> {
        self.pull(repo, "--src-no-creds")
    }

    fn pull(&self, repo: &str, creds_flag: &str) -> Result<(), String> {
        let n = self.pulls.fetch_add(1, Ordering::Relaxed);
        let dest = self.dir.join(format!("pull-{n}"));
        let ran = self.skopeo(&[
            "copy",
            "--src-tls-verify=false",
            creds_flag,
            &format!("docker://{}:{TEST_TAG}", self.image(repo)),
            &format!("dir:{}", dest.display()),
        ]);
        let _ = fs::remove_dir_all(&dest);
        if ran.status.success() {
            Ok(())
        } else {
            Err(ran.stderr.trim().to_string())
        }
    }

    /// skopeo isolated from the host's containers configuration (policy, registries.conf,
    /// auth files): every test sees the same behaviour.
    pub fn skopeo(&self, args: &[&str]) -> super::Ran {
        let skopeo = require_tool("skopeo");
        let registries_d = self.dir.join("registries.d");
        let registries_conf = self.dir.join("registries.conf");
        fs::create_dir_all(&registries_d).expect("create registries.d");
        if !registries_conf.exists() {
            fs::write(&registries_conf, "").expect("write registries.conf");
        }
        let mut cmd = Command::new(skopeo);
        cmd.arg("--insecure-policy")
            .arg("--registries.d")
            .arg(&registries_d)
            .arg("--command-timeout=50s")
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", &registries_conf)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("CONTAINERS_AUTH_FILE")
            .env("TMPDIR", self.dir.path());
        run(cmd, b"")
    }

    /// `umoci init` + `umoci new` + `umoci insert` (one small file) + `umoci config`.
    fn build_test_image(&self) -> PathBuf {
        let umoci = require_tool("umoci");
        let layout = self.dir.join("oci");
        let image = format!("{}:{TEST_TAG}", layout.display());
        let content = self.dir.join("hello.txt");
        fs::write(&content, "cloud-credential-provider test image\n").expect("write layer file");
        let mut insert = vec!["insert".to_string()];
        if !is_root() {
            insert.push("--rootless".into());
        }
        insert.extend([
            "--image".into(),
            image.clone(),
            content.display().to_string(),
            "/hello.txt".into(),
        ]);
        let steps: [Vec<String>; 4] = [
            vec![
                "init".into(),
                "--layout".into(),
                layout.display().to_string(),
            ],
            vec!["new".into(), "--image".into(), image.clone()],
            insert,
            vec![
                "config".into(),
                "--image".into(),
                image,
                "--config.cmd=/hello.txt".into(),
            ],
        ];
        for step in steps {
            let mut cmd = Command::new(&umoci);
            cmd.args(&step);
            let ran = run(cmd, b"");
            assert!(ran.status.success(), "umoci {step:?}: {}", ran.describe());
        }
        layout
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET /v2/` until it answers 401 with this registry's realm.
fn wait_ready(child: &mut Child, port: u16, realm: &str, log_path: &Path) -> Ready {
    let mut last = String::from("no answer");
    let ready = poll(READY_TIMEOUT, || {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(log_path).unwrap_or_default();
            if log.contains("address already in use") {
                return Some(Ready::PortTaken);
            }
            return Some(Ready::No(format!("exited with {status}")));
        }
        match http_get(port, "/v2/").map(|(head, _)| head) {
            Ok(answer) if answer.starts_with("HTTP/1.1 401") => {
                if answer.contains(&format!("realm=\"{realm}\"")) {
                    return Some(Ready::Yes);
                }
                // Another test's registry answers on this port: ours could not bind it.
                return Some(Ready::PortTaken);
            }
            Ok(answer) => last = answer.lines().next().unwrap_or_default().to_string(),
            Err(e) => last = e,
        }
        None
    });
    ready.unwrap_or_else(|| {
        Ready::No(format!(
            "no 401 from /v2/ within {READY_TIMEOUT:?} (last: {last})"
        ))
    })
}

enum Ready {
    Yes,
    PortTaken,
    No(String),
}

/// The registry's config: storage and htpasswd inside `dir`, HTTP on loopback only.
fn registry_config(dir: &Path, port: u16, realm: &str) -> String {
    format!(
        r#"version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
auth:
  htpasswd:
    realm: {realm}
    path: {htpasswd}
"#,
        storage = yaml_str(&dir.join("storage")),
        htpasswd = yaml_str(&dir.join("htpasswd")),
        secret = random_token(32),
    )
}

/// A path as a YAML double-quoted scalar.
fn yaml_str(path: &Path) -> String {
    let s = path.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
