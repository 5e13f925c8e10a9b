//! `--cache-dir` with a real backend: the Google node-token flow against the metadata fake on
//! loopback. A token is reused across runs (no second metadata request), never across
//! registries, and an unexpired token is served when the metadata server is gone. Runs started
//! together fetch once (single flight), and a holder that dies or hangs holds nobody up past
//! their deadline. Nothing planted in the cache directory is ever served; `check --offline`
//! reads the entry kubelet's runs use without writing anything, and `check` reads through it.
//!
//! Needs `.venv` for the fake and wakes the gcr backend: every test is `#[ignore]`d, run with
//! `scripts/test.sh` (loopback only, ignored tests included).

#![cfg(feature = "gcp")]

mod google_common;
mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use google_common::{fake, provider, Fake, TOKEN_PATH};
use serde_json::Value;
use support::sweep::{assert_swept, run_swept, VERBOSITY};
use support::{
    go_seconds, is_root, random_token, request, response, run, wait_for, write_file as write_mode,
    Ran, Running, TempDir,
};

fn ask(fake_host: &str, home: &TempDir, cache: &Path, image: &str) -> Ran {
    run_swept(
        provider(
            &["--cache-dir", cache.to_str().expect("utf-8")],
            home.path(),
            &[("GCE_METADATA_HOST", fake_host)],
        ),
        request(image).as_bytes(),
    )
}

fn password(r: &serde_json::Value, key: &str) -> String {
    r["auth"][key]["password"]
        .as_str()
        .expect("password")
        .to_string()
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_token_is_reused_by_later_runs_for_the_same_registry_only() {
    let token = format!("ya29.{}", random_token(40));
    let fake = fake(&[
        ("token", token.as_str()),
        ("email", "node@proj.iam.gserviceaccount.com"),
        ("expires_in", "3600"),
    ]);
    let home = TempDir::new("cache-home");
    let cache = home.join("cache");

    let first = response(&ask(&fake.host(), &home, &cache, "gcr.io/proj/app"));
    assert_eq!(password(&first, "gcr.io"), token);
    let after_first = fake.requests().len();
    assert!(after_first >= 1);

    let second = response(&ask(&fake.host(), &home, &cache, "gcr.io/proj/other"));
    assert_eq!(password(&second, "gcr.io"), token);
    assert_eq!(fake.requests().len(), after_first, "served from the cache");
    // kubelet is told half of the remaining life, as for a fresh token.
    let secs = go_seconds(second["cacheDuration"].as_str().expect("cacheDuration"));
    assert!((1790..=1800).contains(&secs), "{secs}");

    // Another registry is another entry.
    let _ = response(&ask(&fake.host(), &home, &cache, "eu.gcr.io/proj/app"));
    assert!(
        fake.requests().len() > after_first,
        "a new registry asks the server"
    );

    let dir_mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    for entry in std::fs::read_dir(&cache).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!entry.file_name().to_string_lossy().contains(&token));
    }
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn an_unexpired_token_is_served_when_the_metadata_server_is_gone() {
    let token = format!("ya29.{}", random_token(40));
    let fake = fake(&[
        ("token", token.as_str()),
        ("email", "node@proj.iam.gserviceaccount.com"),
        ("expires_in", "6"),
    ]);
    let host = fake.host();
    let home = TempDir::new("cache-stale-home");
    let cache = home.join("cache");
    let _ = response(&ask(&host, &home, &cache, "gcr.io/proj/app"));
    // Past the half-life: the next run must try to refresh, and the server is gone.
    std::thread::sleep(Duration::from_millis(3500));
    drop(fake);
    let ran = ask(&host, &home, &cache, "gcr.io/proj/app");
    let r = response(&ran);
    assert_eq!(password(&r, "gcr.io"), token);
    assert!(
        ran.stderr.contains("serving the cached token"),
        "{}",
        ran.describe()
    );
    assert!(!ran.stderr.contains(&token));
    // Once expired, nothing is served.
    std::thread::sleep(Duration::from_millis(3000));
    let ran = ask(&host, &home, &cache, "gcr.io/proj/app");
    assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
}

