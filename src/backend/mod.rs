//! What every backend implements, and the backends themselves.
//!
//! A backend answers one question: "credentials for this registry, valid until when, obtained
//! as which identity". It never touches stdin/stdout, never formats `cacheDuration` (that is
//! [`crate::lifetime`]) and never decides which hosts it serves (that is [`crate::dispatch`]).
//! The router's decision is data, a [`Target`]; [`build`] is the one place that turns it into a
//! backend, each from its own options, so routing can be tested and shown without a backend.
//! The trait is synchronous on purpose: a run serves one image, and only the cloud backends
//! that really talk to the network start an async runtime, so a request that needs no cloud
//! pays for none.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::deadline::Deadline;
use crate::error::Result;
use crate::hosts::CloudRegistry;
use crate::image::ImageRef;
use crate::lifetime::Lifetime;
use crate::protocol::{AuthConfig, CacheKeyType, Request};
use crate::settings::Settings;

pub mod acr;
pub mod anonymous;
pub mod ecr;
pub mod file;
pub mod gcr;
#[cfg(test)]
pub(crate) mod test_pull;
pub mod vault;

/// The backend names shown by `check` and accepted in host rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Private Amazon ECR.
    Ecr,
    /// Amazon ECR Public.
    EcrPublic,
    /// Azure Container Registry.
    Acr,
    /// Google Container Registry / Artifact Registry.
    Gcr,
    /// HashiCorp Vault or OpenBao, chosen by a host rule.
    Vault,
    /// Docker config files on the node.
    File,
    /// Nobody: the pull goes on anonymously.
    None,
}

impl BackendKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [BackendKind; 7] = [
        BackendKind::Ecr,
        BackendKind::EcrPublic,
        BackendKind::Acr,
        BackendKind::Gcr,
        BackendKind::Vault,
        BackendKind::File,
        BackendKind::None,
    ];

    /// The name in output and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Ecr => "ecr",
            BackendKind::EcrPublic => "ecr-public",
            BackendKind::Acr => "acr",
            BackendKind::Gcr => "gcr",
            BackendKind::Vault => "vault",
            BackendKind::File => "file",
            BackendKind::None => "none",
        }
    }

    /// Parses a backend name.
    pub fn parse(text: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The cargo feature that compiles this backend's network half in, if any (asked only
    /// by a build without some cloud).
    #[cfg(not(all(feature = "aws", feature = "azure", feature = "gcp")))]
    pub fn feature(self) -> Option<&'static str> {
        match self {
            BackendKind::Ecr | BackendKind::EcrPublic => Some("aws"),
            BackendKind::Acr => Some("azure"),
            BackendKind::Gcr => Some("gcp"),
            BackendKind::Vault => Some("vault"),
            BackendKind::File | BackendKind::None => None,
        }
    }
}

impl From<&CloudRegistry> for BackendKind {
    /// The backend that serves a host recognised by name.
    fn from(registry: &CloudRegistry) -> BackendKind {
        match registry {
            CloudRegistry::EcrPrivate(_) => BackendKind::Ecr,
            CloudRegistry::EcrPublic(_) => BackendKind::EcrPublic,
            CloudRegistry::Acr(_) => BackendKind::Acr,
            CloudRegistry::Gcr(_) => BackendKind::Gcr,
        }
    }
}

/// Which backend serves an image, and what it is asked to serve: the router's decision, as
/// data. [`build`] turns it into the backend.
#[derive(Debug, Clone)]
pub enum Target {
    /// Nobody: no credentials.
    Anonymous {
        /// `--docker-config` files that do not exist (yet); while there is one, "no
        /// credentials" is not cached at all.
        missing_files: Vec<PathBuf>,
    },
    /// Entries of `--docker-config` files, in file order.
    File {
        /// What matched.
        matches: Vec<file::Match>,
    },
    /// Private ECR or ECR Public.
    Ecr(ecr::EcrTarget),
    /// An ACR login server.
    Acr(acr::AcrTarget),
    /// A Google registry, a host rule's mirror, or any host for a dockercfg flow.
    Gcr(gcr::GcrTarget),
    /// A host rule's Vault (or OpenBao) secret.
    Vault(vault::VaultTarget),
}

