//! One fetch: choose the identity, log in, read, revoke, and say how long the answer lives.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::client::{CallError, Login, Vault};
use super::config::{NodeAuth, Source};
use super::fields::{extract, Extracted};
use super::plan::{choose, Identity, NO_FALLBACK};
use super::{VaultBackend, TOKEN_ENV};
use crate::backend::{BackendKind, Credentials, FetchContext};
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::lifetime::{key_type_for, Lifetime};
use crate::log;
use crate::secret::Secret;

/// A logged-in session.
struct Session {
    login: Login,
    /// Whether this run created the token (and so revokes it); a token from a file or
    /// `VAULT_TOKEN` belongs to someone else.
    ours: bool,
}

pub(super) fn fetch(backend: &VaultBackend, ctx: &FetchContext<'_>) -> Result<Credentials> {
    let registry = ctx.image.registry();
    let fail = |message: String| Error::backend(BackendKind::Vault.as_str(), registry, message);
    let target = &backend.target;
    let identity = choose(backend, ctx.request).map_err(fail)?;
    let address = backend.address().ok_or_else(|| {
        fail(format!(
            "no Vault address: set \"address\" in the host rule or {}",
            super::ADDR_ENV
        ))
    })?;
    let http = client_for(&address)?;
    let vault = Vault::new(&address, backend.namespace(), http, ctx.deadline).map_err(&fail)?;
    let who = identity.describe();
    log::info(1, || {
        format!(
            "vault: {address} as {who}, reading {}",
            target.source.api_path()
        )
    });
    let on_timeout = || {
        fail(format!(
            "no answer from Vault at {address} before the deadline (as {who})"
        ))
    };
    let fetched = crate::runtime::block_on(ctx.deadline, on_timeout, async {
        run(backend, &vault, &identity, ctx).await.map_err(fail)
    })?;
    Ok(fetched)
}

/// The HTTP client for `address`: plain HTTP (a local Vault Agent or Proxy listener) skips the
/// trust store; HTTPS trusts `VAULT_CACERT`/`VAULT_CAPATH` when set, else the system store, and
/// presents `VAULT_CLIENT_CERT` when set. Through `VAULT_PROXY_ADDR` when set, else the
/// environment's proxy variables.
fn client_for(address: &str) -> Result<reqwest::Client> {
    use crate::http::{ClientCert, Trust};
    let https = !address.starts_with("http://");
    let trust = if https {
        match super::trust_sources() {
            Some(sources) => Trust::Only(sources),
            None => Trust::System,
        }
    } else {
        Trust::PlainHttp
    };
    let client_cert = match super::client_cert_files().map_err(Error::Config)? {
        Some((cert, key)) if https => Some(
            ClientCert::from_pem_files(&cert, &key)
                .map_err(|why| Error::Config(format!("Vault client certificate: {why}")))?,
        ),
        _ => None,
    };
    let proxy = match super::proxy() {
        // The URL may hold a password: the error names the variable only.
        Some((name, url)) => Some(reqwest::Proxy::all(url).map_err(|_| {
            Error::Config(format!(
                "{name} is not a valid proxy URL (scheme://host:port)"
            ))
        })?),
        None => None,
    };
    crate::http::service_client(trust, client_cert, proxy)
}

async fn run(
    backend: &VaultBackend,
    vault: &Vault,
    identity: &Identity<'_>,
    ctx: &FetchContext<'_>,
) -> std::result::Result<Credentials, String> {
    let target = &backend.target;
    let who = identity.describe();
    let session = login(vault, identity).await.map_err(|e| {
        if identity.is_pod() {
            format!("{who}: login refused: {}; {NO_FALLBACK}", e.message)
        } else {
            format!("{who}: login failed: {}", e.message)
        }
    })?;
    let path = target.source.api_path();
    let kv2 = matches!(target.source, Source::Kv { .. });
    let now = SystemTime::now();
    let read = match vault.read(&session.login.token, &path, kv2).await {
        Ok(read) => read,
        Err(e) => {
            revoke(vault, &session).await;
            return Err(read_error(identity, &session, &path, &e));
        }
    };
    let leased = !read.lease_id.is_empty();
    let revoked = if leased {
        if session.ours {
            log::info(1, || {
                format!(
                    "vault: keeping the login token: the read issued lease {}, which Vault \
                     would revoke with it",
                    read.lease_id
                )
            });
        }
        false
    } else {
        revoke(vault, &session).await
    };
    let Extracted { auth, used } = extract(&read.data, &target.fields, ctx.image, &path)?;
    let ttl = session.login.ttl;
    let capped = |d: Duration| if ttl.is_zero() { d } else { d.min(ttl) };
    let (lifetime, lease) = if leased {
        let lease = format!(
            "lease {} for {}{}",
            read.lease_id,
            format_go_duration(read.lease_duration),
            if read.renewable { ", renewable" } else { "" }
        );
        let life = if read.lease_duration.is_zero() {
            Lifetime::Unknown
        } else {
            Lifetime::ExpiresAt(now + capped(read.lease_duration))
        };
        (life, lease)
    } else {
        // KV: the rule's cache time. Another engine's answer without a lease may still
        // suggest one (KV version 1's `ttl`): that, else --static-cache-duration.
        let keep = match &target.source {
            Source::Kv { .. } => backend.kv_cache(),
            Source::Read { .. } if !read.lease_duration.is_zero() => read.lease_duration,
            Source::Read { .. } => backend.static_cache,
        };
        (Lifetime::CacheFor(capped(keep)), "no lease".to_string())
    };
    let token_note = match (session.ours, leased, revoked) {
        (false, _, _) => "token not ours, kept",
        (true, true, _) => "login token kept for the lease",
        (true, false, true) => "login token revoked",
        (true, false, false) => "login token revocation failed",
    };
    let ttl_note = if ttl.is_zero() {
        "no TTL".to_string()
    } else {
        format!("TTL {}", format_go_duration(ttl))
    };
    let cache_key_type = key_type_for(auth.keys().map(String::as_str));
    Ok(Credentials {
        auth,
        cache_key_type,
        lifetime,
        identity: format!(
            "{who}, policies [{}] ({ttl_note}, {token_note}); read {path}: {used}; {lease}",
            session.login.policies.join(", ")
        ),
    })
}

