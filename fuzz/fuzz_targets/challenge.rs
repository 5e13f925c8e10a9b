//! `WWW-Authenticate` values: never panics; a Bearer challenge found has a non-empty realm.
#![no_main]

use cloud_credential_provider::challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let challenges = challenge::parse(header);
    if let Some(b) = challenge::bearer([header]) {
        assert!(!b.realm.is_empty());
        assert!(challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("bearer")));
    }
});
