//! Protocol mode: one kubelet request in, one response out, and the request pipeline that
//! `check` shares.
//!
//! The pipeline is [`route`] (normalised image → route → the backend built for it) and
//! [`answer`] (the token cache, else the backend, with the cache's single flight and stale
//! fallback). [`serve`] decodes kubelet's request, runs both and encodes the answer; `check`
//! ([`crate::check`]) runs the same two and renders what they did, so a dry run and a real
//! run cannot disagree on the backend, its plan or the cache.

use std::time::SystemTime;

use crate::backend::{self, Backend, BackendKind, Credentials, FetchContext};
use crate::deadline::Deadline;
use crate::dispatch;
use crate::duration::format_go_duration;
use crate::error::{Error, Result};
use crate::image::ImageRef;
use crate::log;
use crate::protocol::{Request, Response};
use crate::settings::Settings;
use crate::token_cache::{key_env, CacheKey, Flight, Lookup, TokenCache};

/// Answers one request: `input` is everything kubelet wrote to stdin, the result is exactly
/// what goes to stdout.
pub fn serve(input: &[u8], settings: &Settings, deadline: Deadline) -> Result<String> {
    let request = Request::parse(input)?;
    let image = ImageRef::parse(&request.image)
        .map_err(|e| Error::Request(format!("request image: {e}")))?;
    let routed = route(&image, settings)?;
    let answer = answer(&routed, &image, &request, settings, deadline)?;
    let credentials = answer.credentials;
    Response::new(
        request.api_version,
        credentials.cache_key_type,
        format_go_duration(credentials.lifetime.cache_duration(SystemTime::now())),
        credentials.auth,
    )
    .to_json_line()
}

/// The backend chosen for an image, and why.
pub struct Routed {
    /// One sentence on why this backend, for `check` and `-v`.
    pub reason: String,
    /// The backend, built from the route's target.
    pub backend: Box<dyn Backend>,
    /// The target's part of the token cache's key ([`crate::backend::Target::cache_scope`]);
    /// empty without `--cache-dir`, when no key is made (no start-up work for nothing).
    pub cache_scope: String,
}

/// Routes `image` and builds the backend that serves it. Local files only, never the network.
pub fn route(image: &ImageRef, settings: &Settings) -> Result<Routed> {
    let route = dispatch::route(image, settings)?;
    log::info(1, || {
        format!(
            "{} → backend {}: {}",
            image.name(),
            route.target.kind().as_str(),
            route.reason
        )
    });
    Ok(Routed {
        reason: route.reason,
        cache_scope: match settings.cache_dir {
            Some(_) => route.target.cache_scope(),
            None => String::new(),
        },
        backend: backend::build(route.target, settings),
    })
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedFrom {
    /// The backend fetched it (and, with `--cache-dir`, it was stored).
    Backend,
    /// A fresh token-cache entry, stored by an earlier run or by a concurrent one.
    TokenCache,
    /// A token-cache entry past its half-life but unexpired, because the refresh failed.
    StaleTokenCache,
}

impl ServedFrom {
    /// The word in `check` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ServedFrom::Backend => "backend",
            ServedFrom::TokenCache => "token-cache",
            ServedFrom::StaleTokenCache => "token-cache-stale",
        }
    }
}

/// Credentials for one request, and where they came from.
pub struct Answer {
    /// What kubelet gets.
    pub credentials: Credentials,
    /// Where they came from.
    pub served_from: ServedFrom,
}

/// Credentials for `request` from `backend`: through the token cache when `--cache-dir` is
/// set and the backend's answers are cached, else straight from the backend.
pub fn answer(
    routed: &Routed,
    image: &ImageRef,
    request: &Request,
    settings: &Settings,
    deadline: Deadline,
) -> Result<Answer> {
    let backend = &*routed.backend;
    let context = FetchContext {
        image,
        request,
        deadline,
    };
    let scope = &routed.cache_scope;
    let answer = match token_cache(settings, backend.kind(), scope, image, request) {
        Some((cache, key)) => fetch_through_cache(&cache, &key, backend, &context)?,
        None => Answer {
            credentials: backend.fetch(&context)?,
            served_from: ServedFrom::Backend,
        },
    };
    let credentials = &answer.credentials;
    log::info(1, || {
        format!(
            "{} credential(s) as {}, cacheKeyType {}, cacheDuration {}",
            credentials.auth.len(),
            credentials.identity,
            credentials.cache_key_type.as_str(),
            format_go_duration(credentials.lifetime.cache_duration(SystemTime::now()))
        )
    });
    Ok(answer)
}

/// The token cache and this request's key, when `--cache-dir` is set, usable, and the backend
/// issues tokens (files and "nobody" have nothing worth caching).
fn token_cache(
    settings: &Settings,
    kind: BackendKind,
    scope: &str,
    image: &ImageRef,
    request: &Request,
) -> Option<(TokenCache, CacheKey)> {
    let dir = settings.cache_dir.as_deref()?;
    if !caches(kind) {
        return None;
    }
    let key = CacheKey::new(kind, image.registry(), scope, request, settings, &key_env());
    Some((TokenCache::open(dir)?, key))
}

/// Whether answers of backend `kind` go through the token cache.
pub fn caches(kind: BackendKind) -> bool {
    !matches!(kind, BackendKind::File | BackendKind::None)
}

