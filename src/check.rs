//! `check IMAGE`: a dry run for operators.
//!
//! Answers the questions asked when a pull fails: which backend claims this image and why,
//! which identity it uses, whether credentials can be fetched right now, when they expire,
//! under which keys kubelet would see them, and with `--cache-dir` what the token cache holds
//! for the image. It runs kubelet's request pipeline ([`crate::serve::route`] and
//! [`crate::serve::answer`]), so with `--cache-dir` it reads through the token cache as a
//! kubelet run does (a fresh entry is served, a fetched token stored) and says which one
//! answered; `--offline` only reads the cache. Secrets are never printed: a password shows as
//! its length only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::backend::{BackendKind, FetchContext};
use crate::deadline::Deadline;
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::lifetime::format_rfc3339;
use crate::protocol::{ApiVersion, Request};
use crate::secret::Secret;
use crate::serve::{self, Answer};
use crate::settings::Settings;
use crate::token_cache::{key_env, CacheKey, Freshness, Inspection, TokenCache};

/// What `check` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The image as the user typed it (tags, Hub short names allowed).
    pub image: String,
    /// Only route and describe; no credential fetch.
    pub offline: bool,
    /// One JSON object instead of text.
    pub json: bool,
    /// A service-account token to send as kubelet would in pod-identity mode (file path, so the
    /// token never appears in the process list or shell history).
    pub service_account_token_file: Option<PathBuf>,
    /// Service-account annotations to send with it.
    pub service_account_annotations: BTreeMap<String, String>,
}

/// The report and whether the check passed. The report goes to stdout even on failure, so
/// the operator sees what was decided before the step that failed.
pub struct Outcome {
    /// Text or JSON for stdout.
    pub report: String,
    /// The fetch error, if any (also inside the report).
    pub error: Option<Error>,
}

/// Runs the check. Errors before routing (bad image, unreadable files) are returned as `Err`.
pub fn run(options: &CheckOptions, settings: &Settings, deadline: Deadline) -> Result<Outcome> {
    let image = ImageRef::parse(&options.image).map_err(|e| Error::Usage(format!("check: {e}")))?;
    let routed = serve::route(&image, settings)?;
    // The same request kubelet would send for this image (v1), with the pod's token and
    // annotations when the operator supplied them.
    let request = Request {
        api_version: ApiVersion::V1,
        image: image.name(),
        service_account_token: read_token(options)?,
        service_account_annotations: options.service_account_annotations.clone(),
    };
    // What the backend will do for this very request (the fetch below runs the same plan).
    let facts = routed.backend.describe(&FetchContext {
        image: &image,
        request: &request,
        deadline,
    });
    let kind = routed.backend.kind();
    // Read before the fetch, so the report shows what a run would have found.
    let cache = settings
        .cache_dir
        .as_deref()
        .map(|dir| cache_report(dir, kind, &routed.cache_scope, &image, &request, settings));
    let answered = if options.offline {
        None
    } else {
        Some(serve::answer(&routed, &image, &request, settings, deadline))
    };

    let service_account = (options.service_account_token_file.is_some()
        || !options.service_account_annotations.is_empty())
    .then(|| ServiceAccountReport {
        token_file: options
            .service_account_token_file
            .as_ref()
            .map(|p| p.display().to_string()),
        annotations: options.service_account_annotations.clone(),
    });
    let mut report = Report {
        image: image.name(),
        registry: image.registry().to_string(),
        backend: kind.as_str(),
        reason: routed.reason,
        details: facts
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
        offline: options.offline,
        service_account,
        cache,
        fetched: None,
        error: None,
    };
    let mut error = None;
    match answered {
        None => {}
        Some(Ok(answer)) => report.fetched = Some(FetchReport::of(&answer)),
        Some(Err(e)) => {
            report.error = Some(e.to_string());
            error = Some(e);
        }
    }

    let text = if options.json {
        // A struct of strings, numbers and maps with string keys: serialising cannot fail.
        let mut s = serde_json::to_string(&report).unwrap_or_default();
        s.push('\n');
        s
    } else {
        render_text(&report, &facts)
    };
    Ok(Outcome {
        report: text,
        error,
    })
}

/// The `-o json` report; [`render_text`] shows the same facts as aligned rows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// The normalised image.
    image: String,
    /// Its `host[:port]`.
    registry: String,
    /// The backend's name.
    backend: &'static str,
    /// Why the router chose it.
    reason: String,
    /// The backend's own facts, by label (`describe`).
    details: BTreeMap<String, String>,
    /// `--offline`: nothing was fetched.
    offline: bool,
    /// The pod identity sent, when the operator gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    service_account: Option<ServiceAccountReport>,
    /// With `--cache-dir`: what the token cache held before the fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<CacheReport>,
    /// What a successful fetch returned.
    #[serde(flatten)]
    fetched: Option<FetchReport>,
    /// Why the fetch failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `--service-account-token-file` and `--service-account-annotation`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccountReport {
    /// The file the token was read from (never the token).
    token_file: Option<String>,
    /// The annotations sent.
    annotations: BTreeMap<String, String>,
}

