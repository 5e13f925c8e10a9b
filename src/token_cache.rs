//! The on-disk token cache (`--cache-dir DIR`).
//!
//! Kubelet caches answers in memory only, per image until it has one per registry, and forgets
//! them when it restarts; concurrent first pulls of several images from one registry each exec
//! the plugin. Every one of those execs would otherwise ask the cloud for a new token. With a
//! cache directory, a token is reused by later runs until its half-life (the same point where
//! [`crate::lifetime`] tells kubelet to stop reusing it), and an unexpired token is still served
//! when a refresh fails (a metadata server hiccup must not fail pulls it has no reason to fail).
//! Runs that need the same entry at the same time fetch it once ([`lock`]).
//!
//! Only tokens with a stated expiry are cached; file credentials are re-read every run anyway.
//! An entry's name is a SHA-256 over everything that can change the answer ([`CacheKey`]), so
//! a different identity, region or pod never sees another's entry, and no secret appears in a
//! file name. The directory and its entries are trusted only when nobody else can have written
//! them ([`dir`]); anything else is a miss, replaced by the next store. A cache that cannot be
//! used is skipped with one warning, never fatal.

pub mod dir;
pub mod lock;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::backend::acr::AzureSettings;
use crate::backend::gcr::GoogleSettings;
use crate::backend::{BackendKind, Credentials};
use crate::deadline::Deadline;
use crate::dispatch::Settings;
use crate::lifetime::Lifetime;
use crate::log;
use crate::protocol::{AuthConfig, CacheKeyType, Request};
use crate::secret::Secret;
use dir::{CacheDir, Read};
pub use lock::Flight;

/// Format version of entry files; entries of another version are a miss (and replaced). 2 added
/// `backend` and `registry`, which `cache list` shows.
const VERSION: u64 = 2;

/// Environment variables that can change an answer, by prefix: the clouds' SDK and endpoint
/// settings (`AWS_PROFILE`, `AWS_ROLE_ARN`, `AZURE_CLIENT_ID`, `IDENTITY_ENDPOINT`,
/// `GCE_METADATA_HOST`, `GOOGLE_APPLICATION_CREDENTIALS`, ...) and the reference GCP plugin's
/// `KUBE_SIDECAR_*` overrides. The rest of the environment (`PATH`, `TERM`, proxies, trust
/// store) changes how a token is fetched, not whose it is, and differs between kubelet and an
/// operator's shell, where `check` must find kubelet's entry.
const KEY_ENV_PREFIXES: [&str; 9] = [
    "AWS_",
    "AZURE_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "GCE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "KUBE_SIDECAR_",
];
/// Whole names that can change an answer: `HOME` locates `~/.aws/config` and gcloud's ADC file.
const KEY_ENV_NAMES: [&str; 1] = ["HOME"];

/// Whether the environment variable `name` goes into cache keys.
pub fn key_env_var(name: &str) -> bool {
    KEY_ENV_NAMES.contains(&name) || KEY_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The part of this process's environment that goes into cache keys.
pub fn key_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v): (OsString, OsString)| {
            let k = k.into_string().ok()?;
            key_env_var(&k).then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect()
}

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

/// The inputs that decide an answer, hashed into an entry's name, with the backend and
/// registry they are for (written into the entry for `cache list`).
#[derive(Debug, Clone)]
pub struct CacheKey {
    hex: String,
    backend: BackendKind,
    registry: String,
    env_names: Vec<String>,
}

impl CacheKey {
    /// Builds the key for one request: backend, registry, the pod's token and annotations, the
    /// settings that can change the answer (see [`answer_settings`]) and `env` (see
    /// [`key_env`]; passed in so tests can vary it).
    ///
    /// Left out on purpose, because they change how a run goes but not its answer: verbosity
    /// (`-v`, `-vv`, `--v=N`), `--timeout`, `--output`, `--offline`, `--cache-dir` itself,
    /// `--static-cache-duration` (it only shapes answers without an expiry, which are never
    /// stored), the command (`get-credentials`, `check IMAGE`) and how flags are spelled
    /// (`--flag=v` or `--flag v`, `-r` or `--registry-mirror`). So turning on `-v` still hits
    /// the cache, and `check` with kubelet's flags finds kubelet's entry.
    pub fn new(
        backend: BackendKind,
        registry: &str,
        request: &Request,
        settings: &Settings,
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
        field(b"--settings--");
        for (name, value) in answer_settings(settings) {
            field(name.as_bytes());
            field(&value);
        }
        field(b"--env--");
        for (k, v) in env {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        CacheKey {
            hex,
            backend,
            registry: registry.to_string(),
            env_names: env.keys().cloned().collect(),
        }
    }

    /// The entry's file name, `<64 hex digits>.json`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.hex)
    }

