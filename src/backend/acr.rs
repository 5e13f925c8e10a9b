//! The `acr` backend: Azure Container Registry credentials, as AKS's `acr-credential-provider`
//! gives them, with its known problems fixed.
//!
//! Which identity pulls, first that applies:
//! 1. the pod's (kubelet 1.33+ `tokenAttributes`): the request carries a service-account token
//!    and the service account is annotated with a client id
//!    (`kubernetes.azure.com/acr-client-id`, else `azure.workload.identity/client-id`); the
//!    token is the client assertion for that identity, in the annotated tenant
//!    (`kubernetes.azure.com/acr-tenant-id`, else `azure.workload.identity/tenant-id`, else
//!    azure.json's `tenantId`);
//! 2. the node's managed identity when azure.json says `useManagedIdentityExtension: true`
//!    (user-assigned when `userAssignedIdentityID` is set), or when there is no azure.json;
//! 3. the service principal `aadClientId`/`aadClientSecret`: like the reference, by default
//!    returned as username/password without any network call; with
//!    `--azure-sp-token-exchange` its Entra token is exchanged like the others, so the
//!    registry sees a short-lived token instead of the long-lived secret.
//!
//! Token identities then go through [`entra`] (Entra token for ACR's scope) and [`exchange`]
//! (challenge, realm check, `/oauth2/exchange`); the answer is user
//! `00000000-0000-0000-0000-000000000000` with the ACR refresh token, `cacheKeyType: Registry`,
//! keyed by the registry host and, for a mirror, the mirror's host too.
//!
//! Nothing here runs for hosts the router did not give to ACR, and clients, TLS set-up and the
//! runtime are built only in [`Backend::fetch`].

pub mod azure_config;
pub mod challenge;
#[cfg(feature = "azure")]
pub mod entra;
pub mod exchange;
#[cfg(feature = "azure")]
mod fetch;

use std::sync::OnceLock;
use std::time::Duration;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::annotations;
use crate::error::Result;
use crate::hosts::{self, CloudRegistry};
use crate::image::ImageRef;
use crate::secret::Secret;
use crate::settings::azure::{find_mirror, AzureSettings};
use azure_config::{AzureConfig, Cloud, UserAssigned};

/// The login server the router chose (the image's, or the one a mirror or host rule points
/// to), with azure.json when routing already had to read it.
#[derive(Debug, Clone)]
pub struct AcrTarget {
    /// The login server whose token is fetched.
    pub registry: String,
    /// azure.json as recognising a custom-cloud host read it, so fetch does not read it again.
    pub config: Option<AzureConfig>,
}

impl AcrTarget {
    /// The login server `registry`, azure.json not read yet.
    pub fn registry(registry: &str) -> AcrTarget {
        AcrTarget {
            registry: registry.to_string(),
            config: None,
        }
    }
}

/// Serves one ACR login server.
pub struct AcrBackend {
    /// The login server whose token is fetched.
    registry: String,
    settings: AzureSettings,
    /// How long a service principal's secret may be cached (it carries no expiry); read by
    /// the network half only.
    #[cfg_attr(not(feature = "azure"), allow(dead_code))]
    static_cache: Duration,
    config: OnceLock<std::result::Result<Option<AzureConfig>, String>>,
}

impl AcrBackend {
    /// The backend for `target` with the Azure options and `--static-cache-duration`.
    pub fn new(target: AcrTarget, settings: &AzureSettings, static_cache: Duration) -> AcrBackend {
        let config = OnceLock::new();
        if let Some(loaded) = target.config {
            // Keep what routing just read: fetch would read the same file again.
            let _ = config.set(Ok(Some(loaded)));
        }
        AcrBackend {
            registry: target.registry,
            settings: settings.clone(),
            static_cache,
            config,
        }
    }

