//! Normalising the request's `image` field to the form kubelet sends.
//!
//! Kubelet sends `host[:port]/path`: the Docker reference library's
//! `ParseNormalizedNamed(image).Name()`, with tag and digest stripped and Docker Hub short
//! names fully qualified (protocol doc §1.3). Operators testing the plugin by hand type
//! what they would put in a pod spec (`nginx:1.27`, `reg.io:5000/a/b:1.0@sha256:…`), so
//! the plugin applies the same normalisation; kubelet's own output passes through
//! unchanged. Inputs that Docker's grammar rejects are rejected here with one clear
//! sentence, since kubelet could never have sent them.

use std::fmt;

use crate::hosts::split_host_port;

/// Docker Hub's canonical registry name, as kubelet sends it.
const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy name, which Docker rewrites to [`DOCKER_HUB`].
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// The namespace Docker adds to one-component Hub names (`nginx` → `library/nginx`).
const OFFICIAL_PREFIX: &str = "library/";
/// Docker's limit on the repository path length.
const MAX_REPOSITORY_LEN: usize = 255;

/// An image name as kubelet sends it: registry (`host[:port]`) and repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    registry: String,
    repository: String,
}

/// Why an `image` value cannot be an image name, as one sentence naming the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError(pub String);

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImageError {}

impl ImageRef {
    /// Normalise like Docker's `ParseNormalizedNamed(s).Name()`, as kubelet does before it
    /// calls the plugin: drop `@digest` and `:tag`, take the first component as the
    /// registry only if it has a `.` or `:`, is `localhost` or has upper-case letters
    /// (else `docker.io`), rewrite `index.docker.io` to `docker.io`, and prefix
    /// `library/` to one-component Hub names. Follows Docker even where it surprises:
    /// `localhost:5000` alone is the Hub image `docker.io/library/localhost`, tag `5000`.
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        let fail = |what: String| Err(ImageError(format!("image {s:?} {what}")));
        if s.is_empty() {
            return Err(ImageError("image is empty".to_string()));
        }
        if s.chars().any(char::is_whitespace) {
            return fail("contains whitespace".to_string());
        }
        if s.contains("://") {
            return fail("has a URL scheme; send host/path as kubelet does".to_string());
        }
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return fail("is a 64-character hex image ID, not an image name".to_string());
        }
        let (named, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        if let Some(digest) = digest {
            if let Err(why) = check_digest(digest) {
                return fail(format!("has an invalid digest {digest:?}: {why}"));
            }
        }
        let (registry, remainder) = split_docker_domain(named);
        let (repository, tag) = match remainder.split_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (remainder.as_str(), None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return fail(format!(
                    "has an invalid tag {tag:?} (1-128 of A-Z a-z 0-9 _ . -, not starting \
                     with . or -)"
                ));
            }
        }
        if repository.split('/').any(str::is_empty) {
            return fail("has an empty path component".to_string());
        }
        if repository.chars().any(|c| c.is_uppercase()) {
            return fail(format!(
                "has upper-case letters in the repository {repository:?}; repositories are \
                 lower case"
            ));
        }
        if let Some(bad) = repository.split('/').find(|c| !valid_path_component(c)) {
            return fail(format!(
                "has an invalid path component {bad:?} (lower-case letters and digits, \
                 separated by one '.', one or two '_', or '-'s)"
            ));
        }
        if repository.len() > MAX_REPOSITORY_LEN {
            return fail(format!(
                "has a repository longer than {MAX_REPOSITORY_LEN} characters"
            ));
        }
        // A first component that is no valid domain is still accepted by Docker when it is
        // a valid path component (`foo_bar.com/x`): the whole name is then a path.
        if !valid_domain(registry) && !valid_path_component(registry) {
            return fail(format!("has an invalid registry {registry:?}"));
        }
        Ok(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
        })
    }

    /// `host[:port]`, e.g. `docker.io` or `reg.io:5000`: kubelet's `Registry` cache key
    /// and the host part that `matchImages` and `auth` keys are matched against.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The registry without its port (an IPv6 registry keeps its brackets), for
    /// choosing a backend by host name.
    pub fn host(&self) -> &str {
        self.split_registry().0
    }

    /// The registry's port, if it names one.
    pub fn port(&self) -> Option<&str> {
        self.split_registry().1
    }

    /// The repository path without registry, tag or digest, e.g. `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`: exactly the `image` kubelet would send, and its `Image`
    /// cache key.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn split_registry(&self) -> (&str, Option<&str>) {
        split_host_port(&self.registry)
    }
}

