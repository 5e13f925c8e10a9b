//! The `file` backend: credentials from Docker config files kept on the node.
//!
//! Kubelet itself reads `config.json` only from a few fixed places and containerd not at all,
//! so node-provisioned registry credentials are usually baked into the runtime config. Serving
//! them through the plugin works with any runtime, and because the files are read on every run,
//! a file kept fresh by Vault Agent or External Secrets needs no restart of anything.
//!
//! Both formats are read: `config.json` (`{"auths": {KEY: ENTRY}}`) and the legacy
//! `.dockercfg` (`{KEY: ENTRY}`). An entry gives credentials as `auth` (base64 of
//! `user:password`, which wins as in Docker and kubelet) or `username`/`password`. Keys are
//! normalised the way kubelet normalises the keys of a response (scheme and `/v1/` dropped),
//! then matched against the image with kubelet's own glob rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::lifetime::{key_type_for, Lifetime};
use crate::local_file;
use crate::log;
use crate::parse_limits;
use crate::pattern::{normalize_auth_key, Pattern};
use crate::protocol::AuthConfig;
use crate::secret::Secret;

/// Docker Hub's historical key; kubelet falls back to it for Hub images no key matched.
const HUB_LEGACY_KEY: &str = "index.docker.io";
/// The registry name Hub images carry in the request (`docker.io/library/nginx`).
const HUB_REGISTRY: &str = "docker.io";

/// One usable entry of a Docker config file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as written in the file.
    pub raw_key: String,
    /// The key after kubelet's normalisation (`host[:port][/path]`).
    pub key: String,
    /// The key as a match pattern.
    pub pattern: Pattern,
    /// The credentials.
    pub auth: AuthConfig,
}

/// A parsed Docker config file.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// Entries with a username/password, in key order.
    pub entries: Vec<Entry>,
}

impl DockerConfig {
    /// Reads a file. A missing file is `Ok(None)` with a warning: the file may not be rendered
    /// yet (Vault Agent at boot), and other images must still get their credentials. A file that
    /// exists but cannot be read or parsed is an error, which kubelet shows in its log; so is a
    /// path that is not a regular file (a FIFO, a device) or is over the size cap
    /// ([`crate::local_file`]).
    pub fn load(path: &Path) -> Result<Option<DockerConfig>> {
        let (bytes, meta) = match local_file::read_with_metadata(path) {
            Ok(read) => read,
            Err(e) if e.is_not_found() => {
                log::warn(&format!(
                    "docker config {} does not exist; serving nothing from it",
                    path.display()
                ));
                return Ok(None);
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read docker config {}: {e}",
                    path.display()
                )))
            }
        };
        warn_if_shared(path, &meta);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Config(format!("docker config {} is not UTF-8", path.display())))?;
        DockerConfig::parse(path, text)
            .map(Some)
            .map_err(|m| Error::Config(format!("docker config {}: {m}", path.display())))
    }

    /// Parses file contents. Messages name keys and fields, never credential values.
    pub fn parse(path: &Path, text: &str) -> std::result::Result<DockerConfig, String> {
        parse_limits::check_json(text)?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not valid JSON (line {} column {})", e.line(), e.column()))?;
        let Value::Object(top) = value else {
            return Err("must be a JSON object".to_string());
        };
        let auths = match top.get("auths") {
            Some(Value::Object(auths)) => auths,
            Some(_) => return Err("\"auths\" must be an object".to_string()),
            // Legacy .dockercfg: the top level is the key → entry map.
            None if top.values().all(Value::is_object) => &top,
            None => return Err("has no \"auths\" object".to_string()),
        };
        if log::enabled(1) {
            for field in ["credsStore", "credHelpers"] {
                if top.contains_key(field) {
                    log::info(1, || {
                        format!(
                            "docker config {}: {field:?} is ignored (credential helpers are not run)",
                            path.display()
                        )
                    });
                }
            }
        }
        let mut entries = Vec::new();
        for (raw_key, entry) in auths {
            let Value::Object(entry) = entry else {
                return Err(format!("entry {raw_key:?} must be an object"));
            };
            let Some(auth) = entry_credentials(raw_key, entry)? else {
                log::info(1, || {
                    format!(
                        "docker config {}: entry {raw_key:?} has no username/password \
                         (identity tokens cannot be passed to kubelet); skipped",
                        path.display()
                    )
                });
                continue;
            };
            // Kubelet skips a key it cannot parse and keeps the rest of the file; so do we.
            let Some((key, pattern)) = normalize_auth_key(raw_key)
                .and_then(|key| Pattern::parse(&key).ok().map(|p| (key, p)))
            else {
                log::warn(&format!(
                    "docker config {}: entry key {raw_key:?} is not a registry address; skipped",
                    path.display()
                ));
                continue;
            };
            entries.push(Entry {
                raw_key: raw_key.clone(),
                key,
                pattern,
                auth,
            });
        }
        Ok(DockerConfig {
            path: path.to_path_buf(),
            entries,
        })
    }
}

