//! The AWS backend against real parts on loopback: moto (STS, private ECR), the ECR token fake
//! (ECR Public, future expiries), a recording fault proxy (throttling, 5xx, silence) and the real
//! binary, reached only through the standard `AWS_ENDPOINT_URL_*` variables.
//!
//! Needs `.venv` from `scripts/install-test-deps.sh`; run with `scripts/test.sh` (loopback only).

#![cfg(feature = "aws")]

mod support;

use std::time::{Duration, Instant};

use cloud_credential_provider::parse_go_duration;
use serde_json::{json, Value};
use support::moto::{
    run_aws, run_aws_as, AwsEnv, EcrFake, Fault, FaultProxy, HungEndpoint, Moto, NodeKeys, Recorded,
};
use support::sweep::{assert_no_secret, plant, plant_basic_auth, secret_token};
use support::{random_token, Ran, TempDir, PROVIDER_BIN};

const API_V1: &str = "credentialprovider.kubelet.k8s.io/v1";
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";
/// The account moto answers for when the caller's key is not one it issued.
const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

fn request(image: &str) -> String {
    json!({"kind": "CredentialProviderRequest", "apiVersion": API_V1, "image": image}).to_string()
}

fn pod_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": API_V1,
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

/// A random 12-digit account id (never moto's default); the password moto issues for it is
/// planted for the sweep.
fn random_account() -> String {
    loop {
        let digits: String = support::random_bytes(12)
            .iter()
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        if digits != MOTO_DEFAULT_ACCOUNT && !digits.starts_with('0') {
            support::moto::plant_moto_password(&digits);
            return digits;
        }
    }
}

fn response(ran: &Ran) -> Value {
    assert!(ran.status.success(), "provider failed: {}", ran.describe());
    serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", ran.describe()))
}

/// The only (username, password) of a response, with its key.
fn only_auth(resp: &Value) -> (String, String, String) {
    let auth = resp["auth"].as_object().expect("auth object");
    assert_eq!(auth.len(), 1, "{resp}");
    let (key, entry) = auth.iter().next().expect("one entry");
    (
        key.clone(),
        entry["username"].as_str().expect("username").to_string(),
        entry["password"].as_str().expect("password").to_string(),
    )
}

fn ops(requests: &[Recorded]) -> Vec<String> {
    requests.iter().map(Recorded::operation).collect()
}

#[test]
fn private_host_gets_aws_user_and_motos_password_from_the_hosts_region() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let keys = NodeKeys::random();
    let mut env = AwsEnv::new(Some(&keys));
    env.endpoint("ECR", proxy.url());
    let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let ran = run_aws(&["--v=10"], &request(&format!("{host}/team/app")), &env);
    let resp = response(&ran);
    assert_eq!(resp["kind"], "CredentialProviderResponse");
    assert_eq!(resp["apiVersion"], API_V1);
    assert_eq!(resp["cacheKeyType"], "Registry");
    // moto's tokens expired in 2015: never cached.
    assert_eq!(resp["cacheDuration"], "0s");
    let (key, user, password) = only_auth(&resp);
    assert_eq!(key, host);
    assert_eq!(user, "AWS");
    assert_eq!(password, format!("{MOTO_DEFAULT_ACCOUNT}-auth-token"));

    let seen = proxy.requests();
    assert_eq!(ops(&seen), [ECR_TARGET]);
    assert_eq!(
        seen[0].signing_scope(),
        Some(("eu-west-1".to_string(), "ecr".to_string()))
    );
    assert!(seen[0]
        .header("authorization")
        .is_some_and(|a| a.contains(&keys.access_key_id)));
    // No registryIds: one token for every registry the node may read.
    assert!(!seen[0].body.contains("registryIds"), "{}", seen[0].body);
    assert_no_secret(&ran, &[&password, &keys.secret_access_key]);
}

