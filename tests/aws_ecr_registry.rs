//! End to end for the AWS backend: an ECR token endpoint hands out a password, a real registry
//! (Debian `docker-registry`) accepts exactly `AWS` and that password, the real binary answers
//! kubelet's request, and `skopeo` pulls the pushed image with what it printed.
//!
//! The registry lives on `127.0.0.1:<port>`, which no ECR grammar claims, so a `--config` host
//! rule maps it to ECR, exactly as for a pull-through cache in front of ECR. Both token sources
//! are exercised: the ECR fake (random password, future expiry) and moto (its fixed password,
//! expired token).
//!
//! Needs docker-registry, htpasswd, umoci, skopeo and `.venv` (`scripts/install-test-deps.sh`).

#![cfg(feature = "aws")]

mod support;

use std::time::Duration;

use support::moto::{run_aws, AwsEnv, EcrFake, Moto, NodeKeys};
use support::registry::TestRegistry;
use support::{only_auth, random_token, request, response};

const REPO: &str = "team/app";

/// Runs the provider for `registry`'s image with a host rule sending it to ECR in `region`,
/// and returns (auth key, username, password, cacheDuration).
fn provider_answer(registry: &TestRegistry, env: &mut AwsEnv) -> (String, String, String, String) {
    let rules = env.dir.join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "hostRules:\n  - match: [\"{}\"]\n    backend: ecr\n    region: us-west-2\n",
            registry.host()
        ),
    )
    .expect("write rules");
    let request = request(&registry.image(REPO));
    let ran = run_aws(&["--config", &rules.display().to_string()], &request, env);
    let resp = response(&ran);
    let (key, username, password) = only_auth(&resp);
    (
        key,
        username,
        password,
        resp["cacheDuration"]
            .as_str()
            .expect("cacheDuration")
            .to_string(),
    )
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci, skopeo and .venv (moto, ECR fake): scripts/test.sh runs it"]
fn the_fakes_token_pulls_from_a_registry_that_demands_it() {
    let password = random_token(48);
    let fake = EcrFake::start(&password, Duration::from_secs(12 * 3600));
    let registry = TestRegistry::start("AWS", &password);
    registry.push_test_image(REPO);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", fake.url());

    let (key, user, got, cache) = provider_answer(&registry, &mut env);
    assert_eq!(key, registry.host());
    assert_eq!(user, "AWS");
    assert!(cache.starts_with("5h59m") || cache == "6h0m0s", "{cache}");
    registry
        .pull_with(REPO, &user, &got)
        .unwrap_or_else(|e| panic!("pull with the served token failed: {e}"));

    let wrong = format!("{got}x");
    let err = registry
        .pull_with(REPO, &user, &wrong)
        .expect_err("a wrong password must not pull");
    assert!(
        err.contains("unauthorized") || err.contains("401"),
        "unexpected pull error: {err}"
    );
}

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci, skopeo and .venv (moto, ECR fake): scripts/test.sh runs it"]
fn motos_token_pulls_from_a_registry_that_demands_it() {
    let moto = Moto::start();
    // moto's password for callers it does not know.
    let password = "123456789012-auth-token";
    let registry = TestRegistry::start("AWS", password);
    registry.push_test_image(REPO);
    let mut env = AwsEnv::new(Some(&NodeKeys::random()));
    env.endpoint("ECR", moto.url());

    let (_, user, got, cache) = provider_answer(&registry, &mut env);
    // Expired in 2015: usable now, but kubelet must not cache it.
    assert_eq!(cache, "0s");
    registry
        .pull_with(REPO, &user, &got)
        .unwrap_or_else(|e| panic!("pull with moto's token failed: {e}"));
    assert!(registry.pull_with(REPO, "AWS", "wrong-password").is_err());
}
