//! The `gcr` backend: Google Container Registry, Artifact Registry and
//! `container.cloud.google.com`, as a drop-in for the reference `auth-provider-gcp`.
//!
//! Flows (`--authFlow`):
//! - `gcr` (default): an OAuth access token, sent as username `_token`. Whose token:
//!   1. the pod's, through workload identity, when the kubelet config and the pod opted in
//!      ([`plan`]): STS exchange of the pod's service-account token ([`sts`]), then, when the
//!      service account is annotated `iam.gke.io/gcp-service-account`, that Google service
//!      account's token via IAM Credentials. An opted-in pod whose exchange fails gets an
//!      error, never the node's token;
//!   2. else the node's: a key file named by `GOOGLE_APPLICATION_CREDENTIALS` if set
//!      ([`keyfile`]), else the metadata server ([`metadata`]), and only when that server is
//!      unreachable (off GCE) gcloud's ADC file as the last resort.
//! - `dockercfg` / `dockercfg-url`: a legacy `.dockercfg` from instance metadata
//!   ([`dockercfg`]). These credentials can be for any registry, so with these flows the
//!   router also sends hosts nobody else claims here (see [`crate::dispatch`]).
//!
//! Differences from the reference, on purpose: `cacheDuration` is half the token's remaining
//! life instead of `0s` (which made kubelet hit the metadata server on every pull), the
//! cache type defaults to `Registry`, failures are errors naming registry, flow and identity
//! instead of an empty answer, the four fixed auth keys only come with `--gcr-fixed-keys`, and
//! every network step is bounded. `KUBE_SIDECAR_CACHE_DURATION` / `KUBE_SIDECAR_CACHE_TYPE` are
//! read exactly as the reference reads them, so existing node configs keep their meaning.

pub mod dockercfg;
#[cfg(feature = "gcp")]
mod fetch;
pub mod keyfile;
pub mod metadata;
pub mod sts;

use std::time::Duration;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::annotations::{GKE_ENABLE_WI_IMAGE_PULL, GKE_GCP_SERVICE_ACCOUNT};
use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::Result;
use crate::hosts::{GcrHost, GcrKind};
use crate::log;
use crate::protocol::{CacheKeyType, Request};
use crate::secret::Secret;
use crate::settings::google::{AuthFlow, GoogleSettings};
use keyfile::CREDENTIALS_ENV;

/// The username Google registries expect with an OAuth access token.
// Used by the network half (cargo feature `gcp`) only.
#[cfg_attr(not(feature = "gcp"), allow(dead_code))]
pub const USERNAME: &str = "_token";
/// The reference plugin's fixed auth keys, sent with `--gcr-fixed-keys`.
pub const FIXED_KEYS: [&str; 4] = [
    "container.cloud.google.com",
    "gcr.io",
    "*.gcr.io",
    "*.pkg.dev",
];
/// The reference's override of `cacheDuration` (Go duration text).
pub const CACHE_DURATION_ENV: &str = "KUBE_SIDECAR_CACHE_DURATION";
/// The reference's override of `cacheKeyType` (`image`, `registry`, `global`).
pub const CACHE_TYPE_ENV: &str = "KUBE_SIDECAR_CACHE_TYPE";

/// What the backend serves.
#[derive(Debug, Clone)]
pub enum GcrTarget {
    /// A Google registry host.
    Host(GcrHost),
    /// A host a `--config` rule sent here (a mirror taking Google tokens).
    Rule,
    /// Any host, because a dockercfg flow can hold credentials for it.
    AnyHost,
}

/// The Google backend; see the module docs.
#[derive(Debug, Clone)]
pub struct GcrBackend {
    /// What it serves.
    pub target: GcrTarget,
    /// The Google options.
    pub settings: GoogleSettings,
    /// How long kubelet may cache dockercfg entries, which carry no expiry.
    pub static_cache: Duration,
}

/// Whose credentials a request gets: decided from the options and the request alone, before
/// any network call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The node's identity.
    NodeToken,
    /// The pod's identity through workload identity.
    Pod {
        /// STS audience.
        audience: String,
        /// Google service account to impersonate.
        impersonate: Option<String>,
        /// The pod's service-account token.
        subject: Secret<String>,
    },
    /// Instance attribute `google-dockercfg`.
    DockerCfg,
    /// The URL in instance attribute `google-dockercfg-url`.
    DockerCfgUrl,
}

