//! `--cache-dir` with a real backend: the Google node-token flow against the metadata fake on
//! loopback. A token is reused across runs (no second metadata request), never across
//! registries, and an unexpired token is served when the metadata server is gone.

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use google_common::{go_seconds, provider, response, Fake, API_V1};
use support::{kubelet_request, random_token, run, TempDir};

fn ask(fake_host: &str, home: &TempDir, cache: &std::path::Path, image: &str) -> support::Ran {
    run(
        provider(
            &["--cache-dir", cache.to_str().expect("utf-8")],
            home.path(),
            &[("GCE_METADATA_HOST", fake_host)],
        ),
        kubelet_request(API_V1, image).as_bytes(),
    )
}

fn password(r: &serde_json::Value, key: &str) -> String {
    r["auth"][key]["password"]
        .as_str()
        .expect("password")
        .to_string()
}

#[test]
fn a_token_is_reused_by_later_runs_for_the_same_registry_only() {
    let token = format!("ya29.{}", random_token(40));
    let fake = Fake::start(&[
        ("token", token.as_str()),
        ("email", "node@proj.iam.gserviceaccount.com"),
        ("expires_in", "3600"),
    ]);
    let home = TempDir::new("cache-home");
    let cache = home.join("cache");

    let first = response(&ask(&fake.host(), &home, &cache, "gcr.io/proj/app"));
    assert_eq!(password(&first, "gcr.io"), token);
    let after_first = fake.requests().len();
    assert!(after_first >= 1);

    let second = response(&ask(&fake.host(), &home, &cache, "gcr.io/proj/other"));
    assert_eq!(password(&second, "gcr.io"), token);
    assert_eq!(fake.requests().len(), after_first, "served from the cache");
    // kubelet is told half of the remaining life, as for a fresh token.
    let secs = go_seconds(second["cacheDuration"].as_str().expect("cacheDuration"));
    assert!((1790..=1800).contains(&secs), "{secs}");

    // Another registry is another entry.
    let _ = response(&ask(&fake.host(), &home, &cache, "eu.gcr.io/proj/app"));
    assert!(
        fake.requests().len() > after_first,
        "a new registry asks the server"
    );

    let dir_mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    for entry in std::fs::read_dir(&cache).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!entry.file_name().to_string_lossy().contains(&token));
    }
}

#[test]
fn an_unexpired_token_is_served_when_the_metadata_server_is_gone() {
    let token = format!("ya29.{}", random_token(40));
    let fake = Fake::start(&[
        ("token", token.as_str()),
        ("email", "node@proj.iam.gserviceaccount.com"),
        ("expires_in", "6"),
    ]);
    let host = fake.host();
    let home = TempDir::new("cache-stale-home");
    let cache = home.join("cache");
    let _ = response(&ask(&host, &home, &cache, "gcr.io/proj/app"));
    // Past the half-life: the next run must try to refresh, and the server is gone.
    std::thread::sleep(Duration::from_millis(3500));
    drop(fake);
    let ran = ask(&host, &home, &cache, "gcr.io/proj/app");
    let r = response(&ran);
    assert_eq!(password(&r, "gcr.io"), token);
    assert!(
        ran.stderr.contains("serving the cached token"),
        "{}",
        ran.describe()
    );
    assert!(!ran.stderr.contains(&token));
    // Once expired, nothing is served.
    std::thread::sleep(Duration::from_millis(3000));
    let ran = ask(&host, &home, &cache, "gcr.io/proj/app");
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
}
