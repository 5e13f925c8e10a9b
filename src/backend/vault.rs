//! The `vault` backend: registry credentials kept in HashiCorp Vault or OpenBao, read as the pod
//! that pulls (or as the node), chosen by a host rule of `--config`.
//!
//! Private registries outside the clouds (Harbor, Quay, Artifactory, GitLab, a self-hosted
//! registry) have no token service a node or pod identity can use. Their credentials usually sit
//! in Vault and reach pulls as `imagePullSecrets` synced into every namespace, or as a Docker
//! config copied onto every node. With `tokenAttributes`, kubelet hands the provider the pod's
//! service-account token, so this backend can read the credentials from Vault as that pod:
//!
//! 1. identity: with a token from kubelet and a `podAuth` block, a JWT login
//!    (`auth/<mount>/login`, the role from the rule or a service-account annotation); Vault
//!    validates the token against the cluster's issuer and binds the role to namespace, service
//!    account and audience. Without a token, the node's identity (`nodeAuth`: AppRole files, a
//!    token file such as a Vault Agent sink or `VAULT_TOKEN`, or Kubernetes auth). A pod whose
//!    login or read is refused gets an error naming role and path, never the node's credentials;
//! 2. the read: a KV version 2 secret (`<mount>/data/<path>`) or any logical path (a dynamic
//!    secrets engine's credentials, with a lease), turned into `auth` entries by [`fields`];
//! 3. the login token is revoked right after the read (`auth/token/revoke-self`), so pulls
//!    leave no live tokens. Except when the read issued a lease: Vault revokes a token's leases
//!    with the token, so revoking it would revoke the credentials just read; the token then
//!    lives out its TTL, and the credentials with it;
//! 4. how long kubelet keeps the answer: half the lease (like every token, [`crate::lifetime`]),
//!    or for KV the rule's `cacheDuration` (else `--static-cache-duration`); never beyond the
//!    login token's TTL, which bounds how long Vault meant this identity to hold access.
//!
//! Vault's own environment works as its users expect: `VAULT_ADDR`, `VAULT_NAMESPACE`,
//! `VAULT_CACERT`/`VAULT_CAPATH` (which replace the system trust store for Vault, as in Vault's
//! clients), `VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY` (a TLS client certificate, for listeners
//! that demand one and for the cert auth method), `VAULT_TOKEN`, and `VAULT_PROXY_ADDR` (or its
//! older name `VAULT_HTTP_PROXY`), which replaces the usual proxy variables for Vault, else
//! those. `VAULT_SKIP_VERIFY` is not honoured: a credential provider that trusts any
//! certificate would hand pod tokens to whoever answers.

pub mod client;
pub mod config;
#[cfg(feature = "vault")]
mod fetch;
pub mod fields;
mod plan;

use std::path::PathBuf;
use std::time::Duration;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::duration::format_go_duration;
use crate::error::Result;
pub use config::VaultTarget;
use config::{NodeAuth, Source};

/// The address unless the rule names one.
pub const ADDR_ENV: &str = "VAULT_ADDR";
/// The namespace unless the rule names one.
pub const NAMESPACE_ENV: &str = "VAULT_NAMESPACE";
/// The token of `nodeAuth: {token: {}}`.
pub const TOKEN_ENV: &str = "VAULT_TOKEN";
/// A CA bundle file trusted for Vault instead of the system store.
pub const CACERT_ENV: &str = "VAULT_CACERT";
/// A CA directory (or file) trusted for Vault instead of the system store, unless
/// [`CACERT_ENV`] is set.
pub const CAPATH_ENV: &str = "VAULT_CAPATH";

/// A PEM certificate (chain) Vault's TLS listener, and its cert auth method, get from this
/// client; with [`CLIENT_KEY_ENV`].
pub const CLIENT_CERT_ENV: &str = "VAULT_CLIENT_CERT";
/// The PEM private key of [`CLIENT_CERT_ENV`] (PKCS#8, PKCS#1 or SEC1).
pub const CLIENT_KEY_ENV: &str = "VAULT_CLIENT_KEY";

