//! The AWS backend: private ECR (every partition, FIPS, dual-stack), ECR Public, host rules for
//! mirrors, and pod-identity pulls.
//!
//! One call per run: `GetAuthorizationToken` of ECR (in the registry's region) or of ECR Public
//! (always `us-east-1`), whose token is base64 of `AWS:<password>`. The identity is the node's
//! default AWS credential chain, unless kubelet sent a service-account token and a role is named
//! (annotation or `AWS_ECR_ROLE_ARN`): then STS `AssumeRoleWithWebIdentity` turns the pod's token
//! into that role's credentials first.
//!
//! Everything that touches the SDK happens inside [`Backend::fetch`], under the run's deadline:
//! routing, `describe` and unclaimed hosts never build a client, read a profile or load a trust
//! store. The region always comes from the host or the host rule, so the SDK never asks instance
//! metadata for it (the credential chain's last step, IMDSv2, is only reached on a node with no
//! other credentials).

use std::collections::BTreeMap;

use base64::Engine as _;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::annotations;
use crate::error::Result;
use crate::hosts::{AwsPartition, EcrHost, EcrPublicHost, ECR_PUBLIC_REGION};
use crate::image::ImageRef;
use crate::protocol::{AuthConfig, Request};
use crate::secret::Secret;

#[cfg(feature = "aws")]
mod sdk;
#[cfg(feature = "aws")]
mod sdk_files;

/// Environment variable naming the role for pod-identity pulls when the service account has no
/// role annotation (as in the reference plugin).
pub const ROLE_ARN_ENV: &str = "AWS_ECR_ROLE_ARN";
/// The STS session name of pod-identity pulls; shows up in CloudTrail as the role session.
// Used by the SDK half (cargo feature `aws`) and the unit tests only.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub const SESSION_NAME: &str = "ecr-credential-provider";

/// What the AWS backend was asked to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrTarget {
    /// A private ECR host recognised by name.
    Private(EcrHost),
    /// The ECR Public host recognised by name.
    Public(EcrPublicHost),
    /// A host rule: private ECR in `region` for a mirror or pull-through cache.
    PrivateRule {
        /// Region of the registry behind the mirror.
        region: String,
        /// Registry (account) id, when the rule gives one.
        registry_id: Option<String>,
    },
    /// A host rule: ECR Public for a mirror.
    PublicRule,
}

impl EcrTarget {
    /// `ecr` or `ecr-public`: which token API the target calls.
    pub fn kind(&self) -> BackendKind {
        match self {
            EcrTarget::Private(_) | EcrTarget::PrivateRule { .. } => BackendKind::Ecr,
            EcrTarget::Public(_) | EcrTarget::PublicRule => BackendKind::EcrPublic,
        }
    }
}

/// The AWS backend; see the module docs.
#[derive(Debug, Clone)]
pub struct EcrBackend {
    /// What to serve.
    pub target: EcrTarget,
}

/// Which token API a target calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`.
    Ecr,
    /// `SpencerFrontendService.GetAuthorizationToken`.
    EcrPublic,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Ecr => "ECR",
            Api::EcrPublic => "ECR Public",
        }
    }
}

/// Where and how to call the token API: all of it decided from the host or rule, before any
/// SDK work.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiPlan {
    api: Api,
    region: String,
    /// The host asks for FIPS endpoints.
    fips: bool,
    /// The host asks for dual-stack endpoints.
    dual_stack: bool,
    /// Passed as `registryIds` (a host rule's `registryId`).
    registry_id: Option<String>,
}

/// Whose credentials sign the token call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChoice {
    /// The node's default credential chain.
    Node,
    /// Assume `arn` with the pod's service-account token; `source` says where the ARN came from.
    Pod {
        /// The role ARN.
        arn: String,
        /// The annotation key or environment variable that named it.
        source: &'static str,
    },
}

/// Picks the role of a pod-identity pull: annotation `eks.amazonaws.com/ecr-role-arn`, else
/// `eks.amazonaws.com/role-arn` (the IRSA annotation most service accounts already carry), else
/// `env_role` (`AWS_ECR_ROLE_ARN`). Blank values count as absent, so an empty annotation does not
/// hide the next source. Without a service-account token there is nothing to assume a role
/// with, and the node's credentials are used whatever is configured.
pub fn choose_role(
    has_token: bool,
    annotations: &BTreeMap<String, String>,
    env_role: Option<&str>,
) -> RoleChoice {
    if !has_token {
        return RoleChoice::Node;
    }
    for key in [annotations::AWS_ECR_ROLE_ARN, annotations::AWS_ROLE_ARN] {
        if let Some(arn) = annotations.get(key).map(|v| v.trim()) {
            if !arn.is_empty() {
                return RoleChoice::Pod {
                    arn: arn.to_string(),
                    source: key,
                };
            }
        }
    }
    match env_role.map(str::trim) {
        Some(arn) if !arn.is_empty() => RoleChoice::Pod {
            arn: arn.to_string(),
            source: ROLE_ARN_ENV,
        },
        _ => RoleChoice::Node,
    }
}

