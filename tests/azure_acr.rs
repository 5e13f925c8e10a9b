//! The `acr` backend against local fakes of IMDS, Entra ID and an ACR login server
//! (`tests/fakes/azure_fake.py`), with the binary run unmodified in a network namespace where
//! `169.254.169.254`, `login.microsoftonline.com` and `myacr.azurecr.io` reach the fakes and
//! only a throwaway CA is trusted. Every test asserts what each fake received, not only what
//! the binary printed. The last tests pull from a real registry with the printed credentials.
//!
//! Needs root for the namespaces and `.venv` for the fakes, so every test is `#[ignore]`d: run
//! with `scripts/test.sh`.

#![cfg(feature = "azure")]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::fakes::{read_log, script, venv_python, TestCa};
use support::netns::NetNs;
use support::registry::TestRegistry;
use support::sweep::{assert_failed as assert_failure, plant, run_swept, secret_token};
use support::{
    base64url_encode, drop_in, go_seconds, pod_request, random_token, request, response,
    write_private_file, Ran, TempDir, PROVIDER_BIN,
};

const REGISTRY: &str = "myacr.azurecr.io";
const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";
const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The tenant inside the access tokens the fakes issue (`tid`), distinct from [`TENANT`].
const TOKEN_TENANT: &str = "0b5d3f8e-1111-4222-8333-944455556666";
/// How long the refresh tokens the fake ACR issues live.
const REFRESH_LIFE: u64 = 3 * 3600;

/// A JWT-shaped token with `claims` and a random signature, as Entra and ACR issue them.
fn jwt(claims: Value) -> String {
    let header = base64url_encode(r#"{"alg":"RS256"}"#, false);
    support::jwt(&header, &claims, false, &random_token(43))
}

/// A pod's service-account token, planted for the secret sweep.
fn pod_jwt(claims: Value) -> String {
    plant(jwt(claims))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The fakes, their namespace and the files a run needs.
struct Azure {
    ns: NetNs,
    ca: TestCa,
    dir: TempDir,
    log: PathBuf,
    access_token: String,
    refresh_token: String,
    /// `exp` of [`Azure::refresh_token`].
    refresh_exp: u64,
}

/// Which fakes to start and how they behave.
struct Fakes<'a> {
    /// Start the IMDS fake (else 169.254.169.254 exists but refuses connections).
    imds: bool,
    /// `--set` options of azure_fake.py.
    options: &'a [(&'a str, &'a str)],
}

impl Default for Fakes<'_> {
    fn default() -> Self {
        Fakes {
            imds: true,
            options: &[],
        }
    }
}

impl Azure {
    fn start(fakes: Fakes<'_>) -> Azure {
        let names = [
            "login.microsoftonline.com",
            REGISTRY,
            "myacr.eastus.geo.azurecr.io",
            "login.stack.example",
            "myacr.azurecr.stack.example",
        ];
        let ca = TestCa::new(&names);
        let mut ns = NetNs::new("azure");
        ns.add_address("169.254.169.254/32");
        ns.map_hosts("127.0.0.1", &names);
        let log = ns.logs().join("requests.jsonl");
        let refresh_exp = now() + REFRESH_LIFE;
        // Both tokens the fakes issue are planted: no run may show them (support::sweep).
        let access_token = jwt(json!({
            "aud": "https://containerregistry.azure.net",
            "tid": TOKEN_TENANT,
            "exp": now() + 3600,
        }));
        // Compact: the test registry's htpasswd takes at most 256 bytes (real ACR refresh
        // tokens are longer, which only matters to that tool).
        let refresh_token = plant(jwt(json!({"jti": random_token(12), "exp": refresh_exp})));
        let access_token = plant(access_token);
        let mut options: Vec<String> = vec![
            format!("access_token={access_token}"),
            format!("refresh_token={refresh_token}"),
        ];
        options.extend(fakes.options.iter().map(|(k, v)| format!("{k}={v}")));
        let fake = |ns: &NetNs, extra: &[&std::ffi::OsStr]| {
            let mut cmd = ns.command(venv_python());
            cmd.arg(script("azure_fake.py"))
                .args(extra)
                .arg("--log")
                .arg(&log);
            for o in &options {
                cmd.arg("--set").arg(o);
            }
            cmd
        };
        let (cert, key) = (ca.cert(), ca.key());
        let tls = fake(
            &ns,
            &[
                "--port".as_ref(),
                "443".as_ref(),
                "--cert".as_ref(),
                cert.as_os_str(),
                "--key".as_ref(),
                key.as_os_str(),
            ],
        );
        ns.spawn("tls-fakes", tls);
        ns.wait_for_port("127.0.0.1", 443);
        if fakes.imds {
            let imds = fake(
                &ns,
                &[
                    "--bind".as_ref(),
                    "169.254.169.254".as_ref(),
                    "--port".as_ref(),
                    "80".as_ref(),
                ],
            );
            ns.spawn("imds-fake", imds);
            ns.wait_for_port("169.254.169.254", 80);
        }
        Azure {
            ns,
            ca,
            dir: TempDir::new("azure"),
            log,
            access_token,
            refresh_token,
            refresh_exp,
        }
    }