#[test]
fn image_with_a_port_is_answered_for_host_and_host_port() {
    let moto = Moto::start();
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", moto.url());
    let host = "123456789012.dkr.ecr.ap-south-1.amazonaws.com";
    let ran = run_aws(&[], &request(&format!("{host}:443/app")), &env);
    let resp = response(&ran);
    let keys: Vec<String> = resp["auth"]
        .as_object()
        .expect("auth")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, [host.to_string(), format!("{host}:443")]);
}

#[test]
fn each_partition_calls_ecr_in_the_hosts_region() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", proxy.url());
    let hosts = [
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
        ),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "us-gov-west-1",
        ),
        ("123456789012.dkr-ecr.eu-central-1.on.aws", "eu-central-1"),
        (
            "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
            "us-iso-east-1",
        ),
        (
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
            "eusc-de-east-1",
        ),
    ];
    for (host, _) in hosts {
        let resp = response(&run_aws(&[], &request(&format!("{host}/app")), &env));
        assert_eq!(only_auth(&resp).0, host);
    }
    let regions: Vec<String> = proxy
        .requests()
        .iter()
        .map(|r| r.signing_scope().expect("signed").0)
        .collect();
    let want: Vec<&str> = hosts.iter().map(|(_, r)| *r).collect();
    assert_eq!(regions, want);
}

/// `cacheDuration` as whole seconds.
fn cache_seconds(resp: &Value) -> i64 {
    let text = resp["cacheDuration"].as_str().expect("cacheDuration");
    parse_go_duration(text).expect("Go duration") / 1_000_000_000
}

#[test]
fn a_future_expiry_is_cached_for_half_the_remaining_life() {
    let password = random_token(40);
    let fake = EcrFake::start(&password, Duration::from_secs(7200));
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", fake.url());
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.us-west-2.amazonaws.com/app"),
        &env,
    );
    let resp = response(&ran);
    let secs = cache_seconds(&resp);
    assert!((3599..=3600).contains(&secs), "{resp}");
    assert_eq!(only_auth(&resp).2, password);
}

#[test]
fn ecr_public_uses_its_own_api_in_us_east_1() {
    let password = random_token(40);
    let fake = EcrFake::start(&password, Duration::from_secs(12 * 3600));
    let proxy = FaultProxy::recording(fake.port());
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR_PUBLIC", proxy.url());
    for host in ["public.ecr.aws", "ecr-public.aws.com"] {
        let resp = response(&run_aws(
            &[],
            &request(&format!("{host}/nginx/nginx")),
            &env,
        ));
        let (key, user, got) = only_auth(&resp);
        assert_eq!((key.as_str(), user.as_str()), (host, "AWS"));
        assert_eq!(got, password);
        assert_eq!(resp["cacheKeyType"], "Registry");
        let secs = cache_seconds(&resp);
        assert!((6 * 3600 - 1..=6 * 3600).contains(&secs), "{resp}");
    }
    let seen = proxy.requests();
    assert_eq!(ops(&seen), [ECR_PUBLIC_TARGET, ECR_PUBLIC_TARGET]);
    for r in &seen {
        assert_eq!(
            r.signing_scope(),
            Some(("us-east-1".to_string(), "ecr-public".to_string()))
        );
    }
}

/// moto behind a recording proxy for both STS and ECR.
struct PodSetup {
    _moto: Moto,
    proxy: FaultProxy,
    env: AwsEnv,
    keys: NodeKeys,
    token: String,
}

impl PodSetup {
    fn new() -> PodSetup {
        let moto = Moto::start();
        let proxy = FaultProxy::recording(moto.port());
        let keys = NodeKeys::random();
        let mut env = AwsEnv::new(Some(&keys));
        env.endpoint("ECR", proxy.url())
            .endpoint("STS", proxy.url());
        PodSetup {
            _moto: moto,
            proxy,
            env,
            keys,
            // Shaped like a JWT, unique per test.
            token: plant(format!(
                "eyJ{}.eyJ{}.{}",
                random_token(20),
                random_token(40),
                random_token(30)
            )),
        }
    }

