//! The network half of the Azure backend (cargo feature `azure`): an Entra token for the
//! selected identity, the registry's challenge, and the `/oauth2/exchange` trade.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::entra::{self, Trace};
use super::exchange::{self, ExchangeError, ACR_USERNAME};
use super::*;
use crate::error::Error;
use crate::lifetime::Lifetime;
use crate::protocol::{AuthConfig, CacheKeyType};
use crate::runtime;

/// Which step the flow is in, for the deadline's error message.
#[derive(Debug, Clone, Default)]
struct Progress {
    step: String,
}

impl AcrBackend {
    /// The fetch proper (cargo feature `azure`): an Entra token for the identity azure.json
    /// and the request select, traded for the registry's refresh token.
    pub(super) fn fetch_with_sdk(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let requested = ctx.image.registry();
        // Errors name what kubelet asked for, and the login server when that differs.
        let context = if requested.eq_ignore_ascii_case(&self.registry) {
            String::new()
        } else {
            format!("token of {}: ", self.registry)
        };
        let fail = |msg: String| Error::backend("acr", requested, format!("{context}{msg}"));

        let config = self.config().map_err(fail)?;
        let identity = select_identity(Some(ctx.request), config, self.settings.sp_token_exchange)
            .map_err(fail)?;

        let mut keys = vec![requested.to_string()];
        if !requested.eq_ignore_ascii_case(&self.registry) {
            keys.push(self.registry.clone());
        }
        let answer = |username: &str, password: &Secret<String>, lifetime, who: String| {
            let auth: BTreeMap<String, AuthConfig> = keys
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        AuthConfig {
                            username: username.to_string(),
                            password: password.clone(),
                        },
                    )
                })
                .collect();
            Credentials {
                auth,
                cache_key_type: CacheKeyType::Registry,
                lifetime,
                identity: who,
            }
        };

        let (source, known_tenant) = match identity {
            Identity::Static { client_id, secret } => {
                let label = format!("service principal {client_id} (secret as password)");
                return Ok(answer(
                    &client_id,
                    &secret,
                    Lifetime::CacheFor(self.static_cache),
                    label,
                ));
            }
            Identity::Token {
                ref source,
                ref tenant,
            } => (source.clone(), tenant.clone()),
        };
        let label = identity.label();
        let who = |tenant: Option<&str>| {
            format!(
                "{label}, tenant {}",
                tenant.unwrap_or("unknown (no tenantId in azure.json)")
            )
        };
        let cloud = self.cloud(config);
        let progress = Arc::new(Mutex::new(Progress::default()));
        let trace = Arc::new(Mutex::new(Trace::default()));
        let set_step = |step: String| {
            if let Ok(mut p) = progress.lock() {
                p.step = step;
            }
        };

        let on_timeout = {
            let progress = progress.clone();
            let trace = trace.clone();
            let who = who(known_tenant.as_deref());
            let fail = &fail;
            move || {
                let step = progress.lock().map(|p| p.step.clone()).unwrap_or_default();
                let last = trace
                    .lock()
                    .ok()
                    .and_then(|t| t.last_failure.clone())
                    .map(|f| format!("; last failure: {f}"))
                    .unwrap_or_default();
                fail(format!(
                    "{who}: no credentials before the deadline (--timeout) while {step}{last}"
                ))
            }
        };

        let token_step = match &source {
            Source::Managed(_) => format!(
                "getting an Entra token from the instance metadata service ({})",
                entra::IMDS_ADDRESS
            ),
            _ => format!("getting an Entra token from {}", cloud.authority),
        };
        let registry = self.registry.clone();
        let deadline = ctx.deadline;
        let flow = async {
            set_step(token_step.clone());
            let access_token = entra::token(&source, &cloud, deadline, trace.clone())
                .await
                .map_err(|e| {
                    let what = match &source {
                        Source::Managed(_) => format!(
                            "no Entra token from the instance metadata service ({})",
                            entra::IMDS_ADDRESS
                        ),
                        _ => format!("no Entra token from {}", cloud.authority),
                    };
                    fail(format!("{}: {what}: {e}", who(known_tenant.as_deref())))
                })?;
            // A managed identity's tenant, when azure.json does not say, is the token's `tid`.
            let tenant = known_tenant.clone().or_else(|| {
                exchange::jwt_claims(access_token.expose())
                    .and_then(|c| c.get("tid").and_then(|t| t.as_str()).map(str::to_string))
            });
            let who = who(tenant.as_deref());

            set_step(format!("asking https://{registry}/v2/ for its challenge"));
            let client = crate::http::client().map_err(|e| fail(format!("{who}: {e}")))?;
            let server = exchange::discover(
                &client,
                &registry,
                cloud.registry_suffix.as_deref(),
                deadline,
            )
            .await
            .map_err(|e| fail(format!("{who}: {e}")))?;

            set_step(format!(
                "exchanging the token at {}/oauth2/exchange",
                server.base
            ));
            let exchanged =
                exchange::exchange(&client, &server, tenant.as_deref(), &access_token, deadline)
                    .await
                    .map_err(|e| match e {
                        ExchangeError::Refused { status, detail } => {
                            let detail = if detail.is_empty() {
                                String::new()
                            } else {
                                format!(" ({detail})")
                            };
                            fail(format!(
                        "{who}: the registry refused the Entra token with HTTP {status}{detail}; \
                         check that this identity has the AcrPull role on {registry} and that \
                         the registry is in this tenant"
                    ))
                        }
                        ExchangeError::Failed(msg) => fail(format!("{who}: {msg}")),
                    })?;
            Ok(answer(
                ACR_USERNAME,
                &exchanged.refresh_token,
                exchanged.lifetime,
                who,
            ))
        };
        runtime::block_on(ctx.deadline, on_timeout, flow)
    }
}
