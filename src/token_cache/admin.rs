//! The cache as a whole, for operators: what it holds (`cache list`) and removing entries
//! (`cache purge`).
//!
//! Runs never need either: an entry is keyed by its inputs and replaced when stale, so the
//! directory only grows by keys that stop being asked for (an old pod's token, a changed flag).
//! An operator lists it to see whose tokens a node holds, and purges it after rotating an
//! identity or to reclaim expired entries. Both go through the same checked directory as runs
//! ([`super::dir`]), and purging takes each entry's lock, so it never races a run's fetch.

use std::io;
use std::time::{Duration, SystemTime};

use super::{lock, Flight, Inspection, TokenCache};
use crate::deadline::Deadline;

/// Temporary files older than this belong to a run that was killed between writing and
/// renaming (a live run renames within milliseconds).
const TEMP_MAX_AGE: Duration = Duration::from_secs(60);

/// One entry file as `cache list` shows it: never its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The file name (`<64 hex digits>.json`).
    pub file: String,
    /// Its size in bytes, when it can be inspected.
    pub size: Option<u64>,
    /// What it holds.
    pub inspection: Inspection,
}

/// What `purge` did.
#[derive(Debug, Default)]
pub struct Purged {
    /// Entries removed, as they were.
    pub removed: Vec<Listed>,
    /// Entries selected but kept because a run is fetching them right now (it is about to
    /// replace them anyway; removing the entry under it would only cost it its store).
    pub busy: usize,
    /// Entries not selected.
    pub kept: usize,
    /// Lock files nobody holds and temporary files left by killed runs, removed.
    pub other_files: usize,
}

impl TokenCache {
    /// Every entry in the directory, sorted by file name. Lock files and temporary files are
    /// not entries; other files are not ours and not listed.
    pub fn entries(&self) -> io::Result<Vec<Listed>> {
        Ok(self
            .dir
            .names()?
            .into_iter()
            .filter(|n| entry_stem(n, ".json").is_some())
            .map(|n| self.listed(n))
            .collect())
    }

    fn listed(&self, file: String) -> Listed {
        Listed {
            size: self.dir.stat(&file).ok().map(|m| m.len()),
            inspection: self.inspect_file(&file, None),
            file,
        }
    }

    /// Removes the entries `selected` picks, plus lock files nobody holds whose entry is gone
    /// and temporary files left by killed runs. An entry is removed while holding its lock and
    /// only if it is still selected then, so a run that stored a fresh token in the meantime
    /// keeps it; an entry whose lock is held is kept ([`Purged::busy`]).
    pub fn purge(&self, selected: &dyn Fn(&Inspection) -> bool) -> io::Result<Purged> {
        let mut purged = Purged::default();
        let names = self.dir.names()?;
        for name in &names {
            let Some(stem) = entry_stem(name, ".json") else {
                continue;
            };
            if !selected(&self.inspect_file(name, None)) {
                purged.kept += 1;
                continue;
            }
            let lock_name = format!("{stem}.lock");
            let Some(lock) = self.try_lock(&lock_name) else {
                purged.busy += 1;
                continue;
            };
            let listed = self.listed(name.clone());
            if selected(&listed.inspection) && self.dir.remove(name).is_ok() {
                purged.removed.push(listed);
                // Removed while held, so a run waiting on it notices (see `lock`).
                if self.dir.remove(&lock_name).is_ok() {
                    purged.other_files += 1;
                }
            } else {
                purged.kept += 1;
            }
            drop(lock);
        }
        purged.other_files += self.tidy(&names);
        Ok(purged)
    }

