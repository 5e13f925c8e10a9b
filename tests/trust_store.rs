//! The trust store as OpenSSL reads it: the bundle file first, the certificate directories for
//! an issuer the bundle does not have, read only then. Certificates from a throwaway CA
//! (trustme), verified through the same verifier every HTTPS client of the binary uses.

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use cloud_credential_provider::{pem_certificates, Sources, Verifier};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{ServerName, UnixTime};
use support::fakes::TestCa;
use support::TempDir;

fn verifier(file: &Path, dirs: &[&Path]) -> Verifier {
    Verifier::new(
        Sources {
            file: Some(file.to_path_buf()),
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        },
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .expect("a verifier")
}

/// Verifies the server chain of `ca` for `reg.example`.
fn verify(v: &Verifier, ca: &TestCa) -> Result<(), rustls::Error> {
    let chain = pem_certificates(&fs::read(ca.cert()).expect("server.pem"));
    let (leaf, intermediates) = chain.split_first().expect("a leaf");
    let name = ServerName::try_from("reg.example").expect("name");
    v.verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
        .map(|_| ())
}

#[test]
#[ignore = "needs .venv (trustme): scripts/test.sh runs it"]
fn the_bundle_comes_first_and_the_directories_serve_unknown_issuers() {
    let ours = TestCa::new(&["reg.example"]);
    let other = TestCa::new(&["other.example"]);
    let dir = TempDir::new("trust-dir");
    fs::copy(ours.ca(), dir.join("ours.pem")).expect("copy");
    fs::copy(other.ca(), dir.join("other.pem")).expect("copy");
    // A hash link, as `openssl rehash` makes them: the same file, read once.
    std::os::unix::fs::symlink("ours.pem", dir.join("0badc0de.0")).expect("symlink");

    // The issuer is in the bundle: the directory is never read.
    let v = verifier(&ours.ca(), &[dir.path()]);
    assert_eq!(verify(&v, &ours), Ok(()));
    assert!(!v.read_dirs());

    // The bundle holds another CA: the directory is read once and knows the issuer.
    let v = verifier(&other.ca(), &[dir.path()]);
    assert_eq!(verify(&v, &ours), Ok(()));
    assert!(v.read_dirs());
    assert_eq!(verify(&v, &ours), Ok(()));

    // Nowhere to look further: the unknown issuer is refused.
    let v = verifier(&other.ca(), &[]);
    assert_eq!(
        verify(&v, &ours),
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    );

    // A missing bundle file with a directory: the directory is the store.
    let v = verifier(&dir.join("absent.pem"), &[dir.path()]);
    assert_eq!(verify(&v, &ours), Ok(()));
}