    /// Writes an azure.json and returns its path.
    fn azure_json(&self, config: Value) -> PathBuf {
        let path = self.dir.join("azure.json");
        write_private_file(
            &path,
            serde_json::to_string_pretty(&config).unwrap().as_bytes(),
        );
        path
    }

    /// The binary under `name` (a symlink, as kubelet's bin dir would hold it).
    fn program(&self, name: &str) -> PathBuf {
        if name == "cloud-credential-provider" {
            return PathBuf::from(PROVIDER_BIN);
        }
        drop_in(self.dir.path(), name)
    }

    /// Runs the binary as `name` in the namespace, trusting only the test CA, swept for
    /// secrets at `--v=10` (support::sweep).
    fn run_as(&self, name: &str, args: &[&str], stdin: &str) -> Ran {
        let mut cmd = self.ns.command(self.program(name));
        cmd.args(args);
        clean_env(&mut cmd);
        cmd.env("SSL_CERT_FILE", self.ca.ca());
        run_swept(cmd, stdin.as_bytes())
    }

    fn run(&self, args: &[&str], stdin: &str) -> Ran {
        self.run_as("cloud-credential-provider", args, stdin)
    }

    /// Every request the fakes received, in order.
    fn requests(&self) -> Vec<Value> {
        read_log(&self.log)
    }

    /// The requests whose Host header is `host` and path is `path`.
    fn requests_to(&self, host: &str, path: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["headers"]["host"] == host && r["path"] == path)
            .collect()
    }

    /// Asserts the one ACR exchange request and its form.
    fn assert_exchange(&self, registry: &str, tenant: &str) {
        let posts = self.requests_to(registry, "/oauth2/exchange");
        assert_eq!(posts.len(), 1, "{:#?}", self.requests());
        let form = &posts[0]["form"];
        assert_eq!(posts[0]["method"], "POST");
        assert_eq!(form["grant_type"], "access_token");
        assert_eq!(form["service"], registry);
        assert_eq!(form["tenant"], tenant);
        assert_eq!(form["access_token"], self.access_token.as_str());
        assert_eq!(form.as_object().unwrap().len(), 4, "{form}");
        assert_eq!(self.requests_to(registry, "/v2/").len(), 1);
    }

    /// Asserts a successful ACR answer under `keys` and returns it.
    fn assert_answer(&self, ran: &Ran, keys: &[&str]) -> Value {
        assert!(
            ran.status.success(),
            "{}\n{}",
            ran.describe(),
            self.ns.logs_text()
        );
        let response = response(ran);
        assert_eq!(response["cacheKeyType"], "Registry");
        let auth = response["auth"].as_object().expect("auth");
        let mut got: Vec<&str> = auth.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(got, want);
        for entry in auth.values() {
            assert_eq!(
                entry,
                &json!({"username": ACR_USER, "password": self.refresh_token})
            );
        }
        // Half the refresh token's remaining life (lifetime.rs), within a second.
        let cache = go_seconds(response["cacheDuration"].as_str().unwrap());
        let expected = (self.refresh_exp - now()) / 2;
        assert!(
            cache.abs_diff(expected) <= 1,
            "cacheDuration {} vs expected {expected}s",
            response["cacheDuration"]
        );
        response
    }
}