/// The credentials of a successful fetch, without secrets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FetchReport {
    /// Whom they belong to.
    identity: String,
    /// The scope kubelet may reuse them for.
    cache_key_type: &'static str,
    /// How long kubelet may reuse them (Go duration).
    cache_duration: String,
    /// The issuer's expiry, when stated (RFC 3339).
    expires_at: Option<String>,
    /// The keys kubelet indexes them under.
    auth_keys: Vec<String>,
    /// One entry per key, the password as its length only.
    credentials: Vec<CredentialReport>,
    /// `backend`, `token-cache` or `token-cache-stale` (a failed refresh served the entry).
    served_from: &'static str,
}

impl FetchReport {
    fn of(answer: &Answer) -> FetchReport {
        let creds = &answer.credentials;
        FetchReport {
            identity: creds.identity.clone(),
            cache_key_type: creds.cache_key_type.as_str(),
            cache_duration: format_go_duration(creds.lifetime.cache_duration(SystemTime::now())),
            expires_at: creds.lifetime.expires_at().map(format_rfc3339),
            auth_keys: creds.auth.keys().cloned().collect(),
            credentials: creds
                .auth
                .iter()
                .map(|(key, auth)| CredentialReport {
                    key: key.clone(),
                    username: auth.username.clone(),
                    password_length: auth.password.len(),
                })
                .collect(),
            served_from: answer.served_from.as_str(),
        }
    }
}

/// One auth entry, without its password.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialReport {
    /// The match pattern kubelet indexes it under.
    key: String,
    /// The username.
    username: String,
    /// The password's length in bytes.
    password_length: usize,
}

/// What the token cache holds for the image. `state` is `fresh`, `stale`, `expired`,
/// `missing`, `foreign`, `corrupt` (with a `reason`), `refused` (the directory; `reason`) or
/// `not-cached` (a backend whose answers are not cached). Never a secret: identity, times
/// and keys only.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheReport {
    /// `--cache-dir`.
    dir: String,
    /// See the type's docs.
    state: &'static str,
    /// Whether a run now would be served from the entry without a fetch.
    fetch_skipped: bool,
    /// Why the state is what it is, for the states that have a why.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The entry's file name in `dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// The environment variables that are part of the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_environment: Option<Vec<String>>,
    /// The entry's identity, times and keys.
    #[serde(flatten)]
    entry: Option<CacheEntryReport>,
}

/// What an entry says about itself.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheEntryReport {
    identity: String,
    issued_at: String,
    refresh_at: String,
    expires_at: String,
    auth_keys: Vec<String>,
}

/// Reads `--service-account-token-file`; whitespace around the token is dropped.
fn read_token(options: &CheckOptions) -> Result<Option<Secret<String>>> {
    options
        .service_account_token_file
        .as_deref()
        .map(|path| read_token_file("check", path))
        .transpose()
}

/// A pod's service-account token from a file (`--service-account-token-file` of `command`),
/// whitespace around it dropped: a file keeps the token out of the process list and the shell
/// history. Empty or unreadable is a usage error naming the file, never its content.
pub(crate) fn read_token_file(command: &str, path: &Path) -> Result<Secret<String>> {
    use crate::local_file::SecretFileError;
    crate::local_file::read_secret(path).map_err(|e| {
        Error::Usage(match e {
            SecretFileError::Unreadable(e) => format!(
                "{command}: cannot read --service-account-token-file {}: {e}",
                path.display()
            ),
            SecretFileError::Empty => format!(
                "{command}: --service-account-token-file {} is empty",
                path.display()
            ),
        })
    })
}

/// What the token cache holds for this image, read without writing anything: the entry a
/// kubelet run with the same flags and environment would use, its state, and whether such a
/// run would skip the fetch.
fn cache_report(
    dir: &Path,
    kind: BackendKind,
    scope: &str,
    image: &ImageRef,
    request: &Request,
    settings: &Settings,
) -> CacheReport {
    let mut out = CacheReport {
        dir: dir.display().to_string(),
        ..CacheReport::default()
    };
    if !serve::caches(kind) {
        out.state = "not-cached";
        return out;
    }
    let key = CacheKey::new(kind, image.registry(), scope, request, settings, &key_env());
    let cache = match TokenCache::open_existing(dir) {
        Ok(cache) => cache,
        Err(why) => {
            out.state = "refused";
            out.reason = Some(why);
            return out;
        }
    };
    out.file = Some(key.file_name());
    out.key_environment = Some(key.env_names().to_vec());
    let Some(cache) = cache else {
        out.state = "missing";
        out.reason = Some("the directory does not exist yet".into());
        return out;
    };
    match cache.inspect(&key) {
        Inspection::Missing => out.state = "missing",
        Inspection::Foreign(why) => {
            out.state = "foreign";
            out.reason = Some(why);
        }
        Inspection::Corrupt(why) => {
            out.state = "corrupt";
            out.reason = Some(why);
        }
        Inspection::Entry(entry) => {
            let freshness = entry.freshness(SystemTime::now());
            out.state = freshness.as_str();
            out.fetch_skipped = freshness == Freshness::Fresh;
            out.entry = Some(CacheEntryReport {
                identity: entry.identity,
                issued_at: format_rfc3339(entry.issued_at),
                refresh_at: format_rfc3339(entry.refresh_at),
                expires_at: format_rfc3339(entry.expires_at),
                auth_keys: entry.auth_keys,
            });
        }
    }
    out
}

