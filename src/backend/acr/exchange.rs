//! The ACR half of the flow: challenge, realm check, Entra token → ACR refresh token.
//!
//! No Azure crate does this step. It is ACR's documented AAD-OAuth protocol:
//! 1. `GET https://<registry>/v2/` must answer `401` with a Bearer challenge; its realm names
//!    the token server (the login server itself, or a replica of it);
//! 2. `POST https://<realm host>/oauth2/exchange` with the form `grant_type=access_token`,
//!    `service`, `tenant`, `access_token` answers `{"refresh_token": "<JWT>"}`;
//! 3. that refresh token is the registry password for user `00000000-0000-0000-0000-000000000000`,
//!    valid until the JWT's `exp`.
//!
//! The realm comes from the network, so it is checked before the Entra token is sent there: it
//! must be https, on the default port, and either the registry host itself or an ACR login server
//! of the same cloud. A challenge pointing anywhere else (a TLS-inspecting proxy, a hijacked DNS
//! entry with a valid certificate) gets an error, never the token.

// Called by the network half (src/backend/acr/fetch.rs); a build without the `azure` feature
// compiles the module for what `describe`, routing and the unit tests use of it, and nothing calls
// the rest.
#![cfg_attr(not(feature = "azure"), allow(dead_code))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

use super::challenge;
use crate::deadline::Deadline;
use crate::hosts::{self, CloudRegistry};
use crate::http;
use crate::lifetime::{Lifetime, ACR_UNREADABLE_EXPIRY_CACHE};
use crate::secret::Secret;

/// The user name ACR expects with a refresh token.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// The ACR token server a challenge pointed to, after the realm check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenServer {
    /// `https://<realm host>`.
    pub base: String,
    /// The `service` to exchange for.
    pub service: String,
}

/// `GET https://<registry>/v2/` and the checked token server from its challenge.
///
/// `custom_suffix` is a custom cloud's registry suffix, whose hosts the realm may also name.
pub async fn discover(
    client: &reqwest::Client,
    registry: &str,
    custom_suffix: Option<&str>,
    deadline: Deadline,
) -> Result<TokenServer, String> {
    let url = format!("https://{registry}/v2/");
    let reply = http::send(deadline, || client.get(&url))
        .await
        .map_err(|e| {
            format!(
                "GET {url}: {e} (if the registry has a private endpoint, check that its name \
                 resolves to the private address on this node)"
            )
        })?;
    let bearer = challenge::bearer(
        reply
            .headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let bearer = match (reply.status, bearer) {
        (401, Some(b)) => b,
        (status, _) => {
            return Err(format!(
                "GET {url} answered HTTP {status} without a Bearer challenge; an ACR login server \
                 answers 401 with `WWW-Authenticate: Bearer realm=…` (is the name resolving to \
                 something other than the registry, e.g. a private endpoint's DNS not set up?)"
            ))
        }
    };
    let base = check_realm(&bearer.realm, registry, custom_suffix)?;
    Ok(TokenServer {
        base,
        service: bearer.service.unwrap_or_else(|| registry.to_string()),
    })
}

/// `https://<host>` of the realm when it is allowed to receive the registry's Entra token.
pub fn check_realm(
    realm: &str,
    registry: &str,
    custom_suffix: Option<&str>,
) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "the registry's challenge names realm {realm:?}, which {why}; refusing to send it a token"
        ))
    };
    let Ok(url) = reqwest::Url::parse(realm) else {
        return refuse("is not a URL");
    };
    if url.scheme() != "https" {
        return refuse("is not https");
    }
    if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
        return refuse("carries a port or user info");
    }
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return refuse("has no host");
    };
    let registry = registry.to_ascii_lowercase();
    let same_cloud = || -> bool {
        if let Some(suffix) = custom_suffix {
            if let Some(label) = host.strip_suffix(suffix).and_then(|r| r.strip_suffix('.')) {
                if !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return true;
                }
            }
        }
        match (hosts::classify(&host), hosts::classify(&registry)) {
            (Some(CloudRegistry::Acr(realm)), Some(CloudRegistry::Acr(reg))) => {
                realm.cloud == reg.cloud
            }
            _ => false,
        }
    };
    if host == registry || same_cloud() {
        Ok(format!("https://{host}"))
    } else {
        refuse("is neither the registry nor an ACR login server of its cloud")
    }
}

