//! The `vault:` block of a host rule: where Vault is, how to log in, where the credentials are.
//!
//! Decoded as strictly as the rest of `--config` (unknown keys are errors) and checked when the
//! file is read, so `check` and `validate-config` show a broken rule before any pull does.
//!
//! ```yaml
//! hostRules:
//!   - match: ["harbor.corp.example"]
//!     backend: vault
//!     vault:
//!       address: https://bao.corp.example:8200   # else VAULT_ADDR
//!       namespace: platform                      # else VAULT_NAMESPACE
//!       podAuth: {role: registry-pull, roleAnnotation: vault.example.com/role,
//!                 audience: vault.corp.example}          # mount: jwt
//!       nodeAuth: {approle: {roleIdFile: /etc/vault/role-id, secretIdFile: /etc/vault/secret-id}}
//!       kv: {mount: secret, path: registry/harbor}      # or read: {path: rabbitmq/creds/pull}
//!       usernameField: username                          # or dockerConfigJsonField: .dockerconfigjson
//!       passwordField: password
//!       cacheDuration: 1h                                # kv only
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::duration::parse_go_duration;

/// Mount of the JWT auth method unless the rule names another.
pub const DEFAULT_JWT_MOUNT: &str = "jwt";
/// Mount of the AppRole auth method unless the rule names another.
pub const DEFAULT_APPROLE_MOUNT: &str = "approle";
/// Mount of the Kubernetes auth method unless the rule names another.
pub const DEFAULT_KUBERNETES_MOUNT: &str = "kubernetes";
/// Where the TLS certificate auth method is mounted unless `nodeAuth.cert.mount` says.
pub const DEFAULT_CERT_MOUNT: &str = "cert";
/// Where a pod (here: the plugin's own DaemonSet or the node's agent) finds its own
/// service-account token, for Kubernetes auth.
pub const DEFAULT_SA_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Field names of a secret unless the rule names others.
pub const DEFAULT_USERNAME_FIELD: &str = "username";
/// See [`DEFAULT_USERNAME_FIELD`].
pub const DEFAULT_PASSWORD_FIELD: &str = "password";

/// A checked `vault:` block: the host rule's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultTarget {
    /// `address`; `None`: `VAULT_ADDR` at fetch time.
    pub address: Option<String>,
    /// `namespace`; `None`: `VAULT_NAMESPACE` at fetch time.
    pub namespace: Option<String>,
    /// How pods log in, with the token kubelet sends.
    pub pod_auth: Option<PodAuth>,
    /// How the node logs in when kubelet sends no token.
    pub node_auth: Option<NodeAuth>,
    /// Where the credentials are.
    pub source: Source,
    /// Which fields of the secret hold them.
    pub fields: Fields,
    /// `cacheDuration` (KV only): how long kubelet may keep credentials that carry no lease;
    /// `None`: `--static-cache-duration`.
    pub cache_duration: Option<Duration>,
}

/// JWT login with the pod's service-account token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAuth {
    /// The JWT auth method's mount (`auth/<mount>/login`).
    pub mount: String,
    /// The role, unless the service account's annotation names one.
    pub role: Option<String>,
    /// A service-account annotation whose value names the role (kubelet passes it when the
    /// provider's `tokenAttributes` lists the key).
    pub role_annotation: Option<String>,
    /// The JWT role's bound audience, as documentation the binary can check: `validate-config`
    /// compares it with the provider's `tokenAttributes.serviceAccountTokenAudience`, the
    /// audience of the tokens kubelet requests (Vault refuses every other audience).
    pub audience: Option<String>,
}

/// The node's own identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAuth {
    /// AppRole: role id and secret id read from files at every fetch.
    AppRole {
        /// The auth method's mount.
        mount: String,
        /// File holding the role id.
        role_id_file: PathBuf,
        /// File holding the secret id; `None` for roles that do not require one.
        secret_id_file: Option<PathBuf>,
    },
    /// A Vault token: a file another program keeps current (a Vault Agent sink), or
    /// `VAULT_TOKEN`. Never revoked: it is not ours.
    Token {
        /// The file; `None`: `VAULT_TOKEN`.
        file: Option<PathBuf>,
    },
    /// Kubernetes auth with a service-account token file of the node (Vault reviews the token
    /// with the API server, which it must be able to reach).
    Kubernetes {
        /// The auth method's mount.
        mount: String,
        /// The role.
        role: String,
        /// The token file.
        token_file: PathBuf,
    },
    /// The TLS certificate auth method: the node's client certificate (`VAULT_CLIENT_CERT`
    /// and `VAULT_CLIENT_KEY`, presented in every TLS handshake) is the credential.
    Cert {
        /// The auth method's mount.
        mount: String,
        /// The certificate role to log in as; `None`: every role whose CA signed the
        /// certificate is tried by Vault.
        name: Option<String>,
    },
}

