//! Reading kubelet's `CredentialProviderConfig` as strictly as kubelet reads it.
//!
//! Kubelet reads `--image-credential-provider-config` once at start-up, and any problem in it
//! makes kubelet exit ("Failed to register CRI auth plugins"). A validator is only useful if it
//! refuses what kubelet refuses and accepts what kubelet accepts, so this reader follows
//! kubelet's (`pkg/credentialprovider/plugin/config.go`, 1.34):
//!
//! - the path is a file, or (1.34+) a directory whose non-directory entries named `*.json`,
//!   `*.yaml` or `*.yml` are read in byte order, their providers concatenated; a provider name
//!   may appear only once in all of them;
//! - a file whose first non-blank character is `{` is JSON, anything else YAML (its first
//!   document only): apimachinery's universal decoder decides the same way;
//! - `apiVersion` and `kind` are checked first, because kubelet picks the Go type from them;
//! - then the file is decoded strictly into one [`Provider`] type for all three config
//!   versions: unknown or case-mismatched field names, repeated keys and values of the wrong
//!   type are errors, as in kubelet's strict decoder — types as kubelet's YAML 1.1 reader sees
//!   them, so an unquoted `yes` is a boolean. The one difference between the versions,
//!   `tokenAttributes` (v1 only), is an unknown field in the others.
//!
//! Messages come from serde: the field path (`providers[0].env[1].value`), what is wrong, and
//! the line and column (a repeated key is placed at the start of its mapping). They do not copy
//! the wording of Go's decoder; the rules kubelet applies after decoding, whose wording they do
//! copy, live in [`crate::validate`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Unexpected, Visitor};
use serde::Deserialize;

use crate::duration::parse_go_duration;
use crate::local_file::{self, FileError};
use crate::parse_limits;
use crate::pattern::go_quote;

/// The only `kind` kubelet accepts in a credential provider config file.
const CONFIG_KIND: &str = "CredentialProviderConfig";

/// Config file `apiVersion`s kubelet can decode, newest first.
const CONFIG_API_VERSIONS: &[&str] = &[
    CONFIG_API_VERSION_V1,
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];

/// The config file `apiVersion` whose providers may carry `tokenAttributes`.
const CONFIG_API_VERSION_V1: &str = "kubelet.config.k8s.io/v1";

/// Provider `apiVersion`s (the exec protocol version), sorted as kubelet lists them in its
/// "supported values" message.
pub const PROVIDER_API_VERSIONS: &[&str] = &[
    PROVIDER_API_VERSION_V1,
    "credentialprovider.kubelet.k8s.io/v1alpha1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
];

/// The provider `apiVersion` that may carry `tokenAttributes` (service-account token mode).
pub const PROVIDER_API_VERSION_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// File name endings kubelet reads from a config directory (Go `filepath.Ext`).
const DIR_EXTENSIONS: &[&str] = &[".json", ".yaml", ".yml"];

/// One provider, whatever the file's `apiVersion`: the fields are those of v1, and the only
/// field v1beta1/v1alpha1 lack, `tokenAttributes`, is refused for them while decoding.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// Executable name kubelet runs from its bin dir; also the provider's identity.
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    /// Patterns matched against the normalised image (see [`crate::pattern`]).
    #[serde(default, deserialize_with = "texts")]
    pub match_images: Vec<String>,
    /// `defaultCacheDuration` as written. `None` means absent or `null` (an error kubelet
    /// reports); when present it always parses with [`parse_go_duration`], because decoding
    /// refuses anything else, as kubelet's `metav1.Duration` does.
    #[serde(default, deserialize_with = "duration")]
    pub default_cache_duration: Option<String>,
    /// Exec protocol version kubelet speaks to this plugin.
    #[serde(default, deserialize_with = "text")]
    pub api_version: String,
    /// argv after the binary path.
    #[serde(default, deserialize_with = "texts")]
    pub args: Vec<String>,
    /// Extra environment for the plugin.
    #[serde(default, deserialize_with = "objects")]
    pub env: Vec<EnvVar>,
    /// Service-account token settings (only a v1 file can carry them).
    #[serde(default, deserialize_with = "token_attributes")]
    pub token_attributes: Option<TokenAttributes>,
    /// File this provider came from, for messages (a directory config has several files).
    #[serde(skip)]
    pub source: PathBuf,
    /// Position in that file's `providers` list, for `providers[i]` locators.
    #[serde(skip)]
    pub index: usize,
    /// `apiVersion` of that file (`kubelet.config.k8s.io/…`).
    #[serde(skip)]
    pub config_api_version: String,
}

/// One `env` entry of a provider: appended to kubelet's own environment when it runs the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// Variable name.
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    /// Variable value (YAML authors: quote `yes`/`on`/numbers, kubelet wants a string).
    #[serde(default, deserialize_with = "text")]
    pub value: String,
}

/// `tokenAttributes` (v1 only): opts a provider into service-account token mode (KEP-4412).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenAttributes {
    /// Audience of the token kubelet requests for the pod's service account.
    #[serde(default, deserialize_with = "text")]
    pub service_account_token_audience: String,
    /// `Token` or `ServiceAccount`: the extra cache dimension (required since 1.34). Kept as
    /// text because validation must report unsupported values, not fail to decode them.
    #[serde(default, deserialize_with = "text")]
    pub cache_type: String,
    /// Go `*bool`: `None` (unset) is an error kubelet reports, distinct from `false`.
    #[serde(default, deserialize_with = "boolean")]
    pub require_service_account: Option<bool>,
    /// Annotation keys that must exist on the service account, or the plugin is skipped.
    #[serde(default, deserialize_with = "texts")]
    pub required_service_account_annotation_keys: Vec<String>,
    /// Annotation keys forwarded when present.
    #[serde(default, deserialize_with = "texts")]
    pub optional_service_account_annotation_keys: Vec<String>,
}

