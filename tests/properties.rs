//! Property tests of the parsers reachable through the public API: what kubelet, the node's files
//! and remote services hand the binary. Each property is checked on generated input (proptest,
//! stable Rust, a few hundred cases each, well under a minute for the whole file in a debug
//! build):
//! - no input makes a parser panic;
//! - an error is one line, and never holds a secret planted in the input (no 8-character piece
//!   of it, so a truncated quote counts as a leak too);
//! - what can be written reads back the same (response JSON, Go durations, images, patterns,
//!   Docker configs, azure.json, challenges, JWTs, PEM bundles).
//!
//! Parsers that are private are tested in their own module (`src/resolver/wire.rs`,
//! `src/backend/acr/exchange.rs`). The same parsers have `cargo fuzz` targets in `fuzz/`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cloud_credential_provider::{
    format_go_duration, format_go_nanos, glob_match, normalize_auth_key, parse_go_duration,
    pem_certificates, ApiVersion, AuthConfig, CacheKeyType, DockerConfig, ImageRef, Pattern,
    Request, Response, Secret,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{json, Value};
use support::base64_encode as b64;

// ---------------------------------------------------------------------------------------------
// Shared strategies and checks

/// Cases per property: enough to find what the unit tests missed, small enough for CI.
fn cases(n: u32) -> Config {
    Config {
        cases: n,
        // Failures are reported with their minimal input; no files are written next to the
        // sources (the default would add a proptest-regressions/ directory).
        failure_persistence: None,
        ..Config::default()
    }
}

/// A secret as tests plant them: random letters and digits, long enough that none of its
/// 8-character pieces can appear in a message by chance.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{24,48}"
}

/// Fails when `message` holds any 8-character piece of `secret`.
fn assert_no_piece_of(message: &str, secret: &str) -> Result<(), TestCaseError> {
    let bytes = secret.as_bytes();
    for window in bytes.windows(8.min(bytes.len())) {
        let piece = std::str::from_utf8(window).unwrap_or_default();
        prop_assert!(
            !message.contains(piece),
            "a piece {piece:?} of the secret is in {message:?}"
        );
    }
    Ok(())
}

/// Fails when `message` is not exactly one line.
fn assert_one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.contains(['\n', '\r']), "not one line: {message:?}");
    Ok(())
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `text` cut at a random character boundary (`at` is a fraction of its length).
fn cut(text: &str, at: f64) -> &str {
    let mut i = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    &text[..i]
}

// ---------------------------------------------------------------------------------------------
// Request decoding (src/protocol.rs)

fn api_version() -> impl Strategy<Value = ApiVersion> {
    prop::sample::select(ApiVersion::ALL.to_vec())
}

