//! The GCE/GKE metadata server: the node's access token, its service-account email and the
//! instance attributes of the dockercfg flows.
//!
//! Plain HTTP to `metadata.google.internal` (or `GCE_METADATA_HOST`, which Google's own client
//! libraries honour, so a node agent or a test can move it) with `Metadata-Flavor: Google`.
//! A server that does not answer is given up after [`CALL_BUDGET`]: the reference plugin retried
//! the metadata server forever (kubernetes#86245); off GCE that stalls every pull, so here an
//! absent server is a quick, named error instead (and the gcloud ADC fallback gets its turn).
//! A server that answers 429 or 5xx is there and loaded (GKE's metadata server throttles per
//! node under bursts of pulls), so those are retried under [`crate::retry`]'s policy until the
//! run's deadline, like every other endpoint.

// Called by the network half (src/backend/gcr/fetch.rs); a build without the `gcp` feature compiles
// the module for what `describe`, routing and the unit tests use of it, and nothing calls the rest.
#![cfg_attr(not(feature = "gcp"), allow(dead_code))]

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::deadline::Deadline;
use crate::http::{self, SendError};
use crate::secret::Secret;

/// The metadata server's host name on GCE and GKE.
pub const DEFAULT_HOST: &str = "metadata.google.internal";
/// Environment variable that replaces [`DEFAULT_HOST`] (`host` or `host:port`), as in Google's
/// client libraries.
pub const HOST_ENV: &str = "GCE_METADATA_HOST";
/// Longest one metadata attempt may take, and how long a call keeps trying a server that has
/// not answered at all. The server answers in milliseconds on a healthy node and in a few
/// seconds under load (docker-credential-gcr#75); longer means it is not there, and the pull
/// should not wait for it.
pub const CALL_BUDGET: Duration = Duration::from_secs(6);
/// Path of the default service account's access token.
pub const TOKEN_PATH: &str = "instance/service-accounts/default/token";
/// Path of the default service account's email.
pub const EMAIL_PATH: &str = "instance/service-accounts/default/email";

/// An OAuth access token and when it expires.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret<String>,
    /// Its expiry as the issuer stated it.
    pub expires_at: SystemTime,
}

/// Why a metadata call failed; [`MetadataError::Unreachable`] is the "not on GCE" case that
/// lets the caller try its next identity source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// No connection could be made (DNS, refused, network unreachable).
    Unreachable(String),
    /// Connected, but no complete answer within the budget.
    Slow(String),
    /// The server answered with an unexpected status.
    Status(u16),
    /// Something answered that is not a metadata server (no `Metadata-Flavor: Google`).
    NotMetadata,
    /// The answer could not be understood.
    Malformed(String),
}

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataError::Unreachable(cause) => write!(f, "unreachable ({cause})"),
            MetadataError::Slow(cause) => write!(f, "too slow ({cause})"),
            MetadataError::Status(404) => f.write_str("HTTP 404 (not set on this instance)"),
            MetadataError::Status(status) => write!(f, "HTTP {status}"),
            MetadataError::NotMetadata => f.write_str(
                "the answer lacks the Metadata-Flavor: Google header, so it is not a GCE \
                 metadata server",
            ),
            MetadataError::Malformed(what) => f.write_str(what),
        }
    }
}

/// The metadata host from the environment: `GCE_METADATA_HOST` when set, else
/// [`DEFAULT_HOST`]. A value with a scheme or path is refused rather than guessed at.
pub fn host_from_env() -> Result<String, String> {
    match std::env::var(HOST_ENV) {
        Ok(value) if !value.trim().is_empty() => check_host(value.trim()),
        _ => Ok(DEFAULT_HOST.to_string()),
    }
}

fn check_host(host: &str) -> Result<String, String> {
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'));
    if ok {
        Ok(host.to_string())
    } else {
        Err(format!(
            "{HOST_ENV}={host:?} is not a host or host:port (no scheme, no path)"
        ))
    }
}

/// A client for one metadata server.
pub struct Metadata {
    host: String,
    client: reqwest::Client,
}

