//! Kubelet's host/image pattern matching, emulated byte for byte.
//!
//! Kubelet decides whether a provider runs for an image by matching each `matchImages`
//! entry with `URLsMatchStr(pattern, image)`, and it files the `auth` keys of a response
//! with `BasicDockerKeyring.Add` and matches them the same way (protocol doc §2.1, §2.2).
//! Both parse their inputs with Go's `url.Parse("https://" + s)`. To agree with kubelet on
//! every input, including the odd ones an operator may type, this module emulates Go's
//! `net/url` parser, `net.SplitHostPort` and `filepath.Match` instead of using a WHATWG
//! URL parser: those lower-case hosts, apply IDNA and drop default ports, all of which
//! change the answer. Everything here works on bytes, as Go strings do.
//!
//! Go behaviour followed: `net/url` as of Go 1.25, including the 1.25.2/1.24.8 rule that
//! only an IPv6 address may stand in brackets; the port is what follows the last `:`.
//! Go 1.26's stricter colon rule (`urlstrictcolons`) is not applied: it only rejects hosts
//! with more than one `:` outside brackets, which can never match an image anyway and
//! which [`Pattern::never_matches_reason`] reports. `filepath.Match` reports a malformed
//! pattern even after a mismatch, as current Go does.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A `matchImages` entry or `auth` key, parsed the way kubelet parses it.
///
/// Kept as bytes inside because Go decodes `%XX` escapes into arbitrary bytes; the
/// accessors show them as text (lossily, only for escapes that do not form UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    raw: String,
    /// Go's `URL.Host`: unescaped, port and brackets kept.
    url_host: Vec<u8>,
    /// The host as kubelet's `SplitURL` leaves it (`net.SplitHostPort`, or all of
    /// `URL.Host` when that fails).
    host: Vec<u8>,
    host_text: String,
    port: Option<String>,
    path: Vec<u8>,
    path_text: String,
    has_query: bool,
    has_fragment: bool,
}