    fn run(&self, annotations: &[(&str, &str)]) -> Ran {
        run_aws(
            &["--v=10"],
            &pod_request(
                "123456789012.dkr.ecr.eu-north-1.amazonaws.com/app",
                &self.token,
                annotations,
            ),
            &self.env,
        )
    }

    /// Asserts STS was asked for `arn` with the pod's token, then ECR was called with the
    /// role's credentials (moto's password names the role's account).
    fn assert_assumed(&self, ran: &Ran, arn: &str, account: &str) {
        let resp = response(ran);
        let seen = self.proxy.requests();
        assert_eq!(ops(&seen), ["AssumeRoleWithWebIdentity", ECR_TARGET]);
        let sts = &seen[0];
        assert_eq!(sts.form("RoleArn").as_deref(), Some(arn));
        assert_eq!(
            sts.form("RoleSessionName").as_deref(),
            Some("ecr-credential-provider")
        );
        assert_eq!(
            sts.form("WebIdentityToken").as_deref(),
            Some(self.token.as_str())
        );
        assert_eq!(
            sts.header("authorization"),
            None,
            "STS call must be unsigned"
        );
        assert_eq!(
            seen[1].signing_scope(),
            Some(("eu-north-1".to_string(), "ecr".to_string()))
        );
        assert!(!seen[1]
            .header("authorization")
            .unwrap_or_default()
            .contains(&self.keys.access_key_id));
        assert_eq!(only_auth(&resp).2, format!("{account}-auth-token"));
        assert!(ran.stderr.contains(arn), "{}", ran.stderr);
        assert_no_secret(
            ran,
            &[
                &self.token,
                &self.keys.secret_access_key,
                &only_auth(&resp).2,
            ],
        );
    }
}

#[test]
fn pod_identity_assumes_the_ecr_role_annotation_first() {
    let s = PodSetup::new();
    let account = random_account();
    let arn = format!("arn:aws:iam::{account}:role/ecr-pull");
    let other = format!("arn:aws:iam::{}:role/irsa", random_account());
    let ran = s.run(&[
        ("eks.amazonaws.com/ecr-role-arn", &arn),
        ("eks.amazonaws.com/role-arn", &other),
    ]);
    s.assert_assumed(&ran, &arn, &account);
}

#[test]
fn pod_identity_falls_back_to_the_irsa_annotation() {
    let s = PodSetup::new();
    let account = random_account();
    let arn = format!("arn:aws:iam::{account}:role/irsa");
    let ran = s.run(&[("eks.amazonaws.com/role-arn", &arn)]);
    s.assert_assumed(&ran, &arn, &account);
}

#[test]
fn pod_identity_falls_back_to_aws_ecr_role_arn() {
    let mut s = PodSetup::new();
    let account = random_account();
    let arn = format!("arn:aws:iam::{account}:role/from-env");
    s.env.set("AWS_ECR_ROLE_ARN", arn.clone());
    let ran = s.run(&[]);
    s.assert_assumed(&ran, &arn, &account);
}

#[test]
fn pod_token_without_any_role_uses_the_node_credentials() {
    let s = PodSetup::new();
    let ran = s.run(&[("some.other/annotation", "x")]);
    let resp = response(&ran);
    let seen = s.proxy.requests();
    assert_eq!(ops(&seen), [ECR_TARGET], "no STS call");
    assert!(seen[0]
        .header("authorization")
        .is_some_and(|a| a.contains(&s.keys.access_key_id)));
    assert_eq!(
        only_auth(&resp).2,
        format!("{MOTO_DEFAULT_ACCOUNT}-auth-token")
    );
    assert_no_secret(&ran, &[&s.token, &s.keys.secret_access_key]);
}

