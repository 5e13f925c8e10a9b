//! The parsed options that decide routing and build backends.
//!
//! Kept apart from the command-line parser ([`crate::cli`]) and the router
//! ([`crate::dispatch`]) because both, [`crate::check`], [`crate::serve`] and the token cache's
//! key read them: one plain value everyone takes by reference, with no routing logic. Each
//! cloud's own options are here too ([`google`], [`azure`]) rather than next to its backend, so
//! the dependency goes one way: backends read settings, settings know no backend.

pub mod azure;
pub mod google;

use std::path::PathBuf;
use std::time::Duration;

use crate::lifetime::DEFAULT_STATIC_CACHE;
pub use azure::AzureSettings;
pub use google::{AuthFlow, GoogleSettings};

/// The parts of the command line that decide routing and backends.
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