/// The proxy for every Vault call, instead of `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
pub const PROXY_ENV: &str = "VAULT_PROXY_ADDR";
/// [`PROXY_ENV`]'s older name, read when it is unset (as Vault's clients do).
pub const OLD_PROXY_ENV: &str = "VAULT_HTTP_PROXY";

/// The backend for one host rule.
#[derive(Debug, Clone)]
pub struct VaultBackend {
    /// The rule's `vault:` block.
    pub target: VaultTarget,
    /// `--static-cache-duration`: KV credentials' cache time when the rule names none.
    pub static_cache: Duration,
}

impl VaultBackend {
    /// The backend for `target`.
    pub fn new(target: VaultTarget, static_cache: Duration) -> VaultBackend {
        VaultBackend {
            target,
            static_cache,
        }
    }

    /// The Vault address: the rule's, else `VAULT_ADDR`.
    #[cfg_attr(not(feature = "vault"), allow(dead_code))] // read by the network half only
    pub fn address(&self) -> Option<String> {
        self.target.address.clone().or_else(|| env(ADDR_ENV))
    }

    /// The namespace: the rule's, else `VAULT_NAMESPACE`.
    pub fn namespace(&self) -> Option<String> {
        self.target.namespace.clone().or_else(|| env(NAMESPACE_ENV))
    }

    /// How long kubelet may keep KV credentials (before the login token's TTL caps it).
    pub fn kv_cache(&self) -> Duration {
        self.target.cache_duration.unwrap_or(self.static_cache)
    }
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The proxy Vault's calls take: `VAULT_PROXY_ADDR`, else `VAULT_HTTP_PROXY`, with the name
/// of the variable it came from; `None`: the environment's usual proxy variables apply.
pub fn proxy() -> Option<(&'static str, String)> {
    [PROXY_ENV, OLD_PROXY_ENV]
        .into_iter()
        .find_map(|name| env(name).map(|url| (name, url)))
}

/// The client certificate and key files: both variables set, or neither (`None`). One
/// without the other is an error, not a silent TLS handshake without a certificate.
pub fn client_cert_files() -> std::result::Result<Option<(PathBuf, PathBuf)>, String> {
    match (env(CLIENT_CERT_ENV), env(CLIENT_KEY_ENV)) {
        (Some(cert), Some(key)) => Ok(Some((PathBuf::from(cert), PathBuf::from(key)))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!(
            "{CLIENT_CERT_ENV} is set but {CLIENT_KEY_ENV} is not: a client certificate needs \
             its key"
        )),
        (None, Some(_)) => Err(format!(
            "{CLIENT_KEY_ENV} is set but {CLIENT_CERT_ENV} is not: a client key needs its \
             certificate"
        )),
    }
}

/// A proxy URL as `check` shows it: scheme, host and port, never a user or password in it.
fn shown_proxy(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let hidden = if u.username().is_empty() && u.password().is_none() {
                ""
            } else {
                " (with credentials, not shown)"
            };
            let port = u.port().map_or(String::new(), |p| format!(":{p}"));
            format!(
                "{}://{}{port}{hidden}",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        }
        Err(_) => "not a valid URL (not shown)".to_string(),
    }
}

/// Where Vault's CA certificates come from: `VAULT_CACERT`, else `VAULT_CAPATH`, else `None`
/// (the system store).
#[cfg_attr(not(feature = "vault"), allow(dead_code))] // read by the network half only
pub fn trust_sources() -> Option<crate::trust::Sources> {
    if let Some(file) = env(CACERT_ENV) {
        return Some(crate::trust::Sources {
            file: Some(PathBuf::from(file)),
            dirs: Vec::new(),
        });
    }
    let path = PathBuf::from(env(CAPATH_ENV)?);
    Some(if path.is_dir() {
        crate::trust::Sources {
            file: None,
            dirs: vec![path],
        }
    } else {
        crate::trust::Sources {
            file: Some(path),
            dirs: Vec::new(),
        }
    })
}