/// A field of a request: absent, the right shape, or any JSON at all.
fn field(valid: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        3 => valid.prop_map(Some),
        1 => any_json().prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn request_bytes_never_panic_and_errors_are_one_line(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Err(e) = Request::parse(&bytes) {
            assert_one_line(&e.to_string())?;
        }
    }

    #[test]
    fn request_shaped_objects_decode_or_fail_without_the_token(
        kind in field(prop_oneof![
            Just(json!("CredentialProviderRequest")),
            ".{0,12}".prop_map(Value::String),
        ].boxed()),
        version in field(prop_oneof![
            api_version().prop_map(|v| json!(v.as_str())),
            ".{0,12}".prop_map(Value::String),
        ].boxed()),
        image in field(".{0,20}".prop_map(Value::String).boxed()),
        annotations in field(
            prop::collection::btree_map(".{0,8}", any_json(), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed(),
        ),
        extra in prop::collection::btree_map("[a-z]{1,8}", any_json(), 0..3),
        token in secret(),
    ) {
        let mut object: serde_json::Map<String, Value> = extra.into_iter().collect();
        for (name, value) in [
            ("kind", kind),
            ("apiVersion", version),
            ("image", image),
            ("serviceAccountAnnotations", annotations),
        ] {
            object.remove(name);
            if let Some(v) = value {
                object.insert(name.to_string(), v);
            }
        }
        object.insert("serviceAccountToken".to_string(), json!(token));
        let text = Value::Object(object).to_string();
        match Request::parse(text.as_bytes()) {
            Ok(r) => {
                prop_assert!(!r.image.trim().is_empty());
                if r.api_version == ApiVersion::V1 {
                    prop_assert_eq!(
                        r.service_account_token.as_ref().map(|t| t.expose().as_str()),
                        Some(token.as_str())
                    );
                } else {
                    prop_assert!(r.service_account_token.is_none());
                }
            }
            Err(e) => {
                let message = e.to_string();
                assert_one_line(&message)?;
                assert_no_piece_of(&message, &token)?;
            }
        }
    }

    #[test]
    fn a_request_cut_short_fails_without_the_token(
        version in api_version(),
        token in secret(),
        at in 0.0f64..1.0,
    ) {
        let text = json!({
            "kind": "CredentialProviderRequest",
            "apiVersion": version.as_str(),
            "image": "reg.example/app",
            "serviceAccountToken": token,
            "serviceAccountAnnotations": {"k": "v"},
        })
        .to_string();
        // The token comes last in the map's order, so most cuts fall inside or before it.
        let e = Request::parse(cut(&text, at).as_bytes()).expect_err("cut JSON does not parse");
        let message = e.to_string();
        assert_one_line(&message)?;
        assert_no_piece_of(&message, &token)?;
    }

    #[test]
    fn a_written_request_reads_back(
        version in api_version(),
        image in ".{0,40}".prop_filter("not blank", |s| !s.trim().is_empty()),
        token in ".{0,40}",
        annotations in prop::collection::btree_map(".{0,12}", ".{0,12}", 0..4),
        extra in prop::collection::btree_map("x-[a-z]{1,8}", any_json(), 0..3),
        pad in "[ \t\r\n]{0,3}",
    ) {
        let mut object: serde_json::Map<String, Value> = extra.into_iter().collect();
        object.insert("kind".into(), json!("CredentialProviderRequest"));
        object.insert("apiVersion".into(), json!(version.as_str()));
        object.insert("image".into(), json!(image));
        object.insert("serviceAccountToken".into(), json!(token));
        object.insert("serviceAccountAnnotations".into(), json!(annotations));
        let text = format!("{pad}{}{pad}", Value::Object(object));
        let r = Request::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.api_version, version);
        prop_assert_eq!(&r.image, &image);
        if version == ApiVersion::V1 {
            let want = (!token.is_empty()).then_some(token.as_str());
            prop_assert_eq!(r.service_account_token.as_ref().map(|t| t.expose().as_str()), want);
            prop_assert_eq!(r.service_account_annotations, annotations);
        } else {
            prop_assert!(r.service_account_token.is_none());
            prop_assert!(r.service_account_annotations.is_empty());
        }
    }

    #[test]
    fn a_response_is_one_json_line_that_reads_back(
        version in api_version(),
        key_type in prop::sample::select(vec![
            CacheKeyType::Image,
            CacheKeyType::Registry,
            CacheKeyType::Global,
        ]),
        nanos in any::<u64>(),
        auth in prop::collection::btree_map(".{0,30}", (".{0,20}", ".{0,40}"), 0..4),
    ) {
        let duration = format_go_duration(Duration::from_nanos(nanos));
        let entries: BTreeMap<String, AuthConfig> = auth
            .iter()
            .map(|(k, (u, p))| {
                (k.clone(), AuthConfig { username: u.clone(), password: Secret::new(p.clone()) })
            })
            .collect();
        let line = Response::new(version, key_type, duration.clone(), entries)
            .to_json_line()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(line.ends_with('\n'));
        prop_assert_eq!(line.matches(['\n', '\r']).count(), 1, "{:?}", line);
        let value: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let object = value.as_object().ok_or_else(|| TestCaseError::fail("not an object"))?;
        let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
        fields.sort_unstable();
        prop_assert_eq!(fields, ["apiVersion", "auth", "cacheDuration", "cacheKeyType", "kind"]);
        prop_assert_eq!(&value["kind"], "CredentialProviderResponse");
        prop_assert_eq!(&value["apiVersion"], version.as_str());
        prop_assert_eq!(&value["cacheKeyType"], key_type.as_str());
        prop_assert_eq!(&value["cacheDuration"], duration.as_str());
        let read: BTreeMap<String, (String, String)> = value["auth"]
            .as_object()
            .ok_or_else(|| TestCaseError::fail("auth is not an object"))?
            .iter()
            .map(|(k, v)| {
                let text = |f: &str| v[f].as_str().unwrap_or("<missing>").to_string();
                (k.clone(), (text("username"), text("password")))
            })
            .collect();
        prop_assert_eq!(read, auth);
    }
}

