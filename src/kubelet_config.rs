//! Reading kubelet's `CredentialProviderConfig` exactly as kubelet does.
//!
//! Kubelet reads `--image-credential-provider-config` once at start-up, and any problem in it
//! makes kubelet exit ("Failed to register CRI auth plugins"). A validator is only useful if it
//! refuses what kubelet refuses and accepts what kubelet accepts, so this module reproduces
//! kubelet's reader (`pkg/credentialprovider/plugin/config.go`, 1.34) rather than "a YAML parser":
//!
//! - the path is a file, or (1.34+) a directory whose non-directory entries named `*.json`,
//!   `*.yaml` or `*.yml` are read in byte order, their providers concatenated;
//! - each file goes through apimachinery's universal decoder: a file whose first non-blank
//!   character is `{` is JSON, anything else YAML (only its first document);
//! - `apiVersion`/`kind` pick the Go type (`kubelet.config.k8s.io/{v1,v1beta1,v1alpha1}`,
//!   `CredentialProviderConfig`); anything else is "not registered";
//! - decoding is strict: unknown or case-mismatched field names and duplicate keys are errors,
//!   `tokenAttributes` exists only in v1, and values must have the JSON type Go expects — after
//!   YAML 1.1 resolution, so an unquoted `yes` is a boolean and `0` a number;
//! - `defaultCacheDuration` is a `metav1.Duration`: a string in Go duration syntax.
//!
//! Error texts are kubelet's, down to Go's `%q` quoting, so an operator can match them with
//! the line in the kubelet log. Where kubelet's text depends on Go internals we cannot see
//! (YAML syntax errors, a scheme's call-site name) the wording is close but not identical.
//!
//! The rules kubelet applies after decoding (names, versions, patterns…) live in
//! [`crate::validate`]; this module only decodes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map as JsonMap, Value as JsonValue};

use crate::duration::parse_go_duration;
use crate::local_file::{self, FileError};
use crate::parse_limits;

/// API group of kubelet's configuration types.
pub const CONFIG_GROUP: &str = "kubelet.config.k8s.io";

/// The only `kind` kubelet accepts in a credential provider config file.
pub const CONFIG_KIND: &str = "CredentialProviderConfig";

/// Config file `apiVersion`s kubelet can decode, newest first.
pub const CONFIG_API_VERSIONS: &[&str] = &[
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];

/// Provider `apiVersion`s (the exec protocol version), sorted as kubelet lists them in its
/// "supported values" message.
pub const PROVIDER_API_VERSIONS: &[&str] = &[
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
];

/// The provider `apiVersion` that may carry `tokenAttributes` (service-account token mode).
pub const PROVIDER_API_VERSION_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// Where kubelet registers its config types; appears in "no kind … is registered" errors.
/// Kubelet's own text also carries a line number, which varies between releases.
const SCHEME_NAME: &str = "pkg/credentialprovider/plugin/plugin.go";

/// File name endings kubelet reads from a config directory (Go `filepath.Ext`).
const DIR_EXTENSIONS: &[&str] = &[".json", ".yaml", ".yml"];

/// One `env` entry of a provider: appended to kubelet's own environment when it runs the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// Variable name.
    #[serde(default)]
    pub name: String,
    /// Variable value (YAML authors: quote `yes`/`on`/numbers, kubelet wants a string).
    #[serde(default)]
    pub value: String,
}

/// `tokenAttributes` (v1 only): opts a provider into service-account token mode (KEP-4412).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenAttributes {
    /// Audience of the token kubelet requests for the pod's service account.
    #[serde(default)]
    pub service_account_token_audience: String,
    /// `Token` or `ServiceAccount`: the extra cache dimension (required since 1.34). Kept as
    /// text because validation must report unsupported values, not fail to decode them.
    #[serde(default)]
    pub cache_type: String,
    /// Go `*bool`: `None` (unset) is an error kubelet reports, distinct from `false`.
    #[serde(default)]
    pub require_service_account: Option<bool>,
    /// Annotation keys that must exist on the service account, or the plugin is skipped.
    #[serde(default)]
    pub required_service_account_annotation_keys: Vec<String>,
    /// Annotation keys forwarded when present.
    #[serde(default)]
    pub optional_service_account_annotation_keys: Vec<String>,
}

/// One provider as kubelet sees it after decoding, whatever the file's `apiVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provider {
    /// Executable name kubelet runs from its bin dir; also the provider's identity.
    pub name: String,
    /// Patterns matched against the normalised image (see [`crate::pattern`]).
    pub match_images: Vec<String>,
    /// `defaultCacheDuration` as written. `None` means absent or `null` (an error kubelet
    /// reports); when present it always parses with [`parse_go_duration`], because decoding
    /// refuses anything else.
    pub default_cache_duration: Option<String>,
    /// Exec protocol version kubelet speaks to this plugin.
    pub api_version: String,
    /// argv after the binary path.
    pub args: Vec<String>,
    /// Extra environment for the plugin.
    pub env: Vec<EnvVar>,
    /// Service-account token settings (only a v1 file can carry them).
    pub token_attributes: Option<TokenAttributes>,
    /// File this provider came from, for messages (a directory config has several files).
    pub source: PathBuf,
    /// `apiVersion` of that file (`kubelet.config.k8s.io/…`), which decides which fields exist.
    pub config_api_version: String,
}

/// What kubelet ends up with: the files it read, in order, and their providers concatenated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadedConfig {
    /// Files read: the path itself, or a directory's matching entries in kubelet's order.
    pub files: Vec<PathBuf>,
    /// Providers in kubelet's order (file order, then order within the file).
    pub providers: Vec<Provider>,
}

/// Everything [`load_all`] found: what decoded, and every problem kubelet would stop at.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Files and the providers of the files that decoded.
    pub config: LoadedConfig,
    /// Problems in kubelet's order; kubelet stops at the first one.
    pub errors: Vec<ConfigError>,
}

