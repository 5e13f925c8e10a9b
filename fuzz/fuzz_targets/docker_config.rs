//! Docker config files (`config.json`, `.dockercfg`): never panics, errors are one line, and
//! every entry read matches images on its own key.
#![no_main]

use std::path::Path;

use cloud_credential_provider::DockerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match DockerConfig::parse(Path::new("/fuzz/config.json"), text) {
        Ok(config) => {
            for entry in &config.entries {
                let _ = entry.pattern.matches(&format!("{}/app", entry.key));
            }
        }
        Err(e) => assert!(!e.contains(['\n', '\r']), "{e}"),
    }
});