/// Why a pattern does not parse, worded like Go's `url.Parse` error so that an operator
/// sees what kubelet would log (e.g. `parse "https://%invalid%": invalid URL escape "%in"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    /// Parse like Go `url.Parse("https://" + s)`, as kubelet does for `matchImages`
    /// (config validation and matching) and for images and `auth` keys when matching.
    pub fn parse(s: &str) -> Result<Pattern, PatternError> {
        let url = parse_go_url(&format!("https://{s}"))?;
        let (host, port) = match split_host_port(&url.host) {
            Some((h, p)) => (h.to_vec(), (!p.is_empty()).then(|| lossy(p))),
            None => (url.host.clone(), None),
        };
        Ok(Pattern {
            raw: s.to_string(),
            host_text: lossy(&host),
            host,
            port,
            path_text: lossy(&url.path),
            path: url.path,
            url_host: url.host,
            has_query: url.has_query,
            has_fragment: url.has_fragment,
        })
    }

    /// The original text, for messages and for reporting which pattern matched.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host without its port, case kept: what kubelet splits into labels.
    ///
    /// When Go's `net.SplitHostPort` cannot split the host (a bracketed IPv6 address
    /// without a port, more than one `:`), this is the whole host, as kubelet uses it.
    pub fn host(&self) -> &str {
        &self.host_text
    }

    /// The port, `None` when absent or empty (`host:`), which kubelet treats alike.
    pub fn port(&self) -> Option<&str> {
        self.port.as_deref()
    }

    /// The decoded path (`%XX` escapes resolved), `""` when there is none.
    pub fn path(&self) -> &str {
        &self.path_text
    }

    /// Kubelet's `URLsMatchStr(self, target)`. `target` is an image as kubelet sends it
    /// (`host[:port]/path`) or any string; a target that does not parse never matches.
    pub fn matches(&self, target: &str) -> bool {
        Pattern::parse(target).is_ok_and(|t| self.matches_parsed(&t))
    }

    fn matches_parsed(&self, target: &Pattern) -> bool {
        if self.port != target.port {
            return false;
        }
        let globs: Vec<&[u8]> = self.host.split(|&b| b == b'.').collect();
        let labels: Vec<&[u8]> = target.host.split(|&b| b == b'.').collect();
        if globs.len() != labels.len() || !target.path.starts_with(&self.path) {
            return false;
        }
        globs
            .iter()
            .zip(labels)
            .all(|(g, l)| matches!(glob_bytes(g, l), Ok(true)))
    }

    /// For validate-config: why this pattern can never match an image kubelet sends (or,
    /// for upper-case hosts and `?`/`#`, will not match what the operator meant), or `None`.
    ///
    /// Kubelet accepts all of these silently, so without this check the provider just
    /// never runs. Images reach the matcher in Docker's normalised form (§1.3): the
    /// registry has a `.`, a port, is `localhost` or has upper-case letters, Hub images
    /// are `docker.io/...`, and the repository is lower-case `[a-z0-9._-]` segments.
    pub fn never_matches_reason(&self) -> Option<String> {
        if let Some((scheme, _)) = self.raw.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
            {
                return Some(format!(
                    "starts with the URL scheme `{scheme}://`: kubelet prepends https:// itself, \
                     so the host is read as {:?}; write the pattern without a scheme",
                    lossy(&self.url_host)
                ));
            }
        }
        if self.has_query {
            return Some(
                "contains `?`, which Go's URL parser takes as the start of a query, not a \
                 glob: kubelet ignores the `?` and everything after it"
                    .to_string(),
            );
        }
        if self.has_fragment {
            return Some(
                "contains `#`, which Go's URL parser takes as the start of a fragment: \
                 kubelet ignores the `#` and everything after it"
                    .to_string(),
            );
        }
        if self.url_host.is_empty() || self.host.is_empty() {
            return Some("host is empty".to_string());
        }
        if split_host_port(&self.url_host).is_none() && self.url_host.contains(&b':') {
            if self.url_host.starts_with(b"[") {
                return Some(
                    "a bracketed IPv6 host without a port never matches: kubelet keeps the \
                     brackets and reads them as a glob character class; give the port"
                        .to_string(),
                );
            }
            return Some(
                "Go's net.SplitHostPort cannot split this host (more than one `:`, or a `[` \
                 class together with a port), so kubelet never separates the port and the \
                 pattern never matches"
                    .to_string(),
            );
        }
        if self.host == b"index.docker.io" && self.port.is_none() {
            return Some(
                "Docker Hub images reach the plugin as docker.io/... (kubelet rewrites \
                 index.docker.io), so this never matches; use docker.io"
                    .to_string(),
            );
        }
        if self.host.iter().any(u8::is_ascii_uppercase) {
            return Some(
                "host has upper-case letters; kubelet matches case-sensitively and registry \
                 hosts in image names are lower case in practice"
                    .to_string(),
            );
        }
        let labels: Vec<&[u8]> = self.host.split(|&b| b == b'.').collect();
        for label in &labels {
            if glob_bytes(label, b"").is_err() {
                return Some(format!(
                    "host label {:?} is not a valid glob (Go filepath.Match reports a syntax \
                     error), so kubelet treats it as no match",
                    lossy(label)
                ));
            }
            if label.is_empty() {
                return Some("host has an empty label (`..` or a leading/trailing `.`)".into());
            }
            if let Some(c) = bad_host_char(label) {
                return Some(format!(
                    "host has the character {:?}, which never appears in an image's registry",
                    lossy(&[c])
                ));
            }
        }
        if let [label] = labels.as_slice() {
            let literal = !label.contains(&b'*') && !label.contains(&b'[');
            if literal && self.port.is_none() && *label != b"localhost" {
                return Some(format!(
                    "host {:?} has no `.` and no port, and is not localhost: kubelet reads an \
                     image `{0}/app` as docker.io/{0}/app, so no image has this host",
                    lossy(label)
                ));
            }
        }
        path_reason(&self.path)
    }
}

/// First byte of a host label, outside `[...]` classes, that no image registry contains.
fn bad_host_char(label: &[u8]) -> Option<u8> {
    let mut in_class = false;
    for &b in label {
        match b {
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            _ if in_class => {}
            b'*' | b'.' | b'_' | b'-' | b':' => {}
            _ if b.is_ascii_alphanumeric() => {}
            _ => return Some(b),
        }
    }
    None
}

/// Why no repository (`/` + lower-case Docker path) can start with this pattern path.
fn path_reason(path: &[u8]) -> Option<String> {
    if path.contains(&b'*') || path.contains(&b'[') {
        return Some(
            "path has a glob character, but kubelet matches the path as a literal prefix \
             (`/*` matches only a repository named `*`, which cannot exist); drop the path \
             or write the repository prefix"
                .to_string(),
        );
    }
    if path.iter().any(u8::is_ascii_uppercase) {
        return Some(
            "path has upper-case letters, but image repositories are always lower case".to_string(),
        );
    }
    if let Some(&c) = path
        .iter()
        .find(|&&b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"._/-".contains(&b)))
    {
        return Some(format!(
            "path has the character {:?}, which never appears in an image repository",
            lossy(&[c])
        ));
    }
    // Segments after the leading `/`; the last one may be a partial name.
    let segments: Vec<&[u8]> = path.split(|&b| b == b'/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if seg.is_empty() && !last {
            return Some("path has an empty segment (`//`)".to_string());
        }
        if seg.first().is_some_and(|b| !b.is_ascii_alphanumeric()) {
            return Some(format!(
                "path segment {:?} starts with a separator; repository segments start with a \
                 letter or digit",
                lossy(seg)
            ));
        }
    }
    None
}