/// Metadata token requests the fake has received.
fn token_requests(fake: &Fake) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r["path"] == TOKEN_PATH)
        .count()
}

/// A run that holds the cache entry's lock while it fetches, stuck: `fake` never answers its
/// token request (`hang_first_tokens`). Returned once that request has reached the fake.
fn stuck_holder(fake: &Fake, home: &TempDir, cache: &Path) -> Running {
    let mut holder = start(cache_command(fake, home, cache, &["--timeout=30s"]));
    send(&mut holder, "gcr.io/proj/app");
    wait_for(
        Duration::from_secs(15),
        "the holder never asked for a token",
        || (token_requests(fake) > 0).then_some(()),
    );
    holder
}

/// A provider run started with its stdin still open, so many can be released at once; swept
/// like every provider run (support::sweep): at `--v=10`, checked in [`finish`].
fn start(mut cmd: Command) -> Running {
    cmd.arg(VERBOSITY);
    Running::start(cmd)
}

/// Releases `run` with kubelet's request for `image`.
fn send(run: &mut Running, image: &str) {
    run.send(request(image).as_bytes());
}

/// Waits for `run` to end (at most `limit`, then kills it and fails), sweeps its output;
/// returns what it did and when it ended.
fn finish(run: Running, limit: Duration) -> (Ran, Instant) {
    let (ran, ended) = run.finish(limit);
    assert_swept(&ran);
    (ran, ended)
}

fn node_fake(token: &str, extra: &[(&str, &str)]) -> Fake {
    let mut options = vec![
        ("token", token),
        ("email", "node@proj.iam.gserviceaccount.com"),
        ("expires_in", "3600"),
    ];
    options.extend_from_slice(extra);
    fake(&options)
}

