//! The kubelet credential provider wire format: one request in, one response out.
//!
//! Kubelet decodes our stdout with a strict codec (unknown fields, wrong case or a different
//! apiVersion discard the answer), so the response type carries exactly the documented fields
//! and nothing else. The request side is lenient where kubelet may grow (unknown fields are
//! ignored) and strict where a mistake would give wrong credentials (kind, apiVersion, image).
//! The request is read as a generic JSON value and picked apart by hand so that no error
//! message can ever quote a field's value (the service-account token is one).

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The request kind kubelet sends.
pub const REQUEST_KIND: &str = "CredentialProviderRequest";
/// The response kind kubelet expects.
pub const RESPONSE_KIND: &str = "CredentialProviderResponse";
/// Largest request accepted. Real requests are a few hundred bytes (a service-account token
/// is ~1 KiB); the bound keeps a runaway pipe from eating memory.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Protocol versions kubelet speaks. The response must repeat the request's version exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// GA since Kubernetes 1.26; the only version with service-account tokens.
    V1,
    /// Kubernetes 1.24–1.25 (and later, when configured).
    V1beta1,
    /// Kubernetes 1.20–1.23.
    V1alpha1,
}

impl ApiVersion {
    /// All versions, newest first (for error messages).
    pub const ALL: [ApiVersion; 3] = [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1];

    /// The full `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "credentialprovider.kubelet.k8s.io/v1",
            ApiVersion::V1beta1 => "credentialprovider.kubelet.k8s.io/v1beta1",
            ApiVersion::V1alpha1 => "credentialprovider.kubelet.k8s.io/v1alpha1",
        }
    }

    /// Parses a full `apiVersion` string (case-sensitive, as kubelet compares it).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        ApiVersion::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// A decoded `CredentialProviderRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Version to answer in.
    pub api_version: ApiVersion,
    /// The image as sent (kubelet: `host[:port]/path`, no tag); normalised by [`crate::image`].
    pub image: String,
    /// The pod's service-account token (v1, kubelet 1.33+ with `tokenAttributes`).
    pub service_account_token: Option<Secret<String>>,
    /// The service account's annotations that the kubelet config asked to forward.
    pub service_account_annotations: BTreeMap<String, String>,
}

/// What a request must look like; shown whenever input is not one.
pub const EXAMPLE_REQUEST: &str = r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/team/app"}"#;

impl Request {
    /// Decodes stdin bytes into a request, or says in one sentence what is wrong with them.
    pub fn parse(bytes: &[u8]) -> Result<Request> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(Error::Request(format!(
                "request is larger than {} bytes; kubelet sends one small JSON object",
                MAX_REQUEST_BYTES
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::Request(format!(
                "request is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::Request(format!(
                "no request on stdin; expected one CredentialProviderRequest JSON object such as {EXAMPLE_REQUEST}"
            )));
        }
        if !trimmed.starts_with('{') {
            return Err(Error::Request(not_an_object_message(trimmed)));
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| {
            // serde_json syntax errors carry a position, never the offending text.
            Error::Request(format!(
                "request is not valid JSON ({} at line {} column {}); expected {EXAMPLE_REQUEST}",
                json_error_kind(&e),
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(fields) = value else {
            return Err(Error::Request(format!(
                "request must be a JSON object such as {EXAMPLE_REQUEST}"
            )));
        };

        let kind = string_field(&fields, "kind")?;
        match kind {
            Some(REQUEST_KIND) => {}
            Some(other) => {
                return Err(Error::Request(format!(
                    "request kind is {other:?}, expected {REQUEST_KIND:?}"
                )))
            }
            None => {
                return Err(Error::Request(format!(
                    "request has no \"kind\"; expected \"kind\":{REQUEST_KIND:?}"
                )))
            }
        }

        let supported = ApiVersion::ALL.map(ApiVersion::as_str).join(", ");
        let api_version = match string_field(&fields, "apiVersion")? {
            Some(text) => ApiVersion::parse(text).ok_or_else(|| {
                Error::Request(format!(
                    "request apiVersion {text:?} is not supported; supported: {supported}"
                ))
            })?,
            None => {
                return Err(Error::Request(format!(
                    "request has no \"apiVersion\"; supported: {supported}"
                )))
            }
        };

        let image =
            match string_field(&fields, "image")? {
                Some(image) if !image.trim().is_empty() => image.to_string(),
                _ => return Err(Error::Request(
                    "request has an empty \"image\"; kubelet sends the image as host[:port]/path"
                        .to_string(),
                )),
            };

        // The token and annotations exist only in v1; older kubelets never send them, and a
        // v1beta1 request carrying them was not made by kubelet, so they are ignored there.
        let (service_account_token, service_account_annotations) = if api_version == ApiVersion::V1
        {
            let token = string_field(&fields, "serviceAccountToken")?
                .filter(|t| !t.is_empty())
                .map(|t| Secret::new(t.to_string()));
            (token, annotations_field(&fields)?)
        } else {
            (None, BTreeMap::new())
        };

        Ok(Request {
            api_version,
            image,
            service_account_token,
            service_account_annotations,
        })
    }
}

/// Reads an optional string field; a present non-string is an error naming only the field.
fn string_field<'a>(
    fields: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::Request(format!(
            "request field {name:?} must be a string, not {}",
            json_type(other)
        ))),
    }
}

fn annotations_field(fields: &serde_json::Map<String, Value>) -> Result<BTreeMap<String, String>> {
    const NAME: &str = "serviceAccountAnnotations";
    match fields.get(NAME) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(Error::Request(format!(
                    "request field {NAME:?} must map strings to strings; key {k:?} holds {}",
                    json_type(other)
                ))),
            })
            .collect(),
        Some(other) => Err(Error::Request(format!(
            "request field {NAME:?} must be an object, not {}",
            json_type(other)
        ))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "read error",
    }
}

