//! Cache keys: which runs may share a cached token.
//!
//! Two runs may share an entry only when they would get the same answer from the cloud. So the
//! key covers everything that can change the answer (backend, registry, the host rule's
//! settings, the pod's token and annotations, answer-changing flags, the clouds' environment
//! variables) and nothing that only changes how a run goes (verbosity, timeout, output format,
//! the command): otherwise turning on `-v` to debug a failing pull would miss the cache, and
//! `check` run with kubelet's flags would not find kubelet's entry. The key is a SHA-256, so no secret (a pod
//! token) ever appears in a file name.

use std::collections::BTreeMap;
use std::ffi::OsString;

use super::VERSION;
use crate::backend::BackendKind;
use crate::protocol::Request;
use crate::settings::{AzureSettings, GoogleSettings, Settings};

/// Environment variables that can change an answer, by prefix: the clouds' SDK and endpoint
/// settings (`AWS_PROFILE`, `AWS_ROLE_ARN`, `AZURE_CLIENT_ID`, `IDENTITY_ENDPOINT`,
/// `GCE_METADATA_HOST`, `GOOGLE_APPLICATION_CREDENTIALS`, `VAULT_ADDR`, `VAULT_NAMESPACE`, ...)
/// and the reference GCP plugin's `KUBE_SIDECAR_*` overrides. The rest of the environment (`PATH`, `TERM`, proxies, trust
/// store) changes how a token is fetched, not whose it is, and differs between kubelet and an
/// operator's shell, where `check` must find kubelet's entry.
const KEY_ENV_PREFIXES: [&str; 10] = [
    "AWS_",
    "AZURE_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "GCE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "KUBE_SIDECAR_",
    "VAULT_",
];
/// Whole names that can change an answer: `HOME` locates `~/.aws/config` and gcloud's ADC file.
const KEY_ENV_NAMES: [&str; 1] = ["HOME"];