/// The text rows of the cache report.
fn cache_rows(cache: &CacheReport) -> Vec<(&'static str, String)> {
    let entry = cache.entry.as_ref();
    let identity = entry.map_or("-", |e| e.identity.as_str());
    let refresh_at = entry.map_or("-", |e| e.refresh_at.as_str());
    let expires_at = entry.map_or("-", |e| e.expires_at.as_str());
    let reason = cache.reason.as_deref().unwrap_or("-");
    let summary = match cache.state {
        "fresh" => format!(
            "fresh until {refresh_at}, expires {expires_at} ({identity}): a run now is served \
             from it, no fetch"
        ),
        "stale" => format!(
            "stale since {refresh_at}, expires {expires_at} ({identity}): a run now fetches, \
             and serves this entry if the fetch fails"
        ),
        "expired" => format!("expired at {expires_at}: a run now fetches and replaces it"),
        "missing" if cache.reason.is_some() => {
            format!("no entry ({reason}): a run now fetches and stores one")
        }
        "missing" => "no entry: a run now fetches and stores one".to_string(),
        "foreign" => format!(
            "an entry this program did not write ({reason}): never served; a run now warns, \
             fetches and replaces it"
        ),
        "corrupt" => format!("a corrupt entry ({reason}): a run now fetches and replaces it"),
        "refused" => {
            format!("not used, the directory is refused: {reason}; runs fetch without it")
        }
        _ => "not used: only cloud tokens are cached".to_string(),
    };
    let mut rows = vec![("token cache:", summary)];
    if let Some(file) = &cache.file {
        rows.push((
            "cache entry:",
            Path::new(&cache.dir).join(file).display().to_string(),
        ));
    }
    if let Some(names) = &cache.key_environment {
        rows.push((
            "cache key env:",
            format!(
                "{} (kubelet's environment must match for this entry to be the one it uses)",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    rows
}

fn render_text(report: &Report, facts: &[(&'static str, String)]) -> String {
    // Collected first, then aligned on the longest label (backends bring their own labels).
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut line = |label: &str, value: &str| rows.push((label.to_string(), value.to_string()));
    line("image:", &report.image);
    line("registry:", &report.registry);
    line("backend:", report.backend);
    line("why:", &report.reason);
    for (label, value) in facts {
        line(&format!("{label}:"), value);
    }
    if let Some(sa) = &report.service_account {
        if let Some(file) = &sa.token_file {
            line(
                "pod token:",
                &format!("from {file} (sent as serviceAccountToken)"),
            );
        }
        for (k, v) in &sa.annotations {
            line("annotation:", &format!("{k}={v}"));
        }
    }
    if report.offline {
        line("fetch:", "skipped (--offline)");
    } else if let Some(e) = &report.error {
        line("fetch:", &format!("FAILED: {e}"));
    } else if let Some(fetched) = &report.fetched {
        match fetched.served_from {
            "backend" => line("fetch:", "ok"),
            "token-cache" => line("fetch:", "ok, served from the token cache (no fetch)"),
            _ => line(
                "fetch:",
                "ok, from the token cache's unexpired entry: the refresh failed (see stderr)",
            ),
        }
        line("identity:", &fetched.identity);
        line("expires:", fetched.expires_at.as_deref().unwrap_or("-"));
        line(
            "kubelet cache:",
            &format!("{} for {}", fetched.cache_key_type, fetched.cache_duration),
        );
        if fetched.credentials.is_empty() {
            line("auth keys:", "none (kubelet pulls anonymously)");
        }
        for entry in &fetched.credentials {
            // JSON-quoted, as the report has always shown them.
            let quoted = |s: &str| serde_json::Value::from(s).to_string();
            line(
                "auth key:",
                &format!(
                    "{} (username {}, password redacted, {} bytes)",
                    quoted(&entry.key).trim_matches('"'),
                    quoted(&entry.username),
                    entry.password_length
                ),
            );
        }
    }
    if let Some(cache) = &report.cache {
        for (label, value) in cache_rows(cache) {
            line(label, &value);
        }
    }
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$} {value}\n"))
        .collect()
}
