//! Guards the start-up cost of the crypto library, which kubelet pays on every pull.
//!
//! aws-lc-sys seeded its random generator from CPU-jitter entropy the first time anything needed
//! randomness (the first TLS handshake of a run): ~30 ms of pure CPU per process, more than
//! everything else a cold fetch does. `ring` reads the OS's randomness (`getrandom`) instead.
//! These tests fail if a build brings that cost back: CPU time is read from the calling
//! thread's clock, which a loaded machine does not inflate the way it inflates wall time.

mod support;

use std::time::Duration;

use cloud_credential_provider::{
    block_on, crypto_provider, http_client, http_send, Deadline, Error,
};
use support::fakes::{Fake, TestCa};

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The one crypto library: no second one may come back through a dependency's default
/// features (the AWS SDK's `default-https-client`, reqwest's `rustls`, gcp_auth's `aws-lc-rs`
/// all pull aws-lc-sys).
#[test]
fn the_lock_file_holds_one_crypto_library() {
    let lock = std::fs::read_to_string(support::repo_path("Cargo.lock")).expect("Cargo.lock");
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert!(packages.contains(&"ring"), "ring is the crypto library");
    for other in ["aws-lc-sys", "aws-lc-rs", "openssl-sys", "boring-sys"] {
        assert!(!packages.contains(&other), "{other} is in Cargo.lock");
    }
}

/// The first TLS handshake of the process and a random fill after it, as a cold fetch does
/// them: an HTTPS request through the binary's own client to a loopback fake.
#[test]
#[ignore = "needs .venv (trustme, echo fake): scripts/test.sh runs it"]
fn the_first_handshake_spends_no_cpu_on_entropy() {
    let ca = TestCa::new(&["127.0.0.1"]);
    let (cert, key) = (ca.cert(), ca.key());
    let fake = Fake::start(
        "echo.py",
        &[
            "--cert".as_ref(),
            cert.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
        ],
        &[],
    );
    let port = fake.port();
    // Only the test CA is trusted, and this process's crypto is still untouched.
    std::env::set_var("SSL_CERT_FILE", ca.ca());
    std::env::remove_var("SSL_CERT_DIR");

    let before = thread_cpu();
    let url = format!("https://127.0.0.1:{port}/first");
    let status = block_on(
        Deadline::after(Duration::from_secs(20)),
        || Error::Io("no answer from the TLS fake".into()),
        async {
            let client = http_client()?;
            let reply = http_send(Deadline::after(Duration::from_secs(20)), || {
                client.get(&url)
            })
            .await
            .map_err(|e| Error::Io(e.to_string()))?;
            Ok(reply.status)
        },
    )
    .expect("HTTPS request to the fake");
    let handshake = thread_cpu() - before;
    assert_eq!(status, 200);

    let before = thread_cpu();
    let mut buf = [0u8; 32];
    crypto_provider()
        .secure_random
        .fill(&mut buf)
        .expect("random fill");
    let fill = thread_cpu() - before;
    drop(fake);

    eprintln!("first HTTPS request: {handshake:?} CPU; random fill after it: {fill:?} CPU");
    // Jitter entropy alone cost ~30 ms here; a debug build's whole first request (trust store,
    // client, handshake, request) costs a few ms.
    assert!(
        handshake < Duration::from_millis(15),
        "first HTTPS request took {handshake:?} of CPU"
    );
    assert!(
        fill < Duration::from_millis(1),
        "a random fill took {fill:?} of CPU"
    );
}
