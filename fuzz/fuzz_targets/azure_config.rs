//! azure.json (JSON or YAML, keys in any case): never panics and errors are one line.
#![no_main]

use std::path::Path;

use cloud_credential_provider::AzureConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = AzureConfig::parse(Path::new("/fuzz/azure.json"), data, None) {
        assert!(!e.contains(['\n', '\r']), "{e}");
    }
});
