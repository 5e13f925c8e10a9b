//! The plugin's own configuration file (`--config PATH`): host rules.
//!
//! Cloud registries are recognised by host name, but mirrors and pull-through caches
//! (`mirror.corp.example:5000` in front of ECR, say) are not: an operator has to say which
//! backend serves them, with which settings. A rule is kubelet-style match patterns (same
//! glob rules as `matchImages`, see [`crate::pattern`]) plus a backend. The file is YAML or
//! JSON, decoded strictly so a typo in a key is an error rather than a silently ignored rule.
//!
//! ```yaml
//! hostRules:
//!   - match: ["mirror.corp.example", "mirror.corp.example:5000"]
//!     backend: ecr
//!     region: eu-west-1
//!     registryId: "123456789012"
//!   - match: ["*.internal.example"]
//!     backend: none
//! ```
//!
//! A `vault` rule carries a `vault:` block (see [`crate::backend::vault::config`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::backend::acr::AcrTarget;
use crate::backend::ecr::EcrTarget;
use crate::backend::gcr::GcrTarget;
use crate::backend::{BackendKind, Target};
use crate::error::{Error, Result};
use crate::local_file;
use crate::parse_limits;
use crate::pattern::Pattern;

/// The decoded configuration file.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    /// Where it was read from (for messages).
    pub path: Option<PathBuf>,
    /// Rules in file order; the first matching rule wins.
    pub host_rules: Vec<HostRule>,
}

/// One rule: these patterns go to this backend.
#[derive(Debug, Clone)]
pub struct HostRule {
    /// Position in the file, 0-based (for messages: `hostRules[2]`).
    pub index: usize,
    /// Kubelet-style patterns matched against the image.
    pub patterns: Vec<Pattern>,
    /// What serves matching images: a backend and the settings it needs for hosts it cannot
    /// recognise by name (`none`: never send credentials to these hosts).
    pub target: Target,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    host_rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    #[serde(rename = "match")]
    patterns: Vec<String>,
    backend: String,
    region: Option<String>,
    registry_id: Option<String>,
    registry: Option<String>,
    vault: Option<crate::backend::vault::config::RawVault>,
}