#[test]
fn sts_failure_names_the_role_and_never_the_token() {
    let moto = Moto::start();
    let token = plant(format!(
        "eyJ{}.eyJ{}.sig",
        random_token(24),
        random_token(24)
    ));
    // A hostile STS that even echoes the token back: the provider must not repeat it.
    let proxy = FaultProxy::start(
        moto.port(),
        vec![Fault::sts_access_denied(&format!(
            "Not authorized to perform sts:AssumeRoleWithWebIdentity with {token}"
        ))],
    );
    let keys = NodeKeys::random();
    let mut env = AwsEnv::new(Some(&keys));
    env.endpoint("ECR", proxy.url())
        .endpoint("STS", proxy.url());
    let arn = format!("arn:aws:iam::{}:role/denied", random_account());
    let ran = run_aws(
        &["--v=10"],
        &pod_request(
            "123456789012.dkr.ecr.us-east-2.amazonaws.com/app",
            &token,
            &[("eks.amazonaws.com/ecr-role-arn", &arn)],
        ),
        &env,
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert_eq!(ran.stdout, "");
    assert!(ran.stderr.contains(&arn), "{}", ran.stderr);
    assert!(ran.stderr.contains("AccessDenied"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("AssumeRoleWithWebIdentity"),
        "{}",
        ran.stderr
    );
    assert_no_secret(&ran, &[&token, &keys.secret_access_key]);
    // Failed hard: no fallback to the node's identity.
    assert_eq!(ops(&proxy.requests()), ["AssumeRoleWithWebIdentity"]);
}

fn retried_then_ok(faults: Vec<Fault>) {
    let moto = Moto::start();
    let n = faults.len();
    let proxy = FaultProxy::start(moto.port(), faults);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", proxy.url());
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.sa-east-1.amazonaws.com/app"),
        &env,
    );
    let resp = response(&ran);
    assert_eq!(only_auth(&resp).1, "AWS");
    assert_eq!(proxy.requests().len(), n + 1);
}

#[test]
fn throttling_is_retried_until_success() {
    retried_then_ok(vec![
        Fault::throttling_exception(),
        Fault::too_many_requests(),
    ]);
}

#[test]
fn server_errors_are_retried_until_success() {
    retried_then_ok(vec![Fault::server_error(), Fault::unavailable()]);
}

/// Throttling is waited out for as long as the run's deadline allows (jittered backoff on a
/// 4 s base), then the run fails inside `--timeout`, naming the error and the attempts.
#[test]
fn persistent_throttling_is_retried_until_the_deadline_then_named() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port(), vec![Fault::throttling_exception(); 50]);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", proxy.url());
    let started = Instant::now();
    let ran = run_aws(
        &["--timeout", "12s"],
        &request("123456789012.dkr.ecr.sa-east-1.amazonaws.com/app"),
        &env,
    );
    let elapsed = started.elapsed();
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert!(elapsed < Duration::from_secs(12), "took {elapsed:?}");
    assert!(ran.stderr.contains("ThrottlingException"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("ecr backend, registry 123456789012.dkr.ecr.sa-east-1.amazonaws.com"),
        "{}",
        ran.stderr
    );
    let calls = proxy.requests().len();
    assert!(calls >= 2, "{calls} calls");
    assert!(
        ran.stderr.contains(&format!("(after {calls} attempts)")),
        "{calls}: {}",
        ran.stderr
    );
}

/// A bare HTTP 429 or 503 with no AWS error code (a proxy or VPC endpoint answering) is
/// retried like a ThrottlingException.
#[test]
fn a_bare_429_or_503_without_an_aws_error_code_is_retried() {
    retried_then_ok(vec![Fault::bare_status(429), Fault::bare_status(503)]);
}