/// Input that is not a JSON object: most often a Docker credential-helper request (a bare
/// server URL), from someone wiring a docker-credential-* habit into kubelet.
fn not_an_object_message(input: &str) -> String {
    let single_token = !input.contains(char::is_whitespace) && input.len() < 512;
    if single_token && (input.contains('.') || input.contains("://") || input.contains(':')) {
        format!(
            "stdin holds a bare server URL, which is the Docker credential-helper protocol; \
             this binary speaks the kubelet credential provider protocol and expects one JSON \
             object such as {EXAMPLE_REQUEST}"
        )
    } else {
        format!("request is not a JSON object; expected {EXAMPLE_REQUEST}")
    }
}

/// How kubelet may reuse a response (`cacheKeyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CacheKeyType {
    /// Only for the exact image (repository) requested.
    Image,
    /// For every image on the same `host[:port]`.
    Registry,
    /// For every image this provider's `matchImages` accepts.
    Global,
}

impl CacheKeyType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKeyType::Image => "Image",
            CacheKeyType::Registry => "Registry",
            CacheKeyType::Global => "Global",
        }
    }
}

/// One username/password pair; the only credential shape kubelet can express.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Registry username (not secret: `AWS`, `_token`, a client id, a user name).
    pub username: String,
    /// Registry password or token.
    pub password: Secret<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

impl Serialize for AuthConfig {
    /// The one place a password leaves its [`Secret`]: into the response kubelet reads.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AuthConfig", 2)?;
        s.serialize_field("username", &self.username)?;
        s.serialize_field("password", self.password.expose())?;
        s.end()
    }
}

/// A `CredentialProviderResponse`, exactly the fields kubelet's strict decoder knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    /// Always [`RESPONSE_KIND`].
    kind: &'static str,
    /// The request's apiVersion, repeated.
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    /// How kubelet may reuse the answer.
    #[serde(rename = "cacheKeyType")]
    pub cache_key_type: CacheKeyType,
    /// Go duration text; always sent, so kubelet never falls back to its configured default
    /// for credentials that are about to expire.
    #[serde(rename = "cacheDuration")]
    pub cache_duration: String,
    /// Match pattern → credentials. An empty map means "no credentials from this provider".
    pub auth: BTreeMap<String, AuthConfig>,
}

impl Response {
    /// Builds a response in the request's apiVersion.
    pub fn new(
        api_version: ApiVersion,
        cache_key_type: CacheKeyType,
        cache_duration: String,
        auth: BTreeMap<String, AuthConfig>,
    ) -> Response {
        Response {
            kind: RESPONSE_KIND,
            api_version: api_version.as_str(),
            cache_key_type,
            cache_duration,
            auth,
        }
    }