/// The node identity as `check` shows it (no secret: file names only).
fn describe_node(auth: &NodeAuth) -> String {
    match auth {
        NodeAuth::AppRole {
            mount,
            role_id_file,
            secret_id_file,
        } => format!(
            "approle login at auth/{mount}/login, role id from {}{}",
            role_id_file.display(),
            secret_id_file.as_ref().map_or(String::new(), |f| format!(
                ", secret id from {}",
                f.display()
            ))
        ),
        NodeAuth::Token { file: Some(file) } => format!(
            "the Vault token in {} (kept current by another program, e.g. a Vault Agent \
             sink; never revoked)",
            file.display()
        ),
        NodeAuth::Token { file: None } => {
            format!("the Vault token in {TOKEN_ENV} (never revoked)")
        }
        NodeAuth::Kubernetes {
            mount,
            role,
            token_file,
        } => format!(
            "kubernetes login at auth/{mount}/login, role {role:?}, service-account token from {}",
            token_file.display()
        ),
        NodeAuth::Cert { mount, name } => format!(
            "cert login at auth/{mount}/login{}, with the client certificate of \
             {CLIENT_CERT_ENV}",
            name.as_ref()
                .map_or(String::new(), |n| format!(", role {n:?}"))
        ),
    }
}

impl Backend for VaultBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Vault
    }

    fn describe(&self, ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let t = &self.target;
        let mut facts = vec![(
            "address",
            match (&t.address, env(ADDR_ENV)) {
                (Some(a), _) => a.clone(),
                (None, Some(a)) => format!("{a} (from {ADDR_ENV})"),
                (None, None) => format!("none: the rule has no address and {ADDR_ENV} is unset"),
            },
        )];
        if let Some(namespace) = self.namespace() {
            facts.push(("namespace", namespace));
        }
        facts.push((
            "trust",
            match (env(CACERT_ENV), env(CAPATH_ENV)) {
                (Some(f), _) => format!("{CACERT_ENV}={f} (instead of the system store)"),
                (None, Some(p)) => format!("{CAPATH_ENV}={p} (instead of the system store)"),
                (None, None) => "the system trust store".to_string(),
            },
        ));
        facts.push((
            "client certificate",
            match client_cert_files() {
                Ok(Some((cert, key))) => format!(
                    "{CLIENT_CERT_ENV}={}, key {CLIENT_KEY_ENV}={}",
                    cert.display(),
                    key.display()
                ),
                Ok(None) => "none".to_string(),
                Err(why) => format!("unusable: {why}"),
            },
        ));
        facts.push((
            "proxy",
            match proxy() {
                Some((name, url)) => format!(
                    "{name}={} (instead of HTTPS_PROXY/HTTP_PROXY/NO_PROXY)",
                    shown_proxy(&url)
                ),
                None => "HTTPS_PROXY/HTTP_PROXY/NO_PROXY, as for every call".to_string(),
            },
        ));
        // The identity fetch will use for this request (the same choice), then both configured.
        facts.push((
            "identity",
            match plan::choose(self, ctx.request) {
                Ok(identity) => identity.plan(),
                Err(why) => format!("none: {why}"),
            },
        ));
        facts.push((
            "pod identity",
            match &t.pod_auth {
                Some(pod) => {
                    let role = match (&pod.role_annotation, &pod.role) {
                        (Some(key), Some(role)) => {
                            format!("the role annotation {key:?}, else role {role:?}")
                        }
                        (Some(key), None) => format!("the role annotation {key:?}"),
                        (None, Some(role)) => format!("role {role:?}"),
                        (None, None) => "no role".to_string(),
                    };
                    format!(
                        "jwt login at auth/{}/login with the pod's service-account token, {role}",
                        pod.mount
                    )
                }
                None => "none: a pod's token is not used, pulls read as the node".to_string(),
            },
        ));
        facts.push((
            "node identity",
            match &t.node_auth {
                Some(node) => describe_node(node),
                None => "none: a pull without a service-account token fails".to_string(),
            },
        ));
        let path = t.source.api_path();
        facts.push(("secret", format!("{path} ({})", t.source.engine())));
        facts.push(("fields", t.fields.describe()));
        facts.push((
            "cache",
            match &t.source {
                Source::Kv { .. } => format!(
                    "kubelet keeps the credentials for {} (cacheDuration{}), at most the login \
                     token's TTL; a login this run makes is revoked after the read",
                    format_go_duration(self.kv_cache()),
                    if t.cache_duration.is_some() {
                        ""
                    } else {
                        ": --static-cache-duration"
                    }
                ),
                Source::Read { .. } => "half the lease, at most half the login token's TTL; \
                     with a lease the login token is kept (revoking it would revoke the lease)"
                    .to_string(),
            },
        ));
        facts
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        #[cfg(feature = "vault")]
        {
            fetch::fetch(self, ctx)
        }
        #[cfg(not(feature = "vault"))]
        {
            Err(super::not_built(BackendKind::Vault, ctx.image.registry()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::{fact, Pull};
    use base64::Engine as _;

    fn backend(yaml: &str) -> VaultBackend {
        let raw: config::RawVault = serde_yaml_ng::from_str(yaml).unwrap();
        VaultBackend::new(raw.into_target().unwrap(), Duration::from_secs(300))
    }

    fn pod_token(sub: &str) -> String {
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "ES256"})),
            part(serde_json::json!({ "sub": sub }))
        )
    }

    #[test]
    fn a_proxy_is_shown_without_its_credentials() {
        assert_eq!(
            shown_proxy("http://proxy.example:3128"),
            "http://proxy.example:3128"
        );
        assert_eq!(
            shown_proxy("http://node:s3cret@proxy.example:3128/"),
            "http://proxy.example:3128 (with credentials, not shown)"
        );
        assert_eq!(shown_proxy("::s3cret"), "not a valid URL (not shown)");
    }

    #[test]
    fn describe_shows_the_identity_fetch_logs_in_as() {
        let b = backend(
            "address: https://bao.example\npodAuth: {role: pull, roleAnnotation: v.example/role}\n\
             nodeAuth: {token: {}}\nkv: {mount: secret, path: r}\n",
        );
        let token = pod_token("system:serviceaccount:team-a:app");
        let pod = Pull::new("r.example/a", Some(&token), &[("v.example/role", "team-a")]);
        assert_eq!(
            fact(&b.describe(&pod.context()), "identity").unwrap(),
            "service account team-a/app (jwt role \"team-a\" at auth/jwt): JWT login at \
             auth/jwt/login with the pod's service-account token, the role from annotation \
             \"v.example/role\""
        );
        let unannotated = Pull::new("r.example/a", Some(&token), &[]);
        assert!(fact(&b.describe(&unannotated.context()), "identity")
            .unwrap()
            .ends_with(
                "(jwt role \"pull\" at auth/jwt): JWT login at auth/jwt/login with the \
                        pod's service-account token, the rule's role"
            ));
        let node = Pull::new("r.example/a", None, &[]);
        let facts = b.describe(&node.context());
        assert_eq!(
            fact(&facts, "identity").unwrap(),
            "the node (Vault token from VAULT_TOKEN): the token as it is (looked up, never revoked)"
        );
        assert_eq!(
            fact(&facts, "secret").unwrap(),
            "secret/data/r (kv (version 2))"
        );
        let pod_only = backend("podAuth: {role: pull}\nkv: {mount: secret, path: r}\n");
        assert!(fact(&pod_only.describe(&node.context()), "identity")
            .unwrap()
            .starts_with("none: kubelet sent no service-account token"));
    }
}