impl Metadata {
    /// A client for `host` (`host[:port]`). Builds the plain-HTTP client, which skips loading
    /// the trust store.
    pub fn new(host: String) -> crate::error::Result<Metadata> {
        Ok(Metadata {
            host,
            client: http::plain_client()?,
        })
    }

    /// The host, for messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /computeMetadata/v1/<path>` as text.
    pub async fn get(&self, deadline: Deadline, path: &str) -> Result<String, MetadataError> {
        let url = format!("http://{}/computeMetadata/v1/{path}", self.host);
        let patience = http::Patience {
            attempt: CALL_BUDGET,
            silent: Some(CALL_BUDGET),
        };
        let reply = http::send_with(deadline, patience, || {
            self.client.get(&url).header("Metadata-Flavor", "Google")
        })
        .await
        .map_err(|e| match e {
            SendError::Unreachable { .. } => MetadataError::Unreachable(e.to_string()),
            SendError::Deadline { .. } => MetadataError::Slow(format!(
                "{e}; a silent server is given {}s",
                budget_secs(deadline)
            )),
        })?;
        if !reply.ok() {
            return Err(MetadataError::Status(reply.status));
        }
        if reply.header("metadata-flavor") != Some("Google") {
            return Err(MetadataError::NotMetadata);
        }
        String::from_utf8(reply.body)
            .map_err(|_| MetadataError::Malformed("the answer is not UTF-8 text".into()))
    }

    /// The default service account's access token.
    pub async fn token(&self, deadline: Deadline) -> Result<AccessToken, MetadataError> {
        let asked_at = SystemTime::now();
        let body = self.get(deadline, TOKEN_PATH).await?;
        parse_token_response(&body, asked_at).map_err(MetadataError::Malformed)
    }

    /// The default service account's email.
    pub async fn email(&self, deadline: Deadline) -> Result<String, MetadataError> {
        let text = self.get(deadline, EMAIL_PATH).await?;
        let email = text.trim();
        if email.is_empty() || email.contains(char::is_whitespace) {
            return Err(MetadataError::Malformed(
                "the service-account email is empty or not one word".into(),
            ));
        }
        Ok(email.to_string())
    }
}

fn budget_secs(deadline: Deadline) -> u64 {
    deadline.step(CALL_BUDGET).as_secs().max(1)
}

/// Parses an OAuth token response (`{"access_token": ..., "expires_in": N, ...}`), the shape
/// of the metadata server, Google's OAuth endpoint and STS alike. The expiry counts from
/// `asked_at` (when the request was sent), which errs on the short side. Messages never quote
/// the body: it holds the token.
pub fn parse_token_response(body: &str, asked_at: SystemTime) -> Result<AccessToken, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| "the token answer is not JSON".to_string())?;
    let token = match value.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err("the token answer has no \"access_token\"".into()),
    };
    let expires_in = value
        .get("expires_in")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| "the token answer has no numeric \"expires_in\"".to_string())?;
    Ok(AccessToken {
        token: Secret::new(token),
        expires_at: asked_at + Duration::from_secs(expires_in),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_parse_and_never_echo_the_body() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let t = parse_token_response(
            r#"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"}"#,
            t0,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "ya29.abc");
        assert_eq!(t.expires_at, t0 + Duration::from_secs(3599));
        // STS sends expires_in as a number too; some proxies stringify it.
        let t = parse_token_response(r#"{"access_token":"x","expires_in":"60"}"#, t0).unwrap();
        assert_eq!(t.expires_at, t0 + Duration::from_secs(60));
        let e = parse_token_response(r#"{"access_token":"secret-value"}"#, t0).unwrap_err();
        assert!(
            e.contains("expires_in") && !e.contains("secret-value"),
            "{e}"
        );
        let e = parse_token_response("secret-value", t0).unwrap_err();
        assert!(!e.contains("secret-value"), "{e}");
        assert!(parse_token_response(r#"{"access_token":"","expires_in":1}"#, t0).is_err());
    }

    #[test]
    fn metadata_host_accepts_host_and_port_only() {
        assert_eq!(check_host("127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(
            check_host("metadata.google.internal").unwrap(),
            DEFAULT_HOST
        );
        assert!(check_host("http://169.254.169.254").is_err());
        assert!(check_host("host/path").is_err());
    }
}
