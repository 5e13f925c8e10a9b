//! `Request::parse` on any stdin bytes: never panics, errors are one line, and what it accepts
//! has an image and a token only in v1.
#![no_main]

use cloud_credential_provider::{ApiVersion, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Request::parse(data) {
        Ok(r) => {
            assert!(!r.image.trim().is_empty());
            if r.api_version != ApiVersion::V1 {
                assert!(r.service_account_token.is_none());
                assert!(r.service_account_annotations.is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{e}"),
    }
});
