//! `cache list` and `cache purge`: the token cache as a node operator sees it.
//!
//! Answers "whose tokens does this node hold, for which registries, until when" and clears
//! entries after an identity was rotated or a role changed, without the operator having to
//! know the key scheme or read files full of tokens. Nothing printed is a secret: registry,
//! backend, identity, times, size and the file name (a hash). Both commands refuse a directory
//! the runs would refuse, for the same reasons ([`crate::token_cache::dir`]).

use std::path::Path;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::lifetime::format_rfc3339;
use crate::pattern::Pattern;
use crate::token_cache::admin::{Listed, Purged};
use crate::token_cache::{Freshness, Inspection, TokenCache};

/// What `cache` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    /// List or purge.
    pub action: CacheAction,
    /// JSON output.
    pub json: bool,
}

/// The `cache` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheAction {
    /// `cache list`.
    List,
    /// `cache purge [--expired] [--registry PATTERN]...`.
    Purge {
        /// Only entries that are expired, foreign or corrupt (never served anyway).
        expired: bool,
        /// Only entries for registries matching one of these (kubelet's `matchImages`
        /// rules); empty: every registry.
        registries: Vec<Pattern>,
    },
}

impl CacheAction {
    fn name(&self) -> &'static str {
        match self {
            CacheAction::List => "list",
            CacheAction::Purge { .. } => "purge",
        }
    }
}

/// Parses a `--registry` value: a host pattern as in `matchImages`, without a path (cache
/// entries are per registry).
pub fn registry_pattern(text: &str) -> Result<Pattern> {
    let pattern =
        Pattern::parse(text).map_err(|e| Error::Usage(format!("--registry {text:?}: {e}")))?;
    if !pattern.path().is_empty() || pattern.host().is_empty() {
        return Err(Error::Usage(format!(
            "--registry {text:?}: expected a registry host pattern such as gcr.io, \
             *.azurecr.io or registry.example:5000, without a path"
        )));
    }
    Ok(pattern)
}

/// Runs `cache list|purge` on the directory `dir`; the result is what goes to stdout.
pub fn run(options: &CacheOptions, dir: &Path) -> Result<String> {
    let action = options.action.name();
    let cache = TokenCache::open_existing(dir).map_err(|why| {
        Error::Config(format!(
            "cache {action}: not using --cache-dir {}: {why}",
            dir.display()
        ))
    })?;
    let io = |e: std::io::Error| Error::Io(format!("cache {action}: {}: {e}", dir.display()));
    let now = SystemTime::now();
    let Some(cache) = cache else {
        // Nothing cached yet (or the wrong --cache-dir): say so, as an empty result.
        return Ok(if options.json {
            let mut report = Map::new();
            report.insert("dir".into(), json!(dir.display().to_string()));
            report.insert("exists".into(), json!(false));
            report.insert(
                if action == "list" {
                    "entries"
                } else {
                    "removed"
                }
                .into(),
                json!([]),
            );
            format!("{}\n", Value::Object(report))
        } else {
            format!(
                "cache dir {} does not exist: nothing is cached there\n",
                dir.display()
            )
        });
    };
    match &options.action {
        CacheAction::List => {
            let entries = cache.entries().map_err(io)?;
            Ok(if options.json {
                let report = json!({
                    "dir": dir.display().to_string(),
                    "exists": true,
                    "entries": entries.iter().map(|l| listed_json(l, now)).collect::<Vec<_>>(),
                });
                format!("{report}\n")
            } else {
                list_text(dir, &entries, now)
            })
        }
        CacheAction::Purge {
            expired,
            registries,
        } => {
            let selected = |i: &Inspection| purge_selects(i, *expired, registries, now);
            let purged = cache.purge(&selected).map_err(io)?;
            Ok(if options.json {
                let report = json!({
                    "dir": dir.display().to_string(),
                    "exists": true,
                    "removed": purged.removed.iter().map(|l| listed_json(l, now)).collect::<Vec<_>>(),
                    "kept": purged.kept,
                    "busy": purged.busy,
                    "otherFiles": purged.other_files,
                });
                format!("{report}\n")
            } else {
                purge_text(dir, &purged, now)
            })
        }
    }
}