/// Decides the [`Plan`]. GKE style needs the annotation `iam.gke.io/enable-wi-image-pull`
/// exactly `"true"`, as the reference; a pool audience applies to every request carrying a
/// service-account token, since kubelet sends one only when the provider's `tokenAttributes`
/// ask for it. An opted-in request without a token is an error, not a silent fallback.
pub fn plan(settings: &GoogleSettings, request: &Request) -> std::result::Result<Plan, String> {
    match settings.flow {
        AuthFlow::DockerCfg => return Ok(Plan::DockerCfg),
        AuthFlow::DockerCfgUrl => return Ok(Plan::DockerCfgUrl),
        AuthFlow::Gcr => {}
    }
    let Some((audience, needs_annotation)) = settings.workload_identity() else {
        return Ok(Plan::NodeToken);
    };
    let annotations = &request.service_account_annotations;
    if needs_annotation {
        match annotations
            .get(GKE_ENABLE_WI_IMAGE_PULL)
            .map(String::as_str)
        {
            Some("true") => {}
            other => {
                if let Some(value) = other {
                    log::info(1, || {
                        format!(
                            "{GKE_ENABLE_WI_IMAGE_PULL}={value:?} is not \"true\": node identity"
                        )
                    });
                }
                return Ok(Plan::NodeToken);
            }
        }
    }
    let subject = match &request.service_account_token {
        Some(token) if !token.is_empty() => token.clone(),
        _ if needs_annotation => {
            return Err(format!(
                "the service account opted in with {GKE_ENABLE_WI_IMAGE_PULL}=true but kubelet \
                 sent no service-account token (add tokenAttributes to the provider config)"
            ))
        }
        _ => return Ok(Plan::NodeToken),
    };
    let impersonate = match annotations.get(GKE_GCP_SERVICE_ACCOUNT) {
        Some(email) if !email.trim().is_empty() => {
            let email = email.trim().to_string();
            sts::check_service_account(&email)
                .map_err(|m| format!("annotation {GKE_GCP_SERVICE_ACCOUNT}: {m}"))?;
            Some(email)
        }
        _ => None,
    };
    Ok(Plan::Pod {
        audience,
        impersonate,
        subject,
    })
}

/// `KUBE_SIDECAR_*` overrides, read as the reference reads them: unset or empty means "not
/// set"; an unknown value is an error (the reference fails the whole response too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheOverrides {
    /// `KUBE_SIDECAR_CACHE_DURATION`.
    pub duration: Option<Duration>,
    /// `KUBE_SIDECAR_CACHE_TYPE`.
    pub key_type: Option<CacheKeyType>,
}

impl CacheOverrides {
    /// From the process environment.
    pub fn from_env() -> std::result::Result<CacheOverrides, String> {
        let get = |name: &str| std::env::var(name).ok();
        CacheOverrides::parse(
            get(CACHE_DURATION_ENV).as_deref(),
            get(CACHE_TYPE_ENV).as_deref(),
        )
    }

    /// From the two values.
    pub fn parse(
        duration: Option<&str>,
        key_type: Option<&str>,
    ) -> std::result::Result<CacheOverrides, String> {
        let duration = match duration.filter(|d| !d.is_empty()) {
            None => None,
            Some(text) => {
                let nanos =
                    parse_go_duration(text).map_err(|e| format!("{CACHE_DURATION_ENV}: {e}"))?;
                let nanos = u64::try_from(nanos)
                    .map_err(|_| format!("{CACHE_DURATION_ENV}={text:?} must not be negative"))?;
                Some(Duration::from_nanos(nanos))
            }
        };
        let key_type = match key_type.filter(|t| !t.is_empty()) {
            None => None,
            Some("image") => Some(CacheKeyType::Image),
            Some("registry") => Some(CacheKeyType::Registry),
            Some("global") => Some(CacheKeyType::Global),
            Some(other) => {
                return Err(format!(
                    "{CACHE_TYPE_ENV}={other:?}: choose image, registry or global"
                ))
            }
        };
        Ok(CacheOverrides { duration, key_type })
    }
}

