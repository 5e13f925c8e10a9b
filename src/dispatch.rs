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

use crate::backend::acr::{self, AcrBackend, AzureSettings};
use crate::backend::anonymous::Anonymous;
use crate::backend::ecr::{EcrBackend, EcrTarget};
use crate::backend::file::{find_matches, DockerConfig, FileBackend};
use crate::backend::gcr::{GcrBackend, GcrTarget, GoogleSettings};
use crate::backend::Backend;
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
    /// `--cache-dir`: where tokens are kept between runs ([`crate::token_cache`]).
    pub cache_dir: Option<PathBuf>,
    /// The Google backend's options (`--authFlow`, workload identity, `--gcr-fixed-keys`).
    pub google: GoogleSettings,
    /// azure.json, `--registry-mirror` and the other Azure options.
    pub azure: AzureSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            docker_configs: Vec::new(),
            plugin_config: None,
            static_cache: DEFAULT_STATIC_CACHE,
            cache_dir: None,
            google: GoogleSettings::default(),
            azure: AzureSettings::default(),
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
                RuleTarget::None => Box::new(Anonymous::new(settings.static_cache)),
                RuleTarget::Gcr => Box::new(GcrBackend::new(
                    GcrTarget::Rule,
                    &settings.google,
                    settings.static_cache,
                )),
                RuleTarget::Acr { registry } => {
                    Box::new(AcrBackend::for_registry(registry, settings))
                }
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
            };
            return Ok(Route { backend, reason });
        }
    }

    // Docker config files that do not exist (yet): they decide the cache time of "nobody".
    let mut missing_files = Vec::new();
    if !settings.docker_configs.is_empty() {
        let mut configs = Vec::new();
        for path in &settings.docker_configs {
            match DockerConfig::load(path)? {
                Some(config) => configs.push(config),
                None => missing_files.push(path.clone()),
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

    if let Some((backend, reason)) = acr::route_mirror(image, settings) {
        return Ok(Route {
            backend: Box::new(backend),
            reason,
        });
    }

    if let Some(registry) = hosts::classify(image.host()) {
        let reason = registry.reason();
        let backend: Box<dyn Backend> = match registry {
            hosts::CloudRegistry::EcrPrivate(h) => Box::new(EcrBackend {
                target: EcrTarget::Private(h),
            }),
            hosts::CloudRegistry::EcrPublic(h) => Box::new(EcrBackend {
                target: EcrTarget::Public(h),
            }),
            hosts::CloudRegistry::Acr(h) => Box::new(AcrBackend::for_host(&h, settings)),
            hosts::CloudRegistry::Gcr(h) => Box::new(GcrBackend::new(
                GcrTarget::Host(h),
                &settings.google,
                settings.static_cache,
            )),
        };
        return Ok(Route { backend, reason });
    }

    if let Some((backend, reason)) = acr::route_custom_suffix(image, settings) {
        return Ok(Route {
            backend: Box::new(backend),
            reason,
        });
    }

    // A Google dockercfg flow can hold credentials for any registry (the reference plugin
    // served whatever kubelet's matchImages sent it); only then does an unclaimed host cost
    // a metadata call.
    if settings.google.flow.serves_any_host() {
        return Ok(Route {
            backend: Box::new(GcrBackend::new(
                GcrTarget::AnyHost,
                &settings.google,
                settings.static_cache,
            )),
            reason: format!(
                "--authFlow={} serves hosts nobody else claims from instance metadata",
                settings.google.flow.as_str()
            ),
        });
    }

    // A missing docker config may be one not rendered yet that holds this registry: the empty
    // answer is then not cached, so the pull after the file appears gets its entry. Only this
    // route: a host rule or a cloud registry answers with real credentials, so pulls work
    // meanwhile; an empty answer cached for minutes is what keeps them failing.
    let awaiting = match missing_files.first() {
        Some(path) => format!(" (docker config {} does not exist yet)", path.display()),
        None => String::new(),
    };
    Ok(Route {
        backend: Box::new(Anonymous {
            cache_for: settings.static_cache,
            missing_files,
        }),
        reason: format!(
            "no host rule, docker config entry or cloud registry claims {}{awaiting}",
            image.registry()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::test_util::TempDir;

    fn route_for(image: &str, settings: &Settings) -> Route {
        route(&ImageRef::parse(image).unwrap(), settings).unwrap()
    }

    fn cache_line(route: &Route) -> String {
        let described = route.backend.describe();
        let (_, cache) = described.iter().find(|(k, _)| *k == "cache").unwrap();
        cache.clone()
    }

    #[test]
    fn a_missing_docker_config_leaves_nobodys_answer_uncached() {
        let dir = TempDir::new("dispatch-missing");
        let missing = dir.0.join("config.json");
        let settings = Settings {
            docker_configs: vec![missing.clone()],
            ..Settings::default()
        };
        let route = route_for("registry.example.com/app", &settings);
        assert_eq!(route.backend.kind(), BackendKind::None);
        assert!(cache_line(&route).starts_with("0s: docker config"));
        assert!(route.reason.ends_with(&format!(
            "(docker config {} does not exist yet)",
            missing.display()
        )));

        // Once the file exists, even without an entry for the host, the answer is cached.
        dir.write("config.json", r#"{"auths":{}}"#);
        let route = route_for("registry.example.com/app", &settings);
        assert_eq!(
            cache_line(&route),
            "kubelet remembers the empty answer for 5m0s per registry"
        );
    }

    #[test]
    fn a_cloud_registry_is_served_while_a_docker_config_is_missing() {
        let dir = TempDir::new("dispatch-cloud");
        let settings = Settings {
            docker_configs: vec![dir.0.join("absent.json")],
            ..Settings::default()
        };
        let route = route_for(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
            &settings,
        );
        assert_eq!(route.backend.kind(), BackendKind::Ecr);
    }
}
