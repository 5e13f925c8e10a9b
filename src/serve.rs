//! Protocol mode: one kubelet request in, one response out.
//!
//! Kept apart from argument parsing so tests and `check` share the exact path kubelet uses:
//! decode, normalise the image, route, fetch, turn the lifetime into `cacheDuration`, encode.

use std::time::SystemTime;

use std::collections::BTreeMap;

use crate::backend::{Backend, BackendKind, Credentials, FetchContext};
use crate::deadline::Deadline;
use crate::dispatch::{self, Settings};
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::log;
use crate::protocol::{Request, Response};
use crate::token_cache::{CacheKey, Lookup, TokenCache};

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
    let context = FetchContext {
        image: &image,
        request: &request,
        deadline,
    };
    let credentials = match token_cache(settings, route.backend.kind(), &image, &request) {
        Some((cache, key)) => fetch_through_cache(&cache, &key, &*route.backend, &context)?,
        None => route.backend.fetch(&context)?,
    };
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

/// The token cache and this request's key, when `--cache-dir` is set and the backend issues
/// tokens (files and "nobody" have nothing worth caching).
fn token_cache(
    settings: &Settings,
    kind: BackendKind,
    image: &ImageRef,
    request: &Request,
) -> Option<(TokenCache, CacheKey)> {
    let dir = settings.cache_dir.as_deref()?;
    if matches!(kind, BackendKind::File | BackendKind::None) {
        return None;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let key = CacheKey::new(kind, image.registry(), request, &args, &env);
    Some((TokenCache::new(dir), key))
}

/// Serves a fresh cached token, else fetches (and stores); a failed refresh falls back to a
/// cached token that has not expired yet.
fn fetch_through_cache(
    cache: &TokenCache,
    key: &CacheKey,
    backend: &dyn Backend,
    context: &FetchContext<'_>,
) -> Result<Credentials> {
    let now = SystemTime::now();
    let stale = match cache.lookup(key, now) {
        Lookup::Fresh(credentials) => {
            log::info(1, || "served from the token cache".to_string());
            return Ok(credentials);
        }
        Lookup::Stale(credentials) => Some(credentials),
        Lookup::Miss => None,
    };
    match backend.fetch(context) {
        Ok(credentials) => {
            cache.store(key, &credentials, now);
            Ok(credentials)
        }
        Err(error) => match stale {
            Some(credentials) => {
                log::warn(&format!(
                    "{error}; serving the cached token, which has not expired yet"
                ));
                Ok(credentials)
            }
            None => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    use crate::lifetime::Lifetime;
    use crate::protocol::{AuthConfig, CacheKeyType};
    use crate::secret::Secret;
    use crate::test_util::TempDir;

    /// A backend that counts its calls and answers from a script.
    struct Scripted {
        calls: Cell<u32>,
        answer: fn(u32) -> Result<Credentials>,
    }

    impl Backend for Scripted {
        fn kind(&self) -> BackendKind {
            BackendKind::Gcr
        }
        fn describe(&self) -> Vec<(&'static str, String)> {
            Vec::new()
        }
        fn fetch(&self, _: &FetchContext<'_>) -> Result<Credentials> {
            self.calls.set(self.calls.get() + 1);
            (self.answer)(self.calls.get())
        }
    }

    fn token(password: &str, valid_for: Duration) -> Credentials {
        let mut auth = BTreeMap::new();
        auth.insert(
            "gcr.io".to_string(),
            AuthConfig {
                username: "_token".into(),
                password: Secret::new(password.into()),
            },
        );
        Credentials {
            auth,
            cache_key_type: CacheKeyType::Registry,
            lifetime: Lifetime::ExpiresAt(SystemTime::now() + valid_for),
            identity: "sa@p.iam.gserviceaccount.com".into(),
        }
    }

    fn password(c: &Credentials) -> &str {
        c.auth["gcr.io"].password.expose()
    }

    fn setup(dir: &TempDir) -> (TokenCache, CacheKey, ImageRef, Request) {
        let image = ImageRef::parse("gcr.io/p/app").unwrap();
        let request = Request::parse(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"gcr.io/p/app"}"#,
        )
        .unwrap();
        let key = CacheKey::new(BackendKind::Gcr, "gcr.io", &request, &[], &BTreeMap::new());
        (TokenCache::new(&dir.0.join("cache")), key, image, request)
    }

    #[test]
    fn a_fresh_token_is_reused_without_asking_the_backend() {
        let dir = TempDir::new("serve-cache-fresh");
        let (cache, key, image, request) = setup(&dir);
        let backend = Scripted {
            calls: Cell::new(0),
            answer: |n| Ok(token(&format!("t{n}"), Duration::from_secs(3600))),
        };
        let ctx = FetchContext {
            image: &image,
            request: &request,
            deadline: Deadline::after(Duration::from_secs(5)),
        };
        let first = fetch_through_cache(&cache, &key, &backend, &ctx).unwrap();
        let second = fetch_through_cache(&cache, &key, &backend, &ctx).unwrap();
        assert_eq!(backend.calls.get(), 1);
        assert_eq!(password(&first), "t1");
        assert_eq!(password(&second), "t1");
    }

    #[test]
    fn a_failed_refresh_falls_back_to_an_unexpired_token_only() {
        let dir = TempDir::new("serve-cache-stale");
        let (cache, key, image, request) = setup(&dir);
        let ctx = FetchContext {
            image: &image,
            request: &request,
            deadline: Deadline::after(Duration::from_secs(5)),
        };
        // Issued an hour ago, expires in ten minutes: past half-life, still valid.
        let issued = SystemTime::now() - Duration::from_secs(3600);
        cache.store(&key, &token("old", Duration::from_secs(600)), issued);
        let failing = Scripted {
            calls: Cell::new(0),
            answer: |_| {
                Err(crate::error::Error::backend(
                    "gcr",
                    "gcr.io",
                    "metadata server down",
                ))
            },
        };
        let served = fetch_through_cache(&cache, &key, &failing, &ctx).unwrap();
        assert_eq!(failing.calls.get(), 1, "a stale entry is refreshed first");
        assert_eq!(password(&served), "old");

        let working = Scripted {
            calls: Cell::new(0),
            answer: |_| Ok(token("new", Duration::from_secs(3600))),
        };
        assert_eq!(
            password(&fetch_through_cache(&cache, &key, &working, &ctx).unwrap()),
            "new"
        );

        let empty = TempDir::new("serve-cache-none");
        let (cache, key, _, _) = setup(&empty);
        assert!(fetch_through_cache(&cache, &key, &failing, &ctx).is_err());
    }
}
