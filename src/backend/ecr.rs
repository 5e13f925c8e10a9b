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
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials as AwsCredentials;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine as _;

use super::{Backend, BackendKind, Credentials, FetchContext};
use crate::annotations;
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::hosts::{AwsPartition, EcrHost, EcrPublicHost, ECR_PUBLIC_REGION};
use crate::image::ImageRef;
use crate::lifetime::Lifetime;
use crate::log;
use crate::protocol::{AuthConfig, CacheKeyType};
use crate::secret::Secret;

/// Environment variable naming the role for pod-identity pulls when the service account has no
/// role annotation (as in the reference plugin).
pub const ROLE_ARN_ENV: &str = "AWS_ECR_ROLE_ARN";
/// The STS session name of pod-identity pulls; shows up in CloudTrail as the role session.
pub const SESSION_NAME: &str = "ecr-credential-provider";
/// Time kept back from the run's deadline for the SDK's own operation timeout, so that its
/// error (which says what it was waiting for) wins over the runtime's blunt backstop.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);
/// First retry delay of the SDK's standard retry mode; the delay doubles up to [`MAX_BACKOFF`]
/// (with jitter), as in [`crate::http::send`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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

/// Why an authorization token could not be decoded. Never carries any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    fn is_rule(&self) -> bool {
        matches!(
            self.target,
            EcrTarget::PrivateRule { .. } | EcrTarget::PublicRule
        )
    }
}

impl Backend for EcrBackend {
    fn kind(&self) -> BackendKind {
        match self.plan().api {
            Api::Ecr => BackendKind::Ecr,
            Api::EcrPublic => BackendKind::EcrPublic,
        }
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
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
        let env_role = std::env::var(ROLE_ARN_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        facts.push((
            "identity source",
            format!(
                "node: default AWS credential chain; pod (kubelet sends a service-account token): \
                 role from annotation {} or {}{}",
                annotations::AWS_ECR_ROLE_ARN,
                annotations::AWS_ROLE_ARN,
                match env_role {
                    Some(arn) => format!(", else {ROLE_ARN_ENV}={arn}"),
                    None => format!(", else {ROLE_ARN_ENV} (unset)"),
                }
            ),
        ));
        facts
    }

    fn fetch(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let plan = self.plan();
        let kind = self.kind().as_str();
        let registry = ctx.image.registry().to_string();
        let env_role = std::env::var(ROLE_ARN_ENV).ok();
        let role = choose_role(
            ctx.request.service_account_token.is_some(),
            &ctx.request.service_account_annotations,
            env_role.as_deref(),
        );
        let who = match &role {
            RoleChoice::Node => "node credentials".to_string(),
            RoleChoice::Pod { arn, .. } => format!("role {arn}"),
        };
        log::info(2, || match &role {
            RoleChoice::Node => format!("{kind}: using the node's default AWS credential chain"),
            RoleChoice::Pod { arn, source } => {
                format!("{kind}: assuming role {arn} (from {source}) with the pod's token")
            }
        });
        let timeout = ctx.deadline.remaining();
        let fetched = crate::runtime::block_on(
            ctx.deadline,
            || {
                Error::backend(
                    kind,
                    &registry,
                    format!(
                        "no {} token for {who} in {} within the {}s deadline",
                        plan.api.name(),
                        plan.region,
                        timeout.as_secs()
                    ),
                )
            },
            fetch_token(&plan, &role, ctx, kind, &registry),
        )?;
        let auth = auth_keys(ctx.image, self.is_rule())
            .into_iter()
            .map(|key| (key, fetched.auth.clone()))
            .collect();
        Ok(Credentials {
            auth,
            cache_key_type: CacheKeyType::Registry,
            lifetime: fetched.lifetime,
            identity: fetched.identity,
        })
    }
}

/// What one token call produced.
struct Fetched {
    auth: AuthConfig,
    lifetime: Lifetime,
    identity: String,
}

/// The async part of a fetch: SDK config, optional STS, the token call.
async fn fetch_token(
    plan: &ApiPlan,
    role: &RoleChoice,
    ctx: &FetchContext<'_>,
    kind: &'static str,
    registry: &str,
) -> Result<Fetched> {
    let fail = |message: String| Error::backend(kind, registry, message);
    let http_client = crate::http::aws::client()?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(plan.region.clone()))
        .http_client(http_client)
        .retry_config(retry_config())
        .timeout_config(timeout_config(ctx.deadline));
    if matches!(role, RoleChoice::Pod { .. }) {
        // The pod's role replaces the node's identity entirely: do not even build the chain
        // (no profile parsing, no IMDS client). AssumeRoleWithWebIdentity needs no signature.
        loader = loader.no_credentials();
    }
    let sdk = loader.load().await;
    // The host decides FIPS / dual-stack; the environment or profile may force them on for
    // every host, as with the AWS CLI.
    let fips = plan.fips || sdk.use_fips().unwrap_or(false);
    let dual_stack = plan.dual_stack || sdk.use_dual_stack().unwrap_or(false);

