//! JWT claims and `exp` (the ACR refresh token's expiry): never panics; an expiry read comes
//! from a numeric `exp` within the accepted range.
#![no_main]

use std::time::UNIX_EPOCH;

use cloud_credential_provider::{jwt_claims, jwt_expiry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    let claims = jwt_claims(token);
    if let Some(at) = jwt_expiry(token) {
        let exp = claims
            .as_ref()
            .and_then(|c| c.get("exp"))
            .and_then(|e| e.as_f64());
        let exp = exp.expect("an expiry comes from a numeric exp claim");
        let secs = at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert!(
            exp > 0.0 && exp <= 1e11 && secs == exp as u64,
            "{exp} vs {secs}"
        );
    }
});
