//! Image normalisation: never panics, errors are one line, and what kubelet would send for an
//! accepted image reads back as the same image.
#![no_main]

use cloud_credential_provider::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match ImageRef::parse(text) {
        Ok(r) => {
            let again = ImageRef::parse(&r.name());
            assert_eq!(again.as_ref(), Ok(&r), "{text:?}");
            let rejoined = match r.port() {
                Some(p) => format!("{}:{p}", r.host()),
                None => r.host().to_string(),
            };
            assert_eq!(rejoined, r.registry());
        }
        Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{e}"),
    }
});