    let (credentials, identity) = match role {
        RoleChoice::Node => {
            let provider = sdk.credentials_provider().ok_or_else(|| {
                fail("the default AWS credential chain is not available".to_string())
            })?;
            let credentials = provider.provide_credentials().await.map_err(|e| {
                fail(format!(
                    "no node AWS credentials from the default chain \
                     (environment, profile, web identity, container, instance metadata): {}",
                    crate::error::chain(&e)
                ))
            })?;
            let identity = format!("node credentials from {}", credential_source(&credentials));
            (credentials, identity)
        }
        RoleChoice::Pod { arn, .. } => {
            let token = ctx.request.service_account_token.as_ref().ok_or_else(|| {
                fail(format!(
                    "role {arn} needs the pod's service-account token, which kubelet did not send"
                ))
            })?;
            let credentials = assume_role(&sdk, fips, dual_stack, arn, token, ctx.deadline)
                .await
                .map_err(|message| {
                    fail(format!(
                        "STS AssumeRoleWithWebIdentity for role {arn} in {} failed: {}",
                        plan.region,
                        token.redact_from(&message)
                    ))
                })?;
            (credentials, arn.clone())
        }
    };

    log::info(4, || {
        format!(
            "{kind}: {} GetAuthorizationToken in {} (fips {fips}, dual-stack {dual_stack}) as {identity}",
            plan.api.name(),
            plan.region
        )
    });
    let provider = SharedCredentialsProvider::new(credentials);
    let (token, expires_at) = match plan.api {
        Api::Ecr => ecr_token(&sdk, plan, fips, dual_stack, provider, ctx.deadline).await,
        Api::EcrPublic => ecr_public_token(&sdk, fips, dual_stack, provider, ctx.deadline).await,
    }
    .map_err(|message| {
        fail(format!(
            "{} GetAuthorizationToken in {} as {identity} failed: {message}",
            plan.api.name(),
            plan.region
        ))
    })?;
    let auth = decode_token(token.expose()).map_err(|e| {
        fail(format!(
            "{} answered for {identity}, but {e}",
            plan.api.name()
        ))
    })?;
    Ok(Fetched {
        auth,
        lifetime: expires_at.map_or(Lifetime::Unknown, Lifetime::ExpiresAt),
        identity,
    })
}

/// STS `AssumeRoleWithWebIdentity` in the registry's region; errors are messages without the
/// token (the caller redacts once more, in case a service ever echoes it).
async fn assume_role(
    sdk: &SdkConfig,
    fips: bool,
    dual_stack: bool,
    arn: &str,
    token: &Secret<String>,
    deadline: Deadline,
) -> std::result::Result<AwsCredentials, String> {
    let mut config =
        aws_sdk_sts::config::Builder::from(sdk).timeout_config(timeout_config(deadline));
    if !has_endpoint_override(sdk, "STS") {
        config = config.use_fips(fips).use_dual_stack(dual_stack);
    }
    let client = aws_sdk_sts::Client::from_conf(config.build());
    let output = client
        .assume_role_with_web_identity()
        .role_arn(arn)
        .role_session_name(SESSION_NAME)
        .web_identity_token(token.expose())
        .send()
        .await
        .map_err(|e| describe_sdk_error(&e))?;
    let creds = output
        .credentials()
        .ok_or("the answer holds no credentials")?;
    let expiry = SystemTime::try_from(*creds.expiration()).ok();
    Ok(AwsCredentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        expiry,
        "AssumeRoleWithWebIdentity",
    ))
}