/// The one-line error for a refused or failed read.
fn read_error(identity: &Identity<'_>, session: &Session, path: &str, e: &CallError) -> String {
    let who = identity.describe();
    let policies = session.login.policies.join(", ");
    if e.status == Some(403) {
        let fallback = if identity.is_pod() {
            format!("; {NO_FALLBACK}")
        } else {
            String::new()
        };
        format!(
            "{who} may not read {path} (policies [{policies}]): {}{fallback}",
            e.message
        )
    } else if e.status == Some(404) {
        format!("{who}: nothing at {path}: {}", e.message)
    } else {
        format!("{who}: reading {path} failed: {}", e.message)
    }
}

/// Logs in as `identity`.
async fn login(vault: &Vault, identity: &Identity<'_>) -> std::result::Result<Session, CallError> {
    let local = |what: String| CallError {
        status: None,
        message: what,
    };
    match identity {
        Identity::Pod {
            auth, role, token, ..
        } => {
            let body = json!({"role": role, "jwt": token.expose()});
            let login = vault.login(&auth.mount, &body, &[token]).await?;
            Ok(Session { login, ours: true })
        }
        Identity::Node(NodeAuth::AppRole {
            mount,
            role_id_file,
            secret_id_file,
        }) => {
            let role_id = read_secret_file(role_id_file, "role id").map_err(local)?;
            let mut body = json!({"role_id": role_id.expose()});
            let secret_id = match secret_id_file {
                Some(file) => Some(read_secret_file(file, "secret id").map_err(local)?),
                None => None,
            };
            if let Some(secret_id) = &secret_id {
                body["secret_id"] = Value::String(secret_id.expose().clone());
            }
            let mut sent = vec![&role_id];
            sent.extend(secret_id.as_ref());
            let login = vault.login(mount, &body, &sent).await?;
            Ok(Session { login, ours: true })
        }
        Identity::Node(NodeAuth::Kubernetes {
            mount,
            role,
            token_file,
        }) => {
            let jwt = read_secret_file(token_file, "service-account token").map_err(local)?;
            let body = json!({"role": role, "jwt": jwt.expose()});
            let login = vault.login(mount, &body, &[&jwt]).await?;
            Ok(Session { login, ours: true })
        }
        Identity::Node(NodeAuth::Cert { mount, name }) => {
            // The credential is the certificate of the TLS handshake (client_for).
            if !vault.is_https() {
                return Err(local(
                    "a cert login needs an https:// Vault address (the certificate travels in \
                     the TLS handshake)"
                        .to_string(),
                ));
            }
            if !matches!(super::client_cert_files(), Ok(Some(_))) {
                return Err(local(format!(
                    "a cert login needs the node's certificate in {} and its key in {}",
                    super::CLIENT_CERT_ENV,
                    super::CLIENT_KEY_ENV
                )));
            }
            let body = match name {
                Some(name) => json!({ "name": name }),
                None => json!({}),
            };
            let login = vault.login(mount, &body, &[]).await?;
            Ok(Session { login, ours: true })
        }
        Identity::Node(NodeAuth::Token { file }) => {
            let token = match file {
                Some(file) => read_secret_file(file, "Vault token").map_err(local)?,
                None => std::env::var(TOKEN_ENV)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .map(Secret::new)
                    .ok_or_else(|| local(format!("{TOKEN_ENV} is unset or empty")))?,
            };
            let login = vault.lookup_self(&token).await?;
            Ok(Session { login, ours: false })
        }
    }
}

/// Revokes the session's token if this run created it; true when it is gone.
async fn revoke(vault: &Vault, session: &Session) -> bool {
    if !session.ours {
        return false;
    }
    match vault.revoke_self(&session.login.token).await {
        Ok(()) => {
            log::info(2, || "vault: login token revoked".to_string());
            true
        }
        Err(e) => {
            log::warn(&format!(
                "vault: could not revoke the login token ({}); it expires with its TTL",
                e.message
            ));
            false
        }
    }
}

/// The one-line secret in the `what` file ([`crate::local_file::read_secret`]); errors name
/// the file, never its content.
fn read_secret_file(path: &Path, what: &str) -> std::result::Result<Secret<String>, String> {
    use crate::local_file::SecretFileError;
    crate::local_file::read_secret(path).map_err(|e| match e {
        SecretFileError::Unreadable(e) => {
            format!("cannot read the {what} file {}: {e}", path.display())
        }
        SecretFileError::Empty => format!("the {what} file {} is empty", path.display()),
    })
}
