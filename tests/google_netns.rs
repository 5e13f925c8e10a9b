//! The unmodified binary in a network namespace where `metadata.google.internal` (HTTP :80)
//! and `sts.googleapis.com`, `iamcredentials.googleapis.com`, `accounts.google.com` (HTTPS
//! :443, a test CA trusted through `SSL_CERT_FILE`) are local fakes: the node token by the
//! real host name, GKE-style and pool-style workload identity with and without impersonation,
//! the failure paths of an opted-in pod, and gcloud's ADC file off GCE.
//!
//! Needs root for the namespaces and `.venv` for the fakes, so every test is `#[ignore]`d: run
//! with `scripts/test.sh`.

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use std::time::{Duration, Instant};

use google_common::{GoogleNs, TOKEN_PATH};
use serde_json::{json, Value};
use support::sweep::{assert_failed, plant, run_swept};
use support::{
    auth_entry, go_seconds, pod_request, random_token, request, response, write_private_file,
    API_V1,
};

const IDP: &str =
    "https://container.googleapis.com/v1/projects/proj/locations/europe-west1/clusters/c1";
const POOL: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";
const GSA: &str = "puller@proj.iam.gserviceaccount.com";
const ENABLE: &str = "iam.gke.io/enable-wi-image-pull";
const IMPERSONATE: &str = "iam.gke.io/gcp-service-account";

struct Tokens {
    node: String,
    sts: String,
    iam: String,
    pod: String,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            node: format!("ya29.node-{}", random_token(30)),
            sts: format!("ya29.fed-{}", random_token(30)),
            iam: format!("ya29.gsa-{}", random_token(30)),
            // The fake's tokens are planted when it starts; the pod's is the test's own.
            pod: plant(format!("eyJ.pod-{}", random_token(60))),
        }
    }

    fn options(&self) -> Vec<(&str, &str)> {
        vec![
            ("token", self.node.as_str()),
            ("email", "node@proj.iam.gserviceaccount.com"),
            ("sts_token", self.sts.as_str()),
            ("iam_token", self.iam.as_str()),
        ]
    }
}

/// What the gcr backend answers: the token with the user name `_token`.
fn auth(password: &str) -> Value {
    auth_entry("_token", password)
}