fn cache_command(fake: &Fake, home: &TempDir, cache: &Path, extra: &[&str]) -> Command {
    let mut args = vec!["--cache-dir", cache.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    provider(&args, home.path(), &[("GCE_METADATA_HOST", &fake.host())])
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn fifty_simultaneous_runs_fetch_one_token() {
    const RUNS: usize = 50;
    let token = format!("ya29.{}", random_token(40));
    // The token answer takes long enough that every run starts while the first one fetches.
    let fake = node_fake(&token, &[("token_delay_ms", "1500")]);
    let home = TempDir::new("flight-home");
    let cache = home.join("cache");
    let mut runs: Vec<Running> = (0..RUNS)
        .map(|_| {
            start(cache_command(
                &fake,
                &home,
                &cache,
                &["--timeout=30s", "-v"],
            ))
        })
        .collect();
    let released = Instant::now();
    for r in &mut runs {
        send(r, "gcr.io/proj/app");
    }
    let mut latencies = Vec::new();
    let mut waited = 0;
    for r in runs {
        let spawned = r.spawned;
        let (ran, ended) = finish(r, Duration::from_secs(45));
        let answer = response(&ran);
        assert_eq!(password(&answer, "gcr.io"), token, "{}", ran.describe());
        assert!(!ran.stderr.contains(&token), "{}", ran.describe());
        if ran.stderr.contains("fetched by a concurrent run") {
            waited += 1;
        }
        latencies.push(ended.duration_since(released.max(spawned)));
    }
    let wall = released.elapsed();
    assert_eq!(token_requests(&fake), 1, "one fetch for {RUNS} runs");
    assert!(waited >= 1, "some runs waited for the holder");
    latencies.sort();
    // Figures for the record (`cargo test fifty -- --nocapture`).
    eprintln!(
        "{RUNS} runs: 1 token fetch, {waited} served what a concurrent run fetched; \
         wall {} ms; latency median {} ms, max {} ms",
        wall.as_millis(),
        latencies[RUNS / 2].as_millis(),
        latencies[RUNS - 1].as_millis()
    );
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_holder_killed_mid_fetch_hands_over_to_one_waiter() {
    let token = format!("ya29.{}", random_token(40));
    // The first token request is never answered: its run holds the entry's lock, stuck.
    let fake = node_fake(&token, &[("hang_first_tokens", "1")]);
    let home = TempDir::new("flight-kill-home");
    let cache = home.join("cache");
    let mut holder = stuck_holder(&fake, &home, &cache);

    let mut waiters: Vec<Running> = (0..10)
        .map(|_| start(cache_command(&fake, &home, &cache, &["--timeout=20s"])))
        .collect();
    for w in &mut waiters {
        send(w, "gcr.io/proj/other");
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(token_requests(&fake), 1, "the waiters wait for the holder");

    holder.kill();
    let _ = holder.finish(Duration::from_secs(5));
    let killed = Instant::now();
    let mut slowest = Duration::ZERO;
    for w in waiters {
        let (ran, ended) = finish(w, Duration::from_secs(30));
        assert_eq!(password(&response(&ran), "gcr.io"), token);
        let after_kill = ended.duration_since(killed);
        // Far inside the waiters' wait budget (10 s): they took over, they did not time out.
        assert!(after_kill < Duration::from_secs(5), "{after_kill:?}");
        slowest = slowest.max(after_kill);
    }
    assert_eq!(token_requests(&fake), 2, "exactly one waiter fetched anew");
    eprintln!(
        "holder SIGKILLed mid-fetch: all 10 waiters answered within {} ms of the kill, \
         with 1 new fetch",
        slowest.as_millis()
    );
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn waiters_of_a_hung_holder_fetch_themselves_before_their_deadline() {
    let token = format!("ya29.{}", random_token(40));
    let fake = node_fake(&token, &[("hang_first_tokens", "1")]);
    let home = TempDir::new("flight-hung-home");
    let cache = home.join("cache");
    let mut holder = stuck_holder(&fake, &home, &cache);
    let mut waiters: Vec<Running> = (0..5)
        .map(|_| start(cache_command(&fake, &home, &cache, &["--timeout=4s", "-v"])))
        .collect();
    for w in &mut waiters {
        send(w, "gcr.io/proj/app");
    }
    let mut slowest = Duration::ZERO;
    for w in waiters {
        let spawned = w.spawned;
        let (ran, ended) = finish(w, Duration::from_secs(20));
        assert_eq!(password(&response(&ran), "gcr.io"), token);
        assert!(ran.stderr.contains("fetching too"), "{}", ran.describe());
        let took = ended.duration_since(spawned);
        // Half of the 4 s deadline waiting, then its own fetch; never past the deadline.
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_millis(4500),
            "{took:?}"
        );
        slowest = slowest.max(took);
    }
    eprintln!(
        "holder hung: 5 waiters with --timeout=4s answered after at most {} ms",
        slowest.as_millis()
    );
    holder.kill();
    let _ = holder.finish(Duration::from_secs(5));
}

/// The one entry file in `cache`.
fn only_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = fs::read_dir(cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// The entry at `path` with every password replaced by `password` (what an attacker plants).
fn planted(path: &Path, password: &str) -> String {
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(path).expect("entry")).expect("entry is JSON");
    for (_, auth) in v["auth"].as_object_mut().expect("auth").iter_mut() {
        auth["password"] = Value::String(password.to_string());
    }
    v.to_string()
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
}

/// A cache holding one real entry for gcr.io, and the fake that issued it.
struct Filled {
    fake: Fake,
    token: String,
    home: TempDir,
    cache: PathBuf,
    entry: PathBuf,
}

fn filled(label: &str) -> Filled {
    let token = format!("ya29.{}", random_token(40));
    let fake = node_fake(&token, &[]);
    let home = TempDir::new(label);
    let cache = home.join("cache");
    let _ = response(&ask(&fake.host(), &home, &cache, "gcr.io/proj/app"));
    let entry = only_entry(&cache);
    Filled {
        fake,
        token,
        home,
        cache,
        entry,
    }
}

impl Filled {
    fn ask(&self) -> Ran {
        ask(
            &self.fake.host(),
            &self.home,
            &self.cache,
            "gcr.io/proj/app",
        )
    }
}

#[test]
#[ignore = "needs root (chown), .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn entries_that_are_not_ours_are_never_served_and_get_replaced() {
    assert!(
        is_root(),
        "this test chowns files: run scripts/test.sh as root"
    );
    let planted_password = random_token(30);
    type Plant = fn(&Filled, &str);
    let cases: [(&str, Plant, &str); 4] = [
        (
            "owned by another user",
            |f, text| {
                write_mode(&f.entry, text, 0o600);
                chown(&f.entry, 65534);
            },
            "owned by uid 65534",
        ),
        (
            "readable by others",
            |f, text| write_mode(&f.entry, text, 0o644),
            "mode is 0644",
        ),
        (
            "a link to a file elsewhere",
            |f, text| {
                let elsewhere = f.home.join("elsewhere.json");
                write_mode(&elsewhere, text, 0o600);
                fs::remove_file(&f.entry).expect("rm");
                std::os::unix::fs::symlink(&elsewhere, &f.entry).expect("symlink");
            },
            "symbolic link",
        ),
        (
            "larger than any entry",
            |f, text| {
                let mut big = text.to_string();
                big.push_str(&" ".repeat(70 * 1024));
                write_mode(&f.entry, &big, 0o600);
            },
            "larger than 64 KiB",
        ),
    ];
    for (what, plant, warning) in cases {
        let f = filled("plant-home");
        let text = planted(&f.entry, &planted_password);
        plant(&f, &text);
        let before = token_requests(&f.fake);
        let ran = f.ask();
        let answer = response(&ran);
        assert_eq!(password(&answer, "gcr.io"), f.token, "{what}");
        assert_eq!(token_requests(&f.fake), before + 1, "{what}: fetched anew");
        let warnings = ran.quiet_lines();
        assert_eq!(warnings.len(), 1, "{what}: {}", ran.describe());
        assert!(warnings[0].contains(warning), "{what}: {}", ran.describe());
        assert!(!ran.stderr.contains(&planted_password));
        // Replaced by a private regular file of ours holding the real token.
        let meta = fs::symlink_metadata(&f.entry).expect("entry");
        assert!(meta.file_type().is_file(), "{what}");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600), "{what}");
        let text = fs::read_to_string(&f.entry).expect("entry");
        assert!(
            text.contains(&f.token) && !text.contains(&planted_password),
            "{what}"
        );
        if what.contains("link") {
            // The file the link pointed to was not written through.
            let elsewhere = fs::read_to_string(f.home.join("elsewhere.json")).expect("file");
            assert!(elsewhere.contains(&planted_password), "{what}");
        }
    }
}

#[test]
#[ignore = "needs root (chown), .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_cache_dir_others_control_is_refused_with_one_warning() {
    assert!(
        is_root(),
        "this test chowns files: run scripts/test.sh as root"
    );
    let planted_password = random_token(30);
    type Spoil = fn(&Filled) -> &'static str;
    let cases: [(&str, Spoil); 3] = [
        ("world-writable", |f| {
            fs::set_permissions(&f.cache, fs::Permissions::from_mode(0o777)).expect("chmod");
            "mode is 0777"
        }),
        ("owned by another user", |f| {
            chown(&f.cache, 65534);
            "owned by uid 65534"
        }),
        ("a symbolic link", |f| {
            let real = f.home.join("real-cache");
            fs::rename(&f.cache, &real).expect("mv");
            std::os::unix::fs::symlink(&real, &f.cache).expect("symlink");
            "symbolic link"
        }),
    ];
    for (what, spoil) in cases {
        let f = filled("spoil-home");
        let text = planted(&f.entry, &planted_password);
        write_mode(&f.entry, &text, 0o600);
        let why = spoil(&f);
        let listing = |dir: &Path| {
            let mut names: Vec<_> = fs::read_dir(dir)
                .expect("dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            names.sort();
            names
        };
        let before = listing(&f.cache);
        let ran = f.ask();
        assert_eq!(password(&response(&ran), "gcr.io"), f.token, "{what}");
        let lines = ran.quiet_lines();
        assert_eq!(lines.len(), 1, "{what}: {}", ran.describe());
        assert!(
            lines[0].starts_with("cloud-credential-provider: warning: token cache: not using")
                && lines[0].contains(why)
                && lines[0].ends_with("running without the cache"),
            "{what}: {}",
            ran.describe()
        );
        // Neither read nor written: the planted entry is still there, nothing was added.
        assert_eq!(listing(&f.cache), before, "{what}");
        assert!(fs::read_to_string(&f.entry)
            .expect("entry")
            .contains(&planted_password));
    }
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn a_cache_dir_swapped_for_a_link_during_runs_never_serves_a_planted_entry() {
    let f = filled("swap-home");
    let planted_password = random_token(30);
    // Their directory: the same entry name, holding their password, private and "ours".
    let theirs = f.home.join("theirs");
    fs::create_dir(&theirs).expect("mkdir");
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).expect("chmod");
    let name = f.entry.file_name().expect("name");
    write_mode(
        &theirs.join(name),
        planted(&f.entry, &planted_password),
        0o600,
    );
    // Past its half-life, so every run refreshes (and stores) through the directory.
    let mut entry: Value =
        serde_json::from_str(&fs::read_to_string(&f.entry).expect("entry")).expect("JSON");
    entry["issuedAt"] = Value::from(entry["issuedAt"].as_u64().expect("issuedAt") - 3000);
    write_mode(&f.entry, entry.to_string(), 0o600);
    let link = f.home.join("link");
    std::os::unix::fs::symlink(&theirs, &link).expect("symlink");

    // Swap the cache directory and the link atomically, as fast as possible, while runs go.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (a, b) = (path_c(&f.cache), path_c(&link));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths that outlive the call.
                let ret = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(ret, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps += 1;
            }
            swaps
        })
    };
    let mut refused = 0;
    for _ in 0..30 {
        let ran = f.ask();
        let answer = response(&ran);
        assert_eq!(password(&answer, "gcr.io"), f.token, "{}", ran.describe());
        assert!(!ran.stderr.contains(&planted_password));
        if ran.stderr.contains("not using --cache-dir") {
            refused += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 30, "{swaps} swaps");
    // Their directory holds their file only: nothing was written through the link.
    let in_theirs: Vec<_> = fs::read_dir(&theirs)
        .expect("theirs")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(in_theirs, [name.to_os_string()]);
    eprintln!("30 runs during {swaps} swaps: {refused} refused the directory, none served theirs");
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn an_entry_swapped_for_a_link_during_runs_is_never_followed() {
    let f = filled("entry-swap-home");
    let planted_password = random_token(30);
    // A file elsewhere that passes every check but one (it is reached through a link): ours,
    // regular, 0600, holding a valid entry with their password.
    let elsewhere = f.home.join("elsewhere.json");
    let planted_text = planted(&f.entry, &planted_password);
    write_mode(&elsewhere, &planted_text, 0o600);
    // Over and over, a link to it is renamed into the entry's place (atomic, as an attacker
    // with write access to the directory would), so runs meet it between any two of their
    // steps: before the lock, after it, while storing.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (elsewhere, entry) = (elsewhere.clone(), f.entry.clone());
        let staging = f.home.join("link-staging");
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::remove_file(&staging);
                std::os::unix::fs::symlink(&elsewhere, &staging).expect("symlink");
                fs::rename(&staging, &entry).expect("rename the link into place");
                swaps += 1;
                // 1 to 31 ms: sometimes within a run, sometimes between runs.
                std::thread::sleep(Duration::from_millis(1 + swaps % 31));
            }
            swaps
        })
    };
    let mut warned = 0;
    for _ in 0..30 {
        let ran = f.ask();
        assert_eq!(
            password(&response(&ran), "gcr.io"),
            f.token,
            "{}",
            ran.describe()
        );
        assert!(!ran.stderr.contains(&planted_password));
        if ran.stderr.contains("symbolic link") {
            warned += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(warned > 0, "no run met the link");
    assert_eq!(
        fs::read_to_string(&elsewhere).expect("elsewhere"),
        planted_text,
        "never written through the link"
    );
    eprintln!("30 runs during {swaps} entry swaps: {warned} met the link, none followed it");
}

fn path_c(path: &Path) -> std::ffi::CString {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL")
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn verbosity_and_timeout_do_not_change_the_cache_key() {
    let token = format!("ya29.{}", random_token(40));
    let fake = node_fake(&token, &[]);
    let home = TempDir::new("key-home");
    let cache = home.join("cache");
    for extra in [
        &[][..],
        &["-v"],
        &["-vv"],
        &["--v=4"],
        &["--v", "2"],
        &["--timeout=10s"],
        &["get-credentials"],
    ] {
        // At the verbosity under test, not the sweep's; its output is still swept.
        let ran = run(
            cache_command(&fake, &home, &cache, extra),
            request("gcr.io/proj/app").as_bytes(),
        );
        assert_swept(&ran);
        assert_eq!(password(&response(&ran), "gcr.io"), token, "{extra:?}");
    }
    assert_eq!(token_requests(&fake), 1, "one entry for every spelling");
    // A setting that changes the answer is another entry.
    let ran = run_swept(
        cache_command(&fake, &home, &cache, &["--gcr-fixed-keys"]),
        request("gcr.io/proj/app").as_bytes(),
    );
    let _ = response(&ran);
    assert_eq!(token_requests(&fake), 2);
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn check_reports_the_entry_kubelet_uses_without_writing_anything() {
    let f = filled("check-home");
    let image = "gcr.io/proj/app";
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            image,
            "--offline",
            "--cache-dir",
            f.cache.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        // At the verbosity under test (the entry a --v=10 run stored is found at any), not
        // the sweep's; its output is still swept.
        let ran = run(
            provider(
                &args,
                f.home.path(),
                &[("GCE_METADATA_HOST", &f.fake.host())],
            ),
            b"",
        );
        assert_swept(&ran);
        ran
    };
    let state = |extra: &[&str]| -> Value {
        let ran = check(&[&["-o", "json"], extra].concat());
        assert!(ran.status.success(), "{}", ran.describe());
        let v: Value = serde_json::from_str(&ran.stdout).expect("JSON");
        v["cache"].clone()
    };
    let listing = || {
        let mut all: Vec<(std::ffi::OsString, u64, i64)> = fs::read_dir(&f.cache)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                let m = e.metadata().expect("meta");
                (e.file_name(), m.ino(), m.mtime_nsec())
            })
            .collect();
        all.sort();
        all
    };
    let before = listing();

    let fresh = state(&[]);
    assert_eq!(fresh["state"], "fresh", "{fresh}");
    assert_eq!(fresh["fetchSkipped"], true);
    assert_eq!(
        fresh["file"],
        f.entry.file_name().unwrap().to_str().unwrap()
    );
    assert!(fresh["identity"]
        .as_str()
        .unwrap()
        .contains("node@proj.iam.gserviceaccount.com"));
    assert!(fresh["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert!(fresh["refreshAt"].as_str().unwrap().ends_with('Z'));
    // Verbosity is not part of the key: still kubelet's entry.
    assert_eq!(state(&["-v"])["state"], "fresh");
    // kubelet would be run with the same settings; other settings mean another entry.
    let other = state(&["--gcr-fixed-keys"]);
    assert_eq!(other["state"], "missing", "{other}");
    assert_eq!(other["fetchSkipped"], false);

    let text = check(&[]);
    assert!(
        text.stdout.contains("token cache:   fresh until "),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("no fetch"), "{}", text.stdout);
    assert!(!text.stdout.contains(&f.token) && !text.stderr.contains(&f.token));

    // Past its half-life: stale; past its expiry: expired. (Edited in place, as a clock would.)
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&f.entry).unwrap()).unwrap();
    let issued = v["issuedAt"].as_u64().unwrap();
    v["issuedAt"] = Value::from(issued - 4000);
    write_mode(&f.entry, v.to_string(), 0o600);
    let stale = state(&[]);
    assert_eq!(stale["state"], "stale");
    assert_eq!(stale["fetchSkipped"], false);
    v["expiresAt"] = Value::from(issued - 10);
    v["issuedAt"] = Value::from(issued - 3610);
    write_mode(&f.entry, v.to_string(), 0o600);
    assert_eq!(state(&[])["state"], "expired");
    // Not written by this program (here: readable by others): reported, never served.
    write_mode(&f.entry, v.to_string(), 0o644);
    let foreign = state(&[]);
    assert_eq!(foreign["state"], "foreign", "{foreign}");
    assert!(
        foreign["reason"].as_str().unwrap().contains("0644"),
        "{foreign}"
    );
    let text = check(&[]);
    assert!(
        text.stdout.contains("did not write") && text.stdout.contains("never served"),
        "{}",
        text.stdout
    );

    // `check` wrote nothing: same files (the edited entry aside, which the test rewrote).
    let after = listing();
    let names = |l: &[(std::ffi::OsString, u64, i64)]| {
        l.iter().map(|(n, _, _)| n.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&after), names(&before));

    // A directory that does not exist is reported, not created.
    let missing = f.home.join("nowhere");
    let ran = run_swept(
        provider(
            &[
                "check",
                image,
                "--offline",
                "--cache-dir",
                missing.to_str().unwrap(),
                "-o",
                "json",
            ],
            f.home.path(),
            &[("GCE_METADATA_HOST", &f.fake.host())],
        ),
        b"",
    );
    let v: Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(v["cache"]["state"], "missing");
    assert!(!missing.exists());
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn check_reads_through_the_cache_as_a_kubelet_run_does() {
    let f = filled("check-through");
    assert_eq!(token_requests(&f.fake), 1);
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "gcr.io/proj/app",
            "--cache-dir",
            f.cache.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let ran = run(
            provider(
                &args,
                f.home.path(),
                &[("GCE_METADATA_HOST", &f.fake.host())],
            ),
            b"",
        );
        assert!(ran.status.success(), "{}", ran.describe());
        assert!(!ran.stdout.contains(&f.token) && !ran.stderr.contains(&f.token));
        ran
    };
    let v: Value = serde_json::from_str(&check(&["-o", "json"]).stdout).expect("JSON");
    assert_eq!(v["servedFrom"], "token-cache", "{v}");
    assert_eq!(v["cache"]["state"], "fresh", "{v}");
    let text = check(&[]).stdout;
    assert!(
        text.contains("fetch:         ok, served from the token cache (no fetch)\n"),
        "{text}"
    );
    assert_eq!(
        token_requests(&f.fake),
        1,
        "the fresh entry answered, no fetch"
    );

    // Another entry (other settings): fetched and stored, as a run would.
    let v: Value =
        serde_json::from_str(&check(&["-o", "json", "--gcr-fixed-keys"]).stdout).expect("JSON");
    assert_eq!(v["servedFrom"], "backend", "{v}");
    assert_eq!(v["cache"]["state"], "missing", "{v}");
    assert_eq!(token_requests(&f.fake), 2);
    let v: Value =
        serde_json::from_str(&check(&["-o", "json", "--gcr-fixed-keys"]).stdout).expect("JSON");
    assert_eq!(v["servedFrom"], "token-cache", "{v}");
    assert_eq!(token_requests(&f.fake), 2);
}