/// Removes what would change the binary's behaviour from outside the test.
fn clean_env(cmd: &mut Command) {
    for var in [
        "SSL_CERT_DIR",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IMDS_ENDPOINT",
        "AZURE_AUTHORITY_HOST",
        "AZURE_ENVIRONMENT_FILEPATH",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
}

fn managed_identity_config(extra: Value) -> Value {
    let mut c = json!({
        "cloud": "AzurePublicCloud",
        "tenantId": TENANT,
        "subscriptionId": "00000000-0000-0000-0000-000000000001",
        "aadClientId": "msi",
        "aadClientSecret": "msi",
        "useManagedIdentityExtension": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

// --- managed identity ------------------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn system_assigned_managed_identity_gets_an_acr_refresh_token() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/team/app"),
    );
    az.assert_answer(&ran, &[REGISTRY]);

    let imds = az.requests_to("169.254.169.254", "/metadata/identity/oauth2/token");
    assert_eq!(imds.len(), 1, "{:#?}", az.requests());
    assert_eq!(imds[0]["method"], "GET");
    assert_eq!(imds[0]["headers"]["metadata"], "true");
    let query = imds[0]["query"].as_object().unwrap();
    assert_eq!(query["resource"], "https://containerregistry.azure.net");
    assert!(query["api-version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(!query.contains_key("client_id") && !query.contains_key("msi_res_id"));
    az.assert_exchange(REGISTRY, TENANT);
    // No Entra call: IMDS issues the token.
    assert!(az
        .requests()
        .iter()
        .all(|r| r["headers"]["host"] != "login.microsoftonline.com"));
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn user_assigned_identity_by_client_id_or_resource_id() {
    let resource_id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/mc_rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/agentpool";
    for (id, param) in [
        ("5c1b2a3d-0000-4000-8000-000000000001", "client_id"),
        (resource_id, "msi_res_id"),
    ] {
        let az = Azure::start(Fakes::default());
        let config = az.azure_json(managed_identity_config(
            json!({ "userAssignedIdentityID": id }),
        ));
        let ran = az.run(
            &["--azure-config", config.to_str().unwrap()],
            &request("myacr.azurecr.io/app"),
        );
        az.assert_answer(&ran, &[REGISTRY]);
        let imds = az.requests_to("169.254.169.254", "/metadata/identity/oauth2/token");
        assert_eq!(imds[0]["query"][param], id, "{:#?}", imds);
    }
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn without_azure_json_the_node_identity_and_the_token_tenant_are_used() {
    let az = Azure::start(Fakes::default());
    let ran = az.run(&[], &request("myacr.azurecr.io/app"));
    az.assert_answer(&ran, &[REGISTRY]);
    az.assert_exchange(REGISTRY, TOKEN_TENANT);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn unquoted_challenge_in_any_case_is_understood() {
    let az = Azure::start(Fakes {
        options: &[("challenge", "unquoted")],
        ..Fakes::default()
    });
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    az.assert_answer(&ran, &[REGISTRY]);
    az.assert_exchange(REGISTRY, TENANT);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn geo_replica_host_keeps_its_own_key() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.eastus.geo.azurecr.io/app"),
    );
    az.assert_answer(&ran, &["myacr.eastus.geo.azurecr.io"]);
    az.assert_exchange("myacr.eastus.geo.azurecr.io", TENANT);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn custom_cloud_suffix_and_authority_from_azure_json() {
    let az = Azure::start(Fakes::default());
    let secret = secret_token(40);
    let config = az.azure_json(json!({
        "cloud": "AzureStackCloud",
        "tenantId": TENANT,
        "aadClientId": "stack-sp",
        "aadClientSecret": secret,
        "containerRegistryDNSSuffix": ".azurecr.stack.example",
        "activeDirectoryEndpoint": "https://login.stack.example/",
        "resourceManagerEndpoint": "https://management.stack.example/",
    }));
    let host = "myacr.azurecr.stack.example";
    let ran = az.run(
        &[
            "--azure-config",
            config.to_str().unwrap(),
            "--azure-sp-token-exchange",
        ],
        &request(&format!("{host}/team/app")),
    );
    az.assert_answer(&ran, &[host]);
    let entra = az.requests_to(
        "login.stack.example",
        &format!("/{TENANT}/oauth2/v2.0/token"),
    );
    assert_eq!(entra.len(), 1, "{:#?}", az.requests());
    assert_eq!(entra[0]["form"]["client_id"], "stack-sp");
    az.assert_exchange(host, TENANT);
    // Look-alikes of the custom suffix are not claimed.
    for image in [
        "myacr.azurecr.stack.example.evil.io/a",
        "a.b.azurecr.stack.example/a",
    ] {
        let ran = az.run(
            &["--azure-config", config.to_str().unwrap()],
            &request(image),
        );
        assert!(ran.status.success(), "{}", ran.describe());
        assert!(
            ran.stdout.contains(r#""auth":{}"#),
            "{image}: {}",
            ran.stdout
        );
    }
}

// --- pod identity ----------------------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn pod_identity_uses_the_service_account_token_as_client_assertion() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let pod_token = pod_jwt(
        json!({"aud": ["api://AKSIdentityBinding"], "sub": "system:serviceaccount:team:puller"}),
    );
    let pod_tenant = "11111111-2222-4333-8444-555555555555";
    let client_id = "a1b2c3d4-0000-4000-8000-00000000000a";
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &pod_request(
            "myacr.azurecr.io/app",
            &pod_token,
            &[
                ("kubernetes.azure.com/acr-client-id", client_id),
                ("kubernetes.azure.com/acr-tenant-id", pod_tenant),
                ("azure.workload.identity/client-id", "not-this-one"),
            ],
        ),
    );
    az.assert_answer(&ran, &[REGISTRY]);

    let path = format!("/{pod_tenant}/oauth2/v2.0/token");
    let entra = az.requests_to("login.microsoftonline.com", &path);
    assert_eq!(entra.len(), 1, "{:#?}", az.requests());
    let form = &entra[0]["form"];
    assert_eq!(form["client_assertion"], pod_token.as_str());
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(form["client_id"], client_id);
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], ACR_SCOPE);
    // The node identity is not touched.
    assert!(az
        .requests_to("169.254.169.254", "/metadata/identity/oauth2/token")
        .is_empty());
    az.assert_exchange(REGISTRY, pod_tenant);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn pod_identity_with_workload_identity_keys_and_the_config_tenant() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let pod_token = pod_jwt(json!({"sub": "system:serviceaccount:a:b"}));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &pod_request(
            "myacr.azurecr.io/app",
            &pod_token,
            &[("azure.workload.identity/client-id", "wi-client")],
        ),
    );
    az.assert_answer(&ran, &[REGISTRY]);
    let entra = az.requests_to(
        "login.microsoftonline.com",
        &format!("/{TENANT}/oauth2/v2.0/token"),
    );
    assert_eq!(entra.len(), 1, "{:#?}", az.requests());
    assert_eq!(entra[0]["form"]["client_id"], "wi-client");
    az.assert_exchange(REGISTRY, TENANT);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn pod_identity_refused_by_entra_names_client_and_tenant_not_the_token() {
    let az = Azure::start(Fakes {
        options: &[("entra", "400")],
        ..Fakes::default()
    });
    let config = az.azure_json(managed_identity_config(json!({})));
    let pod_token = pod_jwt(json!({"sub": "system:serviceaccount:a:b"}));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &pod_request(
            "myacr.azurecr.io/app",
            &pod_token,
            &[
                ("kubernetes.azure.com/acr-client-id", "ghost-client"),
                ("kubernetes.azure.com/acr-tenant-id", "ghost-tenant"),
            ],
        ),
    );
    assert_failure(
        &ran,
        &[REGISTRY, "ghost-client", "ghost-tenant", "AADSTS700016"],
        &[&pod_token, &az.access_token],
    );
    assert!(az.requests_to(REGISTRY, "/oauth2/exchange").is_empty());
}

// --- service principal -----------------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn service_principal_secret_is_answered_without_any_network_call() {
    let az = Azure::start(Fakes::default());
    let secret = secret_token(40);
    let config = az.azure_json(json!({
        "cloud": "AzurePublicCloud",
        "tenantId": TENANT,
        "aadClientId": "sp-client-id",
        "aadClientSecret": secret,
        "useManagedIdentityExtension": false,
    }));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let response = response(&ran);
    assert_eq!(
        response["auth"],
        json!({ REGISTRY: {"username": "sp-client-id", "password": secret} })
    );
    assert_eq!(response["cacheKeyType"], "Registry");
    assert_eq!(response["cacheDuration"], "5m0s");
    assert!(az.requests().is_empty(), "{:#?}", az.requests());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn service_principal_token_exchange_when_selected() {
    let az = Azure::start(Fakes::default());
    let secret = secret_token(40);
    let config = az.azure_json(json!({
        "tenantId": TENANT,
        "aadClientId": "sp-client-id",
        "aadClientSecret": secret,
    }));
    let ran = az.run(
        &[
            "--azure-config",
            config.to_str().unwrap(),
            "--azure-sp-token-exchange",
        ],
        &request("myacr.azurecr.io/app"),
    );
    az.assert_answer(&ran, &[REGISTRY]);
    let entra = az.requests_to(
        "login.microsoftonline.com",
        &format!("/{TENANT}/oauth2/v2.0/token"),
    );
    assert_eq!(entra.len(), 1, "{:#?}", az.requests());
    let form = &entra[0]["form"];
    assert_eq!(form["client_id"], "sp-client-id");
    assert_eq!(form["client_secret"], secret.as_str());
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], ACR_SCOPE);
    az.assert_exchange(REGISTRY, TENANT);
}