impl fmt::Display for ImageRef {
    /// Shows [`ImageRef::name`], the form kubelet sends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// Docker's `splitDockerDomain`: (registry, repository with tag).
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        return (DOCKER_HUB, format!("{OFFICIAL_PREFIX}{name}"));
    };
    let (registry, remainder) = if first == LEGACY_DOCKER_HUB {
        (DOCKER_HUB, rest)
    } else if first == "localhost"
        || first.contains(['.', ':'])
        || first.chars().any(|c| c.is_uppercase())
    {
        (first, rest)
    } else {
        (DOCKER_HUB, name)
    };
    if registry == DOCKER_HUB && !remainder.contains('/') {
        (registry, format!("{OFFICIAL_PREFIX}{remainder}"))
    } else {
        (registry, remainder.to_string())
    }
}

/// Docker's domain grammar: (DNS-like name | `[ipv6]`) with an optional `:port`.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = split_host_port(domain);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = match host.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').is_some_and(|addr| {
            !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
        }),
        None => host.split('.').all(valid_domain_component),
    };
    port_ok && host_ok
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`: Docker's reference grammar, which
/// has no DNS length limits, so not [`crate::hosts::is_dns_name`] (kubelet accepts what Docker
/// parses).
fn valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        }
        _ => false,
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if !(b.first().is_some_and(alnum) && b.last().is_some_and(alnum)) {
        return false;
    }
    b.split(alnum)
        .all(|sep| matches!(sep, b"" | b"." | b"_" | b"__") || sep.iter().all(|&x| x == b'-'))
}

/// Docker's tag grammar `[\w][\w.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    tag.len() <= 128
        && tag.as_bytes().first().is_some_and(word)
        && tag.bytes().all(|b| word(&b) || b == b'.' || b == b'-')
}