fn cache_cmd(f: &Filled, args: &[&str]) -> Ran {
    let mut all = vec!["cache"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--cache-dir", f.cache.to_str().expect("utf-8")]);
    run_swept(provider(&all, f.home.path(), &[]), b"")
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn cache_list_and_purge_show_no_secret_and_remove_what_is_asked() {
    let f = filled("admin-home");
    let _ = response(&ask(
        &f.fake.host(),
        &f.home,
        &f.cache,
        "eu.gcr.io/proj/app",
    ));
    // A file someone else put there, under an entry's name.
    let planted = f.cache.join(format!("{}.json", "f".repeat(64)));
    write_mode(
        &planted,
        fs::read_to_string(&f.entry).expect("entry"),
        0o644,
    );

    let text = cache_cmd(&f, &["list"]);
    assert!(text.status.success(), "{}", text.describe());
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].ends_with(": 3 entries"), "{}", text.stdout);
    assert!(lines[1].starts_with("ENTRY ") && lines[1].contains("IDENTITY"));
    for registry in ["gcr.io ", "eu.gcr.io "] {
        assert!(
            lines.iter().any(|l| l.contains(registry)
                && l.contains(" fresh ")
                && l.contains("node@proj.iam.gserviceaccount.com")),
            "{registry}: {}",
            text.stdout
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ffffffffffff ") && l.contains(" foreign ")),
        "{}",
        text.stdout
    );
    let listed = cache_cmd(&f, &["list", "-o", "json"]).json();
    assert_eq!(listed["entries"].as_array().expect("entries").len(), 3);
    for ran in [&text, &cache_cmd(&f, &["list", "-o", "json"])] {
        assert!(!ran.stdout.contains(&f.token) && !ran.stderr.contains(&f.token));
        assert!(!ran.stdout.contains("password"));
    }
    let ours = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["registry"] == "gcr.io")
        .expect("gcr.io entry");
    assert_eq!(ours["backend"], "gcr");
    assert_eq!(
        ours["size"].as_u64(),
        Some(fs::metadata(&f.entry).expect("entry").len())
    );
    assert!(ours["expiresAt"].as_str().unwrap().ends_with('Z'));

    // By registry pattern: only eu.gcr.io's entry.
    let purged = cache_cmd(&f, &["purge", "--registry=*.gcr.io", "-o", "json"]).json();
    let removed = purged["removed"].as_array().expect("removed");
    assert_eq!(removed.len(), 1, "{purged}");
    assert_eq!(removed[0]["registry"], "eu.gcr.io");
    assert_eq!(purged["kept"], 2);
    // --expired: what no run would serve, so the planted file, not the fresh entry.
    let purged = cache_cmd(&f, &["purge", "--expired", "-o", "json"]).json();
    assert_eq!(purged["removed"][0]["state"], "foreign", "{purged}");
    assert!(!planted.exists());
    assert!(f.entry.exists());
    // Everything.
    let all = cache_cmd(&f, &["purge"]);
    assert!(all.status.success(), "{}", all.describe());
    assert!(
        all.stdout
            .starts_with(&format!("cache dir {}: removed 1 entry", f.cache.display())),
        "{}",
        all.stdout
    );
    assert!(!f.entry.exists());
    assert!(cache_cmd(&f, &["list"]).stdout.ends_with(": 0 entries\n"));
    // The next run fetches and stores again.
    let before = token_requests(&f.fake);
    let _ = response(&f.ask());
    assert_eq!(token_requests(&f.fake), before + 1);
}

