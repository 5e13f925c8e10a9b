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
//! A cache that cannot be used is skipped with one warning, never fatal. The parts:
//!
//! | module | what it holds |
//! |---|---|
//! | [`key`] | which runs may share an entry: a SHA-256 of everything that changes the answer |
//! | [`entry`] | the JSON format of one entry file |
//! | [`dir`] | the directory, trusted only when nobody else can write it; every unsafe call |
//! | [`lock`] | single flight: runs that need one entry at the same time fetch it once |
//! | [`admin`] | `cache list` / `cache purge`: the directory as a whole, for operators |

pub mod admin;
pub mod dir;
mod entry;
mod key;
pub mod lock;

use std::cell::Cell;
use std::path::Path;
use std::time::SystemTime;

use crate::backend::Credentials;
use crate::deadline::Deadline;
use crate::lifetime::Lifetime;
use crate::log;
use dir::{CacheDir, Read};
use entry::{Entry, Invalid};
pub use key::{key_env, CacheKey};
pub use lock::Flight;

/// Format version of entry files; entries of another version are a miss (and replaced). 2 added
/// `backend` and `registry`, which `cache list` shows.
const VERSION: u64 = 2;

/// Where the provider-config samples keep the cache, and where `cache list|purge` look without
/// `--cache-dir`. A tmpfs on every systemd node: tokens never reach the disk (kubelet keeps
/// Secret volumes on tmpfs for the same reason), the cache survives kubelet restarts, and a
/// reboot empties it (one fetch per registry afterwards). README "Token cache" has the why.
pub const DEFAULT_DIR: &str = "/run/cloud-credential-provider";

/// What the cache holds for a key, as the serve path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing usable.
    Miss,
    /// Before its half-life: serve without asking the cloud.
    Fresh(Credentials),
    /// Past its half-life but not expired: refresh, and serve this if the refresh fails.
    Stale(Credentials),
}

/// How an entry stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Before its half-life: served without a fetch.
    Fresh,
    /// Between half-life and expiry: refreshed, served if the refresh fails.
    Stale,
    /// Past its expiry: never served.
    Expired,
}

impl Freshness {
    /// The word in `check` and `cache list` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Expired => "expired",
        }
    }
}

/// What an entry says about itself, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Backend name (`gcr`, `ecr`, ...).
    pub backend: String,
    /// The registry (`host[:port]`).
    pub registry: String,
    /// Whose token it is (service account, role, client id); never a secret.
    pub identity: String,
    /// When it was fetched.
    pub issued_at: SystemTime,
    /// Its half-life: from then on a run refreshes it.
    pub refresh_at: SystemTime,
    /// When the token expires.
    pub expires_at: SystemTime,
    /// The `auth` keys it answers under.
    pub auth_keys: Vec<String>,
}

impl Summary {
    /// Fresh, stale or expired at `now`.
    pub fn freshness(&self, now: SystemTime) -> Freshness {
        if self.expires_at <= now {
            Freshness::Expired
        } else if now < self.refresh_at {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }
}

/// What an entry file holds, read without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// No entry.
    Missing,
    /// Something this program did not write there: a link, not a regular file, another
    /// owner, another mode, larger than any entry, or another key's entry. The reason.
    Foreign(String),
    /// A file of ours that is not a valid entry: a crash mid-write, another format version.
    /// The reason.
    Corrupt(String),
    /// A readable entry.
    Entry(Summary),
}

/// A checked cache directory, held open for the run.
#[derive(Debug)]
pub struct TokenCache {
    dir: CacheDir,
    /// Whether the run has warned about a foreign entry: a run looks its entry up twice
    /// (before and after the lock) and says so once.
    warned: Cell<bool>,
}

impl TokenCache {
    /// The cache for serving: the directory is created (mode 0700) when missing. A directory
    /// that is refused gives one warning and `None`: the run goes on without the cache.
    pub fn open(path: &Path) -> Option<TokenCache> {
        match CacheDir::open(path, true) {
            Ok(Some(dir)) => Some(TokenCache::with(dir)),
            Ok(None) => None,
            Err(why) => {
                log::warn(&refusal(path, &why));
                None
            }
        }
    }

    /// The cache for `check` and `cache list|purge`, which never create it: `Ok(None)` when the
    /// directory does not exist, `Err` with why it is refused (a clause such as "it is a
    /// symbolic link").
    pub fn open_existing(path: &Path) -> Result<Option<TokenCache>, String> {
        CacheDir::open(path, false).map(|dir| dir.map(TokenCache::with))
    }