#[test]
fn a_hung_endpoint_fails_clearly_before_the_deadline() {
    let hung = HungEndpoint::start();
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", hung.url());
    let started = Instant::now();
    let ran = run_aws(
        &["--timeout", "3s"],
        &request("123456789012.dkr.ecr.eu-west-3.amazonaws.com/app"),
        &env,
    );
    let elapsed = started.elapsed();
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(ran.stderr.contains("eu-west-3"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("timed out: no answer"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.quiet_lines().len(), 1, "{}", ran.stderr);
}

#[test]
fn host_rule_sends_a_mirror_to_ecr_in_the_rules_region_and_registry() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", proxy.url());
    let registry_id = random_account();
    let config = env.dir.join("rules.yaml");
    std::fs::write(
        &config,
        format!(
            "hostRules:\n  - match: [\"mirror.corp.example:5000\"]\n    backend: ecr\n    \
             region: ap-southeast-2\n    registryId: \"{registry_id}\"\n"
        ),
    )
    .expect("write rules");
    let config = config.display().to_string();
    let ran = run_aws(
        &["--config", &config],
        &request("mirror.corp.example:5000/team/app"),
        &env,
    );
    let resp = response(&ran);
    let (key, user, password) = only_auth(&resp);
    assert_eq!(key, "mirror.corp.example:5000");
    assert_eq!(user, "AWS");
    // moto's token names the registry id it was asked for.
    assert_eq!(password, format!("{registry_id}-auth-token"));
    let seen = proxy.requests();
    assert_eq!(
        seen[0].signing_scope(),
        Some(("ap-southeast-2".to_string(), "ecr".to_string()))
    );
    assert!(seen[0].body.contains(&registry_id), "{}", seen[0].body);
}

#[test]
fn a_host_nobody_claims_does_no_aws_work() {
    let hung = HungEndpoint::start();
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", hung.url()).endpoint("STS", hung.url());
    env.set("AWS_ENDPOINT_URL", hung.url());
    let started = Instant::now();
    let ran = run_aws(&[], &request("registry.example.com/app"), &env);
    let resp = response(&ran);
    assert_eq!(resp["auth"], json!({}));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn check_shows_region_partition_identity_and_expiry() {
    let moto = Moto::start();
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", moto.url());
    let ran = run_aws(
        &[
            "check",
            "--output",
            "json",
            "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com/app:v1",
        ],
        "",
        &env,
    );
    assert!(ran.status.success(), "{}", ran.describe());
    let report: Value = serde_json::from_str(ran.stdout.trim()).expect("JSON report");
    assert_eq!(report["backend"], "ecr");
    let details = &report["details"];
    assert_eq!(details["region"], "us-gov-east-1");
    assert_eq!(details["partition"], "aws-us-gov");
    assert_eq!(details["fips"], "true");
    assert_eq!(details["dual-stack"], "false");
    assert_eq!(
        report["identity"],
        "node credentials from environment variables (AWS_ACCESS_KEY_ID)"
    );
    assert_eq!(report["expiresAt"], "2015-01-01T00:00:00Z");
    assert_eq!(report["cacheDuration"], "0s");
    assert!(!ran.stdout.contains("auth-token"), "{}", ran.stdout);
}

#[test]
fn credential_process_profiles_work_and_are_named() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let mut env = AwsEnv::new(None);
    env.endpoint("ECR", proxy.url());
    let key_id = format!("AKIA{}", random_token(16).to_uppercase());
    let secret = plant(random_token(40));
    let script = env.dir.join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\":1,\"AccessKeyId\":\"{key_id}\",\
             \"SecretAccessKey\":\"{secret}\"}}'\n"
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    env.write_config(&format!(
        "[profile node]\ncredential_process = {}\n",
        script.display()
    ));
    env.set("AWS_PROFILE", "node");
    let ran = run_aws(
        &["--v=4"],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &env,
    );
    response(&ran);
    let seen = proxy.requests();
    assert!(seen[0]
        .header("authorization")
        .is_some_and(|a| a.contains(&key_id)));
    assert!(
        ran.stderr.contains("credential_process of profile node"),
        "{}",
        ran.stderr
    );
    assert_no_secret(&ran, &[&secret]);
}

/// A node whose own identity is a web identity token file (IRSA on a self-managed node, or a
/// projected token for a host-network agent): the chain's web identity link assumes the role,
/// and the ECR call is signed with the role's credentials.
#[test]
fn a_node_web_identity_token_file_is_a_link_of_the_chain() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let mut env = AwsEnv::new(None);
    env.endpoint("ECR", proxy.url())
        .endpoint("STS", proxy.url());
    let token = plant(format!(
        "eyJ{}.eyJ{}.sig",
        random_token(20),
        random_token(30)
    ));
    let token_file = env.dir.join("token");
    std::fs::write(&token_file, &token).expect("write token");
    let arn = "arn:aws:iam::210987654321:role/node-puller";
    env.set(
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token_file.display().to_string(),
    )
    .set("AWS_ROLE_ARN", arn)
    .set("AWS_ROLE_SESSION_NAME", "node-session");
    let ran = run_aws(
        &["--v=4"],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &env,
    );
    response(&ran);
    let seen = proxy.requests();
    assert_eq!(ops(&seen), ["AssumeRoleWithWebIdentity", ECR_TARGET]);
    assert_eq!(seen[0].form("RoleArn").as_deref(), Some(arn));
    assert_eq!(
        seen[0].form("WebIdentityToken").as_deref(),
        Some(token.as_str())
    );
    assert!(
        ran.stderr.contains("web identity token file"),
        "{}",
        ran.stderr
    );
    assert_no_secret(&ran, &[&token]);
}