/// Private ECR's token for the caller (or for the rule's registry id).
async fn ecr_token(
    sdk: &SdkConfig,
    plan: &ApiPlan,
    fips: bool,
    dual_stack: bool,
    credentials: SharedCredentialsProvider,
    deadline: Deadline,
) -> std::result::Result<(Secret<String>, Option<SystemTime>), String> {
    let mut config = aws_sdk_ecr::config::Builder::from(sdk)
        .credentials_provider(credentials)
        .timeout_config(timeout_config(deadline));
    if !has_endpoint_override(sdk, "ECR") {
        config = config.use_fips(fips).use_dual_stack(dual_stack);
    }
    let client = aws_sdk_ecr::Client::from_conf(config.build());
    // `registryIds` is deprecated (the token works for every registry the caller may read), but
    // a host rule that names one gets it passed, so the call matches what the operator wrote.
    #[allow(deprecated)]
    let request = client
        .get_authorization_token()
        .set_registry_ids(plan.registry_id.clone().map(|id| vec![id]));
    let output = request.send().await.map_err(|e| describe_sdk_error(&e))?;
    let data = output
        .authorization_data()
        .first()
        .ok_or("the answer holds no authorizationData")?;
    let token = data
        .authorization_token()
        .ok_or("the answer holds no authorizationToken")?;
    let expires_at = data
        .expires_at()
        .and_then(|t| SystemTime::try_from(*t).ok());
    Ok((Secret::new(token.to_string()), expires_at))
}

/// ECR Public's token (always `us-east-1`).
async fn ecr_public_token(
    sdk: &SdkConfig,
    fips: bool,
    dual_stack: bool,
    credentials: SharedCredentialsProvider,
    deadline: Deadline,
) -> std::result::Result<(Secret<String>, Option<SystemTime>), String> {
    let mut config = aws_sdk_ecrpublic::config::Builder::from(sdk)
        .credentials_provider(credentials)
        .timeout_config(timeout_config(deadline));
    if !has_endpoint_override(sdk, "ECR PUBLIC") {
        config = config.use_fips(fips).use_dual_stack(dual_stack);
    }
    let client = aws_sdk_ecrpublic::Client::from_conf(config.build());
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| describe_sdk_error(&e))?;
    let data = output
        .authorization_data()
        .ok_or("the answer holds no authorizationData")?;
    let token = data
        .authorization_token()
        .ok_or("the answer holds no authorizationToken")?;
    let expires_at = data
        .expires_at()
        .and_then(|t| SystemTime::try_from(*t).ok());
    Ok((Secret::new(token.to_string()), expires_at))
}

/// Standard retry mode: throttling (`ThrottlingException`, HTTP 429), 5xx and transient I/O
/// errors are retried with exponential backoff and jitter, [`crate::http::MAX_ATTEMPTS`]
/// attempts in all, as every other network call of this binary.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(crate::http::MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// Timeouts for one SDK operation, cut to what is left of the run: connect and per-attempt
/// limits as in [`crate::http`], the whole operation (retries included) ending just before the
/// deadline.
fn timeout_config(deadline: Deadline) -> TimeoutConfig {
    let operation = deadline
        .remaining()
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(1));
    TimeoutConfig::builder()
        .connect_timeout(crate::http::CONNECT_TIMEOUT.min(operation))
        .operation_attempt_timeout(crate::http::ATTEMPT_TIMEOUT.min(operation))
        .operation_timeout(operation)
        .build()
}