// ---------------------------------------------------------------------------------------------
// Go durations (src/duration.rs)

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn every_duration_reads_back_from_its_go_text(nanos in any::<i64>()) {
        let text = format_go_nanos(nanos);
        prop_assert_eq!(parse_go_duration(&text), Ok(nanos), "{}", text);
        if nanos >= 0 {
            prop_assert_eq!(format_go_duration(Duration::from_nanos(nanos as u64)), text);
        }
    }

    #[test]
    fn short_durations_read_back_exactly(nanos in 0u64..10_000_000_000) {
        let text = format_go_duration(Duration::from_nanos(nanos));
        prop_assert_eq!(parse_go_duration(&text), Ok(nanos as i64), "{}", text);
    }

    #[test]
    fn go_text_is_the_sum_of_its_parts(
        h in 0i64..1_000_000,
        m in 0i64..100_000,
        s in 0i64..100_000,
        ms in 0i64..100_000,
        sign in prop::sample::select(vec!["", "+", "-"]),
    ) {
        let text = format!("{sign}{h}h{m}m{s}s{ms}ms");
        let total = ((h * 3600 + m * 60 + s) * 1000 + ms) * 1_000_000;
        let want = if sign == "-" { -total } else { total };
        prop_assert_eq!(parse_go_duration(&text), Ok(want));
    }

    #[test]
    fn duration_text_never_panics_and_errors_are_one_line(text in "[-+0-9.hmsunµμ ]{0,16}|.{0,16}") {
        if let Err(e) = parse_go_duration(&text) {
            assert_one_line(&e.to_string())?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Image normalisation (src/image.rs)

/// A registry as Docker's grammar allows it: a dotted name or localhost, maybe a port.
fn registry() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
    let name = prop_oneof![
        prop::collection::vec(label, 2..4).prop_map(|l| l.join(".")),
        Just("localhost".to_string()),
        Just("[fe80::1]".to_string()),
    ];
    (name, prop::option::of("[0-9]{1,5}")).prop_map(|(name, port)| match port {
        Some(p) => format!("{name}:{p}"),
        None => name,
    })
}

/// A repository path: lower-case components with Docker's separators.
fn repository() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,6}(([._]|__|-{1,2})[a-z0-9]{1,6}){0,2}";
    prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"))
}

