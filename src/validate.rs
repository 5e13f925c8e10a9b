//! `validate-config`: would kubelet start with this credential provider config, and would it
//! work once started?
//!
//! A bad `--image-credential-provider-config` stops kubelet from starting (k3s-io/k3s#14039),
//! and a config kubelet accepts can still never match an image (`host/*` patterns,
//! kubernetes-sigs/kind#4185) or never reach the right registry (a pattern without the port,
//! nutanix CAREN PR #724). So the report has two tiers:
//!
//! - **errors** — exactly what kubelet refuses: the loader's errors ([`crate::kubelet_config`]:
//!   the file, the field and its line and column) and kubelet's `validateCredentialProviderConfig`
//!   rules, worded as kubelet words them so the text matches the kubelet log, followed by where
//!   in which file the problem is;
//! - **warnings** — what kubelet accepts but can never work: dead patterns, port-less
//!   patterns for hosts that always carry a port, a zero `defaultCacheDuration`, and, for
//!   providers that run this binary, args it would refuse and annotation keys it never reads.
//!
//! Kubelet's behaviour also depends on the `KubeletServiceAccountTokenForCredentialProviders`
//! feature gate, which a file cannot show: we assume its 1.34 default (on) and say so.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::annotations;
use crate::cli;
use crate::duration::{format_go_nanos, parse_go_duration};
use crate::error::Error;
use crate::image::ImageRef;
use crate::kubelet_config::{
    self, ConfigError, Loaded, Provider, TokenAttributes, PROVIDER_API_VERSIONS,
    PROVIDER_API_VERSION_V1,
};
use crate::pattern::{go_quote, Pattern};

mod vault_rules;

/// The feature gate that turns service-account token mode (and `tokenAttributes`) on.
pub const SA_TOKEN_FEATURE_GATE: &str = "KubeletServiceAccountTokenForCredentialProviders";

/// `tokenAttributes.cacheType` values kubelet accepts, sorted as kubelet lists them.
const CACHE_TYPES: &[&str] = &["ServiceAccount", "Token"];

/// One violated kubelet validation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Index into the provider list given to [`kubelet_field_errors`]; `None` for rules about
    /// the whole config.
    pub provider: Option<usize>,
    /// Kubelet's text, e.g. `providers.apiVersion: Required value`. Kubelet's field paths have
    /// no index (`providers.name`, not `providers[0].name`); the index is in `provider`.
    pub message: String,
}

/// Kubelet's `validateCredentialProviderConfig` over the merged provider list, in kubelet's
/// order. `sa_token_gate` is the state of [`SA_TOKEN_FEATURE_GATE`].
pub fn kubelet_field_errors(providers: &[Provider], sa_token_gate: bool) -> Vec<FieldError> {
    let mut errors = ErrorList::default();
    if providers.is_empty() {
        errors.required("providers", "at least 1 item in plugins is required");
    }
    let mut names = HashSet::new();
    for (index, provider) in providers.iter().enumerate() {
        errors.provider = Some(index);
        check_provider(provider, !names.insert(provider.name.as_str()), &mut errors);
        if let Some(ta) = &provider.token_attributes {
            check_token_attributes(ta, &provider.api_version, sa_token_gate, &mut errors);
        }
    }
    errors.errors
}

/// Kubelet's rules for one provider's own fields; `repeated`: an earlier provider has its name.
fn check_provider(provider: &Provider, repeated: bool, errors: &mut ErrorList) {
    let name = &provider.name;
    for (broken, why) in [
        (name.contains('/'), "provider name cannot contain '/'"),
        (name.contains(' '), "provider name cannot contain spaces"),
        (name == ".", "provider name cannot be '.'"),
        (name == "..", "provider name cannot be '..'"),
    ] {
        if broken {
            errors.invalid("providers.name", &go_quote(name), why);
        }
    }
    if repeated {
        errors.duplicate("providers.name", name);
    }
    let version = &provider.api_version;
    errors.one_of("providers.apiVersion", version, PROVIDER_API_VERSIONS, "");
    if provider.match_images.is_empty() {
        let why = "at least 1 item in matchImages is required";
        errors.required("providers.matchImages", why);
    }
    for pattern in &provider.match_images {
        if let Err(e) = Pattern::parse(pattern) {
            let why = format!("match image is invalid: {e}");
            errors.invalid("providers.matchImages", &go_quote(pattern), &why);
        }
    }
    let duration = provider.default_cache_duration.as_deref();
    match duration.map(parse_go_duration) {
        None => errors.required("providers.defaultCacheDuration", ""),
        Some(Ok(nanos)) if nanos < 0 => errors.invalid(
            "providers.defaultCacheDuration",
            &format_go_nanos(nanos),
            // Kubelet 1.34's wording; later releases drop the leading field name.
            "defaultCacheDuration must be greater than or equal to 0",
        ),
        // Decoding refuses unparsable text, so Err only arises for hand-built values.
        Some(_) => {}
    }
}

/// Kubelet's rules for a provider's `tokenAttributes`; `api_version` is the provider's.
fn check_token_attributes(
    ta: &TokenAttributes,
    api_version: &str,
    gate: bool,
    errors: &mut ErrorList,
) {
    const PATH: &str = "providers.tokenAttributes";
    let field = |name: &str| format!("{PATH}.{name}");
    let required_keys = &ta.required_service_account_annotation_keys;
    let optional_keys = &ta.optional_service_account_annotation_keys;
    if !gate {
        errors.forbidden(PATH, &format!("tokenAttributes is not supported when {SA_TOKEN_FEATURE_GATE} feature gate is disabled"));
    }
    if ta.service_account_token_audience.is_empty() {
        errors.required(&field("serviceAccountTokenAudience"), "");
    }
    if ta.require_service_account.is_none() {
        errors.required(&field("requireServiceAccount"), "");
    }
    if api_version != PROVIDER_API_VERSION_V1 {
        errors.forbidden(
            PATH,
            &format!("tokenAttributes is only supported for {PROVIDER_API_VERSION_V1} API version"),
        );
    }
    if ta.require_service_account == Some(false) && !required_keys.is_empty() {
        errors.forbidden(&field("requiredServiceAccountAnnotationKeys"), "requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set");
    }
    // validateServiceAccountAnnotationKeys: qualified names (checked lower-cased, as
    // annotation keys are), no repeats.
    for (list, keys) in [("required", required_keys), ("optional", optional_keys)] {
        let list = field(&format!("{list}ServiceAccountAnnotationKeys"));
        let mut seen = HashSet::new();
        for key in keys {
            for message in qualified_name_errors(&key.to_lowercase()) {
                errors.invalid(&list, &go_quote(key), &message);
            }
            if !seen.insert(key) {
                errors.duplicate(&list, key);
            }
        }
    }
    let required: HashSet<&String> = required_keys.iter().collect();
    let both: BTreeSet<String> = optional_keys
        .iter()
        .filter(|k| required.contains(k))
        .map(|k| go_quote(k))
        .collect();
    if !both.is_empty() {
        // Go prints the []string with %#v.
        let shown = format!("[]string{{{}}}", Vec::from_iter(both).join(", "));
        errors.invalid(
            PATH,
            &shown,
            "annotation keys cannot be both required and optional",
        );
    }
    let why = format!(
        "cacheType is required to be set when tokenAttributes is specified. Supported values are: {}",
        CACHE_TYPES.join(", ")
    );
    errors.one_of(&field("cacheType"), &ta.cache_type, CACHE_TYPES, &why);
}