#[test]
fn no_credentials_at_all_is_a_clear_error() {
    let moto = Moto::start();
    let mut env = AwsEnv::new(None);
    env.endpoint("ECR", moto.url());
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &env,
    );
    // The failure contract: exit 1, nothing on stdout, one line naming backend and registry.
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert_eq!(ran.stdout, "");
    // One line at kubelet's default verbosity (the sweep runs it at --v=10).
    let quiet = ran.quiet_lines();
    assert_eq!(quiet.len(), 1, "{}", ran.stderr);
    assert!(
        quiet[0].starts_with(
            "cloud-credential-provider: error: ecr backend, registry \
             123456789012.dkr.ecr.us-east-1.amazonaws.com: no node AWS credentials"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn drop_in_name_with_the_eks_arguments_serves_ecr() {
    let moto = Moto::start();
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", moto.url());
    let bin_dir = TempDir::new("eks-bin");
    let link = bin_dir.join("ecr-credential-provider");
    std::os::unix::fs::symlink(PROVIDER_BIN, &link).expect("symlink");
    let host = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
    // As kubelet runs it under provider-config/eks.yaml: args [get-credentials].
    let ran = run_aws_as(
        &link,
        &["get-credentials"],
        &request(&format!("{host}/app")),
        &env,
    );
    let resp = response(&ran);
    assert_eq!(only_auth(&resp).0, host);
    assert_eq!(only_auth(&resp).1, "AWS");
}

#[test]
fn proxy_variables_are_honoured() {
    let moto = Moto::start();
    let proxy = FaultProxy::recording(moto.port());
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    // A name that resolves nowhere: only a proxy can carry the request.
    env.endpoint("ECR", "http://ecr.proxy-test.invalid");
    env.set("HTTP_PROXY", proxy.url());
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &env,
    );
    assert_eq!(only_auth(&response(&ran)).1, "AWS");
    let seen = proxy.requests();
    assert_eq!(ops(&seen), [ECR_TARGET]);
    assert!(
        seen[0].path.starts_with("http://ecr.proxy-test.invalid"),
        "{}",
        seen[0].path
    );

    // NO_PROXY exempts the endpoint: straight to moto, the proxy sees nothing more.
    env.endpoint("ECR", moto.url());
    env.set("NO_PROXY", "127.0.0.1");
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &env,
    );
    assert_eq!(only_auth(&response(&ran)).1, "AWS");
    assert_eq!(proxy.requests().len(), 1);
}