/// Username and password of one entry; `None` when it has neither.
fn entry_credentials(
    key: &str,
    entry: &serde_json::Map<String, Value>,
) -> std::result::Result<Option<AuthConfig>, String> {
    let text = |field: &str| match entry.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(format!("entry {key:?}: {field:?} must be a string")),
    };
    let auth = text("auth")?;
    if !auth.is_empty() {
        let decoded = base64_any_padding(auth.trim())
            .ok_or_else(|| format!("entry {key:?}: \"auth\" is not valid base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("entry {key:?}: \"auth\" does not decode to text"))?;
        let Some((user, password)) = decoded.split_once(':') else {
            return Err(format!(
                "entry {key:?}: \"auth\" must be base64 of username:password (no colon found)"
            ));
        };
        return Ok(Some(AuthConfig {
            username: user.to_string(),
            password: Secret::new(password.to_string()),
        }));
    }
    let (username, password) = (text("username")?, text("password")?);
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(AuthConfig {
        username: username.to_string(),
        password: Secret::new(password.to_string()),
    }))
}

/// Standard base64, padded or not (files written by hand often drop the padding).
fn base64_any_padding(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text).ok()
}

/// Credential files should be private to root; kubelet only shows this when the run fails,
/// `check` always shows it. `meta` is the `fstat` of the file that was read.
fn warn_if_shared(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode();
    if mode & 0o044 != 0 {
        log::warn(&format!(
            "docker config {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        ));
    }
}

/// An entry that matched an image, with the key kubelet will see.
#[derive(Debug, Clone)]
pub struct Match {
    /// The auth key to send (the normalised file key; `docker.io` for the Hub fallback).
    pub key: String,
    /// The file it came from.
    pub source: PathBuf,
    /// The file key as written.
    pub raw_key: String,
    /// The credentials.
    pub auth: AuthConfig,
}

/// Entries of `configs` that kubelet would use for `image`, in file order; for a key present
/// in several files the first file wins. Hub images fall back to `index.docker.io` entries
/// when no key matched, as kubelet does.
pub fn find_matches(configs: &[DockerConfig], image: &ImageRef) -> Vec<Match> {
    let name = image.name();
    let mut found: Vec<Match> = Vec::new();
    for config in configs {
        for entry in config.entries.iter().filter(|e| e.pattern.matches(&name)) {
            push_new_key(&mut found, &entry.key, config, entry);
        }
    }
    if found.is_empty() && image.registry() == HUB_REGISTRY {
        for config in configs {
            for entry in config.entries.iter().filter(|e| e.key == HUB_LEGACY_KEY) {
                push_new_key(&mut found, HUB_REGISTRY, config, entry);
            }
        }
    }
    found
}

/// Adds `entry` under `key` unless an earlier file already supplied that key.
fn push_new_key(found: &mut Vec<Match>, key: &str, config: &DockerConfig, entry: &Entry) {
    if !found.iter().any(|m| m.key == key) {
        found.push(Match {
            key: key.to_string(),
            source: config.path.clone(),
            raw_key: entry.raw_key.clone(),
            auth: entry.auth.clone(),
        });
    }
}

/// Serves the entries found by [`find_matches`].
#[derive(Debug, Clone)]
pub struct FileBackend {
    /// What matched, in file order.
    pub matches: Vec<Match>,
    /// How long kubelet may cache them (the files carry no expiry).
    pub cache_for: Duration,
}

impl FileBackend {
    /// Serves `matches`, which kubelet may cache for `cache_for`.
    pub fn new(matches: Vec<Match>, cache_for: Duration) -> FileBackend {
        FileBackend { matches, cache_for }
    }
}

impl Backend for FileBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::File
    }

    fn describe(&self, _ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let mut facts: Vec<(&'static str, String)> = self
            .matches
            .iter()
            .map(|m| {
                (
                    "entry",
                    format!(
                        "{:?} in {} (username {:?})",
                        m.raw_key,
                        m.source.display(),
                        m.auth.username
                    ),
                )
            })
            .collect();
        facts.push((
            "cache",
            format!(
                "no expiry in the file; kubelet may cache for {}",
                format_go_duration(self.cache_for)
            ),
        ));
        facts
    }

    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        let auth: BTreeMap<String, AuthConfig> = self
            .matches
            .iter()
            .map(|m| (m.key.clone(), m.auth.clone()))
            .collect();
        let sources: Vec<String> = {
            let mut s: Vec<String> = self
                .matches
                .iter()
                .map(|m| m.source.display().to_string())
                .collect();
            s.dedup();
            s
        };
        Ok(Credentials {
            auth,
            cache_key_type: key_type_for(self.matches.iter().map(|m| m.key.as_str())),
            lifetime: Lifetime::CacheFor(self.cache_for),
            identity: format!("docker config {}", sources.join(", ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CacheKeyType;

    fn config(text: &str) -> DockerConfig {
        DockerConfig::parse(Path::new("/test/config.json"), text).unwrap()
    }

    fn parse_error(text: &str) -> String {
        DockerConfig::parse(Path::new("/test/config.json"), text).unwrap_err()
    }

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn files_that_are_not_regular_are_errors_and_a_missing_one_is_none() {
        let dir = crate::test_util::TempDir::new("docker-config-kinds");
        assert!(DockerConfig::load(&dir.0.join("absent.json"))
            .unwrap()
            .is_none());
        for (path, what) in [
            (dir.0.clone(), "a directory"),
            (PathBuf::from("/dev/zero"), "a character device"),
        ] {
            let e = DockerConfig::load(&path).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "cannot read docker config {}: it is {what}, not a regular file",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn nesting_is_bounded_before_json_parsing() {
        let deep = format!("{{\"auths\":{}", "[".repeat(200_000));
        assert_eq!(
            parse_error(&deep),
            "it nests more than 64 levels deep (line 1), the limit for local documents"
        );
    }

    #[test]
    fn reads_auth_and_username_password_entries() {
        let c = config(&format!(
            r#"{{"auths":{{"https://reg.example/v1/":{{"auth":"{}"}},"other.example:5000":{{"username":"bob","password":"pw:with:colons"}}}}}}"#,
            b64("alice:s3cret")
        ));
        assert_eq!(c.entries.len(), 2);
        let e = c.entries.iter().find(|e| e.key == "reg.example").unwrap();
        assert_eq!(e.auth.username, "alice");
        assert_eq!(e.auth.password.expose(), "s3cret");
        let e = c
            .entries
            .iter()
            .find(|e| e.key == "other.example:5000")
            .unwrap();
        assert_eq!(e.auth.password.expose(), "pw:with:colons");
    }

    #[test]
    fn auth_field_wins_over_username_password_and_padding_is_optional() {
        let padded = b64("u:p1");
        let unpadded = padded.trim_end_matches('=').to_string();
        assert_ne!(padded, unpadded);
        let c = config(&format!(
            r#"{{"auths":{{"a.example":{{"auth":"{unpadded}","username":"x","password":"y"}}}}}}"#
        ));
        assert_eq!(c.entries[0].auth.username, "u");
        assert_eq!(c.entries[0].auth.password.expose(), "p1");
    }

    #[test]
    fn reads_legacy_dockercfg_and_skips_identity_token_entries() {
        let c = config(&format!(
            r#"{{"legacy.example":{{"auth":"{}","email":"a@b"}},"tok.example":{{"identitytoken":"x"}}}}"#,
            b64("l:p")
        ));
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].key, "legacy.example");
    }

    #[test]
    fn bad_entries_are_errors_that_do_not_quote_secrets() {
        let e = parse_error(r#"{"auths":{"a.example":{"auth":"!!!secretvalue"}}}"#);
        assert!(
            e.contains("not valid base64") && !e.contains("secretvalue"),
            "{e}"
        );
        let e = parse_error(&format!(
            r#"{{"auths":{{"a.example":{{"auth":"{}"}}}}}}"#,
            b64("nocolonsecret")
        ));
        assert!(
            e.contains("no colon") && !e.contains("nocolonsecret"),
            "{e}"
        );
        let e = parse_error(r#"{"auths":{"a.example":{"password":12345}}}"#);
        assert!(
            e.contains("\"password\" must be a string") && !e.contains("12345"),
            "{e}"
        );
        assert!(parse_error("{\"auths\": [").contains("not valid JSON"));
        assert!(parse_error("[]").contains("JSON object"));
        // Like kubelet, a key that is not an address is skipped, the rest of the file kept.
        let c = config(r#"{"auths":{"%zz":{"username":"u"},"ok.example":{"username":"v"}}}"#);
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.entries[0].key, "ok.example");
    }

    #[test]
    fn matches_with_kubelet_rules_ports_and_paths() {
        let c = config(
            r#"{"auths":{
                "reg.example":{"username":"host","password":"1"},
                "reg.example/team":{"username":"team","password":"2"},
                "reg.example:5000":{"username":"port","password":"3"},
                "*.glob.example":{"username":"glob","password":"4"}}}"#,
        );
        let configs = [c];
        let keys = |img: &str| -> Vec<String> {
            find_matches(&configs, &image(img))
                .into_iter()
                .map(|m| m.key)
                .collect()
        };
        assert_eq!(
            keys("reg.example/team/app"),
            ["reg.example", "reg.example/team"]
        );
        assert_eq!(keys("reg.example/other"), ["reg.example"]);
        assert_eq!(keys("reg.example:5000/app"), ["reg.example:5000"]);
        assert_eq!(keys("a.glob.example/x"), ["*.glob.example"]);
        assert!(keys("glob.example/x").is_empty());
        assert!(keys("reg.example:5001/app").is_empty());
    }

    #[test]
    fn first_file_wins_for_the_same_key() {
        let a = DockerConfig::parse(
            Path::new("/a.json"),
            r#"{"auths":{"r.example":{"username":"a","password":"1"}}}"#,
        )
        .unwrap();
        let b = DockerConfig::parse(
            Path::new("/b.json"),
            r#"{"auths":{"https://r.example":{"username":"b","password":"2"}}}"#,
        )
        .unwrap();
        let m = find_matches(&[a, b], &image("r.example/x"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].auth.username, "a");
        assert_eq!(m[0].source, Path::new("/a.json"));
    }

    #[test]
    fn hub_images_fall_back_to_the_legacy_index_key() {
        let c = config(
            r#"{"auths":{"https://index.docker.io/v1/":{"username":"hub","password":"p"}}}"#,
        );
        let m = find_matches(&[c], &image("nginx"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].key, "docker.io");
        assert_eq!(m[0].auth.username, "hub");
    }

    fn fetch(matches: Vec<Match>) -> Credentials {
        let backend = FileBackend {
            matches,
            cache_for: Duration::from_secs(300),
        };
        let img = image("reg.example/team/app");
        let req = crate::protocol::Request::parse(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"reg.example/team/app"}"#,
        )
        .unwrap();
        backend
            .fetch(&FetchContext {
                image: &img,
                request: &req,
                deadline: crate::deadline::Deadline::after(Duration::from_secs(1)),
            })
            .unwrap()
    }

    #[test]
    fn a_path_key_narrows_the_cache_to_the_image() {
        let c = config(
            r#"{"auths":{"reg.example":{"username":"h","password":"1"},"reg.example/team":{"username":"t","password":"2"}}}"#,
        );
        let all = find_matches(std::slice::from_ref(&c), &image("reg.example/team/app"));
        assert_eq!(fetch(all).cache_key_type, CacheKeyType::Image);
        let host_only = find_matches(&[c], &image("reg.example/other"));
        let creds = fetch(host_only);
        assert_eq!(creds.cache_key_type, CacheKeyType::Registry);
        assert_eq!(creds.lifetime, Lifetime::CacheFor(Duration::from_secs(300)));
        assert_eq!(creds.identity, "docker config /test/config.json");
    }
}
