//! Reading a plugin's stdout the way kubelet does (protocol doc §1.5), in kubelet's order:
//!
//! 1. the `apiVersion` and `kind` are read first, by Go's `encoding/json` into a two-field
//!    struct: the whole stdout must be one JSON value (log lines, YAML or an empty stdout fail
//!    here), field names match case-insensitively and the last of duplicates wins;
//! 2. `group/version` must be the provider's configured apiVersion, character for character;
//! 3. then the strict decode: `kind` must be `CredentialProviderResponse`, field names are
//!    case-sensitive, unknown fields and duplicate keys (at any level) are errors, and every
//!    value must have its type (`cacheDuration` a Go duration string or null).
//!
//! `cacheKeyType` is checked after decoding, by the caller, as kubelet does. Nothing here ever
//! quotes a value from the response (it may hold a password): messages name fields and types.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::duration::parse_go_duration;
use crate::pattern::go_quote;
use crate::protocol::RESPONSE_KIND;
use crate::secret::Secret;

/// A decoded response, before kubelet's `cacheKeyType` check.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// As sent (`""` when absent or null); kubelet accepts only `Image`, `Registry`, `Global`.
    pub cache_key_type: String,
    /// `cacheDuration` in nanoseconds; `None` when absent or null (the provider's
    /// `defaultCacheDuration` applies).
    pub cache_duration: Option<i64>,
    /// The `auth` entries in the order they were written.
    pub auth: Vec<AuthEntry>,
}

/// One `auth` entry as sent.
#[derive(Debug, Clone)]
pub struct AuthEntry {
    /// The key as written (kubelet normalises it when it files it, §2.1).
    pub key: String,
    /// Username (`""` when absent or null, as in Go).
    pub username: String,
    /// Password (`""` when absent or null).
    pub password: Secret<String>,
}

/// Why kubelet throws a response away, with what kubelet logs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Step 1: not one JSON value, or `apiVersion`/`kind` not strings.
    Gvk {
        /// What Go's reader says (its words where this reader knows them).
        go: String,
        /// What is wrong, with the position.
        reason: String,
    },
    /// Step 2: another apiVersion than the request's.
    ApiVersion {
        /// The provider's configured apiVersion.
        expected: String,
        /// What the response's apiVersion reads as (Go's `GroupVersion.String()`).
        actual: String,
    },
    /// Step 3: the strict decode failed; the reasons are this reader's, since kubelet logs only
    /// a fixed line (its decoder's message could quote a secret).
    Decode(Vec<String>),
}

impl Refusal {
    /// The error kubelet's `ExecPlugin` returns for this refusal.
    pub fn kubelet_text(&self) -> String {
        match self {
            Refusal::Gvk { go, .. } => format!("error reading GVK from response: {go}"),
            Refusal::ApiVersion { expected, actual } => format!(
                "apiVersion from credential plugin response did not match expected apiVersion:{expected}, actual apiVersion:{actual}"
            ),
            Refusal::Decode(_) => {
                "error decoding credential provider plugin response from stdout".to_string()
            }
        }
    }

    /// What is wrong, in this reader's words (for the decode step, which kubelet does not say).
    pub fn reason(&self) -> String {
        match self {
            Refusal::Gvk { reason, .. } => {
                format!("stdout is not one JSON document kubelet can read: {reason}")
            }
            Refusal::ApiVersion { expected, actual } => format!(
                "the response's apiVersion is {actual:?}, but kubelet asked in {expected:?} and accepts only that"
            ),
            Refusal::Decode(reasons) => format!(
                "kubelet's strict decoder refuses the response: {}",
                reasons.join("; ")
            ),
        }
    }
}

/// Decodes `stdout` as kubelet does for a provider configured with `expected_api_version`.
pub fn decode(stdout: &[u8], expected_api_version: &str) -> Result<Decoded, Refusal> {
    // Go's decoder reads invalid UTF-8 inside strings as U+FFFD; anywhere else it is a syntax
    // error either way.
    let text = String::from_utf8_lossy(stdout);
    let doc = parse(&text).map_err(|e| Refusal::Gvk {
        go: format!("{META_ERROR}{}", e.go),
        reason: e.reason,
    })?;
    let (api_version, kind) = type_meta(&doc)?;
    let actual = group_version(&api_version)?;
    if actual != expected_api_version {
        return Err(Refusal::ApiVersion {
            expected: expected_api_version.to_string(),
            actual,
        });
    }
    strict(&doc, &kind).map_err(Refusal::Decode)
}