/// Whether the environment variable `name` goes into cache keys.
pub fn key_env_var(name: &str) -> bool {
    KEY_ENV_NAMES.contains(&name) || KEY_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The part of this process's environment that goes into cache keys.
pub fn key_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v): (OsString, OsString)| {
            let k = k.into_string().ok()?;
            key_env_var(&k).then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The inputs that decide an answer, hashed into an entry's name, with the backend and
/// registry they are for (written into the entry for `cache list`).
#[derive(Debug, Clone)]
pub struct CacheKey {
    pub(super) hex: String,
    pub(super) backend: BackendKind,
    pub(super) registry: String,
    env_names: Vec<String>,
}

impl CacheKey {
    /// Builds the key for one request: backend, registry, what the route asked of the backend
    /// (`scope`: [`crate::backend::Target::cache_scope`], so an edited host rule gets a new
    /// key), the pod's token and annotations, the settings that can change the answer (see
    /// [`answer_settings`]) and `env` (see [`key_env`]; passed in so tests can vary it).
    ///
    /// Left out on purpose, because they change how a run goes but not its answer: verbosity
    /// (`-v`, `-vv`, `--v=N`), `--timeout`, `--output`, `--offline`, `--cache-dir` itself,
    /// `--static-cache-duration` (it only shapes answers without an expiry, which are never
    /// stored), the command (`get-credentials`, `check IMAGE`) and how flags are spelled
    /// (`--flag=v` or `--flag v`, `-r` or `--registry-mirror`). So turning on `-v` still hits
    /// the cache, and `check` with kubelet's flags finds kubelet's entry.
    pub fn new(
        backend: BackendKind,
        registry: &str,
        scope: &str,
        request: &Request,
        settings: &Settings,
        env: &BTreeMap<String, String>,
    ) -> CacheKey {
        let mut input = Vec::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed, so no two different inputs concatenate to the same bytes.
            input.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            input.extend_from_slice(bytes);
        };
        field(&VERSION.to_be_bytes());
        field(backend.as_str().as_bytes());
        field(registry.as_bytes());
        field(scope.as_bytes());
        field(
            request
                .service_account_token
                .as_ref()
                .map_or(&b""[..], |t| t.expose().as_bytes()),
        );
        for (k, v) in &request.service_account_annotations {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        field(b"--settings--");
        for (name, value) in answer_settings(settings) {
            field(name.as_bytes());
            field(&value);
        }
        field(b"--env--");
        for (k, v) in env {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        CacheKey {
            hex,
            backend,
            registry: registry.to_string(),
            env_names: env.keys().cloned().collect(),
        }
    }

    /// The entry's file name, `<64 hex digits>.json`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.hex)
    }

    pub(super) fn lock_name(&self) -> String {
        format!("{}.lock", self.hex)
    }

    /// The names (never the values) of the environment variables in the key, so `check` can
    /// say what must match kubelet's environment.
    pub fn env_names(&self) -> &[String] {
        &self.env_names
    }
}

/// The command-line settings that can change a backend's answer, as (name, value) pairs in a
/// fixed order. The structs are taken apart without `..`: a new setting does not compile until
/// someone decides here whether it changes answers.
fn answer_settings(settings: &Settings) -> Vec<(&'static str, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt as _;
    let Settings {
        docker_configs,
        plugin_config,
        static_cache: _,
        cache_dir: _,
        google,
        azure,
    } = settings;
    let GoogleSettings {
        flow,
        identity_provider,
        project_id,
        workload_identity_audience,
        fixed_keys,
    } = google;
    let AzureSettings {
        config,
        mirrors,
        sp_token_exchange,
    } = azure;
    let text = |s: &str| s.as_bytes().to_vec();
    let opt = |s: &Option<String>| s.as_deref().map_or(Vec::new(), text);
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or(Vec::new(), |p| p.as_os_str().as_bytes().to_vec())
    };
    let flag = |b: bool| vec![u8::from(b)];
    let mut out = Vec::new();
    for file in docker_configs {
        out.push(("docker-config", file.as_os_str().as_bytes().to_vec()));
    }
    out.push(("config", path(plugin_config)));
    out.push(("authFlow", text(flow.as_str())));
    out.push(("identity-provider", opt(identity_provider)));
    out.push(("project-id", opt(project_id)));
    out.push((
        "workload-identity-audience",
        opt(workload_identity_audience),
    ));
    out.push(("gcr-fixed-keys", flag(*fixed_keys)));
    out.push(("azure-config", path(config)));
    for m in mirrors {
        out.push((
            "registry-mirror",
            text(&format!("{}:{}", m.source, m.target)),
        ));
    }
    out.push(("azure-sp-token-exchange", flag(*sp_token_exchange)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_pull;
    use crate::settings::azure::Mirror;
    use crate::settings::AuthFlow;
    use std::path::PathBuf;

    /// Default settings with `change` applied.
    fn settings(change: impl FnOnce(&mut Settings)) -> Settings {
        let mut settings = Settings::default();
        change(&mut settings);
        settings
    }

    fn key(token: Option<&str>, settings: &Settings, env: &[(&str, &str)]) -> CacheKey {
        CacheKey::new(
            BackendKind::Ecr,
            "r.example",
            "",
            &test_pull::request("r.example/app", token, &[]),
            settings,
            &env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_input_changes_the_key() {
        let gcr = Settings::default();
        let dockercfg = settings(|s| s.google.flow = AuthFlow::DockerCfg);
        let base = key(Some("t1"), &gcr, &[("AWS_PROFILE", "p")]).hex;
        assert_ne!(base, key(Some("t2"), &gcr, &[("AWS_PROFILE", "p")]).hex);
        assert_ne!(base, key(None, &gcr, &[("AWS_PROFILE", "p")]).hex);
        assert_ne!(
            base,
            key(Some("t1"), &dockercfg, &[("AWS_PROFILE", "p")]).hex
        );
        assert_ne!(base, key(Some("t1"), &gcr, &[("AWS_PROFILE", "q")]).hex);
        assert_eq!(base, key(Some("t1"), &gcr, &[("AWS_PROFILE", "p")]).hex);
        // What the route asked of the backend: an edited host rule is another key.
        let scoped = |scope: &str| {
            let request = test_pull::request("r.example/app", None, &[]);
            CacheKey::new(
                BackendKind::Vault,
                "r.example",
                scope,
                &request,
                &gcr,
                &BTreeMap::new(),
            )
            .hex
        };
        assert_ne!(scoped("kv: registry/a"), scoped("kv: registry/b"));
        assert_eq!(scoped("kv: registry/a"), scoped("kv: registry/a"));
        let paths = |p: &[&str]| p.iter().map(PathBuf::from).collect::<Vec<_>>();
        let changed: [(&str, Settings); 9] = [
            (
                "--config",
                settings(|s| s.plugin_config = Some("/a".into())),
            ),
            (
                "--docker-config",
                settings(|s| s.docker_configs = paths(&["/a"])),
            ),
            (
                "two --docker-config",
                settings(|s| s.docker_configs = paths(&["/a", "/b"])),
            ),
            (
                "--azure-config",
                settings(|s| s.azure.config = Some("/a".into())),
            ),
            (
                "--registry-mirror",
                settings(|s| {
                    s.azure.mirrors = vec![Mirror {
                        source: "a.example".into(),
                        target: "b.azurecr.io".into(),
                    }]
                }),
            ),
            (
                "--azure-sp-token-exchange",
                settings(|s| s.azure.sp_token_exchange = true),
            ),
            ("--gcr-fixed-keys", settings(|s| s.google.fixed_keys = true)),
            (
                "--identity-provider --project-id",
                settings(|s| {
                    s.google.identity_provider = Some("https://i".into());
                    s.google.project_id = Some("p".into());
                }),
            ),
            (
                "--workload-identity-audience",
                settings(|s| {
                    s.google.workload_identity_audience = Some(
                        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x"
                            .into(),
                    )
                }),
            ),
        ];
        for (flag, changed) in &changed {
            assert_ne!(
                key(None, &gcr, &[]).hex,
                key(None, changed, &[]).hex,
                "{flag}"
            );
        }
        // Length prefixes: moving a byte between fields gives another key.
        assert_ne!(
            key(
                None,
                &settings(|s| s.docker_configs = paths(&["ab", "c"])),
                &[]
            )
            .hex,
            key(
                None,
                &settings(|s| s.docker_configs = paths(&["a", "bc"])),
                &[]
            )
            .hex
        );
    }

    #[test]
    fn settings_that_only_shape_the_run_keep_the_key() {
        let base = key(None, &Settings::default(), &[]).hex;
        let run_only = settings(|s| {
            s.static_cache = std::time::Duration::from_secs(60);
            s.cache_dir = Some("/elsewhere".into());
        });
        assert_eq!(base, key(None, &run_only, &[]).hex);
    }

    #[test]
    fn only_cloud_settings_and_home_of_the_environment_enter_the_key() {
        for name in [
            "AWS_PROFILE",
            "AWS_ROLE_ARN",
            "AZURE_CLIENT_ID",
            "IDENTITY_ENDPOINT",
            "MSI_ENDPOINT",
            "GCE_METADATA_HOST",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "KUBE_SIDECAR_CACHE_TYPE",
            "HOME",
        ] {
            assert!(key_env_var(name), "{name}");
        }
        for name in [
            "PATH",
            "TERM",
            "PWD",
            "HTTPS_PROXY",
            "SSL_CERT_FILE",
            "HOMEDIR",
        ] {
            assert!(!key_env_var(name), "{name}");
        }
        let k = key(
            None,
            &Settings::default(),
            &[("AWS_PROFILE", "p"), ("HOME", "/root")],
        );
        assert_eq!(k.env_names(), ["AWS_PROFILE", "HOME"]);
    }
}
