//! `check IMAGE`: a dry run for operators.
//!
//! Answers the questions asked when a pull fails: which backend claims this image and why,
//! which identity it uses, whether credentials can be fetched right now, when they expire,
//! under which keys kubelet would see them. Secrets are never printed: a password shows as its
//! length only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::backend::{Credentials, FetchContext};
use crate::deadline::Deadline;
use crate::dispatch::{self, Settings};
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::lifetime::format_rfc3339;
use crate::protocol::{ApiVersion, Request};
use crate::secret::Secret;

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
    let facts = route.backend.describe();
    let fetched = if options.offline {
        None
    } else {
        // The same request kubelet would send for this image (v1), with the pod's token and
        // annotations when the operator supplied them.
        let request = Request {
            api_version: ApiVersion::V1,
            image: image.name(),
            service_account_token: read_token(options)?,
            service_account_annotations: options.service_account_annotations.clone(),
        };
        Some(route.backend.fetch(&FetchContext {
            image: &image,
            request: &request,
            deadline,
        }))
    };

    let mut report = Map::new();
    report.insert("image".into(), json!(image.name()));
    report.insert("registry".into(), json!(image.registry()));
    report.insert("backend".into(), json!(route.backend.kind().as_str()));
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
    let text = std::fs::read_to_string(path).map_err(|e| {
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
