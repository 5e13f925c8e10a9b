//! The router: which backend serves an image, and why.
//!
//! Explicit configuration wins over recognition by name: first the host rules of `--config`,
//! then entries of `--docker-config` files (an operator who put credentials for a host in a
//! file means them to be used, e.g. a `_json_key` login for gcr.io on a non-Google node), then
//! the cloud registry grammar of [`crate::hosts`], and last "nobody", which answers with no
//! credentials. Matching always uses kubelet's glob rules ([`crate::pattern`]), so what the
//! router decides is what kubelet will apply to the `auth` keys it gets back.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::anonymous::Anonymous;
use crate::backend::cloud::{CloudBackend, CloudTarget};
use crate::backend::ecr::{EcrBackend, EcrTarget};
use crate::backend::file::{find_matches, DockerConfig, FileBackend};
use crate::backend::{Backend, BackendKind};
use crate::error::Result;
use crate::hosts;
use crate::image::ImageRef;
use crate::plugin_config::{PluginConfig, RuleTarget};

/// Default of `--static-cache-duration`: how long kubelet may keep credentials that carry no
/// expiry (Docker config files) and "no credentials" answers. Short enough that a rotated file
/// or a newly added entry is picked up within minutes, long enough that a burst of pulls from
/// one registry execs the plugin once.
pub const DEFAULT_STATIC_CACHE: Duration = Duration::from_secs(300);

/// The parts of the command line that decide routing.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--docker-config` files, in order.
    pub docker_configs: Vec<PathBuf>,
    /// `--config` file with host rules.
    pub plugin_config: Option<PathBuf>,
    /// `--static-cache-duration`.
    pub static_cache: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            docker_configs: Vec::new(),
            plugin_config: None,
            static_cache: DEFAULT_STATIC_CACHE,
        }
    }
}

/// The router's decision.
pub struct Route {
    /// The backend that serves the image.
    pub backend: Box<dyn Backend>,
    /// One sentence on why, for `check` and `-v`.
    pub reason: String,
}

/// Chooses the backend for `image`. Reads `--config` and the Docker config files (only as far
/// as needed), never the network.
pub fn route(image: &ImageRef, settings: &Settings) -> Result<Route> {
    let name = image.name();

    if let Some(path) = &settings.plugin_config {
        let config = PluginConfig::load(path)?;
        if let Some((rule, pattern)) = config.rule_for(&name) {
            let reason = format!(
                "hostRules[{}] of {} matches with pattern {:?}",
                rule.index,
                path.display(),
                pattern.as_str()
            );
            let backend: Box<dyn Backend> = match &rule.target {
                RuleTarget::None => Box::new(Anonymous {
                    cache_for: settings.static_cache,
                }),
                RuleTarget::Ecr {
                    region,
                    registry_id,
                } => Box::new(EcrBackend {
                    target: EcrTarget::PrivateRule {
                        region: region.clone(),
                        registry_id: registry_id.clone(),
                    },
                }),
                RuleTarget::EcrPublic => Box::new(EcrBackend {
                    target: EcrTarget::PublicRule,
                }),
                target => Box::new(CloudBackend {
                    kind: target.kind(),
                    target: CloudTarget::Rule(target.clone()),
                }),
            };
            return Ok(Route { backend, reason });
        }
    }

    if !settings.docker_configs.is_empty() {
        let mut configs = Vec::new();
        for path in &settings.docker_configs {
            if let Some(config) = DockerConfig::load(path)? {
                configs.push(config);
            }
        }
        let matches = find_matches(&configs, image);
        if let Some(first) = matches.first() {
            let reason = format!(
                "docker config {} has entry {:?} matching {name}",
                first.source.display(),
                first.raw_key
            );
            return Ok(Route {
                backend: Box::new(FileBackend {
                    matches,
                    cache_for: settings.static_cache,
                }),
                reason,
            });
        }
    }

    if let Some(registry) = hosts::classify(image.host()) {
        let reason = registry.reason();
        let ecr = match &registry {
            hosts::CloudRegistry::EcrPrivate(h) => Some(EcrTarget::Private(h.clone())),
            hosts::CloudRegistry::EcrPublic(h) => Some(EcrTarget::Public(h.clone())),
            _ => None,
        };
        if let Some(target) = ecr {
            return Ok(Route {
                reason,
                backend: Box::new(EcrBackend { target }),
            });
        }
        let kind = match registry {
            hosts::CloudRegistry::EcrPrivate(_) => BackendKind::Ecr,
            hosts::CloudRegistry::EcrPublic(_) => BackendKind::EcrPublic,
            hosts::CloudRegistry::Acr(_) => BackendKind::Acr,
            hosts::CloudRegistry::Gcr(_) => BackendKind::Gcr,
        };
        return Ok(Route {
            reason: registry.reason(),
            backend: Box::new(CloudBackend {
                kind,
                target: CloudTarget::Host(registry),
            }),
        });
    }

    Ok(Route {
        backend: Box::new(Anonymous {
            cache_for: settings.static_cache,
        }),
        reason: format!(
            "no host rule, docker config entry or cloud registry claims {}",
            image.registry()
        ),
    })
}
