//! Node identity off GCE: a service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`) and,
//! as the last resort, gcloud's Application Default Credentials file.
//!
//! Key file: the PKCS#8 key is read from the file's PEM and signs the assertion (RS256) with
//! `ring`, the crypto library of the whole binary; the JWT-bearer grant is one form POST to the
//! key's `token_uri` through [`crate::http`]: the run's deadline, bounded retries, the status
//! and Google's error text in failures, and the binary's own trust store and name resolver.
//! (gcp_auth, used here before, builds its own HTTP client whenever a key is parsed: a second
//! trust-store load per run, no timeout, the C library's resolver.)
//!
//! ADC: `~/.config/gcloud/application_default_credentials.json`. A `service_account` file is
//! handled as a key file; an `authorized_user` file (`gcloud auth application-default login`)
//! holds a refresh token, traded at Google's OAuth endpoint (no `gcloud` run).

// Called by the network half (src/backend/gcr/fetch.rs); a build without the `gcp` feature compiles
// the module for what `describe`, routing and the unit tests use of it, and nothing calls the rest.
#![cfg_attr(not(feature = "gcp"), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::metadata::{parse_token_response, AccessToken};
use super::sts::{error_summary, CLOUD_PLATFORM_SCOPE};
use crate::deadline::Deadline;
use crate::http;
use crate::secret::Secret;

/// The variable naming a service-account key file, as in every Google client library.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// gcloud's ADC file, relative to `$HOME`.
pub const ADC_RELATIVE_PATH: &str = ".config/gcloud/application_default_credentials.json";
/// OAuth 2.0 JWT-bearer grant (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime asked for in the assertion; Google's maximum.
const ASSERTION_SECONDS: u64 = 3600;
/// Where gcloud's user credentials are refreshed (Google's OAuth 2.0 token endpoint).
pub const USER_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A parsed service-account key file.
pub struct KeyFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `client_email`: the identity.
    pub client_email: String,
    /// `token_uri`: where the assertion is posted.
    pub token_uri: String,
    /// `private_key_id`, sent as the JWT `kid` so Google picks the right public key.
    key_id: Option<String>,
    /// The file's text (it holds the private key).
    text: Secret<String>,
}

/// The key file named by `GOOGLE_APPLICATION_CREDENTIALS`, if set and non-empty.
pub fn path_from_env() -> Option<PathBuf> {
    std::env::var_os(CREDENTIALS_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// gcloud's ADC file under `$HOME`, if `$HOME` is set.
pub fn adc_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| Path::new(&home).join(ADC_RELATIVE_PATH))
}

/// What kind of credentials a Google credentials file holds.
pub fn file_type(text: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON (line {})", e.line()))?;
    Ok(value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string())
}

impl KeyFile {
    /// Reads and checks a key file; messages name fields, never values.
    pub fn load(path: &Path) -> Result<KeyFile, String> {
        let text = crate::local_file::read_text(path)
            .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
        KeyFile::parse(path, text)
    }

    /// Parses the text of a key file read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<KeyFile, String> {
        let what = || format!("key file {}", path.display());
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON (line {})", what(), e.line()))?;
        match value.get("type").and_then(Value::as_str) {
            Some("service_account") => {}
            Some("external_account") => {
                return Err(format!(
                    "{} is an external_account (workload identity federation) configuration; \
                     for pods use --workload-identity-audience, for the node use a \
                     service_account key or the metadata server",
                    what()
                ))
            }
            Some(other) => {
                return Err(format!(
                    "{} has type {other:?}; expected \"service_account\"",
                    what()
                ))
            }
            None => return Err(format!("{} has no \"type\"", what())),
        }
        let field = |name: &str| match value.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("{} has no {name:?}", what())),
        };
        let client_email = field("client_email")?;
        field("private_key")?;
        let token_uri = field("token_uri")?;
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(format!("{}: \"token_uri\" is not an http(s) URL", what()));
        }
        Ok(KeyFile {
            path: path.to_path_buf(),
            client_email,
            token_uri,
            key_id: value
                .get("private_key_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            text: Secret::new(text),
        })
    }

    /// The signed JWT-bearer assertion for `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<Secret<String>, String> {
        let cannot = |why: &str| {
            format!(
                "key file {}: cannot use \"private_key\" ({why})",
                self.path.display()
            )
        };
        let value: Value = serde_json::from_str(self.text.expose())
            .map_err(|_| cannot("the file is no longer JSON"))?;
        let pem = value
            .get("private_key")
            .and_then(Value::as_str)
            .ok_or_else(|| cannot("missing"))?;
        let key = private_key(pem).map_err(cannot)?;
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_SECONDS,
        });
        let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            jwt.as_bytes(),
            &mut signature,
        )
        .map_err(|_| format!("key file {}: signing failed", self.path.display()))?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(Secret::new(jwt))
    }

    /// An access token for the key's service account.
    pub async fn token(&self, deadline: Deadline) -> Result<AccessToken, String> {
        let asked_at = SystemTime::now();
        let now = asked_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.assertion(now)?;
        let client = if self.token_uri.starts_with("https://") {
            http::client()
        } else {
            http::plain_client()
        }
        .map_err(|e| e.to_string())?;
        let form = [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.expose()),
        ];
        let reply = http::send(deadline, || client.post(&self.token_uri).form(&form))
            .await
            .map_err(|e| format!("token endpoint of the key file: {e}"))?;
        let text = String::from_utf8_lossy(&reply.body);
        if !reply.ok() {
            return Err(format!(
                "token endpoint of the key file refused the key: HTTP {}{}",
                reply.status,
                error_summary(&text, &[&assertion])
            ));
        }
        parse_token_response(&text, asked_at).map_err(|m| format!("token endpoint: {m}"))
    }
}

