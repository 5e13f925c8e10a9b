//! `check IMAGE`: a dry run for operators.
//!
//! Answers the questions asked when a pull fails: which backend claims this image and why,
//! which identity it uses, whether credentials can be fetched right now, when they expire,
//! under which keys kubelet would see them, and with `--cache-dir` what the token cache holds
//! for the image (read only: `check` never writes the cache). Secrets are never printed: a
//! password shows as its length only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::backend::{self, BackendKind, Credentials, FetchContext};
use crate::deadline::Deadline;
use crate::dispatch;
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::lifetime::format_rfc3339;
use crate::protocol::{ApiVersion, Request};
use crate::secret::Secret;
use crate::serve;
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
    let route = dispatch::route(&image, settings)?;
    let backend = backend::build(route.target, settings);
    let facts = backend.describe();
    // The same request kubelet would send for this image (v1), with the pod's token and
    // annotations when the operator supplied them.
    let request = Request {
        api_version: ApiVersion::V1,
        image: image.name(),
        service_account_token: read_token(options)?,
        service_account_annotations: options.service_account_annotations.clone(),
    };
    // Read before the fetch, so the report shows what a run would have found.
    let cache = settings
        .cache_dir
        .as_deref()
        .map(|dir| cache_report(dir, backend.kind(), &image, &request, settings));
    let fetched = if options.offline {
        None
    } else {
        Some(backend.fetch(&FetchContext {
            image: &image,
            request: &request,
            deadline,
        }))
    };

    let mut report = Map::new();
    report.insert("image".into(), json!(image.name()));
    report.insert("registry".into(), json!(image.registry()));
    report.insert("backend".into(), json!(backend.kind().as_str()));
    report.insert("reason".into(), json!(route.reason));
    let details: Map<String, Value> = facts
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    report.insert("details".into(), Value::Object(details));
    report.insert("offline".into(), json!(options.offline));
    if options.service_account_token_file.is_some()
        || !options.service_account_annotations.is_empty()
    {
        report.insert(
            "serviceAccount".into(),
            json!({
                "tokenFile": options.service_account_token_file.as_ref().map(|p| p.display().to_string()),
                "annotations": options.service_account_annotations,
            }),
        );
    }

    if let Some(cache) = cache {
        report.insert("cache".into(), cache);
    }

    let mut error = None;
    match fetched {
        None => {}
        Some(Ok(creds)) => describe_credentials(&creds, &mut report),
        Some(Err(e)) => {
            report.insert("error".into(), json!(e.to_string()));
            error = Some(e);
        }
    }

    let text = if options.json {
        let mut s = Value::Object(report).to_string();
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

/// Reads `--service-account-token-file`; whitespace around the token is dropped.
fn read_token(options: &CheckOptions) -> Result<Option<Secret<String>>> {
    let Some(path) = &options.service_account_token_file else {
        return Ok(None);
    };
    let text = crate::local_file::read_text(path).map_err(|e| {
        Error::Usage(format!(
            "check: cannot read --service-account-token-file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "check: --service-account-token-file {} is empty",
            path.display()
        )));
    }
    Ok(Some(Secret::new(token.to_string())))
}

/// What the token cache holds for this image, read without writing anything: the entry a
/// kubelet run with the same flags and environment would use, its state, and whether such a
/// run would skip the fetch (`fetchSkipped`). Never a secret: identity, times and keys only.
/// `state` is `fresh`, `stale`, `expired`, `missing`, `foreign`, `corrupt` (with a `reason`),
/// `refused` (the directory; `reason`) or `not-cached` (a backend whose answers are not cached).
fn cache_report(
    dir: &Path,
    kind: BackendKind,
    image: &ImageRef,
    request: &Request,
    settings: &Settings,
) -> Value {
    let mut out = Map::new();
    out.insert("dir".into(), json!(dir.display().to_string()));
    fn set(out: &mut Map<String, Value>, state: &str, skipped: bool) {
        out.insert("state".into(), json!(state));
        out.insert("fetchSkipped".into(), json!(skipped));
    }
    if !serve::caches(kind) {
        set(&mut out, "not-cached", false);
        return Value::Object(out);
    }
    let key = CacheKey::new(kind, image.registry(), request, settings, &key_env());
    let cache = match TokenCache::open_existing(dir) {
        Ok(cache) => cache,
        Err(why) => {
            set(&mut out, "refused", false);
            out.insert("reason".into(), json!(why));
            return Value::Object(out);
        }
    };
    out.insert("file".into(), json!(key.file_name()));
    out.insert("keyEnvironment".into(), json!(key.env_names()));
    let Some(cache) = cache else {
        set(&mut out, "missing", false);
        out.insert("reason".into(), json!("the directory does not exist yet"));
        return Value::Object(out);
    };
    match cache.inspect(&key) {
        Inspection::Missing => set(&mut out, "missing", false),
        Inspection::Foreign(why) => {
            set(&mut out, "foreign", false);
            out.insert("reason".into(), json!(why));
        }
        Inspection::Corrupt(why) => {
            set(&mut out, "corrupt", false);
            out.insert("reason".into(), json!(why));
        }
        Inspection::Entry(entry) => {
            let freshness = entry.freshness(SystemTime::now());
            set(&mut out, freshness.as_str(), freshness == Freshness::Fresh);
            out.insert("identity".into(), json!(entry.identity));
            out.insert("issuedAt".into(), json!(format_rfc3339(entry.issued_at)));
            out.insert("refreshAt".into(), json!(format_rfc3339(entry.refresh_at)));
            out.insert("expiresAt".into(), json!(format_rfc3339(entry.expires_at)));
            out.insert("authKeys".into(), json!(entry.auth_keys));
        }
    }
    Value::Object(out)
}

/// The text rows of the cache report.
fn cache_rows(cache: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let get = |k: &str| cache.get(k).and_then(Value::as_str).unwrap_or("-");
    let summary = match get("state") {
        "fresh" => format!(
            "fresh until {}, expires {} ({}): a run now is served from it, no fetch",
            get("refreshAt"),
            get("expiresAt"),
            get("identity")
        ),
        "stale" => format!(
            "stale since {}, expires {} ({}): a run now fetches, and serves this entry if \
             the fetch fails",
            get("refreshAt"),
            get("expiresAt"),
            get("identity")
        ),
        "expired" => format!(
            "expired at {}: a run now fetches and replaces it",
            get("expiresAt")
        ),
        "missing" if cache.contains_key("reason") => format!(
            "no entry ({}): a run now fetches and stores one",
            get("reason")
        ),
        "missing" => "no entry: a run now fetches and stores one".to_string(),
        "foreign" => format!(
            "an entry this program did not write ({}): never served; a run now warns, \
             fetches and replaces it",
            get("reason")
        ),
        "corrupt" => format!(
            "a corrupt entry ({}): a run now fetches and replaces it",
            get("reason")
        ),
        "refused" => format!(
            "not used, the directory is refused: {}; runs fetch without it",
            get("reason")
        ),
        _ => "not used: only cloud tokens are cached".to_string(),
    };
    let mut rows = vec![("token cache:", summary)];
    if cache.contains_key("file") {
        rows.push((
            "cache entry:",
            Path::new(get("dir"))
                .join(get("file"))
                .display()
                .to_string(),
        ));
    }
    if let Some(Value::Array(names)) = cache.get("keyEnvironment") {
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
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

fn describe_credentials(creds: &Credentials, report: &mut Map<String, Value>) {
    let now = SystemTime::now();
    report.insert("identity".into(), json!(creds.identity));
    report.insert("cacheKeyType".into(), json!(creds.cache_key_type.as_str()));
    report.insert(
        "cacheDuration".into(),
        json!(format_go_duration(creds.lifetime.cache_duration(now))),
    );
    report.insert(
        "expiresAt".into(),
        creds
            .lifetime
            .expires_at()
            .map_or(Value::Null, |t| json!(format_rfc3339(t))),
    );
    report.insert(
        "authKeys".into(),
        json!(creds.auth.keys().collect::<Vec<_>>()),
    );
    let entries: Vec<Value> = creds
        .auth
        .iter()
        .map(|(key, auth)| {
            json!({
                "key": key,
                "username": auth.username,
                "passwordLength": auth.password.len(),
            })
        })
        .collect();
    report.insert("credentials".into(), Value::Array(entries));
}

fn render_text(report: &Map<String, Value>, facts: &[(&'static str, String)]) -> String {
    let field = |name: &str| match report.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_string(),
        Some(other) => other.to_string(),
    };
    // Collected first, then aligned on the longest label (backends bring their own labels).
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut line = |label: &str, value: &str| rows.push((label.to_string(), value.to_string()));
    line("image:", &field("image"));
    line("registry:", &field("registry"));
    line("backend:", &field("backend"));
    line("why:", &field("reason"));
    for (label, value) in facts {
        line(&format!("{label}:"), value);
    }
    if let Some(Value::Object(sa)) = report.get("serviceAccount") {
        if let Some(Value::String(file)) = sa.get("tokenFile") {
            line(
                "pod token:",
                &format!("from {file} (sent as serviceAccountToken)"),
            );
        }
        if let Some(Value::Object(annotations)) = sa.get("annotations") {
            for (k, v) in annotations {
                line(
                    "annotation:",
                    &format!("{k}={}", v.as_str().unwrap_or_default()),
                );
            }
        }
    }
    if report.get("offline") == Some(&Value::Bool(true)) {
        line("fetch:", "skipped (--offline)");
    } else if let Some(Value::String(e)) = report.get("error") {
        line("fetch:", &format!("FAILED: {e}"));
    } else {
        line("fetch:", "ok");
        line("identity:", &field("identity"));
        line("expires:", &field("expiresAt"));
        line(
            "kubelet cache:",
            &format!("{} for {}", field("cacheKeyType"), field("cacheDuration")),
        );
        match report.get("credentials") {
            Some(Value::Array(entries)) if !entries.is_empty() => {
                for entry in entries {
                    let get = |k: &str| entry.get(k).map(|v| v.to_string()).unwrap_or_default();
                    line(
                        "auth key:",
                        &format!(
                            "{} (username {}, password redacted, {} bytes)",
                            get("key").trim_matches('"'),
                            get("username"),
                            get("passwordLength")
                        ),
                    );
                }
            }
            _ => line("auth keys:", "none (kubelet pulls anonymously)"),
        }
    }
    if let Some(Value::Object(cache)) = report.get("cache") {
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