impl PluginConfig {
    /// Reads and checks a configuration file (a regular file within the caps of
    /// [`crate::local_file`] and [`crate::parse_limits`]).
    pub fn load(path: &Path) -> Result<PluginConfig> {
        let text = local_file::read_text(path)
            .map_err(|e| Error::Config(format!("cannot read --config {}: {e}", path.display())))?;
        let mut config = PluginConfig::parse(&text)
            .map_err(|m| Error::Config(format!("--config {}: {m}", path.display())))?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text (YAML or JSON); errors are plain sentences.
    pub fn parse(text: &str) -> std::result::Result<PluginConfig, String> {
        parse_limits::check_yaml(text)?;
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let host_rules = raw
            .host_rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| {
                rule.into_rule(index)
                    .map_err(|m| format!("hostRules[{index}]: {m}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(PluginConfig {
            path: None,
            host_rules,
        })
    }

    /// The first rule with a pattern matching `image` (kubelet form `host[:port]/path`).
    pub fn rule_for(&self, image: &str) -> Option<(&HostRule, &Pattern)> {
        self.host_rules.iter().find_map(|rule| {
            rule.patterns
                .iter()
                .find(|p| p.matches(image))
                .map(|p| (rule, p))
        })
    }
}

impl RawRule {
    fn into_rule(self, index: usize) -> std::result::Result<HostRule, String> {
        if self.patterns.is_empty() {
            return Err("\"match\" needs at least one pattern".to_string());
        }
        let patterns = self
            .patterns
            .iter()
            .map(|p| {
                let pattern = Pattern::parse(p).map_err(|e| format!("match {p:?}: {e}"))?;
                match pattern.never_matches_reason() {
                    Some(why) => Err(format!("match {p:?} can never match an image: {why}")),
                    None => Ok(pattern),
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let kind = BackendKind::parse(&self.backend).ok_or_else(|| {
            let names: Vec<&str> = BackendKind::ALL
                .iter()
                .filter(|k| **k != BackendKind::File)
                .map(|k| k.as_str())
                .collect();
            format!(
                "backend {:?} is not one of {}",
                self.backend,
                names.join(", ")
            )
        })?;
        let unused = |field: &str, value: &Option<String>| match value {
            Some(_) => Err(format!(
                "{field:?} does not apply to backend {}",
                kind.as_str()
            )),
            None => Ok(()),
        };
        if kind != BackendKind::Vault && self.vault.is_some() {
            return Err(format!(
                "\"vault\" does not apply to backend {}",
                kind.as_str()
            ));
        }
        let target = match kind {
            BackendKind::Vault => {
                unused("region", &self.region)?;
                unused("registryId", &self.registry_id)?;
                unused("registry", &self.registry)?;
                let vault = self
                    .vault
                    .ok_or("backend vault needs a \"vault\" block (address, auth, secret)")?;
                Target::Vault(vault.into_target().map_err(|m| format!("vault: {m}"))?)
            }
            BackendKind::Ecr => {
                unused("registry", &self.registry)?;
                let region = self
                    .region
                    .filter(|r| !r.is_empty())
                    .ok_or("backend ecr needs \"region\" (the mirror's host does not name one)")?;
                if let Some(id) = &self.registry_id {
                    if !crate::hosts::is_aws_account_id(id) {
                        return Err(format!(
                            "registryId {id:?} is not a 12-digit AWS account id"
                        ));
                    }
                }
                Target::Ecr(EcrTarget::PrivateRule {
                    region,
                    registry_id: self.registry_id,
                })
            }
            BackendKind::Acr => {
                unused("region", &self.region)?;
                unused("registryId", &self.registry_id)?;
                let registry = self.registry.filter(|r| !r.is_empty()).ok_or(
                    "backend acr needs \"registry\" (the ACR login server whose token to use)",
                )?;
                match crate::hosts::classify(&registry) {
                    Some(crate::hosts::CloudRegistry::Acr(_)) => {
                        Target::Acr(AcrTarget::registry(&registry))
                    }
                    _ => return Err(format!("registry {registry:?} is not an ACR login server")),
                }
            }
            BackendKind::EcrPublic | BackendKind::Gcr | BackendKind::None => {
                unused("region", &self.region)?;
                unused("registryId", &self.registry_id)?;
                unused("registry", &self.registry)?;
                match kind {
                    BackendKind::EcrPublic => Target::Ecr(EcrTarget::PublicRule),
                    BackendKind::Gcr => Target::Gcr(GcrTarget::Rule),
                    _ => Target::Anonymous {
                        missing_files: Vec::new(),
                    },
                }
            }
            BackendKind::File => {
                return Err(
                    "backend file is not a host rule: entries of --docker-config files are \
                     matched by their own keys"
                        .to_string(),
                )
            }
        };
        Ok(HostRule {
            index,
            patterns,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_in_yaml_and_json() {
        let yaml = "hostRules:\n  - match: [\"mirror.corp.example:5000\"]\n    backend: ecr\n    region: eu-west-1\n    registryId: \"123456789012\"\n  - match: [\"*.internal.example\"]\n    backend: none\n";
        let c = PluginConfig::parse(yaml).unwrap();
        assert_eq!(c.host_rules.len(), 2);
        assert!(matches!(
            &c.host_rules[0].target,
            Target::Ecr(EcrTarget::PrivateRule { region, registry_id })
                if region == "eu-west-1" && registry_id.as_deref() == Some("123456789012")
        ));
        let json = r#"{"hostRules":[{"match":["cache.example"],"backend":"acr","registry":"myacr.azurecr.io"}]}"#;
        let c = PluginConfig::parse(json).unwrap();
        assert!(matches!(
            &c.host_rules[0].target,
            Target::Acr(AcrTarget { registry, config: None }) if registry == "myacr.azurecr.io"
        ));
    }

    #[test]
    fn a_vault_rule_carries_its_block() {
        let c = PluginConfig::parse(
            "hostRules:\n- match: [harbor.example]\n  backend: vault\n  vault:\n    \
             podAuth: {role: pull}\n    kv: {mount: secret, path: harbor}\n",
        )
        .unwrap();
        match &c.host_rules[0].target {
            Target::Vault(t) => assert_eq!(t.source.api_path(), "secret/data/harbor"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deep_or_non_regular_files_are_refused_at_once() {
        let deep = format!("hostRules: {}", "[".repeat(200_000));
        let started = std::time::Instant::now();
        assert_eq!(
            PluginConfig::parse(&deep).unwrap_err(),
            "it nests more than 64 levels deep (line 1), the limit for local documents"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let e = PluginConfig::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read --config /dev/zero: it is a character device, not a regular file"
        );
    }

    #[test]
    fn first_matching_rule_wins_with_kubelet_glob_rules() {
        let c = PluginConfig::parse(
            "hostRules:\n- {match: [\"mirror.example:5000\"], backend: none}\n- {match: [\"*.example\"], backend: gcr}\n",
        )
        .unwrap();
        let (rule, pattern) = c.rule_for("mirror.example:5000/a").unwrap();
        assert_eq!(rule.index, 0);
        assert_eq!(pattern.as_str(), "mirror.example:5000");
        // No port in the pattern: does not match an image with a port.
        assert_eq!(c.rule_for("mirror.example/a").unwrap().0.index, 1);
        assert!(c.rule_for("other.example:5000/a").is_none());
    }

    #[test]
    fn rejects_typos_and_incomplete_rules() {
        for (text, needle) in [
            ("hostRule: []", "unknown field"),
            (
                "hostRules:\n- {match: [a.io], backend: ecr}",
                "needs \"region\"",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: ecr, region: x, registryId: \"12\"}",
                "12-digit",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: acr}",
                "needs \"registry\"",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: acr, registry: evil.example}",
                "not an ACR",
            ),
            ("hostRules:\n- {match: [a.io], backend: s3}", "not one of"),
            (
                "hostRules:\n- {match: [a.io], backend: none, region: x}",
                "does not apply",
            ),
            ("hostRules:\n- {match: [], backend: none}", "at least one"),
            (
                "hostRules:\n- {match: [\"a.io/*\"], backend: none}",
                "never match",
            ),
            (
                "hostRules:\n- {match: [\"%zz\"], backend: none}",
                "match \"%zz\"",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: file}",
                "not a host rule",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: vault}",
                "needs a \"vault\" block",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: none, vault: {}}",
                "\"vault\" does not apply",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: vault, vault: {podAuth: {role: r}}}",
                "hostRules[0]: vault: vault needs exactly one of \"kv\"",
            ),
            (
                "hostRules:\n- {match: [a.io], backend: none, Region: x}",
                "unknown field",
            ),
        ] {
            let e = PluginConfig::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?} gave {e:?}");
        }
    }
}