/// Where the credentials are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A KV version 2 secret: `<mount>/data/<path>`.
    Kv {
        /// The KV engine's mount.
        mount: String,
        /// The secret's path under it.
        path: String,
    },
    /// Any logical path, typically a dynamic secrets engine's credentials endpoint, whose
    /// answer may carry a lease.
    Read {
        /// The path (`rabbitmq/creds/puller`).
        path: String,
    },
}

impl Source {
    /// The API path read, relative to `/v1/`.
    pub fn api_path(&self) -> String {
        match self {
            Source::Kv { mount, path } => format!("{mount}/data/{path}"),
            Source::Read { path } => path.clone(),
        }
    }

    /// `kv` or `read`, for `check`.
    pub fn engine(&self) -> &'static str {
        match self {
            Source::Kv { .. } => "kv (version 2)",
            Source::Read { .. } => "read (a lease when the engine issues one)",
        }
    }
}

/// Which fields of the secret's data hold the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    /// A user name and a password field, served under the image's registry.
    UserPassword {
        /// The user name's field.
        username: String,
        /// The password's field.
        password: String,
    },
    /// A field holding a Docker config (`{"auths": ...}`), whose entries for the image are
    /// served as kubelet would match them.
    DockerConfigJson(String),
}

impl Fields {
    /// The field names, for `check`.
    pub fn describe(&self) -> String {
        match self {
            Fields::UserPassword { username, password } => {
                format!("username from {username:?}, password from {password:?}")
            }
            Fields::DockerConfigJson(field) => {
                format!("the entries of the Docker config in {field:?} that match the image")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawVault {
    address: Option<String>,
    namespace: Option<String>,
    pod_auth: Option<RawPodAuth>,
    node_auth: Option<RawNodeAuth>,
    kv: Option<RawKv>,
    read: Option<RawRead>,
    username_field: Option<String>,
    password_field: Option<String>,
    docker_config_json_field: Option<String>,
    cache_duration: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPodAuth {
    mount: Option<String>,
    role: Option<String>,
    role_annotation: Option<String>,
    audience: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNodeAuth {
    approle: Option<RawAppRole>,
    token: Option<RawToken>,
    kubernetes: Option<RawKubernetes>,
    cert: Option<RawCert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCert {
    mount: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAppRole {
    mount: Option<String>,
    role_id_file: PathBuf,
    secret_id_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawToken {
    file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKubernetes {
    mount: Option<String>,
    role: String,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKv {
    mount: String,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRead {
    path: String,
}

impl RawVault {
    /// Checks the block; errors are sentences naming the key.
    pub(crate) fn into_target(self) -> Result<VaultTarget, String> {
        if let Some(address) = &self.address {
            check_address(address)?;
        }
        if let Some(namespace) = &self.namespace {
            check_path("namespace", namespace)?;
        }
        let pod_auth = self.pod_auth.map(RawPodAuth::check).transpose()?;
        let node_auth = self.node_auth.map(RawNodeAuth::check).transpose()?;
        if pod_auth.is_none() && node_auth.is_none() {
            return Err(
                "vault needs \"podAuth\" (pods log in with their service-account \
                        token), \"nodeAuth\" (the node's own identity), or both"
                    .into(),
            );
        }
        let source = match (self.kv, self.read) {
            (Some(kv), None) => {
                check_path("kv.mount", &kv.mount)?;
                check_path("kv.path", &kv.path)?;
                Source::Kv {
                    mount: kv.mount,
                    path: kv.path,
                }
            }
            (None, Some(read)) => {
                check_path("read.path", &read.path)?;
                Source::Read { path: read.path }
            }
            _ => {
                return Err(
                    "vault needs exactly one of \"kv\" (a KV version 2 secret) and \
                            \"read\" (any path, e.g. a dynamic secrets engine's credentials)"
                        .into(),
                )
            }
        };
        let fields = match (
            self.docker_config_json_field,
            self.username_field,
            self.password_field,
        ) {
            (Some(field), None, None) => {
                Fields::DockerConfigJson(non_empty("dockerConfigJsonField", field)?)
            }
            (Some(_), _, _) => {
                return Err("\"dockerConfigJsonField\" replaces \"usernameField\" and \
                            \"passwordField\"; give one or the other"
                    .into())
            }
            (None, username, password) => Fields::UserPassword {
                username: non_empty(
                    "usernameField",
                    username.unwrap_or_else(|| DEFAULT_USERNAME_FIELD.into()),
                )?,
                password: non_empty(
                    "passwordField",
                    password.unwrap_or_else(|| DEFAULT_PASSWORD_FIELD.into()),
                )?,
            },
        };
        let cache_duration = match self.cache_duration {
            None => None,
            Some(_) if !matches!(source, Source::Kv { .. }) => {
                return Err(
                    "\"cacheDuration\" applies to \"kv\" only: a read's cache time \
                            comes from its lease"
                        .into(),
                )
            }
            Some(text) => {
                let nanos =
                    parse_go_duration(&text).map_err(|e| format!("cacheDuration {text:?}: {e}"))?;
                let nanos = u64::try_from(nanos)
                    .map_err(|_| format!("cacheDuration {text:?} is negative"))?;
                Some(Duration::from_nanos(nanos))
            }
        };
        Ok(VaultTarget {
            address: self.address,
            namespace: self.namespace,
            pod_auth,
            node_auth,
            source,
            fields,
            cache_duration,
        })
    }
}

impl RawPodAuth {
    fn check(self) -> Result<PodAuth, String> {
        let mount = self.mount.unwrap_or_else(|| DEFAULT_JWT_MOUNT.into());
        check_path("podAuth.mount", &mount)?;
        if self.role.is_none() && self.role_annotation.is_none() {
            return Err(
                "podAuth needs \"role\", \"roleAnnotation\" (a service-account annotation \
                 naming the role), or both"
                    .into(),
            );
        }
        Ok(PodAuth {
            mount,
            role: self
                .role
                .map(|r| non_empty("podAuth.role", r))
                .transpose()?,
            role_annotation: self
                .role_annotation
                .map(|a| non_empty("podAuth.roleAnnotation", a))
                .transpose()?,
            audience: self
                .audience
                .map(|a| non_empty("podAuth.audience", a))
                .transpose()?,
        })
    }
}

impl RawNodeAuth {
    fn check(self) -> Result<NodeAuth, String> {
        match (self.approle, self.token, self.kubernetes, self.cert) {
            (Some(a), None, None, None) => {
                let mount = a.mount.unwrap_or_else(|| DEFAULT_APPROLE_MOUNT.into());
                check_path("nodeAuth.approle.mount", &mount)?;
                Ok(NodeAuth::AppRole {
                    mount,
                    role_id_file: a.role_id_file,
                    secret_id_file: a.secret_id_file,
                })
            }
            (None, Some(t), None, None) => Ok(NodeAuth::Token { file: t.file }),
            (None, None, None, Some(c)) => {
                let mount = c.mount.unwrap_or_else(|| DEFAULT_CERT_MOUNT.into());
                check_path("nodeAuth.cert.mount", &mount)?;
                let name = c
                    .name
                    .map(|n| non_empty("nodeAuth.cert.name", n))
                    .transpose()?;
                Ok(NodeAuth::Cert { mount, name })
            }
            (None, None, Some(k), None) => {
                let mount = k.mount.unwrap_or_else(|| DEFAULT_KUBERNETES_MOUNT.into());
                check_path("nodeAuth.kubernetes.mount", &mount)?;
                Ok(NodeAuth::Kubernetes {
                    mount,
                    role: non_empty("nodeAuth.kubernetes.role", k.role)?,
                    token_file: k
                        .token_file
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_SA_TOKEN_FILE)),
                })
            }
            _ => Err(
                "nodeAuth needs exactly one of \"approle\", \"token\", \"kubernetes\" and \
                 \"cert\""
                    .into(),
            ),
        }
    }
}

fn non_empty(key: &str, value: String) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{key:?} is empty"))
    } else {
        Ok(value)
    }
}

/// A Vault address: an `http` or `https` URL with a host, nothing after the path (the API is
/// under `<address>/v1/`).
pub fn check_address(address: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(address)
        .map_err(|e| format!("Vault address {address:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("Vault address {address:?} is not http(s)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("Vault address {address:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("Vault address {address:?} carries user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("Vault address {address:?} has a query or fragment"));
    }
    Ok(())
}

/// A mount, path or namespace: `/`-separated segments, none empty, `.` or `..`, no `?`, `#`,
/// `%`, whitespace or control characters. The segments are percent-encoded into the URL
/// anyway; this rejects what would only ever be a mistake (or an attempt to leave the path).
pub fn check_path(key: &str, path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{key} {path:?} {why}"));
    if path.is_empty() {
        return bad("is empty");
    }
    if path.starts_with('/') || path.ends_with('/') {
        return bad("starts or ends with '/'");
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return bad("has an empty, '.' or '..' segment");
        }
    }
    if path
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '%' | '\\'))
    {
        return bad("holds whitespace, a control character, '?', '#', '%' or '\\'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<VaultTarget, String> {
        let raw: RawVault = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        raw.into_target()
    }

    #[test]
    fn a_full_block_is_read_with_defaults_filled_in() {
        let t = parse(
            "address: https://bao.example:8200\nnamespace: team-a/sub\n\
             podAuth: {roleAnnotation: vault.example.com/role}\n\
             nodeAuth: {kubernetes: {role: node}}\n\
             kv: {mount: secret, path: registry/harbor}\ncacheDuration: 1h30m\n",
        )
        .unwrap();
        assert_eq!(t.address.as_deref(), Some("https://bao.example:8200"));
        assert_eq!(
            t.pod_auth,
            Some(PodAuth {
                mount: "jwt".into(),
                role: None,
                role_annotation: Some("vault.example.com/role".into()),
                audience: None,
            })
        );
        assert_eq!(
            t.node_auth,
            Some(NodeAuth::Kubernetes {
                mount: "kubernetes".into(),
                role: "node".into(),
                token_file: DEFAULT_SA_TOKEN_FILE.into(),
            })
        );
        assert_eq!(t.source.api_path(), "secret/data/registry/harbor");
        assert_eq!(
            t.fields,
            Fields::UserPassword {
                username: "username".into(),
                password: "password".into()
            }
        );
        assert_eq!(t.cache_duration, Some(Duration::from_secs(5400)));

        let t = parse(
            "nodeAuth: {token: {}}\nread: {path: rabbitmq/creds/pull}\n\
             dockerConfigJsonField: .dockerconfigjson\n",
        )
        .unwrap();
        assert_eq!(t.node_auth, Some(NodeAuth::Token { file: None }));
        assert_eq!(t.source.api_path(), "rabbitmq/creds/pull");
        let cert = |yaml: &str| parse(&format!("nodeAuth: {yaml}\nkv: {{mount: s, path: p}}\n"));
        assert_eq!(
            cert("{cert: {}}").unwrap().node_auth,
            Some(NodeAuth::Cert {
                mount: "cert".into(),
                name: None
            })
        );
        assert_eq!(
            cert("{cert: {mount: tls, name: nodes}}").unwrap().node_auth,
            Some(NodeAuth::Cert {
                mount: "tls".into(),
                name: Some("nodes".into())
            })
        );
        assert!(cert("{cert: {name: \"\"}}")
            .unwrap_err()
            .contains("nodeAuth.cert.name"));
        assert!(cert("{cert: {}, token: {}}")
            .unwrap_err()
            .contains("exactly one of"));
        assert_eq!(
            t.fields,
            Fields::DockerConfigJson(".dockerconfigjson".into())
        );
    }

    #[test]
    fn incomplete_or_contradictory_blocks_are_refused_by_name() {
        let kv = "kv: {mount: secret, path: a}\n";
        for (yaml, needle) in [
            (kv.to_string(), "needs \"podAuth\""),
            ("podAuth: {role: r}\n".to_string(), "exactly one of \"kv\""),
            (
                format!("podAuth: {{role: r}}\nread: {{path: x}}\n{kv}"),
                "exactly one of \"kv\"",
            ),
            (format!("podAuth: {{}}\n{kv}"), "podAuth needs \"role\""),
            (
                format!("nodeAuth: {{token: {{}}, approle: {{roleIdFile: /r}}}}\n{kv}"),
                "exactly one of \"approle\"",
            ),
            (
                format!("podAuth: {{role: r}}\ndockerConfigJsonField: d\nusernameField: u\n{kv}"),
                "replaces",
            ),
            (
                "podAuth: {role: r}\nread: {path: x}\ncacheDuration: 1h\n".to_string(),
                "applies to \"kv\" only",
            ),
            (
                format!("podAuth: {{role: r}}\ncacheDuration: soon\n{kv}"),
                "cacheDuration \"soon\"",
            ),
            (
                format!("podAuth: {{role: r}}\ncacheDuration: -1h\n{kv}"),
                "negative",
            ),
            (
                format!("podAuth: {{role: r}}\nadress: https://x\n{kv}"),
                "unknown field",
            ),
            (
                format!("podAuth: {{role: r}}\naddress: ftp://x\n{kv}"),
                "not http(s)",
            ),
            (
                format!("podAuth: {{role: r}}\naddress: https://u:p@x\n{kv}"),
                "user info",
            ),
            (
                "podAuth: {role: r}\nkv: {mount: secret, path: ../sys/raw}\n".to_string(),
                "'..' segment",
            ),
            (
                "podAuth: {role: r}\nkv: {mount: secret, path: \"a?b\"}\n".to_string(),
                "'?'",
            ),
            (
                "podAuth: {role: r}\nkv: {mount: /secret, path: a}\n".to_string(),
                "starts or ends",
            ),
        ] {
            let e = parse(&yaml).unwrap_err();
            assert!(e.contains(needle), "{yaml:?} gave {e:?}");
        }
    }
}
