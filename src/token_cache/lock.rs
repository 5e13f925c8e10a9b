//! Single flight across processes: one fetch per cache entry, however many runs need it.
//!
//! Kubelet execs the plugin once per image it has no answer for, so a node starting a pod with
//! many images, or many pods at once, runs it dozens of times in parallel for one registry.
//! Without coordination every run misses the cache and fetches its own token (24 runs, 24
//! fetches: throttling on ECR, load on the metadata server). Runs that need the same entry take
//! an exclusive `flock` on `<key>.lock` next to it; the holder fetches and stores, the others
//! wait and then read what it stored.
//!
//! The wait polls `LOCK_EX|LOCK_NB` with short sleeps (1 ms doubling to 10 ms) rather than
//! blocking in `flock` on a helper thread: a blocked `flock` cannot be cancelled, so a waiter
//! that gave up would leave a thread that later takes the lock and holds it, doing nothing,
//! until the process exits. Polling costs a syscall per sleep and adds at most 10 ms after the
//! holder is done.
//!
//! The wait is bounded by half of the run's remaining time: the holder and the waiter share
//! the same `--timeout`, so a holder that hangs (a metadata server that never answers) holds
//! the lock to the end of its own deadline, and a waiter must keep time to fetch for itself.
//! Giving up is not a failure: the waiter fetches on its own, as every run did before. A
//! holder killed mid-fetch (SIGKILL, OOM) releases its `flock` when the kernel closes its
//! descriptors, and the next waiter takes over at once.

use std::fs::File;
use std::time::{Duration, Instant};

use super::dir::{self, CacheDir};
use crate::deadline::Deadline;

/// First pause between two attempts; doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// Longest pause between two attempts: the most a waiter lags behind the holder's release.
const MAX_PAUSE: Duration = Duration::from_millis(10);

/// The exclusive lock on one entry; released when dropped (the descriptor is closed).
#[derive(Debug)]
pub struct EntryLock {
    _file: File,
}

/// How the attempt to become the entry's only fetcher ended.
#[derive(Debug)]
pub enum Flight {
    /// We hold the lock; `waited` is how long another run held it before us (zero when free).
    Holder {
        /// The lock, held until dropped.
        lock: EntryLock,
        /// Time spent waiting for another run.
        waited: Duration,
    },
    /// Another run held the lock for our whole wait budget.
    GaveUp {
        /// Time spent waiting.
        waited: Duration,
    },
    /// The lock file cannot be used (full disk, a foreign file in its place); the reason.
    Unavailable(String),
}

/// How long a run may wait for another run's fetch: half of what is left of its deadline.
pub fn wait_budget(deadline: &Deadline) -> Duration {
    deadline.remaining() / 2
}

/// Takes the lock `name` in `dir`, waiting at most [`wait_budget`].
pub fn acquire(cache: &CacheDir, name: &str, deadline: &Deadline) -> Flight {
    let start = Instant::now();
    let give_up = start + wait_budget(deadline);
    let mut pause = FIRST_PAUSE;
    loop {
        let file = match cache.open_lock(name) {
            Ok(file) => file,
            Err(e) => return Flight::Unavailable(e.to_string()),
        };
        loop {
            match dir::try_lock(&file) {
                Ok(true) => break,
                Ok(false) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return Flight::GaveUp {
                            waited: now - start,
                        };
                    }
                    std::thread::sleep(pause.min(give_up - now));
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(e) => return Flight::Unavailable(e.to_string()),
            }
        }
        // `cache purge` may have removed the lock file while we waited on it: a lock on a
        // file nobody else can open any more guards nothing, so lock the one there now.
        if cache.names_file(name, &file) {
            return Flight::Holder {
                lock: EntryLock { _file: file },
                waited: start.elapsed(),
            };
        }
        if Instant::now() >= give_up {
            return Flight::GaveUp {
                waited: start.elapsed(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;
    use std::os::unix::fs::PermissionsExt as _;

    fn private_dir(tag: &str) -> (TempDir, CacheDir) {
        let tmp = TempDir::new(tag);
        let path = tmp.0.join("c");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let cache = CacheDir::open(&path, false).unwrap().unwrap();
        (tmp, cache)
    }

    #[test]
    fn a_free_lock_is_taken_at_once_and_released_on_drop() {
        let (_tmp, cache) = private_dir("lock-free");
        let deadline = Deadline::after(Duration::from_secs(10));
        let Flight::Holder { lock, waited } = acquire(&cache, "k.lock", &deadline) else {
            panic!("free lock not taken");
        };
        assert!(waited < Duration::from_secs(1));
        drop(lock);
        assert!(matches!(
            acquire(&cache, "k.lock", &deadline),
            Flight::Holder { .. }
        ));
    }

    #[test]
    fn a_waiter_gives_up_after_half_of_its_remaining_time() {
        let (_tmp, cache) = private_dir("lock-held");
        let held = acquire(&cache, "k.lock", &Deadline::after(Duration::from_secs(10)));
        assert!(matches!(held, Flight::Holder { .. }));
        let start = Instant::now();
        let outcome = acquire(
            &cache,
            "k.lock",
            &Deadline::after(Duration::from_millis(400)),
        );
        let took = start.elapsed();
        assert!(matches!(outcome, Flight::GaveUp { .. }), "{outcome:?}");
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(390),
            "{took:?}"
        );
        // Another key is another lock.
        assert!(matches!(
            acquire(
                &cache,
                "other.lock",
                &Deadline::after(Duration::from_secs(1))
            ),
            Flight::Holder { .. }
        ));
    }

    #[test]
    fn a_waiter_takes_over_when_the_holder_lets_go() {
        let (_tmp, cache) = private_dir("lock-handover");
        let Flight::Holder { lock, .. } =
            acquire(&cache, "k.lock", &Deadline::after(Duration::from_secs(10)))
        else {
            panic!("not taken");
        };
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(lock);
        });
        let outcome = acquire(&cache, "k.lock", &Deadline::after(Duration::from_secs(10)));
        release.join().unwrap();
        match outcome {
            Flight::Holder { waited, .. } => {
                assert!(waited >= Duration::from_millis(100), "{waited:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lock_file_removed_while_waiting_is_not_trusted() {
        let (_tmp, cache) = private_dir("lock-purged");
        let Flight::Holder { lock, .. } =
            acquire(&cache, "k.lock", &Deadline::after(Duration::from_secs(10)))
        else {
            panic!("not taken");
        };
        // As `cache purge` does: remove the file while holding its lock, then let go.
        cache.remove("k.lock").unwrap();
        drop(lock);
        let Flight::Holder { lock: ours, .. } =
            acquire(&cache, "k.lock", &Deadline::after(Duration::from_secs(10)))
        else {
            panic!("not taken");
        };
        // The lock is on the file that has the name now.
        let again = cache.open_lock("k.lock").unwrap();
        assert!(!dir::try_lock(&again).unwrap());
        drop(ours);
    }
}