/// Why kubelet could not read the config. `Display` is kubelet's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--image-credential-provider-config ""`.
    EmptyPath,
    /// The path cannot be stat'ed.
    Access {
        /// The configured path.
        path: PathBuf,
        /// Go-style cause, e.g. `stat /x: no such file or directory`.
        cause: String,
    },
    /// The path is a directory that cannot be listed.
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Go-style cause.
        cause: String,
    },
    /// The directory holds no `*.json`/`*.yaml`/`*.yml` file.
    NoFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// A file cannot be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Go-style cause.
        cause: String,
    },
    /// A file does not decode (syntax, kind/apiVersion, strict decoding, types, durations).
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message, as kubelet prints it after the file name.
        message: String,
    },
    /// A file validate-config will not read, so it gives no verdict at all: not a regular
    /// file (a FIFO or `/dev/zero`, on which kubelet itself would block or read forever), over
    /// the size cap, or beyond the nesting/alias bounds of [`crate::parse_limits`]. Unlike the
    /// other variants this is not kubelet's error, and the CLI reports it as its own failure.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why, as a clause: `cannot read it: it is a FIFO (named pipe), not a regular file`.
        reason: String,
    },
    /// Two providers share a name (within a file or across files).
    DuplicateName {
        /// The repeated name.
        name: String,
        /// File and index within that file of the first provider with this name.
        first: (PathBuf, usize),
        /// File and index within that file of the repeat.
        second: (PathBuf, usize),
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyPath => f.write_str("credential provider config path is empty"),
            ConfigError::Access { path, cause } => {
                write!(f, "unable to access path {}: {cause}", quote_path(path))
            }
            ConfigError::ReadDir { path, cause } => {
                write!(f, "unable to read directory {}: {cause}", quote_path(path))
            }
            ConfigError::NoFiles { dir } => write!(
                f,
                "no configuration files found in directory {}",
                quote_path(dir)
            ),
            ConfigError::ReadFile { path, cause } => {
                write!(f, "unable to read file {}: {cause}", quote_path(path))
            }
            ConfigError::Decode { path, message } => {
                write!(f, "error decoding config {}: {message}", quote_path(path))
            }
            ConfigError::Refused { path, reason } => {
                write!(f, "kubelet config {}: {reason}", path.to_string_lossy())
            }
            ConfigError::DuplicateName { name, .. } => write!(
                f,
                "duplicate provider name {} found in configuration file(s)",
                go_quote(name)
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads the config like kubelet: `Err` is the error kubelet would exit with.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let mut report = load_all(path);
    if report.errors.is_empty() {
        Ok(report.config)
    } else {
        Err(report.errors.swap_remove(0))
    }
}

/// Reads the config like kubelet but does not stop at the first problem, so one run of
/// `validate-config` can show every broken file. The first error is kubelet's.
pub fn load_all(path: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    if path.as_os_str().is_empty() {
        report.errors.push(ConfigError::EmptyPath);
        return report;
    }
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            report.errors.push(ConfigError::Access {
                path: path.to_path_buf(),
                cause: go_path_error("stat", path, &e),
            });
            return report;
        }
    };
    let files = if meta.is_dir() {
        match config_files_in(path) {
            Ok(files) if files.is_empty() => {
                report.errors.push(ConfigError::NoFiles {
                    dir: path.to_path_buf(),
                });
                return report;
            }
            Ok(files) => files,
            Err(e) => {
                report.errors.push(ConfigError::ReadDir {
                    path: path.to_path_buf(),
                    cause: go_path_error("open", path, &e),
                });
                return report;
            }
        }
    } else {
        vec![path.to_path_buf()]
    };

    for file in &files {
        let data = match local_file::read(file) {
            Ok(data) => data,
            Err(FileError::Io(e)) => {
                report.errors.push(ConfigError::ReadFile {
                    path: file.clone(),
                    cause: go_path_error("open", file, &e),
                });
                continue;
            }
            // A symlinked directory in a config directory: kubelet's os.ReadFile fails on it.
            Err(FileError::NotRegular("a directory")) => {
                report.errors.push(ConfigError::ReadFile {
                    path: file.clone(),
                    cause: format!("read {}: is a directory", file.to_string_lossy()),
                });
                continue;
            }
            Err(e) => {
                report.errors.push(ConfigError::Refused {
                    path: file.clone(),
                    reason: format!("cannot read it: {e}"),
                });
                return report;
            }
        };
        if let Err(reason) = within_parse_limits(&data) {
            report.errors.push(ConfigError::Refused {
                path: file.clone(),
                reason,
            });
            return report;
        }
        match decode(&data, file) {
            Ok(mut providers) => report.config.providers.append(&mut providers),
            Err(message) => report.errors.push(ConfigError::Decode {
                path: file.clone(),
                message,
            }),
        }
    }
    report.config.files = files;

    // Kubelet merges after decoding every file and refuses any repeated name, even within
    // one file (so validation's own "Duplicate value" check can never fire).
    let mut seen: HashMap<&str, (PathBuf, usize)> = HashMap::new();
    let mut per_file: HashMap<&Path, usize> = HashMap::new();
    for provider in &report.config.providers {
        let counter = per_file.entry(provider.source.as_path()).or_insert(0);
        let index = *counter;
        *counter += 1;
        let here = (provider.source.clone(), index);
        match seen.get(provider.name.as_str()) {
            Some(first) => report.errors.push(ConfigError::DuplicateName {
                name: provider.name.clone(),
                first: first.clone(),
                second: here,
            }),
            None => {
                seen.insert(provider.name.as_str(), here);
            }
        }
    }
    report
}

/// The files kubelet reads from a config directory, in its order.
fn config_files_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // DirEntry type, not following symlinks: like Go's `entry.IsDir()`. A symlink to a
        // directory is therefore "a file" and fails later when read, as in kubelet.
        if entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Go's filepath.Ext: from the last dot, so a file named just ".yaml" counts too.
        let ext = name.rfind('.').map(|i| &name[i..]).unwrap_or("");
        if DIR_EXTENSIONS.contains(&ext) {
            files.push(dir.join(entry.file_name()));
        }
    }
    // Go sorts the joined paths byte-wise; they share the directory prefix.
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(files)
}

/// Whether apimachinery reads this text as JSON: its JSON serializer claims data whose first
/// non-blank character is `{`; everything else goes to the YAML serializer.
fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The bounds of [`crate::parse_limits`] for the parser [`decode`] will use. Text that is not
/// UTF-8 passes here and gets kubelet's own error from `decode`.
fn within_parse_limits(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    if is_json(text) {
        parse_limits::check_json(text)
    } else {
        parse_limits::check_yaml(text)
    }
}

/// Decodes one file's bytes like kubelet's universal decoder. `Err` is the text kubelet
/// prints after `error decoding config "<file>": `.
pub fn decode(data: &[u8], source: &Path) -> Result<Vec<Provider>, String> {
    let text = std::str::from_utf8(data)
        .map_err(|e| format!("yaml: the file is not valid UTF-8 ({e})"))?;
    let json_mode = is_json(text);
    let root = if json_mode {
        parse_json(text).map_err(|e| format!("couldn't get version/kind; json parse error: {e}"))?
    } else {
        parse_yaml_first_document(text).map_err(|e| format!("yaml: {e}"))?
    };

    let (api_version, kind) = interpret_type_meta(&root)?;
    let (group, version) = parse_group_version(&api_version)?;
    if kind.is_empty() {
        return Err(format!("Object 'Kind' is missing in '{}'", excerpt(text)));
    }
    if version.is_empty() {
        return Err(format!(
            "Object 'apiVersion' is missing in '{}'",
            excerpt(text)
        ));
    }
    let gv = if group.is_empty() {
        version.clone()
    } else {
        format!("{group}/{version}")
    };
    let version_pkg = match (group.as_str(), version.as_str()) {
        (CONFIG_GROUP, "v1") => "v1",
        (CONFIG_GROUP, "v1beta1") => "v1beta1",
        (CONFIG_GROUP, "v1alpha1") => "v1alpha1",
        _ => "",
    };
    if kind != CONFIG_KIND || version_pkg.is_empty() {
        return Err(if other_registered_kind(&group, &version, &kind) {
            // Decodes as that type, then config.go rejects it.
            format!("failed to decode {} (wrong Kind)", go_quote(&kind))
        } else {
            format!(
                "no kind {} is registered for version {} in scheme {}",
                go_quote(&kind),
                go_quote(&gv),
                go_quote(SCHEME_NAME)
            )
        });
    }

    let plain = if json_mode {
        PlainScalars::default()
    } else {
        PlainScalars::scan(text)
    };
    let mut walker = Walker {
        pkg: version_pkg,
        json_mode,
        plain: &plain,
        strict: Vec::new(),
        first_type_error: None,
        abort: None,
    };
    let cleaned = match &root {
        Node::Map(entries) => walker.walk_struct(StructKind::Config, entries, "", &[]),
        // `null` document: Interpret already failed on the missing kind.
        _ => JsonMap::new(),
    };
    // Go's decoder: an error from a field's own UnmarshalJSON (metav1.Duration) aborts at
    // once and wins; otherwise the first type mismatch; only then the strict-mode findings.
    if let Some(abort) = walker.abort {
        return Err(abort);
    }
    if let Some(type_error) = walker.first_type_error {
        return Err(type_error);
    }
    let mut strict = Vec::new();
    if !json_mode {
        if let Some(dups) = yaml_duplicate_keys_message(&root, text) {
            strict.push(dups);
        }
    }
    strict.append(&mut walker.strict);
    if !strict.is_empty() {
        return Err(format!("strict decoding error: {}", strict.join(", ")));
    }

    let source = source.to_path_buf();
    let object = JsonValue::Object(cleaned);
    // The walk has already checked every type, so these conversions only fail on a bug;
    // report it rather than panic.
    let bug = |e: serde_json::Error| format!("internal decoding error: {e}");
    let providers = match version_pkg {
        "v1" => serde_json::from_value::<v1::CredentialProviderConfig>(object)
            .map_err(bug)?
            .providers
            .into_iter()
            .map(|p| p.into_provider(&source, &api_version))
            .collect(),
        _ => serde_json::from_value::<v1beta1::CredentialProviderConfig>(object)
            .map_err(bug)?
            .providers
            .into_iter()
            .map(|p| p.into_provider(&source, &api_version))
            .collect(),
    };
    Ok(providers)
}