/// Go's `filepath.Match(pattern, name)` on Linux: `*` (not across `/`), `?`, `[...]`
/// classes with ranges and `^` negation (Go has no `!` negation), `\` escapes.
///
/// Kubelet applies it to each host label; an `Err` (Go's `ErrBadPattern`, reported even
/// after a mismatch, as current Go does) counts there as no match.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    glob_bytes(pattern.as_bytes(), name.as_bytes())
        .map_err(|BadPattern| PatternError("syntax error in pattern".to_string()))
}

/// Convenience for callers holding two strings: `URLsMatchStr(glob, target)`, false when
/// either does not parse.
pub fn urls_match(glob: &str, target: &str) -> bool {
    Pattern::parse(glob).is_ok_and(|p| p.matches(target))
}

/// Kubelet's `BasicDockerKeyring.Add` key normalisation (protocol doc §2.1), so that the
/// provider can reason about its `auth` keys exactly as kubelet will file them.
///
/// Adds `https://` unless the key starts with `http://` or `https://`, parses, drops a
/// leading `/v1` or `/v2` from a path starting `/v1/` or `/v2/`, and returns Go's
/// `URL.Host` (port kept) plus the decoded path, or the host alone when the path is empty
/// or `/`. `None` when kubelet would skip the key (parse error), and also when the decoded
/// key is not UTF-8 (only possible through `%XX` escapes of non-UTF-8 bytes).
pub fn normalize_auth_key(key: &str) -> Option<String> {
    let full = if key.starts_with("https://") || key.starts_with("http://") {
        key.to_string()
    } else {
        format!("https://{key}")
    };
    let url = parse_go_url(&full).ok()?;
    let mut path: &[u8] = &url.path;
    if path.starts_with(b"/v2/") || path.starts_with(b"/v1/") {
        path = &path[3..];
    }
    let mut out = url.host;
    if !path.is_empty() && path != b"/" {
        out.extend_from_slice(path);
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------
// Go net/url

/// The parts of Go's `url.URL` that kubelet reads.
struct GoUrl {
    host: Vec<u8>,
    path: Vec<u8>,
    has_query: bool,
    has_fragment: bool,
}

/// Go's `url.Parse` for a string that starts with `https://` or `http://` (the only
/// shapes kubelet produces), with Go's error wording.
fn parse_go_url(raw: &str) -> Result<GoUrl, PatternError> {
    let (before_frag, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let fail = |url: &str, msg: String| PatternError(format!("parse {}: {msg}", go_quote(url)));
    if before_frag.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(fail(
            before_frag,
            "net/url: invalid control character in URL".to_string(),
        ));
    }
    let rest = before_frag
        .strip_prefix("https:")
        .or_else(|| before_frag.strip_prefix("http:"))
        .unwrap_or(before_frag);
    let (rest, has_query) = match rest.split_once('?') {
        Some((r, _)) => (r, true),
        None => (rest, false),
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = parse_authority(authority).map_err(|m| fail(before_frag, m))?;
    let path = unescape(path.as_bytes(), Mode::Path).map_err(|m| fail(before_frag, m))?;
    if let Some(f) = frag {
        unescape(f.as_bytes(), Mode::Fragment).map_err(|m| fail(raw, m))?;
    }
    Ok(GoUrl {
        host,
        path,
        has_query,
        has_fragment: frag.is_some(),
    })
}

/// Go's `parseAuthority`: the host is parsed (and its errors reported) before userinfo.
fn parse_authority(authority: &str) -> Result<Vec<u8>, String> {
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(hostport)?;
    if let Some(user) = userinfo {
        let valid = user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("net/url: invalid userinfo".to_string());
        }
        for part in user.splitn(2, ':') {
            unescape(part.as_bytes(), Mode::UserPassword)?;
        }
    }
    Ok(host)
}

/// Go's `parseHost`: `[ipv6%25zone]:port` or `host:port`, port digits only (may be empty).
fn parse_host(host: &str) -> Result<Vec<u8>, String> {
    if host.starts_with('[') {
        let i = host.rfind(']').ok_or("missing ']' in host")?;
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
        let Some(z) = host[..i].find("%25") else {
            let out = unescape(host.as_bytes(), Mode::Host)?;
            // Escapes in a host decode to bytes >= 0x80 or `%`, so the last `]` is kept.
            let end = out.iter().rposition(|&b| b == b']').unwrap_or(out.len());
            check_ip_literal(&out[..end])?;
            return Ok(out);
        };
        let mut out = unescape(&host.as_bytes()[..z], Mode::Host)?;
        out.extend(unescape(&host.as_bytes()[z..i], Mode::Zone)?);
        let tail = unescape(&host.as_bytes()[i..], Mode::Host)?;
        check_ip_literal(&out)?;
        out.extend(tail);
        return Ok(out);
    }
    if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    }
    unescape(host.as_bytes(), Mode::Host)
}

/// Go 1.25.2+/1.24.8+: only an IPv6 address (zone allowed) may stand in brackets.
/// `bracketed` is `[` + address + optional `%zone`, unescaped.
fn check_ip_literal(bracketed: &[u8]) -> Result<(), String> {
    let inner = bracketed.get(1..).unwrap_or_default();
    let addr = inner.split(|&b| b == b'%').next().unwrap_or_default();
    let text = std::str::from_utf8(addr).unwrap_or_default();
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if text.parse::<Ipv4Addr>().is_ok() {
        return Err("invalid IP-literal".to_string());
    }
    Err(format!(
        "invalid host: ParseAddr({}): unable to parse IP",
        go_quote_bytes(inner)
    ))
}

/// Go's `validOptionalPort`: `""` or `:` followed by digits only.
fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Zone,
    Path,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape(c, encodeHost)`: bytes that may not appear raw in a host.
fn host_byte_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}

/// Go's `unescape`: validates `%XX` (and, for hosts, the raw bytes), then decodes.
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, String> {
    let escape_error = |e: &[u8]| format!("invalid URL escape {}", go_quote_bytes(e));
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b != b'%' {
            if matches!(mode, Mode::Host | Mode::Zone) && b < 0x80 && host_byte_needs_escape(b) {
                return Err(format!(
                    "invalid character {} in host name",
                    go_quote_bytes(&[b])
                ));
            }
            out.push(b);
            i += 1;
            continue;
        }
        let (hi, lo) = match (s.get(i + 1).and_then(hex), s.get(i + 2).and_then(hex)) {
            (Some(hi), Some(lo)) => (hi, lo),
            _ => return Err(escape_error(&s[i..s.len().min(i + 3)])),
        };
        let esc = &s[i..i + 3];
        let v = hi << 4 | lo;
        if mode == Mode::Host && hi < 8 && esc != b"%25" {
            return Err(escape_error(esc));
        }
        if mode == Mode::Zone && esc != b"%25" && v != b' ' && host_byte_needs_escape(v) {
            return Err(escape_error(esc));
        }
        out.push(v);
        i += 3;
    }
    Ok(out)
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Go's `net.SplitHostPort`, returning `None` where Go returns an error.
fn split_host_port(hp: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = hp.iter().rposition(|&b| b == b':')?;
    let (host, j, k) = if hp.first() == Some(&b'[') {
        let end = hp.iter().position(|&b| b == b']')?;
        if end + 1 != i {
            return None; // missing port, or too many colons
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(&b':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains(&b'[') || hp[k..].contains(&b']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

// ---------------------------------------------------------------------------------------
// Go path/filepath.Match

struct BadPattern;

const RUNE_ERROR: u32 = 0xFFFD;

/// Go's `utf8.DecodeRune`: the rune and its width, `(RuneError, 1)` for bad encodings.
/// An empty input gives `(RuneError, 0)`, as in Go.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let width = match s.first() {
        None => return (RUNE_ERROR, 0),
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        Some(_) => 0,
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(text)) if width > 0 => match text.chars().next() {
            Some(c) => (c as u32, width),
            None => (RUNE_ERROR, 1),
        },
        _ => (RUNE_ERROR, 1),
    }
}

fn glob_bytes(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&b'/'));
        }
        if let Some(t) = match_chunk(chunk, name)? {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                    if !pattern.is_empty() || t.is_empty() {
                        name = t;
                        continue 'pattern;
                    }
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Go's `scanChunk`: optional leading stars, then up to the next star outside a class.
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let start = pattern.iter().take_while(|&&b| b == b'*').count();
    let p = &pattern[start..];
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' if i + 1 < p.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (start > 0, &p[..i], &p[i..])
}

/// Go's `matchChunk`: `Some(rest of s)` on a match; keeps checking the chunk's syntax
/// after a mismatch.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    let mut hi = lo;
                    chunk = rest;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    matched |= lo <= r && r <= hi;
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    failed = s.first() == Some(&b'/');
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                }
                let Some(&lit) = chunk.first() else {
                    return Err(BadPattern);
                };
                if !failed {
                    failed = s.first() != Some(&lit);
                    s = s.get(1..).unwrap_or_default();
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// Go's `getEsc`: one possibly escaped class character; the class must go on after it.
fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let chunk = match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => &chunk[1..],
        Some(_) => chunk,
    };
    let (r, n) = decode_rune(chunk);
    if n == 0 || (r == RUNE_ERROR && n == 1) {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

// ---------------------------------------------------------------------------------------
// Text helpers

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Go's `strconv.Quote` (`%q`): the one place this crate quotes values the way kubelet's
/// messages do, so a message here reads like the line in the kubelet log.
pub fn go_quote(s: &str) -> String {
    go_quote_bytes(s.as_bytes())
}

/// Go's `strconv.Quote` of bytes that need not be UTF-8 (kubelet's binary cache keys), so
/// messages read like kubelet's. Printability of non-ASCII characters is approximated (Go uses
/// Unicode categories).
pub fn go_quote_bytes(s: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut i = 0;
    while i < s.len() {
        let (r, n) = decode_rune(&s[i..]);
        let c = if r == RUNE_ERROR && n == 1 {
            None
        } else {
            char::from_u32(r)
        };
        match c {
            None => out.push_str(&format!("\\x{:02x}", s[i])),
            Some('"') => out.push_str("\\\""),
            Some('\\') => out.push_str("\\\\"),
            Some(c) if is_go_printable(c) => out.push(c),
            Some('\x07') => out.push_str("\\a"),
            Some('\x08') => out.push_str("\\b"),
            Some('\x0c') => out.push_str("\\f"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some('\x0b') => out.push_str("\\v"),
            Some(c) if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            Some(c) if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            Some(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
        i += n.max(1);
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || u == 0xAD
        || (0x200B..=0x200F).contains(&u)
        || (0x202A..=0x202E).contains(&u)
        || (0x2060..=0x206F).contains(&u)
        || u == 0xFEFF
        || (0xFFF9..=0xFFFB).contains(&u)
        || (0xE000..=0xF8FF).contains(&u)
        || u >= 0xF0000
        || (u & 0xFFFE) == 0xFFFE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, image: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(image)
    }

    // §6.1 vectors M1–M18.

    #[test]
    fn star_matches_first_label() {
        assert!(m("*.kubernetes.io", "prefix.kubernetes.io")); // M1
    }

    #[test]
    fn star_matches_middle_label() {
        assert!(m("prefix.*.io", "prefix.kubernetes.io")); // M2
    }

    #[test]
    fn star_matches_last_label() {
        assert!(m("prefix.kubernetes.*", "prefix.kubernetes.io")); // M3
    }

    #[test]
    fn star_matches_part_of_a_label() {
        assert!(m("*-good.kubernetes.io", "prefix-good.kubernetes.io")); // M4
    }

    #[test]
    fn pattern_path_is_prefix_of_image_path() {
        assert!(m("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar")); // M5
    }

    #[test]
    fn equal_ports_match() {
        assert!(m(
            "*.kubernetes.io:1111/blah",
            "prefix.kubernetes.io:1111/blah"
        )); // M6
    }

    #[test]
    fn star_does_not_match_zero_labels() {
        assert!(!m("*.kubernetes.io", "kubernetes.io")); // M7
    }

    #[test]
    fn star_does_not_span_labels() {
        assert!(!m("*.*.kubernetes.io", "prefix.kubernetes.io")); // M8
    }

    #[test]
    fn label_glob_must_match_whole_label() {
        assert!(!m("k*.io", "quay.io")); // M9
    }

    #[test]
    fn different_ports_do_not_match() {
        assert!(!m(
            "*.kubernetes.io:1234/blah",
            "prefix.kubernetes.io:1111/blah"
        )); // M10
    }

    #[test]
    fn pattern_without_port_does_not_match_image_with_port() {
        assert!(!m("prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar")); // M11
    }

    #[test]
    fn pattern_with_port_matches_image_with_same_port() {
        assert!(m("*.registry.io:8080", "test.registry.io:8080/foo")); // M12
    }

    #[test]
    fn two_stars_match_two_labels() {
        assert!(m("*.*.registry.io", "foo.bar.registry.io/foo/bar")); // M13
    }

    #[test]
    fn path_prefix_is_raw_not_segment_aware() {
        assert!(m("registry.io/foo", "registry.io/foobar/x")); // M14
    }

    #[test]
    fn path_star_is_literal() {
        assert!(!m("harbor.example.com/*", "harbor.example.com/library/img")); // M15
        assert!(m("harbor.example.com/*", "harbor.example.com/*x"));
    }

    #[test]
    fn index_docker_io_does_not_match_docker_io_images() {
        assert!(!m("index.docker.io", "docker.io/library/nginx")); // M16
    }

    #[test]
    fn scheme_in_pattern_makes_host_https() {
        let p = Pattern::parse("https://registry.io").unwrap(); // M17
        assert_eq!(p.host(), "https");
        assert_eq!(p.port(), None);
        assert_eq!(p.path(), "//registry.io");
        assert!(!p.matches("registry.io/foo"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!m("Registry.io", "registry.io/foo")); // M18
        assert!(m("Registry.io", "Registry.io/foo"));
    }

    // Other matching behaviour.

    #[test]
    fn image_with_port_needs_pattern_with_port() {
        assert!(!m("172.18.0.10", "172.18.0.10:5000/app"));
        assert!(m("172.18.0.10:5000", "172.18.0.10:5000/app"));
    }

    #[test]
    fn empty_port_counts_as_no_port() {
        let p = Pattern::parse("reg.io:").unwrap();
        assert_eq!(p.port(), None);
        assert_eq!(p.host(), "reg.io");
        assert!(p.matches("reg.io/app"));
        assert!(!p.matches("reg.io:5000/app"));
    }

    #[test]
    fn class_in_host_label() {
        assert!(m("r[a-c]g.io", "rbg.io/x"));
        assert!(!m("r[a-c]g.io", "rdg.io/x"));
        // A host that starts with `[` is read as an IPv6 literal, so a class can't lead.
        assert!(Pattern::parse("[a-c]reg.io").is_err());
    }

    #[test]
    fn malformed_label_glob_never_matches() {
        assert!(!m("x[a.io", "x[a.io/x"));
    }

    #[test]
    fn unparsable_target_never_matches() {
        assert!(!m("*", "bad host/x"));
        assert!(!urls_match("reg.io", "reg.io/%zz"));
    }

    #[test]
    fn urls_match_parses_both_sides() {
        assert!(urls_match("*.io", "reg.io/x"));
        assert!(!urls_match("%invalid%", "reg.io/x"));
    }

    #[test]
    fn ipv6_host_with_port() {
        let p = Pattern::parse("[fe80::1]:5000/app").unwrap();
        assert_eq!(p.host(), "fe80::1");
        assert_eq!(p.port(), Some("5000"));
        assert_eq!(p.path(), "/app");
        assert!(p.matches("[fe80::1]:5000/app/x"));
        assert!(!p.matches("[fe80::2]:5000/app/x"));
    }

    #[test]
    fn ipv6_host_without_port_keeps_brackets_and_never_matches() {
        let p = Pattern::parse("[::1]").unwrap();
        assert_eq!(p.host(), "[::1]");
        assert!(!p.matches("[::1]/app"));
        assert!(p.never_matches_reason().is_some());
    }

    #[test]
    fn bracket_must_hold_ipv6() {
        assert!(Pattern::parse("[1.2.3.4]:80").is_err());
        assert!(Pattern::parse("[reg.io]").is_err());
        assert!(Pattern::parse("[fe80::1%25eth0]:80").is_ok());
    }

    #[test]
    fn userinfo_is_stripped() {
        let p = Pattern::parse("user:pa%20ss@reg.io:5000/x").unwrap();
        assert_eq!(p.host(), "reg.io");
        assert_eq!(p.port(), Some("5000"));
        assert!(p.matches("reg.io:5000/x/y"));
        // The last `@` ends the userinfo.
        assert_eq!(Pattern::parse("a@b@reg.io").unwrap().host(), "reg.io");
    }

    #[test]
    fn path_is_decoded_and_query_fragment_dropped() {
        let p = Pattern::parse("reg.io/a%2Fb?x=1#frag").unwrap();
        assert_eq!(p.path(), "/a/b");
        assert!(p.matches("reg.io/a/b/c"));
        let p = Pattern::parse("reg.io?x").unwrap();
        assert_eq!(p.host(), "reg.io");
        assert!(p.matches("reg.io/app"));
    }

    #[test]
    fn accessors() {
        let p = Pattern::parse("Reg.IO:443/Team").unwrap();
        assert_eq!(p.as_str(), "Reg.IO:443/Team");
        assert_eq!(p.host(), "Reg.IO");
        assert_eq!(p.port(), Some("443"));
        assert_eq!(p.path(), "/Team");
        let p = Pattern::parse("reg.io").unwrap();
        assert_eq!(p.path(), "");
    }

    // Parse errors, worded like Go.

    #[test]
    fn parse_error_invalid_escape() {
        let e = Pattern::parse("%invalid%").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://%invalid%": invalid URL escape "%in""#
        );
        assert_eq!(e.to_string(), e.0);
        let e = Pattern::parse("reg.io/a%4").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg.io/a%4": invalid URL escape "%4""#
        );
    }

    #[test]
    fn parse_error_ascii_escape_in_host() {
        let e = Pattern::parse("reg%41.io").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg%41.io": invalid URL escape "%41""#
        );
    }

    #[test]
    fn parse_error_bad_port() {
        let e = Pattern::parse("host:abc").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://host:abc": invalid port ":abc" after host"#
        );
        let e = Pattern::parse("host:*").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://host:*": invalid port ":*" after host"#
        );
    }

    #[test]
    fn parse_error_space_in_host() {
        let e = Pattern::parse("reg io").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg io": invalid character " " in host name"#
        );
        // A space in the path is fine for Go.
        assert!(Pattern::parse("reg.io/a b").is_ok());
    }

    #[test]
    fn parse_error_control_character() {
        let e = Pattern::parse("reg.io\n").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg.io\n": net/url: invalid control character in URL"#
        );
    }

    #[test]
    fn parse_error_other_go_messages() {
        let e = Pattern::parse("[::1").unwrap_err();
        assert_eq!(e.0, r#"parse "https://[::1": missing ']' in host"#);
        let e = Pattern::parse("us er@reg.io").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://us er@reg.io": net/url: invalid userinfo"#
        );
        let e = Pattern::parse("reg.io#%zz").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg.io#%zz": invalid URL escape "%zz""#
        );
        let e = Pattern::parse("reg^.io").unwrap_err();
        assert_eq!(
            e.0,
            r#"parse "https://reg^.io": invalid character "^" in host name"#
        );
    }

    // glob_match edge cases (Go filepath.Match).

    #[test]
    fn glob_classes_and_ranges() {
        assert_eq!(glob_match("[a-c]", "b"), Ok(true));
        assert_eq!(glob_match("[a-c]", "d"), Ok(false));
        assert_eq!(glob_match("[^a]", "b"), Ok(true));
        assert_eq!(glob_match("[^a]", "a"), Ok(false));
        assert_eq!(glob_match("[!a]", "!"), Ok(true)); // `!` is not negation in Go
        assert_eq!(glob_match("[!a]", "b"), Ok(false));
        assert_eq!(glob_match("x[0-9a-f]y", "xey"), Ok(true));
        assert_eq!(glob_match("[é]", "é"), Ok(true));
    }

    #[test]
    fn glob_star_and_question() {
        assert_eq!(glob_match("*", ""), Ok(true));
        assert_eq!(glob_match("*", "a/b"), Ok(false));
        assert_eq!(glob_match("a*b*c", "axxbyyc"), Ok(true));
        assert_eq!(glob_match("a*b", "ab/b"), Ok(false));
        assert_eq!(glob_match("?", "é"), Ok(true));
        assert_eq!(glob_match("??", "é"), Ok(false));
        assert_eq!(glob_match("a?", "a/"), Ok(false));
    }

    #[test]
    fn glob_escapes() {
        assert_eq!(glob_match(r"\*", "*"), Ok(true));
        assert_eq!(glob_match(r"\*", "a"), Ok(false));
        assert_eq!(glob_match(r"[\]]", "]"), Ok(true));
        assert_eq!(glob_match(r"[\-]", "-"), Ok(true));
    }

    #[test]
    fn glob_malformed_patterns() {
        let bad = Err(PatternError("syntax error in pattern".into()));
        assert_eq!(glob_match("[", "a"), bad);
        assert_eq!(glob_match("[a", "a"), bad);
        assert_eq!(glob_match("[]", "a"), bad);
        assert_eq!(glob_match("[]a]", "]"), bad);
        assert_eq!(glob_match("[-]", "-"), bad);
        assert_eq!(glob_match("[x-]", "x"), bad);
        assert_eq!(glob_match("\\", "a"), bad);
        assert_eq!(glob_match("[^]", "a"), bad);
        // Reported after a mismatch too.
        assert_eq!(glob_match("a[", "b"), bad);
        assert_eq!(glob_match("a*[", "b"), bad);
    }

    // normalize_auth_key (§2.1).

    #[test]
    fn normalize_docker_hub_v1_key() {
        assert_eq!(
            normalize_auth_key("https://index.docker.io/v1/").as_deref(),
            Some("index.docker.io")
        );
    }

    #[test]
    fn normalize_keeps_port_and_strips_v2() {
        assert_eq!(
            normalize_auth_key("http://reg.io:5000/v2/team").as_deref(),
            Some("reg.io:5000/team")
        );
    }

    #[test]
    fn normalize_plain_keys() {
        assert_eq!(normalize_auth_key("reg.io/").as_deref(), Some("reg.io"));
        assert_eq!(normalize_auth_key("reg.io").as_deref(), Some("reg.io"));
        assert_eq!(
            normalize_auth_key("reg.io/a/b").as_deref(),
            Some("reg.io/a/b")
        );
        assert_eq!(normalize_auth_key("*.reg.io").as_deref(), Some("*.reg.io"));
        assert_eq!(
            normalize_auth_key("reg.io/v2").as_deref(),
            Some("reg.io/v2")
        );
        assert_eq!(normalize_auth_key("reg.io/v1/").as_deref(), Some("reg.io"));
    }

    #[test]
    fn normalize_scheme_prefix_is_case_sensitive() {
        assert_eq!(
            normalize_auth_key("HTTPS://reg.io").as_deref(),
            Some("HTTPS://reg.io")
        );
    }

    #[test]
    fn normalize_unparsable_key_is_none() {
        assert_eq!(normalize_auth_key("%invalid%"), None);
        assert_eq!(normalize_auth_key("reg.io:abc"), None);
    }

    // never_matches_reason.

    fn reason(p: &str) -> Option<String> {
        Pattern::parse(p).unwrap().never_matches_reason()
    }

    #[test]
    fn reason_path_glob() {
        assert!(reason("harbor.example.com/*").unwrap().contains("glob"));
        assert!(reason("reg.io/[a]").unwrap().contains("glob"));
    }

    #[test]
    fn reason_scheme() {
        let r = reason("https://registry.io").unwrap();
        assert!(r.contains("https://"), "{r}");
        assert!(r.contains("\"https:\""), "{r}");
    }

    #[test]
    fn reason_upper_case_host() {
        assert!(reason("Registry.io").unwrap().contains("upper-case"));
    }

    #[test]
    fn reason_index_docker_io() {
        assert!(reason("index.docker.io").unwrap().contains("docker.io"));
        assert_eq!(reason("docker.io"), None);
    }

    #[test]
    fn reason_query_and_fragment() {
        assert!(reason("app?.reg.io").unwrap().contains('?'));
        assert!(reason("reg.io#x").unwrap().contains('#'));
    }

    #[test]
    fn reason_empty_host() {
        assert!(reason("").is_some());
        assert!(reason("/app").is_some());
        assert!(reason(":5000").is_some());
    }

    #[test]
    fn reason_malformed_label_glob() {
        assert!(reason("x[a.reg.io").unwrap().contains("glob"));
    }

    #[test]
    fn reason_unsplittable_host() {
        assert!(reason("a:b:5000").is_some());
        assert!(reason("r[a-c].io:5000").is_some());
        assert!(reason("[::1]").is_some());
        assert_eq!(reason("[::1]:5000"), None);
    }

    #[test]
    fn reason_single_label_host() {
        assert!(reason("myregistry").is_some());
        assert_eq!(reason("localhost"), None);
        assert_eq!(reason("myregistry:5000"), None);
        assert_eq!(reason("*"), None);
    }

    #[test]
    fn reason_other_host_and_path_shapes() {
        assert!(reason("reg..io").is_some());
        assert!(reason("reg.io,").is_some());
        assert!(reason("reg.io/Team").unwrap().contains("upper-case"));
        assert!(reason("reg.io//team").is_some());
        assert!(reason("reg.io/_team").is_some());
        assert!(reason("reg.io/a%20b").is_some());
    }

    #[test]
    fn good_patterns_have_no_reason() {
        for p in [
            "registry.io",
            "*.registry.io",
            "*.*.registry.io:8080",
            "reg.io/team/",
            "reg.io/team-a",
            "123456789012.dkr.ecr.*.amazonaws.com",
            "*.azurecr.io",
            "*-docker.pkg.dev",
            "gcr.io",
            "localhost:5000",
            "r[a-c]g.io",
            "reg.io/",
        ] {
            assert_eq!(reason(p), None, "{p}");
        }
    }

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(go_quote("a\"b\\"), r#""a\"b\\""#);
        assert_eq!(go_quote("\x01\t\u{7f}"), r#""\x01\t\x7f""#);
        assert_eq!(go_quote("é\u{200b}"), "\"é\\u200b\"");
        assert_eq!(go_quote_bytes(&[0xe2, 0x82]), r#""\xe2\x82""#);
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("tab\there\n"), "\"tab\\there\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("µs"), "\"µs\"");
    }

    #[test]
    fn no_panic_on_odd_input() {
        let pieces = [
            "",
            "a",
            ".",
            "*",
            "?",
            "#",
            "%",
            "%2",
            "%25",
            "%e2%82",
            "[",
            "]",
            "[::1]",
            ":",
            "::",
            "@",
            "/",
            "//",
            "\\",
            "^",
            "-",
            "é",
            "€",
            "\u{0}",
            "\u{7f}",
            " ",
            "v1/",
            "[a-",
            "!",
            "*[",
            "\u{10ffff}",
            "%zz",
            ":80",
            "1.2.3.4",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    if let Ok(p) = Pattern::parse(&s) {
                        let _ = p.never_matches_reason();
                        let _ = p.matches(&s);
                        let _ = p.matches("reg.io/x");
                    }
                    let _ = normalize_auth_key(&s);
                    let _ = glob_match(&s, a);
                    let _ = glob_match(a, &s);
                    let _ = go_quote(&s);
                }
            }
        }
    }
}
