//! The Entra half of the flow: an access token for ACR's audience, from `azure_identity`.
//!
//! The crate has no `DefaultAzureCredential`, which suits a node plugin: the identity is
//! chosen explicitly by [`super`] (managed identity, client secret, or the pod's token as a
//! client assertion) and never by probing. Two of its defaults do not suit kubelet's 60 s
//! budget, so both are replaced:
//! - transport: the SDK would build its own reqwest client (and panic without a CA bundle);
//!   it gets ours from [`crate::http`] instead (same trust store, proxy and TLS stack) wrapped
//!   in [`BoundedTransport`], which cuts every attempt to [`http::ATTEMPT_TIMEOUT`] and the
//!   run's deadline, and records the last failure so errors can say why;
//! - retries: 8 retries over up to 60 s by default, and the IMDS credential even forces its
//!   own policy (6 retries over 72 s) whatever the options say. [`BoundedTransport`] therefore
//!   retries itself, under the binary's one policy ([`crate::retry`]: until the deadline,
//!   jittered, `Retry-After` honoured), and reports a final failure as one the SDK does not
//!   retry. The SDK's own policy is off.

use std::sync::{Arc, Mutex};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::headers::RETRY_AFTER;
use azure_core::http::{
    AsyncRawResponse, ClientMethodOptions, ClientOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};

use super::azure_config::{Cloud, UserAssigned};
use super::Source;
use crate::deadline::Deadline;
use crate::http;
use crate::retry::{Attempts, Failure};
use crate::secret::Secret;

/// The Entra scope of ACR tokens in every cloud. Tokens for ARM's audience also work unless
/// the registry disables "authentication-as-arm" (cloud-provider-azure#8592), so never use them.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// The instance metadata address the SDK's managed identity credential calls (fixed in the SDK).
pub const IMDS_ADDRESS: &str = "169.254.169.254";

/// What the transport saw, for error messages about a step that failed or ran out of time.
#[derive(Debug, Default)]
pub struct Trace {
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's failure (no URL query, no body).
    pub last_failure: Option<String>,
}

/// Gets the access token. Errors are one line without secrets; `trace` keeps what the
/// transport saw even if the caller's deadline cancels this future.
pub async fn token(
    source: &Source,
    cloud: &Cloud,
    deadline: Deadline,
    trace: Arc<Mutex<Trace>>,
) -> Result<Secret<String>, String> {
    let credential: Arc<dyn TokenCredential> = match source {
        Source::Managed(user_assigned) => {
            // IMDS is plain HTTP on a link-local address: no trust store needed.
            let client = http::plain_client().map_err(|e| e.to_string())?;
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: user_assigned.as_ref().map(|u| match u {
                    UserAssigned::ClientId(id) => UserAssignedId::ClientId(id.clone()),
                    UserAssigned::ResourceId(id) => UserAssignedId::ResourceId(id.clone()),
                }),
                client_options: client_options(client, cloud, deadline, trace.clone()),
            };
            ManagedIdentityCredential::new(Some(options)).map_err(|e| crate::error::chain(&e))?
        }
        Source::ClientSecret {
            tenant,
            client_id,
            secret,
        } => {
            let client = http::client().map_err(|e| e.to_string())?;
            let options = ClientSecretCredentialOptions {
                client_options: client_options(client, cloud, deadline, trace.clone()),
            };
            ClientSecretCredential::new(
                tenant,
                client_id.clone(),
                azure_core::credentials::Secret::new(secret.expose().clone()),
                Some(options),
            )
            .map_err(|e| crate::error::chain(&e))?
        }
        Source::PodToken {
            tenant,
            client_id,
            token,
        } => {
            let client = http::client().map_err(|e| e.to_string())?;
            let options = ClientAssertionCredentialOptions {
                client_options: client_options(client, cloud, deadline, trace.clone()),
            };
            ClientAssertionCredential::new(
                tenant.clone(),
                client_id.clone(),
                PodToken(token.clone()),
                Some(options),
            )
            .map_err(|e| crate::error::chain(&e))?
        }
    };
    let token = credential
        .get_token(&[ACR_SCOPE], None)
        .await
        .map_err(|e| {
            let mut text = crate::error::chain(&e);
            // When the transport gave up, its own account is the whole story; the SDK only
            // wraps it in generic retry and troubleshooting text.
            let transport = trace.lock().ok().and_then(|t| t.last_failure.clone());
            if let Some(failure) = transport.filter(|f| text.contains(f.as_str())) {
                text = format!("unreachable: {failure}");
            }
            if let Source::PodToken { token, .. } = source {
                text = token.redact_from(&text);
            }
            text
        })?;
    Ok(Secret::new(token.token.secret().to_string()))
}