fn tag_and_digest() -> impl Strategy<Value = String> {
    (
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(tag, digest)| {
            let mut s = String::new();
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push_str("@sha256:");
                s.push_str(&d);
            }
            s
        })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_full_reference_normalises_to_registry_and_repository(
        registry in registry(),
        repository in repository(),
        suffix in tag_and_digest(),
    ) {
        let image = format!("{registry}/{repository}{suffix}");
        let r = ImageRef::parse(&image).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let hub = registry == "index.docker.io" || registry == "docker.io";
        let want_registry = if hub { "docker.io" } else { registry.as_str() };
        let want_repository = if hub && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.clone()
        };
        prop_assert_eq!(r.registry(), want_registry);
        prop_assert_eq!(r.repository(), want_repository.as_str());
        prop_assert_eq!(r.name(), format!("{want_registry}/{want_repository}"));
        let rejoined = match r.port() {
            Some(p) => format!("{}:{p}", r.host()),
            None => r.host().to_string(),
        };
        prop_assert_eq!(rejoined, r.registry());
        // What kubelet sends reads back as itself.
        prop_assert_eq!(ImageRef::parse(&r.name()), Ok(r.clone()));
    }

    #[test]
    fn a_short_name_is_a_docker_hub_image(
        components in prop::collection::vec("[a-z0-9]{1,8}(-[a-z0-9]{1,4})?", 1..4),
        suffix in tag_and_digest(),
    ) {
        let repository = components.join("/");
        let r = ImageRef::parse(&format!("{repository}{suffix}"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.registry(), "docker.io");
        let want = if components.len() == 1 { format!("library/{repository}") } else { repository };
        prop_assert_eq!(r.repository(), want.as_str());
    }

    #[test]
    fn any_image_text_never_panics_and_normalises_idempotently(
        text in "[a-zA-Z0-9./:@_\\-\\[\\] ]{0,40}|.{0,40}",
    ) {
        match ImageRef::parse(&text) {
            Ok(r) => {
                prop_assert_eq!(ImageRef::parse(&r.name()), Ok(r.clone()));
                prop_assert!(r.name().starts_with(r.registry()));
            }
            Err(e) => assert_one_line(&e.to_string())?,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pattern matching (src/pattern.rs)

fn host_labels() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", 2..5)
}

fn port() -> impl Strategy<Value = String> {
    "[1-9][0-9]{0,4}"
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9][a-z0-9._-]{0,7}", 1..4)
        .prop_map(|s| format!("/{}", s.join("/")))
}

fn with_port(host: &str, port: &Option<String>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// `name` as a glob that matches only itself: Go's `filepath.Match` meta characters escaped.
fn glob_escape(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_pattern_made_of_an_images_own_host_and_path_matches_it(
        labels in host_labels(),
        port in prop::option::of(port()),
        path in path(),
        cut_at in 0.0f64..=1.0,
        star in any::<prop::sample::Index>(),
    ) {
        let host = labels.join(".");
        let registry = with_port(&host, &port);
        let image = format!("{registry}{path}");
        let matches = |pattern: &str| -> Result<bool, TestCaseError> {
            let p = Pattern::parse(pattern).map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok(p.matches(&image))
        };
        prop_assert!(matches(&registry)?, "{} vs {}", registry, image);
        // The path is a raw prefix, cut anywhere.
        let prefix = format!("{registry}{}", cut(&path, cut_at));
        prop_assert!(matches(&prefix)?, "{} vs {}", prefix, image);
        // `*` stands for any one label.
        let mut globbed = labels.clone();
        globbed[star.index(labels.len())] = "*".to_string();
        let glob = with_port(&globbed.join("."), &port);
        prop_assert!(matches(&glob)?, "{} vs {}", glob, image);
        // ... but not for two, nor for none.
        let extra = with_port(&format!("*.{host}"), &port);
        prop_assert!(!matches(&extra)?, "{} vs {}", extra, image);
        let fewer = with_port(&labels[1..].join("."), &port);
        prop_assert!(!matches(&fewer)?, "{} vs {}", fewer, image);
        let p = Pattern::parse(&registry).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(p.host(), host.as_str());
        prop_assert_eq!(p.port(), port.as_deref());
        prop_assert_eq!(p.never_matches_reason(), None);
    }

    #[test]
    fn ports_must_be_equal(
        labels in host_labels(),
        pattern_port in prop::option::of(port()),
        image_port in prop::option::of(port()),
        path in path(),
    ) {
        let host = labels.join(".");
        let pattern = Pattern::parse(&with_port(&host, &pattern_port))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let image = format!("{}{path}", with_port(&host, &image_port));
        prop_assert_eq!(pattern.matches(&image), pattern_port == image_port);
        // Globs in the host change nothing about ports.
        let glob = Pattern::parse(&with_port(&vec!["*"; labels.len()].join("."), &pattern_port))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(glob.matches(&image), pattern_port == image_port);
    }

    #[test]
    fn an_escaped_name_is_a_glob_matching_exactly_itself(
        name in "[^/]{0,20}",
        other in "[^/]{0,20}",
    ) {
        let glob = glob_escape(&name);
        prop_assert_eq!(glob_match(&glob, &name), Ok(true));
        prop_assert_eq!(glob_match(&glob, &other), Ok(name == other));
        prop_assert_eq!(glob_match("*", &name), Ok(true));
    }

    #[test]
    fn auth_keys_normalise_like_kubelets_keyring(
        labels in host_labels(),
        port in prop::option::of(port()),
        path in prop::option::of(path()),
        scheme in prop::sample::select(vec!["", "https://", "http://"]),
        version in prop::sample::select(vec!["", "/v1", "/v2"]),
    ) {
        let registry = with_port(&labels.join("."), &port);
        let path = path.unwrap_or_default();
        let full = format!("{version}{path}");
        let key = format!("{scheme}{registry}{full}");
        // A leading `/v1/` or `/v2/` goes (`/v1` alone, without a slash after it, stays).
        let kept = if full.starts_with("/v1/") || full.starts_with("/v2/") {
            &full[3..]
        } else {
            full.as_str()
        };
        prop_assert_eq!(normalize_auth_key(&key), Some(format!("{registry}{kept}")));
        prop_assert_eq!(normalize_auth_key(&format!("{scheme}{registry}/")), Some(registry));
    }

    #[test]
    fn any_pattern_text_never_panics_and_errors_are_one_line(
        text in "[a-z0-9.:/%\\[\\]*?@#\\\\-]{0,24}|.{0,24}",
        target in "[a-z0-9.:/*-]{0,24}",
    ) {
        match Pattern::parse(&text) {
            Ok(p) => {
                let _ = p.matches(&target);
                let _ = p.matches(&text);
                if let Some(reason) = p.never_matches_reason() {
                    assert_one_line(&reason)?;
                }
            }
            Err(e) => assert_one_line(&e.to_string())?,
        }
        let _ = normalize_auth_key(&text);
        let _ = glob_match(&text, &target);
    }
}

// ---------------------------------------------------------------------------------------------
// Docker config files (src/backend/file.rs)

fn parse_docker_config(text: &str) -> Result<DockerConfig, String> {
    DockerConfig::parse(Path::new("/etc/kubernetes/registry-credentials.json"), text)
}

/// A registry password: any text, colons and quotes included.
fn password() -> impl Strategy<Value = String> {
    prop_oneof![secret(), ".{1,30}"]
}

proptest! {
    #![proptest_config(cases(384))]

    #[test]
    fn docker_config_entries_read_back_in_both_formats(
        entries in prop::collection::btree_map(
            (host_labels(), prop::option::of(port())).prop_map(|(l, p)| with_port(&l.join("."), &p)),
            ("[^:]{0,12}", password(), any::<bool>(), any::<bool>()),
            1..4,
        ),
        legacy in any::<bool>(),
        scheme in prop::sample::select(vec!["", "https://", "http://"]),
    ) {
        let mut auths = serde_json::Map::new();
        for (registry, (user, password, as_auth, padded)) in &entries {
            let entry = if *as_auth {
                let mut auth = b64(format!("{user}:{password}").as_bytes());
                if !padded {
                    auth = auth.trim_end_matches('=').to_string();
                }
                json!({"auth": auth, "username": "ignored", "email": "x@example.com"})
            } else {
                json!({"username": user, "password": password})
            };
            let key = if *padded { format!("{scheme}{registry}/v1/") } else { format!("{scheme}{registry}") };
            auths.insert(key, entry);
        }
        let text = if legacy {
            Value::Object(auths).to_string()
        } else {
            json!({"auths": auths, "credsStore": "desktop"}).to_string()
        };
        let config = parse_docker_config(&text).map_err(TestCaseError::fail)?;
        let read: BTreeMap<String, (String, String)> = config
            .entries
            .iter()
            .map(|e| (e.key.clone(), (e.auth.username.clone(), e.auth.password.expose().clone())))
            .collect();
        let want: BTreeMap<String, (String, String)> = entries
            .iter()
            .map(|(k, (u, p, _, _))| (k.clone(), (u.clone(), p.clone())))
            .collect();
        prop_assert_eq!(read, want);
        for e in &config.entries {
            let image = format!("{}/team/app", e.key);
            prop_assert!(e.pattern.matches(&image), "{} vs {}", e.key, image);
        }
    }

    #[test]
    fn a_docker_config_that_fails_never_shows_the_password(
        password in secret(),
        user in "[a-z]{1,8}",
        breakage in 0usize..8,
        at in 0.0f64..1.0,
    ) {
        let good_auth = b64(format!("{user}:{password}").as_bytes());
        let text = match breakage {
            // The JSON cut anywhere, the password included.
            0 => cut(
                &json!({"auths": {"reg.example": {"username": user, "password": password}}}).to_string(),
                at,
            )
            .to_string(),
            1 => cut(&json!({"auths": {"reg.example": {"auth": good_auth}}}).to_string(), at)
                .to_string(),
            // `auth` that is not base64, or not base64 of user:password.
            2 => json!({"auths": {"reg.example": {"auth": format!("{password}!")}}}).to_string(),
            3 => json!({"auths": {"reg.example": {"auth": b64(password.as_bytes())}}}).to_string(),
            4 => json!({"auths": {"reg.example": {"auth": b64([0xff, b':', 0xfe])}, "b.example": {"password": password}}}).to_string(),
            // Fields of the wrong type next to the password.
            5 => json!({"auths": {"reg.example": {"username": 7, "password": password}}}).to_string(),
            6 => json!({"auths": {"reg.example": {"username": user, "password": [password]}}}).to_string(),
            _ => json!({"auths": [{"reg.example": {"password": password}}]}).to_string(),
        };
        match parse_docker_config(&text) {
            Ok(config) => {
                // Only a cut that kept the whole document parses.
                prop_assert!(breakage <= 1, "{}", text);
                prop_assert!(config.entries.iter().all(|e| e.auth.password.expose() == &password));
            }
            Err(message) => {
                assert_one_line(&message)?;
                assert_no_piece_of(&message, &password)?;
                assert_no_piece_of(&message, &good_auth)?;
            }
        }
    }

    #[test]
    fn any_docker_config_text_never_panics(text in ".{0,64}", value in any_json()) {
        for t in [text, value.to_string(), json!({"auths": value}).to_string()] {
            if let Err(message) = parse_docker_config(&t) {
                assert_one_line(&message)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The trust store's PEM reader (src/trust.rs)

/// `der` as a PEM block: base64 wrapped at `width`, lines ended by `eol`, each indented by
/// `indent` and followed by `trail`.
fn pem_block(der: &[u8], width: usize, eol: &str, indent: &str, trail: &str) -> String {
    let b64 = b64(der);
    let mut text = format!("{indent}-----BEGIN CERTIFICATE-----{trail}{eol}");
    for chunk in b64.as_bytes().chunks(width) {
        text.push_str(indent);
        text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        text.push_str(trail);
        text.push_str(eol);
    }
    text.push_str(&format!("{indent}-----END CERTIFICATE-----{trail}{eol}"));
    text
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn certificates_with_any_wrapping_decode_back(
        ders in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..600), 1..5),
        width in 1usize..200,
        eol in prop::sample::select(vec!["\n", "\r\n"]),
        indent in "[ \t]{0,2}",
        trail in "[ \t]{0,2}",
        junk in prop::collection::vec("[^-\r\n]{0,40}", 0..5),
    ) {
        let mut text = String::new();
        for (i, der) in ders.iter().enumerate() {
            if let Some(j) = junk.get(i) {
                text.push_str(j);
                text.push_str(eol);
            }
            text.push_str(&pem_block(der, width, eol, &indent, &trail));
        }
        let read: Vec<Vec<u8>> = pem_certificates(text.as_bytes())
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect();
        let mut want = ders.clone();
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(read, want);
    }

    #[test]
    fn any_bytes_are_read_without_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        der in prop::collection::vec(any::<u8>(), 1..64),
        at in 0.0f64..1.0,
    ) {
        for c in pem_certificates(&bytes) {
            prop_assert!(!c.as_ref().is_empty());
        }
        // Garbage around and inside a block: whatever comes out was in the input.
        let block = pem_block(&der, 64, "\n", "", "");
        let mut mixed = bytes.clone();
        let i = ((mixed.len() as f64) * at) as usize;
        mixed.splice(i..i, block.bytes());
        for c in pem_certificates(&mixed) {
            prop_assert!(!c.as_ref().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Azure: azure.json, WWW-Authenticate, JWT expiry (src/backend/acr/*)

#[cfg(feature = "azure")]
mod azure {
    use std::time::{Duration, UNIX_EPOCH};

    use cloud_credential_provider::challenge::{self, Bearer, Challenge};
    use cloud_credential_provider::{
        jwt_claims, jwt_expiry, AzureCloud, AzureConfig, UserAssigned,
    };

    use super::support::{base64url_encode, jwt};
    use super::*;

    fn parse_azure(bytes: &[u8]) -> Result<AzureConfig, String> {
        AzureConfig::parse(Path::new("/etc/kubernetes/azure.json"), bytes, None)
    }

    /// `text` with each ASCII letter's case chosen by `bits` (azure.json keys ignore case).
    fn recase(text: &str, bits: u64) -> String {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                if bits >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    const CLOUDS: [(&str, AzureCloud); 4] = [
        ("AzurePublicCloud", AzureCloud::Public),
        ("AzureChinaCloud", AzureCloud::China),
        ("AzureUSGovernmentCloud", AzureCloud::UsGovernment),
        ("AzureGermanCloud", AzureCloud::Germany),
    ];

    proptest! {
        #![proptest_config(cases(256))]

        #[test]
        fn azure_json_reads_back_in_json_or_yaml_with_any_key_case(
            cloud in 0usize..4,
            tenant in "[a-z0-9-]{1,36}",
            client in "[a-z0-9-]{1,36}",
            client_secret in "[A-Za-z0-9~._-]{1,40}",
            managed in any::<bool>(),
            managed_as_text in any::<bool>(),
            user_assigned in prop::option::of(prop_oneof![
                "[a-f0-9-]{8,36}",
                "/subscriptions/[a-z0-9-]{1,12}/resourceGroups/[a-z]{1,8}/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/[a-z]{1,8}",
            ]),
            case_bits in any::<u64>(),
            yaml in any::<bool>(),
        ) {
            let (cloud_name, known) = CLOUDS[cloud];
            let mut fields: Vec<(&str, Value)> = vec![
                ("cloud", json!(recase(cloud_name, !case_bits))),
                ("tenantId", json!(tenant)),
                ("aadClientId", json!(client)),
                ("aadClientSecret", json!(client_secret)),
                (
                    "useManagedIdentityExtension",
                    if managed_as_text { json!(managed.to_string()) } else { json!(managed) },
                ),
                ("location", json!("westeurope")),
            ];
            if let Some(id) = &user_assigned {
                fields.push(("userAssignedIdentityID", json!(id)));
            }
            let text = if yaml {
                fields
                    .iter()
                    .map(|(k, v)| format!("{}: {v}\n", recase(k, case_bits)))
                    .collect::<String>()
            } else {
                Value::Object(fields.iter().map(|(k, v)| (recase(k, case_bits), v.clone())).collect())
                    .to_string()
            };
            let c = parse_azure(text.as_bytes()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(c.cloud.known, Some(known));
            prop_assert_eq!(c.tenant_id.as_deref(), Some(tenant.as_str()));
            prop_assert_eq!(c.client_id.as_deref(), Some(client.as_str()));
            prop_assert_eq!(c.client_secret.as_ref().map(|s| s.expose().as_str()), Some(client_secret.as_str()));
            prop_assert_eq!(c.use_managed_identity, managed);
            prop_assert_eq!(&c.user_assigned, &user_assigned.map(|id| UserAssigned::from_config(&id)));
            let debug = format!("{c:?}");
            prop_assert!(!debug.contains(&client_secret) || client_secret.len() < 8, "{}", debug);
        }

        #[test]
        fn an_azure_json_that_fails_never_shows_the_client_secret(
            client_secret in secret(),
            breakage in 0usize..6,
            at in 0.0f64..1.0,
            yaml in any::<bool>(),
        ) {
            let mut fields: Vec<(&str, Value)> = vec![
                ("cloud", json!("AzurePublicCloud")),
                ("tenantId", json!("t")),
                ("aadClientId", json!("c")),
                ("aadClientSecret", json!(client_secret)),
            ];
            match breakage {
                0 => fields[0].1 = json!("Mars"),
                1 => fields.push(("useManagedIdentityExtension", json!("yes"))),
                2 => fields.push(("tenantId", json!({"nested": [1, 2]}))),
                3 => fields.extend([("cloud", json!("AzureStackCloud")), ("containerRegistryDNSSuffix", json!("a.b")), ("activeDirectoryEndpoint", json!("http://login"))]),
                _ => {}
            }
            let mut text = if yaml {
                fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>()
            } else {
                Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).to_string()
            };
            if breakage == 4 {
                text = cut(&text, at).to_string();
            }
            if breakage == 5 {
                text.push_str("\n: [ {\t\"");
            }
            if let Err(message) = parse_azure(text.as_bytes()) {
                assert_one_line(&message)?;
                assert_no_piece_of(&message, &client_secret)?;
            } else {
                prop_assert!(breakage == 4, "{} parsed", text);
            }
        }

        #[test]
        fn any_azure_json_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..128),
            text in "[a-zA-Z:{}\\[\\]\"',\\- \n\t#&*!|>]{0,64}",
        ) {
            for input in [&bytes[..], text.as_bytes()] {
                if let Err(message) = parse_azure(input) {
                    assert_one_line(&message)?;
                }
            }
        }
    }

    /// A parameter value as sent: a token, or a quoted string with `\` escapes.
    #[derive(Debug, Clone)]
    enum ParamValue {
        Token(String),
        Quoted(String),
    }

    impl ParamValue {
        fn value(&self) -> &str {
            match self {
                ParamValue::Token(s) | ParamValue::Quoted(s) => s,
            }
        }

        fn render(&self) -> String {
            match self {
                ParamValue::Token(s) => s.clone(),
                ParamValue::Quoted(s) => {
                    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                }
            }
        }
    }

    fn param_value() -> impl Strategy<Value = ParamValue> {
        prop_oneof![
            "[A-Za-z0-9._~:/+-]{1,24}".prop_map(ParamValue::Token),
            ".{0,24}".prop_map(ParamValue::Quoted),
        ]
    }

    fn challenges() -> impl Strategy<Value = Vec<(String, BTreeMap<String, ParamValue>)>> {
        prop::collection::vec(
            (
                prop_oneof![
                    "[A-Za-z][A-Za-z0-9-]{0,10}",
                    Just("Bearer".to_string()),
                    Just("bEaReR".to_string())
                ],
                prop::collection::btree_map("[a-z][a-z0-9_-]{0,8}", param_value(), 0..4),
            ),
            1..4,
        )
    }

    proptest! {
        #![proptest_config(cases(512))]

        #[test]
        fn a_written_challenge_header_reads_back(
            list in challenges(),
            space_before in "[ \t]{0,2}",
            space_after in "[ \t]{0,2}",
            separator in prop::sample::select(vec![",", ", ", " ,  "]),
            case_bits in any::<u64>(),
        ) {
            let header = list
                .iter()
                .map(|(scheme, params)| {
                    let rendered: Vec<String> = params
                        .iter()
                        .map(|(name, v)| format!("{}{space_before}={space_after}{}", recase(name, case_bits), v.render()))
                        .collect();
                    if rendered.is_empty() {
                        scheme.clone()
                    } else {
                        format!("{scheme} {}", rendered.join(separator))
                    }
                })
                .collect::<Vec<_>>()
                .join(separator);
            let want: Vec<Challenge> = list
                .iter()
                .map(|(scheme, params)| Challenge {
                    scheme: scheme.clone(),
                    params: params.iter().map(|(k, v)| (k.clone(), v.value().to_string())).collect(),
                })
                .collect();
            prop_assert_eq!(challenge::parse(&header), want, "{}", header);
            let bearer = list.iter().find_map(|(scheme, params)| {
                let realm = params.get("realm").map(ParamValue::value).filter(|r| !r.is_empty())?;
                scheme.eq_ignore_ascii_case("bearer").then(|| Bearer {
                    realm: realm.to_string(),
                    service: params.get("service").map(|s| s.value().to_string()).filter(|s| !s.is_empty()),
                })
            });
            prop_assert_eq!(challenge::bearer([header.as_str()]), bearer);
        }

        #[test]
        fn any_header_text_never_panics(text in "[A-Za-z=,\" \\\\]{0,40}|.{0,40}") {
            let _ = challenge::parse(&text);
            let _ = challenge::bearer([text.as_str(), "Bearer realm=x"]);
        }
    }

    proptest! {
        #![proptest_config(cases(512))]

        #[test]
        fn jwt_exp_reads_back(
            exp in 1u64..=100_000_000_000,
            // Fractions a JSON reader gets back exactly, whatever its float algorithm.
            fraction in prop::option::of(prop::sample::select(vec![0.25f64, 0.5, 0.75])),
            extra in prop::collection::btree_map("[a-z]{1,5}", any_json(), 0..3),
            padded in any::<bool>(),
            header in "[A-Za-z0-9_-]{0,20}",
            signature in "[A-Za-z0-9_-]{0,40}",
        ) {
            let mut claims: serde_json::Map<String, Value> = extra.into_iter().collect();
            let exp_value = match fraction {
                Some(f) if (exp as f64 + f) <= 1e11 => json!(exp as f64 + f),
                _ => json!(exp),
            };
            claims.insert("exp".into(), exp_value.clone());
            let token = jwt(&header, &Value::Object(claims.clone()), padded, &signature);
            // Other claims come back as JSON does (serde_json may round a float's last digit).
            let read = jwt_claims(&token).ok_or_else(|| TestCaseError::fail("no claims"))?;
            prop_assert!(read.keys().eq(claims.keys()));
            prop_assert_eq!(read.get("exp"), Some(&exp_value));
            let want = (exp_value.as_f64().unwrap_or(0.0)) as u64;
            prop_assert_eq!(jwt_expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(want)));
        }

        #[test]
        fn jwts_without_a_usable_exp_have_no_expiry(
            exp in prop_oneof![
                (-1e12f64..=0.0).prop_map(|f| json!(f)),
                (1.0000001e11f64..1e300).prop_map(|f| json!(f)),
                any_json().prop_filter("not a number", |v| !v.is_number()),
            ],
            padded in any::<bool>(),
        ) {
            let token = jwt("e30", &json!({"exp": exp}), padded, "sig");
            prop_assert_eq!(jwt_expiry(&token), None);
        }

        #[test]
        fn any_token_text_never_panics(
            text in "[A-Za-z0-9_=.-]{0,60}|.{0,60}",
            payload in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = (jwt_expiry(&text), jwt_claims(&text));
            let _ = jwt_expiry(&format!("h.{}.s", base64url_encode(&payload, false)));
        }
    }
}