    fn with(dir: CacheDir) -> TokenCache {
        TokenCache {
            dir,
            warned: Cell::new(false),
        }
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Looks `key` up at time `now`, for serving. An entry that is not ours is a miss with a
    /// warning (someone tampered with the cache); a corrupt one a miss noted at `-v`.
    pub fn lookup(&self, key: &CacheKey, now: SystemTime) -> Lookup {
        let name = key.file_name();
        match self.dir.read(&name) {
            Read::Missing => Lookup::Miss,
            Read::Foreign(why) => {
                self.warn_foreign(&name, &why);
                Lookup::Miss
            }
            Read::Bytes(bytes) => match Entry::decode(&bytes, Some(key)) {
                Err(Invalid::Foreign(why)) => {
                    self.warn_foreign(&name, &why);
                    Lookup::Miss
                }
                Err(Invalid::Corrupt(why)) => {
                    log::info(1, || format!("token cache: ignoring entry {name}: {why}"));
                    Lookup::Miss
                }
                Ok(entry) => match entry.summary().freshness(now) {
                    Freshness::Fresh => Lookup::Fresh(entry.credentials),
                    Freshness::Stale => Lookup::Stale(entry.credentials),
                    Freshness::Expired => Lookup::Miss,
                },
            },
        }
    }

    /// Someone else put `name` there: said once per run (a run looks its entry up twice,
    /// before and after the lock), as a warning, because it means the cache was tampered with.
    fn warn_foreign(&self, name: &str, why: &str) {
        if !self.warned.replace(true) {
            log::warn(&format!(
                "token cache: ignoring entry {name} in {}: {why}; it will be replaced",
                self.path().display()
            ));
        }
    }

    /// What the entry for `key` holds, without changing anything (for `check`).
    pub fn inspect(&self, key: &CacheKey) -> Inspection {
        self.inspect_file(&key.file_name(), Some(key))
    }

    fn inspect_file(&self, name: &str, key: Option<&CacheKey>) -> Inspection {
        match self.dir.read(name) {
            Read::Missing => Inspection::Missing,
            Read::Foreign(why) => Inspection::Foreign(why),
            Read::Bytes(bytes) => match Entry::decode(&bytes, key) {
                Ok(entry) => Inspection::Entry(entry.summary()),
                Err(invalid) => invalid.into(),
            },
        }
    }

    /// Stores credentials that carry an expiry; others are not cached. Failures are logged
    /// (verbosity 1) and otherwise ignored: the answer is already in hand. Then removes
    /// expired entries ([`TokenCache::sweep`]): a store follows a fetch, which took far longer.
    pub fn store(&self, key: &CacheKey, credentials: &Credentials, now: SystemTime) {
        let Lifetime::ExpiresAt(expires_at) = credentials.lifetime else {
            return;
        };
        if expires_at <= now {
            return;
        }
        let text = Entry::encode(key, credentials, now, expires_at);
        if let Err(e) = self
            .dir
            .replace(&key.file_name(), text.as_bytes(), expires_at)
        {
            log::info(1, || {
                format!(
                    "token cache: cannot write to {}: {e}",
                    self.path().display()
                )
            });
        }
        // Keys that are never asked for again (an old pod's token) would otherwise pile up.
        let swept = self.sweep(now);
        if swept > 0 {
            log::info(2, || format!("token cache: removed {swept} expired files"));
        }
    }

    /// Becomes the one run that fetches `key`'s token, or waits for the run that is doing so;
    /// see [`lock`].
    pub fn single_flight(&self, key: &CacheKey, deadline: &Deadline) -> Flight {
        lock::acquire(&self.dir, &key.lock_name(), deadline)
    }
}

/// The one-line warning or error for a refused directory.
fn refusal(path: &Path, why: &str) -> String {
    format!(
        "token cache: not using --cache-dir {}: {why}; running without the cache",
        path.display()
    )
}

#[cfg(test)]
pub(super) mod tests {
    //! The helpers are shared with the tests of [`super::admin`].
    use super::*;
    use crate::backend::BackendKind;
    use crate::protocol::{AuthConfig, CacheKeyType, Request};
    use crate::secret::Secret;
    use crate::settings::Settings;
    use crate::test_util::TempDir;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;
    use std::time::{Duration, UNIX_EPOCH};

    fn request(token: Option<&str>) -> Request {
        crate::backend::test_pull::request("r.example/app", token, &[])
    }