/// The role choice for `request`, with `AWS_ECR_ROLE_ARN` read from the environment: what
/// [`Backend::fetch`] executes and [`Backend::describe`] shows.
fn role_for(request: &Request) -> RoleChoice {
    let env_role = std::env::var(ROLE_ARN_ENV).ok();
    choose_role(
        request.service_account_token.is_some(),
        &request.service_account_annotations,
        env_role.as_deref(),
    )
}

/// Why an authorization token could not be decoded. Never carries any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Used by the SDK half (cargo feature `aws`) and the unit tests only.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub enum TokenError {
    /// Not valid base64.
    Base64,
    /// Decoded bytes are not UTF-8.
    Utf8,
    /// No `:` between user name and password.
    NoColon,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Base64 => "the authorization token is not valid base64",
            TokenError::Utf8 => "the decoded authorization token is not UTF-8",
            TokenError::NoColon => "the decoded authorization token has no ':' after the user name",
        })
    }
}

/// Decodes an ECR authorization token (base64 of `AWS:<password>`) into user name and password,
/// split at the first `:` (a password may itself contain `:`).
// Used by the SDK half (cargo feature `aws`) and the unit tests only.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub fn decode_token(token: &str) -> std::result::Result<AuthConfig, TokenError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| TokenError::Base64)?;
    let text = String::from_utf8(bytes).map_err(|_| TokenError::Utf8)?;
    let (user, password) = text.split_once(':').ok_or(TokenError::NoColon)?;
    Ok(AuthConfig {
        username: user.to_string(),
        password: Secret::new(password.to_string()),
    })
}

/// The `auth` keys for an image. A host recognised by name answers for the bare host and, when
/// the image names a port, for `host:port` too: kubelet matches a key's port exactly, and the
/// `Registry` cache key is `host[:port]`. A host rule answers for the image's `host[:port]`
/// only: the rule, not the name, claimed that registry.
// Used by the SDK half (cargo feature `aws`) and the unit tests only.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub fn auth_keys(image: &ImageRef, from_rule: bool) -> Vec<String> {
    let mut keys = Vec::new();
    if !from_rule || image.port().is_none() {
        keys.push(image.host().to_string());
    }
    if image.port().is_some() {
        keys.push(image.registry().to_string());
    }
    keys
}

impl EcrBackend {
    /// The backend for `target`; it needs no other option.
    pub fn new(target: EcrTarget) -> EcrBackend {
        EcrBackend { target }
    }

    fn plan(&self) -> ApiPlan {
        match &self.target {
            EcrTarget::Private(h) => ApiPlan {
                api: Api::Ecr,
                region: h.region.clone(),
                fips: h.fips,
                dual_stack: h.dual_stack,
                registry_id: None,
            },
            EcrTarget::Public(h) => ApiPlan {
                api: Api::EcrPublic,
                region: ECR_PUBLIC_REGION.to_string(),
                fips: false,
                dual_stack: h.dual_stack,
                registry_id: None,
            },
            EcrTarget::PrivateRule {
                region,
                registry_id,
            } => ApiPlan {
                api: Api::Ecr,
                region: region.clone(),
                fips: false,
                dual_stack: false,
                registry_id: registry_id.clone(),
            },
            EcrTarget::PublicRule => ApiPlan {
                api: Api::EcrPublic,
                region: ECR_PUBLIC_REGION.to_string(),
                fips: false,
                dual_stack: false,
                registry_id: None,
            },
        }
    }

    /// Whether a host rule, not the host's name, chose this backend (the network half answers
    /// for fewer keys then).
    #[cfg(feature = "aws")]
    fn is_rule(&self) -> bool {
        matches!(
            self.target,
            EcrTarget::PrivateRule { .. } | EcrTarget::PublicRule
        )
    }
}

impl Backend for EcrBackend {
    fn kind(&self) -> BackendKind {
        self.target.kind()
    }