#[test]
fn https_endpoints_are_trusted_through_ssl_cert_file_only() {
    let certs = TempDir::new("aws-tls");
    let (moto, ca) = Moto::start_tls(&certs);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", format!("https://127.0.0.1:{}", moto.port()));
    let image = request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app");

    // The system store does not know the test CA: the TLS handshake must fail.
    let ran = run_aws(&[], &image, &env);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
    assert!(
        ran.stderr.to_lowercase().contains("certificate"),
        "{}",
        ran.stderr
    );

    env.set("SSL_CERT_FILE", ca.display().to_string());
    let ran = run_aws(&[], &image, &env);
    assert_eq!(only_auth(&response(&ran)).1, "AWS");
}

/// `tests/fakes/aws_fake.py` on a loopback port, serving IMDSv2 and ECR, with `--set` options;
/// returns the process (killed on drop) and its URL. Every secret it hands out is planted for the
/// secret sweep: the ECR passwords given as options, and the IMDS session token and the role's
/// credentials, which are chosen here rather than left to the fake's chance.
struct AwsFake {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl AwsFake {
    fn start(options: &[(&str, &str)]) -> AwsFake {
        use support::netns::{fakes_dir, venv_python};
        let dir = TempDir::new("aws-fake");
        let ready = dir.join("ready");
        let log = dir.join("requests.jsonl");
        let mut cmd = std::process::Command::new(venv_python());
        cmd.arg(fakes_dir().join("aws_fake.py"))
            .args(["--port", "0", "--ready"])
            .arg(&ready)
            .arg("--log")
            .arg(&log);
        let issued = [
            ("imds_token", secret_token(43)),
            ("aws_node_secret_key", secret_token(40)),
            ("aws_node_session_token", secret_token(80)),
        ];
        let issued = issued.iter().map(|(k, v)| (*k, v.as_str()));
        for (k, v) in issued.chain(options.iter().copied()) {
            if k.ends_with("_password") {
                plant_basic_auth("AWS", &plant(v));
            }
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start aws_fake.py");
        let started = Instant::now();
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "aws_fake.py did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        AwsFake {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// Paths of the requests received, in order.
    fn paths(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["path"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for AwsFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node chain down to instance metadata (no keys, no profile), IMDS and ECR both the fake.
fn imds_env(fake: &AwsFake) -> AwsEnv {
    let mut env = AwsEnv::new(None);
    env.set("AWS_EC2_METADATA_DISABLED", "false")
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url.clone())
        .endpoint("ECR", fake.url.clone());
    env
}

/// A slow IMDSv2 token answer (1.5 s) is waited for: a 1 s read limit used to fail the run
/// with 29 s of its deadline left.
#[test]
fn a_slow_instance_metadata_token_is_waited_for() {
    let password = random_token(32);
    let fake = AwsFake::start(&[
        ("aws_node_password", password.as_str()),
        ("imds_token_delay", "1.5"),
    ]);
    let ran = run_aws(
        &[],
        &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
        &imds_env(&fake),
    );
    let resp = response(&ran);
    assert_eq!(only_auth(&resp).2, password);
}

/// Instance metadata answering 503 and 429 is asked again within the deadline, like every
/// other endpoint.
#[test]
fn instance_metadata_errors_are_retried() {
    for status in ["503", "429"] {
        let password = random_token(32);
        let fake = AwsFake::start(&[
            ("aws_node_password", password.as_str()),
            ("imds_fail", "2"),
            ("imds_fail_status", status),
        ]);
        let ran = run_aws(
            &["--timeout", "20s"],
            &request("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
            &imds_env(&fake),
        );
        let resp = response(&ran);
        assert_eq!(only_auth(&resp).2, password, "{status}");
        let tokens = fake
            .paths()
            .iter()
            .filter(|p| *p == "/latest/api/token")
            .count();
        assert_eq!(tokens, 3, "{status}: {:?}", fake.paths());
    }
}