/// Kinds the kubelet's config scheme also knows, which decode and are then refused with
/// "wrong Kind" instead of "not registered" (derived from kubelet's config `install`).
fn other_registered_kind(group: &str, version: &str, kind: &str) -> bool {
    group == CONFIG_GROUP
        && matches!(
            (version, kind),
            ("v1beta1", "KubeletConfiguration")
                | ("v1beta1", "SerializedNodeConfigSource")
                | ("v1alpha1", "ImagePullIntent")
                | ("v1alpha1", "ImagePulledRecord")
        )
}

/// apimachinery's `SimpleMetaFactory.Interpret`: a lenient read of `apiVersion` and `kind`.
fn interpret_type_meta(root: &Node) -> Result<(String, String), String> {
    const FIND_KIND: &str = "struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }";
    let prefix = "couldn't get version/kind; json parse error: json: cannot unmarshal";
    let entries = match root {
        Node::Map(entries) => entries,
        Node::Null => return Ok((String::new(), String::new())),
        other => {
            return Err(format!(
                "{prefix} {} into Go value of type {FIND_KIND}",
                other.go_kind()
            ))
        }
    };
    let mut api_version = String::new();
    let mut kind = String::new();
    // Plain encoding/json: a repeated key simply overwrites.
    for (key, value) in entries {
        let slot = match key.as_str() {
            "apiVersion" => &mut api_version,
            "kind" => &mut kind,
            _ => continue,
        };
        match value {
            Node::Str(s) => *slot = s.clone(),
            Node::Null => {}
            other => {
                return Err(format!(
                    "{prefix} {} into Go struct field .{key} of type string",
                    other.go_kind()
                ))
            }
        }
    }
    Ok((api_version, kind))
}

/// `schema.ParseGroupVersion`.
fn parse_group_version(api_version: &str) -> Result<(String, String), String> {
    if api_version.is_empty() || api_version == "/" {
        return Ok((String::new(), String::new()));
    }
    match api_version.matches('/').count() {
        0 => Ok((String::new(), api_version.to_string())),
        1 => match api_version.split_once('/') {
            Some((g, v)) => Ok((g.to_string(), v.to_string())),
            None => Ok((String::new(), api_version.to_string())),
        },
        _ => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

/// Kubelet quotes the whole file in "missing" errors; keep short files whole and cut long
/// ones so one report line stays readable.
fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

// ---------------------------------------------------------------------------------------
// A document tree that keeps what serde_json::Value / serde_yaml_ng::Value throw away:
// repeated keys (strict mode reports them) and the JSON type of every value.

/// A parsed JSON/YAML value with map entries in document order, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    /// Text of the number (only used to name a map key).
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The name Go's `UnmarshalTypeError` gives this JSON value.
    fn go_kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Number(_) => "number",
            Node::Str(_) => "string",
            Node::Seq(_) => "array",
            Node::Map(_) => "object",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON/YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            // YAML→JSON conversion turns scalar keys into their text; others cannot be JSON.
            let key = match key {
                Node::Str(s) | Node::Number(s) => s,
                Node::Bool(b) => b.to_string(),
                Node::Null => "null".to_string(),
                Node::Seq(_) | Node::Map(_) => {
                    return Err(de::Error::custom(
                        "unsupported map key: a sequence or mapping",
                    ))
                }
            };
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
    /// serde_yaml_ng hands a `!tag value` over as an enum; the tag does not change the JSON.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        let (_tag, variant) = data.variant::<String>()?;
        variant.newtype_variant::<Node>()
    }
}

fn parse_json(text: &str) -> Result<Node, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let node = Node::deserialize(&mut de)?;
    de.end()?;
    Ok(node)
}

/// Kubelet's YAML library reads only the first document of a multi-document file.
fn parse_yaml_first_document(text: &str) -> Result<Node, serde_yaml_ng::Error> {
    match serde_yaml_ng::Deserializer::from_str(text).next() {
        Some(document) => Node::deserialize(document),
        None => Ok(Node::Null),
    }
}

// ---------------------------------------------------------------------------------------
// YAML 1.1 vs 1.2. Kubelet's YAML library (go-yaml v2) resolves plain scalars by YAML 1.1:
// `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `1_000` and `017` numbers. serde_yaml_ng is
// YAML 1.2 and hands these over as strings, so `value: yes` would pass here and stop kubelet.
// serde does not tell quoted from plain scalars, so a light line scan collects the plain
// `key: scalar` and `- scalar` occurrences, and the walk consults it for string values.

/// Plain (unquoted) scalars seen in block-style YAML lines: (key or `None` for a list item,
/// scalar text).
#[derive(Debug, Default)]
struct PlainScalars(HashSet<(Option<String>, String)>);

impl PlainScalars {
    fn scan(text: &str) -> PlainScalars {
        let mut found = HashSet::new();
        for line in text.lines() {
            let (is_item, rest) = strip_sequence_dashes(line);
            let (key, value) = match split_block_key(rest) {
                Some((key, value)) => (Some(key), value),
                None if is_item => (None, rest),
                None => continue,
            };
            let value = strip_comment(value).trim();
            if value.is_empty() || value.starts_with(['"', '\'', '[', '{', '|', '>', '&', '*', '!'])
            {
                continue;
            }
            found.insert((key, value.to_string()));
        }
        PlainScalars(found)
    }

    /// What go-yaml v2 turns this plain scalar into when it is not a string.
    fn yaml11_kind(&self, key: Option<&str>, value: &str) -> Option<Yaml11> {
        let probe = (key.map(str::to_string), value.to_string());
        if !self.0.contains(&probe) {
            return None;
        }
        yaml11_resolve(value)
    }
}

/// A scalar go-yaml v2 resolves to a non-string where YAML 1.2 sees a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Yaml11 {
    Bool(bool),
    Number,
}

/// go-yaml v2's resolver for the cases YAML 1.2 (serde_yaml_ng) reads as strings.
fn yaml11_resolve(value: &str) -> Option<Yaml11> {
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Yaml11::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Yaml11::Bool(false)),
        _ => {}
    }
    let first = value.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return None;
    }
    // go-yaml v2 drops underscores, then tries strconv.ParseInt(s, 0, 64) and a float regex.
    let plain: String = value.chars().filter(|c| *c != '_').collect();
    if is_go_int_base0(&plain) || is_yaml_style_float(&plain) {
        Some(Yaml11::Number)
    } else {
        None
    }
}

/// `strconv.ParseInt(s, 0, 64)` syntax (range ignored: digits that overflow still pass the
/// float regex).
fn is_go_int_base0(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(rest) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (rest, 16)
    } else if let Some(rest) = s.strip_prefix("0o").or(s.strip_prefix("0O")) {
        (rest, 8)
    } else if let Some(rest) = s.strip_prefix("0b").or(s.strip_prefix("0B")) {
        (rest, 2)
    } else {
        (s, 10)
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

/// go-yaml v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => digits(e.strip_prefix(['+', '-']).unwrap_or(e)),
    };
    mantissa_ok && exponent_ok
}

/// Strips `- ` list markers (`- - x` nests); says whether there was one.
fn strip_sequence_dashes(line: &str) -> (bool, &str) {
    let mut rest = line.trim_start();
    let mut is_item = false;
    loop {
        if rest == "-" {
            return (true, "");
        }
        match rest.strip_prefix("- ") {
            Some(tail) => {
                is_item = true;
                rest = tail.trim_start();
            }
            None => return (is_item, rest),
        }
    }
}

/// `key: value` / `"key": value` at the start of a block line → (key, value text).
fn split_block_key(rest: &str) -> Option<(String, &str)> {
    let (key, after) = if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'')
    {
        let inner = &rest[1..];
        let end = inner.find(quote)?;
        (inner[..end].to_string(), inner[end + 1..].trim_start())
    } else {
        let end = rest.find(':')?;
        let key = rest[..end].trim_end();
        if key.is_empty() || key.starts_with(['#', '?', '{', '[']) {
            return None;
        }
        (key.to_string(), &rest[end..])
    };
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, value))
}