    /// The bytes written to stdout: one JSON document and a newline.
    pub fn to_json_line(&self) -> Result<String> {
        let mut text = serde_json::to_string(self)
            .map_err(|_| Error::Io("could not encode the response".to_string()))?;
        text.push('\n');
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request> {
        Request::parse(text.as_bytes())
    }

    fn request_error(text: &str) -> String {
        match parse(text) {
            Err(e) => e.to_string(),
            Ok(r) => panic!("expected an error, got {r:?}"),
        }
    }

    #[test]
    fn decodes_the_kubelet_test_vector_byte_for_byte() {
        let bytes = b"{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"image\":\"test.registry.io/foobar\",\"serviceAccountToken\":\"service-account-token\",\"serviceAccountAnnotations\":{\"domain.io/annotation1\":\"value1\"}}\n";
        let r = Request::parse(bytes).unwrap();
        assert_eq!(r.api_version, ApiVersion::V1);
        assert_eq!(r.image, "test.registry.io/foobar");
        assert_eq!(
            r.service_account_token
                .as_ref()
                .map(|t| t.expose().as_str()),
            Some("service-account-token")
        );
        assert_eq!(
            r.service_account_annotations
                .get("domain.io/annotation1")
                .map(String::as_str),
            Some("value1")
        );
    }

    #[test]
    fn accepts_all_three_versions_and_ignores_unknown_fields() {
        for v in ApiVersion::ALL {
            let text = format!(
                r#"{{"apiVersion":"{}","kind":"CredentialProviderRequest","image":"r.io/a","future":1}}"#,
                v.as_str()
            );
            assert_eq!(parse(&text).unwrap().api_version, v);
        }
    }

    #[test]
    fn token_fields_are_optional_and_ignored_before_v1() {
        let r = parse(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderRequest","image":"r.io/a","serviceAccountToken":"t"}"#).unwrap();
        assert!(r.service_account_token.is_none());
        let r = parse(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a","serviceAccountToken":""}"#).unwrap();
        assert!(r.service_account_token.is_none());
    }

    #[test]
    fn rejects_wrong_kind_version_and_image_with_clear_messages() {
        assert!(request_error(
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"Foo","image":"a"}"#
        )
        .contains(r#"request kind is "Foo""#));
        assert!(request_error(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v2","kind":"CredentialProviderRequest","image":"a"}"#).contains("not supported"));
        assert!(
            request_error(r#"{"kind":"CredentialProviderRequest","image":"a"}"#)
                .contains("no \"apiVersion\"")
        );
        assert!(request_error(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":""}"#).contains("empty \"image\""));
        assert!(request_error(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"}"#).contains("empty \"image\""));
    }

    #[test]
    fn errors_never_quote_the_token() {
        let e = request_error(
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"a","serviceAccountToken":"s3cr3t","serviceAccountAnnotations":{"k":["s3cr3t"]}}"#,
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = request_error(
            r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"a","serviceAccountToken":"s3cr3t" "#,
        );
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn credential_helper_input_is_explained() {
        let e = request_error("https://index.docker.io/v1/\n");
        assert!(e.contains("Docker credential-helper protocol"), "{e}");
        let e = request_error("123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert!(e.contains("Docker credential-helper protocol"), "{e}");
    }

    #[test]
    fn size_utf8_and_emptiness_are_checked() {
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert!(Request::parse(&big)
            .unwrap_err()
            .to_string()
            .contains("larger than"));
        assert!(Request::parse(b"{\"a\":\"\xff\"}")
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
        assert!(request_error(" \n").contains("no request on stdin"));
        assert!(request_error("[1]").contains("not a JSON object"));
        assert!(request_error("{\"kind\":").contains("not valid JSON"));
    }

    #[test]
    fn response_has_exactly_the_documented_fields_in_kubelet_order() {
        let mut auth = BTreeMap::new();
        auth.insert(
            "*.registry.io".to_string(),
            AuthConfig {
                username: "user".to_string(),
                password: Secret::new("password".to_string()),
            },
        );
        let r = Response::new(
            ApiVersion::V1,
            CacheKeyType::Registry,
            "1m0s".to_string(),
            auth,
        );
        assert_eq!(
            r.to_json_line().unwrap(),
            "{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"cacheKeyType\":\"Registry\",\"cacheDuration\":\"1m0s\",\"auth\":{\"*.registry.io\":{\"username\":\"user\",\"password\":\"password\"}}}\n"
        );
        let empty = Response::new(
            ApiVersion::V1alpha1,
            CacheKeyType::Image,
            "0s".to_string(),
            BTreeMap::new(),
        );
        assert_eq!(
            empty.to_json_line().unwrap(),
            "{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1alpha1\",\"cacheKeyType\":\"Image\",\"cacheDuration\":\"0s\",\"auth\":{}}\n"
        );
    }

    #[test]
    fn auth_config_debug_redacts_the_password() {
        let a = AuthConfig {
            username: "u".to_string(),
            password: Secret::new("pw".to_string()),
        };
        assert_eq!(
            format!("{a:?}"),
            r#"AuthConfig { username: "u", password: REDACTED }"#
        );
    }
}
