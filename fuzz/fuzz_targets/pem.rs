//! The trust store's PEM reader on any bundle bytes: never panics, and every certificate it
//! returns holds DER bytes, sorted and without duplicates.
#![no_main]

use cloud_credential_provider::pem_certificates;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let certs = pem_certificates(data);
    for pair in certs.windows(2) {
        assert!(pair[0].as_ref() < pair[1].as_ref());
    }
    assert!(certs.iter().all(|c| !c.as_ref().is_empty()));
});