/// The whole file, strictly.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    /// Already read by [`TypeMeta`].
    #[serde(default, rename = "apiVersion")]
    _api_version: de::IgnoredAny,
    #[serde(default, rename = "kind")]
    _kind: de::IgnoredAny,
    #[serde(default, deserialize_with = "objects")]
    providers: Vec<Provider>,
}

/// `apiVersion` and `kind` alone, other fields ignored: what kubelet reads before it knows
/// which type to decode into, so a wrong kind is reported as such, not as unknown fields.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default, deserialize_with = "text")]
    api_version: String,
    #[serde(default, deserialize_with = "text")]
    kind: String,
}

/// Everything [`load`] found: the files kubelet reads, the providers of those that decoded,
/// and every problem kubelet would stop at.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Files read: the path itself, or a directory's matching entries in kubelet's order.
    pub files: Vec<PathBuf>,
    /// Providers in kubelet's order (file order, then order within the file).
    pub providers: Vec<Provider>,
    /// Problems in kubelet's order. Kubelet stops at the first; this reader goes on, so that
    /// one run of `validate-config` shows every broken file.
    pub errors: Vec<ConfigError>,
}

/// Why kubelet could not read the config. `Display` is one line naming the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No file was read: the path is empty, cannot be stat'ed or listed, or is a directory
    /// without a `*.json`, `*.yaml` or `*.yml` file.
    Path(String),
    /// One file cannot be read or does not decode.
    File {
        /// The file.
        path: PathBuf,
        /// The whole message, naming the file and, for a decoding error, the field and where.
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
            ConfigError::Path(message) | ConfigError::File { message, .. } => f.write_str(message),
            ConfigError::Refused { path, reason } => {
                write!(f, "kubelet config {}: {reason}", path.display())
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

/// Reads the config at `path` (as given to `--image-credential-provider-config`) like kubelet.
pub fn load(path: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    match config_files(path) {
        Ok(files) => loaded.files = files,
        Err(message) => loaded.errors.push(ConfigError::Path(message)),
    }
    for file in &loaded.files {
        match read_file(file) {
            Ok(mut providers) => loaded.providers.append(&mut providers),
            // No verdict at all: nothing after it matters.
            Err(refused @ ConfigError::Refused { .. }) => {
                loaded.errors.push(refused);
                return loaded;
            }
            Err(error) => loaded.errors.push(error),
        }
    }

    // Kubelet merges after decoding every file and refuses any repeated name, even within
    // one file (so validation's own "Duplicate value" check can never fire).
    let mut first_of: HashMap<&str, &Provider> = HashMap::new();
    for provider in &loaded.providers {
        let first = *first_of.entry(&provider.name).or_insert(provider);
        if !std::ptr::eq(first, provider) {
            loaded.errors.push(ConfigError::DuplicateName {
                name: provider.name.clone(),
                first: (first.source.clone(), first.index),
                second: (provider.source.clone(), provider.index),
            });
        }
    }
    loaded
}

/// The files kubelet reads for `path`: the file itself, or the directory's entries with
/// kubelet's extensions in its order. `Err` says why there are none.
fn config_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.as_os_str().is_empty() {
        return Err("credential provider config path is empty".into());
    }
    let quoted = quote_path(path);
    let meta = fs::metadata(path).map_err(|e| format!("unable to access path {quoted}: {e}"))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let unreadable = |e: io::Error| format!("unable to read directory {quoted}: {e}");
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        // DirEntry type, not following symlinks: like Go's `entry.IsDir()`. A symlink to a
        // directory is therefore "a file" and fails later when read, as in kubelet.
        if entry.file_type().map_err(unreadable)?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Go's filepath.Ext: from the last dot, so a file named just ".yaml" counts too.
        let ext = name.rfind('.').map(|i| &name[i..]).unwrap_or("");
        if DIR_EXTENSIONS.contains(&ext) {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        return Err(format!(
            "no configuration files found in directory {quoted}"
        ));
    }
    // Go sorts the joined paths byte-wise. They differ only in their last component, which
    // `Path` compares as bytes.
    files.sort();
    Ok(files)
}

fn quote_path(path: &Path) -> String {
    go_quote(&path.to_string_lossy())
}

/// One file of the config, read within [`crate::local_file`]'s and [`crate::parse_limits`]'s
/// bounds and decoded.
fn read_file(file: &Path) -> Result<Vec<Provider>, ConfigError> {
    let quoted = quote_path(file);
    let failed = |message| ConfigError::File {
        path: file.to_path_buf(),
        message,
    };
    let refused = |reason| ConfigError::Refused {
        path: file.to_path_buf(),
        reason,
    };
    let data = match local_file::read(file) {
        Ok(data) => data,
        // Missing, unreadable, or a symlink to a directory: kubelet fails on these too.
        Err(e @ (FileError::Io(_) | FileError::NotRegular("a directory"))) => {
            return Err(failed(format!("unable to read file {quoted}: {e}")))
        }
        Err(e) => return Err(refused(format!("cannot read it: {e}"))),
    };
    // Text that is not UTF-8 gets its error from `decode`.
    match std::str::from_utf8(&data) {
        Ok(text) if is_json(text) => parse_limits::check_json(text).map_err(refused)?,
        Ok(text) => parse_limits::check_yaml(text).map_err(refused)?,
        Err(_) => {}
    }
    decode(&data, file).map_err(|e| failed(format!("error decoding config {quoted}: {e}")))
}

/// Decodes one file's bytes like kubelet's strict decoder; `source` is recorded in each
/// provider. `Err` says what is wrong and where, for after `error decoding config "<file>": `.
pub fn decode(data: &[u8], source: &Path) -> Result<Vec<Provider>, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let meta: TypeMeta = parse(text, "")?;
    let versions = CONFIG_API_VERSIONS.join(", ");
    if meta.kind.is_empty() {
        return Err(format!(
            "kind is missing; kubelet needs kind: {CONFIG_KIND}"
        ));
    }
    if meta.api_version.is_empty() {
        return Err(format!("apiVersion is missing; kubelet reads {versions}"));
    }
    if meta.kind != CONFIG_KIND || !CONFIG_API_VERSIONS.contains(&meta.api_version.as_str()) {
        return Err(format!(
            "kind {} in apiVersion {} is not a credential provider config: kubelet reads kind {CONFIG_KIND} in {versions}",
            go_quote(&meta.kind),
            go_quote(&meta.api_version),
        ));
    }
    let file: ConfigFile = parse(text, &meta.api_version)?;
    let providers = file.providers.into_iter().enumerate();
    Ok(providers
        .map(|(index, provider)| Provider {
            source: source.to_path_buf(),
            index,
            config_api_version: meta.api_version.clone(),
            ..provider
        })
        .collect())
}

