//! The cloud backends' place in the router, before their clients exist.
//!
//! The router already recognises every ECR, ACR and GCR/Artifact Registry host and every
//! host rule, and `check` shows what it parsed from the host (region, partition, cloud). The
//! network clients come with the per-cloud work; until then a claimed image gets a clear error,
//! which kubelet logs, and the pull goes on with other credential sources.

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::error::{Error, Result};
use crate::hosts::{CloudRegistry, GcrKind};
use crate::plugin_config::RuleTarget;

/// What a cloud backend was asked to serve.
#[derive(Debug, Clone)]
pub enum CloudTarget {
    /// A host the cloud grammar recognised.
    Host(CloudRegistry),
    /// A host a rule in `--config` sent to a cloud.
    Rule(RuleTarget),
}

/// A cloud backend whose client is not part of this build.
#[derive(Debug, Clone)]
pub struct CloudBackend {
    /// Which cloud.
    pub kind: BackendKind,
    /// What it would serve.
    pub target: CloudTarget,
}

impl Backend for CloudBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        match &self.target {
            CloudTarget::Host(CloudRegistry::EcrPrivate(h)) => vec![
                ("account", h.account_id.clone()),
                ("region", h.region.clone()),
                ("partition", h.partition.id().to_string()),
                ("fips", h.fips.to_string()),
                ("dual-stack", h.dual_stack.to_string()),
            ],
            CloudTarget::Host(CloudRegistry::EcrPublic(h)) => vec![
                ("region", crate::hosts::ECR_PUBLIC_REGION.to_string()),
                ("dual-stack", h.dual_stack.to_string()),
            ],
            CloudTarget::Host(CloudRegistry::Acr(h)) => {
                let mut facts = vec![
                    ("cloud", h.cloud.name().to_string()),
                    ("registry name", h.registry_name.clone()),
                ];
                if let Some(region) = &h.geo_region {
                    facts.push(("geo replica", region.clone()));
                }
                facts
            }
            CloudTarget::Host(CloudRegistry::Gcr(h)) => vec![(
                "service",
                match &h.kind {
                    GcrKind::ContainerRegistry => "Container Registry".to_string(),
                    GcrKind::ArtifactRegistry { location } => {
                        format!("Artifact Registry, location {location}")
                    }
                    GcrKind::ContainerCloud => "container.cloud.google.com".to_string(),
                },
            )],
            CloudTarget::Rule(RuleTarget::Ecr {
                region,
                registry_id,
            }) => {
                let mut facts = vec![("region", region.clone())];
                if let Some(id) = registry_id {
                    facts.push(("registry id", id.clone()));
                }
                facts
            }
            CloudTarget::Rule(RuleTarget::Acr { registry }) => {
                vec![("token of", registry.clone())]
            }
            CloudTarget::Rule(_) => Vec::new(),
        }
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        Err(Error::backend(
            self.kind.as_str(),
            ctx.image.registry(),
            format!(
                "the {} client is not part of this build yet (this version serves Docker \
                 config files); kubelet continues with its other credential sources",
                self.kind.as_str()
            ),
        ))
    }
}
