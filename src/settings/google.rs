//! Google's options: `--authFlow`, workload identity (`--identity-provider`/`--project-id` or
//! `--workload-identity-audience`) and `--gcr-fixed-keys`, with the cross-flag checks the
//! parser runs. Options only: what a request gets from them is [`crate::backend::gcr::plan`].

use crate::error::{Error, Result};

/// `--authFlow`: where the credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthFlow {
    /// An OAuth access token (node or pod identity).
    #[default]
    Gcr,
    /// Instance attribute `google-dockercfg`.
    DockerCfg,
    /// The URL in instance attribute `google-dockercfg-url`.
    DockerCfgUrl,
}

impl AuthFlow {
    /// Parses the flag value (the reference's spelling).
    pub fn parse(text: &str) -> Option<AuthFlow> {
        match text {
            "gcr" => Some(AuthFlow::Gcr),
            "dockercfg" => Some(AuthFlow::DockerCfg),
            "dockercfg-url" => Some(AuthFlow::DockerCfgUrl),
            _ => None,
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFlow::Gcr => "gcr",
            AuthFlow::DockerCfg => "dockercfg",
            AuthFlow::DockerCfgUrl => "dockercfg-url",
        }
    }

    /// Whether the flow's credentials can be for any registry, not only Google's.
    pub fn serves_any_host(self) -> bool {
        self != AuthFlow::Gcr
    }
}

/// The Google options of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoogleSettings {
    /// `--authFlow`.
    pub flow: AuthFlow,
    /// `--identity-provider`: the cluster's OIDC issuer as registered with Google (GKE style).
    pub identity_provider: Option<String>,
    /// `--project-id`: the project of the workload identity pool `<project>.svc.id.goog`.
    pub project_id: Option<String>,
    /// `--workload-identity-audience`: the full provider name of any workload identity pool.
    pub workload_identity_audience: Option<String>,
    /// `--gcr-fixed-keys`: also answer under the reference's four fixed patterns.
    pub fixed_keys: bool,
}

impl GoogleSettings {
    /// Cross-flag checks, run once the command line is parsed, so a broken kubelet config
    /// shows up in `validate-config` rather than at the first pull.
    pub fn validate(&self) -> Result<()> {
        match (&self.identity_provider, &self.project_id) {
            (Some(_), None) => {
                return Err(Error::Usage(
                    "--identity-provider needs --project-id (the pool is <project>.svc.id.goog)"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::Usage(
                    "--project-id needs --identity-provider".into(),
                ))
            }
            _ => {}
        }
        if let Some(audience) = &self.workload_identity_audience {
            if self.identity_provider.is_some() {
                return Err(Error::Usage(
                    "--workload-identity-audience replaces --identity-provider/--project-id; \
                     give one or the other"
                        .into(),
                ));
            }
            check_pool_audience(audience).map_err(Error::Usage)?;
        }
        Ok(())
    }

    /// The STS audience and whether pods must opt in with the GKE annotation; `None` when
    /// workload identity is not configured.
    pub(crate) fn workload_identity(&self) -> Option<(String, bool)> {
        if let Some(audience) = &self.workload_identity_audience {
            return Some((audience.clone(), false));
        }
        match (&self.identity_provider, &self.project_id) {
            (Some(provider), Some(project)) => Some((
                format!("identitynamespace:{project}.svc.id.goog:{provider}"),
                true,
            )),
            _ => None,
        }
    }
}

/// `//iam.googleapis.com/projects/N/locations/L/workloadIdentityPools/P/providers/X`.
pub fn check_pool_audience(audience: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = audience.split('/').collect();
    let shape = [
        "",
        "",
        "iam.googleapis.com",
        "projects",
        "*",
        "locations",
        "*",
        "workloadIdentityPools",
        "*",
        "providers",
        "*",
    ];
    let ok = parts.len() == shape.len()
        && parts.iter().zip(shape).all(|(part, want)| {
            if want == "*" {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            } else {
                *part == want
            }
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--workload-identity-audience {audience:?} is not \
             //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER"
        ))
    }
}

/// Google settings the tests of several modules share (compiled in tests only).
#[cfg(test)]
pub(crate) mod examples {
    use super::GoogleSettings;

    /// A workload identity pool provider, as `--workload-identity-audience` takes it.
    pub const POOL: &str =
        "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/k8s";

    /// GKE-style workload identity: cluster `c` of project `p`.
    pub fn gke() -> GoogleSettings {
        GoogleSettings {
            identity_provider: Some(
                "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c".into(),
            ),
            project_id: Some("p".into()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::examples::{gke, POOL};
    use super::*;

    #[test]
    fn flag_combinations_are_checked() {
        assert!(gke().validate().is_ok());
        assert!(GoogleSettings::default().validate().is_ok());
        let mut s = gke();
        s.project_id = None;
        assert!(s.validate().is_err());
        let mut s = gke();
        s.workload_identity_audience = Some(POOL.into());
        assert!(s.validate().is_err());
        let s = GoogleSettings {
            workload_identity_audience: Some(POOL.into()),
            ..Default::default()
        };
        assert!(s.validate().is_ok());
        for bad in [
            "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool",
            "https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/x",
            "//iam.googleapis.com/projects//locations/global/workloadIdentityPools/p/providers/x",
        ] {
            assert!(check_pool_audience(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AuthFlow::parse("dockercfg-url"),
            Some(AuthFlow::DockerCfgUrl)
        );
        assert_eq!(AuthFlow::parse("GCR"), None);
    }
}
