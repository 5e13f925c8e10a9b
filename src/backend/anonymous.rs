//! The answer for a host nobody claims: no credentials, cached for a while.
//!
//! An empty `auth` map makes kubelet pull anonymously; sending `cacheKeyType: Registry` with
//! a cache time keeps kubelet from exec'ing the plugin again for every image on that registry
//! (the Azure plugin's `0s` for foreign hosts costs an exec per pull).

use std::collections::BTreeMap;
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
}

impl Backend for Anonymous {
    fn kind(&self) -> BackendKind {
        BackendKind::None
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("credentials", "none: kubelet pulls anonymously".to_string()),
            (
                "cache",
                format!(
                    "kubelet remembers the empty answer for {} per registry",
                    format_go_duration(self.cache_for)
                ),
            ),
        ]
    }

    fn fetch(&self, _ctx: &FetchContext<'_>) -> Result<Credentials> {
        Ok(Credentials {
            auth: BTreeMap::new(),
            cache_key_type: CacheKeyType::Registry,
            lifetime: Lifetime::CacheFor(self.cache_for),
            identity: "anonymous".to_string(),
        })
    }
}