/// The outcome of the exchange.
#[derive(Debug)]
pub struct Exchanged {
    /// The ACR refresh token: the registry password.
    pub refresh_token: Secret<String>,
    /// Its lifetime from the JWT's `exp`.
    pub lifetime: Lifetime,
}

/// Why the exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ExchangeError {
    /// ACR refused the Entra token (401/403): the identity lacks access, or the tenant is wrong.
    Refused {
        /// 401 or 403.
        status: u16,
        /// ACR's own error text, if any (never a token).
        detail: String,
    },
    /// Anything else: unreachable, other statuses, an unreadable answer.
    Failed(String),
}

/// `POST <server>/oauth2/exchange`.
pub async fn exchange(
    client: &reqwest::Client,
    server: &TokenServer,
    tenant: Option<&str>,
    access_token: &Secret<String>,
    deadline: Deadline,
) -> Result<Exchanged, ExchangeError> {
    let url = format!("{}/oauth2/exchange", server.base);
    let mut form: Vec<(&str, &str)> =
        vec![("grant_type", "access_token"), ("service", &server.service)];
    if let Some(t) = tenant {
        form.push(("tenant", t));
    }
    form.push(("access_token", access_token.expose()));
    let reply = http::send(deadline, || client.post(&url).form(&form))
        .await
        .map_err(|e| ExchangeError::Failed(format!("POST {url}: {e}")))?;
    let body: Option<Value> = serde_json::from_slice(&reply.body).ok();
    if reply.status == 401 || reply.status == 403 {
        return Err(ExchangeError::Refused {
            status: reply.status,
            detail: body
                .as_ref()
                .map(|b| error_detail(b, access_token))
                .unwrap_or_default(),
        });
    }
    if !reply.ok() {
        return Err(ExchangeError::Failed(format!(
            "POST {url} answered HTTP {}",
            reply.status
        )));
    }
    let token = body
        .as_ref()
        .and_then(|b| b.get("refresh_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ExchangeError::Failed(format!("POST {url} answered without a refresh_token"))
        })?;
    let lifetime = match jwt_expiry(token) {
        Some(at) => Lifetime::ExpiresAt(at),
        None => Lifetime::CacheFor(ACR_UNREADABLE_EXPIRY_CACHE),
    };
    Ok(Exchanged {
        refresh_token: Secret::new(token.to_string()),
        lifetime,
    })
}