/// A JSON document with its object members in order and duplicates kept, which serde_json's
/// `Value` cannot hold; numbers are kept as their kind only (no response field is a number).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool,
    Number,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The name Go's type errors give this kind of value.
    fn go_kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "bool",
            Json::Number => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// Every string value under an object key equal (any case) to `name`, at any depth.
    pub(super) fn strings_under(&self, name: &str, out: &mut Vec<String>) {
        match self {
            Json::Array(items) => items.iter().for_each(|i| i.strings_under(name, out)),
            Json::Object(members) => {
                for (key, value) in members {
                    match value {
                        Json::String(s) if key.eq_ignore_ascii_case(name) => out.push(s.clone()),
                        other => other.strings_under(name, out),
                    }
                }
            }
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// How apimachinery's `Interpret` prefixes a JSON error.
const META_ERROR: &str = "couldn't get version/kind; json parse error: ";

/// Why text is not one JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    /// Go's `encoding/json` message for the common cases (nothing, something that starts no
    /// value, something after the value, a cut-off document); a position otherwise.
    pub go: String,
    /// This reader's message: what and where.
    pub reason: String,
}

/// One JSON value and nothing but whitespace around it. Errors give a position and at most
/// the one offending character, never text.
pub(super) fn parse(text: &str) -> Result<Json, SyntaxError> {
    let first = text.find(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'));
    let Some(first) = first else {
        return Err(SyntaxError {
            go: "unexpected end of JSON input".into(),
            reason: "stdout is empty".into(),
        });
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let located = |e: serde_json::Error| {
        let at = format!("line {} column {}", e.line(), e.column());
        // serde_json counts columns in bytes, from 1, at the offending character.
        let offset = text
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + e.column().saturating_sub(1);
        let c = text.get(offset..).and_then(|rest| rest.chars().next());
        let (go, reason) = match (e.classify(), c) {
            (serde_json::error::Category::Eof, _) => (
                "unexpected end of JSON input".to_string(),
                format!("the document ends early ({at})"),
            ),
            (_, Some(c)) if e.to_string().starts_with("trailing characters") => (
                format!("invalid character {} after top-level value", go_char(c)),
                format!("more follows the JSON value ({at})"),
            ),
            (_, Some(c)) if offset == first => (
                format!(
                    "invalid character {} looking for beginning of value",
                    go_char(c)
                ),
                format!("it does not start with a JSON value ({at})"),
            ),
            _ => (
                format!("invalid JSON at {at}"),
                format!("not valid JSON ({at})"),
            ),
        };
        SyntaxError { go, reason }
    };
    let doc = Json::deserialize(&mut deserializer).map_err(located)?;
    deserializer.end().map_err(located)?;
    Ok(doc)
}

/// Go's `quoteChar`, as its JSON syntax errors show a character.
fn go_char(c: char) -> String {
    match c {
        '\'' => r"'\''".to_string(),
        '"' => "'\"'".to_string(),
        c => {
            let quoted = go_quote(&c.to_string());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

/// Go `encoding/json` into `struct{APIVersion, Kind string}` (apimachinery's
/// `SimpleMetaFactory.Interpret`): names match without regard to case (Go's folding, which
/// also pairs the Kelvin sign with `k`, `ſ` with `s` and both Turkish i's with `i`), the last
/// of several matching members wins, null leaves a field alone, any other non-string fails.
fn type_meta(doc: &Json) -> Result<(String, String), Refusal> {
    let refuse = |go: String, reason: String| Refusal::Gvk {
        go: format!("{META_ERROR}{go}"),
        reason,
    };
    let members = match doc {
        Json::Null => return Ok((String::new(), String::new())),
        Json::Object(members) => members,
        other => {
            return Err(refuse(
                format!(
                    "json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
                    other.go_kind()
                ),
                format!("the document is {}, not an object with apiVersion and kind", other.kind()),
            ))
        }
    };
    let mut api_version = String::new();
    let mut kind = String::new();
    for (name, value) in members {
        let (field, go_name) = if go_fold_eq(name, "apiVersion") {
            (&mut api_version, "apiVersion")
        } else if go_fold_eq(name, "kind") {
            (&mut kind, "kind")
        } else {
            continue;
        };
        match value {
            Json::String(s) => *field = s.clone(),
            Json::Null => {}
            other => {
                return Err(refuse(
                    format!(
                        "json: cannot unmarshal {} into Go struct field .{go_name} of type string",
                        other.go_kind()
                    ),
                    format!("field {name:?} is {}, not a string", other.kind()),
                ))
            }
        }
    }
    Ok((api_version, kind))
}

/// Go's case folding of struct field names, for ASCII targets.
fn go_fold_eq(name: &str, target: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212A}' => 'k',
        '\u{17F}' => 's',
        '\u{130}' | '\u{131}' => 'i',
        c => c.to_ascii_lowercase(),
    };
    name.chars().count() == target.chars().count()
        && name
            .chars()
            .zip(target.chars())
            .all(|(a, b)| fold(a) == fold(b))
}

/// apimachinery's `ParseGroupVersion(...).String()`: `group/version`, or the version alone for
/// an empty group; more than one `/` fails.
fn group_version(api_version: &str) -> Result<String, Refusal> {
    if api_version.is_empty() || api_version == "/" {
        return Ok(String::new());
    }
    match api_version.split_once('/') {
        None => Ok(api_version.to_string()),
        Some((group, version)) if !version.contains('/') => Ok(if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        }),
        Some(_) => Err(Refusal::Gvk {
            go: format!("unexpected GroupVersion string: {api_version}"),
            reason: "apiVersion has more than one '/'".to_string(),
        }),
    }
}

/// The strict decode of a `CredentialProviderResponse` (all three versions share the shape).
fn strict(doc: &Json, kind: &str) -> Result<Decoded, Vec<String>> {
    let mut problems = Vec::new();
    if kind.is_empty() {
        problems.push("the response has no kind".to_string());
    } else if kind != RESPONSE_KIND {
        problems.push(format!("kind is {kind:?}, not {RESPONSE_KIND:?}"));
    }
    let mut decoded = Decoded {
        cache_key_type: String::new(),
        cache_duration: None,
        auth: Vec::new(),
    };
    let Json::Object(members) = doc else {
        problems.push(format!("the response is {}, not an object", doc.kind()));
        return Err(problems);
    };
    let mut seen = HashSet::new();
    for (name, value) in members {
        if !seen.insert(name.as_str()) {
            problems.push(format!("duplicate field {name:?}"));
        }
        match name.as_str() {
            "kind" | "apiVersion" => {
                string_or_null(name, value, &mut problems);
            }
            "cacheKeyType" => {
                decoded.cache_key_type = string_or_null(name, value, &mut problems);
            }
            "cacheDuration" => match value {
                Json::Null => decoded.cache_duration = None,
                Json::String(text) => match parse_go_duration(text) {
                    Ok(nanos) => decoded.cache_duration = Some(nanos),
                    Err(_) => problems.push(
                        "cacheDuration is not a Go duration (e.g. \"5m0s\", \"6h\", \"0s\")"
                            .to_string(),
                    ),
                },
                other => problems.push(format!(
                    "cacheDuration is {}, not a Go duration string",
                    other.kind()
                )),
            },
            "auth" => decoded.auth = auth(value, &mut problems),
            other => problems.push(unknown(other, RESPONSE_FIELDS, "")),
        }
    }
    if problems.is_empty() {
        Ok(decoded)
    } else {
        Err(problems)
    }
}

/// The response fields kubelet's types have.
const RESPONSE_FIELDS: &[&str] = &[
    "kind",
    "apiVersion",
    "cacheKeyType",
    "cacheDuration",
    "auth",
];
/// The fields of an `auth` entry.
const AUTH_FIELDS: &[&str] = &["username", "password"];

fn unknown(name: &str, known: &[&str], prefix: &str) -> String {
    match known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        Some(k) => {
            format!("unknown field \"{prefix}{name}\" (field names are case-sensitive: {k})")
        }
        None => format!("unknown field \"{prefix}{name}\""),
    }
}

fn string_or_null(name: &str, value: &Json, problems: &mut Vec<String>) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => {
            problems.push(format!("{name} is {}, not a string", other.kind()));
            String::new()
        }
    }
}

