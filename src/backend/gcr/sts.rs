//! Workload identity: the pod's service-account token → a Google federated token (STS), and
//! optionally → a Google service account's access token (IAM Credentials).
//!
//! No crate speaks these two calls (gcp_auth has no `external_account` support), and both are
//! one JSON POST each, so they go through [`crate::http`] like every other call. Wire formats:
//! <https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token> and
//! <https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken>.

// Called by the network half (src/backend/gcr/fetch.rs); a build without the `gcp` feature compiles
// the module for what `describe`, routing and the unit tests use of it, and nothing calls the rest.
#![cfg_attr(not(feature = "gcp"), allow(dead_code))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::metadata::{parse_token_response, AccessToken};
use crate::deadline::Deadline;
use crate::http;
use crate::secret::Secret;

/// Google's Security Token Service endpoint.
pub const STS_URL: &str = "https://sts.googleapis.com/v1/token";
/// IAM Credentials: `<base><email>:generateAccessToken`.
pub const IAM_CREDENTIALS_BASE: &str =
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/";
/// The scope of every token this backend asks for: registries check IAM, not scopes.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// RFC 8693 token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// What STS is asked to issue.
pub const REQUESTED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// What the pod's token is (a Kubernetes service-account JWT).
pub const SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The STS request body, exactly the fields the reference plugin sends.
pub fn sts_request_body(audience: &str, subject_token: &Secret<String>) -> Value {
    json!({
        "audience": audience,
        "grant_type": GRANT_TYPE,
        "requested_token_type": REQUESTED_TOKEN_TYPE,
        "scope": CLOUD_PLATFORM_SCOPE,
        "subject_token": subject_token.expose(),
        "subject_token_type": SUBJECT_TOKEN_TYPE,
    })
}

/// Exchanges the pod's token for a federated access token for `audience`.
pub async fn exchange(
    client: &reqwest::Client,
    deadline: Deadline,
    audience: &str,
    subject_token: &Secret<String>,
) -> Result<AccessToken, String> {
    let body = sts_request_body(audience, subject_token);
    let asked_at = SystemTime::now();
    let reply = http::send(deadline, || client.post(STS_URL).json(&body))
        .await
        .map_err(|e| format!("STS token exchange: {e}"))?;
    let text = String::from_utf8_lossy(&reply.body);
    if !reply.ok() {
        return Err(format!(
            "STS token exchange refused: HTTP {}{}",
            reply.status,
            error_summary(&text, &[subject_token])
        ));
    }
    parse_token_response(&text, asked_at).map_err(|m| format!("STS token exchange: {m}"))
}

/// A valid service-account email for the IAM Credentials path: the characters Google allows
/// in account ids and domains, so nothing needs escaping and nothing can change the path.
pub fn check_service_account(email: &str) -> Result<(), String> {
    let (name, domain) = email
        .split_once('@')
        .ok_or_else(|| format!("{email:?} is not a service-account email"))?;
    let ok_chars = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if ok_chars(name) && ok_chars(domain) && domain.contains('.') {
        Ok(())
    } else {
        Err(format!("{email:?} is not a service-account email"))
    }
}

/// Trades a federated token for an access token of service account `email`.
pub async fn impersonate(
    client: &reqwest::Client,
    deadline: Deadline,
    federated: &Secret<String>,
    email: &str,
) -> Result<AccessToken, String> {
    check_service_account(email)?;
    let url = format!("{IAM_CREDENTIALS_BASE}{email}:generateAccessToken");
    let body = json!({ "scope": [CLOUD_PLATFORM_SCOPE] });
    let reply = http::send(deadline, || {
        client
            .post(&url)
            .bearer_auth(federated.expose())
            .json(&body)
    })
    .await
    .map_err(|e| format!("IAM generateAccessToken: {e}"))?;
    let text = String::from_utf8_lossy(&reply.body);
    if !reply.ok() {
        return Err(format!(
            "IAM generateAccessToken refused: HTTP {}{}",
            reply.status,
            error_summary(&text, &[federated])
        ));
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|_| "IAM generateAccessToken: the answer is not JSON".to_string())?;
    let token = match value.get("accessToken") {
        Some(Value::String(t)) if !t.is_empty() => Secret::new(t.clone()),
        _ => return Err("IAM generateAccessToken: the answer has no \"accessToken\"".into()),
    };
    let expires_at = value
        .get("expireTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .ok_or_else(|| {
            "IAM generateAccessToken: the answer has no RFC 3339 \"expireTime\"".to_string()
        })?;
    Ok(AccessToken { token, expires_at })
}