    /// The key of an ECR request for `r.example` with default settings and no environment.
    pub(super) fn key(token: Option<&str>) -> CacheKey {
        CacheKey::new(
            BackendKind::Ecr,
            "r.example",
            "",
            &request(token),
            &Settings::default(),
            &BTreeMap::new(),
        )
    }

    pub(super) fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    pub(super) fn creds(expires: u64) -> Credentials {
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

    pub(super) fn open(dir: &TempDir) -> (TokenCache, PathBuf) {
        let path = dir.0.join("c");
        (TokenCache::open(&path).unwrap(), path)
    }

    pub(super) fn files(path: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn fresh_until_half_life_then_stale_until_expiry() {
        let dir = TempDir::new("token-cache");
        let (cache, _) = open(&dir);
        let k = key(None);
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
        match cache.inspect(&k) {
            Inspection::Entry(s) => {
                assert_eq!(s.freshness(at(4600)), Freshness::Expired);
                assert_eq!(s.refresh_at, at(2800));
                assert_eq!(
                    (s.backend.as_str(), s.registry.as_str()),
                    ("ecr", "r.example")
                );
                assert_eq!(s.auth_keys, ["r.example"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_are_private_and_never_named_after_secrets() {
        let dir = TempDir::new("token-cache-mode");
        let (cache, path) = open(&dir);
        let k = key(Some("pod-token-value"));
        cache.store(&k, &creds(5000), at(1000));
        let dir_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let names = files(&path);
        assert_eq!(names.len(), 1);
        let name = &names[0];
        assert!(
            !name.contains("pod-token") && name.len() == 64 + 5,
            "{name}"
        );
        assert_eq!(
            fs::metadata(path.join(name)).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn untimed_credentials_and_expired_tokens_are_not_stored() {
        let dir = TempDir::new("token-cache-untimed");
        let (cache, path) = open(&dir);
        let k = key(None);
        let mut c = creds(5000);
        c.lifetime = Lifetime::CacheFor(Duration::from_secs(300));
        cache.store(&k, &c, at(1000));
        cache.store(&k, &creds(900), at(1000));
        assert!(files(&path).is_empty());
    }

    #[test]
    fn a_shared_directory_is_refused_and_garbage_is_a_miss() {
        let dir = TempDir::new("token-cache-shared");
        let shared = dir.0.join("c");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(TokenCache::open(&shared).is_none());
        let why = TokenCache::open_existing(&shared).unwrap_err();
        assert!(why.contains("0755") && why.contains("chmod 700"), "{why}");
        assert_eq!(fs::read_dir(&shared).unwrap().count(), 0);

        fs::set_permissions(&shared, fs::Permissions::from_mode(0o700)).unwrap();
        let cache = TokenCache::open(&shared).unwrap();
        let k = key(None);
        let entry = shared.join(k.file_name());
        for garbage in [
            "{not json",
            "",
            "{\"version\":2}",
            "{\"version\":1,\"auth\":{}}",
        ] {
            fs::write(&entry, garbage).unwrap();
            fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(cache.lookup(&k, at(1000)), Lookup::Miss, "{garbage:?}");
            assert!(
                matches!(cache.inspect(&k), Inspection::Corrupt(_)),
                "{garbage:?}"
            );
        }
        // The next store replaces it.
        cache.store(&k, &creds(5000), at(1000));
        assert_eq!(cache.lookup(&k, at(1000)), Lookup::Fresh(creds(5000)));
    }

    #[test]
    fn an_entry_of_another_key_or_truncated_is_not_served() {
        let dir = TempDir::new("token-cache-moved");
        let (cache, path) = open(&dir);
        let gcr = CacheKey::new(
            BackendKind::Gcr,
            "gcr.io",
            "",
            &request(None),
            &Settings::default(),
            &BTreeMap::new(),
        );
        let ecr = key(None);
        cache.store(&gcr, &creds(5000), at(1000));
        // Someone with our rights copies the gcr entry into the ecr entry's place.
        fs::copy(path.join(gcr.file_name()), path.join(ecr.file_name())).unwrap();
        assert_eq!(cache.lookup(&ecr, at(1000)), Lookup::Miss);
        assert!(
            matches!(cache.inspect(&ecr), Inspection::Foreign(w) if w.contains("another backend"))
        );
        // A truncated entry (a crash while writing without fsync) is a miss too.
        let text = fs::read(path.join(gcr.file_name())).unwrap();
        fs::write(path.join(gcr.file_name()), &text[..text.len() / 2]).unwrap();
        assert_eq!(cache.lookup(&gcr, at(1000)), Lookup::Miss);
    }
}
