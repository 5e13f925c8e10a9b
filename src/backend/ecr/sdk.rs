//! The AWS SDK half of the backend (cargo feature `aws`): the default credential chain or STS
//! for the pod's role, then the token call, all under the run's deadline and through the
//! binary's own HTTP stack ([`crate::http::aws`]).

use std::time::{Duration, SystemTime};

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials as AwsCredentials;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::{
    auth_keys, decode_token, role_for, Api, ApiPlan, EcrBackend, RoleChoice, SESSION_NAME,
};
use crate::backend::{Backend as _, Credentials, FetchContext};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::lifetime::Lifetime;
use crate::log;
use crate::protocol::{AuthConfig, CacheKeyType};
use crate::retry::{Attempts, Failure};
use crate::secret::Secret;

/// Time kept back from the run's deadline for the SDK's own operation timeout, so that its
/// error (which says what it was waiting for) wins over the runtime's blunt backstop.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// Fetches the registry's token for [`EcrBackend`].
pub(super) fn fetch(backend: &EcrBackend, ctx: &FetchContext<'_>) -> Result<Credentials> {
    let plan = backend.plan();
    let kind = backend.kind().as_str();
    let registry = ctx.image.registry().to_string();
    let role = role_for(ctx.request);
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
    let auth = auth_keys(ctx.image, backend.is_rule())
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
    // The loader never builds a credential chain: a pod's role replaces the node's identity
    // entirely (AssumeRoleWithWebIdentity needs no signature), and the node's chain is built
    // below, only as far as the node needs it.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(plan.region.clone()))
        .http_client(http_client.clone())
        .retry_config(retry_config())
        .timeout_config(timeout_config(ctx.deadline))
        .no_credentials()
        .load()
        .await;
    // The host decides FIPS / dual-stack; the environment or profile may force them on for
    // every host, as with the AWS CLI.
    let fips = plan.fips || sdk.use_fips().unwrap_or(false);
    let dual_stack = plan.dual_stack || sdk.use_dual_stack().unwrap_or(false);

    let (credentials, identity) = match role {
        RoleChoice::Node => {
            let provider = node_chain(&sdk, http_client, ctx.deadline);
            let credentials = node_credentials(&provider, ctx.deadline)
                .await
                .map_err(|e| {
                    fail(format!(
                        "no node AWS credentials from the default chain \
                         (environment, profile, web identity, container, instance metadata): {e}"
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

/// The node's credentials: the SDK's default chain (environment, profile, web identity token
/// file, container endpoint, instance metadata), in its order and with the loader's settings.
///
/// Built here rather than by `aws_config`'s loader because the loader builds the web identity
/// link eagerly, and with it an STS client and its endpoint rules: ~4% of an ECR fetch's CPU
/// on every node, for a link that can only answer when `AWS_WEB_IDENTITY_TOKEN_FILE` is set
/// (profiles with `web_identity_token_file` go through the profile link). So it is left out
/// when that variable is absent.
fn node_chain(
    sdk: &SdkConfig,
    http_client: aws_smithy_runtime_api::client::http::SharedHttpClient,
    deadline: Deadline,
) -> CredentialsProviderChain {
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::imds::credentials::ImdsCredentialsProvider;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;

    let conf = ProviderConfig::without_region()
        .with_http_client(http_client)
        .with_region(sdk.region().cloned())
        .with_use_fips(sdk.use_fips())
        .with_use_dual_stack(sdk.use_dual_stack())
        .with_behavior_version(Some(BehaviorVersion::latest()))
        .with_retry_config(retry_config())
        .with_timeout_config(timeout_config(deadline));
    let mut chain = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "Profile",
        ProfileFileCredentialsProvider::builder()
            .configure(&conf)
            .build(),
    );
    if std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some_and(|v| !v.is_empty()) {
        chain = chain.or_else(
            "WebIdentityToken",
            WebIdentityTokenCredentialsProvider::builder()
                .configure(&conf)
                .build(),
        );
    }
    chain
        .or_else(
            "EcsContainer",
            EcsCredentialsProvider::builder().configure(&conf).build(),
        )
        .or_else(
            "Ec2InstanceMetadata",
            ImdsLink(
                ImdsCredentialsProvider::builder()
                    .configure(&conf)
                    .imds_client(imds_client(&conf, deadline))
                    .build(),
            ),
        )
}

/// The instance metadata client: one attempt per call (the run's policy retries the whole
/// chain, see [`node_credentials`]), a short connect timeout (IMDS is link-local: a healthy one
/// accepts at once, and a connection that hangs is retried rather than waited for), and reads
/// allowed the attempt time a slow token call needs (a 1 s read limit failed runs whose token
/// answer took 1.5 s, with 29 s of the deadline left).
fn imds_client(
    conf: &aws_config::provider_config::ProviderConfig,
    deadline: Deadline,
) -> aws_config::imds::Client {
    let operation = deadline
        .remaining()
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(1));
    aws_config::imds::Client::builder()
        .configure(conf)
        .max_attempts(1)
        .connect_timeout(IMDS_CONNECT_TIMEOUT.min(operation))
        .read_timeout(crate::http::ATTEMPT_TIMEOUT.min(operation))
        .operation_timeout(operation)
        .build()
}

/// Connect timeout of one instance metadata attempt.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The instance metadata link of the node's chain. The SDK reports an IMDS it could not reach
/// (a connect or read timeout on the token call) as "no credentials here", so the chain moves
/// on and the run fails with nothing left to retry; as the last link, it reports it as the
/// communication failure it is, which [`node_credentials`] retries.
#[derive(Debug)]
struct ImdsLink(aws_config::imds::credentials::ImdsCredentialsProvider);

impl ProvideCredentials for ImdsLink {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            match self.0.provide_credentials().await {
                Err(e @ CredentialsError::CredentialsNotLoaded(_))
                    if !matches!(
                        classify_credentials(&source_failure(&e)),
                        Failure::Permanent
                    ) =>
                {
                    Err(CredentialsError::provider_error(e))
                }
                other => other,
            }
        })
    }
}

/// The node's credentials from `chain` under [`crate::retry`]'s policy: a link that could not
/// reach its endpoint (instance metadata timing out, refusing, answering 429 or 5xx) is asked
/// again within the deadline; "no credentials anywhere" and configuration errors fail at once.
async fn node_credentials(
    chain: &CredentialsProviderChain,
    deadline: Deadline,
) -> std::result::Result<AwsCredentials, String> {
    let mut attempts = Attempts::new(deadline);
    let mut last = None;
    loop {
        let Some(budget) = attempts.start(crate::http::ATTEMPT_TIMEOUT) else {
            return Err(after_attempts(last, &attempts));
        };
        let failure = match tokio::time::timeout(budget, chain.provide_credentials()).await {
            Ok(Ok(credentials)) => return Ok(credentials),
            Ok(Err(e)) => {
                last = Some(crate::error::chain(&e));
                match &e {
                    CredentialsError::ProviderTimedOut(_) => {
                        Failure::Transient { retry_after: None }
                    }
                    CredentialsError::ProviderError(_) => classify_credentials(&source_failure(&e)),
                    _ => Failure::Permanent,
                }
            }
            Err(_) => {
                last = Some(format!("no answer within {:.1}s", budget.as_secs_f32()));
                Failure::Transient { retry_after: None }
            }
        };
        match attempts.backoff(failure) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(after_attempts(last, &attempts)),
        }
    }
}

/// What a credential provider's error chain says about retrying: an IMDS error answer by its
/// status, a connection failure by its kind.
#[derive(Debug, Clone, Copy)]
enum SourceFailure {
    Status(u16),
    Connector { refused: bool },
    Other,
}

fn source_failure(error: &(dyn std::error::Error + 'static)) -> SourceFailure {
    use aws_config::imds::client::error::{ImdsError, TokenError};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    for e in crate::error::sources(error) {
        if let Some(ImdsError::ErrorResponse(answer)) = e.downcast_ref::<ImdsError>() {
            return SourceFailure::Status(answer.response().status().as_u16());
        }
        // A token call answered with an error status (IMDS sends no TTL header then, which
        // the SDK reports first).
        if let Some(answer) = e
            .downcast_ref::<SdkError<TokenError, HttpResponse>>()
            .and_then(|sdk| sdk.raw_response())
        {
            return SourceFailure::Status(answer.status().as_u16());
        }
        if let Some(connector) = e.downcast_ref::<ConnectorError>() {
            let refused = matches!(crate::http::classify(connector), Failure::Refused);
            return SourceFailure::Connector { refused };
        }
    }
    SourceFailure::Other
}

fn classify_credentials(failure: &SourceFailure) -> Failure {
    match *failure {
        SourceFailure::Status(status) => {
            Failure::from_status(status, None).unwrap_or(Failure::Permanent)
        }
        SourceFailure::Connector { refused: true, .. } => Failure::Refused,
        SourceFailure::Connector { .. } => Failure::Transient { retry_after: None },
        SourceFailure::Other => Failure::Permanent,
    }
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
    let output = with_retries(deadline, || {
        client
            .assume_role_with_web_identity()
            .role_arn(arn)
            .role_session_name(SESSION_NAME)
            .web_identity_token(token.expose())
            .send()
    })
    .await?;
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
    let output = with_retries(deadline, || {
        client
            .get_authorization_token()
            .set_registry_ids(plan.registry_id.clone().map(|id| vec![id]))
            .send()
    })
    .await?;
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
    let output = with_retries(deadline, || client.get_authorization_token().send()).await?;
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

/// The SDK retries nothing itself: every call goes through [`with_retries`], the binary's one
/// policy ([`crate::retry`]: attempts until the run's deadline, jittered backoff, throttling
/// waited out longer). The SDK's standard mode stops at a fixed count and, with its retry
/// quota, after a handful of throttled calls: a scaling node group then fails pulls within
/// seconds of a 30-second budget.
fn retry_config() -> RetryConfig {
    RetryConfig::disabled()
}

/// AWS error codes that mean "slow down" (the SDK's own throttling list).
const THROTTLING_CODES: [&str; 13] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
];
/// AWS error codes of failures that pass: server-side errors and timeouts, and STS's
/// `IDPCommunicationError` (it could not reach the cluster's OIDC issuer this time).
const TRANSIENT_CODES: [&str; 7] = [
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "IDPCommunicationError",
];

/// How [`crate::retry`] treats an SDK failure: the error code when the service answered with
/// one, else the HTTP status (a proxy or VPC endpoint may send a bare 429 or 503), else what
/// went wrong on the way (timeouts and I/O are transient; a refused TLS certificate is not).
fn classify<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Failure {
    let raw = error.raw_response();
    let retry_after = raw
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(crate::retry::parse_retry_after);
    let by_status = || {
        raw.and_then(|r| Failure::from_status(r.status().as_u16(), retry_after))
            .unwrap_or(Failure::Permanent)
    };
    match error {
        SdkError::ServiceError(context) => match context.err().code() {
            Some(code) if THROTTLING_CODES.contains(&code) => Failure::Throttled { retry_after },
            Some(code) if TRANSIENT_CODES.contains(&code) => Failure::Transient { retry_after },
            _ => by_status(),
        },
        SdkError::ResponseError(_) => by_status(),
        SdkError::TimeoutError(_) => Failure::Transient { retry_after: None },
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(e) if e.is_timeout() || e.is_io() => Failure::Transient { retry_after: None },
            _ => Failure::Permanent,
        },
        _ => Failure::Permanent,
    }
}

/// Runs `call` (one SDK operation) under [`crate::retry`]'s policy; the error is the last
/// failure as one line, with the number of attempts when there was more than one.
async fn with_retries<T, E, F, Fut>(
    deadline: Deadline,
    mut call: F,
) -> std::result::Result<T, String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
{
    let mut attempts = Attempts::new(deadline);
    let mut last = None;
    loop {
        let Some(budget) = attempts.start(crate::http::ATTEMPT_TIMEOUT) else {
            return Err(after_attempts(last, &attempts));
        };
        let failure = match tokio::time::timeout(budget, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => {
                last = Some(describe_sdk_error(&e));
                classify(&e)
            }
            Err(_) => {
                last = Some(format!(
                    "timed out: no answer within {:.1}s",
                    budget.as_secs_f32()
                ));
                Failure::Transient { retry_after: None }
            }
        };
        match attempts.backoff(failure) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(after_attempts(last, &attempts)),
        }
    }
}

/// The last failure, and how many attempts it took when more than one.
fn after_attempts(last: Option<String>, attempts: &Attempts) -> String {
    let last = last.unwrap_or_else(|| "no time left for an attempt before the deadline".into());
    match attempts.made() {
        0 | 1 => last,
        n => format!("{last} (after {n} attempts)"),
    }
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