impl Target {
    /// The backend [`build`] makes of this target.
    pub fn kind(&self) -> BackendKind {
        match self {
            Target::Anonymous { .. } => BackendKind::None,
            Target::File { .. } => BackendKind::File,
            Target::Ecr(target) => target.kind(),
            Target::Acr(_) => BackendKind::Acr,
            Target::Gcr(_) => BackendKind::Gcr,
            Target::Vault(_) => BackendKind::Vault,
        }
    }

    /// What this target asks of its backend, as it goes into the token cache's key: a host
    /// rule's region, registry id, mirror or Vault block (address, identities, path, fields).
    /// So editing a rule in `--config`, whose path alone is in the key, stops runs from
    /// serving what the old rule fetched. The whole `Debug` form, so that a field added to a
    /// target is covered without anyone remembering to add it (it is hashed, never shown; a
    /// target holds paths and names, no secret).
    pub fn cache_scope(&self) -> String {
        format!("{self:?}")
    }
}

/// The backend for `target`. Every backend is built here and only here, from its own options
/// and `--static-cache-duration` (how long answers that carry no expiry may be kept).
pub fn build(target: Target, settings: &Settings) -> Box<dyn Backend> {
    let static_cache = settings.static_cache;
    match target {
        Target::Anonymous { missing_files } => {
            Box::new(anonymous::Anonymous::new(static_cache, missing_files))
        }
        Target::File { matches } => Box::new(file::FileBackend::new(matches, static_cache)),
        Target::Ecr(target) => Box::new(ecr::EcrBackend::new(target)),
        Target::Acr(target) => {
            Box::new(acr::AcrBackend::new(target, &settings.azure, static_cache))
        }
        Target::Gcr(target) => {
            Box::new(gcr::GcrBackend::new(target, &settings.google, static_cache))
        }
        Target::Vault(target) => Box::new(vault::VaultBackend::new(target, static_cache)),
    }
}

/// The error for an image of a cloud this binary was built without (cargo features `aws`,
/// `azure`, `gcp`). Routing still recognises the cloud's hosts in such a build, so the operator
/// learns why instead of seeing an anonymous pull fail.
#[cfg(not(all(feature = "aws", feature = "azure", feature = "gcp")))]
pub fn not_built(kind: BackendKind, registry: &str) -> crate::error::Error {
    let feature = kind.feature().unwrap_or("default");
    crate::error::Error::backend(
        kind.as_str(),
        registry,
        format!(
            "this binary was built without the `{feature}` feature (see `--version`); \
             install a build that has it (the default build has every cloud)"
        ),
    )
}

/// Credentials produced by a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Match pattern → username/password, as kubelet will index them.
    pub auth: BTreeMap<String, AuthConfig>,
    /// The scope kubelet may reuse them for; never wider than the `auth` keys cover.
    pub cache_key_type: CacheKeyType,
    /// How long they stay valid; [`crate::lifetime`] turns it into `cacheDuration`.
    pub lifetime: Lifetime,
    /// Who the credentials belong to, for `check` and error messages (never a secret).
    pub identity: String,
}

/// Everything a backend may look at for one request.
#[derive(Debug, Clone, Copy)]
pub struct FetchContext<'a> {
    /// The normalised image.
    pub image: &'a ImageRef,
    /// The request, for the service-account token and annotations.
    pub request: &'a Request,
    /// When the run must have answered.
    pub deadline: Deadline,
}

/// A source of registry credentials; see the module docs.
pub trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Facts `check` shows before fetching, without touching the network: the decision
    /// [`Backend::fetch`] will execute for this request (whose identity, which flow, region,
    /// files), computed by the same function `fetch` calls, so the dry run and the real run
    /// cannot disagree. Pairs of (label, value); values never hold secrets.
    fn describe(&self, ctx: &FetchContext<'_>) -> Vec<(&'static str, String)>;

    /// Fetches credentials.
    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::classify;

    #[test]
    fn hosts_recognised_by_name_go_to_their_cloud_backend() {
        let names: Vec<&str> = [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "public.ecr.aws",
            "myregistry.azurecr.io",
            "gcr.io",
        ]
        .iter()
        .map(|h| classify(h).map_or("none", |r| BackendKind::from(&r).as_str()))
        .collect();
        assert_eq!(names, ["ecr", "ecr-public", "acr", "gcr"]);
    }
}