/// Serves a fresh cached token, else fetches (and stores); a failed refresh falls back to a
/// cached token that has not expired yet. Runs that miss at the same time fetch once: the
/// first takes the entry's lock and fetches, the others wait and serve what it stored (see
/// [`crate::token_cache::lock`]).
fn fetch_through_cache(
    cache: &TokenCache,
    key: &CacheKey,
    backend: &dyn Backend,
    context: &FetchContext<'_>,
) -> Result<Answer> {
    let cached = |credentials| Answer {
        credentials,
        served_from: ServedFrom::TokenCache,
    };
    if let Lookup::Fresh(credentials) = cache.lookup(key, SystemTime::now()) {
        log::info(1, || "served from the token cache".to_string());
        return Ok(cached(credentials));
    }
    // Held until this function returns: after the store, before the response is written.
    let _flight = match cache.single_flight(key, &context.deadline) {
        Flight::Holder { lock, waited } => {
            if !waited.is_zero() {
                log::info(1, || {
                    format!(
                        "token cache: waited {} ms for another run fetching this token",
                        waited.as_millis()
                    )
                });
            }
            Some(lock)
        }
        Flight::GaveUp { waited } => {
            log::info(1, || {
                format!(
                    "token cache: another run has been fetching this token for {} ms; \
                     fetching too",
                    waited.as_millis()
                )
            });
            None
        }
        Flight::Unavailable(why) => {
            log::info(1, || {
                format!("token cache: cannot lock the entry ({why}); fetching without the lock")
            });
            None
        }
    };
    // What the run before us stored, if anything.
    let stale = match cache.lookup(key, SystemTime::now()) {
        Lookup::Fresh(credentials) => {
            log::info(1, || {
                "served from the token cache (fetched by a concurrent run)".to_string()
            });
            return Ok(cached(credentials));
        }
        Lookup::Stale(credentials) => Some(credentials),
        Lookup::Miss => None,
    };
    let now = SystemTime::now();
    match backend.fetch(context) {
        Ok(credentials) => {
            cache.store(key, &credentials, now);
            Ok(Answer {
                credentials,
                served_from: ServedFrom::Backend,
            })
        }
        Err(error) => match stale {
            Some(credentials) => {
                log::warn(&format!(
                    "{error}; serving the cached token, which has not expired yet"
                ));
                Ok(Answer {
                    credentials,
                    served_from: ServedFrom::StaleTokenCache,
                })
            }
            None => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::BTreeMap;
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
        fn describe(&self, _: &FetchContext<'_>) -> Vec<(&'static str, String)> {
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

    fn password(a: &Answer) -> &str {
        a.credentials.auth["gcr.io"].password.expose()
    }

    fn setup(dir: &TempDir) -> (TokenCache, CacheKey, ImageRef, Request) {
        let image = ImageRef::parse("gcr.io/p/app").unwrap();
        let request = Request::parse(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"gcr.io/p/app"}"#,
        )
        .unwrap();
        let key = CacheKey::new(
            BackendKind::Gcr,
            "gcr.io",
            "",
            &request,
            &Settings::default(),
            &BTreeMap::new(),
        );
        let cache = TokenCache::open(&dir.0.join("cache")).unwrap();
        (cache, key, image, request)
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
        assert_eq!(first.served_from, ServedFrom::Backend);
        assert_eq!(second.served_from, ServedFrom::TokenCache);
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
        assert_eq!(served.served_from, ServedFrom::StaleTokenCache);

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

    #[test]
    fn a_run_that_waited_serves_what_the_holder_stored() {
        let dir = TempDir::new("serve-cache-flight");
        let (cache, key, image, request) = setup(&dir);
        // Another run holds the entry's lock and stores a token after a while.
        let Flight::Holder { lock, .. } =
            cache.single_flight(&key, &Deadline::after(Duration::from_secs(10)))
        else {
            panic!("lock");
        };
        let holder_cache = TokenCache::open(&dir.0.join("cache")).unwrap();
        let holder_key = key.clone();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            holder_cache.store(
                &holder_key,
                &token("from-holder", Duration::from_secs(3600)),
                SystemTime::now(),
            );
            drop(lock);
        });
        let backend = Scripted {
            calls: Cell::new(0),
            answer: |_| Ok(token("own", Duration::from_secs(3600))),
        };
        let ctx = FetchContext {
            image: &image,
            request: &request,
            deadline: Deadline::after(Duration::from_secs(10)),
        };
        let served = fetch_through_cache(&cache, &key, &backend, &ctx).unwrap();
        holder.join().unwrap();
        assert_eq!(password(&served), "from-holder");
        assert_eq!(served.served_from, ServedFrom::TokenCache);
        assert_eq!(backend.calls.get(), 0);
    }

    #[test]
    fn a_run_whose_holder_never_finishes_fetches_itself_within_its_deadline() {
        let dir = TempDir::new("serve-cache-hung");
        let (cache, key, image, request) = setup(&dir);
        let other = TokenCache::open(&dir.0.join("cache")).unwrap();
        let Flight::Holder { lock, .. } =
            other.single_flight(&key, &Deadline::after(Duration::from_secs(10)))
        else {
            panic!("lock");
        };
        let backend = Scripted {
            calls: Cell::new(0),
            answer: |_| Ok(token("own", Duration::from_secs(3600))),
        };
        let ctx = FetchContext {
            image: &image,
            request: &request,
            deadline: Deadline::after(Duration::from_millis(600)),
        };
        let start = std::time::Instant::now();
        let served = fetch_through_cache(&cache, &key, &backend, &ctx).unwrap();
        let took = start.elapsed();
        assert_eq!(password(&served), "own");
        assert_eq!(served.served_from, ServedFrom::Backend);
        assert_eq!(backend.calls.get(), 1);
        assert!(
            took >= Duration::from_millis(280) && took < Duration::from_millis(590),
            "{took:?}"
        );
        drop(lock);
    }
}