fn sts_body(audience: &str, pod: &str) -> Value {
    json!({
        "audience": audience,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "subject_token": pod,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    })
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn node_token_by_the_real_metadata_host_name() {
    let t = Tokens::new();
    let g = GoogleNs::start("gcp-node", &t.options());
    let ran = run_swept(
        g.provider(&[]),
        request("asia-docker.pkg.dev/proj/repo/app").as_bytes(),
    );
    let r = response(&ran);
    assert_eq!(r["auth"], json!({"asia-docker.pkg.dev": auth(&t.node)}));
    let md = g.metadata_requests();
    assert_eq!(md.len(), 2);
    assert_eq!(md[1]["path"], TOKEN_PATH);
    assert_eq!(md[1]["headers"]["host"], "metadata.google.internal");
    assert_eq!(md[1]["headers"]["metadata-flavor"], "Google");
    assert!(g.tls_requests().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn gke_workload_identity_exchanges_the_pod_token_at_sts() {
    let t = Tokens::new();
    let mut options = t.options();
    options.push(("sts_expires_in", "3000"));
    let g = GoogleNs::start("gcp-gke-wi", &options);
    let args = [
        "get-credentials",
        "--authFlow=gcr",
        "--identity-provider",
        IDP,
        "--project-id=proj",
    ];
    let ran = run_swept(
        g.provider(&args),
        pod_request("gcr.io/proj/app", &t.pod, &[(ENABLE, "true")]).as_bytes(),
    );
    let r = response(&ran);
    assert_eq!(r["auth"], json!({"gcr.io": auth(&t.sts)}));
    let secs = go_seconds(r["cacheDuration"].as_str().unwrap());
    assert!((1499..=1500).contains(&secs), "half of 3000 s: {secs}");
    let tls = g.tls_requests();
    assert_eq!(tls.len(), 1, "{tls:?}");
    assert_eq!(tls[0]["method"], "POST");
    assert_eq!(tls[0]["path"], "/v1/token");
    assert_eq!(tls[0]["headers"]["host"], "sts.googleapis.com");
    assert_eq!(
        tls[0]["json"],
        sts_body(&format!("identitynamespace:proj.svc.id.goog:{IDP}"), &t.pod)
    );
    assert!(
        g.metadata_requests().is_empty(),
        "the node's token is not fetched"
    );

    // Not opted in ("True" is not "true"): the node's token, no STS call.
    let ran = run_swept(
        g.provider(&args),
        pod_request("gcr.io/proj/app", &t.pod, &[(ENABLE, "True")]).as_bytes(),
    );
    assert_eq!(response(&ran)["auth"], json!({"gcr.io": auth(&t.node)}));
    assert_eq!(g.tls_requests().len(), 1);
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn impersonation_trades_the_federated_token_at_iam_credentials() {
    let t = Tokens::new();
    let mut options = t.options();
    options.push(("iam_expires_in", "1200"));
    let g = GoogleNs::start("gcp-imp", &options);
    let ran = run_swept(
        g.provider(&["--workload-identity-audience", POOL, "-v"]),
        pod_request("eu.gcr.io/proj/app", &t.pod, &[(IMPERSONATE, GSA)]).as_bytes(),
    );
    let r = response(&ran);
    assert_eq!(r["auth"], json!({"eu.gcr.io": auth(&t.iam)}));
    // expireTime is RFC 3339 with nanoseconds; cacheDuration is half of what is left.
    let secs = go_seconds(r["cacheDuration"].as_str().unwrap());
    assert!((598..=600).contains(&secs), "half of 1200 s: {secs}");
    assert!(ran.stderr.contains(GSA), "{}", ran.stderr);
    for secret in [&t.pod, &t.sts, &t.iam] {
        assert!(!ran.stderr.contains(secret.as_str()), "{}", ran.stderr);
    }
    let tls = g.tls_requests();
    assert_eq!(tls.len(), 2, "{tls:?}");
    assert_eq!(tls[0]["json"], sts_body(POOL, &t.pod));
    assert_eq!(tls[1]["method"], "POST");
    assert_eq!(tls[1]["headers"]["host"], "iamcredentials.googleapis.com");
    assert_eq!(
        tls[1]["path"],
        format!("/v1/projects/-/serviceAccounts/{GSA}:generateAccessToken")
    );
    assert_eq!(
        tls[1]["headers"]["authorization"],
        format!("Bearer {}", t.sts)
    );
    assert_eq!(
        tls[1]["json"],
        json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})
    );
    assert!(g.metadata_requests().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn an_opted_in_pod_whose_exchange_fails_never_gets_the_node_token() {
    let t = Tokens::new();
    let mut options = t.options();
    options.push(("sts_status", "400"));
    let g = GoogleNs::start("gcp-sts-400", &options);
    let ran = run_swept(
        g.provider(&["--identity-provider", IDP, "--project-id", "proj"]),
        pod_request("gcr.io/proj/app", &t.pod, &[(ENABLE, "true")]).as_bytes(),
    );
    assert_failed(
        &ran,
        &[
            "registry gcr.io",
            "flow gcr",
            "identitynamespace:proj.svc.id.goog:",
            "HTTP 400",
            "invalid_grant",
        ],
        &[&t.pod, &t.node],
    );
    assert!(g.metadata_requests().is_empty(), "no fallback to the node");

    // Opted in, but kubelet sent no token (no tokenAttributes): an error too.
    let ran = run_swept(
        g.provider(&["--identity-provider", IDP, "--project-id", "proj"]),
        json!({
            "kind": "CredentialProviderRequest",
            "apiVersion": API_V1,
            "image": "gcr.io/proj/app",
            "serviceAccountAnnotations": {ENABLE: "true"},
        })
        .to_string()
        .as_bytes(),
    );
    assert_failed(&ran, &["tokenAttributes"], &[&t.node]);
    assert!(g.metadata_requests().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn impersonation_refused_and_hung_sts_are_errors_before_the_deadline() {
    let t = Tokens::new();
    let mut options = t.options();
    options.push(("iam_status", "403"));
    let g = GoogleNs::start("gcp-iam-403", &options);
    let ran = run_swept(
        g.provider(&["--workload-identity-audience", POOL]),
        pod_request("gcr.io/proj/app", &t.pod, &[(IMPERSONATE, GSA)]).as_bytes(),
    );
    assert_failed(
        &ran,
        &[
            &format!("impersonating service account {GSA}"),
            "HTTP 403",
            "PERMISSION_DENIED",
        ],
        &[&t.pod, &t.sts, &t.node],
    );
    assert_eq!(g.tls_requests().len(), 2);
    assert!(g.metadata_requests().is_empty());

    let mut options = t.options();
    options.push(("hang", "sts"));
    let g = GoogleNs::start("gcp-sts-hang", &options);
    let started = Instant::now();
    let ran = run_swept(
        g.provider(&["--workload-identity-audience", POOL, "--timeout=3s"]),
        pod_request("gcr.io/proj/app", &t.pod, &[]).as_bytes(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_failed(&ran, &["registry gcr.io", POOL], &[&t.pod]);
    assert!(g.metadata_requests().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces) and .venv (trustme, Google fakes): scripts/test.sh runs it"]
fn gcloud_user_credentials_are_the_last_resort_off_gce() {
    let t = Tokens::new();
    let adc_token = format!("ya29.user-{}", random_token(30));
    let client_secret = plant(random_token(24));
    let mut options = t.options();
    options.push(("adc_token", &adc_token));
    let g = GoogleNs::start("gcp-adc", &options);
    let dir = g.home.join(".config/gcloud");
    std::fs::create_dir_all(&dir).unwrap();
    write_private_file(
        &dir.join("application_default_credentials.json"),
        json!({
            "type": "authorized_user",
            "client_id": "test-client.apps.googleusercontent.com",
            "client_secret": client_secret,
            "refresh_token": plant(format!("1//refresh-{}", random_token(20))),
        })
        .to_string()
        .as_bytes(),
    );
    // Off GCE nothing answers for the metadata host: point it at a closed port.
    let mut cmd = g.provider(&["-v"]);
    cmd.env("GCE_METADATA_HOST", "127.0.0.1:9");
    let ran = run_swept(cmd, request("gcr.io/proj/app").as_bytes());
    let r = response(&ran);
    assert_eq!(r["auth"], json!({"gcr.io": auth(&adc_token)}));
    assert!(ran.stderr.contains("gcloud"), "{}", ran.stderr);
    let tls = g.tls_requests();
    assert_eq!(tls.len(), 1, "{tls:?}");
    assert_eq!(tls[0]["headers"]["host"], "oauth2.googleapis.com");
    assert_eq!(tls[0]["path"], "/token");
    assert_eq!(tls[0]["form"]["grant_type"], "refresh_token");
    assert_eq!(
        tls[0]["form"]["client_id"],
        "test-client.apps.googleusercontent.com"
    );
    assert_eq!(tls[0]["form"]["client_secret"], client_secret.as_str());
}