    fn config(&self) -> std::result::Result<Option<&AzureConfig>, String> {
        let loaded = self.config.get_or_init(|| match &self.settings.config {
            None => Ok(None),
            Some(path) => AzureConfig::load(path).map(Some),
        });
        match loaded {
            Ok(c) => Ok(c.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    /// The cloud of the flow: azure.json's, else the one the registry's suffix belongs to.
    fn cloud(&self, config: Option<&AzureConfig>) -> Cloud {
        if let Some(c) = config {
            return c.cloud.clone();
        }
        match hosts::classify(&self.registry) {
            Some(CloudRegistry::Acr(h)) => Cloud {
                name: h.cloud.name().to_string(),
                authority: azure_config::authority_of(h.cloud).to_string(),
                known: Some(h.cloud),
                registry_suffix: None,
            },
            _ => Cloud::public(),
        }
    }
}

/// A mirror source the image is on: its target and why. Only compares strings.
pub fn route_mirror(image: &ImageRef, settings: &AzureSettings) -> Option<(AcrTarget, String)> {
    let m = find_mirror(&settings.mirrors, image.registry())?;
    Some((
        AcrTarget::registry(&m.target),
        format!(
            "--registry-mirror maps {} to ACR login server {}",
            m.source, m.target
        ),
    ))
}

/// A login server of azure.json's custom cloud (`<name>.<containerRegistryDNSSuffix>`): its
/// target and why. Reads azure.json (a small local file, no client) only when one is
/// configured and no other rule claimed the host; an unreadable file claims nothing here (ACR
/// hosts report it on fetch).
pub fn route_custom_suffix(
    image: &ImageRef,
    settings: &AzureSettings,
) -> Option<(AcrTarget, String)> {
    let path = settings.config.as_ref()?;
    let config = AzureConfig::load(path).ok()?;
    let suffix = config.cloud.registry_suffix.clone()?;
    if !hosts::is_acr_custom_cloud_host(image.host(), &suffix) || image.port().is_some() {
        return None;
    }
    let reason = format!(
        "host is <name>.{suffix}, the registry suffix of cloud {} in {}",
        config.cloud.name,
        path.display()
    );
    let target = AcrTarget {
        registry: image.host().to_string(),
        config: Some(config),
    };
    Some((target, reason))
}

/// Where an Entra token comes from.
#[derive(Debug, Clone)]
// The tenants and secrets are read by the network half (cargo feature `azure`) only.
#[cfg_attr(not(feature = "azure"), allow(dead_code))]
pub enum Source {
    /// The node's managed identity through IMDS; `None` is the system-assigned one.
    Managed(Option<UserAssigned>),
    /// A service principal's client secret.
    ClientSecret {
        /// Tenant of the service principal.
        tenant: String,
        /// Its client id.
        client_id: String,
        /// Its secret.
        secret: Secret<String>,
    },
    /// The pod's service-account token as a client assertion (workload identity federation).
    PodToken {
        /// Tenant of the federated identity.
        tenant: String,
        /// Client id of the federated identity.
        client_id: String,
        /// The pod's service-account token.
        token: Secret<String>,
    },
}

/// Who pulls, as chosen for one request.
enum Identity {
    /// Service principal secret as registry password (no network).
    Static {
        client_id: String,
        /// Read by the network half only.
        #[cfg_attr(not(feature = "azure"), allow(dead_code))]
        secret: Secret<String>,
    },
    /// An Entra token, exchanged for an ACR refresh token.
    Token {
        source: Source,
        /// The tenant, when known before the token (always except managed identity without
        /// `tenantId`).
        tenant: Option<String>,
    },
}

impl Identity {
    /// "managed identity system-assigned", "workload identity <client id>", … (never a secret).
    fn label(&self) -> String {
        match self {
            Identity::Static { client_id, .. } => {
                format!("service principal {client_id} (secret as password)")
            }
            Identity::Token { source, .. } => match source {
                Source::Managed(None) => "managed identity system-assigned".into(),
                Source::Managed(Some(u)) => format!("managed identity {}", u.id()),
                Source::ClientSecret { client_id, .. } => format!("service principal {client_id}"),
                Source::PodToken { client_id, .. } => {
                    format!("workload identity {client_id} (pod service-account token)")
                }
            },
        }
    }
}

/// The identity for `request` (None: node identity) per the module docs.
fn select_identity(
    request: Option<&crate::protocol::Request>,
    config: Option<&AzureConfig>,
    sp_token_exchange: bool,
) -> std::result::Result<Identity, String> {
    if let Some(request) = request {
        let ann = |keys: [&str; 2]| {
            keys.iter().find_map(|k| {
                request
                    .service_account_annotations
                    .get(*k)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            })
        };
        let client_id = ann([
            annotations::AZURE_ACR_CLIENT_ID,
            annotations::AZURE_WI_CLIENT_ID,
        ]);
        if let (Some(token), Some(client_id)) = (&request.service_account_token, client_id) {
            let tenant = ann([
                annotations::AZURE_ACR_TENANT_ID,
                annotations::AZURE_WI_TENANT_ID,
            ])
            .or_else(|| config.and_then(|c| c.tenant_id.clone()))
            .ok_or_else(|| {
                format!(
                    "workload identity {client_id}: no tenant: annotate the service account \
                         with {} or set tenantId in azure.json",
                    annotations::AZURE_ACR_TENANT_ID
                )
            })?;
            return Ok(Identity::Token {
                source: Source::PodToken {
                    tenant: tenant.clone(),
                    client_id,
                    token: token.clone(),
                },
                tenant: Some(tenant),
            });
        }
    }
    let Some(config) = config else {
        return Ok(Identity::Token {
            source: Source::Managed(None),
            tenant: None,
        });
    };
    if config.use_managed_identity {
        return Ok(Identity::Token {
            source: Source::Managed(config.user_assigned.clone()),
            tenant: config.tenant_id.clone(),
        });
    }
    match (&config.client_id, &config.client_secret) {
        (Some(client_id), Some(secret)) if !sp_token_exchange => Ok(Identity::Static {
            client_id: client_id.clone(),
            secret: secret.clone(),
        }),
        (Some(client_id), Some(secret)) => {
            let tenant = config.tenant_id.clone().ok_or_else(|| {
                format!("service principal {client_id}: azure.json has no tenantId")
            })?;
            Ok(Identity::Token {
                source: Source::ClientSecret {
                    tenant: tenant.clone(),
                    client_id: client_id.clone(),
                    secret: secret.clone(),
                },
                tenant: Some(tenant),
            })
        }
        _ => Err(format!(
            "{} names no identity: set useManagedIdentityExtension: true, or aadClientId and \
             aadClientSecret",
            config.path.display()
        )),
    }
}

impl Backend for AcrBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Acr
    }

    fn describe(&self, ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        let config = self.config();
        let ok_config = config.as_ref().ok().copied().flatten();
        let cloud = self.cloud(ok_config);
        facts.push(("cloud", cloud.name.clone()));
        facts.push(("login server", self.registry.clone()));
        if let Some(CloudRegistry::Acr(h)) = hosts::classify(&self.registry) {
            if let Some(region) = &h.geo_region {
                facts.push(("geo replica", region.clone()));
            }
        }
        match (&self.settings.config, &config) {
            (None, _) => facts.push(("azure config", "none (node managed identity)".into())),
            (Some(p), Ok(_)) => facts.push(("azure config", p.display().to_string())),
            (Some(_), Err(e)) => facts.push(("azure config", format!("UNUSABLE: {e}"))),
        }
        if config.is_ok() {
            // The choice fetch makes, for the same request.
            let chosen = select_identity(
                Some(ctx.request),
                ok_config,
                self.settings.sp_token_exchange,
            );
            match chosen {
                Ok(identity) => {
                    facts.push(("identity", identity.label()));
                    let tenant = match &identity {
                        Identity::Token {
                            tenant: Some(t), ..
                        } => t.clone(),
                        Identity::Token { tenant: None, .. } => {
                            "from the Entra token (no tenantId in azure.json)".into()
                        }
                        Identity::Static { .. } => ok_config
                            .and_then(|c| c.tenant_id.clone())
                            .unwrap_or_else(|| "-".into()),
                    };
                    facts.push(("tenant", tenant));
                    if !matches!(
                        identity,
                        Identity::Token {
                            source: Source::PodToken { .. },
                            ..
                        }
                    ) {
                        facts.push((
                            "pod identity",
                            format!(
                                "not this request; used when kubelet sends a service-account \
                                 token and the account is annotated with a client id ({} or {})",
                                annotations::AZURE_ACR_CLIENT_ID,
                                annotations::AZURE_WI_CLIENT_ID
                            ),
                        ));
                    }
                }
                Err(e) => facts.push(("identity", format!("NONE: {e}"))),
            }
        }
        if let Some(rme) = ok_config.and_then(|c| c.resource_manager_endpoint.clone()) {
            facts.push(("resource manager", rme));
        }
        facts
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        #[cfg(feature = "azure")]
        return self.fetch_with_sdk(ctx);
        #[cfg(not(feature = "azure"))]
        return Err(super::not_built(self.kind(), ctx.image.registry()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::{self, fact, Pull};
    use crate::protocol::Request;
    use std::path::Path;

    fn request(token: Option<&str>, annotations: &[(&str, &str)]) -> Request {
        test_pull::request("myacr.azurecr.io/app", token, annotations)
    }

    /// The backend for `myacr.azurecr.io` on a node without azure.json.
    fn backend_without_azure_json() -> AcrBackend {
        AcrBackend::new(
            AcrTarget::registry("myacr.azurecr.io"),
            &AzureSettings::default(),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn describe_shows_the_identity_fetch_selects_for_the_request() {
        let b = backend_without_azure_json();
        let pod = Pull::new(
            "myacr.azurecr.io/app",
            Some("pod-token"),
            &[
                (annotations::AZURE_ACR_CLIENT_ID, "pod-client"),
                (annotations::AZURE_ACR_TENANT_ID, "pod-tenant"),
            ],
        );
        let facts = b.describe(&pod.context());
        assert_eq!(
            fact(&facts, "identity").unwrap(),
            "workload identity pod-client (pod service-account token)"
        );
        assert_eq!(fact(&facts, "tenant").unwrap(), "pod-tenant");
        assert_eq!(fact(&facts, "pod identity"), None);
        assert!(!format!("{facts:?}").contains("pod-token"), "{facts:?}");

        let node = Pull::new("myacr.azurecr.io/app", None, &[]);
        let facts = b.describe(&node.context());
        assert_eq!(
            fact(&facts, "identity").unwrap(),
            "managed identity system-assigned"
        );
        assert!(fact(&facts, "pod identity")
            .unwrap()
            .starts_with("not this request; "));
    }

    #[test]
    fn describe_and_fetch_refuse_a_pod_without_a_tenant_alike() {
        let b = backend_without_azure_json();
        let pull = Pull::new(
            "myacr.azurecr.io/app",
            Some("pod-token"),
            &[(annotations::AZURE_ACR_CLIENT_ID, "pod-client")],
        );
        let why = select_identity(Some(&pull.request), None, false)
            .err()
            .unwrap();
        assert_eq!(
            fact(&b.describe(&pull.context()), "identity").unwrap(),
            format!("NONE: {why}")
        );
        // The selection fails before any network step, so fetch can run here.
        #[cfg(feature = "azure")]
        {
            let e = b.fetch(&pull.context()).unwrap_err().to_string();
            assert!(e.contains(&why), "{e}");
        }
    }

    fn config(text: &str) -> AzureConfig {
        AzureConfig::parse(
            Path::new("/etc/kubernetes/azure.json"),
            text.as_bytes(),
            None,
        )
        .unwrap()
    }

    fn pod(identity: &Identity) -> (&str, &str, &str) {
        match identity {
            Identity::Token {
                source:
                    Source::PodToken {
                        tenant,
                        client_id,
                        token,
                    },
                ..
            } => (tenant, client_id, token.expose()),
            _ => panic!("not a pod identity: {}", identity.label()),
        }
    }

    #[test]
    fn pod_identity_prefers_the_acr_annotations() {
        let c = config(r#"{"tenantId":"node-tenant","useManagedIdentityExtension":true}"#);
        let r = request(
            Some("pod-token"),
            &[
                (annotations::AZURE_ACR_CLIENT_ID, "acr-client"),
                (annotations::AZURE_WI_CLIENT_ID, "wi-client"),
                (annotations::AZURE_ACR_TENANT_ID, "acr-tenant"),
                (annotations::AZURE_WI_TENANT_ID, "wi-tenant"),
            ],
        );
        let id = select_identity(Some(&r), Some(&c), false).unwrap();
        assert_eq!(pod(&id), ("acr-tenant", "acr-client", "pod-token"));
    }

    #[test]
    fn pod_identity_falls_back_to_workload_identity_keys_then_config_tenant() {
        let c = config(r#"{"tenantId":"node-tenant","useManagedIdentityExtension":true}"#);
        let r = request(
            Some("t"),
            &[
                (annotations::AZURE_WI_CLIENT_ID, "wi-client"),
                (annotations::AZURE_WI_TENANT_ID, "wi-tenant"),
            ],
        );
        assert_eq!(
            pod(&select_identity(Some(&r), Some(&c), false).unwrap()),
            ("wi-tenant", "wi-client", "t")
        );
        let r = request(Some("t"), &[(annotations::AZURE_ACR_CLIENT_ID, "c")]);
        assert_eq!(
            pod(&select_identity(Some(&r), Some(&c), false).unwrap()),
            ("node-tenant", "c", "t")
        );
        let e = select_identity(Some(&r), None, false).err().unwrap();
        assert!(e.contains("no tenant"), "{e}");
    }

    #[test]
    fn without_token_or_client_id_the_node_identity_is_used() {
        let c = config(
            r#"{"tenantId":"t","useManagedIdentityExtension":true,"userAssignedIdentityID":"uai"}"#,
        );
        let no_client = request(Some("t"), &[]);
        let no_token = request(None, &[(annotations::AZURE_ACR_CLIENT_ID, "c")]);
        for r in [&no_client, &no_token] {
            let id = select_identity(Some(r), Some(&c), false).unwrap();
            assert_eq!(id.label(), "managed identity uai");
        }
        assert_eq!(
            select_identity(None, None, false).unwrap().label(),
            "managed identity system-assigned"
        );
    }

    #[test]
    fn service_principal_static_or_exchanged() {
        let c = config(r#"{"tenantId":"t","aadClientId":"sp","aadClientSecret":"s3cret"}"#);
        match select_identity(None, Some(&c), false).unwrap() {
            Identity::Static { client_id, secret } => {
                assert_eq!(client_id, "sp");
                assert_eq!(secret.expose(), "s3cret");
            }
            other => panic!("{}", other.label()),
        }
        assert_eq!(
            select_identity(None, Some(&c), true).unwrap().label(),
            "service principal sp"
        );
        let none = config(r#"{"tenantId":"t"}"#);
        assert!(select_identity(None, Some(&none), false).is_err());
        let no_tenant = config(r#"{"aadClientId":"sp","aadClientSecret":"x"}"#);
        assert!(select_identity(None, Some(&no_tenant), true).is_err());
    }
}
