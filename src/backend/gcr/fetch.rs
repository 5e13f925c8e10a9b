//! The network half of the Google backend (cargo feature `gcp`): running the plan the settings
//! and request chose, and turning its outcome into kubelet's credentials.

use std::collections::BTreeMap;

use super::keyfile::{self, KeyFile, CREDENTIALS_ENV};
use super::metadata::{self, AccessToken, Metadata, MetadataError};
use super::*;
use crate::backend::file::Match;
use crate::backend::file::{find_matches, DockerConfig};
use crate::deadline::Deadline;
use crate::error::Error;
use crate::image::ImageRef;
use crate::lifetime::{key_type_for, Lifetime};
use crate::protocol::AuthConfig;
use crate::{http, runtime};

/// The backend's name in messages.
const NAME: &str = "gcr";

/// What a flow produced.
enum Outcome {
    Token {
        token: AccessToken,
        identity: String,
    },
    Entries {
        matches: Vec<Match>,
        source: String,
    },
}

impl GcrBackend {
    /// The fetch proper (cargo feature `gcp`): the plan's token, from the metadata server, a key
    /// file, STS or instance attributes.
    pub(super) fn fetch_online(&self, ctx: &FetchContext<'_>) -> Result<Credentials> {
        let registry = ctx.image.registry();
        let flow = self.settings.flow.as_str();
        // Checked before any network call, so a typo fails fast and costs no token.
        let overrides = CacheOverrides::from_env().map_err(Error::Config)?;
        let plan = plan(&self.settings, ctx.request)
            .map_err(|m| Error::backend(NAME, registry, format!("flow {flow}: {m}")))?;
        let whom = match &plan {
            Plan::Pod { audience, .. } => format!("workload identity (audience {audience})"),
            Plan::NodeToken => "node identity".to_string(),
            Plan::DockerCfg | Plan::DockerCfgUrl => "instance metadata".to_string(),
        };
        let outcome = runtime::block_on(
            ctx.deadline,
            || {
                Error::backend(
                    NAME,
                    registry,
                    format!("flow {flow}, {whom}: no answer before the run's deadline (--timeout)"),
                )
            },
            async {
                self.run(&plan, ctx.image, ctx.deadline)
                    .await
                    .map_err(|m| Error::backend(NAME, registry, m))
            },
        )?;
        Ok(self.credentials(outcome, ctx.image, overrides))
    }

    async fn run(
        &self,
        plan: &Plan,
        image: &ImageRef,
        deadline: Deadline,
    ) -> std::result::Result<Outcome, String> {
        let flow = self.settings.flow.as_str();
        match plan {
            Plan::NodeToken => node_token(deadline)
                .await
                .map(|(token, identity)| Outcome::Token { token, identity }),
            Plan::Pod {
                audience,
                impersonate,
                subject,
            } => {
                let who = format!("flow {flow}, workload identity (audience {audience})");
                let client = http::client().map_err(|e| format!("{who}: {e}"))?;
                let federated = sts::exchange(&client, deadline, audience, subject)
                    .await
                    .map_err(|m| format!("{who}: {m}"))?;
                match impersonate {
                    None => Ok(Outcome::Token {
                        token: federated,
                        identity: format!("workload identity principal (audience {audience})"),
                    }),
                    Some(email) => {
                        let token = sts::impersonate(&client, deadline, &federated.token, email)
                            .await
                            .map_err(|m| {
                                format!("{who}, impersonating service account {email}: {m}")
                            })?;
                        Ok(Outcome::Token {
                            token,
                            identity: format!(
                                "service account {email} via workload identity (audience {audience})"
                            ),
                        })
                    }
                }
            }
            Plan::DockerCfg | Plan::DockerCfgUrl => {
                let host = metadata::host_from_env().map_err(|m| format!("flow {flow}: {m}"))?;
                let md = Metadata::new(host).map_err(|e| format!("flow {flow}: {e}"))?;
                let config: DockerConfig = if *plan == Plan::DockerCfg {
                    dockercfg::from_attribute(&md, deadline).await
                } else {
                    dockercfg::from_url(&md, deadline).await
                }
                .map_err(|m| format!("flow {flow}: {m}"))?;
                let source = config.path.display().to_string();
                Ok(Outcome::Entries {
                    matches: find_matches(std::slice::from_ref(&config), image),
                    source,
                })
            }
        }
    }

    fn credentials(
        &self,
        outcome: Outcome,
        image: &ImageRef,
        overrides: CacheOverrides,
    ) -> Credentials {
        match outcome {
            Outcome::Token { token, identity } => {
                let auth = AuthConfig {
                    username: USERNAME.to_string(),
                    password: token.token,
                };
                let mut keys = vec![image.registry().to_string()];
                if self.settings.fixed_keys {
                    keys.extend(FIXED_KEYS.iter().map(|k| k.to_string()));
                }
                Credentials {
                    auth: keys.into_iter().map(|k| (k, auth.clone())).collect(),
                    cache_key_type: overrides.key_type.unwrap_or(CacheKeyType::Registry),
                    lifetime: overrides
                        .duration
                        .map_or(Lifetime::ExpiresAt(token.expires_at), Lifetime::CacheFor),
                    identity,
                }
            }
            Outcome::Entries { matches, source } => {
                let auth: BTreeMap<String, AuthConfig> =
                    matches.into_iter().map(|m| (m.key, m.auth)).collect();
                Credentials {
                    cache_key_type: overrides
                        .key_type
                        .unwrap_or_else(|| key_type_for(auth.keys().map(String::as_str))),
                    auth,
                    lifetime: Lifetime::CacheFor(overrides.duration.unwrap_or(self.static_cache)),
                    identity: source,
                }
            }
        }
    }
}