/// ACR's error text: `{"errors":[{"code","message"}]}` (registry style) or
/// `{"error","error_description"}` (OAuth style), one line, at most 200 characters, with the
/// token that was sent taken out first: cut before that, a token echoed across the 200th
/// character would survive in part.
fn error_detail(body: &Value, sent: &Secret<String>) -> String {
    let text = if let Some(first) = body.get("errors").and_then(|e| e.get(0)) {
        [first.get("code"), first.get("message")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(": ")
    } else {
        http::oauth_error(body)
    };
    http::one_line(&sent.redact_from(&text), 200)
}

/// A JWT's payload claims, or None when it is not a JWT (three dot-separated parts, the
/// middle one base64url JSON). The signature is not checked: the token is only passed on to
/// the registry that issued it, and read here for its expiry and tenant.
pub fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The `exp` claim (seconds since the epoch, integer or fractional) as a time.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let exp = jwt_claims(token)?.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp <= 0.0 || exp > 1e11 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(exp as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            e.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            e.encode(payload),
            e.encode("signature")
        )
    }

    #[test]
    fn expiry_from_exp_claim() {
        let t = jwt(r#"{"jti":"x","exp":1795738835,"iat":1795728035}"#);
        assert_eq!(
            jwt_expiry(&t),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_738_835))
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1795738835.9}"#)),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_738_835))
        );
        // Padded base64 is tolerated.
        let padded = {
            let e = base64::engine::general_purpose::URL_SAFE;
            format!("a.{}.c", e.encode(r#"{"exp":10}"#))
        };
        assert_eq!(
            jwt_expiry(&padded),
            Some(UNIX_EPOCH + Duration::from_secs(10))
        );
    }

    #[test]
    fn bad_tokens_have_no_expiry() {
        for t in [
            String::new(),
            "opaque-token".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.!!!.c".into(),
            jwt("not json"),
            jwt("[1,2]"),
            jwt(r#"{"iat":1}"#),
            jwt(r#"{"exp":"1795738835"}"#),
            jwt(r#"{"exp":-5}"#),
            jwt(r#"{"exp":1e300}"#),
        ] {
            assert_eq!(jwt_expiry(&t), None, "{t}");
        }
    }

    #[test]
    fn realm_on_the_registry_or_an_acr_host_of_its_cloud() {
        assert_eq!(
            check_realm(
                "https://myacr.azurecr.io/oauth2/token",
                "myacr.azurecr.io",
                None
            ),
            Ok("https://myacr.azurecr.io".into())
        );
        assert_eq!(
            check_realm(
                "https://MyAcr.AzureCR.io/oauth2/token",
                "myacr.azurecr.io",
                None
            ),
            Ok("https://myacr.azurecr.io".into())
        );
        assert_eq!(
            check_realm(
                "https://myacr.eastus.geo.azurecr.io/oauth2/token",
                "myacr.azurecr.io",
                None
            ),
            Ok("https://myacr.eastus.geo.azurecr.io".into())
        );
        assert_eq!(
            check_realm(
                "https://myacr.azurecr.contoso.local/oauth2/token",
                "myacr.azurecr.contoso.local",
                Some("azurecr.contoso.local")
            ),
            Ok("https://myacr.azurecr.contoso.local".into())
        );
    }

    #[test]
    fn foreign_realms_are_refused() {
        for realm in [
            "https://evil.example/oauth2/token",
            "http://myacr.azurecr.io/oauth2/token",
            "https://myacr.azurecr.io:8443/oauth2/token",
            "https://user@myacr.azurecr.io/oauth2/token",
            "https://myacr.azurecr.io.evil.example/oauth2/token",
            "https://other.azurecr.cn/oauth2/token",
            "https://myacr.eastus.data.azurecr.io/oauth2/token",
            "not a url",
            "/oauth2/token",
        ] {
            let r = check_realm(realm, "myacr.azurecr.io", None);
            assert!(r.is_err(), "{realm} accepted: {r:?}");
        }
        assert!(check_realm(
            "https://a.b.azurecr.contoso.local/t",
            "myacr.azurecr.contoso.local",
            Some("azurecr.contoso.local")
        )
        .is_err());
    }

    #[test]
    fn error_details_are_one_line_and_scrubbed() {
        let secret = Secret::new("SECRET".to_string());
        let body: Value = serde_json::from_str(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad\ntoken SECRET"}]}"#,
        )
        .unwrap();
        assert_eq!(
            error_detail(&body, &secret),
            "UNAUTHORIZED: bad token REDACTED"
        );
        let body: Value =
            serde_json::from_str(r#"{"error":"invalid_grant","error_description":"nope"}"#)
                .unwrap();
        assert_eq!(error_detail(&body, &secret), "invalid_grant: nope");
    }

    #[test]
    fn a_token_echoed_across_the_length_limit_is_not_shown_in_part() {
        let token = format!("eyJ{}", "x".repeat(60));
        let body = serde_json::json!({
            "error": "invalid_grant",
            "error_description": format!("{} {token}", "a".repeat(170)),
        });
        let detail = error_detail(&body, &Secret::new(token));
        assert!(!detail.contains("eyJ"), "{detail}");
        assert!(detail.ends_with("REDACTED"), "{detail}");
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::test_runner::Config;
        use serde_json::json;

        use super::super::error_detail;
        use crate::secret::Secret;

        proptest! {
            #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

            /// Whatever ACR answers around an echoed token, the detail is one short line with no
            /// 8-character piece of it.
            #[test]
            fn a_refusal_never_shows_a_piece_of_the_token(
                before in ".{0,260}",
                token in "[A-Za-z0-9._-]{20,80}",
                after in ".{0,40}",
                registry_style in any::<bool>(),
            ) {
                let text = format!("{before}{token}{after}");
                let body = if registry_style {
                    json!({"errors": [{"code": "UNAUTHORIZED", "message": text}]})
                } else {
                    json!({"error": "invalid_grant", "error_description": text})
                };
                let detail = error_detail(&body, &Secret::new(token.clone()));
                prop_assert!(!detail.contains(['\n', '\r']), "{:?}", detail);
                prop_assert!(detail.chars().count() <= 200);
                for piece in token.as_bytes().windows(8) {
                    let piece = std::str::from_utf8(piece).unwrap_or_default();
                    prop_assert!(!detail.contains(piece), "{:?} in {:?}", piece, detail);
                }
            }
        }
    }
}
