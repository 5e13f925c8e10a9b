//! End to end for the gcr backend: a real registry (Debian `docker-registry`) whose htpasswd
//! holds `_token:<the token the fake metadata server issues>`, a host rule sending it to the
//! gcr backend (a mirror that takes Google tokens), the real binary answering kubelet's
//! request, and a `skopeo` pull with exactly the credentials it printed.

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use google_common::{fake, provider};
use support::registry::TestRegistry;
use support::sweep::run_swept;
use support::{random_token, request, response, write_private_file, TempDir};

#[test]
#[ignore = "needs docker-registry, htpasswd, umoci, skopeo and .venv (Google metadata fake): scripts/test.sh runs it"]
fn the_printed_token_pulls_from_a_real_registry() {
    let token = format!("ya29.{}", random_token(48));
    let registry = TestRegistry::start("_token", &token);
    registry.push_test_image("proj/app");
    let fake = fake(&[
        ("token", &token),
        ("email", "node@proj.iam.gserviceaccount.com"),
    ]);
    let dir = TempDir::new("gcr-e2e");
    let config = dir.join("rules.yaml");
    write_private_file(
        &config,
        format!(
            "hostRules:\n  - match: [\"{}\"]\n    backend: gcr\n",
            registry.host()
        )
        .as_bytes(),
    );
    let config_text = config.display().to_string();
    let host = fake.host();
    let ran = run_swept(
        provider(
            &["--config", &config_text],
            dir.path(),
            &[("GCE_METADATA_HOST", &host)],
        ),
        request(&registry.image("proj/app")).as_bytes(),
    );
    let r = response(&ran);
    let entry = &r["auth"][registry.host()];
    let user = entry["username"].as_str().expect("username");
    let password = entry["password"].as_str().expect("password");
    assert_eq!(user, "_token");
    assert_eq!(password, token);
    registry
        .pull_with("proj/app", user, password)
        .unwrap_or_else(|e| panic!("pull with the printed token: {e}\n{}", registry.log()));
    let wrong = registry
        .pull_with("proj/app", user, &format!("{password}x"))
        .expect_err("a wrong token must not pull");
    assert!(wrong.contains("unauthorized"), "{wrong}");
}
