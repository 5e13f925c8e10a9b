//! The plan of a fetch, decided from the request alone: who logs in, and with which role. Both
//! `describe` (what `check` shows) and `fetch` take it from [`choose`], so a dry run shows the
//! identity the run uses.

use base64::Engine as _;
use serde_json::Value;

use super::config::{NodeAuth, PodAuth};
use super::{VaultBackend, CLIENT_CERT_ENV, TOKEN_ENV};
use crate::protocol::Request;
use crate::secret::Secret;

/// Said after every refusal of a pod: what did not happen.
pub const NO_FALLBACK: &str = "the node's credentials are not used instead";

/// Who logs in, decided before any network call.
pub enum Identity<'a> {
    /// The pod, with the token kubelet sent.
    #[cfg_attr(not(feature = "vault"), allow(dead_code))]
    // `token` is sent by the network half
    Pod {
        auth: &'a PodAuth,
        role: String,
        token: &'a Secret<String>,
        /// `namespace/name` of the service account (from the token's `sub`), for messages.
        who: String,
        /// Whether the role came from the service account's annotation (else the rule's).
        annotated: bool,
    },
    /// The node.
    Node(&'a NodeAuth),
}

impl Identity<'_> {
    /// Who this is, for messages and `check` (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Identity::Pod {
                auth, role, who, ..
            } => {
                format!("{who} (jwt role {role:?} at auth/{})", auth.mount)
            }
            Identity::Node(NodeAuth::AppRole { mount, .. }) => {
                format!("the node (approle at auth/{mount})")
            }
            Identity::Node(NodeAuth::Token { file: Some(f) }) => {
                format!("the node (Vault token from {})", f.display())
            }
            Identity::Node(NodeAuth::Token { file: None }) => {
                format!("the node (Vault token from {TOKEN_ENV})")
            }
            Identity::Node(NodeAuth::Kubernetes { mount, role, .. }) => {
                format!("the node (kubernetes role {role:?} at auth/{mount})")
            }
            Identity::Node(NodeAuth::Cert {
                mount,
                name: Some(name),
            }) => format!("the node (cert role {name:?} at auth/{mount})"),
            Identity::Node(NodeAuth::Cert { mount, name: None }) => {
                format!("the node (client certificate at auth/{mount})")
            }
        }
    }

    /// The login this run makes, for `check`: who, how, and where the role came from.
    pub fn plan(&self) -> String {
        let how = match self {
            Identity::Pod {
                auth, annotated, ..
            } => {
                let from = match (annotated, &auth.role_annotation) {
                    (true, Some(key)) => format!("the role from annotation {key:?}"),
                    _ => "the rule's role".to_string(),
                };
                format!(
                    "JWT login at auth/{}/login with the pod's service-account token, {from}",
                    auth.mount
                )
            }
            Identity::Node(NodeAuth::AppRole { mount, .. }) => {
                format!("AppRole login at auth/{mount}/login")
            }
            Identity::Node(NodeAuth::Token { .. }) => {
                "the token as it is (looked up, never revoked)".to_string()
            }
            Identity::Node(NodeAuth::Kubernetes { mount, .. }) => {
                format!("Kubernetes login at auth/{mount}/login")
            }
            Identity::Node(NodeAuth::Cert { mount, .. }) => {
                format!("TLS certificate login at auth/{mount}/login with {CLIENT_CERT_ENV}")
            }
        };
        format!("{}: {how}", self.describe())
    }

    /// Whether the pod logs in.
    #[cfg_attr(not(feature = "vault"), allow(dead_code))] // read by the network half only
    pub fn is_pod(&self) -> bool {
        matches!(self, Identity::Pod { .. })
    }
}

/// The identity for this request: the pod's when kubelet sent a token and the rule has
/// `podAuth`, else the node's.
pub fn choose<'a>(
    backend: &'a VaultBackend,
    request: &'a Request,
) -> std::result::Result<Identity<'a>, String> {
    let target = &backend.target;
    match (
        &request.service_account_token,
        &target.pod_auth,
        &target.node_auth,
    ) {
        (Some(token), Some(auth), _) => {
            let who = subject(token);
            let annotated = auth
                .role_annotation
                .as_ref()
                .and_then(|key| request.service_account_annotations.get(key))
                .filter(|v| !v.is_empty());
            let role = match (annotated, &auth.role) {
                (Some(role), _) | (None, Some(role)) => role.clone(),
                (None, None) => {
                    return Err(format!(
                        "{who} has no annotation {:?} naming its Vault role, and the host \
                         rule names no default role (list the key in tokenAttributes' \
                         required or optional annotation keys, and annotate the service \
                         account); {NO_FALLBACK}",
                        auth.role_annotation.as_deref().unwrap_or_default()
                    ))
                }
            };
            Ok(Identity::Pod {
                auth,
                role,
                token,
                who,
                annotated: annotated.is_some(),
            })
        }
        (_, _, Some(node)) => Ok(Identity::Node(node)),
        (None, Some(_), None) => Err("kubelet sent no service-account token and the host rule \
             has no nodeAuth: give the provider tokenAttributes in the kubelet config (for \
             pods), or the rule a nodeAuth (for the node's own identity)"
            .into()),
        (_, None, None) => Err("the host rule has neither podAuth nor nodeAuth".into()),
    }
}