/// Kubelet's `field.ErrorList`: each method appends the text of the `field` constructor of
/// the same name, so the messages are kubelet's own.
#[derive(Default)]
struct ErrorList {
    errors: Vec<FieldError>,
    /// The provider the rules being checked are about.
    provider: Option<usize>,
}

impl ErrorList {
    fn push(&mut self, message: String) {
        let provider = self.provider;
        self.errors.push(FieldError { provider, message });
    }

    /// `field.Invalid`; `shown` is the bad value already formatted the way Go prints it.
    fn invalid(&mut self, field: &str, shown: &str, detail: &str) {
        self.push(format!("{field}: Invalid value: {shown}: {detail}"));
    }

    /// `field.Required`; Go leaves out an empty detail.
    fn required(&mut self, field: &str, detail: &str) {
        self.push(match detail {
            "" => format!("{field}: Required value"),
            _ => format!("{field}: Required value: {detail}"),
        });
    }

    fn forbidden(&mut self, field: &str, detail: &str) {
        self.push(format!("{field}: Forbidden: {detail}"));
    }

    fn duplicate(&mut self, field: &str, value: &str) {
        self.push(format!("{field}: Duplicate value: {}", go_quote(value)));
    }

    /// A field that must hold one of `supported`: `field.Required` (with `detail`) when it
    /// is empty, `field.NotSupported` when it holds anything else.
    fn one_of(&mut self, field: &str, value: &str, supported: &[&str], detail: &str) {
        if value.is_empty() {
            self.required(field, detail);
        } else if !supported.contains(&value) {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            self.push(format!(
                "{field}: Unsupported value: {}: supported values: {}",
                go_quote(value),
                quoted.join(", ")
            ));
        }
    }
}

/// apimachinery's message for a name part that is not `[A-Za-z0-9][-A-Za-z0-9_.]*` ending in
/// an alphanumeric (its `RegexError` text, double spaces included).
const QUALIFIED_NAME_ERROR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// apimachinery's message for a prefix that is not a lowercase RFC 1123 subdomain.
const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// apimachinery's `IsQualifiedName`: `[prefix/]name`, the prefix a DNS subdomain of at most
/// 253 characters, the name at most 63.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let (prefix, name) = match value.split('/').collect::<Vec<_>>()[..] {
        [name] => (None, name),
        [prefix, name] => (Some(prefix), name),
        _ => return vec![format!("a qualified name {QUALIFIED_NAME_ERROR} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")],
    };
    let mut errors = Vec::new();
    match prefix {
        Some("") => errors.push("prefix part must be non-empty".to_string()),
        Some(prefix) => {
            if prefix.len() > 253 {
                errors.push("prefix part must be no more than 253 characters".to_string());
            }
            if !prefix.split('.').all(is_dns1123_label) {
                errors.push(format!("prefix part {DNS1123_SUBDOMAIN_ERROR}"));
            }
        }
        None => {}
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_string());
    }
    let inner = |b: &u8| b.is_ascii_alphanumeric() || b"-_.".contains(b);
    if !edged(name, u8::is_ascii_alphanumeric, inner) {
        errors.push(format!("name part {QUALIFIED_NAME_ERROR}"));
    }
    errors
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, one label of a DNS-1123 subdomain (of any length: the
/// subdomain regex does not bound labels).
fn is_dns1123_label(label: &str) -> bool {
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    edged(label, edge, |b| edge(b) || *b == b'-')
}

/// Whether `s` is non-empty, starts and ends with an `edge` byte and has only `edge` or
/// `inner` bytes: the shape of apimachinery's name regexes.
fn edged(s: &str, edge: impl Fn(&u8) -> bool, inner: impl Fn(&u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    bytes.first().is_some_and(&edge)
        && bytes.last().is_some_and(&edge)
        && bytes.iter().all(|b| edge(b) || inner(b))
}

/// How one `--image` fares against the config (an entry of `--output json`'s `images`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
    /// The image as the user wrote it.
    pub image: String,
    /// What kubelet sends plugins and matches patterns against (`nginx` →
    /// `docker.io/library/nginx`); `None` when the reference does not parse.
    pub kubelet_image: Option<String>,
    /// Why the reference does not parse.
    pub error: Option<String>,
    /// Providers whose patterns match, in config order (kubelet runs every one of them).
    pub matches: Vec<ImageMatch>,
    /// Near misses worth knowing, e.g. a pattern that would match if it listed the port.
    pub hints: Vec<String>,
}

/// A provider pattern that matches an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageMatch {
    /// Provider name.
    pub provider: String,
    /// The first of its `matchImages` entries that matches.
    pub pattern: String,
}

/// The outcome of `validate-config`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files read, in kubelet's order.
    pub files: Vec<PathBuf>,
    /// Everything that makes kubelet refuse to start; kubelet's wording first, then where.
    pub errors: Vec<String>,
    /// What kubelet accepts but will not work as intended.
    pub warnings: Vec<String>,
    /// Assumptions behind the verdict (feature gate, kubelet version).
    pub notes: Vec<String>,
    /// One entry per `--image`.
    pub image_results: Vec<ImageResult>,
    /// Providers decoded (across all files).
    pub provider_count: usize,
    /// The error kubelet would log before exiting (`"Failed to register CRI auth plugins"
    /// err=…`), or `None` when it would start. Validation errors are in kubelet's words; a
    /// file that does not decode is described in this reader's (same file, same field).
    pub kubelet_error: Option<String>,
    /// One summary line per file (or for the path when no file could be listed).
    file_lines: Vec<String>,
}

impl Report {
    /// True when kubelet would start with this config (warnings do not count).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Human-readable report, one finding per line, ending with the verdict.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut line = |prefix: &str, text: &str| {
            // One finding per line even if a message quotes text with a line break.
            out.push_str(&format!("{prefix}{}\n", text.replace('\n', "\n    ")));
        };
        let sections = [
            ("config: ", &self.file_lines),
            ("note: ", &self.notes),
            ("error: ", &self.errors),
            ("warning: ", &self.warnings),
        ];
        for (prefix, texts) in sections {
            texts.iter().for_each(|text| line(prefix, text));
        }
        for result in &self.image_results {
            line("image ", &image_line(result));
            result.hints.iter().for_each(|hint| line("  hint: ", hint));
        }
        if let Some(err) = &self.kubelet_error {
            let logged = format!(
                "\"Failed to register CRI auth plugins\" err={}",
                go_quote(err)
            );
            line("kubelet would log: ", &logged);
        }
        if self.is_ok() {
            let count = plural(self.provider_count, "provider");
            out.push_str(&format!("OK: {count}, kubelet would accept this config\n"));
        } else {
            let count = plural(self.errors.len(), "error");
            out.push_str(&format!("FAILED: kubelet would refuse to start: {count}\n"));
        }
        out
    }

    /// The same report as one JSON object (pretty-printed, trailing newline).
    pub fn render_json(&self) -> String {
        let value = json!({
            "ok": self.is_ok(),
            "files": self.files.iter().map(|f| f.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "providers": self.provider_count,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": self.notes,
            "kubeletError": self.kubelet_error,
            "images": self.image_results,
        });
        // `{:#}` pretty-prints a Value and cannot fail, unlike to_string_pretty's Result.
        format!("{value:#}\n")
    }
}