impl GcrBackend {
    /// The backend for `target` with the router's settings.
    pub fn new(target: GcrTarget, settings: &GoogleSettings, static_cache: Duration) -> GcrBackend {
        GcrBackend {
            target,
            settings: settings.clone(),
            static_cache,
        }
    }
}

impl Backend for GcrBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Gcr
    }

    fn describe(&self, ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        match &self.target {
            GcrTarget::Host(h) => facts.push((
                "service",
                match &h.kind {
                    GcrKind::ContainerRegistry => "Container Registry".to_string(),
                    GcrKind::ArtifactRegistry { location } => {
                        format!("Artifact Registry, location {location}")
                    }
                    GcrKind::ContainerCloud => "container.cloud.google.com".to_string(),
                },
            )),
            GcrTarget::Rule => {}
            GcrTarget::AnyHost => facts.push((
                "served by",
                format!(
                    "--authFlow={}: its .dockercfg may hold any registry",
                    self.settings.flow.as_str()
                ),
            )),
        }
        let md_host = metadata::host_from_env().unwrap_or_else(|m| m);
        let flow = match self.settings.flow {
            AuthFlow::Gcr => "gcr (OAuth access token, username _token)".to_string(),
            AuthFlow::DockerCfg => format!(
                "dockercfg (instance attribute {} from metadata server {md_host})",
                dockercfg::DOCKERCFG_ATTRIBUTE
            ),
            AuthFlow::DockerCfgUrl => format!(
                "dockercfg-url (URL in instance attribute {} from metadata server {md_host})",
                dockercfg::DOCKERCFG_URL_ATTRIBUTE
            ),
        };
        facts.push(("flow", flow));
        // The plan fetch executes, from the same function and the same request.
        let decided = plan(&self.settings, ctx.request);
        let identity = match &decided {
            Ok(Plan::NodeToken) => match keyfile::path_from_env() {
                Some(path) => format!(
                    "node: service-account key file {} ({CREDENTIALS_ENV})",
                    path.display()
                ),
                None => {
                    let adc = keyfile::adc_path()
                        .map(|p| format!("; if unreachable, gcloud ADC file {}", p.display()))
                        .unwrap_or_default();
                    format!("node: default service account of metadata server {md_host}{adc}")
                }
            },
            Ok(Plan::Pod {
                audience,
                impersonate,
                ..
            }) => {
                let then = impersonate
                    .as_ref()
                    .map(|email| format!(", then service account {email} impersonated"))
                    .unwrap_or_default();
                format!(
                    "pod: its service-account token exchanged at STS (workload identity, \
                     audience {audience}){then}"
                )
            }
            Ok(Plan::DockerCfg | Plan::DockerCfgUrl) => {
                "none of its own: the .dockercfg entries matching the image".to_string()
            }
            Err(m) => format!("NONE: {m}"),
        };
        facts.push(("identity", identity));
        if self.settings.flow == AuthFlow::Gcr {
            if let (Ok(Plan::NodeToken), Some((audience, needs_annotation))) =
                (&decided, self.settings.workload_identity())
            {
                let who = if needs_annotation {
                    format!(
                        "pods whose service account has {GKE_ENABLE_WI_IMAGE_PULL}: \"true\" and \
                         a service-account token"
                    )
                } else {
                    "requests carrying a service-account token".to_string()
                };
                facts.push((
                    "workload identity",
                    format!(
                        "not this request; used for {who}: STS audience {audience}; \
                         {GKE_GCP_SERVICE_ACCOUNT} selects a service account to impersonate"
                    ),
                ));
            }
            let mut keys = "the image's registry".to_string();
            if self.settings.fixed_keys {
                keys.push_str(" and ");
                keys.push_str(&FIXED_KEYS.join(", "));
            }
            facts.push(("auth keys", keys));
        }
        match CacheOverrides::from_env() {
            Ok(o) => {
                let duration = match (o.duration, self.settings.flow) {
                    (Some(d), _) => format!("{} ({CACHE_DURATION_ENV})", format_go_duration(d)),
                    (None, AuthFlow::Gcr) => "half the token's remaining life".to_string(),
                    (None, _) => format_go_duration(self.static_cache),
                };
                let key_type = o
                    .key_type
                    .map(|t| format!("{} ({CACHE_TYPE_ENV})", t.as_str()))
                    .unwrap_or_else(|| "Registry".to_string());
                facts.push(("cache", format!("{key_type} for {duration}")));
            }
            Err(m) => facts.push(("cache", format!("INVALID: {m}"))),
        }
        facts
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        #[cfg(feature = "gcp")]
        return self.fetch_online(ctx);
        #[cfg(not(feature = "gcp"))]
        return Err(super::not_built(self.kind(), ctx.image.registry()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::{self, fact, Pull};
    use crate::hosts::{classify, CloudRegistry};
    use crate::settings::google::examples::{gke, POOL};

    fn request(token: Option<&str>, annotations: &[(&str, &str)]) -> Request {
        test_pull::request("gcr.io/p/app", token, annotations)
    }

    fn backend(settings: GoogleSettings) -> GcrBackend {
        let Some(CloudRegistry::Gcr(host)) = classify("gcr.io") else {
            panic!("gcr.io is a Google registry");
        };
        GcrBackend::new(GcrTarget::Host(host), &settings, Duration::from_secs(300))
    }

    #[test]
    fn describe_shows_the_plan_fetch_runs_for_the_request() {
        let b = backend(gke());
        let audience = "identitynamespace:p.svc.id.goog:https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
        let opted_in = Pull::new(
            "gcr.io/p/app",
            Some("jwt"),
            &[
                (GKE_ENABLE_WI_IMAGE_PULL, "true"),
                (GKE_GCP_SERVICE_ACCOUNT, "puller@p.iam.gserviceaccount.com"),
            ],
        );
        let facts = b.describe(&opted_in.context());
        assert_eq!(
            fact(&facts, "identity").unwrap(),
            format!(
                "pod: its service-account token exchanged at STS (workload identity, audience \
                 {audience}), then service account puller@p.iam.gserviceaccount.com impersonated"
            )
        );
        assert_eq!(fact(&facts, "workload identity"), None, "{facts:?}");
        assert!(!format!("{facts:?}").contains("jwt"), "{facts:?}");

        // The same token without the opt-in annotation: the node's identity, as plan decides.
        let not_opted_in = Pull::new("gcr.io/p/app", Some("jwt"), &[]);
        let facts = b.describe(&not_opted_in.context());
        assert!(
            fact(&facts, "identity").unwrap().starts_with("node: "),
            "{facts:?}"
        );
        let wi = fact(&facts, "workload identity").unwrap();
        assert!(
            wi.starts_with("not this request; ") && wi.contains(audience),
            "{wi}"
        );

        // A pool audience needs no annotation: a token is enough.
        let pool = backend(GoogleSettings {
            workload_identity_audience: Some(POOL.into()),
            ..Default::default()
        });
        let facts = pool.describe(&not_opted_in.context());
        assert_eq!(
            fact(&facts, "identity").unwrap(),
            format!(
                "pod: its service-account token exchanged at STS (workload identity, audience \
                 {POOL})"
            )
        );
        let facts = pool.describe(&Pull::new("gcr.io/p/app", None, &[]).context());
        assert!(fact(&facts, "identity").unwrap().starts_with("node: "));

        let dockercfg = backend(GoogleSettings {
            flow: AuthFlow::DockerCfg,
            ..gke()
        });
        assert_eq!(
            fact(&dockercfg.describe(&opted_in.context()), "identity").unwrap(),
            "none of its own: the .dockercfg entries matching the image"
        );
    }

    #[test]
    fn describe_and_fetch_refuse_an_opted_in_pod_without_a_token_alike() {
        let b = backend(gke());
        let pull = Pull::new("gcr.io/p/app", None, &[(GKE_ENABLE_WI_IMAGE_PULL, "true")]);
        let why = plan(&b.settings, &pull.request).unwrap_err();
        assert_eq!(
            fact(&b.describe(&pull.context()), "identity").unwrap(),
            format!("NONE: {why}")
        );
        // The plan fails before any network step, so fetch can run here.
        #[cfg(feature = "gcp")]
        if CacheOverrides::from_env().is_ok() {
            let e = b.fetch(&pull.context()).unwrap_err().to_string();
            assert!(e.contains(&why), "{e}");
        }
    }

    #[test]
    fn gke_style_needs_the_annotation_exactly_true() {
        let s = gke();
        let audience = "identitynamespace:p.svc.id.goog:https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
        assert_eq!(
            plan(
                &s,
                &request(Some("jwt"), &[(GKE_ENABLE_WI_IMAGE_PULL, "true")])
            )
            .unwrap(),
            Plan::Pod {
                audience: audience.into(),
                impersonate: None,
                subject: Secret::new("jwt".into())
            }
        );
        for value in ["True", "yes", ""] {
            assert_eq!(
                plan(
                    &s,
                    &request(Some("jwt"), &[(GKE_ENABLE_WI_IMAGE_PULL, value)])
                )
                .unwrap(),
                Plan::NodeToken
            );
        }
        assert_eq!(
            plan(&s, &request(Some("jwt"), &[])).unwrap(),
            Plan::NodeToken
        );
        // Opted in without a token: an error, never the node's token.
        let e = plan(&s, &request(None, &[(GKE_ENABLE_WI_IMAGE_PULL, "true")])).unwrap_err();
        assert!(e.contains("tokenAttributes"), "{e}");
        // Without the flags nothing is exchanged.
        assert_eq!(
            plan(
                &GoogleSettings::default(),
                &request(Some("jwt"), &[(GKE_ENABLE_WI_IMAGE_PULL, "true")])
            )
            .unwrap(),
            Plan::NodeToken
        );
    }

    #[test]
    fn pool_audience_applies_to_requests_with_a_token_and_impersonates() {
        let s = GoogleSettings {
            workload_identity_audience: Some(POOL.into()),
            ..Default::default()
        };
        assert_eq!(plan(&s, &request(None, &[])).unwrap(), Plan::NodeToken);
        assert_eq!(
            plan(
                &s,
                &request(
                    Some("jwt"),
                    &[(GKE_GCP_SERVICE_ACCOUNT, "puller@p.iam.gserviceaccount.com")]
                )
            )
            .unwrap(),
            Plan::Pod {
                audience: POOL.into(),
                impersonate: Some("puller@p.iam.gserviceaccount.com".into()),
                subject: Secret::new("jwt".into())
            }
        );
        let e = plan(
            &s,
            &request(Some("jwt"), &[(GKE_GCP_SERVICE_ACCOUNT, "x/y")]),
        )
        .unwrap_err();
        assert!(e.contains(GKE_GCP_SERVICE_ACCOUNT), "{e}");
    }

    #[test]
    fn dockercfg_flows_ignore_workload_identity() {
        let mut s = gke();
        s.flow = AuthFlow::DockerCfgUrl;
        assert_eq!(
            plan(
                &s,
                &request(Some("jwt"), &[(GKE_ENABLE_WI_IMAGE_PULL, "true")])
            )
            .unwrap(),
            Plan::DockerCfgUrl
        );
    }

    #[test]
    fn sidecar_overrides_read_as_the_reference() {
        assert_eq!(
            CacheOverrides::parse(None, None).unwrap(),
            CacheOverrides::default()
        );
        assert_eq!(
            CacheOverrides::parse(Some(""), Some("")).unwrap(),
            CacheOverrides::default()
        );
        let o = CacheOverrides::parse(Some("1h30m"), Some("global")).unwrap();
        assert_eq!(o.duration, Some(Duration::from_secs(5400)));
        assert_eq!(o.key_type, Some(CacheKeyType::Global));
        assert_eq!(
            CacheOverrides::parse(Some("0s"), Some("image")).unwrap(),
            CacheOverrides {
                duration: Some(Duration::ZERO),
                key_type: Some(CacheKeyType::Image)
            }
        );
        assert!(CacheOverrides::parse(Some("10"), None).is_err());
        assert!(CacheOverrides::parse(Some("-1m"), None).is_err());
        assert!(CacheOverrides::parse(None, Some("Registry")).is_err());
    }
}