/// Drops a trailing `# comment` (YAML needs white space before `#`).
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return &value[..i];
        }
    }
    value
}

/// go-yaml v2 strict mode's complaint about repeated keys (`key "x" already set in map`),
/// with line numbers where the block layout makes them unambiguous.
fn yaml_duplicate_keys_message(root: &Node, text: &str) -> Option<String> {
    struct Dup {
        key: String,
        ordinal: usize,
        path: String,
    }
    fn visit(node: &Node, path: &str, counts: &mut HashMap<String, usize>, dups: &mut Vec<Dup>) {
        match node {
            Node::Map(entries) => {
                let mut seen = HashSet::new();
                for (key, value) in entries {
                    let count = counts.entry(key.clone()).or_insert(0);
                    *count += 1;
                    let ordinal = *count;
                    let child = join_path(path, key);
                    if !seen.insert(key.as_str()) {
                        dups.push(Dup {
                            key: key.clone(),
                            ordinal,
                            path: child.clone(),
                        });
                    }
                    visit(value, &child, counts, dups);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    visit(item, &format!("{path}[{i}]"), counts, dups);
                }
            }
            _ => {}
        }
    }
    let mut counts = HashMap::new();
    let mut dups = Vec::new();
    visit(root, "", &mut counts, &mut dups);
    if dups.is_empty() {
        return None;
    }
    // Lines on which each key appears as a block mapping key.
    let mut key_lines: HashMap<String, Vec<usize>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let (_, rest) = strip_sequence_dashes(line);
        if let Some((key, _)) = split_block_key(rest) {
            key_lines.entry(key).or_default().push(n + 1);
        }
    }
    let mut message = String::from("yaml: unmarshal errors:");
    for dup in dups {
        let total = counts.get(&dup.key).copied().unwrap_or(0);
        let line = key_lines
            .get(&dup.key)
            .filter(|lines| lines.len() == total)
            .and_then(|lines| lines.get(dup.ordinal - 1));
        match line {
            Some(line) => message.push_str(&format!(
                "\n  line {line}: key {} already set in map",
                go_quote(&dup.key)
            )),
            // Flow style, anchors or look-alike text: say where instead of guessing a line.
            None => message.push_str(&format!(
                "\n  key {} already set in map (at {})",
                go_quote(&dup.key),
                dup.path
            )),
        }
    }
    Some(message)
}

// ---------------------------------------------------------------------------------------
// The strict, typed walk: Go's encoding/json (sigs.k8s.io/json, case-sensitive, strict) over
// the tree, producing a cleaned JSON value for serde and kubelet's error texts.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StructKind {
    Config,
    Provider,
    EnvVar,
    TokenAttributes,
}

impl StructKind {
    fn go_name(self) -> &'static str {
        match self {
            StructKind::Config => "CredentialProviderConfig",
            StructKind::Provider => "CredentialProvider",
            StructKind::EnvVar => "ExecEnvVar",
            StructKind::TokenAttributes => "ServiceAccountTokenAttributes",
        }
    }
}

/// Go field types the config uses.
#[derive(Debug, Clone, Copy)]
enum FieldType {
    Str,
    /// A named string type (`ServiceAccountTokenCacheType`).
    NamedStr(&'static str),
    Bool,
    /// `*metav1.Duration`: a string, parsed as it is decoded.
    Duration,
    StrList,
    Struct(StructKind),
    List(StructKind),
}

fn fields(kind: StructKind, pkg: &str) -> &'static [(&'static str, FieldType)] {
    const CONFIG: &[(&str, FieldType)] = &[
        ("kind", FieldType::Str),
        ("apiVersion", FieldType::Str),
        ("providers", FieldType::List(StructKind::Provider)),
    ];
    const PROVIDER_V1: &[(&str, FieldType)] = &[
        ("name", FieldType::Str),
        ("matchImages", FieldType::StrList),
        ("defaultCacheDuration", FieldType::Duration),
        ("apiVersion", FieldType::Str),
        ("args", FieldType::StrList),
        ("env", FieldType::List(StructKind::EnvVar)),
        (
            "tokenAttributes",
            FieldType::Struct(StructKind::TokenAttributes),
        ),
    ];
    const ENV: &[(&str, FieldType)] = &[("name", FieldType::Str), ("value", FieldType::Str)];
    const TOKEN_ATTRIBUTES: &[(&str, FieldType)] = &[
        ("serviceAccountTokenAudience", FieldType::Str),
        (
            "cacheType",
            FieldType::NamedStr("ServiceAccountTokenCacheType"),
        ),
        ("requireServiceAccount", FieldType::Bool),
        ("requiredServiceAccountAnnotationKeys", FieldType::StrList),
        ("optionalServiceAccountAnnotationKeys", FieldType::StrList),
    ];
    match kind {
        StructKind::Config => CONFIG,
        // v1alpha1/v1beta1 providers have no tokenAttributes: the same list minus the last.
        StructKind::Provider if pkg == "v1" => PROVIDER_V1,
        StructKind::Provider => &PROVIDER_V1[..PROVIDER_V1.len() - 1],
        StructKind::EnvVar => ENV,
        StructKind::TokenAttributes => TOKEN_ATTRIBUTES,
    }
}

struct Walker<'a> {
    /// Go package of the versioned types (`v1`, `v1beta1`, `v1alpha1`), for type names.
    pkg: &'static str,
    /// JSON input: the JSON decoder itself reports duplicate keys (YAML's are reported by
    /// the YAML pass instead).
    json_mode: bool,
    plain: &'a PlainScalars,
    strict: Vec<String>,
    first_type_error: Option<String>,
    abort: Option<String>,
}

