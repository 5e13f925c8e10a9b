//! The few Vault HTTP API calls this backend makes, on [`crate::http`]'s stack.
//!
//! Login (`auth/<mount>/login` of the JWT, Kubernetes and AppRole methods), token look-up,
//! a logical read and `auth/token/revoke-self`: each one JSON request. A maintained Rust Vault
//! client would bring its own HTTP stack (and trust store, retries and timeouts), which the
//! binary has in one place only; the wire format is small and stable (the same on Vault and
//! OpenBao), so it is written here. Reference: the Vault HTTP API documentation (`/v1/...`,
//! `X-Vault-Token`, `X-Vault-Namespace`, errors as `{"errors": [...]}`).
//!
//! Every call goes through [`http::send_unless`]: throttling and 5xx are retried within the
//! run's deadline, except a sealed Vault (503 "... is sealed"), which will not unseal within
//! one run. Messages carry statuses and Vault's own error text with every secret sent in the
//! request redacted, never a token, a secret id or a secret's data.
// The network half: used by the fetch, which builds without the `vault` feature do not have.
#![cfg_attr(not(feature = "vault"), allow(dead_code))]

use std::time::Duration;

use serde_json::Value;

use crate::deadline::Deadline;
use crate::http::{self, Patience, Reply};
use crate::secret::Secret;

/// Header carrying the client token.
pub const TOKEN_HEADER: &str = "X-Vault-Token";
/// Header selecting a namespace (Vault Enterprise, OpenBao).
pub const NAMESPACE_HEADER: &str = "X-Vault-Namespace";
/// Header Vault Agent and Proxy demand from clients (against request forgery from browsers);
/// Vault's own CLI sends it on every request.
pub const REQUEST_HEADER: &str = "X-Vault-Request";
/// Longest error text shown from a Vault answer.
const MAX_ERROR_CHARS: usize = 300;

/// One Vault server, as this run talks to it.
#[derive(Debug, Clone)]
pub struct Vault {
    base: reqwest::Url,
    namespace: Option<String>,
    http: reqwest::Client,
    deadline: Deadline,
}

/// A token and what Vault said about it.
#[derive(Debug)]
pub struct Login {
    /// The client token.
    pub token: Secret<String>,
    /// Its remaining time to live; zero for a token that never expires (a root token).
    pub ttl: Duration,
    /// Its policies, for messages (`check` shows them).
    pub policies: Vec<String>,
}

/// A logical read's answer.
#[derive(Debug)]
pub struct Read {
    /// The `data` object: the secret (for KV version 2, `data.data` is unwrapped already).
    pub data: Secret<serde_json::Map<String, Value>>,
    /// The lease, when the engine issued one (dynamic secrets); empty for KV.
    pub lease_id: String,
    /// The lease's (or, for KV version 1, the suggested refresh) duration; zero when none.
    pub lease_duration: Duration,
    /// Whether the lease can be renewed.
    pub renewable: bool,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The HTTP status, when Vault answered.
    pub status: Option<u16>,
    /// One line: what failed and Vault's reason, without secrets.
    pub message: String,
}

impl Vault {
    /// A server at `address` (`https://host:8200`, possibly with a path prefix), in
    /// `namespace`, reached with `http` within `deadline`.
    pub fn new(
        address: &str,
        namespace: Option<String>,
        http: reqwest::Client,
        deadline: Deadline,
    ) -> Result<Vault, String> {
        super::config::check_address(address)?;
        let base = reqwest::Url::parse(address)
            .map_err(|e| format!("Vault address {address:?} is not a URL: {e}"))?;
        Ok(Vault {
            base,
            namespace: namespace.filter(|n| !n.is_empty()),
            http,
            deadline,
        })
    }

