//! The on-disk token cache (`--cache-dir DIR`).
//!
//! Kubelet caches answers in memory only, per image until it has one per registry, and forgets
//! them when it restarts; concurrent first pulls of several images from one registry each exec
//! the plugin. Every one of those execs would otherwise ask the cloud for a new token. With a
//! cache directory, a token is reused by later runs until its half-life (the same point where
//! [`crate::lifetime`] tells kubelet to stop reusing it), and an unexpired token is still served
//! when a refresh fails (a metadata server hiccup must not fail pulls it has no reason to fail).
//!
//! Only tokens with a stated expiry are cached; file credentials are re-read every run anyway.
//! An entry's key is a SHA-256 over everything that can change the answer: backend, registry,
//! the command line, the environment, the pod's token and annotations. So a different identity,
//! region or pod never sees another's entry, and no secret appears in a file name. Files are
//! written atomically (temp file + rename), mode 0600 in a 0700 directory: the tokens at rest
//! are protected like kubelet's own state. A cache that cannot be used is skipped, never fatal.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::backend::{BackendKind, Credentials};
use crate::lifetime::Lifetime;
use crate::log;
use crate::protocol::{AuthConfig, CacheKeyType, Request};
use crate::secret::Secret;

/// Format version of entry files; entries of another version are ignored.
const VERSION: u64 = 1;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
}

/// What the cache holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing usable.
    Miss,
    /// Before its half-life: serve without asking the cloud.
    Fresh(Credentials),
    /// Past its half-life but not expired: refresh, and serve this if the refresh fails.
    Stale(Credentials),
}

/// The inputs that decide an answer, hashed into an entry's name.
#[derive(Debug, Clone)]
pub struct CacheKey(String);

impl CacheKey {
    /// Builds the key for one request. `args` and `env` are the process's command line and
    /// environment (passed in so tests can vary them).
    pub fn new(
        backend: BackendKind,
        registry: &str,
        request: &Request,
        args: &[String],
        env: &BTreeMap<String, String>,
    ) -> CacheKey {
        let mut input = Vec::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed, so no two different inputs concatenate to the same bytes.
            input.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            input.extend_from_slice(bytes);
        };
        field(&VERSION.to_be_bytes());
        field(backend.as_str().as_bytes());
        field(registry.as_bytes());
        field(
            request
                .service_account_token
                .as_ref()
                .map_or(&b""[..], |t| t.expose().as_bytes()),
        );
        for (k, v) in &request.service_account_annotations {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(b"--args--");
        for a in args {
            field(a.as_bytes());
        }
        field(b"--env--");
        for (k, v) in env {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        CacheKey(hex)
    }
}

impl TokenCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: &Path) -> TokenCache {
        TokenCache {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.0))
    }

    /// Looks `key` up at time `now`.
    pub fn lookup(&self, key: &CacheKey, now: SystemTime) -> Lookup {
        let path = self.path(key);
        let Ok(text) = fs::read_to_string(&path) else {
            return Lookup::Miss;
        };
        let Some(entry) = Entry::decode(&text) else {
            log::info(1, || {
                format!("token cache: ignoring unreadable entry {}", path.display())
            });
            return Lookup::Miss;
        };
        if entry.expires_at <= now {
            let _ = fs::remove_file(&path);
            return Lookup::Miss;
        }
        let half_life = entry.issued_at
            + entry
                .expires_at
                .duration_since(entry.issued_at)
                .unwrap_or_default()
                / 2;
        if now < half_life {
            Lookup::Fresh(entry.credentials)
        } else {
            Lookup::Stale(entry.credentials)
        }
    }

    /// Stores credentials that carry an expiry; others are not cached. Failures are logged
    /// (verbosity 1) and otherwise ignored.
    pub fn store(&self, key: &CacheKey, credentials: &Credentials, now: SystemTime) {
        let Lifetime::ExpiresAt(expires_at) = credentials.lifetime else {
            return;
        };
        if expires_at <= now {
            return;
        }
        if let Err(e) = self.write(key, &Entry::encode(credentials, now, expires_at)) {
            log::info(1, || {
                format!("token cache: cannot write to {}: {e}", self.dir.display())
            });
        }
    }

    fn write(&self, key: &CacheKey, text: &str) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        // A directory that others can enter must not hold tokens.
        let mode = fs::metadata(&self.dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "directory mode is {:o}; it must not be accessible to group or others",
                mode & 0o777
            )));
        }
        let final_path = self.path(key);
        let temp = self
            .dir
            .join(format!(".{}.{}.tmp", key.0, std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &final_path).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }
}