fn client_options(
    client: reqwest::Client,
    cloud: &Cloud,
    deadline: Deadline,
    trace: Arc<Mutex<Trace>>,
) -> ClientOptions {
    let cloud = match cloud.known {
        Some(crate::hosts::AzureCloud::Public) => CloudConfiguration::AzurePublic,
        Some(crate::hosts::AzureCloud::China) => CloudConfiguration::AzureChina,
        Some(crate::hosts::AzureCloud::UsGovernment) => CloudConfiguration::AzureGovernment,
        // Germany and custom clouds: the SDK takes any https authority.
        _ => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = cloud.authority.clone();
            custom.into()
        }
    };
    ClientOptions {
        transport: Some(Transport::new(Arc::new(BoundedTransport {
            client,
            deadline,
            trace,
        }))),
        retry: RetryOptions::none(),
        cloud: Some(Arc::new(cloud)),
        ..Default::default()
    }
}

/// The pod's token, handed to the SDK as the client assertion.
struct PodToken(Secret<String>);

impl std::fmt::Debug for PodToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PodToken(REDACTED)")
    }
}

#[async_trait::async_trait]
impl ClientAssertion for PodToken {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        Ok(self.0.expose().clone())
    }
}

/// Our reqwest client as the SDK's transport, with per-attempt timeouts and the binary's retry
/// policy (see the module docs).
#[derive(Debug)]
struct BoundedTransport {
    client: reqwest::Client,
    deadline: Deadline,
    trace: Arc<Mutex<Trace>>,
}

impl BoundedTransport {
    fn note(&self, attempts: u32, failure: Option<String>) {
        if let Ok(mut t) = self.trace.lock() {
            t.attempts = attempts;
            if failure.is_some() {
                t.last_failure = failure;
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for BoundedTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let host = request.url().host_str().unwrap_or_default().to_string();
        // IMDS answers 404 or 410 while a newly assigned identity is not ready yet.
        let imds = host == IMDS_ADDRESS;
        let mut attempts = Attempts::new(self.deadline);
        loop {
            let Some(budget) = attempts.start(http::ATTEMPT_TIMEOUT) else {
                return Err(self.give_up(
                    &attempts,
                    format!("{host}: no time left before the deadline"),
                ));
            };
            let (failure, text) =
                match tokio::time::timeout(budget, self.client.execute_request(request)).await {
                    Err(_) if budget < http::ATTEMPT_TIMEOUT => (
                        Failure::Transient { retry_after: None },
                        format!(
                            "{host}: no response before the run's deadline ({:.1}s left)",
                            budget.as_secs_f32()
                        ),
                    ),
                    Err(_) => (
                        Failure::Transient { retry_after: None },
                        format!("{host}: no response within {:.1}s", budget.as_secs_f32()),
                    ),
                    Ok(Err(e)) => (
                        http::classify(&e),
                        format!("{host}: {}", transport_cause(&e)),
                    ),
                    Ok(Ok(response)) => {
                        let status = u16::from(response.status());
                        let retry_after = response
                            .headers()
                            .get_optional_str(&RETRY_AFTER)
                            .and_then(crate::retry::parse_retry_after);
                        let failure = Failure::from_status(status, retry_after)
                            .or((imds && (status == 404 || status == 410))
                                .then_some(Failure::Transient { retry_after }));
                        let Some(failure) = failure else {
                            self.note(attempts.made(), None);
                            return Ok(response);
                        };
                        (failure, format!("{host} answered HTTP {status}"))
                    }
                };
            self.note(attempts.made(), Some(text.clone()));
            match attempts.backoff(failure) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(self.give_up(&attempts, text)),
            }
        }
    }
}

impl BoundedTransport {
    /// The final failure, as an error kind the SDK's own retry policy (forced on for IMDS)
    /// does not retry.
    fn give_up(&self, attempts: &Attempts, text: String) -> azure_core::Error {
        let text = match attempts.made() {
            0 | 1 => text,
            n => format!("{text} (after {n} attempts)"),
        };
        self.note(attempts.made(), Some(text.clone()));
        azure_core::Error::with_message(ErrorKind::Other, text)
    }
}

/// The useful part of a transport error: the innermost causes, without the request URL.
fn transport_cause(error: &azure_core::Error) -> String {
    let mut pieces: Vec<String> = Vec::new();
    for c in crate::error::sources(error).skip(1) {
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            if r.is_connect() {
                pieces.push("cannot connect".into());
            } else if r.is_timeout() {
                pieces.push("timed out".into());
            }
        } else {
            pieces.push(c.to_string());
        }
    }
    pieces.dedup();
    if pieces.is_empty() {
        error.to_string()
    } else {
        pieces.join(": ")
    }
}