    /// The URL of API path `path` (`auth/jwt/login`): `<address>/v1/<path>`, each segment
    /// percent-encoded, so no configured or annotated name can change the path's shape.
    /// Whether calls go over TLS (a client certificate can be presented).
    pub fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    pub fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("v1");
            segments.extend(path.split('/'));
        }
        url
    }

    /// Logs in at `auth/<mount>/login` with `body` (which holds the credential: a JWT, a secret
    /// id), whose secrets are listed in `sent` for redaction.
    pub async fn login(
        &self,
        mount: &str,
        body: &Value,
        sent: &[&Secret<String>],
    ) -> Result<Login, CallError> {
        let path = format!("auth/{mount}/login");
        let value = self
            .call(reqwest::Method::POST, &path, None, Some(body), sent)
            .await?;
        parse_login(&value).map_err(|m| CallError {
            status: None,
            message: format!("POST {path}: {m}"),
        })
    }

    /// What Vault knows of `token` (`auth/token/lookup-self`): its TTL and policies.
    pub async fn lookup_self(&self, token: &Secret<String>) -> Result<Login, CallError> {
        let path = "auth/token/lookup-self";
        let value = self
            .call(reqwest::Method::GET, path, Some(token), None, &[token])
            .await?;
        parse_lookup(&value, token).map_err(|m| CallError {
            status: None,
            message: format!("GET {path}: {m}"),
        })
    }

    /// Reads API path `path` with `token`. `kv2`: the answer is a KV version 2 secret, whose
    /// fields are under `data.data`.
    pub async fn read(
        &self,
        token: &Secret<String>,
        path: &str,
        kv2: bool,
    ) -> Result<Read, CallError> {
        let value = self
            .call(reqwest::Method::GET, path, Some(token), None, &[token])
            .await?;
        parse_read(value, kv2).map_err(|m| CallError {
            status: None,
            message: format!("GET {path}: {m}"),
        })
    }

    /// Revokes `token` (`auth/token/revoke-self`), with every lease it created.
    pub async fn revoke_self(&self, token: &Secret<String>) -> Result<(), CallError> {
        self.call(
            reqwest::Method::POST,
            "auth/token/revoke-self",
            Some(token),
            None,
            &[token],
        )
        .await
        .map(drop)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&Secret<String>>,
        body: Option<&Value>,
        sent: &[&Secret<String>],
    ) -> Result<Value, CallError> {
        let url = self.url(path);
        let what = format!("{method} {path}");
        let make = || {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(REQUEST_HEADER, "true");
            if let Some(namespace) = &self.namespace {
                request = request.header(NAMESPACE_HEADER, namespace);
            }
            if let Some(token) = token {
                request = request.header(TOKEN_HEADER, token.expose());
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            request
        };
        let reply = http::send_unless(self.deadline, Patience::API, is_sealed, make)
            .await
            .map_err(|e| CallError {
                status: None,
                message: format!("{what} at {}: {e}", self.base),
            })?;
        if is_sealed(&reply) {
            return Err(CallError {
                status: Some(reply.status),
                message: format!(
                    "Vault at {} is sealed (HTTP {}); an operator has to unseal it",
                    self.base, reply.status
                ),
            });
        }
        if !reply.ok() {
            return Err(CallError {
                status: Some(reply.status),
                message: format!(
                    "{what}: HTTP {}{}",
                    reply.status,
                    error_detail(&reply.body, sent)
                ),
            });
        }
        if reply.status == 204 || reply.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&reply.body).map_err(|_| CallError {
            status: Some(reply.status),
            message: format!("{what}: the answer is not JSON"),
        })
    }
}

/// A 503 whose errors say the server is sealed.
fn is_sealed(reply: &Reply) -> bool {
    reply.status == 503 && errors(&reply.body).iter().any(|e| e.contains("sealed"))
}

