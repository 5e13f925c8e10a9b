//! Protocol mode: one kubelet request in, one response out.
//!
//! Kept apart from argument parsing so tests and `check` share the exact path kubelet uses:
//! decode, normalise the image, route, fetch, turn the lifetime into `cacheDuration`, encode.

use std::time::SystemTime;

use crate::backend::FetchContext;
use crate::deadline::Deadline;
use crate::dispatch::{self, Settings};
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::log;
use crate::protocol::{Request, Response};

/// Answers one request: `input` is everything kubelet wrote to stdin, the result is exactly
/// what goes to stdout.
pub fn serve(input: &[u8], settings: &Settings, deadline: Deadline) -> Result<String> {
    let request = Request::parse(input)?;
    let image = ImageRef::parse(&request.image)
        .map_err(|e| Error::Request(format!("request image: {e}")))?;
    let route = dispatch::route(&image, settings)?;
    log::info(1, || {
        format!(
            "{} → backend {}: {}",
            image.name(),
            route.backend.kind().as_str(),
            route.reason
        )
    });
    let credentials = route.backend.fetch(&FetchContext {
        image: &image,
        request: &request,
        deadline,
    })?;
    let cache_duration = credentials.lifetime.cache_duration(SystemTime::now());
    log::info(1, || {
        format!(
            "{} credential(s) as {}, cacheKeyType {}, cacheDuration {}",
            credentials.auth.len(),
            credentials.identity,
            credentials.cache_key_type.as_str(),
            format_go_duration(cache_duration)
        )
    });
    Response::new(
        request.api_version,
        credentials.cache_key_type,
        format_go_duration(cache_duration),
        credentials.auth,
    )
    .to_json_line()
}