/// Whether `cache purge` with these filters removes an entry. Entries that are foreign or
/// corrupt have no registry to match, so `--registry` leaves them; plain `purge` and
/// `--expired` remove them (no run ever serves them).
fn purge_selects(
    inspection: &Inspection,
    expired_only: bool,
    registries: &[Pattern],
    now: SystemTime,
) -> bool {
    match inspection {
        Inspection::Missing => false,
        Inspection::Foreign(_) | Inspection::Corrupt(_) => registries.is_empty(),
        Inspection::Entry(summary) => {
            (!expired_only || summary.freshness(now) == Freshness::Expired)
                && (registries.is_empty()
                    || registries.iter().any(|p| p.matches(&summary.registry)))
        }
    }
}

/// The state word of an entry, as `check` shows it too.
fn state(inspection: &Inspection, now: SystemTime) -> &'static str {
    match inspection {
        Inspection::Missing => "missing",
        Inspection::Foreign(_) => "foreign",
        Inspection::Corrupt(_) => "corrupt",
        Inspection::Entry(s) => s.freshness(now).as_str(),
    }
}

fn listed_json(listed: &Listed, now: SystemTime) -> Value {
    let mut out = Map::new();
    out.insert("file".into(), json!(listed.file));
    out.insert("size".into(), json!(listed.size));
    out.insert("state".into(), json!(state(&listed.inspection, now)));
    match &listed.inspection {
        Inspection::Entry(s) => {
            out.insert("backend".into(), json!(s.backend));
            out.insert("registry".into(), json!(s.registry));
            out.insert("identity".into(), json!(s.identity));
            out.insert("issuedAt".into(), json!(format_rfc3339(s.issued_at)));
            out.insert("refreshAt".into(), json!(format_rfc3339(s.refresh_at)));
            out.insert("expiresAt".into(), json!(format_rfc3339(s.expires_at)));
            out.insert("authKeys".into(), json!(s.auth_keys));
        }
        Inspection::Foreign(why) | Inspection::Corrupt(why) => {
            out.insert("reason".into(), json!(why));
        }
        Inspection::Missing => {}
    }
    Value::Object(out)
}

/// Short id of an entry: the first 12 hex digits of its name, as `docker images` shows ids.
fn short(file: &str) -> &str {
    file.get(..12).unwrap_or(file)
}

/// One row per entry: id, registry, backend, state, expiry, size, identity (or, for an entry
/// that is not served, why).
fn rows(entries: &[Listed], now: SystemTime) -> Vec<[String; 7]> {
    entries
        .iter()
        .map(|l| {
            let size = l.size.map_or("-".to_string(), |s| s.to_string());
            let state = state(&l.inspection, now).to_string();
            let id = short(&l.file).to_string();
            match &l.inspection {
                Inspection::Entry(s) => [
                    id,
                    s.registry.clone(),
                    s.backend.clone(),
                    state,
                    format_rfc3339(s.expires_at),
                    size,
                    s.identity.clone(),
                ],
                Inspection::Foreign(why) | Inspection::Corrupt(why) => [
                    id,
                    "-".into(),
                    "-".into(),
                    state,
                    "-".into(),
                    size,
                    format!("({why})"),
                ],
                Inspection::Missing => [
                    id,
                    "-".into(),
                    "-".into(),
                    state,
                    "-".into(),
                    size,
                    "-".into(),
                ],
            }
        })
        .collect()
}