/// Docker's digest grammar plus go-digest's check of the algorithms kubelet links in.
fn check_digest(digest: &str) -> Result<(), &'static str> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err("expected algorithm:hex");
    };
    let component_ok = |c: &str| {
        c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && c.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(component_ok);
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected algorithm:hex with at least 32 hex digits");
    }
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm"),
    };
    if hex.len() != expected_len {
        return Err("wrong length for its algorithm");
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("hex must be lower case");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn name(s: &str) -> String {
        ImageRef::parse(s).unwrap().name()
    }

    fn err(s: &str) -> String {
        ImageRef::parse(s).unwrap_err().0
    }

    #[test]
    fn hub_short_name_with_tag_gets_library() {
        let r = ImageRef::parse("nginx:1.27").unwrap();
        assert_eq!(r.name(), "docker.io/library/nginx");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.to_string(), "docker.io/library/nginx");
    }

    #[test]
    fn hub_user_repo() {
        assert_eq!(name("user/app"), "docker.io/user/app");
        assert_eq!(name("docker.io/nginx"), "docker.io/library/nginx");
    }

    #[test]
    fn legacy_hub_domain_is_rewritten() {
        assert_eq!(
            name("index.docker.io/library/nginx"),
            "docker.io/library/nginx"
        );
        assert_eq!(name("index.docker.io/nginx"), "docker.io/library/nginx");
    }

    #[test]
    fn tag_and_digest_stripped_port_kept() {
        let r = ImageRef::parse(&format!("registry.io:5000/a/b:1.0@sha256:{HEX}")).unwrap();
        assert_eq!(r.name(), "registry.io:5000/a/b");
        assert_eq!(r.registry(), "registry.io:5000");
        assert_eq!(r.host(), "registry.io");
        assert_eq!(r.port(), Some("5000"));
        assert_eq!(r.repository(), "a/b");
    }

    #[test]
    fn digest_without_tag() {
        assert_eq!(
            name(&format!("nginx@sha256:{HEX}")),
            "docker.io/library/nginx"
        );
        assert_eq!(name(&format!("reg.io/app@sha256:{HEX}")), "reg.io/app");
    }

    #[test]
    fn digest_alone_is_not_an_image() {
        assert!(ImageRef::parse(&format!("@sha256:{HEX}")).is_err());
        // Docker reads `sha256:<hex>` as image `sha256` with a 64-character tag.
        assert_eq!(name(&format!("sha256:{HEX}")), "docker.io/library/sha256");
    }

    #[test]
    fn localhost_is_a_registry() {
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.port(), None);
        assert_eq!(name("localhost:5000/app:v1"), "localhost:5000/app");
    }

    #[test]
    fn bare_host_port_is_a_hub_image_with_tag() {
        // Docker's real behaviour: with no `/`, `name:5000` is a Hub name and a tag.
        assert_eq!(name("localhost:5000"), "docker.io/library/localhost");
        assert_eq!(name("reg.io:5000"), "docker.io/library/reg.io");
        assert_eq!(name("reg.io"), "docker.io/library/reg.io");
    }

    #[test]
    fn upper_case_first_component_is_a_registry_and_keeps_case() {
        let r = ImageRef::parse("Host.IO/app").unwrap();
        assert_eq!(r.registry(), "Host.IO");
        assert_eq!(r.name(), "Host.IO/app");
        assert_eq!(name("Myreg/app"), "Myreg/app");
    }

    #[test]
    fn kubelet_output_is_unchanged() {
        for s in [
            "docker.io/library/nginx",
            "test.registry.io/foobar",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
            "reg.io:5000/a/b",
            "[fe80::1]:5000/app",
            "foo_bar.com/x",
        ] {
            assert_eq!(name(s), s);
        }
    }

    #[test]
    fn ipv6_registry() {
        let r = ImageRef::parse("[fe80::1]:5000/app").unwrap();
        assert_eq!(r.host(), "[fe80::1]");
        assert_eq!(r.port(), Some("5000"));
        let r = ImageRef::parse("[::1]/app").unwrap();
        assert_eq!(r.host(), "[::1]");
        assert_eq!(r.port(), None);
    }

    #[test]
    fn path_separators() {
        assert_eq!(name("reg.io/a__b/c--d/e.f"), "reg.io/a__b/c--d/e.f");
        assert!(ImageRef::parse("reg.io/a___b").is_err());
        assert!(ImageRef::parse("reg.io/a..b").is_err());
        assert!(ImageRef::parse("reg.io/a._b").is_err());
        assert!(ImageRef::parse("reg.io/-a").is_err());
        assert!(ImageRef::parse("reg.io/a-").is_err());
    }

    #[test]
    fn error_empty() {
        assert_eq!(err(""), "image is empty");
    }

    #[test]
    fn error_whitespace() {
        assert_eq!(err("x y"), r#"image "x y" contains whitespace"#);
        assert!(err(" nginx").contains("whitespace"));
        assert!(err("nginx\n").contains("whitespace"));
    }

    #[test]
    fn error_scheme() {
        assert_eq!(
            err("https://reg.io/a"),
            r#"image "https://reg.io/a" has a URL scheme; send host/path as kubelet does"#
        );
    }

    #[test]
    fn error_empty_components() {
        assert!(err("reg.io//a").contains("empty path component"));
        assert!(err("reg.io/").contains("empty path component"));
        assert!(err("reg.io/a/").contains("empty path component"));
        assert!(err("/a").contains("empty path component"));
        assert!(err(":1.0").contains("empty path component"));
    }

    #[test]
    fn error_upper_case_repository() {
        assert!(err("reg.io/App").contains("upper-case"));
        assert!(err("user/App").contains("upper-case"));
    }

    #[test]
    fn error_bad_tag_and_digest() {
        assert!(err("nginx:").contains("invalid tag"));
        assert!(err("nginx:-x").contains("invalid tag"));
        assert!(err(&format!("nginx:{}", "a".repeat(129))).contains("invalid tag"));
        assert!(err("nginx@sha256:abc").contains("invalid digest"));
        assert!(err(&format!("nginx@md5:{HEX}")).contains("unsupported"));
        assert!(err(&format!("nginx@sha256:{}", HEX.to_uppercase())).contains("lower case"));
        assert!(err(&format!("nginx@sha512:{HEX}")).contains("length"));
    }

    #[test]
    fn error_bad_registry() {
        assert!(err("reg.io:abc/app").contains("invalid registry"));
        assert!(err("reg.io:/app").contains("invalid registry"));
        assert!(err("-reg.io/app").contains("invalid registry"));
        assert!(err("reg..io/app").contains("invalid registry"));
        assert!(err("[::1/app").contains("invalid registry"));
        assert!(err("[]:80/app").contains("invalid registry"));
    }

    #[test]
    fn error_hex_id_and_length() {
        assert!(err(HEX).contains("hex image ID"));
        assert!(err(&format!("reg.io/{}", "a".repeat(256))).contains("longer than 255"));
        assert!(ImageRef::parse(&format!("reg.io/{}", "a".repeat(255))).is_ok());
    }

    #[test]
    fn error_other_characters() {
        assert!(err("reg.io/a*b").contains("invalid path component"));
        assert!(err("reg.io/é").contains("invalid path component"));
        assert!(ImageRef::parse("reg.io/a:b/c").is_err());
        assert!(ImageRef::parse("a@b@c").is_err());
    }

    #[test]
    fn no_panic_on_odd_input() {
        let pieces = [
            "",
            "a",
            "A",
            "/",
            ":",
            "@",
            ".",
            "-",
            "_",
            "[",
            "]",
            "::1",
            "é",
            "€",
            " ",
            "5000",
            "sha256:",
            HEX,
            "localhost",
            "docker.io",
            "index.docker.io",
            "\u{0}",
            "//",
            "https://",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    if let Ok(r) = ImageRef::parse(&format!("{a}{b}{c}")) {
                        let _ = (r.host(), r.port(), r.name());
                        assert_eq!(ImageRef::parse(&r.name()).unwrap(), r);
                    }
                }
            }
        }
    }
}