    fn describe(&self, ctx: &FetchContext<'_>) -> Vec<(&'static str, String)> {
        let plan = self.plan();
        let mut facts = Vec::new();
        match &self.target {
            EcrTarget::Private(h) => facts.push(("account", h.account_id.clone())),
            EcrTarget::PrivateRule {
                registry_id: Some(id),
                ..
            } => facts.push(("registry id", id.clone())),
            _ => {}
        }
        facts.push(("api", format!("{} GetAuthorizationToken", plan.api.name())));
        facts.push(("region", plan.region.clone()));
        facts.push((
            "partition",
            AwsPartition::of_region(&plan.region).id().to_string(),
        ));
        facts.push(("fips", plan.fips.to_string()));
        facts.push(("dual-stack", plan.dual_stack.to_string()));
        if let Some((var, url)) = endpoint_override_env(plan.api) {
            facts.push(("endpoint", format!("{url} (from {var})")));
        }
        match role_for(ctx.request) {
            RoleChoice::Node => {
                facts.push((
                    "identity",
                    "node: the default AWS credential chain".to_string(),
                ));
                let env_role = std::env::var(ROLE_ARN_ENV)
                    .ok()
                    .filter(|v| !v.trim().is_empty());
                facts.push((
                    "pod identity",
                    format!(
                        "not this request; used when kubelet sends a service-account token and a \
                         role is named: annotation {} or {}{}",
                        annotations::AWS_ECR_ROLE_ARN,
                        annotations::AWS_ROLE_ARN,
                        match env_role {
                            Some(arn) => format!(", else {ROLE_ARN_ENV}={arn}"),
                            None => format!(", else {ROLE_ARN_ENV} (unset)"),
                        }
                    ),
                ));
            }
            RoleChoice::Pod { arn, source } => facts.push((
                "identity",
                format!(
                    "pod: role {arn} (from {source}), assumed with the pod's service-account \
                     token (STS AssumeRoleWithWebIdentity in {})",
                    plan.region
                ),
            )),
        }
        facts
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        // The SDK's own files are screened first: it reads them with blocking reads that
        // nothing in the run can interrupt.
        #[cfg(feature = "aws")]
        return sdk_files::screen()
            .map_err(|m| {
                crate::error::Error::backend(self.kind().as_str(), ctx.image.registry(), m)
            })
            .and_then(|()| sdk::fetch(self, ctx));
        #[cfg(not(feature = "aws"))]
        return Err(super::not_built(self.kind(), ctx.image.registry()));
    }
}