/// The node's token: key file, else metadata server, else (metadata unreachable) ADC file.
async fn node_token(deadline: Deadline) -> std::result::Result<(AccessToken, String), String> {
    if let Some(path) = keyfile::path_from_env() {
        let key = KeyFile::load(&path).map_err(|m| format!("flow gcr, {CREDENTIALS_ENV}: {m}"))?;
        return key_token(key, &format!("key file {}", path.display()), deadline).await;
    }
    let host = metadata::host_from_env().map_err(|m| format!("flow gcr: {m}"))?;
    let md = Metadata::new(host).map_err(|e| format!("flow gcr: {e}"))?;
    let email = match md.email(deadline).await {
        Ok(email) => email,
        Err(MetadataError::Unreachable(cause)) => {
            return adc_fallback(deadline, md.host(), &cause).await
        }
        Err(e) => {
            return Err(format!(
                "flow gcr, metadata server {}: default service account email: {e}",
                md.host()
            ))
        }
    };
    let identity = format!("service account {email} (metadata server {})", md.host());
    let token = md
        .token(deadline)
        .await
        .map_err(|e| format!("flow gcr, {identity}: access token: {e}"))?;
    Ok((token, identity))
}

/// A service-account key's token, with the identity named after the key and where it was read.
async fn key_token(
    key: KeyFile,
    source: &str,
    deadline: Deadline,
) -> std::result::Result<(AccessToken, String), String> {
    let identity = format!("service account {} ({source})", key.client_email);
    let token = key
        .token(deadline)
        .await
        .map_err(|m| format!("flow gcr, {identity}: {m}"))?;
    Ok((token, identity))
}

/// Off GCE with no key file: gcloud's ADC file, if there is one.
async fn adc_fallback(
    deadline: Deadline,
    host: &str,
    cause: &str,
) -> std::result::Result<(AccessToken, String), String> {
    let unreachable = format!(
        "flow gcr: metadata server {host} is unreachable ({cause}); off GCE, set \
         {CREDENTIALS_ENV} to a service-account key file"
    );
    let Some(path) = keyfile::adc_path().filter(|p| p.is_file()) else {
        return Err(unreachable);
    };
    log::info(1, || {
        format!(
            "metadata server {host} unreachable; using gcloud ADC file {}",
            path.display()
        )
    });
    let text = crate::local_file::read_text(&path).map_err(|e| {
        format!(
            "{unreachable}; cannot read gcloud ADC file {}: {e}",
            path.display()
        )
    })?;
    let kind = keyfile::file_type(&text)
        .map_err(|m| format!("{unreachable}; gcloud ADC file {}: {m}", path.display()))?;
    match kind.as_str() {
        "service_account" => {
            let key = KeyFile::parse(&path, text).map_err(|m| format!("flow gcr: {m}"))?;
            key_token(
                key,
                &format!("gcloud ADC file {}", path.display()),
                deadline,
            )
            .await
        }
        "authorized_user" => {
            let identity = format!("gcloud user credentials (ADC file {})", path.display());
            let token = keyfile::adc_user_token(&path, &text, deadline)
                .await
                .map_err(|m| format!("flow gcr, {identity}: {m}"))?;
            Ok((token, identity))
        }
        other => Err(format!(
            "{unreachable}; gcloud ADC file {} has type {other:?}, which this plugin does not use",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    #[test]
    fn token_answers_use_the_registry_and_optionally_the_fixed_keys() {
        let image = ImageRef::parse("europe-docker.pkg.dev/p/r/app").unwrap();
        let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(7200);
        let outcome = || Outcome::Token {
            token: AccessToken {
                token: Secret::new("ya29.t".into()),
                expires_at: at,
            },
            identity: "sa@p.iam.gserviceaccount.com".into(),
        };
        let mut backend = GcrBackend::new(
            GcrTarget::Rule,
            &GoogleSettings::default(),
            Duration::from_secs(300),
        );
        let c = backend.credentials(outcome(), &image, CacheOverrides::default());
        assert_eq!(c.auth.keys().collect::<Vec<_>>(), ["europe-docker.pkg.dev"]);
        assert_eq!(c.auth["europe-docker.pkg.dev"].username, "_token");
        assert_eq!(c.auth["europe-docker.pkg.dev"].password.expose(), "ya29.t");
        assert_eq!(c.cache_key_type, CacheKeyType::Registry);
        assert_eq!(c.lifetime, Lifetime::ExpiresAt(at));
        backend.settings.fixed_keys = true;
        let c = backend.credentials(
            outcome(),
            &image,
            CacheOverrides {
                duration: Some(Duration::from_secs(60)),
                key_type: Some(CacheKeyType::Image),
            },
        );
        assert_eq!(
            c.auth.keys().collect::<Vec<_>>(),
            [
                "*.gcr.io",
                "*.pkg.dev",
                "container.cloud.google.com",
                "europe-docker.pkg.dev",
                "gcr.io"
            ]
        );
        assert_eq!(c.cache_key_type, CacheKeyType::Image);
        assert_eq!(c.lifetime, Lifetime::CacheFor(Duration::from_secs(60)));
    }
}
