//! The reference plugin's dockercfg flows: a legacy `.dockercfg` JSON kept in instance
//! metadata, either inline (attribute `google-dockercfg`) or behind a URL (attribute
//! `google-dockercfg-url`, fetched over http(s) only).
//!
//! The JSON is parsed by the `file` backend's [`DockerConfig::parse`] (both `.dockercfg` and
//! `config.json` shapes, `auth` winning over username/password, padding optional) and matched
//! with the same kubelet glob rules, so an entry here behaves exactly like one in a
//! `--docker-config` file.

// Called by the network half (src/backend/gcr/fetch.rs); a build without the `gcp` feature compiles
// the module for what `describe`, routing and the unit tests use of it, and nothing calls the rest.
#![cfg_attr(not(feature = "gcp"), allow(dead_code))]

use std::path::Path;

use super::metadata::Metadata;
use crate::backend::file::DockerConfig;
use crate::deadline::Deadline;
use crate::http;

/// Attribute holding the `.dockercfg` JSON itself.
pub const DOCKERCFG_ATTRIBUTE: &str = "google-dockercfg";
/// Attribute holding a URL the `.dockercfg` JSON is fetched from.
pub const DOCKERCFG_URL_ATTRIBUTE: &str = "google-dockercfg-url";

/// The `.dockercfg` from attribute `google-dockercfg`.
pub async fn from_attribute(md: &Metadata, deadline: Deadline) -> Result<DockerConfig, String> {
    let text = md
        .get(
            deadline,
            &format!("instance/attributes/{DOCKERCFG_ATTRIBUTE}"),
        )
        .await
        .map_err(|e| {
            format!(
                "instance attribute {DOCKERCFG_ATTRIBUTE} from metadata server {}: {e}",
                md.host()
            )
        })?;
    let source = format!("instance attribute {DOCKERCFG_ATTRIBUTE}");
    DockerConfig::parse(Path::new(&source), &text).map_err(|m| format!("{source}: {m}"))
}

/// The `.dockercfg` behind the URL in attribute `google-dockercfg-url`.
pub async fn from_url(md: &Metadata, deadline: Deadline) -> Result<DockerConfig, String> {
    let text = md
        .get(
            deadline,
            &format!("instance/attributes/{DOCKERCFG_URL_ATTRIBUTE}"),
        )
        .await
        .map_err(|e| {
            format!(
                "instance attribute {DOCKERCFG_URL_ATTRIBUTE} from metadata server {}: {e}",
                md.host()
            )
        })?;
    let url = check_url(text.trim())?;
    let shown = redact_url(url);
    let client = if is_https(url) {
        http::client()
    } else {
        http::plain_client()
    }
    .map_err(|e| e.to_string())?;
    // No Metadata-Flavor header: the URL may point anywhere, and the header is the metadata
    // server's guard against requests forwarded by a proxy.
    let reply = http::send(deadline, || client.get(url))
        .await
        .map_err(|e| format!("{shown} (from {DOCKERCFG_URL_ATTRIBUTE}): {e}"))?;
    if !reply.ok() {
        return Err(format!(
            "{shown} (from {DOCKERCFG_URL_ATTRIBUTE}): HTTP {}",
            reply.status
        ));
    }
    let text = String::from_utf8(reply.body)
        .map_err(|_| format!("{shown} (from {DOCKERCFG_URL_ATTRIBUTE}): not UTF-8 text"))?;
    let source = format!("{shown} (from {DOCKERCFG_URL_ATTRIBUTE})");
    DockerConfig::parse(Path::new(&source), &text).map_err(|m| format!("{source}: {m}"))
}

fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
}

/// The attribute's URL if it is http(s) with a host; anything else (`gs://`, `file://`, a
/// bare path) is refused, as the reference plugin does.
pub fn check_url(url: &str) -> Result<&str, String> {
    let rest = if is_https(url) {
        &url[8..]
    } else if url
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
    {
        &url[7..]
    } else {
        let scheme = url.split_once(':').map_or("none", |(s, _)| s);
        return Err(format!(
            "{DOCKERCFG_URL_ATTRIBUTE} must be an http:// or https:// URL (scheme {scheme:?} \
             is not fetched)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.contains(char::is_whitespace) {
        return Err(format!(
            "{DOCKERCFG_URL_ATTRIBUTE} is not a URL with a host"
        ));
    }
    Ok(url)
}

/// The URL without user info, query or fragment (signed URLs carry credentials there).
pub fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_fetched() {
        assert!(check_url("https://storage.example/cfg.json").is_ok());
        assert!(check_url("HTTP://10.0.0.1:8080/cfg").is_ok());
        for bad in [
            "gs://bucket/cfg",
            "file:///etc/shadow",
            "/etc/shadow",
            "http://",
            "https:///x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url("gs://bucket/cfg").unwrap_err().contains("\"gs\""));
    }

    #[test]
    fn urls_in_messages_lose_credentials() {
        assert_eq!(
            redact_url("https://u:p@host.example/a?X-Goog-Signature=s#f"),
            "https://host.example/a"
        );
        assert_eq!(redact_url("http://h/p@q"), "http://h/p@q");
    }
}
