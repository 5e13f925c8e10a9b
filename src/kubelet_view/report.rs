//! The report of `kubelet-view`: typed for `--output json`, rendered as aligned text
//! otherwise. It holds no secret: passwords are lengths, tokens are "sent" or not, provider
//! output is masked before it gets here ([`super::mask`]), `env` values are left out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::exec::KUBELET_TIMEOUT;
use crate::duration::format_go_duration;
use crate::pattern::go_quote;

/// Everything `kubelet-view` found, in the order kubelet would find it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The image as given.
    pub image: String,
    /// What kubelet sends the providers and matches against (`nginx` → `docker.io/library/nginx`).
    pub kubelet_image: String,
    /// `--config` (kubelet's `--image-credential-provider-config`).
    pub config: String,
    /// The files kubelet reads there, with their providers.
    pub files: Vec<FileReport>,
    /// `--bin-dir` (kubelet's `--image-credential-provider-bin-dir`).
    pub bin_dir: String,
    /// The timeout each provider run got (Go duration); kubelet's is fixed at `1m0s`.
    pub plugin_timeout: String,
    /// Why kubelet would refuse to start with this config and bin dir (it exits at the first);
    /// when not empty, no provider ran.
    pub startup_errors: Vec<String>,
    /// What `validate-config` warns about (kubelet accepts it, it does not work as meant).
    pub warnings: Vec<String>,
    /// Near misses for this image, e.g. a pattern that would match with the image's port.
    pub hints: Vec<String>,
    /// Every provider, in kubelet's order.
    pub providers: Vec<ProviderReport>,
    /// The credentials kubelet would try for the image, in its order.
    pub credentials: Vec<CredentialReport>,
    /// True when `credentials` are Docker Hub's `index.docker.io` entry (no key matched).
    pub docker_hub_fallback: bool,
    /// Assumptions and facts the verdict depends on.
    pub notes: Vec<String>,
    /// Kubelet would get credentials for the image from its providers (the exit status).
    pub ok: bool,
}

/// One file of the config.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// Its path.
    pub path: String,
    /// Its providers' names, in order.
    pub providers: Vec<String>,
}

/// What happened to one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// No `matchImages` entry matches the image: kubelet does not run it.
    NotMatched,
    /// It matches, but kubelet would not run it for this pod (service-account rules).
    Skipped,
    /// It ran and kubelet would use its answer (which may hold no credentials).
    Answered,
    /// It ran, and kubelet would use nothing from it.
    Failed,
}

/// One provider.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderReport {
    /// Its name (the executable in the bin dir).
    pub name: String,
    /// `providers[i] in FILE`.
    pub defined_at: String,
    /// See [`Outcome`].
    pub outcome: Outcome,
    /// The first `matchImages` entry that matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// Its `matchImages`, shown when none matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_images: Vec<String>,
    /// Why kubelet would skip it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunReport>,
    /// Why kubelet uses nothing from it, in this command's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The line kubelet logs for that failure (provider output masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_logs: Option<String>,
    /// The decoded answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseReport>,
    /// How kubelet caches the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheReport>,
}

/// One provider run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// argv: `bin-dir/name` and the provider's `args`.
    pub command: Vec<String>,
    /// The provider's `env` names (values are not shown: they may be secrets).
    pub env: Vec<EnvReport>,
    /// What was sent on stdin.
    pub request: RequestReport,
    /// `exit status N`, `signal: killed`, `timed out`, `could not start`.
    pub ended: String,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Bytes written to stdout.
    pub stdout_bytes: u64,
    /// Bytes written to stderr.
    pub stderr_bytes: u64,
    /// The start of stdout, masked, when it is not an answer kubelet can read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_start: Option<String>,
    /// stderr, masked, when the run failed (kubelet shows it only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

/// One `env` entry of the provider.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvReport {
    /// The variable.
    pub name: String,
    /// It replaces a value the node's environment (this process's) has.
    pub overrides_node: bool,
}

/// The request sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestReport {
    /// The provider's apiVersion.
    pub api_version: String,
    /// The image field.
    pub image: String,
    /// A service-account token was sent (never shown).
    pub service_account_token: bool,
    /// The annotations sent.
    pub service_account_annotations: BTreeMap<String, String>,
}

/// A decoded answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseReport {
    /// As sent.
    pub cache_key_type: String,
    /// As sent (Go duration), `None` when absent or null.
    pub cache_duration: Option<String>,
    /// The `auth` entries.
    pub auth: Vec<AuthReport>,
}

