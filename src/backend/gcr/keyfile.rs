//! Node identity off GCE: a service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`) and,
//! as the last resort, gcloud's Application Default Credentials file.
//!
//! Key file: gcp_auth's [`CustomServiceAccount`] parses the PKCS#8 key and signs (RS256 with
//! aws-lc-rs); the JWT-bearer grant itself is one form POST to the key's `token_uri`, sent here
//! through [`crate::http`] rather than gcp_auth's own client, because that client has no
//! timeout, retries even a 400 five times and reports every failure as "token request failed".
//! Ours gives the run's deadline, the status and Google's error text.
//!
//! ADC: `~/.config/gcloud/application_default_credentials.json`. A `service_account` file is
//! handled as a key file; an `authorized_user` file (`gcloud auth application-default login`)
//! goes through gcp_auth's [`ConfigDefaultCredentials`], which refreshes the user's token at
//! Google's OAuth endpoint without running `gcloud`. gcp_auth's `provider()` is never called:
//! it would also run `gcloud` and probe the hard-coded metadata host.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gcp_auth::{ConfigDefaultCredentials, CustomServiceAccount, TokenProvider as _};
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
        let text = std::fs::read_to_string(path)
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
        let account = CustomServiceAccount::from_json(self.text.expose()).map_err(|e| {
            format!(
                "key file {}: cannot use \"private_key\" ({})",
                self.path.display(),
                crate::error::chain(&e)
            )
        })?;
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
        let signature = account
            .signer()
            .sign(jwt.as_bytes())
            .map_err(|e| format!("key file {}: signing failed ({e})", self.path.display()))?;
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
                error_summary(&text)
            ));
        }
        parse_token_response(&text, asked_at).map_err(|m| format!("token endpoint: {m}"))
    }
}

/// A token from gcloud's `authorized_user` ADC file, through gcp_auth.
pub async fn adc_user_token() -> Result<AccessToken, String> {
    let provider = ConfigDefaultCredentials::new()
        .await
        .map_err(|e| format!("gcloud user credentials: {}", crate::error::chain(&e)))?;
    let token = provider
        .token(&[CLOUD_PLATFORM_SCOPE])
        .await
        .map_err(|e| format!("gcloud user credentials: {}", crate::error::chain(&e)))?;
    let expires_at = u64::try_from(token.expires_at().timestamp())
        .map(|secs| UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH);
    Ok(AccessToken {
        token: Secret::new(token.as_str().to_string()),
        expires_at,
    })
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
