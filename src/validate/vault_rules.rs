//! What a kubelet provider must send for the `vault` rules of its `--config`, for
//! `validate-config`.
//!
//! A pod's JWT login needs kubelet to request a service-account token for the provider
//! (`tokenAttributes`), for the audience the Vault role is bound to, and to forward the
//! annotation that names the role when a rule reads one. Kubelet accepts a config that lacks
//! any of these and Vault refuses the logins later, one pull at a time; these checks say so
//! before kubelet starts.

use crate::backend::Target;
use crate::kubelet_config::TokenAttributes;
use crate::plugin_config::PluginConfig;

/// The service-account annotation keys the vault rules of `config` read (role annotations),
/// so `validate-config` does not call them unread.
pub fn annotation_keys(config: &PluginConfig) -> Vec<String> {
    config
        .host_rules
        .iter()
        .filter_map(|rule| match &rule.target {
            Target::Vault(t) => t.pod_auth.as_ref()?.role_annotation.clone(),
            _ => None,
        })
        .collect()
}

/// Whether a vault rule of `config` logs pods in with the token kubelet sends: the token is
/// then the workload's identity by itself, with or without an annotation.
pub fn logs_pods_in(config: &PluginConfig) -> bool {
    config
        .host_rules
        .iter()
        .any(|rule| matches!(&rule.target, Target::Vault(t) if t.pod_auth.is_some()))
}

/// Warnings about `tokenAttributes` (or its absence) for the vault rules of `config`.
pub fn warnings(config: &PluginConfig, attributes: Option<&TokenAttributes>) -> Vec<String> {
    let file = config
        .path
        .as_ref()
        .map_or("--config".to_string(), |p| p.display().to_string());
    let mut warnings = Vec::new();
    for rule in &config.host_rules {
        let Target::Vault(target) = &rule.target else {
            continue;
        };
        let Some(pod) = &target.pod_auth else {
            continue;
        };
        let name = format!("hostRules[{}] of {file} (vault)", rule.index);
        let Some(ta) = attributes else {
            let without = if target.node_auth.is_some() {
                "so its pulls read as the node"
            } else {
                "so its pulls fail (the rule has no nodeAuth)"
            };
            warnings.push(format!(
                "{name} logs pods in with the service-account token kubelet sends, but this \
                 provider has no tokenAttributes: kubelet sends no token, {without}; add \
                 tokenAttributes with serviceAccountTokenAudience: {}, cacheType: \
                 ServiceAccount, requireServiceAccount: {}",
                pod.audience
                    .as_deref()
                    .unwrap_or("<the JWT role's bound audience>"),
                target.node_auth.is_none()
            ));
            continue;
        };
        if let Some(audience) = &pod.audience {
            if *audience != ta.service_account_token_audience {
                warnings.push(format!(
                    "{name}: the JWT role's bound audience (podAuth.audience {audience:?}) is \
                     not tokenAttributes.serviceAccountTokenAudience {:?}: Vault refuses every \
                     pod login",
                    ta.service_account_token_audience
                ));
            }
        }
        if let Some(key) = &pod.role_annotation {
            let forwarded = ta
                .required_service_account_annotation_keys
                .iter()
                .chain(&ta.optional_service_account_annotation_keys)
                .any(|k| k == key);
            if !forwarded {
                let otherwise = match &pod.role {
                    Some(role) => format!("every pod logs in as role {role:?}"),
                    None => "every pod login fails (the rule has no default role)".to_string(),
                };
                warnings.push(format!(
                    "{name} reads the role from annotation {key:?}, which tokenAttributes does \
                     not list, so kubelet never forwards it and {otherwise}; add it to \
                     optionalServiceAccountAnnotationKeys"
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vault: &str) -> PluginConfig {
        PluginConfig::parse(&format!(
            "hostRules:\n- match: [r.example]\n  backend: vault\n  vault: {vault}\n"
        ))
        .unwrap()
    }

    fn attributes(audience: &str, optional: &[&str]) -> TokenAttributes {
        TokenAttributes {
            service_account_token_audience: audience.into(),
            cache_type: "ServiceAccount".into(),
            require_service_account: Some(false),
            required_service_account_annotation_keys: Vec::new(),
            optional_service_account_annotation_keys: optional
                .iter()
                .map(|k| k.to_string())
                .collect(),
        }
    }

    const POD: &str =
        "{podAuth: {role: pull, roleAnnotation: v.example/role, audience: vault.example}, \
         kv: {mount: secret, path: r}}";

    #[test]
    fn a_matching_provider_gets_no_warning() {
        let c = config(POD);
        assert_eq!(annotation_keys(&c), ["v.example/role"]);
        assert!(logs_pods_in(&c));
        let ta = attributes("vault.example", &["v.example/role"]);
        assert_eq!(warnings(&c, Some(&ta)), Vec::<String>::new());
        // Node-only rules need nothing from kubelet.
        let node = config("{nodeAuth: {token: {}}, kv: {mount: secret, path: r}}");
        assert_eq!(warnings(&node, None), Vec::<String>::new());
        assert!(!logs_pods_in(&node));
    }

    #[test]
    fn missing_token_attributes_wrong_audience_and_unforwarded_annotation_are_named() {
        let c = config(POD);
        assert_eq!(
            warnings(&c, None),
            [
                "hostRules[0] of --config (vault) logs pods in with the service-account token \
              kubelet sends, but this provider has no tokenAttributes: kubelet sends no token, \
              so its pulls fail (the rule has no nodeAuth); add tokenAttributes with \
              serviceAccountTokenAudience: vault.example, cacheType: ServiceAccount, \
              requireServiceAccount: true"
            ]
        );
        let w = warnings(&c, Some(&attributes("registry.example", &[])));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("(podAuth.audience \"vault.example\") is not tokenAttributes.serviceAccountTokenAudience \"registry.example\""), "{}", w[0]);
        assert!(w[1].contains("annotation \"v.example/role\", which tokenAttributes does not list, so kubelet never forwards it and every pod logs in as role \"pull\""), "{}", w[1]);
    }
}