/// One cached answer on disk.
struct Entry {
    issued_at: SystemTime,
    expires_at: SystemTime,
    credentials: Credentials,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Entry {
    fn encode(credentials: &Credentials, issued_at: SystemTime, expires_at: SystemTime) -> String {
        let auth: serde_json::Map<String, Value> = credentials
            .auth
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    // The cache file is one of the places a password must leave its box.
                    json!({"username": a.username, "password": a.password.expose()}),
                )
            })
            .collect();
        json!({
            "version": VERSION,
            "issuedAt": unix(issued_at),
            "expiresAt": unix(expires_at),
            "cacheKeyType": credentials.cache_key_type.as_str(),
            "identity": credentials.identity,
            "auth": auth,
        })
        .to_string()
    }

    fn decode(text: &str) -> Option<Entry> {
        let v: Value = serde_json::from_str(text).ok()?;
        if v.get("version")?.as_u64()? != VERSION {
            return None;
        }
        let time = |name: &str| -> Option<SystemTime> {
            Some(UNIX_EPOCH + Duration::from_secs(v.get(name)?.as_u64()?))
        };
        let cache_key_type = match v.get("cacheKeyType")?.as_str()? {
            "Image" => CacheKeyType::Image,
            "Registry" => CacheKeyType::Registry,
            "Global" => CacheKeyType::Global,
            _ => return None,
        };
        let mut auth = BTreeMap::new();
        for (key, entry) in v.get("auth")?.as_object()? {
            auth.insert(
                key.clone(),
                AuthConfig {
                    username: entry.get("username")?.as_str()?.to_string(),
                    password: Secret::new(entry.get("password")?.as_str()?.to_string()),
                },
            );
        }
        let expires_at = time("expiresAt")?;
        Some(Entry {
            issued_at: time("issuedAt")?,
            expires_at,
            credentials: Credentials {
                auth,
                cache_key_type,
                lifetime: Lifetime::ExpiresAt(expires_at),
                identity: v.get("identity")?.as_str()?.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ApiVersion;
    use crate::test_util::TempDir;

    fn request(token: Option<&str>) -> Request {
        Request {
            api_version: ApiVersion::V1,
            image: "r.example/app".into(),
            service_account_token: token.map(|t| Secret::new(t.to_string())),
            service_account_annotations: BTreeMap::new(),
        }
    }

    fn key(token: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> CacheKey {
        CacheKey::new(
            BackendKind::Ecr,
            "r.example",
            &request(token),
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn creds(expires: u64) -> Credentials {
        let mut auth = BTreeMap::new();
        auth.insert(
            "r.example".to_string(),
            AuthConfig {
                username: "AWS".into(),
                password: Secret::new("pw".into()),
            },
        );
        Credentials {
            auth,
            cache_key_type: CacheKeyType::Registry,
            lifetime: Lifetime::ExpiresAt(at(expires)),
            identity: "role/x".into(),
        }
    }

    #[test]
    fn fresh_until_half_life_then_stale_until_expiry() {
        let dir = TempDir::new("token-cache");
        let cache = TokenCache::new(&dir.0.join("c"));
        let k = key(None, &["get-credentials"], &[]);
        assert_eq!(cache.lookup(&k, at(1000)), Lookup::Miss);
        cache.store(&k, &creds(1000 + 3600), at(1000));
        assert_eq!(
            cache.lookup(&k, at(1000 + 1799)),
            Lookup::Fresh(creds(4600))
        );
        assert_eq!(
            cache.lookup(&k, at(1000 + 1800)),
            Lookup::Stale(creds(4600))
        );
        assert_eq!(cache.lookup(&k, at(4600)), Lookup::Miss);
        // The expired entry is removed.
        assert_eq!(fs::read_dir(&cache.dir).unwrap().count(), 0);
    }

    #[test]
    fn files_are_private_and_never_named_after_secrets() {
        let dir = TempDir::new("token-cache-mode");
        let cache = TokenCache::new(&dir.0.join("c"));
        let k = key(Some("pod-token-value"), &[], &[]);
        cache.store(&k, &creds(5000), at(1000));
        let dir_mode = fs::metadata(&cache.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let entries: Vec<_> = fs::read_dir(&cache.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1);
        let name = entries[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            !name.contains("pod-token") && name.len() == 64 + 5,
            "{name}"
        );
        assert_eq!(
            fs::metadata(&entries[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = key(Some("t1"), &["--a"], &[("AWS_PROFILE", "p")]).0;
        assert_ne!(base, key(Some("t2"), &["--a"], &[("AWS_PROFILE", "p")]).0);
        assert_ne!(base, key(None, &["--a"], &[("AWS_PROFILE", "p")]).0);
        assert_ne!(base, key(Some("t1"), &["--b"], &[("AWS_PROFILE", "p")]).0);
        assert_ne!(base, key(Some("t1"), &["--a"], &[("AWS_PROFILE", "q")]).0);
        assert_eq!(base, key(Some("t1"), &["--a"], &[("AWS_PROFILE", "p")]).0);
        // Length prefixes: moving a byte between fields gives another key.
        assert_ne!(
            key(None, &["ab", "c"], &[]).0,
            key(None, &["a", "bc"], &[]).0
        );
    }

    #[test]
    fn untimed_credentials_and_expired_tokens_are_not_stored() {
        let dir = TempDir::new("token-cache-untimed");
        let cache = TokenCache::new(&dir.0.join("c"));
        let k = key(None, &[], &[]);
        let mut c = creds(5000);
        c.lifetime = Lifetime::CacheFor(Duration::from_secs(300));
        cache.store(&k, &c, at(1000));
        cache.store(&k, &creds(900), at(1000));
        assert!(!cache.dir.exists());
    }

    #[test]
    fn a_shared_directory_is_refused_and_garbage_is_a_miss() {
        let dir = TempDir::new("token-cache-shared");
        let shared = dir.0.join("c");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        let cache = TokenCache::new(&shared);
        let k = key(None, &[], &[]);
        cache.store(&k, &creds(5000), at(1000));
        assert_eq!(fs::read_dir(&shared).unwrap().count(), 0);
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(cache.path(&k), "{not json").unwrap();
        assert_eq!(cache.lookup(&k, at(1000)), Lookup::Miss);
    }
}