fn table(entries: &[Listed], now: SystemTime) -> String {
    let header = [
        "ENTRY", "REGISTRY", "BACKEND", "STATE", "EXPIRES", "SIZE", "IDENTITY",
    ]
    .map(String::from);
    let mut all = vec![header];
    all.extend(rows(entries, now));
    let widths: Vec<usize> = (0..7)
        .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1 entry`, `2 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn n_entries(n: usize) -> String {
    count(n, "entry", "entries")
}

fn list_text(dir: &Path, entries: &[Listed], now: SystemTime) -> String {
    let mut out = format!(
        "cache dir {}: {}\n",
        dir.display(),
        n_entries(entries.len())
    );
    if !entries.is_empty() {
        out.push_str(&table(entries, now));
    }
    out
}

fn purge_text(dir: &Path, purged: &Purged, now: SystemTime) -> String {
    let mut out = format!(
        "cache dir {}: removed {}",
        dir.display(),
        n_entries(purged.removed.len())
    );
    if purged.kept > 0 {
        out.push_str(&format!(", kept {} not selected", n_entries(purged.kept)));
    }
    if purged.busy > 0 {
        out.push_str(&format!(
            ", kept {} a run is fetching right now (it replaces them)",
            n_entries(purged.busy)
        ));
    }
    if purged.other_files > 0 {
        out.push_str(&format!(
            ", removed {} (unused locks, leftovers of killed runs)",
            count(purged.other_files, "other file", "other files")
        ));
    }
    out.push('\n');
    if !purged.removed.is_empty() {
        out.push_str(&table(&purged.removed, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_cache::Summary;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn entry(registry: &str, expires: u64) -> Inspection {
        Inspection::Entry(Summary {
            backend: "gcr".into(),
            registry: registry.into(),
            identity: "node@p.iam.gserviceaccount.com".into(),
            issued_at: at(1000),
            refresh_at: at(1000 + (expires - 1000) / 2),
            expires_at: at(expires),
            auth_keys: vec![registry.into()],
        })
    }

    fn patterns(texts: &[&str]) -> Vec<Pattern> {
        texts.iter().map(|t| registry_pattern(t).unwrap()).collect()
    }

    #[test]
    fn purge_filters_by_registry_pattern_and_expiry() {
        let now = at(2000);
        let gcr = entry("gcr.io", 5000);
        let eu = entry("eu.gcr.io", 1500);
        let acr = entry("team.azurecr.io", 5000);
        let foreign = Inspection::Foreign("it is a symbolic link".into());
        let all =
            |i: &Inspection, expired, r: &[&str]| purge_selects(i, expired, &patterns(r), now);
        for i in [&gcr, &eu, &acr, &foreign] {
            assert!(all(i, false, &[]), "plain purge takes everything: {i:?}");
        }
        assert!(!all(&gcr, true, &[]) && all(&eu, true, &[]) && all(&foreign, true, &[]));
        assert!(all(&gcr, false, &["gcr.io"]) && !all(&eu, false, &["gcr.io"]));
        assert!(all(&eu, false, &["*.gcr.io"]) && !all(&acr, false, &["*.gcr.io"]));
        assert!(all(&acr, false, &["gcr.io", "*.azurecr.io"]));
        assert!(!all(&foreign, false, &["*.gcr.io"]), "no registry to match");
        assert!(all(&eu, true, &["*.gcr.io"]) && !all(&gcr, true, &["gcr.io"]));
    }

    #[test]
    fn registry_patterns_are_hosts_without_a_path() {
        assert!(registry_pattern("registry.example:5000").is_ok());
        for bad in ["gcr.io/proj", "", "%zz"] {
            let e = registry_pattern(bad).unwrap_err().to_string();
            assert!(e.starts_with("--registry"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_table_shows_no_secret_and_explains_unusable_entries() {
        let entries = vec![
            Listed {
                file: format!("{}.json", "ab".repeat(32)),
                size: Some(812),
                inspection: entry("gcr.io", 5000),
            },
            Listed {
                file: format!("{}.json", "cd".repeat(32)),
                size: Some(3),
                inspection: Inspection::Foreign("it is owned by uid 65534, not by uid 0".into()),
            },
        ];
        let text = list_text(Path::new("/run/c"), &entries, at(2000));
        assert_eq!(
            text,
            "cache dir /run/c: 2 entries\n\
             ENTRY         REGISTRY  BACKEND  STATE    EXPIRES               SIZE  IDENTITY\n\
             abababababab  gcr.io    gcr      fresh    1970-01-01T01:23:20Z  812   node@p.iam.gserviceaccount.com\n\
             cdcdcdcdcdcd  -         -        foreign  -                     3     (it is owned by uid 65534, not by uid 0)\n"
        );
        let purged = Purged {
            removed: entries,
            busy: 1,
            kept: 0,
            other_files: 2,
        };
        let text = purge_text(Path::new("/run/c"), &purged, at(2000));
        assert!(
            text.starts_with(
                "cache dir /run/c: removed 2 entries, kept 1 entry a run is fetching right now \
                 (it replaces them), removed 2 other files (unused locks, leftovers of killed \
                 runs)\nENTRY"
            ),
            "{text}"
        );
    }
}
