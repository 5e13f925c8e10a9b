//! Kubelet's pattern matching (Go's net/url, SplitHostPort and filepath.Match emulated): never
//! panics, errors and reasons are one line, and a pattern always matches the image it names.
#![no_main]

use cloud_credential_provider::{glob_match, normalize_auth_key, Pattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (pattern, target) = input;
    match Pattern::parse(pattern) {
        Ok(p) => {
            let _ = p.matches(target);
            if let Some(reason) = p.never_matches_reason() {
                assert!(!reason.contains(['\n', '\r']), "{reason}");
            }
            // A plain host[:port] pattern matches an image on exactly that registry.
            let plain = |s: &str| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
            };
            if plain(pattern) && !pattern.is_empty() && plain(target) {
                let image = format!("{pattern}/{target}");
                if Pattern::parse(&image).is_ok() && p.port().is_some() == pattern.contains(':') {
                    assert!(p.matches(&image), "{pattern:?} vs {image:?}");
                }
            }
        }
        Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{e}"),
    }
    let _ = normalize_auth_key(pattern);
    let _ = glob_match(pattern, target);
});