    fn lock_name(&self) -> String {
        format!("{}.lock", self.hex)
    }

    /// The names (never the values) of the environment variables in the key, so `check` can
    /// say what must match kubelet's environment.
    pub fn env_names(&self) -> &[String] {
        &self.env_names
    }
}

/// The command-line settings that can change a backend's answer, as (name, value) pairs in a
/// fixed order. The structs are taken apart without `..`: a new setting does not compile until
/// someone decides here whether it changes answers.
fn answer_settings(settings: &Settings) -> Vec<(&'static str, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt as _;
    let Settings {
        docker_configs,
        plugin_config,
        static_cache: _,
        cache_dir: _,
        google,
        azure,
    } = settings;
    let GoogleSettings {
        flow,
        identity_provider,
        project_id,
        workload_identity_audience,
        fixed_keys,
    } = google;
    let AzureSettings {
        config,
        mirrors,
        sp_token_exchange,
    } = azure;
    let text = |s: &str| s.as_bytes().to_vec();
    let opt = |s: &Option<String>| s.as_deref().map_or(Vec::new(), text);
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or(Vec::new(), |p| p.as_os_str().as_bytes().to_vec())
    };
    let flag = |b: bool| vec![u8::from(b)];
    let mut out = Vec::new();
    for file in docker_configs {
        out.push(("docker-config", file.as_os_str().as_bytes().to_vec()));
    }
    out.push(("config", path(plugin_config)));
    out.push(("authFlow", text(flow.as_str())));
    out.push(("identity-provider", opt(identity_provider)));
    out.push(("project-id", opt(project_id)));
    out.push((
        "workload-identity-audience",
        opt(workload_identity_audience),
    ));
    out.push(("gcr-fixed-keys", flag(*fixed_keys)));
    out.push(("azure-config", path(config)));
    for m in mirrors {
        out.push((
            "registry-mirror",
            text(&format!("{}:{}", m.source, m.target)),
        ));
    }
    out.push(("azure-sp-token-exchange", flag(*sp_token_exchange)));
    out
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
    /// An entry this program does not trust or cannot read (a link, another owner, another
    /// mode, oversized, corrupt, another format version): the reason.
    Unusable(String),
    /// A readable entry.
    Entry(Summary),
}