impl Walker<'_> {
    fn go_type(&self, ty: FieldType) -> String {
        match ty {
            FieldType::Str | FieldType::Duration => "string".to_string(),
            FieldType::NamedStr(name) => format!("{}.{name}", self.pkg),
            FieldType::Bool => "bool".to_string(),
            FieldType::StrList => "[]string".to_string(),
            FieldType::Struct(kind) => format!("{}.{}", self.pkg, kind.go_name()),
            FieldType::List(kind) => format!("[]{}.{}", self.pkg, kind.go_name()),
        }
    }

    /// Go's `UnmarshalTypeError` text with the decoder's error context.
    fn type_error_text(
        value_kind: &str,
        struct_name: &str,
        stack: &[&str],
        go_type: &str,
    ) -> String {
        format!(
            "json: cannot unmarshal {value_kind} into Go struct field {struct_name}.{} of type {go_type}",
            stack.join(".")
        )
    }

    fn type_error(&mut self, value_kind: &str, struct_name: &str, stack: &[&str], go_type: &str) {
        if self.first_type_error.is_none() {
            self.first_type_error = Some(Self::type_error_text(
                value_kind,
                struct_name,
                stack,
                go_type,
            ));
        }
    }

    /// A string value as kubelet would see it: a YAML 1.1 boolean/number where go-yaml v2
    /// resolves one (`None` then), else the text.
    fn string_value<'n>(&self, key: Option<&str>, text: &'n str) -> Result<&'n str, Yaml11> {
        match self.plain.yaml11_kind(key, text) {
            Some(kind) => Err(kind),
            None => Ok(text),
        }
    }

    fn walk_struct(
        &mut self,
        kind: StructKind,
        entries: &[(String, Node)],
        path: &str,
        stack: &[&str],
    ) -> JsonMap<String, JsonValue> {
        let mut out = JsonMap::new();
        let mut seen = HashSet::new();
        let spec = fields(kind, self.pkg);
        // YAML reaches Go's JSON decoder through a Go map (YAMLToJSON): a repeated key keeps
        // its last value and keys come in byte order, which decides which type error is
        // "first" and the order of strict errors. JSON is decoded as written.
        let mut ordered: Vec<&(String, Node)> = entries.iter().collect();
        if !self.json_mode {
            let mut last: HashMap<&str, usize> = HashMap::new();
            for (i, (key, _)) in entries.iter().enumerate() {
                last.insert(key.as_str(), i);
            }
            ordered = entries
                .iter()
                .enumerate()
                .filter(|(i, (key, _))| last.get(key.as_str()) == Some(i))
                .map(|(_, entry)| entry)
                .collect();
            ordered.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        for (key, value) in ordered {
            if self.abort.is_some() {
                break;
            }
            let child_path = join_path(path, key);
            if self.json_mode && !seen.insert(key.as_str()) {
                self.strict
                    .push(format!("duplicate field {}", go_quote(&child_path)));
            }
            // Case-sensitive: `Name` is an unknown field, not `name`.
            let Some((name, ty)) = spec.iter().find(|(name, _)| *name == key.as_str()) else {
                self.strict
                    .push(format!("unknown field {}", go_quote(&child_path)));
                continue;
            };
            let mut child_stack = stack.to_vec();
            child_stack.push(name);
            if let Some(json) = self.walk_field(kind, *ty, name, value, &child_path, &child_stack) {
                out.insert((*name).to_string(), json);
            } else {
                // `null` (or a rejected value): Go leaves the field as it was; a later
                // duplicate of the key may still set it, an earlier one is overwritten.
                out.remove(*name);
            }
        }
        out
    }

    /// Checks one field value; `None` means "leave the Go field at its zero value".
    fn walk_field(
        &mut self,
        parent: StructKind,
        ty: FieldType,
        key: &str,
        value: &Node,
        path: &str,
        stack: &[&str],
    ) -> Option<JsonValue> {
        let struct_name = parent.go_name();
        let go_type = self.go_type(ty);
        match (ty, value) {
            (_, Node::Null) => None,
            (FieldType::Str | FieldType::NamedStr(_), Node::Str(s)) => {
                match self.string_value(Some(key), s) {
                    Ok(s) => Some(JsonValue::String(s.to_string())),
                    Err(kind) => {
                        self.type_error(yaml11_go_kind(kind), struct_name, stack, &go_type);
                        None
                    }
                }
            }
            (FieldType::Bool, Node::Bool(b)) => Some(JsonValue::Bool(*b)),
            (FieldType::Bool, Node::Str(s)) => match self.string_value(Some(key), s) {
                Err(Yaml11::Bool(b)) => Some(JsonValue::Bool(b)),
                Err(Yaml11::Number) => {
                    self.type_error("number", struct_name, stack, &go_type);
                    None
                }
                Ok(_) => {
                    self.type_error("string", struct_name, stack, &go_type);
                    None
                }
            },
            (FieldType::Duration, node) => {
                // metav1.Duration.UnmarshalJSON: json.Unmarshal into a string, then
                // time.ParseDuration; either failure aborts the whole decode.
                let text = match node {
                    Node::Str(s) => match self.string_value(Some(key), s) {
                        Ok(s) => s,
                        Err(kind) => {
                            self.abort = Some(Self::type_error_text(
                                yaml11_go_kind(kind),
                                struct_name,
                                stack,
                                "string",
                            ));
                            return None;
                        }
                    },
                    other => {
                        self.abort = Some(Self::type_error_text(
                            other.go_kind(),
                            struct_name,
                            stack,
                            "string",
                        ));
                        return None;
                    }
                };
                match parse_go_duration(text) {
                    Ok(_) => Some(JsonValue::String(text.to_string())),
                    Err(e) => {
                        self.abort = Some(e.to_string());
                        None
                    }
                }
            }
            (FieldType::StrList, Node::Seq(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        // A null element stays Go's zero value, "".
                        Node::Null => list.push(JsonValue::String(String::new())),
                        Node::Str(s) => match self.string_value(None, s) {
                            Ok(s) => list.push(JsonValue::String(s.to_string())),
                            Err(kind) => {
                                self.type_error(yaml11_go_kind(kind), struct_name, stack, "string");
                                list.push(JsonValue::String(String::new()));
                            }
                        },
                        other => {
                            self.type_error(other.go_kind(), struct_name, stack, "string");
                            list.push(JsonValue::String(String::new()));
                        }
                    }
                }
                Some(JsonValue::Array(list))
            }
            (FieldType::Struct(kind), Node::Map(entries)) => Some(JsonValue::Object(
                self.walk_struct(kind, entries, path, stack),
            )),
            (FieldType::List(kind), Node::Seq(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    match item {
                        Node::Null => list.push(JsonValue::Object(JsonMap::new())),
                        Node::Map(entries) => list.push(JsonValue::Object(
                            self.walk_struct(kind, entries, &item_path, stack),
                        )),
                        other => {
                            let elem = format!("{}.{}", self.pkg, kind.go_name());
                            self.type_error(other.go_kind(), struct_name, stack, &elem);
                            list.push(JsonValue::Object(JsonMap::new()));
                        }
                    }
                    if self.abort.is_some() {
                        break;
                    }
                }
                Some(JsonValue::Array(list))
            }
            (_, other) => {
                self.type_error(other.go_kind(), struct_name, stack, &go_type);
                None
            }
        }
    }
}

fn yaml11_go_kind(kind: Yaml11) -> &'static str {
    match kind {
        Yaml11::Bool(_) => "bool",
        Yaml11::Number => "number",
    }
}

/// sigs.k8s.io/json's field path: `providers[0].tokenAttributes`.
fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

// ---------------------------------------------------------------------------------------
// The versioned wire types. The walk has already applied kubelet's strictness and Go's
// typing; these types are the typed result, and keep `deny_unknown_fields` so that using
// them directly (e.g. from a test) is strict too.

/// Duration text that must parse as a Go duration (`metav1.Duration` on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoDurationText(pub String);

impl<'de> Deserialize<'de> for GoDurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_go_duration(&text).map_err(de::Error::custom)?;
        Ok(GoDurationText(text))
    }
}

/// `kubelet.config.k8s.io/v1` (kubelet 1.26+): the only version with `tokenAttributes`.
pub mod v1 {
    use super::{EnvVar, GoDurationText, Provider, TokenAttributes};
    use serde::Deserialize;
    use std::path::Path;

    /// The file's top level.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CredentialProviderConfig {
        /// `kubelet.config.k8s.io/v1`.
        #[serde(default)]
        pub api_version: String,
        /// `CredentialProviderConfig`.
        #[serde(default)]
        pub kind: String,
        /// Providers in order.
        #[serde(default)]
        pub providers: Vec<CredentialProvider>,
    }

    /// One provider entry.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CredentialProvider {
        /// Executable name.
        #[serde(default)]
        pub name: String,
        /// Image patterns.
        #[serde(default)]
        pub match_images: Vec<String>,
        /// Go duration text; `None` when absent or null.
        #[serde(default)]
        pub default_cache_duration: Option<GoDurationText>,
        /// Exec protocol version.
        #[serde(default)]
        pub api_version: String,
        /// Extra argv.
        #[serde(default)]
        pub args: Vec<String>,
        /// Extra environment.
        #[serde(default)]
        pub env: Vec<EnvVar>,
        /// Service-account token mode.
        #[serde(default)]
        pub token_attributes: Option<TokenAttributes>,
    }

    impl CredentialProvider {
        /// The version-independent form, remembering where it came from.
        pub fn into_provider(self, source: &Path, config_api_version: &str) -> Provider {
            Provider {
                name: self.name,
                match_images: self.match_images,
                default_cache_duration: self.default_cache_duration.map(|d| d.0),
                api_version: self.api_version,
                args: self.args,
                env: self.env,
                token_attributes: self.token_attributes,
                source: source.to_path_buf(),
                config_api_version: config_api_version.to_string(),
            }
        }
    }
}

/// `kubelet.config.k8s.io/v1beta1` (kubelet 1.24+): as v1 without `tokenAttributes`.
pub mod v1beta1 {
    use super::{EnvVar, GoDurationText, Provider};
    use serde::Deserialize;
    use std::path::Path;