/// One `auth` entry of an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthReport {
    /// As sent.
    pub key: String,
    /// What kubelet files it under; `None` when kubelet cannot parse it and skips it.
    pub kubelet_key: Option<String>,
    /// Username.
    pub username: String,
    /// Password length in bytes.
    pub password_length: usize,
    /// The key matches the image under kubelet's rules.
    pub matches_image: bool,
}

/// How kubelet caches one answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// `Image`, `Registry` or `Global`.
    pub key_type: String,
    /// The base of the key: the image, its registry, or kubelet's global key.
    pub base: String,
    /// How long (Go duration); `0s` or negative means not cached.
    pub duration: String,
    /// `cacheDuration` or `defaultCacheDuration`.
    pub duration_from: &'static str,
    /// Kubelet stores the answer.
    pub cached: bool,
    /// Kubelet's binary cache key, Go-quoted; absent when it depends on the pod's service
    /// account, which this command does not know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// What else the key holds in service-account mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// What that means for later pulls.
    pub effect: String,
}

/// One credential kubelet would try.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialReport {
    /// The keyring key it matched under.
    pub key: String,
    /// The provider that answered it.
    pub provider: String,
    /// Username.
    pub username: String,
    /// Password length in bytes.
    pub password_length: usize,
}

impl Report {
    /// Pretty JSON and a newline.
    pub fn render_json(&self) -> String {
        // Strings, numbers, booleans and maps with string keys: this cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The text report: header, one block per provider, kubelet's list, the verdict.
    pub fn render_text(&self) -> String {
        let mut out = Text::default();
        out.row(
            "image:",
            &format!(
                "{} (kubelet sends {})",
                go_quote(&self.image),
                go_quote(&self.kubelet_image)
            ),
        );
        out.row("config:", &self.config);
        for file in &self.files {
            out.row(
                "",
                &format!(
                    "{}: {}",
                    file.path,
                    match file.providers.as_slice() {
                        [] => "no providers".to_string(),
                        names => names.join(", "),
                    }
                ),
            );
        }
        out.row("bin dir:", &self.bin_dir);
        let kubelet_timeout = format_go_duration(KUBELET_TIMEOUT);
        let whose = if self.plugin_timeout == kubelet_timeout {
            "kubelet's, fixed".to_string()
        } else {
            format!("--plugin-timeout; kubelet's is {kubelet_timeout}")
        };
        out.row(
            "timeout:",
            &format!("{} per provider run ({whose})", self.plugin_timeout),
        );
        if !self.startup_errors.is_empty() {
            out.line("");
            out.line(
                "kubelet would refuse to start (\"Failed to register CRI auth plugins\", at the first of these), so no provider runs:",
            );
            for e in &self.startup_errors {
                out.row("  error:", e);
            }
        }
        for provider in &self.providers {
            out.line("");
            provider.render(&mut out);
        }
        out.line("");
        if self.credentials.is_empty() {
            out.line("kubelet tries: nothing from its credential providers");
        } else {
            let how = if self.docker_hub_fallback {
                " (Docker Hub's index.docker.io entry: no key matched this Hub image)"
            } else {
                ""
            };
            out.line(&format!("kubelet tries, in this order{how}:"));
            for (i, c) in self.credentials.iter().enumerate() {
                out.line(&format!(
                    "  {}. key {} from {}: username {}, password {} bytes",
                    i + 1,
                    go_quote(&c.key),
                    go_quote(&c.provider),
                    go_quote(&c.username),
                    c.password_length
                ));
            }
        }
        for hint in &self.hints {
            out.row("hint:", hint);
        }
        for warning in &self.warnings {
            out.row("warning:", warning);
        }
        for note in &self.notes {
            out.row("note:", note);
        }
        if self.ok {
            out.line(&format!(
                "OK: kubelet gets {} for {} from its credential providers",
                plural(self.credentials.len(), "credential"),
                go_quote(&self.kubelet_image)
            ));
        } else {
            out.line(&format!(
                "NO CREDENTIALS: kubelet gets none for {} from its credential providers",
                go_quote(&self.kubelet_image)
            ));
        }
        out.0
    }
}

impl ProviderReport {
    fn render(&self, out: &mut Text) {
        out.line(&format!(
            "provider {} ({})",
            go_quote(&self.name),
            self.defined_at
        ));
        match &self.matched_by {
            Some(pattern) => out.row("  matches:", &format!("matchImages {}", go_quote(pattern))),
            None => out.row(
                "  matches:",
                &format!(
                    "no: none of {} matches; kubelet does not run it",
                    quoted_list(&self.match_images)
                ),
            ),
        }
        if let Some(why) = &self.skipped {
            out.row("  skipped:", why);
        }
        if let Some(run) = &self.run {
            run.render(out);
        }
        if let Some(response) = &self.response {
            out.row(
                "  answer:",
                &format!(
                    "cacheKeyType {}, cacheDuration {}, {}",
                    go_quote(&response.cache_key_type),
                    response
                        .cache_duration
                        .as_deref()
                        .map_or("absent".to_string(), go_quote),
                    plural(response.auth.len(), "auth entry")
                ),
            );
            for auth in &response.auth {
                let filed = match &auth.kubelet_key {
                    Some(k) if *k == auth.key => String::new(),
                    Some(k) => format!(" (kubelet key {})", go_quote(k)),
                    None => " (kubelet cannot parse this key and skips it)".to_string(),
                };
                let matches = if auth.matches_image {
                    "matches the image"
                } else {
                    "does NOT match the image"
                };
                out.row(
                    "  auth:",
                    &format!(
                        "{}{filed}: username {}, password {} bytes; {matches}",
                        go_quote(&auth.key),
                        go_quote(&auth.username),
                        auth.password_length
                    ),
                );
            }
        }
        if let Some(cache) = &self.cache {
            let key = match (&cache.cache_key, &cache.service_account) {
                (Some(key), _) => format!(", cache key {key}"),
                (None, Some(sa)) => format!(", plus {sa}"),
                (None, None) => String::new(),
            };
            out.row(
                "  cache:",
                &format!(
                    "{} {} for {} (from {}{key}): {}",
                    cache.key_type,
                    go_quote(&cache.base),
                    cache.duration,
                    cache.duration_from,
                    cache.effect
                ),
            );
        }
        if let Some(error) = &self.error {
            out.row("  FAILED:", error);
        }
        if let Some(line) = &self.kubelet_logs {
            out.row("  kubelet logs:", line);
        }
        if let Some(stderr) = self.run.as_ref().and_then(|r| r.stderr.as_deref()) {
            let mut label = "  stderr:";
            for line in stderr.lines() {
                out.row(label, &format!("| {line}"));
                label = "";
            }
        }
    }
}

impl RunReport {
    fn render(&self, out: &mut Text) {
        out.row("  runs:", &shell_words(&self.command));
        let env = if self.env.is_empty() {
            "the node's (no env in the config)".to_string()
        } else {
            let entries: Vec<String> = self
                .env
                .iter()
                .map(|e| {
                    let effect = if e.overrides_node {
                        "replaces the node's value"
                    } else {
                        "added"
                    };
                    format!("{} ({effect})", e.name)
                })
                .collect();
            format!("the node's, plus {}", entries.join(", "))
        };
        out.row("  env:", &env);
        let request = &self.request;
        let mut sent = format!(
            "{}, image {}",
            request.api_version,
            go_quote(&request.image)
        );
        if request.service_account_token {
            sent.push_str(", the service-account token");
        }
        for (k, v) in &request.service_account_annotations {
            sent.push_str(&format!(", annotation {k}={}", go_quote(v)));
        }
        out.row("  request:", &sent);
        out.row(
            "  ended:",
            &format!(
                "{} after {} ms (stdout {} bytes, stderr {} bytes)",
                self.ended, self.duration_ms, self.stdout_bytes, self.stderr_bytes
            ),
        );
        if let Some(start) = &self.stdout_start {
            out.row("  stdout:", &format!("starts with {}", go_quote(start)));
        }
    }
}

/// Lines with a label column.
#[derive(Default)]
struct Text(String);

impl Text {
    const WIDTH: usize = 15;

    fn row(&mut self, label: &str, value: &str) {
        // Continuation lines of a value keep its column.
        let indent = " ".repeat(Self::WIDTH + 1);
        let value = value.replace('\n', &format!("\n{indent}"));
        self.0
            .push_str(&format!("{label:<width$} {value}\n", width = Self::WIDTH));
    }

    fn line(&mut self, text: &str) {
        self.0.push_str(text);
        self.0.push('\n');
    }
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.strip_suffix("entry")) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}entries"),
        _ => format!("{n} {word}s"),
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| go_quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// argv as a shell would need it typed: words with nothing special bare, others single-quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        let argv = [
            "/bin/p".to_string(),
            "--a=b c".into(),
            "it's".into(),
            "".into(),
        ];
        assert_eq!(shell_words(&argv), r"/bin/p '--a=b c' 'it'\''s' ''");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "auth entry"), "1 auth entry");
        assert_eq!(plural(2, "auth entry"), "2 auth entries");
        assert_eq!(plural(0, "credential"), "0 credentials");
    }
}