fn plural(n: usize, word: &str) -> String {
    match n {
        1 => format!("1 {word}"),
        _ => format!("{n} {word}s"),
    }
}

fn image_line(result: &ImageResult) -> String {
    let image = go_quote(&result.image);
    let Some(kubelet_image) = &result.kubelet_image else {
        let why = result.error.as_deref().unwrap_or("invalid reference");
        return format!("{image}: not an image reference kubelet accepts: {why}");
    };
    let head = format!("{image} (kubelet matches {}):", go_quote(kubelet_image));
    if result.matches.is_empty() {
        return format!("{head} no provider matches; kubelet pulls it without plugin credentials");
    }
    let matched: Vec<String> = result
        .matches
        .iter()
        .map(|m| format!("{} via {}", go_quote(&m.provider), go_quote(&m.pattern)))
        .collect();
    format!("{head} provider {}", matched.join(", provider "))
}

/// What kubelet logs when a provider's name is empty: it accepts the name, then inspects its
/// plugin bin dir itself as the plugin binary.
const EMPTY_NAME_ERROR: &str =
    "error inspecting binary executable : exec: \"<bin-dir>\": permission denied";

/// Validates the config at `path` (file or directory, as given to kubelet's
/// `--image-credential-provider-config`) and matches `images` against it.
///
/// `Err` when a file is one validate-config will not read ([`ConfigError::Refused`]: not a
/// regular file, over a size cap, nested or aliased beyond [`crate::parse_limits`]): then there
/// is no verdict to report — kubelet might block on it, or accept what this reader refuses.
pub fn validate_path(path: &Path, images: &[String]) -> Result<Report, Error> {
    let Loaded {
        files,
        providers,
        errors: load_errors,
    } = kubelet_config::load(path);
    if let Some(refused) = load_errors
        .iter()
        .find(|e| matches!(e, ConfigError::Refused { .. }))
    {
        return Err(Error::Config(refused.to_string()));
    }
    let mut report = Report {
        file_lines: file_lines(path, &files, &providers, &load_errors),
        files,
        provider_count: providers.len(),
        ..Report::default()
    };
    if path.is_dir() {
        report.notes.push(
            "a directory here needs kubelet 1.34 or newer; older kubelets fail to read it".into(),
        );
    }
    if providers.iter().any(|p| p.token_attributes.is_some()) {
        report.notes.push(format!(
            "assuming the {SA_TOKEN_FEATURE_GATE} feature gate is on (the kubelet 1.34 default); with it off kubelet refuses every tokenAttributes"
        ));
        report.notes.push(
            "tokenAttributes.cacheType is required by kubelet 1.34+ but an unknown field to 1.33, so a config using tokenAttributes suits one or the other".into(),
        );
    }

    // Loader errors: kubelet stops at the first, we show them all.
    for error in &load_errors {
        report.errors.push(match error {
            ConfigError::DuplicateName { first, second, .. } => format!(
                "{error} (providers[{}] in {}, first defined at providers[{}] in {})",
                second.1,
                second.0.display(),
                first.1,
                first.0.display()
            ),
            other => other.to_string(),
        });
    }

    // Validation rules. With a file that failed to decode, "no providers" is a consequence,
    // not a finding; every repeated name was already reported the way kubelet reports it.
    let field_errors: Vec<FieldError> = kubelet_field_errors(&providers, true)
        .into_iter()
        .filter(|e| e.provider.is_some() || load_errors.is_empty())
        .filter(|e| !e.message.starts_with("providers.name: Duplicate value: "))
        .collect();
    for e in &field_errors {
        report.errors.push(match e.provider {
            Some(i) => format!("{} (at {})", e.message, locator(&providers[i])),
            None => e.message.clone(),
        });
    }

    // Registration: passes validation, then kubelet looks the binary up in its bin dir.
    let unnamed: Vec<&Provider> = providers.iter().filter(|p| p.name.is_empty()).collect();
    for provider in &unnamed {
        report.errors.push(format!(
            "provider name is empty: kubelet accepts it, then looks up its bin dir itself as the plugin and exits with {} (at {})",
            go_quote(EMPTY_NAME_ERROR),
            locator(provider)
        ));
    }

    report.kubelet_error = if let Some(first) = load_errors.first() {
        Some(first.to_string())
    } else if !field_errors.is_empty() {
        let messages = field_errors.iter().map(|e| e.message.as_str());
        Some(format!(
            "failed to validate credential provider config: {}",
            aggregate(messages)
        ))
    } else {
        (!unnamed.is_empty()).then(|| EMPTY_NAME_ERROR.to_string())
    };

    for provider in &providers {
        for warning in provider_warnings(provider) {
            report
                .warnings
                .push(format!("{}: {warning}", locator(provider)));
        }
    }
    report.image_results = images.iter().map(|i| match_image(i, &providers)).collect();
    Ok(report)
}

/// Where a provider is, for messages: `providers[1] "name" in /etc/kubernetes/cp.yaml`.
fn locator(provider: &Provider) -> String {
    format!(
        "providers[{}] {} in {}",
        provider.index,
        go_quote(&provider.name),
        provider.source.display()
    )
}

