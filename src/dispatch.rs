//! The router: which backend serves an image, and why.
//!
//! Explicit configuration wins over recognition by name: first the host rules of `--config`,
//! then entries of `--docker-config` files (an operator who put credentials for a host in a
//! file means them to be used, e.g. a `_json_key` login for gcr.io on a non-Google node), then
//! the cloud registry grammar of [`crate::hosts`], and last "nobody", which answers with no
//! credentials. Matching always uses kubelet's glob rules ([`crate::pattern`]), so what the
//! router decides is what kubelet will apply to the `auth` keys it gets back.
//!
//! The router returns data only, a [`Route`]: which backend with which target, and why.
//! [`crate::backend::build`] turns the target into a backend, so nothing here constructs one.

use crate::backend::acr;
use crate::backend::ecr::EcrTarget;
use crate::backend::file::{find_matches, DockerConfig};
use crate::backend::gcr::GcrTarget;
use crate::backend::Target;
use crate::error::Result;
use crate::hosts::{self, CloudRegistry};
use crate::image::ImageRef;
use crate::plugin_config::PluginConfig;
use crate::settings::Settings;

/// The router's decision.
#[derive(Debug, Clone)]
pub struct Route {
    /// Which backend serves the image, with what target.
    pub target: Target,
    /// One sentence on why, for `check` and `-v`.
    pub reason: String,
}

/// Chooses the backend and target for `image`. Reads `--config` and the Docker config files
/// (only as far as needed), never the network.
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
            return Ok(Route {
                target: rule.target.clone(),
                reason,
            });
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
                target: Target::File { matches },
                reason,
            });
        }
    }

    if let Some((target, reason)) = acr::route_mirror(image, &settings.azure) {
        return Ok(Route {
            target: Target::Acr(target),
            reason,
        });
    }

    if let Some(registry) = hosts::classify(image.host()) {
        let reason = registry.reason();
        let target = match registry {
            CloudRegistry::EcrPrivate(h) => Target::Ecr(EcrTarget::Private(h)),
            CloudRegistry::EcrPublic(h) => Target::Ecr(EcrTarget::Public(h)),
            CloudRegistry::Acr(h) => Target::Acr(acr::AcrTarget::registry(&h.host)),
            CloudRegistry::Gcr(h) => Target::Gcr(GcrTarget::Host(h)),
        };
        return Ok(Route { target, reason });
    }

    if let Some((target, reason)) = acr::route_custom_suffix(image, &settings.azure) {
        return Ok(Route {
            target: Target::Acr(target),
            reason,
        });
    }

    // A Google dockercfg flow can hold credentials for any registry (the reference plugin
    // served whatever kubelet's matchImages sent it); only then does an unclaimed host cost
    // a metadata call.
    if settings.google.flow.serves_any_host() {
        return Ok(Route {
            target: Target::Gcr(GcrTarget::AnyHost),
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
        target: Target::Anonymous { missing_files },
        reason: format!(
            "no host rule, docker config entry or cloud registry claims {}{awaiting}",
            image.registry()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::{fact, Pull};
    use crate::backend::{self, BackendKind};
    use crate::test_util::TempDir;

    fn route_for(image: &str, settings: &Settings) -> Route {
        route(&ImageRef::parse(image).unwrap(), settings).unwrap()
    }

    fn cache_line(route: &Route, settings: &Settings) -> String {
        let pull = Pull::new("registry.example.com/app", None, &[]);
        let described = backend::build(route.target.clone(), settings).describe(&pull.context());
        fact(&described, "cache").unwrap()
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
        assert_eq!(route.target.kind(), BackendKind::None);
        assert!(cache_line(&route, &settings).starts_with("0s: docker config"));
        assert!(route.reason.ends_with(&format!(
            "(docker config {} does not exist yet)",
            missing.display()
        )));

        // Once the file exists, even without an entry for the host, the answer is cached.
        dir.write("config.json", r#"{"auths":{}}"#);
        let route = route_for("registry.example.com/app", &settings);
        assert_eq!(
            cache_line(&route, &settings),
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
        assert_eq!(route.target.kind(), BackendKind::Ecr);
    }
}