/// `namespace/name` of a service-account token's `sub` claim
/// (`system:serviceaccount:NS:NAME`), or the subject as it is. Read without verifying the
/// token: only for messages; Vault verifies it.
pub fn subject(token: &Secret<String>) -> String {
    let claims = token
        .expose()
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let sub = claims
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(Value::as_str);
    match sub {
        Some(sub) => match sub.strip_prefix("system:serviceaccount:") {
            Some(rest) => format!("service account {}", rest.replacen(':', "/", 1)),
            None => format!("token subject {:?}", crate::http::one_line(sub, 100)),
        },
        None => "the pod's service account".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::vault::config::{Fields, Source, VaultTarget};
    use crate::protocol::ApiVersion;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn jwt(claims: Value) -> Secret<String> {
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        Secret::new(format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "ES256"})),
            b64(&claims)
        ))
    }

    fn backend(pod: Option<PodAuth>, node: Option<NodeAuth>) -> VaultBackend {
        VaultBackend::new(
            VaultTarget {
                address: Some("https://bao.example".into()),
                namespace: None,
                pod_auth: pod,
                node_auth: node,
                source: Source::Kv {
                    mount: "secret".into(),
                    path: "r".into(),
                },
                fields: Fields::UserPassword {
                    username: "username".into(),
                    password: "password".into(),
                },
                cache_duration: None,
            },
            Duration::from_secs(300),
        )
    }

    fn request(token: Option<Secret<String>>, annotations: &[(&str, &str)]) -> Request {
        Request {
            api_version: ApiVersion::V1,
            image: "r.example/a".into(),
            service_account_token: token,
            service_account_annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn pod(role: Option<&str>, annotation: Option<&str>) -> PodAuth {
        PodAuth {
            mount: "jwt".into(),
            role: role.map(str::to_string),
            role_annotation: annotation.map(str::to_string),
            audience: None,
        }
    }

    #[test]
    fn the_subject_names_the_service_account_and_nothing_secret() {
        let token = jwt(json!({"sub": "system:serviceaccount:team-a:puller", "aud": ["x"]}));
        assert_eq!(subject(&token), "service account team-a/puller");
        let token = jwt(json!({"sub": "someone"}));
        assert_eq!(subject(&token), "token subject \"someone\"");
        let opaque = Secret::new("not-a-jwt-0123456789".to_string());
        assert_eq!(subject(&opaque), "the pod's service account");
    }

    #[test]
    fn the_annotation_names_the_role_else_the_rule_does() {
        let token = jwt(json!({"sub": "system:serviceaccount:ns:sa"}));
        let b = backend(Some(pod(Some("default-role"), Some("vault/role"))), None);
        let r = request(Some(token.clone()), &[("vault/role", "team-role")]);
        match choose(&b, &r).unwrap() {
            Identity::Pod { role, .. } => assert_eq!(role, "team-role"),
            Identity::Node(_) => panic!("pod expected"),
        }
        let r = request(Some(token.clone()), &[]);
        match choose(&b, &r).unwrap() {
            Identity::Pod { role, .. } => assert_eq!(role, "default-role"),
            Identity::Node(_) => panic!("pod expected"),
        }
        let b = backend(Some(pod(None, Some("vault/role"))), None);
        let e = choose(&b, &request(Some(token), &[])).err().unwrap();
        assert!(
            e.starts_with("service account ns/sa has no annotation \"vault/role\""),
            "{e}"
        );
        assert!(e.ends_with(NO_FALLBACK), "{e}");
    }

    #[test]
    fn without_a_token_the_node_logs_in_and_a_pod_never_does_as_the_node() {
        let node = NodeAuth::Token { file: None };
        let token = jwt(json!({"sub": "system:serviceaccount:ns:sa"}));
        let both = backend(Some(pod(Some("r"), None)), Some(node.clone()));
        assert!(choose(&both, &request(Some(token.clone()), &[]))
            .unwrap()
            .is_pod());
        assert!(!choose(&both, &request(None, &[])).unwrap().is_pod());
        let node_only = backend(None, Some(node));
        assert!(!choose(&node_only, &request(Some(token), &[]))
            .unwrap()
            .is_pod());
        let pod_only = backend(Some(pod(Some("r"), None)), None);
        let e = choose(&pod_only, &request(None, &[])).err().unwrap();
        assert!(e.contains("tokenAttributes"), "{e}");
    }
}