/// Whether an endpoint URL is configured for `service_id` (`AWS_ENDPOINT_URL_<ID>`, the global
/// `AWS_ENDPOINT_URL`, or a profile's `endpoint_url`). A configured endpoint is used as it is:
/// the SDK refuses FIPS or dual-stack together with a custom endpoint, and an operator who set
/// one (a VPC endpoint, say) means exactly that one.
fn has_endpoint_override(sdk: &SdkConfig, service_id: &str) -> bool {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    let service = match key {
        Ok(key) => sdk
            .service_config()
            .and_then(|conf| conf.load_config(key))
            .is_some(),
        Err(_) => false,
    };
    service || sdk.endpoint_url().is_some()
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

/// Which link of the default chain produced `credentials`, for `check` and error messages.
fn credential_source(credentials: &AwsCredentials) -> String {
    use AwsCredentialFeature as F;
    let features = credentials
        .get_property::<Vec<AwsCredentialFeature>>()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has = |f: F| features.contains(&f);
    let profile = || {
        std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".to_string())
    };
    if has(F::CredentialsProcess) || has(F::CredentialsProfileProcess) {
        format!("credential_process of profile {}", profile())
    } else if has(F::CredentialsSso) || has(F::CredentialsProfileSso) {
        format!("SSO (IAM Identity Center) of profile {}", profile())
    } else if has(F::CredentialsEnvVarsStsWebIdToken) || has(F::CredentialsProfileStsWebIdToken) {
        "web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN)".to_string()
    } else if has(F::CredentialsStsAssumeRole) {
        format!("role assumed by profile {}", profile())
    } else if has(F::CredentialsHttp) {
        "the container credentials endpoint (ECS task role / EKS Pod Identity)".to_string()
    } else if has(F::CredentialsImds) {
        "EC2 instance metadata (IMDSv2, the instance profile)".to_string()
    } else if has(F::CredentialsProfile) {
        format!("profile {}", profile())
    } else if has(F::CredentialsEnvVars) {
        "environment variables (AWS_ACCESS_KEY_ID)".to_string()
    } else {
        "the default credential chain".to_string()
    }
}

/// One line for an SDK failure: the service's error code and message when it answered, else
/// what went wrong on the way (timeout, connection, unreadable answer), without the request.
fn describe_sdk_error<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let e = context.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => crate::error::chain(e),
            }
        }
        SdkError::TimeoutError(_) => {
            "timed out: no answer within the per-attempt limit or the run's --timeout".to_string()
        }
        other => crate::error::chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let facts = b.describe();
        assert!(
            facts.contains(&("partition", "aws-cn".to_string())),
            "{facts:?}"
        );
        assert!(facts.contains(&("registry id", "123456789012".to_string())));
    }

    /// The API endpoint the SDK resolves for a plan (no network: endpoint rules only).
    fn ecr_endpoint(region: &str, fips: bool, dual_stack: bool) -> String {
        use aws_sdk_ecr::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let params = Params::builder()
            .region(region)
            .use_fips(fips)
            .use_dual_stack(dual_stack)
            .build()
            .unwrap();
        let endpoint = crate::runtime::block_on(
            Deadline::after(Duration::from_secs(5)),
            || Error::Io("endpoint".into()),
            async {
                DefaultResolver::new()
                    .resolve_endpoint(&params)
                    .await
                    .map_err(|e| Error::Io(e.to_string()))
            },
        )
        .unwrap();
        endpoint.url().to_string()
    }

    #[test]
    fn partitions_fips_and_dual_stack_resolve_to_their_api_endpoints() {
        let cases = [
            (
                "eu-west-1",
                false,
                false,
                "https://api.ecr.eu-west-1.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                false,
                "https://api.ecr-fips.us-east-1.amazonaws.com",
            ),
            ("us-east-1", false, true, "https://ecr.us-east-1.api.aws"),
            (
                "us-east-1",
                true,
                true,
                "https://ecr-fips.us-east-1.api.aws",
            ),
            (
                "cn-north-1",
                false,
                false,
                "https://api.ecr.cn-north-1.amazonaws.com.cn",
            ),
            (
                "cn-northwest-1",
                false,
                true,
                "https://ecr.cn-northwest-1.api.amazonwebservices.com.cn",
            ),
            (
                "us-gov-west-1",
                true,
                false,
                "https://api.ecr-fips.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-iso-east-1",
                false,
                false,
                "https://api.ecr.us-iso-east-1.c2s.ic.gov",
            ),
            (
                "us-isob-east-1",
                false,
                false,
                "https://api.ecr.us-isob-east-1.sc2s.sgov.gov",
            ),
            (
                "eu-isoe-west-1",
                false,
                false,
                "https://api.ecr.eu-isoe-west-1.cloud.adc-e.uk",
            ),
            (
                "us-isof-south-1",
                false,
                false,
                "https://api.ecr.us-isof-south-1.csp.hci.ic.gov",
            ),
            (
                "eusc-de-east-1",
                false,
                false,
                "https://api.ecr.eusc-de-east-1.amazonaws.eu",
            ),
        ];
        for (region, fips, dual_stack, want) in cases {
            assert_eq!(
                ecr_endpoint(region, fips, dual_stack),
                want,
                "{region} fips={fips} dual-stack={dual_stack}"
            );
        }
    }
}