/// Whether apimachinery reads this text as JSON: its JSON serializer claims data whose first
/// non-blank character is `{`; everything else goes to the YAML serializer.
fn is_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// What the visitors below need to know about the document [`parse`] is decoding, which
/// serde's derived code cannot hand down to them.
struct Document {
    /// Start address and a copy of the text when it is YAML, for [`is_plain_yaml`].
    yaml: Option<(usize, String)>,
    /// The file's `apiVersion`, for [`token_attributes`] (empty while [`TypeMeta`], which has
    /// no providers, is read).
    api_version: String,
}

thread_local! {
    /// The document [`parse`] is decoding on this thread.
    static DOCUMENT: RefCell<Option<Document>> = const { RefCell::new(None) };
}

/// Decodes JSON, or the first document of YAML (kubelet's YAML reader ignores the rest), from
/// a file of `api_version`. An empty or `null` document decodes to `T::default()`.
fn parse<T: DeserializeOwned + Default>(text: &str, api_version: &str) -> Result<T, String> {
    let json = is_json(text);
    DOCUMENT.set(Some(Document {
        yaml: (!json).then(|| (text.as_ptr() as usize, text.to_owned())),
        api_version: api_version.to_owned(),
    }));
    let decoded: Result<Option<Object<T>>, String> = if json {
        serde_json::from_str(text).map_err(|e| match json_path_at(text, e.line(), e.column()) {
            path if path.is_empty() => e.to_string(),
            path => format!("{path}: {e}"),
        })
    } else {
        match serde_yaml_ng::Deserializer::from_str(text).next() {
            Some(document) => Option::deserialize(document).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    };
    DOCUMENT.set(None);
    Ok(decoded?.map(|o| o.0).unwrap_or_default())
}

/// The field path at a 1-based line and column of JSON text, the way serde_yaml_ng prints
/// it for YAML (`providers[0].env[1].value`; a key not yet followed by its `:` is left out, so
/// an unknown field is reported on its object): serde_json says where, not in which field.
/// Keys are shown as written, escapes included.
fn json_path_at(text: &str, line: usize, column: usize) -> String {
    /// An open object (its key, once the key's `:` is read) or array (its index).
    enum Open<'a> {
        Object(Option<&'a str>),
        Array(usize),
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = (line_start + column).min(text.len());
    let bytes = text.as_bytes();
    let (mut open, mut last_string) = (Vec::new(), None);
    let mut i = 0;
    while i < end {
        match (bytes[i], open.last_mut()) {
            (b'"', _) => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                last_string = text.get(start..i);
            }
            (b':', Some(Open::Object(key))) => *key = last_string,
            (b',', Some(Open::Object(key))) => *key = None,
            (b',', Some(Open::Array(index))) => *index += 1,
            (b'{', _) => open.push(Open::Object(None)),
            (b'[', _) => open.push(Open::Array(0)),
            (b'}' | b']', _) => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    let path: String = open
        .iter()
        .map(|frame| match frame {
            Open::Object(Some(key)) => format!(".{key}"),
            Open::Object(None) => String::new(),
            Open::Array(index) => format!("[{index}]"),
        })
        .collect();
    path.strip_prefix('.').unwrap_or(&path).to_string()
}

// ---------------------------------------------------------------------------------------
// Value types as kubelet's decoder sees them. Go's JSON decoder puts `null` as the zero value
// and refuses a number or boolean for a string; kubelet's YAML reader (go-yaml v2) resolves
// plain scalars by YAML 1.1, where unquoted `yes`, `on`, `n` are booleans and `1_000` a
// number. serde_yaml_ng is YAML 1.2 and hands those over as strings, so the visitors below
// ask [`is_plain_yaml`] whether a string was written without quotes.

/// Whether `value`, lent by serde_yaml_ng from the text being decoded, was a plain scalar.
/// serde_yaml_ng lends a plain scalar from its first byte and a quoted one from just after
/// the quote; a scalar with escapes, a block scalar or JSON is never lent from the text, and
/// `!!str` makes a plain scalar a string for go-yaml v2 too.
fn is_plain_yaml(value: &str) -> bool {
    DOCUMENT.with_borrow(|document| {
        let Some((start, text)) = document.as_ref().and_then(|d| d.yaml.as_ref()) else {
            return false;
        };
        let offset = (value.as_ptr() as usize).wrapping_sub(*start);
        let before = text
            .get(..offset)
            .filter(|_| value.len() <= text.len() - offset);
        before.is_some_and(|b| !b.ends_with(['"', '\'']) && !b.trim_end().ends_with("!!str"))
    })
}

/// What go-yaml v2 makes of a plain scalar that YAML 1.2 reads as a string: `Some(true)` or
/// `Some(false)` for its extra booleans; numbers are reported by [`yaml11_number`].
fn yaml11_bool(value: &str) -> Option<bool> {
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Whether go-yaml v2 reads this plain scalar as a number: it drops `_`, then tries Go's
/// `ParseInt(s, 0, 64)` (`0x`, `0o`, `0b`, leading-zero octal) and the float pattern
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml11_number(value: &str) -> bool {
    let plain = value.replace('_', "");
    let s = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let digits = |t: &str, radix| !t.is_empty() && t.chars().all(|c: char| c.is_digit(radix));
    match s.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => digits(&s[2..], 16),
        Some("0o") => digits(&s[2..], 8),
        Some("0b") => digits(&s[2..], 2),
        // The pattern's characters, in an order Rust's float syntax accepts (no inf, no nan).
        _ => {
            s.bytes()
                .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
                && s.parse::<f64>().is_ok()
        }
    }
}

/// A string field: refuses numbers, booleans (YAML 1.1 ones included), lists and mappings;
/// `null` is `None`. With `DURATION`, the text must also parse as a Go duration.
struct TextVisitor<const DURATION: bool>;

impl<'de, const DURATION: bool> Visitor<'de> for TextVisitor<DURATION> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match DURATION {
            true => "a Go duration string such as \"5m\"",
            false => "a string",
        })
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let kind = match yaml11_bool(v) {
            Some(_) => "a boolean",
            None if yaml11_number(v) => "a number",
            None => return self.visit_str(v),
        };
        if !is_plain_yaml(v) {
            return self.visit_str(v);
        }
        Err(E::custom(format!(
            "kubelet's YAML 1.1 reader takes unquoted {v} as {kind}, not a string: quote it"
        )))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if DURATION {
            parse_go_duration(v).map_err(E::custom)?;
        }
        Ok(Some(v.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A boolean: `true`/`false`, and unquoted YAML 1.1 booleans (`yes`, `off`…) as kubelet reads
/// them; a quoted `"true"` is a string, which kubelet refuses. `null` is `None`.
struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        match yaml11_bool(v) {
            Some(b) if is_plain_yaml(v) => Ok(Some(b)),
            _ => Err(E::invalid_type(Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A string in a list (`null` is `""`, as in Go).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text(d).map(Text)
    }
}

/// A struct written as a mapping. serde's derived structs also accept a list of values in
/// field order, which kubelet's decoder refuses.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Object)
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(d.deserialize_any(TextVisitor::<false>)?.unwrap_or_default())
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor::<true>)
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// A list of strings; a `null` list is empty and a `null` item `""`, as in Go.
fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Option::<Vec<Text>>::deserialize(d)?.unwrap_or_default();
    Ok(list.into_iter().map(|t| t.0).collect())
}

/// `tokenAttributes`: only the v1 file type has the field, so in a v1beta1 or v1alpha1 file
/// kubelet's strict decoder refuses the key whatever its value, `null` included.
fn token_attributes<'de, D>(d: D) -> Result<Option<TokenAttributes>, D::Error>
where
    D: Deserializer<'de>,
{
    let version = DOCUMENT.with_borrow(|d| d.as_ref().map(|d| d.api_version.clone()));
    match version {
        Some(v) if v != CONFIG_API_VERSION_V1 => Err(de::Error::custom(format!(
            "unknown field `tokenAttributes` in {v}: only {CONFIG_API_VERSION_V1} has it"
        ))),
        _ => Ok(Option::<Object<TokenAttributes>>::deserialize(d)?.map(|o| o.0)),
    }
}

/// A list of structs; a `null` list is empty and a `null` item the zero value, as in Go.
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let list = Option::<Vec<Option<Object<T>>>>::deserialize(d)?.unwrap_or_default();
    Ok(list
        .into_iter()
        .map(|o| o.map(|o| o.0).unwrap_or_default())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;

    /// What kubelet does with the config: the providers, or the error it exits with.
    fn load_first_error(path: &Path) -> Result<Loaded, ConfigError> {
        let mut loaded = load(path);
        match loaded.errors.is_empty() {
            true => Ok(loaded),
            false => Err(loaded.errors.swap_remove(0)),
        }
    }

    fn decode_str(text: &str) -> Result<Vec<Provider>, String> {
        decode(text.as_bytes(), Path::new("/etc/kubernetes/cp.yaml"))
    }

    fn decode_err(text: &str) -> String {
        match decode_str(text) {
            Ok(p) => panic!("expected an error, decoded {p:?}"),
            Err(e) => e,
        }
    }

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

    /// One provider; `extra` lines start at line 8.
    fn provider_yaml(version: &str, name: &str, extra: &str) -> String {
        format!(
            "apiVersion: kubelet.config.k8s.io/{version}\nkind: CredentialProviderConfig\nproviders:\n- name: {name}\n  matchImages: [\"registry.io\"]\n  defaultCacheDuration: 10m\n  apiVersion: credentialprovider.kubelet.k8s.io/{version}\n{extra}"
        )
    }

    const JSON_HEAD: &str =
        r#"{"kind":"CredentialProviderConfig","apiVersion":"kubelet.config.k8s.io/v1","#;

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
        assert_eq!((providers[0].index, providers[1].index), (0, 1));
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

    // P21: tokenAttributes under v1beta1/v1alpha1 is an unknown field to kubelet, even null.
    #[test]
    fn p21_token_attributes_in_v1beta1_is_unknown_field() {
        for version in ["v1beta1", "v1alpha1"] {
            for value in ["\n    serviceAccountTokenAudience: audience", " ~", " {}"] {
                let text = provider_yaml(version, "test", &format!("  tokenAttributes:{value}\n"));
                let text = format!("{text}- name: other\n  tokenAttributes:\n");
                assert_eq!(
                    decode_err(&text),
                    format!("providers[0]: unknown field `tokenAttributes` in kubelet.config.k8s.io/{version}: only kubelet.config.k8s.io/v1 has it at line 4 column 3")
                );
            }
        }
        let text = format!(
            "{}- name: other\n  tokenAttributes:\n",
            provider_yaml("v1beta1", "test", "")
        );
        assert!(decode_err(&text).starts_with("providers[1]: unknown field `tokenAttributes`"));
        // In v1, null is no tokenAttributes at all.
        let text = provider_yaml("v1", "test", "  tokenAttributes: ~\n");
        assert_eq!(decode_str(&text).unwrap()[0].token_attributes, None);
    }

    #[test]
    fn unknown_and_case_mismatched_fields_name_path_and_line() {
        let expected = "expected one of `name`, `matchImages`, `defaultCacheDuration`, `apiVersion`, `args`, `env`, `tokenAttributes` at line 8 column 3";
        assert_eq!(
            decode_err(&provider_yaml("v1", "test", "  unknownField: x\n")),
            format!("providers[0]: unknown field `unknownField`, {expected}")
        );
        assert_eq!(
            decode_err(&provider_yaml("v1", "test", "  Args: [a]\n")),
            format!("providers[0]: unknown field `Args`, {expected}")
        );
        assert!(decode_err(&provider_yaml("v1", "test", "extra: 1\n"))
            .starts_with("unknown field `extra`, expected one of `apiVersion`, `kind`, `providers` at line 8 column 1"));
        let text = provider_yaml("v1", "p", "  env:\n  - {name: a, valu: b}\n");
        assert!(decode_err(&text)
            .starts_with("providers[0].env[0]: unknown field `valu`, expected `name` or `value`"));
        let text = provider_yaml(
            "v1",
            "p",
            "  tokenAttributes:\n    serviceAccountTokenAudience: a\n    cacheType: Token\n    requireServiceAccount: true\n    cachetype: Token\n",
        );
        assert!(decode_err(&text)
            .starts_with("providers[0].tokenAttributes: unknown field `cachetype`"));
        // JSON: the same path convention.
        let json = format!(
            r#"{JSON_HEAD}
            "providers":[{{"name":"a","unknownField":1,"matchImages":["x.io"],
            "defaultCacheDuration":"1m","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}}]}}"#
        );
        let err = decode_err(&json);
        assert!(
            err.starts_with("providers[0]: unknown field `unknownField`, expected one of"),
            "{err}"
        );
        assert!(err.ends_with("at line 2 column 51"), "{err}");
        let json = format!(r#"{JSON_HEAD}"providers":[{{"name":"a","Args":[]}}]}}"#);
        assert!(decode_err(&json).starts_with("providers[0]: unknown field `Args`"));
        let json = format!(r#"{JSON_HEAD}"providers":[],"extra":1}}"#);
        assert!(decode_err(&json).starts_with("unknown field `extra`"));
    }

    #[test]
    fn json_errors_name_the_field_path_like_yaml_errors() {
        let json = format!(
            r#"{JSON_HEAD}"providers":[{{"name":"a,\"}}[","args":["x"]}},
            {{"name":"b","env":[{{"name":"c","value":"d"}},{{"name":"e","value":true}}]}}]}}"#
        );
        assert_eq!(
            decode_err(&json),
            "providers[1].env[1].value: invalid type: boolean `true`, expected a string at line 2 column 80"
        );
        let json = format!(
            r#"{JSON_HEAD}"providers":[{{"name":"a"}},{{"tokenAttributes":{{"cacheType":1}}}}]}}"#
        );
        assert!(decode_err(&json).starts_with(
            "providers[1].tokenAttributes.cacheType: invalid type: integer `1`, expected a string at line 1"
        ));
        assert_eq!(json_path_at("[1, 2", 1, 5), "[1]");
        assert_eq!(json_path_at("", 3, 9), "");
    }

    #[test]
    fn repeated_yaml_key_is_an_error_even_when_the_last_value_is_fine() {
        let text = provider_yaml("v1", "a", "").replace("- name: a\n", "- name: a\n  name: a\n");
        assert_eq!(
            decode_err(&text),
            "providers[0]: duplicate field `name` at line 4 column 3"
        );
        // A bad first value is reported as such.
        let text = provider_yaml("v1", "a", "").replace("- name: a\n", "- name: 5\n  name: a\n");
        assert!(decode_err(&text).starts_with("providers[0].name: invalid type: integer `5`"));
        // Flow style too.
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- {name: a, name: b, matchImages: [x.io], defaultCacheDuration: 1m, apiVersion: credentialprovider.kubelet.k8s.io/v1}\n";
        assert_eq!(
            decode_err(text),
            "providers[0]: duplicate field `name` at line 4 column 3"
        );
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\nproviders: []\n";
        assert!(decode_err(text).starts_with("duplicate field `providers`"));
    }

    #[test]
    fn json_duplicate_key_is_an_error_with_its_place() {
        let json = format!(
            r#"{JSON_HEAD}
            "providers":[{{"name":"a","name":"b","matchImages":["x.io"],"defaultCacheDuration":"1m",
            "apiVersion":"credentialprovider.kubelet.k8s.io/v1"}}]}}"#
        );
        assert_eq!(
            decode_err(&json),
            "providers[0]: duplicate field `name` at line 2 column 43"
        );
    }

    #[test]
    fn number_typed_duration_is_a_type_error() {
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: 0");
        assert_eq!(
            decode_err(&text),
            "providers[0].defaultCacheDuration: invalid type: integer `0`, expected a Go duration string such as \"5m\" at line 6 column 25"
        );
        let json = format!(
            r#"{JSON_HEAD}"providers":[{{"name":"a","matchImages":["x.io"],"defaultCacheDuration":3600,
            "apiVersion":"credentialprovider.kubelet.k8s.io/v1"}}]}}"#
        );
        assert!(decode_err(&json).starts_with(
            "providers[0].defaultCacheDuration: invalid type: integer `3600`, expected a Go duration string such as \"5m\" at line 1"
        ));
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
            "providers[0].defaultCacheDuration: time: unknown unit \"d\" in duration \"1d\" at line 6 column 25"
        );
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: \"\"");
        assert!(decode_err(&text).contains(": time: invalid duration \"\" at line 6"));
    }

    #[test]
    fn the_first_problem_in_document_order_is_reported() {
        let text = provider_yaml("v1", "p", "  bogus: 1\n  args: --v=5\n")
            .replace("- name: p\n", "- name: 5\n")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: x");
        assert_eq!(
            decode_err(&text),
            "providers[0].name: invalid type: integer `5`, expected a string at line 4 column 9"
        );
        // Each of the others on its own.
        let text = provider_yaml("v1", "p", "  args: --v=5\n");
        assert_eq!(
            decode_err(&text),
            "providers[0].args: invalid type: string \"--v=5\", expected a sequence at line 8 column 9"
        );
        let text = provider_yaml("v1", "p", "")
            .replace("defaultCacheDuration: 10m", "defaultCacheDuration: x");
        assert!(decode_err(&text).contains("time: invalid duration \"x\""));
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
            "providers[0].env[0].value: kubelet's YAML 1.1 reader takes unquoted yes as a boolean, not a string: quote it at line 10 column 12"
        );
        // Quoted (either way), it is a string for both YAML versions.
        let text = provider_yaml("v1", "p", "  env:\n  - name: DEBUG\n    value: \"yes\"\n");
        assert_eq!(decode_str(&text).unwrap()[0].env[0].value, "yes");
        let text = provider_yaml("v1", "p", "  env:\n  - name: DEBUG\n    value: 'on'\n");
        assert_eq!(decode_str(&text).unwrap()[0].env[0].value, "on");
    }

    #[test]
    fn yaml11_number_forms_are_numbers_for_kubelet() {
        let text = provider_yaml("v1", "p", "  args:\n  - 1_000\n");
        assert_eq!(
            decode_err(&text),
            "providers[0].args[0]: kubelet's YAML 1.1 reader takes unquoted 1_000 as a number, not a string: quote it at line 9 column 5"
        );
        let text = provider_yaml("v1", "p", "  args: [\"1_000\", '0b101']\n");
        assert_eq!(decode_str(&text).unwrap()[0].args, vec!["1_000", "0b101"]);
    }

    #[test]
    fn yaml11_scalars_are_told_apart_by_how_they_are_written() {
        // Flow lists and anchors are plain scalars too.
        for args in ["[off]", "[a, &x y]", "\n  - |\n    text\n  - n\n"] {
            let text = provider_yaml("v1", "p", &format!("  args: {args}\n"));
            assert!(
                decode_err(&text).contains("kubelet's YAML 1.1 reader takes unquoted"),
                "{args}"
            );
        }
        // Block scalars, escapes and explicit string tags are strings.
        let text = provider_yaml(
            "v1",
            "p",
            "  args:\n  - |\n    yes\n  - \"y\\x65s\"\n  - !!str on\n",
        );
        assert_eq!(
            decode_str(&text).unwrap()[0].args,
            vec!["yes\n", "yes", "on"]
        );
        // JSON has no plain scalars.
        let json = format!(r#"{JSON_HEAD}"providers":[{{"name":"yes","args":["on","1_000"]}}]}}"#);
        assert_eq!(decode_str(&json).unwrap()[0].args, vec!["on", "1_000"]);
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
        let text = text.replace("requireServiceAccount: yes", "requireServiceAccount: Off");
        let ta = decode_str(&text).unwrap()[0].token_attributes.clone();
        assert_eq!(ta.unwrap().require_service_account, Some(false));
    }

    #[test]
    fn string_for_bool_field_is_a_type_error() {
        for value in ["\"true\"", "'yes'", "1", "maybe"] {
            let text = provider_yaml(
                "v1",
                "p",
                &format!("  tokenAttributes:\n    serviceAccountTokenAudience: a\n    requireServiceAccount: {value}\n"),
            );
            let err = decode_err(&text);
            assert!(
                err.starts_with(
                    "providers[0].tokenAttributes.requireServiceAccount: invalid type: "
                ) && err.ends_with(", expected a boolean at line 10 column 28"),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn wrong_type_for_struct_and_list_fields() {
        let text = provider_yaml("v1", "p", "  tokenAttributes: yes-please\n");
        assert_eq!(
            decode_err(&text),
            "providers[0].tokenAttributes: invalid type: string \"yes-please\", expected a mapping at line 8 column 20"
        );
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: CredentialProviderConfig\nproviders: {}\n";
        assert_eq!(
            decode_err(text),
            "providers: invalid type: map, expected a sequence at line 3 column 12"
        );
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: [abc]\n";
        assert_eq!(
            decode_err(text),
            "providers[0]: invalid type: string \"abc\", expected a mapping at line 3 column 13"
        );
        let text = provider_yaml("v1", "p", "  env: [[A, b]]\n");
        assert!(decode_err(&text)
            .starts_with("providers[0].env[0]: invalid type: sequence, expected a mapping"));
    }

    #[test]
    fn a_list_of_values_is_not_a_struct() {
        // serde's derived structs take values in field order from a list; kubelet does not.
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: [[p, [x.io], 1m, credentialprovider.kubelet.k8s.io/v1]]\n";
        assert_eq!(
            decode_err(text),
            "providers[0]: invalid type: sequence, expected a mapping at line 3 column 13"
        );
        assert_eq!(
            decode_err(r#"["kubelet.config.k8s.io/v1", "CredentialProviderConfig", []]"#),
            "invalid type: sequence, expected a mapping"
        );
    }

    #[test]
    fn number_name_is_a_type_error() {
        let text = provider_yaml("v1", "123", "");
        assert_eq!(
            decode_err(&text),
            "providers[0].name: invalid type: integer `123`, expected a string at line 4 column 9"
        );
    }

    #[test]
    fn wrong_kind_or_version_is_not_a_credential_provider_config() {
        let tail = "is not a credential provider config: kubelet reads kind CredentialProviderConfig in kubelet.config.k8s.io/v1, kubelet.config.k8s.io/v1beta1, kubelet.config.k8s.io/v1alpha1";
        let text = V1_TWO_PROVIDERS.replace("kind: CredentialProviderConfig", "kind: WrongKind");
        assert_eq!(
            decode_err(&text),
            format!("kind \"WrongKind\" in apiVersion \"kubelet.config.k8s.io/v1\" {tail}")
        );
        // Kubelet's own config, given by mistake: its fields are not even looked at.
        let text = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: /etc/kubernetes/manifests\n";
        assert_eq!(
            decode_err(text),
            format!("kind \"KubeletConfiguration\" in apiVersion \"kubelet.config.k8s.io/v1beta1\" {tail}")
        );
        for api_version in ["foobar/v1alpha1", "a/b/c", "v1"] {
            let text = V1_TWO_PROVIDERS.replace(
                "apiVersion: kubelet.config.k8s.io/v1\n",
                &format!("apiVersion: {api_version}\n"),
            );
            assert_eq!(
                decode_err(&text),
                format!("kind \"CredentialProviderConfig\" in apiVersion \"{api_version}\" {tail}")
            );
        }
    }

    #[test]
    fn missing_kind_and_api_version_are_reported() {
        let no_kind = "kind is missing; kubelet needs kind: CredentialProviderConfig";
        for text in [
            "",
            "~\n",
            "# only a comment\n",
            "apiVersion: kubelet.config.k8s.io/v1\n",
        ] {
            assert_eq!(decode_err(text), no_kind, "{text:?}");
        }
        assert_eq!(
            decode_err("kind: CredentialProviderConfig\n"),
            "apiVersion is missing; kubelet reads kubelet.config.k8s.io/v1, kubelet.config.k8s.io/v1beta1, kubelet.config.k8s.io/v1alpha1"
        );
    }

    #[test]
    fn top_level_must_be_a_mapping_with_string_type_fields() {
        assert_eq!(
            decode_err("- a\n- b\n"),
            "invalid type: sequence, expected a mapping"
        );
        assert_eq!(
            decode_err("apiVersion: 1\nkind: x\n"),
            "apiVersion: invalid type: integer `1`, expected a string at line 1 column 13"
        );
    }

    #[test]
    fn only_the_first_yaml_document_counts() {
        let text = format!("{V1_TWO_PROVIDERS}---\nthis: [is, ignored\n");
        assert_eq!(decode_str(&text).unwrap().len(), 2);
    }

    #[test]
    fn yaml_syntax_error_says_where() {
        assert_eq!(
            decode_err("a: b: c\n"),
            "mapping values are not allowed in this context at line 1 column 5"
        );
        assert_eq!(
            decode_err("kind: CredentialProviderConfig\napiVersion: kubelet.config.k8s.io/v1\nproviders: [\n"),
            "did not find expected node content at line 4 column 1, while parsing a flow node"
        );
    }

    #[test]
    fn json_syntax_error_says_where() {
        assert_eq!(
            decode_err("{\"kind\": "),
            "kind: EOF while parsing a value at line 1 column 9"
        );
        assert!(decode_err(&format!("{JSON_HEAD}\"providers\":[]}} x"))
            .starts_with("trailing characters at line 1"));
    }

    #[test]
    fn not_utf8_is_an_error() {
        let err = decode(b"kind: \xff\n", Path::new("x.yaml")).unwrap_err();
        assert!(err.starts_with("not UTF-8 text: "), "{err}");
    }

    #[test]
    fn null_list_elements_become_zero_values() {
        let text = provider_yaml("v1", "p", "  args:\n  - \n  - b\n  env: [~]\n");
        let provider = &decode_str(&text).unwrap()[0];
        assert_eq!(provider.args, vec!["", "b"]);
        assert_eq!(provider.env, vec![EnvVar::default()]);
        let text = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- ~\n";
        assert_eq!(decode_str(text).unwrap()[0].name, "");
        let text = provider_yaml("v1", "p", "  args: ~\n  env:\n  tokenAttributes: null\n");
        assert!(decode_str(&text).is_ok());
    }

    #[test]
    fn empty_providers_decode_to_nothing() {
        for providers in ["providers: []\n", "providers:\n", ""] {
            let text = format!(
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n{providers}"
            );
            assert!(decode_str(&text).unwrap().is_empty());
        }
    }

    #[test]
    fn provider_type_is_strict_on_its_own() {
        let ok = serde_json::json!({"tokenAttributes": {}});
        assert!(serde_json::from_value::<Provider>(ok).is_ok());
        for bad in [
            serde_json::json!({"bogus": 1}),
            serde_json::json!({"defaultCacheDuration": "1 m"}),
            serde_json::json!({"source": "/x"}),
        ] {
            assert!(serde_json::from_value::<Provider>(bad).is_err());
        }
    }

    #[test]
    fn yaml11_resolution_matches_go_yaml_v2() {
        assert_eq!(yaml11_bool("on"), Some(true));
        assert_eq!(yaml11_bool("NO"), Some(false));
        assert_eq!(yaml11_bool("true"), None); // YAML 1.2 resolves it already
        for number in ["017", "0b101", "1_000", ".5", "-1e3", "+0x1F", "5.", "0o17"] {
            assert!(yaml11_number(number), "{number}");
        }
        for text in ["10m", "--v=5", "-", "1.2.3.4", "0x", "e5", ".", "1e", "0b2"] {
            assert!(!yaml11_number(text), "{text}");
        }
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
        let loaded = load_first_error(&dir.0).unwrap();
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
        assert_eq!(loaded.providers[1].index, 0);
    }

    #[test]
    fn directory_without_config_files_is_an_error() {
        let dir = TempDir::new("empty");
        dir.write("README.md", "nothing");
        let err = load_first_error(&dir.0).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Path(format!(
                "no configuration files found in directory {}",
                quote_path(&dir.0)
            ))
        );
    }

    #[test]
    fn provider_name_repeated_across_files_is_an_error() {
        let dir = TempDir::new("dup");
        dir.write("10-a.yaml", &provider_yaml("v1", "duplicate", ""));
        dir.write("20-b.yaml", &provider_yaml("v1", "duplicate", ""));
        let err = load_first_error(&dir.0).unwrap_err();
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
        let err = load_first_error(&file).unwrap_err();
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
        let report = load(&dir.0);
        assert_eq!(report.providers.len(), 1);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].to_string(),
            format!(
                "error decoding config {}: kind \"WrongKind\" in apiVersion \"kubelet.config.k8s.io/v1\" is not a credential provider config: kubelet reads kind CredentialProviderConfig in kubelet.config.k8s.io/v1, kubelet.config.k8s.io/v1beta1, kubelet.config.k8s.io/v1alpha1",
                go_quote(&bad.to_string_lossy())
            )
        );
    }

    #[test]
    fn missing_path_is_an_access_error() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("nope.yaml");
        let err = load_first_error(&path).unwrap_err();
        let p = path.to_string_lossy();
        assert_eq!(
            err.to_string(),
            format!("unable to access path \"{p}\": No such file or directory (os error 2)")
        );
        assert_eq!(
            load_first_error(Path::new("")).unwrap_err(),
            ConfigError::Path("credential provider config path is empty".into())
        );
    }

    #[test]
    fn symlinked_directory_entry_is_read_and_fails() {
        #[cfg(unix)]
        {
            let dir = TempDir::new("symlink");
            dir.write("a.yaml", &provider_yaml("v1", "good", ""));
            let target = TempDir::new("symlink-target");
            std::os::unix::fs::symlink(&target.0, dir.0.join("b.yaml")).unwrap();
            let err = load_first_error(&dir.0).unwrap_err();
            assert_eq!(
                err,
                ConfigError::File {
                    path: dir.0.join("b.yaml"),
                    message: format!(
                        "unable to read file {}: it is a directory, not a regular file",
                        quote_path(&dir.0.join("b.yaml"))
                    )
                }
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
            let report = load(&path);
            assert_eq!(
                report.errors,
                vec![ConfigError::Refused {
                    path: fifo.clone(),
                    reason: "cannot read it: it is a FIFO (named pipe), not a regular file".into(),
                }]
            );
        }
        let err = load_first_error(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kubelet config /dev/zero: cannot read it: it is a character device, not a regular file"
        );
    }

    #[test]
    fn documents_beyond_the_parse_limits_are_refused_before_decoding() {
        let dir = TempDir::new("limits");
        let deep_yaml = dir.write("a.yaml", &"- ".repeat(200_000));
        let err = load_first_error(&deep_yaml).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "kubelet config {}: it nests more than 64 levels deep (line 1), the limit for local documents",
                deep_yaml.display()
            )
        );
        let deep_json = dir.write("b.json", &format!("{{\"a\":{}", "[".repeat(200_000)));
        assert!(matches!(
            load_first_error(&deep_json),
            Err(ConfigError::Refused { .. })
        ));
        // The first refused file ends the run: later files are not read.
        let report = load(&dir.0);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    }
}