/// The endpoint override in the environment, for `describe` (which must not read profiles).
fn endpoint_override_env(api: Api) -> Option<(&'static str, String)> {
    let specific = match api {
        Api::Ecr => "AWS_ENDPOINT_URL_ECR",
        Api::EcrPublic => "AWS_ENDPOINT_URL_ECR_PUBLIC",
    };
    [specific, "AWS_ENDPOINT_URL"].into_iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (var, v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull::{fact, Pull};
    use crate::hosts::{classify, CloudRegistry};

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn token_splits_at_the_first_colon() {
        let auth = decode_token(&b64("AWS:pass:with:colons")).unwrap();
        assert_eq!(auth.username, "AWS");
        assert_eq!(auth.password.expose(), "pass:with:colons");
        let auth = decode_token(&b64("AWS:")).unwrap();
        assert_eq!(auth.password.expose(), "");
    }

    #[test]
    fn token_tolerates_surrounding_whitespace() {
        let auth = decode_token(&format!(" {}\n", b64("AWS:p"))).unwrap();
        assert_eq!(auth.password.expose(), "p");
    }

    #[test]
    fn bad_tokens_are_errors_that_quote_nothing() {
        assert_eq!(decode_token("not base64!").unwrap_err(), TokenError::Base64);
        assert_eq!(
            decode_token(&b64("AWSsecretpassword")).unwrap_err(),
            TokenError::NoColon
        );
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':']);
        assert_eq!(decode_token(&not_utf8).unwrap_err(), TokenError::Utf8);
        for e in [TokenError::Base64, TokenError::Utf8, TokenError::NoColon] {
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn moto_token_decodes() {
        let auth = decode_token("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").unwrap();
        assert_eq!(auth.username, "AWS");
        assert_eq!(auth.password.expose(), "123456789012-auth-token");
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ecr_role_annotation_wins_over_irsa_and_env() {
        let a = annotations(&[
            (annotations::AWS_ECR_ROLE_ARN, "arn:aws:iam::1:role/ecr"),
            (annotations::AWS_ROLE_ARN, "arn:aws:iam::1:role/irsa"),
        ]);
        assert_eq!(
            choose_role(true, &a, Some("arn:aws:iam::1:role/env")),
            RoleChoice::Pod {
                arn: "arn:aws:iam::1:role/ecr".into(),
                source: annotations::AWS_ECR_ROLE_ARN
            }
        );
    }

    #[test]
    fn irsa_annotation_is_second() {
        let a = annotations(&[
            (annotations::AWS_ECR_ROLE_ARN, "  "),
            (annotations::AWS_ROLE_ARN, "arn:aws:iam::1:role/irsa"),
        ]);
        assert_eq!(
            choose_role(true, &a, Some("arn:aws:iam::1:role/env")),
            RoleChoice::Pod {
                arn: "arn:aws:iam::1:role/irsa".into(),
                source: annotations::AWS_ROLE_ARN
            }
        );
    }

    #[test]
    fn env_role_is_last_and_blank_means_node() {
        let none = BTreeMap::new();
        assert_eq!(
            choose_role(true, &none, Some(" arn:aws:iam::1:role/env ")),
            RoleChoice::Pod {
                arn: "arn:aws:iam::1:role/env".into(),
                source: ROLE_ARN_ENV
            }
        );
        assert_eq!(choose_role(true, &none, Some("")), RoleChoice::Node);
        assert_eq!(choose_role(true, &none, None), RoleChoice::Node);
    }

    #[test]
    fn no_token_means_node_credentials_whatever_is_configured() {
        let a = annotations(&[(annotations::AWS_ECR_ROLE_ARN, "arn:aws:iam::1:role/ecr")]);
        assert_eq!(
            choose_role(false, &a, Some("arn:aws:iam::1:role/env")),
            RoleChoice::Node
        );
    }

    #[test]
    fn auth_keys_of_a_recognised_host_add_the_port_form() {
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert_eq!(auth_keys(&image(&format!("{host}/app")), false), [host]);
        assert_eq!(
            auth_keys(&image(&format!("{host}:443/app")), false),
            [host.to_string(), format!("{host}:443")]
        );
    }

    #[test]
    fn auth_keys_of_a_rule_are_the_images_registry() {
        assert_eq!(
            auth_keys(&image("mirror.corp.example:5000/team/app"), true),
            ["mirror.corp.example:5000"]
        );
        assert_eq!(
            auth_keys(&image("mirror.corp.example/team/app"), true),
            ["mirror.corp.example"]
        );
    }

    #[test]
    fn auth_keys_keep_the_hosts_case() {
        let host = "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM";
        assert_eq!(auth_keys(&image(&format!("{host}/app")), false), [host]);
    }

    fn backend_for(host: &str) -> EcrBackend {
        let target = match classify(host) {
            Some(CloudRegistry::EcrPrivate(h)) => EcrTarget::Private(h),
            Some(CloudRegistry::EcrPublic(h)) => EcrTarget::Public(h),
            other => panic!("{host}: {other:?}"),
        };
        EcrBackend { target }
    }

    fn identity(b: &EcrBackend, pull: &Pull) -> String {
        fact(&b.describe(&pull.context()), "identity").unwrap_or_default()
    }

    #[test]
    fn describe_shows_the_role_fetch_assumes_for_the_request() {
        let b = backend_for("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";
        let role = "arn:aws:iam::123456789012:role/puller";
        let pod = Pull::new(
            image,
            Some("pod-token"),
            &[(annotations::AWS_ECR_ROLE_ARN, role)],
        );
        // fetch runs role_for too; describe must say what it returned.
        assert_eq!(
            role_for(&pod.request),
            RoleChoice::Pod {
                arn: role.into(),
                source: annotations::AWS_ECR_ROLE_ARN
            }
        );
        assert_eq!(
            identity(&b, &pod),
            format!(
                "pod: role {role} (from {}), assumed with the pod's service-account token \
                 (STS AssumeRoleWithWebIdentity in eu-west-1)",
                annotations::AWS_ECR_ROLE_ARN
            )
        );
        // The annotation without a token: nothing to assume the role with, so the node.
        let no_token = Pull::new(image, None, &[(annotations::AWS_ECR_ROLE_ARN, role)]);
        assert_eq!(role_for(&no_token.request), RoleChoice::Node);
        assert_eq!(
            identity(&b, &no_token),
            "node: the default AWS credential chain"
        );
    }

    #[test]
    fn plans_follow_the_host() {
        let plan = backend_for("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws").plan();
        assert_eq!(plan.api, Api::Ecr);
        assert_eq!(plan.region, "us-gov-west-1");
        assert!(plan.fips && plan.dual_stack);
        let plan = backend_for("ecr-public.aws.com").plan();
        assert_eq!(plan.api, Api::EcrPublic);
        assert_eq!(plan.region, "us-east-1");
        assert!(plan.dual_stack && !plan.fips);
        let b = EcrBackend {
            target: EcrTarget::PrivateRule {
                region: "cn-north-1".into(),
                registry_id: Some("123456789012".into()),
            },
        };
        assert_eq!(b.kind(), BackendKind::Ecr);
        let facts = b.describe(&Pull::new("mirror.example/app", None, &[]).context());
        assert!(
            facts.contains(&("partition", "aws-cn".to_string())),
            "{facts:?}"
        );
        assert!(facts.contains(&("registry id", "123456789012".to_string())));
    }
}