/// Go's `utilerrors.Aggregate` text: one message as is, several deduplicated in `[a, b]`.
fn aggregate<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    let mut seen = HashSet::new();
    let unique: Vec<&str> = messages.filter(|m| seen.insert(*m)).collect();
    match unique.as_slice() {
        [one] => (*one).to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// One summary line per file read: its `apiVersion` and providers, or why it has none.
fn file_lines(
    path: &Path,
    files: &[PathBuf],
    providers: &[Provider],
    errors: &[ConfigError],
) -> Vec<String> {
    if files.is_empty() {
        return vec![format!("{}: not read", path.display())];
    }
    let summary = |file: &PathBuf| {
        let mine: Vec<&Provider> = providers.iter().filter(|p| &p.source == file).collect();
        let names: Vec<&str> = mine.iter().map(|p| p.name.as_str()).collect();
        let failed = |e: &ConfigError| matches!(e, ConfigError::File { path, .. } if path == file);
        match mine.first() {
            _ if errors.iter().any(failed) => "not decoded".to_string(),
            None => "no providers".to_string(),
            Some(first) => format!(
                "{}, {} ({})",
                first.config_api_version,
                plural(mine.len(), "provider"),
                names.join(", ")
            ),
        }
    };
    let line = |file: &PathBuf| format!("{}: {}", file.display(), summary(file));
    files.iter().map(line).collect()
}

/// Problems kubelet does not catch, for one provider (without the locator).
fn provider_warnings(provider: &Provider) -> Vec<String> {
    let mut warnings: Vec<String> = provider
        .match_images
        .iter()
        .filter_map(|t| pattern_warning(t))
        .collect();
    let duration = provider.default_cache_duration.as_deref();
    if duration.map(parse_go_duration) == Some(Ok(0)) {
        warnings.push(
            "defaultCacheDuration is 0: whenever a response carries no cacheDuration kubelet caches nothing and runs the plugin again on every pull (oracle-devrel/oke-credential-provider-for-ocir#4, openshift/machine-config-operator#4224); set a positive default such as \"5m\"".into(),
        );
    }
    if !cli::PROGRAM_NAMES.contains(&provider.name.as_str()) {
        return warnings; // another plugin: its args and annotation keys are its own business
    }
    if let Err(message) = cli::check_provider_args(&provider.name, &provider.args) {
        warnings.push(format!(
            "if {} is this binary, every run with args {:?} fails: {message}; kubelet starts, but pulls through this provider get no credentials",
            go_quote(&provider.name),
            provider.args
        ));
    }
    // Host rules of its --config that log pods in to Vault read annotations and need a token;
    // a config that cannot be read here is left to the run to report.
    let rules = cli::parse_args(&provider.name, &provider.args)
        .ok()
        .and_then(|invocation| invocation.settings.plugin_config)
        .and_then(|path| crate::plugin_config::PluginConfig::load(&path).ok());
    let rule_keys = rules
        .as_ref()
        .map(vault_rules::annotation_keys)
        .unwrap_or_default();
    let pod_logins = rules.as_ref().is_some_and(vault_rules::logs_pods_in);
    if let Some(ta) = &provider.token_attributes {
        warnings.extend(annotation_warnings(ta, &rule_keys, pod_logins));
    }
    if let Some(rules) = &rules {
        warnings.extend(vault_rules::warnings(
            rules,
            provider.token_attributes.as_ref(),
        ));
    }
    warnings.extend(cache_dir_warning(provider));
    warnings
}

/// What kubelet accepts in a `matchImages` entry but never works as meant: a pattern that can
/// never match, or one without the port that images of its host (an IP address, `localhost`,
/// a single-label name) nearly always carry.
fn pattern_warning(text: &str) -> Option<String> {
    let pattern = Pattern::parse(text).ok()?; // an error already
    let quoted = go_quote(text);
    if let Some(reason) = pattern.never_matches_reason() {
        return Some(format!(
            "matchImages {quoted} can never match an image: {reason}"
        ));
    }
    let host = pattern.host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let why = if pattern.port().is_some() {
        return None;
    } else if bare.parse::<IpAddr>().is_ok() || host == "localhost" {
        "kubelet compares ports exactly, absent included".to_string()
    } else if !host.is_empty() && !host.contains(['.', '*', '[', '\\']) {
        // Without a dot (and not a glob), the first path segment of an image is no host.
        format!("and {host}/app without a port means Docker Hub's docker.io/{host}/app, so as written this pattern matches nothing")
    } else {
        return None;
    };
    Some(format!("matchImages {quoted} has no port: images like {host}:5000/app will not match; list {host}:PORT explicitly ({why})"))
}

/// A relative `--cache-dir` is resolved against kubelet's working directory, which no config
/// states and which differs between distributions and kubelet restarts by hand: the cache
/// would move, or land in a directory the run then refuses (`/` is not 0700).
fn cache_dir_warning(provider: &Provider) -> Option<String> {
    let invocation = cli::parse_args(&provider.name, &provider.args).ok()?;
    let dir = invocation.settings.cache_dir.filter(|d| d.is_relative())?;
    Some(format!(
        "--cache-dir {} is relative, so where the token cache lives depends on kubelet's working directory; give an absolute path such as {}",
        dir.display(),
        crate::token_cache::DEFAULT_DIR
    ))
}

/// `tokenAttributes` keys this binary never reads, for a provider that runs this binary;
/// `rule_keys` are the keys its host rules read (a Vault role annotation), and `pod_logins`
/// says a host rule logs pods in with the token itself, which needs no annotation.
fn annotation_warnings(
    ta: &TokenAttributes,
    rule_keys: &[String],
    pod_logins: bool,
) -> Vec<String> {
    let known: Vec<&str> = annotations::KNOWN
        .iter()
        .copied()
        .chain(rule_keys.iter().map(String::as_str))
        .collect();
    let reads = known.join(", ");
    let is_read = |key: &&String| known.contains(&key.as_str());
    let required = &ta.required_service_account_annotation_keys;
    let optional = &ta.optional_service_account_annotation_keys;
    let lists_known = required.iter().chain(optional).any(|key| is_read(&key));
    // The list of keys we read goes on one warning only: the "none of them" one if it comes.
    let it_reads = match lists_known {
        true => format!(" (it reads {reads})"),
        false => String::new(),
    };
    let skips = "; as a required key it also makes kubelet skip the plugin for every service account without it";
    let mut warnings = Vec::new();
    for (keys, consequence) in [(required, skips), (optional, "")] {
        for key in keys.iter().filter(|key| !is_read(key)) {
            warnings.push(format!(
                "tokenAttributes annotation key {} is not read by this binary{it_reads}{consequence}",
                go_quote(key)
            ));
        }
    }
    if !lists_known && !pod_logins {
        warnings.push(format!(
            "tokenAttributes lists none of the annotation keys this binary reads ({reads}): kubelet forwards no pod identity annotation, so the service-account token cannot select a per-workload identity"
        ));
    }
    warnings
}

/// Which providers kubelet would run for `image`, in config order.
fn match_image(image: &str, providers: &[Provider]) -> ImageResult {
    let mut result = ImageResult {
        image: image.to_string(),
        ..ImageResult::default()
    };
    let name = match ImageRef::parse(image) {
        Ok(reference) => reference.name(),
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    for provider in providers {
        let mut patterns = provider.match_images.iter();
        if let Some(text) = patterns.find(|t| Pattern::parse(t).is_ok_and(|p| p.matches(&name))) {
            result.matches.push(ImageMatch {
                provider: provider.name.clone(),
                pattern: text.clone(),
            });
        }
    }
    if result.matches.is_empty() {
        // The image's port as the matcher reads it.
        let image = Pattern::parse(&name).ok();
        let image_port = image.as_ref().and_then(Pattern::port);
        for provider in providers {
            for text in &provider.match_images {
                let pattern = Pattern::parse(text).ok();
                if let Some(fixed) = pattern.and_then(|p| port_fix(&p, &name, image_port)) {
                    result.hints.push(format!(
                        "provider {} pattern {} would match as {} (kubelet requires equal ports, an absent port included)",
                        go_quote(&provider.name),
                        go_quote(text),
                        go_quote(&fixed)
                    ));
                }
            }
        }
    }
    result.kubelet_image = Some(name);
    result
}

/// The same pattern with the image's port (or none), if that version matches the image.
fn port_fix(pattern: &Pattern, name: &str, image_port: Option<&str>) -> Option<String> {
    if pattern.port() == image_port {
        return None;
    }
    let port = image_port.map(|p| format!(":{p}")).unwrap_or_default();
    let candidate = format!("{}{port}{}", pattern.host(), pattern.path());
    let fixed = Pattern::parse(&candidate).ok()?;
    fixed.matches(name).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet_config::{EnvVar, TokenAttributes};
    use serde_json::Value;

    const V1: &str = "credentialprovider.kubelet.k8s.io/v1";
    const V1ALPHA1: &str = "credentialprovider.kubelet.k8s.io/v1alpha1";

    fn provider(name: &str) -> Provider {
        Provider {
            name: name.into(),
            match_images: vec!["foobar.registry.io".into()],
            default_cache_duration: Some("1m".into()),
            api_version: V1ALPHA1.into(),
            args: vec![],
            env: vec![],
            token_attributes: None,
            source: PathBuf::from("/etc/kubernetes/cp.yaml"),
            index: 0,
            config_api_version: "kubelet.config.k8s.io/v1".into(),
        }
    }

    fn with_token_attributes(ta: TokenAttributes) -> Provider {
        Provider {
            api_version: V1.into(),
            token_attributes: Some(ta),
            ..provider("foobar")
        }
    }

    fn token_attributes() -> TokenAttributes {
        TokenAttributes {
            service_account_token_audience: "audience".into(),
            cache_type: "ServiceAccount".into(),
            require_service_account: Some(true),
            required_service_account_annotation_keys: vec![],
            optional_service_account_annotation_keys: vec![],
        }
    }

    /// Kubelet's aggregated message for these providers (gate on), as config_test asserts it.
    fn kubelet_text(providers: &[Provider]) -> String {
        aggregate(
            kubelet_field_errors(providers, true)
                .iter()
                .map(|e| e.message.as_str()),
        )
    }

    use crate::test_util::TempDir;

    fn config(providers_yaml: &str) -> String {
        format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{providers_yaml}"
        )
    }

    fn entry(name: &str, patterns: &str, extra: &str) -> String {
        format!(
            "- name: {name}\n  matchImages: {patterns}\n  defaultCacheDuration: 10m\n  apiVersion: {V1}\n{extra}"
        )
    }

    fn validate_text(text: &str, images: &[&str]) -> Report {
        let dir = TempDir::new("file");
        let file = dir.write("config.yaml", text);
        let images: Vec<String> = images.iter().map(|s| s.to_string()).collect();
        validate_path(&file, &images).unwrap()
    }

    // --- kubelet's rules, texts as in kubelet's config_test.go --------------------------

    #[test]
    fn valid_provider_has_no_errors() {
        assert!(kubelet_field_errors(&[provider("foobar")], true).is_empty());
    }

    #[test]
    fn no_providers_is_required() {
        assert_eq!(
            kubelet_text(&[]),
            "providers: Required value: at least 1 item in plugins is required"
        );
    }

    #[test]
    fn empty_match_images_is_required() {
        let p = Provider {
            match_images: vec![],
            ..provider("foobar")
        };
        assert_eq!(
            kubelet_text(&[p]),
            "providers.matchImages: Required value: at least 1 item in matchImages is required"
        );
    }

    #[test]
    fn missing_default_cache_duration_is_required() {
        let p = Provider {
            default_cache_duration: None,
            ..provider("foobar")
        };
        assert_eq!(
            kubelet_text(&[p]),
            "providers.defaultCacheDuration: Required value"
        );
    }

    #[test]
    fn negative_default_cache_duration_is_invalid() {
        let p = Provider {
            default_cache_duration: Some("-1m".into()),
            ..provider("foobar")
        };
        assert_eq!(
            kubelet_text(&[p]),
            "providers.defaultCacheDuration: Invalid value: -1m0s: defaultCacheDuration must be greater than or equal to 0"
        );
    }

    #[test]
    fn name_rules_match_kubelet_texts() {
        let cases = [
            (
                "foo/../bar",
                "providers.name: Invalid value: \"foo/../bar\": provider name cannot contain '/'",
            ),
            (
                ".",
                "providers.name: Invalid value: \".\": provider name cannot be '.'",
            ),
            (
                "..",
                "providers.name: Invalid value: \"..\": provider name cannot be '..'",
            ),
            (
                "foo bar",
                "providers.name: Invalid value: \"foo bar\": provider name cannot contain spaces",
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(kubelet_text(&[provider(name)]), expected, "{name}");
        }
    }

    #[test]
    fn duplicate_names_are_a_duplicate_value() {
        assert_eq!(
            kubelet_text(&[provider("foobar"), provider("foobar")]),
            "providers.name: Duplicate value: \"foobar\""
        );
    }

    #[test]
    fn empty_api_version_is_required() {
        let p = Provider {
            api_version: String::new(),
            ..provider("foobar")
        };
        assert_eq!(kubelet_text(&[p]), "providers.apiVersion: Required value");
    }

    // P19
    #[test]
    fn p19_unsupported_api_version_lists_the_three() {
        let p = Provider {
            api_version: "credentialprovider.kubelet.k8s.io/v1alpha0".into(),
            ..provider("foobar")
        };
        assert_eq!(
            kubelet_text(&[p]),
            "providers.apiVersion: Unsupported value: \"credentialprovider.kubelet.k8s.io/v1alpha0\": supported values: \"credentialprovider.kubelet.k8s.io/v1\", \"credentialprovider.kubelet.k8s.io/v1alpha1\", \"credentialprovider.kubelet.k8s.io/v1beta1\""
        );
    }

    // P20
    #[test]
    fn p20_unparsable_match_image_is_invalid() {
        let p = Provider {
            match_images: vec!["%invalid%".into()],
            ..provider("foobar")
        };
        assert_eq!(
            kubelet_text(&[p]),
            "providers.matchImages: Invalid value: \"%invalid%\": match image is invalid: parse \"https://%invalid%\": invalid URL escape \"%in\""
        );
    }

    #[test]
    fn token_attributes_forbidden_with_gate_off() {
        let p = with_token_attributes(token_attributes());
        let errors = kubelet_field_errors(&[p], false);
        assert_eq!(
            errors[0].message,
            "providers.tokenAttributes: Forbidden: tokenAttributes is not supported when KubeletServiceAccountTokenForCredentialProviders feature gate is disabled"
        );
    }

    #[test]
    fn token_attributes_need_audience_and_require_service_account() {
        let p = with_token_attributes(TokenAttributes {
            service_account_token_audience: String::new(),
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes.serviceAccountTokenAudience: Required value"
        );
        let p = with_token_attributes(TokenAttributes {
            require_service_account: None,
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes.requireServiceAccount: Required value"
        );
    }

    #[test]
    fn token_attributes_only_for_provider_api_v1() {
        for version in [V1ALPHA1, "credentialprovider.kubelet.k8s.io/v1beta1"] {
            let p = Provider {
                api_version: version.into(),
                ..with_token_attributes(token_attributes())
            };
            assert_eq!(
                kubelet_text(&[p]),
                "providers.tokenAttributes: Forbidden: tokenAttributes is only supported for credentialprovider.kubelet.k8s.io/v1 API version"
            );
        }
    }

    #[test]
    fn require_service_account_false_forbids_required_keys() {
        let p = with_token_attributes(TokenAttributes {
            require_service_account: Some(false),
            required_service_account_annotation_keys: vec!["now-with-dashes/simple-1".into()],
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes.requiredServiceAccountAnnotationKeys: Forbidden: requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set"
        );
    }

    #[test]
    fn annotation_keys_must_be_qualified_names() {
        let expected_tail = "Invalid value: \"cantendwithadash-\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        let p = with_token_attributes(TokenAttributes {
            required_service_account_annotation_keys: vec![
                "cantendwithadash-".into(),
                "now-with-dashes/simple".into(),
            ],
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            format!(
                "providers.tokenAttributes.requiredServiceAccountAnnotationKeys: {expected_tail}"
            )
        );
        let p = with_token_attributes(TokenAttributes {
            optional_service_account_annotation_keys: vec![
                "cantendwithadash-".into(),
                "now-with-dashes/simple".into(),
            ],
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            format!(
                "providers.tokenAttributes.optionalServiceAccountAnnotationKeys: {expected_tail}"
            )
        );
    }

    #[test]
    fn annotation_keys_are_checked_lower_cased() {
        let p = with_token_attributes(TokenAttributes {
            optional_service_account_annotation_keys: vec!["Example.COM/Role-ARN".into()],
            ..token_attributes()
        });
        assert!(kubelet_field_errors(&[p], true).is_empty());
    }

    #[test]
    fn annotation_key_prefix_and_shape_errors() {
        assert_eq!(
            qualified_name_errors("/x"),
            vec!["prefix part must be non-empty".to_string()]
        );
        assert_eq!(
            qualified_name_errors("a_b.io/x"),
            vec!["prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()]
        );
        assert_eq!(qualified_name_errors("a/b/c").len(), 1);
        assert!(qualified_name_errors("a/b/c")[0].starts_with("a qualified name must consist"));
        assert_eq!(
            qualified_name_errors("a.io/"),
            vec![
                "name part must be non-empty".to_string(),
                format!("name part {QUALIFIED_NAME_ERROR}")
            ]
        );
        assert_eq!(
            qualified_name_errors(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn duplicate_annotation_keys_within_a_list() {
        for required in [true, false] {
            let keys = vec!["now-with-dashes/simple".to_string(); 2];
            let ta = if required {
                TokenAttributes {
                    required_service_account_annotation_keys: keys,
                    ..token_attributes()
                }
            } else {
                TokenAttributes {
                    optional_service_account_annotation_keys: keys,
                    ..token_attributes()
                }
            };
            let list = if required { "required" } else { "optional" };
            assert_eq!(
                kubelet_text(&[with_token_attributes(ta)]),
                format!("providers.tokenAttributes.{list}ServiceAccountAnnotationKeys: Duplicate value: \"now-with-dashes/simple\"")
            );
        }
    }

    #[test]
    fn annotation_key_in_both_lists_is_invalid() {
        let p = with_token_attributes(TokenAttributes {
            required_service_account_annotation_keys: vec![
                "now-with-dashes/simple-1".into(),
                "now-with-dashes/simple-2".into(),
            ],
            optional_service_account_annotation_keys: vec![
                "now-with-dashes/simple-2".into(),
                "now-with-dashes/simple-3".into(),
            ],
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes: Invalid value: []string{\"now-with-dashes/simple-2\"}: annotation keys cannot be both required and optional"
        );
    }

    #[test]
    fn cache_type_is_required_and_checked() {
        let p = with_token_attributes(TokenAttributes {
            cache_type: String::new(),
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes.cacheType: Required value: cacheType is required to be set when tokenAttributes is specified. Supported values are: ServiceAccount, Token"
        );
        let p = with_token_attributes(TokenAttributes {
            cache_type: "Pod".into(),
            ..token_attributes()
        });
        assert_eq!(
            kubelet_text(&[p]),
            "providers.tokenAttributes.cacheType: Unsupported value: \"Pod\": supported values: \"ServiceAccount\", \"Token\""
        );
        let p = with_token_attributes(TokenAttributes {
            cache_type: "Token".into(),
            ..token_attributes()
        });
        assert!(kubelet_field_errors(&[p], true).is_empty());
    }

    #[test]
    fn several_errors_aggregate_like_kubelet_with_duplicates_folded() {
        let bad = |name: &str| Provider {
            api_version: String::new(),
            ..provider(name)
        };
        assert_eq!(
            kubelet_text(&[bad("a"), bad("b"), provider("c/d")]),
            "[providers.apiVersion: Required value, providers.name: Invalid value: \"c/d\": provider name cannot contain '/']"
        );
    }

    // --- whole reports --------------------------------------------------------------------

    #[test]
    fn good_config_is_ok_with_header_note_and_summary() {
        let report = validate_text(
            &config(&entry(
                "ecr-credential-provider",
                "[\"*.dkr.ecr.*.amazonaws.com\"]",
                "",
            )),
            &[],
        );
        assert!(report.is_ok(), "{:?}", report.errors);
        assert_eq!(report.provider_count, 1);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let text = report.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("config: "));
        assert!(lines[0].ends_with(
            "config.yaml: kubelet.config.k8s.io/v1, 1 provider (ecr-credential-provider)"
        ));
        // No tokenAttributes: the feature-gate note would only be noise.
        assert!(!text.contains("feature gate"), "{text}");
        assert_eq!(
            *lines.last().unwrap(),
            "OK: 1 provider, kubelet would accept this config"
        );
        assert_eq!(report.kubelet_error, None);
    }

    #[test]
    fn p19_in_a_file_fails_with_kubelet_text_and_location() {
        let text = config(&entry("p", "[\"x.io\"]", "").replace(
            &format!("apiVersion: {V1}"),
            "apiVersion: credentialprovider.kubelet.k8s.io/v1alpha0",
        ));
        let report = validate_text(&text, &[]);
        assert!(!report.is_ok());
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].starts_with(
            "providers.apiVersion: Unsupported value: \"credentialprovider.kubelet.k8s.io/v1alpha0\": supported values: \"credentialprovider.kubelet.k8s.io/v1\", \"credentialprovider.kubelet.k8s.io/v1alpha1\", \"credentialprovider.kubelet.k8s.io/v1beta1\" (at providers[0] \"p\" in "
        ));
        let rendered = report.render_text();
        assert!(rendered.contains("\nerror: providers.apiVersion: Unsupported value: "));
        assert!(rendered.contains("kubelet would log: \"Failed to register CRI auth plugins\" err=\"failed to validate credential provider config: providers.apiVersion: Unsupported value: \\\"credentialprovider.kubelet.k8s.io/v1alpha0\\\""));
        assert!(rendered.ends_with("FAILED: kubelet would refuse to start: 1 error\n"));
    }

    #[test]
    fn p20_in_a_file_fails() {
        let report = validate_text(&config(&entry("p", "[\"%invalid%\"]", "")), &[]);
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].contains("invalid URL escape \"%in\""));
    }

    #[test]
    fn p21_in_a_file_fails_with_the_strict_decoding_error() {
        let text = config(&entry(
            "p",
            "[\"x.io\"]",
            "  tokenAttributes:\n    serviceAccountTokenAudience: audience\n",
        ))
        .replace(
            "kubelet.config.k8s.io/v1\n",
            "kubelet.config.k8s.io/v1beta1\n",
        )
        .replace(V1, "credentialprovider.kubelet.k8s.io/v1beta1");
        let report = validate_text(&text, &[]);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(report.errors[0].starts_with("error decoding config \""));
        assert!(report.errors[0].ends_with(
            "\": providers[0]: unknown field `tokenAttributes` in kubelet.config.k8s.io/v1beta1: only kubelet.config.k8s.io/v1 has it at line 4 column 3"
        ));
        assert!(report.render_text().contains(": not decoded\n"));
    }

    #[test]
    fn k3s_14039_missing_fields_and_non_v1_token_attributes_all_reported() {
        let text = config(
            "- name: p\n  matchImages: [\"x.io\"]\n  apiVersion: credentialprovider.kubelet.k8s.io/v1beta1\n  tokenAttributes:\n    serviceAccountTokenAudience: a\n    cacheType: Token\n    requireServiceAccount: true\n- name: q\n  matchImages: [\"y.io\"]\n  defaultCacheDuration: 1m\n",
        );
        let report = validate_text(&text, &[]);
        let messages: Vec<&str> = report
            .errors
            .iter()
            .map(|e| e.split(" (at ").next().unwrap())
            .collect();
        assert_eq!(
            messages,
            vec![
                "providers.defaultCacheDuration: Required value",
                "providers.tokenAttributes: Forbidden: tokenAttributes is only supported for credentialprovider.kubelet.k8s.io/v1 API version",
                "providers.apiVersion: Required value",
            ]
        );
        assert!(
            report.errors[2].ends_with("config.yaml)")
                && report.errors[2].contains("(at providers[1] \"q\" in ")
        );
    }

    #[test]
    fn empty_provider_list_fails() {
        let report = validate_text(
            &config("[]\n").replace("providers:\n[]", "providers: []"),
            &[],
        );
        assert_eq!(
            report.errors,
            vec!["providers: Required value: at least 1 item in plugins is required"]
        );
        assert!(report
            .render_text()
            .ends_with("FAILED: kubelet would refuse to start: 1 error\n"));
    }

    #[test]
    fn empty_provider_name_fails_at_registration() {
        let report = validate_text(&config(&entry("\"\"", "[\"x.io\"]", "")), &[]);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(report.errors[0].starts_with("provider name is empty: "));
        assert_eq!(
            report.kubelet_error.as_deref(),
            Some("error inspecting binary executable : exec: \"<bin-dir>\": permission denied")
        );
    }

    #[test]
    fn directory_with_names_repeated_across_files_reports_both_places() {
        let dir = TempDir::new("dupdir");
        dir.write("10-a.yaml", &config(&entry("same", "[\"a.io\"]", "")));
        dir.write("20-b.json", &format!(
            r#"{{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{{"name":"other","matchImages":["b.io"],"defaultCacheDuration":"1m","apiVersion":"{V1}"}},{{"name":"same","matchImages":["c.io"],"defaultCacheDuration":"1m","apiVersion":"{V1}"}}]}}"#
        ));
        let report = validate_path(&dir.0, &[]).unwrap();
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        let a = dir.0.join("10-a.yaml");
        let b = dir.0.join("20-b.json");
        assert_eq!(
            report.errors[0],
            format!(
                "duplicate provider name \"same\" found in configuration file(s) (providers[1] in {}, first defined at providers[0] in {})",
                b.display(),
                a.display()
            )
        );
        let text = report.render_text();
        assert!(text.contains("note: a directory here needs kubelet 1.34 or newer"));
        assert!(text.contains("20-b.json: kubelet.config.k8s.io/v1, 2 providers (other, same)"));
    }

    #[test]
    fn empty_directory_fails_without_a_providers_error() {
        let dir = TempDir::new("emptydir");
        let report = validate_path(&dir.0, &[]).unwrap();
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].starts_with("no configuration files found in directory"));
        assert!(report.render_text().starts_with("config: "));
    }

    #[test]
    fn bad_file_does_not_hide_rule_errors_in_good_files() {
        let dir = TempDir::new("mixed");
        dir.write(
            "a.yaml",
            "kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders: [\n",
        );
        dir.write("b.yaml", &config(&entry("p", "[\"%zz%\"]", "")));
        let report = validate_path(&dir.0, &[]).unwrap();
        assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
        assert!(report.errors[0].starts_with("error decoding config"));
        assert!(report.errors[1].starts_with("providers.matchImages: Invalid value: \"%zz%\""));
        // Kubelet stops at the unreadable file.
        assert!(report
            .kubelet_error
            .as_deref()
            .unwrap()
            .starts_with("error decoding config"));
    }

    #[test]
    fn number_duration_in_file_is_an_error() {
        let text = config(&entry("p", "[\"x.io\"]", ""))
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: 3600");
        let report = validate_text(&text, &[]);
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].ends_with(
            "config.yaml\": providers[0].defaultCacheDuration: invalid type: integer `3600`, expected a Go duration string such as \"5m\" at line 6 column 25"
        ));
    }

    // --- warnings -------------------------------------------------------------------------

    fn warnings_for(extra_entry: &str) -> Vec<String> {
        let report = validate_text(&config(extra_entry), &[]);
        assert!(report.is_ok(), "{:?}", report.errors);
        report.warnings
    }

    #[test]
    fn pattern_that_never_matches_warns_kind_4185() {
        let warnings = warnings_for(&entry("p", "[\"harbor.example.com/*\"]", ""));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("providers[0] \"p\" in "));
        assert!(
            warnings[0].contains("matchImages \"harbor.example.com/*\" can never match an image: ")
        );
    }

    #[test]
    fn scheme_in_pattern_warns() {
        let warnings = warnings_for(&entry("p", "[\"https://registry.io\"]", ""));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("\"https://registry.io\" can never match"));
    }

    #[test]
    fn portless_ip_localhost_and_single_label_patterns_warn() {
        let warnings = warnings_for(&entry(
            "p",
            "[\"172.18.0.10\", \"localhost\", \"registry\", \"172.18.0.10:5000\", \"reg.example.com\"]",
            "",
        ));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("matchImages \"172.18.0.10\" has no port: images like 172.18.0.10:5000/app will not match; list 172.18.0.10:PORT explicitly"));
        assert!(warnings[1].contains(
            "images like localhost:5000/app will not match; list localhost:PORT explicitly"
        ));
        assert!(warnings[2].contains("docker.io/registry/app"));
    }

    #[test]
    fn zero_default_cache_duration_warns() {
        for zero in ["0s", "\"0\"", "0h0m"] {
            let warnings = warnings_for(&entry("p", "[\"x.io\"]", "").replace(
                "defaultCacheDuration: 10m",
                &format!("defaultCacheDuration: {zero}"),
            ));
            assert_eq!(warnings.len(), 1, "{zero}: {warnings:?}");
            assert!(warnings[0].contains("defaultCacheDuration is 0"));
        }
    }

    #[test]
    fn args_this_binary_refuses_warn_only_for_its_names() {
        let warnings = warnings_for(&format!(
            "{}{}",
            entry(
                "auth-provider-gcp",
                "[\"gcr.io\"]",
                "  args: [\"--bogus\"]\n"
            ),
            entry(
                "someone-elses-plugin",
                "[\"x.io\"]",
                "  args: [\"--bogus\"]\n"
            )
        ));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(
            "if \"auth-provider-gcp\" is this binary, every run with args [\"--bogus\"] fails: "
        ));
    }

    #[test]
    fn a_relative_cache_dir_warns() {
        let warnings = warnings_for(&format!(
            "{}{}",
            entry(
                "ecr-credential-provider",
                "[\"*.dkr.ecr.*.amazonaws.com\"]",
                "  args: [\"--cache-dir=cache\"]\n"
            ),
            entry(
                "auth-provider-gcp",
                "[\"gcr.io\"]",
                "  args: [\"--cache-dir=/run/cloud-credential-provider\"]\n"
            )
        ));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("--cache-dir cache is relative"),
            "{warnings:?}"
        );
    }

    #[test]
    fn unknown_annotation_keys_warn_for_this_binary() {
        let ta = "  tokenAttributes:\n    serviceAccountTokenAudience: sts.amazonaws.com\n    cacheType: ServiceAccount\n    requireServiceAccount: true\n    requiredServiceAccountAnnotationKeys: [example.com/team]\n    optionalServiceAccountAnnotationKeys: [eks.amazonaws.com/ecr-role-arn, example.com/other]\n";
        let warnings = warnings_for(&entry(
            "ecr-credential-provider",
            "[\"*.dkr.ecr.*.amazonaws.com\"]",
            ta,
        ));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("annotation key \"example.com/team\" is not read by this binary")
        );
        assert!(warnings[0].contains("as a required key"));
        assert!(warnings[0].contains("(it reads eks.amazonaws.com/ecr-role-arn, "));
        assert!(warnings[1].contains("annotation key \"example.com/other\" is not read"));
        // Another plugin's keys are its own business.
        let other = warnings_for(&entry("vendor-plugin", "[\"x.io\"]", ta));
        assert!(other.is_empty(), "{other:?}");
    }

    #[test]
    fn token_attributes_without_any_known_key_warn() {
        let ta = "  tokenAttributes:\n    serviceAccountTokenAudience: api://AKSIdentityBinding\n    cacheType: ServiceAccount\n    requireServiceAccount: false\n";
        let warnings = warnings_for(&entry("acr-credential-provider", "[\"*.azurecr.io\"]", ta));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0]
            .contains("tokenAttributes lists none of the annotation keys this binary reads"));
        assert!(warnings[0].contains("kubernetes.azure.com/acr-client-id"));
    }

    #[test]
    fn differing_provider_api_versions_do_not_warn() {
        let warnings = warnings_for(&format!(
            "{}{}",
            entry("a", "[\"a.io\"]", ""),
            entry("b", "[\"b.io\"]", "").replace(V1, "credentialprovider.kubelet.k8s.io/v1beta1")
        ));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    // --- images ---------------------------------------------------------------------------

    #[test]
    fn image_is_normalised_and_matched_in_config_order() {
        let text = config(&format!(
            "{}{}{}",
            entry("hub", "[\"docker.io\"]", ""),
            entry("other", "[\"quay.io\"]", ""),
            entry("any-io", "[\"*.io\", \"docker.io/library\"]", "")
        ));
        let report = validate_text(&text, &["nginx:1.27"]);
        let result = &report.image_results[0];
        assert_eq!(
            result.kubelet_image.as_deref(),
            Some("docker.io/library/nginx")
        );
        assert_eq!(
            result.matches,
            vec![
                ImageMatch {
                    provider: "hub".into(),
                    pattern: "docker.io".into()
                },
                ImageMatch {
                    provider: "any-io".into(),
                    pattern: "*.io".into()
                },
            ]
        );
        assert!(report.render_text().contains(
            "image \"nginx:1.27\" (kubelet matches \"docker.io/library/nginx\"): provider \"hub\" via \"docker.io\", provider \"any-io\" via \"*.io\"\n"
        ));
    }

    #[test]
    fn unmatched_image_hints_at_the_missing_port() {
        let text = config(&entry(
            "p",
            "[\"172.18.0.10\", \"reg.example.com:443/team\"]",
            "",
        ));
        let report = validate_text(
            &text,
            &["172.18.0.10:5000/app:v1", "reg.example.com/team/app"],
        );
        let first = &report.image_results[0];
        assert!(first.matches.is_empty());
        assert_eq!(
            first.hints,
            vec!["provider \"p\" pattern \"172.18.0.10\" would match as \"172.18.0.10:5000\" (kubelet requires equal ports, an absent port included)"]
        );
        let second = &report.image_results[1];
        assert_eq!(second.hints.len(), 1);
        assert!(second.hints[0].contains("would match as \"reg.example.com/team\""));
        let text = report.render_text();
        assert!(text.contains("(kubelet matches \"172.18.0.10:5000/app\"): no provider matches"));
        assert!(text.contains("\n  hint: provider \"p\" pattern \"172.18.0.10\""));
        // Images never make the verdict fail.
        assert!(report.is_ok());
    }

    #[test]
    fn invalid_image_is_reported_not_fatal() {
        let report = validate_text(&config(&entry("p", "[\"x.io\"]", "")), &[""]);
        assert!(report.image_results[0].error.is_some());
        assert!(report
            .render_text()
            .contains("image \"\": not an image reference kubelet accepts: "));
    }

    #[test]
    fn json_rendering_has_every_part() {
        let report = validate_text(
            &config(&entry("p", "[\"localhost\"]", "")),
            &["localhost:5000/app"],
        );
        let value: Value = serde_json::from_str(&report.render_json()).unwrap();
        assert_eq!(value["ok"], json!(true));
        assert_eq!(value["providers"], json!(1));
        assert_eq!(value["files"].as_array().unwrap().len(), 1);
        assert_eq!(value["errors"], json!([]));
        assert_eq!(value["warnings"].as_array().unwrap().len(), 1);
        assert_eq!(value["kubeletError"], Value::Null);
        assert_eq!(
            value["images"][0]["kubeletImage"],
            json!("localhost:5000/app")
        );
        assert_eq!(value["images"][0]["matches"], json!([]));
        assert_eq!(value["images"][0]["hints"].as_array().unwrap().len(), 1);
        assert_eq!(value["notes"], json!([]));
    }

    #[test]
    fn failed_report_json_carries_kubelet_error() {
        let report = validate_text("kind: Nope\napiVersion: v1\n", &[]);
        let value: Value = serde_json::from_str(&report.render_json()).unwrap();
        assert_eq!(value["ok"], json!(false));
        assert!(value["kubeletError"]
            .as_str()
            .unwrap()
            .contains("kind \"Nope\" in apiVersion \"v1\" is not a credential provider config"));
    }

    #[test]
    fn quoted_env_values_pass_and_reach_the_provider() {
        let text = config(&entry(
            "p",
            "[\"x.io\"]",
            "  env:\n  - name: A\n    value: \"1\"\n",
        ));
        assert!(validate_text(&text, &[]).is_ok());
        let providers = kubelet_config::decode(text.as_bytes(), Path::new("x.yaml")).unwrap();
        assert_eq!(
            providers[0].env,
            vec![EnvVar {
                name: "A".into(),
                value: "1".into()
            }]
        );
    }

    #[test]
    fn unquoted_yaml11_env_value_fails_like_kubelet() {
        let text = config(&entry(
            "p",
            "[\"x.io\"]",
            "  env:\n  - name: DEBUG\n    value: on\n",
        ));
        let report = validate_text(&text, &[]);
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].ends_with(
            "providers[0].env[0].value: kubelet's YAML 1.1 reader takes unquoted on as a boolean, not a string: quote it at line 10 column 12"
        ));
    }

    #[test]
    fn garbage_input_never_panics() {
        let inputs = [
            "\u{0}\u{1}", "{", "[", "- - - -", "providers: [1, [2], {a: b}]", "kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders:\n- name: [x]\n  matchImages: {a: 1}\n  env: [1, null, {name: 2}]\n  tokenAttributes: []\n",
            "kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders:\n- ~\n- matchImages: [\"[::1]\", \"\", \"*\", \"a:b\", \":5000\", \"%\"]\n  defaultCacheDuration: \"-0s\"\n",
        ];
        for input in inputs {
            let report = validate_text(input, &["", ":", "@@", "a//b", "[::1]:5000/x"]);
            let _ = report.render_text();
            let _ = report.render_json();
        }
    }
}