/// What `purge` did.
#[derive(Debug, Default)]
pub struct Purged {
    /// Entries removed: file name and what they were (`None`: unusable).
    pub removed: Vec<(String, Option<Summary>)>,
    /// Entries kept (unexpired with `--expired`, or in use by a run fetching right now).
    pub kept: usize,
    /// Lock files and leftover temporary files removed.
    pub other_files: usize,
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
                if !self.warned.replace(true) {
                    log::warn(&format!(
                        "token cache: ignoring entry {name} in {}: {why}; it will be replaced",
                        self.path().display()
                    ));
                }
                Lookup::Miss
            }
            Read::Bytes(bytes) => match Entry::decode(&bytes, Some(key)) {
                Err(why) => {
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

    /// What the entry for `key` holds, without changing anything (for `check`).
    pub fn inspect(&self, key: &CacheKey) -> Inspection {
        self.inspect_file(&key.file_name(), Some(key))
    }

    fn inspect_file(&self, name: &str, key: Option<&CacheKey>) -> Inspection {
        match self.dir.read(name) {
            Read::Missing => Inspection::Missing,
            Read::Foreign(why) => Inspection::Unusable(why),
            Read::Bytes(bytes) => match Entry::decode(&bytes, key) {
                Ok(entry) => Inspection::Entry(entry.summary()),
                Err(why) => Inspection::Unusable(why),
            },
        }
    }

    /// Stores credentials that carry an expiry; others are not cached. Failures are logged
    /// (verbosity 1) and otherwise ignored: the answer is already in hand.
    pub fn store(&self, key: &CacheKey, credentials: &Credentials, now: SystemTime) {
        let Lifetime::ExpiresAt(expires_at) = credentials.lifetime else {
            return;
        };
        if expires_at <= now {
            return;
        }
        let text = Entry::encode(key, credentials, now, expires_at);
        if let Err(e) = self.dir.replace(&key.file_name(), text.as_bytes()) {
            log::info(1, || {
                format!(
                    "token cache: cannot write to {}: {e}",
                    self.path().display()
                )
            });
        }
    }

    /// Becomes the one run that fetches `key`'s token, or waits for the run that is doing so;
    /// see [`lock`].
    pub fn single_flight(&self, key: &CacheKey, deadline: &Deadline) -> Flight {
        lock::acquire(&self.dir, &key.lock_name(), deadline)
    }

    /// Every entry in the directory, by file name, with what it holds. Lock files and
    /// temporary files are not entries; other files are not ours and not listed.
    pub fn entries(&self) -> std::io::Result<Vec<(String, Inspection)>> {
        Ok(self
            .dir
            .names()?
            .into_iter()
            .filter(|n| entry_stem(n, ".json").is_some())
            .map(|n| {
                let inspection = self.inspect_file(&n, None);
                (n, inspection)
            })
            .collect())
    }

    /// Removes every entry, or with `expired_only` those that are expired or unusable, plus
    /// lock files nobody holds and temporary files left by killed runs. An entry whose lock is
    /// held (a run is fetching it right now) is kept: that run is about to replace it anyway.
    pub fn purge(&self, expired_only: bool, now: SystemTime) -> std::io::Result<Purged> {
        let mut purged = Purged::default();
        let names = self.dir.names()?;
        for name in &names {
            let Some(stem) = entry_stem(name, ".json") else {
                continue;
            };
            let lock_name = format!("{stem}.lock");
            let Some(lock) = self.try_lock(&lock_name) else {
                purged.kept += 1;
                continue;
            };
            let inspection = self.inspect_file(name, None);
            let remove = !expired_only
                || match &inspection {
                    Inspection::Entry(s) => s.freshness(now) == Freshness::Expired,
                    Inspection::Unusable(_) => true,
                    Inspection::Missing => false,
                };
            if remove && self.dir.remove(name).is_ok() {
                let summary = match inspection {
                    Inspection::Entry(s) => Some(s),
                    _ => None,
                };
                purged.removed.push((name.clone(), summary));
                // Removed while held, so a run waiting on it notices (see `lock`).
                if self.dir.remove(&lock_name).is_ok() {
                    purged.other_files += 1;
                }
            } else {
                purged.kept += 1;
            }
            drop(lock);
        }
        for name in &names {
            if let Some(stem) = entry_stem(name, ".lock") {
                // Only a lock whose entry never came (a fetch that failed or stored nothing);
                // the others were handled with their entries above.
                if names.contains(&format!("{stem}.json")) {
                    continue;
                }
                if let Some(lock) = self.try_lock(name) {
                    if self.dir.remove(name).is_ok() {
                        purged.other_files += 1;
                    }
                    drop(lock);
                }
            } else if is_temp(name)
                && self.dir.age(name).is_some_and(|a| a > TEMP_MAX_AGE)
                && self.dir.remove(name).is_ok()
            {
                purged.other_files += 1;
            }
        }
        Ok(purged)
    }

    /// The lock `name` if nobody holds it right now.
    fn try_lock(&self, name: &str) -> Option<lock::EntryLock> {
        match lock::acquire(&self.dir, name, &Deadline::after(Duration::ZERO)) {
            Flight::Holder { lock, .. } => Some(lock),
            _ => None,
        }
    }
}

/// Temporary files older than this belong to a run that was killed between writing and
/// renaming (a live run renames within milliseconds).
const TEMP_MAX_AGE: Duration = Duration::from_secs(60);

/// The 64-hex-digit stem of an entry (`suffix` `.json`) or lock file (`.lock`) name.
fn entry_stem<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let stem = name.strip_suffix(suffix)?;
    (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

/// `.<entry name>.<pid>.tmp`, as [`dir::CacheDir::replace`] names them.
fn is_temp(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.split_once(".json."))
        .is_some_and(|(stem, pid)| {
            entry_stem(&format!("{stem}.json"), ".json").is_some()
                && !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The one-line warning or error for a refused directory.
fn refusal(path: &Path, why: &str) -> String {
    format!(
        "token cache: not using --cache-dir {}: {why}; running without the cache",
        path.display()
    )
}

/// One cached answer on disk.
struct Entry {
    backend: String,
    registry: String,
    issued_at: SystemTime,
    expires_at: SystemTime,
    credentials: Credentials,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Entry {
    fn encode(
        key: &CacheKey,
        credentials: &Credentials,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> String {
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
            "backend": key.backend.as_str(),
            "registry": key.registry,
            "issuedAt": unix(issued_at),
            "expiresAt": unix(expires_at),
            "cacheKeyType": credentials.cache_key_type.as_str(),
            "identity": credentials.identity,
            "auth": auth,
        })
        .to_string()
    }

    /// Decodes an entry; with `key`, it must be that key's (an entry for another backend or
    /// registry under this name was not written by this program). `Err` says why not, never
    /// quoting the content.
    fn decode(bytes: &[u8], key: Option<&CacheKey>) -> Result<Entry, String> {
        let corrupt = || "it is not a valid entry (corrupt or truncated)".to_string();
        let v: Value = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
        match v.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => return Err(format!("it has format version {other}, not {VERSION}")),
            None => return Err(corrupt()),
        }
        Entry::fields(&v)
            .ok_or_else(corrupt)
            .and_then(|entry| match key {
                Some(k) if entry.backend != k.backend.as_str() || entry.registry != k.registry => {
                    Err("it holds another backend's or registry's token".into())
                }
                _ => Ok(entry),
            })
    }

    fn fields(v: &Value) -> Option<Entry> {
        let text = |name: &str| Some(v.get(name)?.as_str()?.to_string());
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
        let issued_at = time("issuedAt")?;
        let expires_at = time("expiresAt")?;
        if expires_at < issued_at {
            return None;
        }
        Some(Entry {
            backend: text("backend")?,
            registry: text("registry")?,
            issued_at,
            expires_at,
            credentials: Credentials {
                auth,
                cache_key_type,
                lifetime: Lifetime::ExpiresAt(expires_at),
                identity: text("identity")?,
            },
        })
    }

    fn summary(&self) -> Summary {
        // Half-life: the same point where kubelet is told to stop reusing the token.
        let refresh_at = self.issued_at
            + self
                .expires_at
                .duration_since(self.issued_at)
                .unwrap_or_default()
                / 2;
        Summary {
            backend: self.backend.clone(),
            registry: self.registry.clone(),
            identity: self.credentials.identity.clone(),
            issued_at: self.issued_at,
            refresh_at,
            expires_at: self.expires_at,
            auth_keys: self.credentials.auth.keys().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ApiVersion;
    use crate::test_util::TempDir;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    fn request(token: Option<&str>) -> Request {
        Request {
            api_version: ApiVersion::V1,
            image: "r.example/app".into(),
            service_account_token: token.map(|t| Secret::new(t.to_string())),
            service_account_annotations: BTreeMap::new(),
        }
    }

    fn settings(args: &[&str]) -> Settings {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        crate::cli::parse_args("cloud-credential-provider", &args)
            .unwrap()
            .settings
    }

    fn key(token: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> CacheKey {
        CacheKey::new(
            BackendKind::Ecr,
            "r.example",
            &request(token),
            &settings(args),
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

    fn open(dir: &TempDir) -> (TokenCache, PathBuf) {
        let path = dir.0.join("c");
        (TokenCache::open(&path).unwrap(), path)
    }

    fn files(path: &Path) -> Vec<String> {
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
        let k = key(Some("pod-token-value"), &[], &[]);
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
    fn every_input_changes_the_key() {
        let base = key(Some("t1"), &["--authFlow=gcr"], &[("AWS_PROFILE", "p")]).hex;
        assert_ne!(
            base,
            key(Some("t2"), &["--authFlow=gcr"], &[("AWS_PROFILE", "p")]).hex
        );
        assert_ne!(
            base,
            key(None, &["--authFlow=gcr"], &[("AWS_PROFILE", "p")]).hex
        );
        assert_ne!(
            base,
            key(
                Some("t1"),
                &["--authFlow=dockercfg"],
                &[("AWS_PROFILE", "p")]
            )
            .hex
        );
        assert_ne!(
            base,
            key(Some("t1"), &["--authFlow=gcr"], &[("AWS_PROFILE", "q")]).hex
        );
        assert_eq!(
            base,
            key(Some("t1"), &["--authFlow=gcr"], &[("AWS_PROFILE", "p")]).hex
        );
        for args in [
            &["--config=/a"][..],
            &["--docker-config=/a"],
            &["--docker-config=/a", "--docker-config=/b"],
            &["--azure-config=/a"],
            &["-r", "a.example:b.azurecr.io"],
            &["--azure-sp-token-exchange"],
            &["--gcr-fixed-keys"],
            &["--identity-provider=https://i", "--project-id=p"],
            &["--workload-identity-audience=//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x"],
        ] {
            assert_ne!(key(None, &[], &[]).hex, key(None, args, &[]).hex, "{args:?}");
        }
        // Length prefixes: moving a byte between fields gives another key.
        assert_ne!(
            key(None, &["--docker-config=ab", "--docker-config=c"], &[]).hex,
            key(None, &["--docker-config=a", "--docker-config=bc"], &[]).hex
        );
    }

    #[test]
    fn flags_that_do_not_change_the_answer_keep_the_key() {
        let base = key(None, &["get-credentials", "--authFlow=gcr"], &[]).hex;
        for args in [
            &["get-credentials", "--authFlow", "gcr", "-v"][..],
            &["--authFlow=gcr", "--v=4"],
            &["--authFlow=gcr", "-vv", "--verbose"],
            &["--authFlow=gcr", "--timeout=5s"],
            &["--authFlow=gcr", "--static-cache-duration=1m"],
            &["--authFlow=gcr", "--cache-dir=/elsewhere"],
            &["--authFlow=gcr", "-o", "json"],
            &["check", "gcr.io/p/app", "--authFlow=gcr", "--offline"],
        ] {
            assert_eq!(base, key(None, args, &[]).hex, "{args:?}");
        }
        // Spellings of one mirror flag are one setting.
        assert_eq!(
            key(None, &["-r", "a.example:b.azurecr.io"], &[]).hex,
            key(None, &["--registry-mirror=a.example:b.azurecr.io"], &[]).hex
        );
    }

    #[test]
    fn only_cloud_settings_and_home_of_the_environment_enter_the_key() {
        for name in [
            "AWS_PROFILE",
            "AWS_ROLE_ARN",
            "AZURE_CLIENT_ID",
            "IDENTITY_ENDPOINT",
            "MSI_ENDPOINT",
            "GCE_METADATA_HOST",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "KUBE_SIDECAR_CACHE_TYPE",
            "HOME",
        ] {
            assert!(key_env_var(name), "{name}");
        }
        for name in [
            "PATH",
            "TERM",
            "PWD",
            "HTTPS_PROXY",
            "SSL_CERT_FILE",
            "HOMEDIR",
        ] {
            assert!(!key_env_var(name), "{name}");
        }
        let k = key(None, &[], &[("AWS_PROFILE", "p"), ("HOME", "/root")]);
        assert_eq!(k.env_names(), ["AWS_PROFILE", "HOME"]);
    }

    #[test]
    fn untimed_credentials_and_expired_tokens_are_not_stored() {
        let dir = TempDir::new("token-cache-untimed");
        let (cache, path) = open(&dir);
        let k = key(None, &[], &[]);
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
        let k = key(None, &[], &[]);
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
            assert!(matches!(cache.inspect(&k), Inspection::Unusable(_)));
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
            &request(None),
            &settings(&[]),
            &BTreeMap::new(),
        );
        let ecr = key(None, &[], &[]);
        cache.store(&gcr, &creds(5000), at(1000));
        // Someone with our rights copies the gcr entry into the ecr entry's place.
        fs::copy(path.join(gcr.file_name()), path.join(ecr.file_name())).unwrap();
        assert_eq!(cache.lookup(&ecr, at(1000)), Lookup::Miss);
        // A truncated entry (a crash while writing without fsync) is a miss too.
        let text = fs::read(path.join(gcr.file_name())).unwrap();
        fs::write(path.join(gcr.file_name()), &text[..text.len() / 2]).unwrap();
        assert_eq!(cache.lookup(&gcr, at(1000)), Lookup::Miss);
    }

    #[test]
    fn list_and_purge_see_entries_only_and_keep_what_is_in_use() {
        let dir = TempDir::new("token-cache-purge");
        let (cache, path) = open(&dir);
        let fresh = key(Some("a"), &[], &[]);
        let expired = key(Some("b"), &[], &[]);
        let busy = key(Some("c"), &[], &[]);
        cache.store(&fresh, &creds(5000), at(1000));
        cache.store(&expired, &creds(1500), at(1000));
        cache.store(&busy, &creds(1500), at(1000));
        fs::write(path.join("README"), "not ours").unwrap();
        let temp = format!(".{}.123.tmp", fresh.file_name());
        fs::write(path.join(&temp), "x").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(path.join(&temp))
            .unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let listed = cache.entries().unwrap();
        assert_eq!(listed.len(), 3);

        let Flight::Holder { lock, .. } =
            cache.single_flight(&busy, &Deadline::after(Duration::from_secs(5)))
        else {
            panic!("lock");
        };
        let purged = cache.purge(true, at(2000)).unwrap();
        assert_eq!(purged.removed.len(), 1);
        assert_eq!(purged.removed[0].0, expired.file_name());
        assert_eq!(purged.kept, 2);
        drop(lock);
        let mut left = files(&path);
        left.retain(|n| n.ends_with(".json") || n.starts_with('.'));
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(!left.contains(&temp), "the old temporary file is gone");

        let purged = cache.purge(false, at(2000)).unwrap();
        assert_eq!(purged.removed.len(), 2);
        assert_eq!(files(&path), ["README"]);
    }
}