    /// The file's top level.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CredentialProviderConfig {
        /// `kubelet.config.k8s.io/v1beta1` (or v1alpha1, same shape).
        #[serde(default)]
        pub api_version: String,
        /// `CredentialProviderConfig`.
        #[serde(default)]
        pub kind: String,
        /// Providers in order.
        #[serde(default)]
        pub providers: Vec<CredentialProvider>,
    }

    /// One provider entry; a `tokenAttributes` key is an unknown field here.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct CredentialProvider {
        /// Executable name.
        #[serde(default)]
        pub name: String,
        /// Image patterns.
        #[serde(default)]
        pub match_images: Vec<String>,
        /// Go duration text; `None` when absent or null.
        #[serde(default)]
        pub default_cache_duration: Option<GoDurationText>,
        /// Exec protocol version.
        #[serde(default)]
        pub api_version: String,
        /// Extra argv.
        #[serde(default)]
        pub args: Vec<String>,
        /// Extra environment.
        #[serde(default)]
        pub env: Vec<EnvVar>,
    }

    impl CredentialProvider {
        /// The version-independent form, remembering where it came from.
        pub fn into_provider(self, source: &Path, config_api_version: &str) -> Provider {
            Provider {
                name: self.name,
                match_images: self.match_images,
                default_cache_duration: self.default_cache_duration.map(|d| d.0),
                api_version: self.api_version,
                args: self.args,
                env: self.env,
                token_attributes: None,
                source: source.to_path_buf(),
                config_api_version: config_api_version.to_string(),
            }
        }
    }
}

/// `kubelet.config.k8s.io/v1alpha1` (kubelet 1.20+): field-for-field the same as v1beta1.
pub mod v1alpha1 {
    pub use super::v1beta1::{CredentialProvider, CredentialProviderConfig};
}

// ---------------------------------------------------------------------------------------
// Go-style text helpers, shared with `validate`.

/// Go's `strconv.Quote` (`%q`) for the strings that appear in kubelet's messages: printable
/// text kept, `"` and `\` escaped, control characters as Go escapes them.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_path(path: &Path) -> String {
    go_quote(&path.to_string_lossy())
}