    /// Removes expired entries, found by modification time alone (a store sets it to the
    /// token's expiry, see [`super::dir::CacheDir::replace`]), so the cost is one `stat` per
    /// file, not a read. Entries of keys nobody asks for again (every pod token is a key of
    /// its own) would otherwise stay forever. Like `purge`, each removal holds the entry's
    /// lock and looks again first, and a locked entry is left alone. Returns how many files
    /// went, lock and temporary files included.
    pub fn sweep(&self, now: SystemTime) -> usize {
        let Ok(names) = self.dir.names() else {
            return 0;
        };
        let expired = |name: &str| {
            self.dir
                .stat(name)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t <= now)
        };
        let mut removed = 0;
        for name in &names {
            let Some(stem) = entry_stem(name, ".json") else {
                continue;
            };
            if !expired(name) {
                continue;
            }
            let lock_name = format!("{stem}.lock");
            let Some(lock) = self.try_lock(&lock_name) else {
                continue;
            };
            if expired(name) && self.dir.remove(name).is_ok() {
                removed += 1;
                if self.dir.remove(&lock_name).is_ok() {
                    removed += 1;
                }
            }
            drop(lock);
        }
        removed + self.tidy(&names)
    }

    /// Removes lock files whose entry is not in `names` (a fetch that failed or stored
    /// nothing) unless a run holds them, and temporary files of killed runs. Returns how many.
    fn tidy(&self, names: &[String]) -> usize {
        let mut removed = 0;
        for name in names {
            if let Some(stem) = entry_stem(name, ".lock") {
                if names.contains(&format!("{stem}.json")) {
                    continue;
                }
                // A lock file runs refuse to lock (not ours, not 0600) guards nothing either.
                let lock = match lock::acquire(&self.dir, name, &Deadline::after(Duration::ZERO)) {
                    Flight::Holder { lock, .. } => Some(lock),
                    Flight::Unavailable(_) => None,
                    Flight::GaveUp { .. } => continue,
                };
                if self.dir.remove(name).is_ok() {
                    removed += 1;
                }
                drop(lock);
            } else if is_temp(name)
                && self.dir.age(name).is_some_and(|a| a > TEMP_MAX_AGE)
                && self.dir.remove(name).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// The lock `name` if nobody holds it right now.
    fn try_lock(&self, name: &str) -> Option<lock::EntryLock> {
        match lock::acquire(&self.dir, name, &Deadline::after(Duration::ZERO)) {
            Flight::Holder { lock, .. } => Some(lock),
            _ => None,
        }
    }
}

/// The 64-hex-digit stem of an entry (`suffix` `.json`) or lock file (`.lock`) name.
fn entry_stem<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let stem = name.strip_suffix(suffix)?;
    (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

/// `.<entry name>.<pid>.tmp`, as [`super::dir::CacheDir::replace`] names them.
fn is_temp(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.split_once(".json."))
        .is_some_and(|(stem, pid)| {
            entry_stem(&format!("{stem}.json"), ".json").is_some()
                && !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, creds, files, key, open};
    use super::super::Freshness;
    use super::*;
    use crate::test_util::TempDir;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::UNIX_EPOCH;

    fn expired_or_unusable(i: &Inspection) -> bool {
        match i {
            Inspection::Entry(s) => s.freshness(at(2000)) == Freshness::Expired,
            Inspection::Foreign(_) | Inspection::Corrupt(_) => true,
            Inspection::Missing => false,
        }
    }

    #[test]
    fn list_shows_entries_only_with_their_size_and_no_secret() {
        let dir = TempDir::new("cache-admin-list");
        let (cache, path) = open(&dir);
        let good = key(Some("a"));
        let planted = key(Some("b"));
        cache.store(&good, &creds(5000), at(1000));
        fs::write(path.join(planted.file_name()), "{}").unwrap();
        fs::set_permissions(
            path.join(planted.file_name()),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs::write(path.join("README"), "not ours").unwrap();
        let listed = cache.entries().unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let of = |k: &super::super::CacheKey| {
            listed
                .iter()
                .find(|l| l.file == k.file_name())
                .unwrap()
                .clone()
        };
        let ours = of(&good);
        let size = fs::metadata(path.join(good.file_name())).unwrap().len();
        assert_eq!(ours.size, Some(size));
        match ours.inspection {
            Inspection::Entry(s) => {
                assert_eq!(
                    (s.registry.as_str(), s.identity.as_str()),
                    ("r.example", "role/x")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(of(&planted).inspection, Inspection::Foreign(w) if w.contains("0644")),
            "{listed:?}"
        );
        assert!(
            !format!("{listed:?}").contains("pw"),
            "no password in a listing"
        );
    }

    #[test]
    fn purge_removes_what_is_selected_and_keeps_what_is_in_use() {
        let dir = TempDir::new("cache-admin-purge");
        let (cache, path) = open(&dir);
        let fresh = key(Some("a"));
        let expired = key(Some("b"));
        let busy = key(Some("c"));
        cache.store(&fresh, &creds(5000), at(1000));
        cache.store(&expired, &creds(1500), at(1000));
        cache.store(&busy, &creds(1500), at(1000));
        fs::write(path.join("README"), "not ours").unwrap();
        let temp = format!(".{}.123.tmp", fresh.file_name());
        let young = format!(".{}.124.tmp", fresh.file_name());
        fs::write(path.join(&temp), "x").unwrap();
        fs::write(path.join(&young), "x").unwrap();
        fs::File::options()
            .write(true)
            .open(path.join(&temp))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        // A lock left by a run whose fetch failed (its entry never came), and one runs
        // refuse to lock (not 0600).
        let orphan = format!("{}.lock", "0".repeat(64));
        let foreign = format!("{}.lock", "1".repeat(64));
        for (name, mode) in [(&orphan, 0o600), (&foreign, 0o644)] {
            fs::write(path.join(name), "").unwrap();
            fs::set_permissions(path.join(name), fs::Permissions::from_mode(mode)).unwrap();
        }

        let Flight::Holder { lock, .. } =
            cache.single_flight(&busy, &Deadline::after(Duration::from_secs(5)))
        else {
            panic!("lock");
        };
        let purged = cache.purge(&expired_or_unusable).unwrap();
        assert_eq!(purged.removed.len(), 1);
        assert_eq!(purged.removed[0].file, expired.file_name());
        assert_eq!((purged.busy, purged.kept), (1, 1));
        drop(lock);
        let left = files(&path);
        assert!(!left.contains(&temp), "the old temporary file is gone");
        assert!(left.contains(&young), "a live run's temporary file stays");
        assert!(!left.contains(&orphan), "the orphan lock is gone");
        assert!(!left.contains(&foreign), "the foreign lock is gone");
        assert!(left.contains(&fresh.file_name()) && left.contains(&busy.file_name()));

        let purged = cache.purge(&|_| true).unwrap();
        assert_eq!(purged.removed.len(), 2);
        let mut rest = files(&path);
        rest.retain(|n| n != &young);
        assert_eq!(rest, ["README"]);
    }

    #[test]
    fn a_store_sweeps_expired_entries_by_their_modification_time() {
        let dir = TempDir::new("cache-admin-sweep");
        let (cache, path) = open(&dir);
        let now = SystemTime::now();
        let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let expiring = |secs_from_now: i64| creds((unix(now) as i64 + secs_from_now) as u64);
        let (old, held, live) = (key(Some("old")), key(Some("held")), key(Some("live")));
        let long_ago = now - Duration::from_secs(7200);
        cache.store(&old, &expiring(-10), long_ago);
        cache.store(&held, &expiring(-10), long_ago);
        assert_eq!(
            files(&path).len(),
            2,
            "a store only sweeps what expired before it"
        );
        assert_eq!(
            cache
                .dir
                .stat(&old.file_name())
                .unwrap()
                .modified()
                .unwrap(),
            UNIX_EPOCH + Duration::from_secs(unix(now) - 10),
            "an entry's modification time is its expiry"
        );
        let Flight::Holder { lock, .. } =
            cache.single_flight(&held, &Deadline::after(Duration::from_secs(5)))
        else {
            panic!("lock");
        };
        cache.store(&live, &expiring(600), now);
        let left = files(&path);
        assert!(!left.contains(&old.file_name()), "{left:?}");
        assert!(
            left.contains(&held.file_name()),
            "a held entry stays: {left:?}"
        );
        assert!(left.contains(&live.file_name()));
        drop(lock);
        assert_eq!(cache.sweep(now), 2, "the held entry and its lock");
    }

    #[test]
    fn temporary_and_lock_names_are_recognised_exactly() {
        let hex = "a".repeat(64);
        assert!(is_temp(&format!(".{hex}.json.42.tmp")));
        assert!(!is_temp(&format!(".{hex}.json..tmp")));
        assert!(!is_temp(&format!("{hex}.json.42.tmp")));
        assert!(!is_temp(".x.json.42.tmp"));
        assert_eq!(entry_stem(&format!("{hex}.lock"), ".lock"), Some(&hex[..]));
        assert_eq!(entry_stem("g.lock", ".lock"), None);
    }
}