fn auth(value: &Json, problems: &mut Vec<String>) -> Vec<AuthEntry> {
    let members = match value {
        Json::Null => return Vec::new(),
        Json::Object(members) => members,
        other => {
            problems.push(format!("auth is {}, not an object", other.kind()));
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    for (key, entry) in members {
        if !seen.insert(key.as_str()) {
            problems.push(format!("duplicate auth key {key:?}"));
        }
        let mut username = String::new();
        let mut password = String::new();
        match entry {
            // Go decodes null into a zero AuthConfig: an entry with empty credentials.
            Json::Null => {}
            Json::Object(fields) => {
                let mut seen_fields = HashSet::new();
                for (name, value) in fields {
                    if !seen_fields.insert(name.as_str()) {
                        problems.push(format!("duplicate field \"auth[{key}].{name}\""));
                    }
                    let path = format!("auth[{key}].{name}");
                    match name.as_str() {
                        "username" => username = string_or_null(&path, value, problems),
                        "password" => password = string_or_null(&path, value, problems),
                        other => {
                            problems.push(unknown(other, AUTH_FIELDS, &format!("auth[{key}].")))
                        }
                    }
                }
            }
            other => problems.push(format!("auth[{key}] is {}, not an object", other.kind())),
        }
        entries.push(AuthEntry {
            key: key.clone(),
            username,
            password: Secret::new(password),
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

    fn refusal(stdout: &str) -> Refusal {
        match decode(stdout.as_bytes(), V1) {
            Err(r) => r,
            Ok(d) => panic!("decoded {d:?}"),
        }
    }

    #[test]
    fn kubelets_own_test_vector_decodes() {
        // P2: plugin_test Test_decodeResponse.
        let d = decode(br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"1m","auth":{"*.registry.io":{"username":"user","password":"password"}}}"#, V1).unwrap();
        assert_eq!(d.cache_key_type, "Registry");
        assert_eq!(d.cache_duration, Some(60_000_000_000));
        assert_eq!(d.auth.len(), 1);
        assert_eq!(d.auth[0].key, "*.registry.io");
        assert_eq!(d.auth[0].username, "user");
        assert_eq!(d.auth[0].password.expose(), "password");
    }

    #[test]
    fn not_json_fails_at_the_gvk_step() {
        for garbage in [
            "",
            "  \n",
            "hello",
            "level=info msg=x\n{}",
            "kind: X\n",
            "{} {}",
            "{",
        ] {
            let r = refusal(garbage);
            assert!(matches!(r, Refusal::Gvk { .. }), "{garbage:?}: {r:?}");
            assert!(r
                .kubelet_text()
                .starts_with("error reading GVK from response: "));
        }
        assert!(matches!(refusal("[1]"), Refusal::Gvk { .. }));
        assert!(matches!(
            refusal(r#"{"apiVersion":1}"#),
            Refusal::Gvk { .. }
        ));
    }

    #[test]
    fn gvk_errors_read_like_gos() {
        let prefix =
            "error reading GVK from response: couldn't get version/kind; json parse error: ";
        for (stdout, go) in [
            ("", "unexpected end of JSON input"),
            (
                "level=info msg=x\n",
                "invalid character 'l' looking for beginning of value",
            ),
            (
                "\n  'x'",
                r"invalid character '\'' looking for beginning of value",
            ),
            ("{} x", "invalid character 'x' after top-level value"),
            (r#"{"kind":"#, "unexpected end of JSON input"),
            (
                r#"{"apiVersion":1}"#,
                "json: cannot unmarshal number into Go struct field .apiVersion of type string",
            ),
        ] {
            assert_eq!(
                refusal(stdout).kubelet_text(),
                format!("{prefix}{go}"),
                "{stdout:?}"
            );
        }
        assert_eq!(
            refusal(r#"{"apiVersion":"a/b/c"}"#).kubelet_text(),
            "error reading GVK from response: unexpected GroupVersion string: a/b/c"
        );
    }

    #[test]
    fn another_api_version_is_refused_with_kubelets_words() {
        // P3.
        let r = refusal(
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","cacheKeyType":"Registry"}"#,
        );
        assert_eq!(r.kubelet_text(), "apiVersion from credential plugin response did not match expected apiVersion:credentialprovider.kubelet.k8s.io/v1, actual apiVersion:credentialprovider.kubelet.k8s.io/v1beta1");
        // null and absent read as "".
        let r = refusal("null");
        assert!(r.kubelet_text().ends_with("actual apiVersion:"), "{r:?}");
        let r = refusal(r#"{"kind":"CredentialProviderResponse"}"#);
        assert!(r.kubelet_text().ends_with("actual apiVersion:"), "{r:?}");
        assert!(matches!(
            refusal(r#"{"apiVersion":"a/b/c"}"#),
            Refusal::Gvk { .. }
        ));
    }

    #[test]
    fn the_gvk_read_is_case_insensitive_and_last_wins_but_the_decode_is_strict() {
        // Passes the apiVersion check (Go's encoding/json folds case), then fails strictly.
        let r = refusal(
            r#"{"kind":"CredentialProviderResponse","APIVERSION":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image"}"#,
        );
        match r {
            Refusal::Decode(reasons) => assert!(
                reasons
                    .iter()
                    .any(|m| m.contains("\"APIVERSION\"") && m.contains("case-sensitive")),
                "{reasons:?}"
            ),
            other => panic!("{other:?}"),
        }
        // The Kelvin sign folds to k: the kind is read, and the key is unknown to the decoder.
        let r = refusal("{\"\u{212A}ind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"cacheKeyType\":\"Image\"}");
        assert!(matches!(r, Refusal::Decode(_)), "{r:?}");
        // Duplicates: the GVK read takes the last, the decoder refuses the repeat.
        let r = refusal(
            r#"{"kind":"CredentialProviderResponse","apiVersion":"x/v1","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image"}"#,
        );
        match r {
            Refusal::Decode(reasons) => {
                assert_eq!(reasons, ["duplicate field \"apiVersion\""])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strict_decode_refuses_what_kubelet_refuses() {
        let base = r#""kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1""#;
        for (extra, expect) in [
            (
                r#","cacheKeyType":"Image","expiresAt":"x""#,
                "unknown field \"expiresAt\"",
            ), // P10
            (
                r#","cacheKeyType":"Image","cacheDuration":3600"#,
                "a number",
            ), // P9
            (
                r#","cacheKeyType":"Image","cacheDuration":"""#,
                "not a Go duration",
            ), // P9
            (
                r#","cacheKeyType":"Image","serviceAccountTokenCacheType":"Token""#,
                "unknown field",
            ), // §1.6
            (r#","cacheKeyType":1"#, "cacheKeyType is a number"),
            (
                r#","auth":{"r.io":{"username":"u","password":"p","auth":"x"}}"#,
                "unknown field \"auth[r.io].auth\"",
            ),
            (
                r#","auth":{"r.io":{"username":"u"},"r.io":{"username":"v"}}"#,
                "duplicate auth key \"r.io\"",
            ),
            (r#","auth":{"r.io":{"Username":"u"}}"#, "case-sensitive"),
            (r#","auth":[]"#, "auth is an array"),
        ] {
            match refusal(&format!("{{{base}{extra}}}")) {
                Refusal::Decode(reasons) => {
                    assert!(
                        reasons.iter().any(|r| r.contains(expect)),
                        "{extra}: {reasons:?}"
                    )
                }
                other => panic!("{extra}: {other:?}"),
            }
        }
        // P4: another kind.
        let r =
            refusal(r#"{"kind":"WrongKind","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#);
        assert!(matches!(r, Refusal::Decode(_)), "{r:?}");
        assert_eq!(
            r.kubelet_text(),
            "error decoding credential provider plugin response from stdout"
        );
    }

    #[test]
    fn nulls_and_absences_decode_as_go_does() {
        let d = decode(br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheDuration":null,"auth":{"a.io":null,"b.io":{"username":null}}}"#, V1).unwrap();
        assert_eq!(d.cache_key_type, "", "checked later, as kubelet does (P6)");
        assert_eq!(d.cache_duration, None);
        assert_eq!(d.auth.len(), 2);
        assert!(d
            .auth
            .iter()
            .all(|a| a.username.is_empty() && a.password.is_empty()));
    }

    #[test]
    fn other_versions_decode_when_they_were_asked_for() {
        let v1alpha1 = "credentialprovider.kubelet.k8s.io/v1alpha1";
        let d = decode(
            br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1alpha1","cacheKeyType":"Global","auth":{}}"#,
            v1alpha1,
        )
        .unwrap();
        assert_eq!(d.cache_key_type, "Global");
    }

    #[test]
    fn no_message_quotes_a_value() {
        // apiVersion and kind are the only values kubelet itself quotes; nothing else may be.
        let secret = "s3cr3t-value-xyz";
        let head = r#""kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1""#;
        for doc in [
            format!(r#"{{{head},"cacheDuration":"{secret}"}}"#),
            format!(r#"{{{head},"cacheKeyType":"Image","x":"{secret}"}}"#),
            format!(r#"{{{head},"auth":{{"r":{{"password":1,"username":"{secret}","y":1}}}}}}"#),
            format!(r#"{{{head},"auth":{{"r":{{"password":"{secret}"#),
        ] {
            let r = refusal(&doc);
            assert!(!r.reason().contains(secret), "{r:?}");
            assert!(!r.kubelet_text().contains(secret), "{r:?}");
        }
    }
}
