//! The DNS wire parser on any datagram: never panics. The query id is taken from the message
//! itself so that most inputs get past the id check into the question and answers.
#![no_main]

use cloud_credential_provider::parse_dns_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = match data {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    };
    for ipv6 in [false, true] {
        if let Ok(Some(addrs)) = parse_dns_reply(data, id, "x.test", ipv6) {
            assert!(addrs.iter().all(|a| a.is_ipv6() == ipv6));
        }
    }
});