/// The useful part of a Google error body, as `: code: message`, at most 300 characters.
/// STS answers `{"error": "invalid_grant", "error_description": "..."}`, the JSON APIs
/// `{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}`; anything else
/// is not shown at all. Google's answers do not quote the credentials of the request, but a
/// proxy or a careless endpoint (a key file's `token_uri` can be anything) may: every secret
/// in `sent` is redacted, before the cut to 300 characters could leave part of one.
pub fn error_summary(body: &str, sent: &[&Secret<String>]) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    let text = match value.get("error") {
        Some(Value::String(_)) => crate::http::oauth_error(&value),
        Some(Value::Object(e)) => {
            let status = e.get("status").and_then(Value::as_str).unwrap_or("error");
            match e.get("message").and_then(Value::as_str) {
                Some(m) => format!("{status}: {m}"),
                None => status.to_string(),
            }
        }
        _ => return String::new(),
    };
    let text = sent
        .iter()
        .fold(text, |text, secret| secret.redact_from(&text));
    format!(" ({})", crate::http::one_line(&text, 300))
}

/// Parses RFC 3339 (`2025-01-02T03:04:05.123456789Z`, `...+01:00`) as IAM's `expireTime`.
/// Times before 1970 are `None`: no token this plugin sees expires then.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac[..digits].bytes().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' || !matches!(ob[0], b'+' | b'-') {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian date → days since 1970-01-01 (Howard Hinnant's algorithm, the inverse
/// of the one in [`crate::lifetime`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifetime::format_rfc3339;

    #[test]
    fn rfc3339_parses_iam_expire_times() {
        let t = parse_rfc3339("2026-11-27T00:20:35Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-27T00:20:35Z");
        let t = parse_rfc3339("2014-10-02T15:01:23.045123456Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_412_262_083, 45_123_456)
        );
        let t = parse_rfc3339("2000-02-29T01:00:00+01:00").unwrap();
        assert_eq!(format_rfc3339(t), "2000-02-29T00:00:00Z");
        let t = parse_rfc3339("1999-12-31T23:30:00-00:30").unwrap();
        assert_eq!(format_rfc3339(t), "2000-01-01T00:00:00Z");
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T00:20:35",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T00:20:35.Z",
            "2026-11-27T00:20:35+0100",
            "1969-12-31T23:59:59Z",
            "２０２６-11-27T00:20:35Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn sts_body_has_the_reference_fields() {
        let body = sts_request_body("aud", &Secret::new("jwt".to_string()));
        assert_eq!(
            body,
            json!({
                "audience": "aud",
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "subject_token": "jwt",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            })
        );
    }

    #[test]
    fn google_error_bodies_are_summarised() {
        assert_eq!(
            error_summary(
                r#"{"error":"invalid_grant","error_description":"bad\naudience"}"#,
                &[]
            ),
            " (invalid_grant: bad audience)"
        );
        assert_eq!(
            error_summary(
                r#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#,
                &[]
            ),
            " (PERMISSION_DENIED: Permission denied)"
        );
        assert_eq!(error_summary("<html>token=abc</html>", &[]), "");
        assert_eq!(
            error_summary(&format!(r#"{{"error":"{}"}}"#, "x".repeat(500)), &[]).len(),
            303
        );
    }

    #[test]
    fn credentials_quoted_by_an_error_body_are_redacted() {
        let token = Secret::new("eyJ.pod-token-0123456789".to_string());
        let federated = Secret::new("ya29.federated-0123456789".to_string());
        let body = json!({
            "error": "invalid_grant",
            "error_description": format!(
                "bad subject_token {} (Bearer {})",
                token.expose(),
                federated.expose()
            ),
        });
        assert_eq!(
            error_summary(&body.to_string(), &[&token, &federated]),
            " (invalid_grant: bad subject_token REDACTED (Bearer REDACTED))"
        );
        // Past the cut: redacted first, so no prefix of the secret survives it.
        let body = json!({"error": format!("{}{}", "x".repeat(290), token.expose())});
        let summary = error_summary(&body.to_string(), &[&token]);
        assert!(summary.ends_with("xREDACTED)"), "{summary}");
    }

    #[test]
    fn service_account_emails_cannot_change_the_path() {
        assert!(check_service_account("puller@proj.iam.gserviceaccount.com").is_ok());
        assert!(check_service_account("a/b@proj.iam.gserviceaccount.com").is_err());
        assert!(check_service_account("a@b:generateIdToken?x").is_err());
        assert!(check_service_account("nobody").is_err());
        assert!(check_service_account("@proj.iam.gserviceaccount.com").is_err());
    }
}