/// Vault's `errors` strings of an error body; empty for anything else.
fn errors(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .and_then(|e| match e {
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// ` (<Vault's errors>)`, one line, at most [`MAX_ERROR_CHARS`], every secret of `sent`
/// redacted first (an auth method may quote what it was given); empty when the body has none.
pub fn error_detail(body: &[u8], sent: &[&Secret<String>]) -> String {
    let errors = errors(body);
    if errors.is_empty() {
        return String::new();
    }
    let text = sent
        .iter()
        .fold(errors.join("; "), |text, secret| secret.redact_from(&text));
    // Vault lists several errors as "1 error occurred:\n\t* ...\n\n": one line, single spaces.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(" ({})", http::one_line(&text, MAX_ERROR_CHARS))
}

fn seconds(value: Option<&Value>) -> Duration {
    Duration::from_secs(value.and_then(Value::as_u64).unwrap_or(0))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A login answer: `{"auth": {"client_token": ..., "lease_duration": ..., "policies": ...}}`.
pub fn parse_login(value: &Value) -> Result<Login, String> {
    let auth = value
        .get("auth")
        .filter(|a| a.is_object())
        .ok_or("the answer has no \"auth\" object")?;
    let token = auth
        .get("client_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no \"auth.client_token\"")?;
    Ok(Login {
        token: Secret::new(token.to_string()),
        ttl: seconds(auth.get("lease_duration")),
        policies: strings(auth.get("policies")),
    })
}

/// A `lookup-self` answer: `{"data": {"ttl": ..., "policies": ...}}`, for `token`.
pub fn parse_lookup(value: &Value, token: &Secret<String>) -> Result<Login, String> {
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("the answer has no \"data\" object")?;
    Ok(Login {
        token: token.clone(),
        ttl: seconds(data.get("ttl")),
        policies: strings(data.get("policies")),
    })
}

/// A read answer: `{"lease_id", "lease_duration", "renewable", "data"}`; for KV version 2 the
/// secret's fields are `data.data`, and `data.data` is `null` for a deleted version.
pub fn parse_read(value: Value, kv2: bool) -> Result<Read, String> {
    let Value::Object(mut top) = value else {
        return Err("the answer is not a JSON object".into());
    };
    let lease_id = top
        .get("lease_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let lease_duration = seconds(top.get("lease_duration"));
    let renewable = top
        .get("renewable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let data = match top.remove("data") {
        Some(Value::Object(data)) => data,
        _ => return Err("the answer has no \"data\" object".into()),
    };
    let data = if kv2 {
        match data.get("data") {
            Some(Value::Object(fields)) => fields.clone(),
            Some(Value::Null) => {
                return Err("the secret's current version is deleted or destroyed".into())
            }
            _ => {
                return Err(
                    "the answer has no \"data.data\" object (is the mount KV version 2?)".into(),
                )
            }
        }
    } else {
        data
    };
    Ok(Read {
        data: Secret::new(data),
        lease_id,
        lease_duration,
        renewable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vault(address: &str, namespace: Option<&str>) -> Vault {
        Vault::new(
            address,
            namespace.map(str::to_string),
            http::plain_client().unwrap(),
            Deadline::after(Duration::from_secs(1)),
        )
        .unwrap()
    }

    #[test]
    fn api_paths_are_built_under_v1_one_encoded_segment_each() {
        let v = vault("https://bao.example:8200", None);
        assert_eq!(
            v.url("auth/jwt/login").as_str(),
            "https://bao.example:8200/v1/auth/jwt/login"
        );
        let v = vault("https://proxy.example/vault/", Some("team-a"));
        assert_eq!(
            v.url("kv/team a/data/x").as_str(),
            "https://proxy.example/vault/v1/kv/team%20a/data/x"
        );
        assert_eq!(v.namespace.as_deref(), Some("team-a"));
        assert_eq!(vault("http://127.0.0.1:8200", Some("")).namespace, None);
    }

    #[test]
    fn login_answers_give_token_ttl_and_policies() {
        let login = parse_login(&json!({
            "auth": {"client_token": "s.abc", "lease_duration": 3600, "renewable": true,
                     "policies": ["default", "pull"]}
        }))
        .unwrap();
        assert_eq!(login.token.expose(), "s.abc");
        assert_eq!(login.ttl, Duration::from_secs(3600));
        assert_eq!(login.policies, ["default", "pull"]);
        for bad in [
            json!({}),
            json!({"auth": null}),
            json!({"auth": {"client_token": ""}}),
        ] {
            assert!(parse_login(&bad).is_err(), "{bad}");
        }
        let token = Secret::new("t".to_string());
        let looked =
            parse_lookup(&json!({"data": {"ttl": 0, "policies": ["root"]}}), &token).unwrap();
        assert_eq!(looked.ttl, Duration::ZERO);
        assert_eq!(looked.policies, ["root"]);
    }

    #[test]
    fn kv2_fields_are_unwrapped_and_leases_read() {
        let read = parse_read(
            json!({"lease_id": "", "lease_duration": 0, "renewable": false,
                   "data": {"data": {"username": "u", "password": "p"},
                            "metadata": {"version": 3}}}),
            true,
        )
        .unwrap();
        assert_eq!(read.data.expose()["username"], "u");
        assert!(read.lease_id.is_empty());
        let read = parse_read(
            json!({"lease_id": "rabbitmq/creds/pull/abc", "lease_duration": 600,
                   "renewable": true, "data": {"username": "u", "password": "p"}}),
            false,
        )
        .unwrap();
        assert_eq!(read.lease_id, "rabbitmq/creds/pull/abc");
        assert_eq!(read.lease_duration, Duration::from_secs(600));
        assert!(read.renewable);
        assert_eq!(
            parse_read(json!({"data": {"data": null}}), true).unwrap_err(),
            "the secret's current version is deleted or destroyed"
        );
        assert!(parse_read(json!({"data": {"username": "u"}}), true)
            .unwrap_err()
            .contains("KV version 2"));
        assert!(parse_read(json!([]), false).is_err());
    }

    #[test]
    fn error_bodies_become_one_redacted_line() {
        let jwt = Secret::new("eyJhbGciOi.payload.signature".to_string());
        let body = json!({"errors": [
            "error validating token: bad signature",
            format!("token was\n{}", jwt.expose())
        ]});
        assert_eq!(
            error_detail(body.to_string().as_bytes(), &[&jwt]),
            " (error validating token: bad signature; token was REDACTED)"
        );
        assert_eq!(error_detail(b"<html>oops</html>", &[]), "");
        assert_eq!(error_detail(br#"{"errors": []}"#, &[]), "");
        let long = json!({"errors": ["x".repeat(1000)]}).to_string();
        assert_eq!(
            error_detail(long.as_bytes(), &[]).len(),
            MAX_ERROR_CHARS + 3
        );
    }

    #[test]
    fn only_a_sealed_503_is_final() {
        let reply = |status, body: &str| Reply {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        assert!(is_sealed(&reply(503, r#"{"errors":["Vault is sealed"]}"#)));
        assert!(!is_sealed(&reply(503, r#"{"errors":["upstream busy"]}"#)));
        assert!(!is_sealed(&reply(500, r#"{"errors":["Vault is sealed"]}"#)));
    }
}