/// Go's `*PathError` text: `stat /x: no such file or directory`.
fn go_path_error(op: &str, path: &Path, err: &io::Error) -> String {
    let text = err.to_string();
    // Rust appends " (os error N)" and capitalises; Go prints the bare, lower-case strerror.
    let bare = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let mut chars = bare.chars();
    let bare = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    format!("{op} {}: {bare}", path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_str(text: &str) -> Result<Vec<Provider>, String> {
        decode(text.as_bytes(), Path::new("/etc/kubernetes/cp.yaml"))
    }

    fn decode_err(text: &str) -> String {
        match decode_str(text) {
            Ok(p) => panic!("expected an error, decoded {p:?}"),
            Err(e) => e,
        }
    }

    /// A fresh directory under the system temp dir, removed when dropped.
    use crate::test_util::TempDir;

    const V1_TWO_PROVIDERS: &str = "\
kind: CredentialProviderConfig
apiVersion: kubelet.config.k8s.io/v1
providers:
  - name: test1
    matchImages:
    - \"registry.io/one\"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/v1
  - name: test2
    matchImages:
    - \"registry.io/two\"
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args:
    - --v=5
    env:
    - name: FOO
      value: BAR
";

    fn provider_yaml(version: &str, name: &str, extra: &str) -> String {
        format!(
            "apiVersion: kubelet.config.k8s.io/{version}\nkind: CredentialProviderConfig\nproviders:\n- name: {name}\n  matchImages: [\"registry.io\"]\n  defaultCacheDuration: 10m\n  apiVersion: credentialprovider.kubelet.k8s.io/{version}\n{extra}"
        )
    }

    #[test]
    fn yaml_config_with_two_providers_decodes_in_order() {
        let providers = decode_str(V1_TWO_PROVIDERS).unwrap();
        assert_eq!(providers.len(), 2);
        assert_eq!(providers[0].name, "test1");
        assert_eq!(providers[0].match_images, vec!["registry.io/one"]);
        assert_eq!(providers[0].default_cache_duration.as_deref(), Some("10m"));
        assert_eq!(
            providers[0].api_version,
            "credentialprovider.kubelet.k8s.io/v1"
        );
        assert_eq!(providers[0].config_api_version, "kubelet.config.k8s.io/v1");
        assert_eq!(providers[0].source, Path::new("/etc/kubernetes/cp.yaml"));
        assert_eq!(providers[1].args, vec!["--v=5"]);
        assert_eq!(
            providers[1].env,
            vec![EnvVar {
                name: "FOO".into(),
                value: "BAR".into()
            }]
        );
    }

    #[test]
    fn json_config_decodes_like_yaml() {
        let json = r#"{
          "kind": "CredentialProviderConfig",
          "apiVersion": "kubelet.config.k8s.io/v1alpha1",
          "providers": [{
            "name": "test",
            "matchImages": ["registry.io/foobar"],
            "defaultCacheDuration": "10m",
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1alpha1",
            "args": ["--v=5"],
            "env": [{"name": "FOO", "value": "BAR"}]
          }]
        }"#;
        let providers = decode_str(json).unwrap();
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].name, "test");
        assert_eq!(providers[0].env[0].value, "BAR");
        assert_eq!(
            providers[0].config_api_version,
            "kubelet.config.k8s.io/v1alpha1"
        );
    }

    #[test]
    fn v1_token_attributes_decode_with_nil_and_false_kept_apart() {
        let unset = provider_yaml(
            "v1",
            "p",
            "  tokenAttributes:\n    serviceAccountTokenAudience: aud\n    cacheType: Token\n",
        );
        let ta = decode_str(&unset).unwrap()[0]
            .token_attributes
            .clone()
            .unwrap();
        assert_eq!(ta.service_account_token_audience, "aud");
        assert_eq!(ta.cache_type, "Token");
        assert_eq!(ta.require_service_account, None);

        let set_false = provider_yaml(
            "v1",
            "p",
            "  tokenAttributes:\n    serviceAccountTokenAudience: aud\n    requireServiceAccount: false\n    optionalServiceAccountAnnotationKeys: [a.io/b]\n",
        );
        let ta = decode_str(&set_false).unwrap()[0]
            .token_attributes
            .clone()
            .unwrap();
        assert_eq!(ta.require_service_account, Some(false));
        assert_eq!(ta.optional_service_account_annotation_keys, vec!["a.io/b"]);
    }

    // P21: tokenAttributes under v1beta1/v1alpha1 is an unknown field.
    #[test]
    fn p21_token_attributes_in_v1beta1_is_unknown_field() {
        for version in ["v1beta1", "v1alpha1"] {
            let text = provider_yaml(
                version,
                "test",
                "  tokenAttributes:\n    serviceAccountTokenAudience: audience\n",
            );
            assert_eq!(
                decode_err(&text),
                "strict decoding error: unknown field \"providers[0].tokenAttributes\""
            );
        }
    }

    #[test]
    fn unknown_and_case_mismatched_fields_are_all_reported() {
        // YAML goes through a Go map on its way to the JSON decoder: keys in byte order.
        let text = provider_yaml("v1", "test", "  unknownField: x\n  Args: [a]\nextra: 1\n");
        assert_eq!(
            decode_err(&text),
            "strict decoding error: unknown field \"extra\", unknown field \"providers[0].Args\", unknown field \"providers[0].unknownField\""
        );
        // JSON is decoded in document order.
        let json = r#"{"kind":"CredentialProviderConfig","apiVersion":"kubelet.config.k8s.io/v1",
            "providers":[{"name":"a","unknownField":1,"Args":[],"matchImages":["x.io"],
            "defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}],"extra":1}"#;
        assert_eq!(
            decode_err(json),
            "strict decoding error: unknown field \"providers[0].unknownField\", unknown field \"providers[0].Args\", unknown field \"extra\""
        );
    }

    #[test]
    fn yaml_first_type_error_follows_key_order_and_last_duplicate() {
        // `args` sorts before `name`, whatever the document order.
        let text = provider_yaml("v1", "5", "  args: x\n");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal string into Go struct field CredentialProvider.providers.args of type []string"
        );
        // Only the last of repeated keys reaches the JSON decoder: no type error, just the
        // duplicate.
        let text = provider_yaml("v1", "a", "").replace("- name: a\n", "- name: 5\n  name: a\n");
        assert_eq!(
            decode_err(&text),
            "strict decoding error: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map"
        );
    }

    #[test]
    fn yaml_duplicate_key_reports_its_line() {
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: a\n  name: b\n  matchImages: [x.io]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n";
        assert_eq!(
            decode_err(text),
            "strict decoding error: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map"
        );
    }

    #[test]
    fn yaml_duplicate_key_in_flow_style_names_the_path() {
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- {name: a, name: b, matchImages: [x.io], defaultCacheDuration: 1m, apiVersion: credentialprovider.kubelet.k8s.io/v1}\n";
        assert_eq!(
            decode_err(text),
            "strict decoding error: yaml: unmarshal errors:\n  key \"name\" already set in map (at providers[0].name)"
        );
    }

    #[test]
    fn json_duplicate_key_is_a_strict_error_with_its_path() {
        let json = r#"{"kind":"CredentialProviderConfig","apiVersion":"kubelet.config.k8s.io/v1",
            "providers":[{"name":"a","name":"b","matchImages":["x.io"],"defaultCacheDuration":"1m",
            "apiVersion":"credentialprovider.kubelet.k8s.io/v1"}]}"#;
        assert_eq!(
            decode_err(json),
            "strict decoding error: duplicate field \"providers[0].name\""
        );
    }

    #[test]
    fn number_typed_duration_is_a_type_error() {
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: 0");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal number into Go struct field CredentialProvider.providers.defaultCacheDuration of type string"
        );
        let json = r#"{"kind":"CredentialProviderConfig","apiVersion":"kubelet.config.k8s.io/v1",
            "providers":[{"name":"a","matchImages":["x.io"],"defaultCacheDuration":3600,
            "apiVersion":"credentialprovider.kubelet.k8s.io/v1"}]}"#;
        assert_eq!(
            decode_err(json),
            "json: cannot unmarshal number into Go struct field CredentialProvider.providers.defaultCacheDuration of type string"
        );
    }

    #[test]
    fn quoted_zero_duration_is_fine_and_kept_as_text() {
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: \"0\"");
        assert_eq!(
            decode_str(&text).unwrap()[0]
                .default_cache_duration
                .as_deref(),
            Some("0")
        );
    }

    #[test]
    fn invalid_duration_text_is_go_parse_error() {
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: 1d");
        assert_eq!(
            decode_err(&text),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: \"\"");
        assert_eq!(decode_err(&text), "time: invalid duration \"\"");
    }

    #[test]
    fn duration_error_wins_over_an_earlier_type_error_and_strict_errors() {
        let text = provider_yaml("v1", "p", "  bogus: 1\n")
            .replace("- name: p\n", "- name: 5\n")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: x");
        assert_eq!(decode_err(&text), "time: invalid duration \"x\"");
    }

    #[test]
    fn type_error_wins_over_strict_errors() {
        let text = provider_yaml("v1", "p", "  bogus: 1\n  args: --v=5\n");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal string into Go struct field CredentialProvider.providers.args of type []string"
        );
    }

    #[test]
    fn null_duration_decodes_as_absent() {
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration:");
        assert_eq!(decode_str(&text).unwrap()[0].default_cache_duration, None);
    }

    #[test]
    fn yaml11_boolean_env_value_is_refused_like_kubelet() {
        let text = provider_yaml("v1", "p", "  env:\n  - name: DEBUG\n    value: yes\n");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal bool into Go struct field ExecEnvVar.providers.env.value of type string"
        );
        // Quoted, it is a string for both YAML versions.
        let text = provider_yaml("v1", "p", "  env:\n  - name: DEBUG\n    value: \"yes\"\n");
        assert_eq!(decode_str(&text).unwrap()[0].env[0].value, "yes");
    }

    #[test]
    fn yaml11_number_forms_are_numbers_for_kubelet() {
        let text = provider_yaml("v1", "p", "  args:\n  - 1_000\n");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal number into Go struct field CredentialProvider.providers.args of type string"
        );
    }

    #[test]
    fn yaml11_yes_is_true_for_require_service_account() {
        let text = provider_yaml(
            "v1",
            "p",
            "  tokenAttributes:\n    serviceAccountTokenAudience: a\n    cacheType: Token\n    requireServiceAccount: yes\n",
        );
        let ta = decode_str(&text).unwrap()[0]
            .token_attributes
            .clone()
            .unwrap();
        assert_eq!(ta.require_service_account, Some(true));
    }

    #[test]
    fn string_for_bool_field_is_a_type_error() {
        let text = provider_yaml(
            "v1",
            "p",
            "  tokenAttributes:\n    serviceAccountTokenAudience: a\n    requireServiceAccount: \"true\"\n",
        );
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal string into Go struct field ServiceAccountTokenAttributes.providers.tokenAttributes.requireServiceAccount of type bool"
        );
    }

    #[test]
    fn wrong_type_for_struct_and_list_fields_names_go_types() {
        let text = provider_yaml("v1", "p", "  tokenAttributes: yes-please\n");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal string into Go struct field CredentialProvider.providers.tokenAttributes of type v1.ServiceAccountTokenAttributes"
        );
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: CredentialProviderConfig\nproviders: {}\n";
        assert_eq!(
            decode_err(text),
            "json: cannot unmarshal object into Go struct field CredentialProviderConfig.providers of type []v1beta1.CredentialProvider"
        );
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: [abc]\n";
        assert_eq!(
            decode_err(text),
            "json: cannot unmarshal string into Go struct field CredentialProviderConfig.providers of type v1.CredentialProvider"
        );
    }

    #[test]
    fn number_name_is_a_type_error() {
        let text = provider_yaml("v1", "123", "");
        assert_eq!(
            decode_err(&text),
            "json: cannot unmarshal number into Go struct field CredentialProvider.providers.name of type string"
        );
    }

    #[test]
    fn wrong_kind_is_not_registered() {
        let text = V1_TWO_PROVIDERS.replace("kind: CredentialProviderConfig", "kind: WrongKind");
        assert_eq!(
            decode_err(&text),
            "no kind \"WrongKind\" is registered for version \"kubelet.config.k8s.io/v1\" in scheme \"pkg/credentialprovider/plugin/plugin.go\""
        );
    }

    #[test]
    fn kubelet_configuration_is_the_wrong_kind() {
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
        assert_eq!(
            decode_err(text),
            "failed to decode \"KubeletConfiguration\" (wrong Kind)"
        );
    }

    #[test]
    fn wrong_group_is_not_registered() {
        let text = V1_TWO_PROVIDERS.replace(
            "apiVersion: kubelet.config.k8s.io/v1\n",
            "apiVersion: foobar/v1alpha1\n",
        );
        assert!(decode_err(&text).starts_with(
            "no kind \"CredentialProviderConfig\" is registered for version \"foobar/v1alpha1\""
        ));
    }

    #[test]
    fn missing_kind_and_api_version_are_reported_with_the_file_text() {
        assert_eq!(decode_err(""), "Object 'Kind' is missing in ''");
        assert_eq!(
            decode_err("kind: CredentialProviderConfig\n"),
            "Object 'apiVersion' is missing in 'kind: CredentialProviderConfig\n'"
        );
        assert_eq!(
            decode_err("apiVersion: a/b/c\nkind: X\n"),
            "unexpected GroupVersion string: a/b/c"
        );
    }

    #[test]
    fn top_level_list_cannot_carry_a_kind() {
        assert!(decode_err("- a\n- b\n").starts_with(
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct {"
        ));
        assert_eq!(
            decode_err("apiVersion: 1\nkind: x\n"),
            "couldn't get version/kind; json parse error: json: cannot unmarshal number into Go struct field .apiVersion of type string"
        );
    }

    #[test]
    fn only_the_first_yaml_document_counts() {
        let text = format!("{V1_TWO_PROVIDERS}---\nthis: [is, ignored\n");
        assert_eq!(decode_str(&text).unwrap().len(), 2);
    }

    #[test]
    fn yaml_syntax_error_is_an_error() {
        assert!(decode_err("apiVersion: [\n").starts_with("yaml: "));
    }

    #[test]
    fn json_syntax_error_is_a_version_kind_error() {
        assert!(
            decode_err("{\"kind\": ").starts_with("couldn't get version/kind; json parse error: ")
        );
    }

    #[test]
    fn null_list_elements_become_zero_values() {
        let text = provider_yaml("v1", "p", "  args:\n  - \n  - b\n");
        assert_eq!(decode_str(&text).unwrap()[0].args, vec!["", "b"]);
    }

    #[test]
    fn empty_providers_decode_to_nothing() {
        let text =
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n";
        assert!(decode_str(text).unwrap().is_empty());
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("tab\there\n"), "\"tab\\there\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("µs"), "\"µs\"");
    }

    #[test]
    fn directory_files_are_read_in_byte_order_with_kubelets_extensions_only() {
        let dir = TempDir::new("order");
        dir.write("b.yaml", &provider_yaml("v1", "second", ""));
        dir.write(
            "a.json",
            r#"{"kind":"CredentialProviderConfig","apiVersion":"kubelet.config.k8s.io/v1beta1",
              "providers":[{"name":"first","matchImages":["x.io"],"defaultCacheDuration":"5m",
              "apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1"}]}"#,
        );
        dir.write("c.yml", &provider_yaml("v1alpha1", "third", ""));
        dir.write("notes.txt", "not a config");
        dir.write("d.yaml.bak", "not a config either");
        fs::create_dir(dir.0.join("sub.yaml")).unwrap();
        let loaded = load(&dir.0).unwrap();
        let names: Vec<&str> = loaded.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["first", "second", "third"]);
        assert_eq!(
            loaded.files,
            vec![
                dir.0.join("a.json"),
                dir.0.join("b.yaml"),
                dir.0.join("c.yml")
            ]
        );
        assert_eq!(loaded.providers[1].source, dir.0.join("b.yaml"));
    }

    #[test]
    fn directory_without_config_files_is_an_error() {
        let dir = TempDir::new("empty");
        dir.write("README.md", "nothing");
        let err = load(&dir.0).unwrap_err();
        assert_eq!(err, ConfigError::NoFiles { dir: dir.0.clone() });
        assert!(err
            .to_string()
            .starts_with("no configuration files found in directory \""));
    }

    #[test]
    fn provider_name_repeated_across_files_is_an_error() {
        let dir = TempDir::new("dup");
        dir.write("10-a.yaml", &provider_yaml("v1", "duplicate", ""));
        dir.write("20-b.yaml", &provider_yaml("v1", "duplicate", ""));
        let err = load(&dir.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "duplicate provider name \"duplicate\" found in configuration file(s)"
        );
        assert_eq!(
            err,
            ConfigError::DuplicateName {
                name: "duplicate".into(),
                first: (dir.0.join("10-a.yaml"), 0),
                second: (dir.0.join("20-b.yaml"), 0),
            }
        );
    }

    #[test]
    fn provider_name_repeated_within_one_file_is_a_load_error_too() {
        let dir = TempDir::new("dup-one");
        let text = format!(
            "{}- name: twice\n  matchImages: [y.io]\n  defaultCacheDuration: 1m\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
            provider_yaml("v1", "twice", "")
        );
        let file = dir.write("c.yaml", &text);
        let err = load(&file).unwrap_err();
        assert!(matches!(err, ConfigError::DuplicateName { ref second, .. } if second.1 == 1));
    }

    #[test]
    fn one_bad_file_in_a_directory_fails_and_names_the_file() {
        let dir = TempDir::new("bad");
        dir.write("a.yaml", &provider_yaml("v1", "good", ""));
        let bad = dir.write(
            "b.yaml",
            "kind: WrongKind\napiVersion: kubelet.config.k8s.io/v1\n",
        );
        let report = load_all(&dir.0);
        assert_eq!(report.config.providers.len(), 1);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].to_string(),
            format!(
                "error decoding config {}: no kind \"WrongKind\" is registered for version \"kubelet.config.k8s.io/v1\" in scheme \"pkg/credentialprovider/plugin/plugin.go\"",
                go_quote(&bad.to_string_lossy())
            )
        );
    }

    #[test]
    fn missing_path_is_an_access_error() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("nope.yaml");
        let err = load(&path).unwrap_err();
        let p = path.to_string_lossy();
        assert_eq!(
            err.to_string(),
            format!("unable to access path \"{p}\": stat {p}: no such file or directory")
        );
        assert_eq!(load(Path::new("")).unwrap_err(), ConfigError::EmptyPath);
    }

    #[test]
    fn symlinked_directory_entry_is_read_and_fails() {
        #[cfg(unix)]
        {
            let dir = TempDir::new("symlink");
            dir.write("a.yaml", &provider_yaml("v1", "good", ""));
            let target = TempDir::new("symlink-target");
            std::os::unix::fs::symlink(&target.0, dir.0.join("b.yaml")).unwrap();
            let err = load(&dir.0).unwrap_err();
            assert!(
                matches!(err, ConfigError::ReadFile { ref cause, .. } if cause.ends_with("is a directory")),
                "{err}"
            );
        }
    }

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    #[test]
    fn a_file_that_is_not_regular_is_refused_without_a_verdict() {
        let dir = TempDir::new("refused");
        let fifo = dir.0.join("config.yaml");
        mkfifo(&fifo);
        // Alone, and inside a config directory (where kubelet itself would block on it).
        for path in [fifo.clone(), dir.0.clone()] {
            let report = load_all(&path);
            assert_eq!(
                report.errors,
                vec![ConfigError::Refused {
                    path: fifo.clone(),
                    reason: "cannot read it: it is a FIFO (named pipe), not a regular file".into(),
                }]
            );
        }
        let err = load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubelet config /dev/zero: cannot read it: it is a character device, not a regular file"
        );
    }

    #[test]
    fn documents_beyond_the_parse_limits_are_refused_before_decoding() {
        let dir = TempDir::new("limits");
        let deep_yaml = dir.write("a.yaml", &"- ".repeat(200_000));
        let err = load(&deep_yaml).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "kubelet config {}: it nests more than 64 levels deep (line 1), the limit for local documents",
                deep_yaml.display()
            )
        );
        let deep_json = dir.write("b.json", &format!("{{\"a\":{}", "[".repeat(200_000)));
        assert!(matches!(load(&deep_json), Err(ConfigError::Refused { .. })));
        // The first refused file ends the run: later files are not read.
        let report = load_all(&dir.0);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    }

    #[test]
    fn serde_types_are_strict_on_their_own() {
        let value = serde_json::json!({"apiVersion": "x", "kind": "y", "providers": [{"tokenAttributes": {}}]});
        assert!(
            serde_json::from_value::<v1beta1::CredentialProviderConfig>(value.clone()).is_err()
        );
        assert!(serde_json::from_value::<v1::CredentialProviderConfig>(value).is_ok());
        let bad = serde_json::json!({"providers": [{"defaultCacheDuration": "1 m"}]});
        assert!(serde_json::from_value::<v1::CredentialProviderConfig>(bad).is_err());
    }

    #[test]
    fn yaml11_resolution_matches_go_yaml_v2() {
        assert_eq!(yaml11_resolve("on"), Some(Yaml11::Bool(true)));
        assert_eq!(yaml11_resolve("NO"), Some(Yaml11::Bool(false)));
        assert_eq!(yaml11_resolve("017"), Some(Yaml11::Number));
        assert_eq!(yaml11_resolve("0b101"), Some(Yaml11::Number));
        assert_eq!(yaml11_resolve("1_000"), Some(Yaml11::Number));
        assert_eq!(yaml11_resolve(".5"), Some(Yaml11::Number));
        assert_eq!(yaml11_resolve("10m"), None);
        assert_eq!(yaml11_resolve("--v=5"), None);
        assert_eq!(yaml11_resolve("-"), None);
        assert_eq!(yaml11_resolve("1.2.3.4"), None);
    }
}