#[test]
#[ignore = "needs .venv (Google metadata fake); wakes the gcr backend: scripts/test.sh runs it in a loopback-only netns"]
fn cache_commands_refuse_a_directory_runs_refuse_and_create_none() {
    let f = filled("admin-refuse-home");
    fs::set_permissions(&f.cache, fs::Permissions::from_mode(0o777)).expect("chmod");
    for args in [&["list"][..], &["purge"]] {
        let ran = cache_cmd(&f, args);
        assert_eq!(ran.status.code(), Some(1), "{}", ran.describe());
        assert!(ran.stdout.is_empty(), "{}", ran.describe());
        let lines = ran.quiet_lines();
        assert_eq!(lines.len(), 1, "{}", ran.describe());
        assert!(
            lines[0].starts_with("cloud-credential-provider: error: cache ")
                && lines[0].contains("mode is 0777"),
            "{}",
            ran.describe()
        );
    }
    assert!(
        f.entry.exists(),
        "purge removed nothing from a refused directory"
    );

    let missing = f.home.join("never-used");
    for args in [&["list"][..], &["purge"]] {
        let mut all = vec!["cache"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--cache-dir", missing.to_str().expect("utf-8")]);
        let ran = run_swept(provider(&all, f.home.path(), &[]), b"");
        assert!(ran.status.success(), "{}", ran.describe());
        assert!(ran.stdout.contains("does not exist"), "{}", ran.stdout);
    }
    assert!(!missing.exists());
}
