//! The answer for a host nobody claims: no credentials, cached for a while.
//!
//! An empty `auth` map makes kubelet pull anonymously; sending `cacheKeyType: Registry` with
//! a cache time keeps kubelet from exec'ing the plugin again for every image on that registry
//! (the Azure plugin's `0s` for foreign hosts costs an exec per pull).
//!
//! Except while a `--docker-config` file is missing: it may be a file not rendered yet (Vault
//! Agent, External Secrets), and it may hold this very registry. Kubelet would keep the empty
//! answer for the whole cache time and pulls would keep failing after the file appeared, so
//! the empty answer then says `0s` and kubelet asks again on the next pull.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::duration::format_go_duration;
use crate::error::Result;
use crate::lifetime::Lifetime;
use crate::protocol::CacheKeyType;

/// The backend that hands out nothing.
#[derive(Debug, Clone)]
pub struct Anonymous {
    /// How long kubelet may remember "no credentials".
    pub cache_for: Duration,
    /// `--docker-config` files that do not exist (yet); while there is one, "no credentials"
    /// is not cached at all.
    pub missing_files: Vec<PathBuf>,
}

impl Anonymous {
    /// "No credentials" that kubelet may remember for `cache_for`, unless a file of
    /// `missing_files` may yet appear.
    pub fn new(cache_for: Duration, missing_files: Vec<PathBuf>) -> Anonymous {
        Anonymous {
            cache_for,
            missing_files,
        }
    }

    /// How long kubelet may remember this answer.
    fn cache_duration(&self) -> Duration {
        if self.missing_files.is_empty() {
            self.cache_for
        } else {
            Duration::ZERO
        }
    }
}

impl Backend for Anonymous {
    fn kind(&self) -> BackendKind {
        BackendKind::None
    }

    fn describe(&self, _ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let cache = match self.missing_files.first() {
            None => format!(
                "kubelet remembers the empty answer for {} per registry",
                format_go_duration(self.cache_for)
            ),
            Some(missing) => format!(
                "0s: docker config {} does not exist yet and may hold this registry, \
                 so kubelet asks again on the next pull",
                missing.display()
            ),
        };
        vec![
            ("credentials", "none: kubelet pulls anonymously".to_string()),
            ("cache", cache),
        ]
    }

    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        Ok(Credentials {
            auth: BTreeMap::new(),
            cache_key_type: CacheKeyType::Registry,
            lifetime: Lifetime::CacheFor(self.cache_duration()),
            identity: "anonymous".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::Pull;

    #[test]
    fn no_credentials_are_cached_for_the_static_duration() {
        let pull = Pull::new("registry.example/app", None, &[]);
        let anonymous = Anonymous::new(Duration::from_secs(300), Vec::new());
        assert_eq!(anonymous.cache_duration(), Duration::from_secs(300));
        assert_eq!(
            anonymous.describe(&pull.context())[1].1,
            "kubelet remembers the empty answer for 5m0s per registry"
        );
    }

    #[test]
    fn a_missing_docker_config_makes_the_empty_answer_uncached() {
        let pull = Pull::new("registry.example/app", None, &[]);
        let anonymous = Anonymous {
            cache_for: Duration::from_secs(300),
            missing_files: vec![PathBuf::from("/run/secrets/config.json")],
        };
        assert_eq!(anonymous.cache_duration(), Duration::ZERO);
        assert_eq!(
            anonymous.describe(&pull.context())[1].1,
            "0s: docker config /run/secrets/config.json does not exist yet and may hold this \
             registry, so kubelet asks again on the next pull"
        );
    }
}
