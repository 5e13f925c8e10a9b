//! Go duration text: never panics, errors are one line, and an accepted duration reads back
//! from the text Go would print for it.
#![no_main]

use cloud_credential_provider::{format_go_nanos, parse_go_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match parse_go_duration(text) {
        Ok(nanos) => {
            let printed = format_go_nanos(nanos);
            assert_eq!(
                parse_go_duration(&printed),
                Ok(nanos),
                "{text:?} -> {printed}"
            );
        }
        Err(e) => assert!(!e.to_string().contains(['\n', '\r']), "{e}"),
    }
});