/// The RSA key of a key file's `private_key` (PEM, PKCS#8, as Google issues them). Errors say
/// what is wrong, never quote the key.
fn private_key(pem: &str) -> Result<ring::signature::RsaKeyPair, &'static str> {
    use rustls::pki_types::pem::PemObject as _;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "not a PEM \"PRIVATE KEY\" (PKCS#8) block")?;
    ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|_| "not an RSA key ring accepts")
}

/// A token for gcloud's `authorized_user` ADC file (`text`, read from `path`): its refresh token
/// traded at [`USER_TOKEN_URI`].
pub async fn adc_user_token(
    path: &Path,
    text: &str,
    deadline: Deadline,
) -> Result<AccessToken, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "ADC file {} is not JSON (line {})",
            path.display(),
            e.line()
        )
    })?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("ADC file {} has no {name:?}", path.display())),
    };
    let client_id = field("client_id")?;
    let client_secret = Secret::new(field("client_secret")?);
    let refresh_token = Secret::new(field("refresh_token")?);
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.expose().as_str()),
        ("refresh_token", refresh_token.expose().as_str()),
    ];
    let client = http::client().map_err(|e| e.to_string())?;
    let asked_at = SystemTime::now();
    let reply = http::send(deadline, || client.post(USER_TOKEN_URI).form(&form))
        .await
        .map_err(|e| format!("Google OAuth endpoint: {e}"))?;
    let text = String::from_utf8_lossy(&reply.body);
    if !reply.ok() {
        return Err(format!(
            "Google OAuth endpoint refused the refresh token: HTTP {}{}",
            reply.status,
            error_summary(&text, &[&client_secret, &refresh_token])
        ));
    }
    parse_token_response(&text, asked_at).map_err(|m| format!("Google OAuth endpoint: {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KeyFile, String> {
        KeyFile::parse(Path::new("/k.json"), text.to_string())
    }

    #[test]
    fn key_files_are_checked_without_quoting_the_key() {
        let e = parse(r#"{"type":"external_account","audience":"x"}"#)
            .err()
            .unwrap();
        assert!(e.contains("--workload-identity-audience"), "{e}");
        let e = parse(r#"{"type":"service_account","client_email":"a@b.c","private_key":"SECRETKEY","token_uri":"ftp://x"}"#)
            .err()
            .unwrap();
        assert!(e.contains("token_uri") && !e.contains("SECRETKEY"), "{e}");
        let e = parse(r#"{"type":"service_account","private_key":"SECRETKEY"}"#)
            .err()
            .unwrap();
        assert!(
            e.contains("client_email") && !e.contains("SECRETKEY"),
            "{e}"
        );
        let k = parse(r#"{"type":"service_account","client_email":"a@b.c","private_key":"k","token_uri":"https://oauth2.googleapis.com/token","private_key_id":"kid1"}"#)
            .ok()
            .unwrap();
        assert_eq!(k.client_email, "a@b.c");
        assert_eq!(k.key_id.as_deref(), Some("kid1"));
        // A key that is not PKCS#8 fails when signing, naming the file only.
        let e = k.assertion(0).err().unwrap();
        assert!(e.contains("/k.json") && e.contains("private_key"), "{e}");
    }
}