// --- errors ----------------------------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn registry_without_challenge_is_a_clear_error() {
    let az = Azure::start(Fakes {
        options: &[("challenge", "none")],
        ..Fakes::default()
    });
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    let line = assert_failure(
        &ran,
        &[
            REGISTRY,
            "system-assigned",
            TENANT,
            "without a Bearer challenge",
            "private endpoint",
        ],
        &[&az.access_token],
    );
    assert!(line.contains("HTTP 200"), "{line}");
    assert!(az.requests_to(REGISTRY, "/oauth2/exchange").is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn exchange_refusal_names_registry_identity_and_tenant() {
    for status in ["401", "403"] {
        let az = Azure::start(Fakes {
            options: &[("exchange", status)],
            ..Fakes::default()
        });
        let uai = "5c1b2a3d-0000-4000-8000-000000000001";
        let config = az.azure_json(managed_identity_config(
            json!({ "userAssignedIdentityID": uai }),
        ));
        let ran = az.run(
            &["--azure-config", config.to_str().unwrap()],
            &request("myacr.azurecr.io/app"),
        );
        assert_failure(
            &ran,
            &[REGISTRY, uai, TENANT, &format!("HTTP {status}"), "AcrPull"],
            &[&az.access_token, &az.refresh_token],
        );
    }
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn unreachable_imds_fails_fast_with_bounded_retries() {
    let az = Azure::start(Fakes {
        imds: false,
        ..Fakes::default()
    });
    let config = az.azure_json(managed_identity_config(json!({})));
    let started = Instant::now();
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    let line = assert_failure(
        &ran,
        &[
            REGISTRY,
            "system-assigned",
            TENANT,
            "instance metadata service (169.254.169.254): unreachable",
            "Connection refused",
            "after 3 attempt",
        ],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}: {line}",
        started.elapsed()
    );
    assert!(az.requests().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn a_hung_imds_is_cut_at_the_deadline_with_the_step_named() {
    let az = Azure::start(Fakes {
        imds: false,
        ..Fakes::default()
    });
    // A listener that accepts and never answers.
    let mut hang = az.ns.command("python3");
    hang.args([
        "-c",
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('169.254.169.254',80))\ns.listen(50)\nc=[]\nwhile True: c.append(s.accept())",
    ]);
    let mut az = az;
    az.ns.spawn("hung-imds", hang);
    az.ns.wait_for_port("169.254.169.254", 80);
    let config = az.azure_json(managed_identity_config(json!({})));
    let started = Instant::now();
    let ran = az.run(
        &[
            "--azure-config",
            config.to_str().unwrap(),
            "--timeout",
            "3s",
        ],
        &request("myacr.azurecr.io/app"),
    );
    assert_failure(
        &ran,
        &[
            REGISTRY,
            "system-assigned",
            TENANT,
            "deadline",
            "instance metadata",
        ],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn a_realm_elsewhere_never_receives_the_token() {
    let az = Azure::start(Fakes {
        options: &[("challenge", "foreign")],
        ..Fakes::default()
    });
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    assert_failure(
        &ran,
        &[REGISTRY, "login.microsoftonline.com", "refusing"],
        &[&az.access_token],
    );
    assert!(az
        .requests()
        .iter()
        .all(|r| r["path"] != "/oauth2/exchange" && r["path"] != "/oauth2/token"));
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn unusable_azure_json_is_reported_for_acr_hosts_only() {
    let az = Azure::start(Fakes::default());
    let config = az.dir.join("azure.json");
    write_private_file(&config, b"{\"cloud\": \"Mars\"}");
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    assert_failure(&ran, &[REGISTRY, "unknown cloud"], &[]);
    // Other hosts never read it, and get the usual empty answer.
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap()],
        &request("docker.io/library/nginx"),
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let response = response(&ran);
    assert_eq!(response["auth"], json!({}));
    assert!(az.requests().is_empty());
}

// --- mirrors and the drop-in name --------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn mirror_source_gets_the_target_token_under_both_hosts() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &[
            "--azure-config",
            config.to_str().unwrap(),
            "--registry-mirror=mcr.microsoft.com:myacr.azurecr.io,reg.local:5000:myacr.azurecr.io",
        ],
        &request("mcr.microsoft.com/oss/nginx"),
    );
    az.assert_answer(&ran, &["mcr.microsoft.com", REGISTRY]);
    az.assert_exchange(REGISTRY, TENANT);

    let ran = az.run(
        &[
            "--azure-config",
            config.to_str().unwrap(),
            "-r",
            "reg.local:5000:myacr.azurecr.io",
        ],
        &request("reg.local:5000/team/app"),
    );
    az.assert_answer(&ran, &["reg.local:5000", REGISTRY]);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn mirror_matching_respects_host_boundaries_and_ports() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    for image in [
        "mcr.microsoft.com.evil.io/oss/nginx",
        "evilmcr.microsoft.com/oss/nginx",
        "reg.local/team/app",
        "reg.local:5001/team/app",
        "mcr.microsoft.com:443/oss/nginx",
    ] {
        let ran = az.run(
            &[
                "--azure-config",
                config.to_str().unwrap(),
                "--registry-mirror=mcr.microsoft.com:myacr.azurecr.io,reg.local:5000:myacr.azurecr.io",
            ],
            &request(image),
        );
        assert!(ran.status.success(), "{image}: {}", ran.describe());
        let response = response(&ran);
        assert_eq!(response["auth"], json!({}), "{image}");
    }
    assert!(az.requests().is_empty(), "{:#?}", az.requests());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn drop_in_name_takes_the_reference_arguments() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run_as(
        "acr-credential-provider",
        &[
            config.to_str().unwrap(),
            "--registry-mirror=mcr.microsoft.com:myacr.azurecr.io",
        ],
        &request("mcr.microsoft.com/oss/nginx"),
    );
    az.assert_answer(&ran, &["mcr.microsoft.com", REGISTRY]);
    az.assert_exchange(REGISTRY, TENANT);

    // A service principal azure.json proves the positional file is the one read.
    let sp = az.dir.join("sp.json");
    write_private_file(
        &sp,
        b"tenantId: t\naadClientId: from-positional\naadClientSecret: x\n",
    );
    let ran = az.run_as(
        "acr-credential-provider",
        &[sp.to_str().unwrap()],
        &request("myacr.azurecr.io/app"),
    );
    assert!(ran.status.success(), "{}", ran.describe());
    assert!(ran.stdout.contains("from-positional"), "{}", ran.stdout);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Azure fakes): scripts/test.sh runs it"]
fn check_shows_cloud_registry_identity_tenant_and_expiry() {
    let az = Azure::start(Fakes::default());
    let config = az.azure_json(managed_identity_config(json!({})));
    let ran = az.run(
        &[
            "check",
            "myacr.azurecr.io/app:v1",
            "--azure-config",
            config.to_str().unwrap(),
        ],
        "",
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let out = &ran.stdout;
    for needle in [
        "backend:       acr",
        "cloud:         AzurePublicCloud",
        "login server:  myacr.azurecr.io",
        "identity:      managed identity system-assigned",
        TENANT,
        "expires:",
        "Registry for",
        "username \"00000000-0000-0000-0000-000000000000\"",
    ] {
        assert!(out.contains(needle), "{needle:?} missing:\n{out}");
    }
    let expires = out
        .lines()
        .find(|l| l.starts_with("expires:"))
        .unwrap()
        .trim_start_matches("expires:")
        .trim();
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    assert!(!out.contains(&az.refresh_token) && !ran.stderr.contains(&az.refresh_token));

    let ran = az.run(
        &[
            "check",
            "myacr.azurecr.io/app",
            "--offline",
            "-o",
            "json",
            "--azure-config",
            config.to_str().unwrap(),
        ],
        "",
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["backend"], "acr");
    assert_eq!(report["details"]["tenant"], TENANT);
    assert_eq!(report["details"]["cloud"], "AzurePublicCloud");
    assert_eq!(az.requests_to(REGISTRY, "/oauth2/exchange").len(), 1);
}

// --- a real registry -------------------------------------------------------------------------

#[test]
#[ignore = "needs root (network namespaces), .venv (trustme, Azure fakes), docker-registry, htpasswd, umoci and skopeo: scripts/test.sh runs it"]
fn a_real_registry_accepts_the_printed_credentials() {
    let az = Azure::start(Fakes::default());
    let registry = TestRegistry::start(ACR_USER, &az.refresh_token);
    registry.push_test_image("test/app");
    let config = az.azure_json(managed_identity_config(json!({})));
    // The registry stands in for a pull-through mirror of the ACR: its images get the ACR
    // token, which the fake ACR issued and the registry accepts.
    let mirror = format!("--registry-mirror={}:{REGISTRY}", registry.host());
    let ran = az.run(
        &["--azure-config", config.to_str().unwrap(), &mirror],
        &request(&registry.image("test/app")),
    );
    let response = az.assert_answer(&ran, &[&registry.host(), REGISTRY]);
    let entry = &response["auth"][registry.host()];
    let (user, password) = (
        entry["username"].as_str().unwrap(),
        entry["password"].as_str().unwrap(),
    );
    registry
        .pull_with("test/app", user, password)
        .unwrap_or_else(|e| panic!("pull with the printed credentials: {e}\n{}", registry.log()));
    // bcrypt reads only the first 72 bytes: change the first one.
    let wrong = format!("x{}", &password[1..]);
    assert!(registry.pull_with("test/app", user, &wrong).is_err());
    assert!(registry.pull_anonymously("test/app").is_err());
}
