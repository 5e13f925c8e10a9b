//! The system trust store: which CA certificates HTTPS trusts, read fast, the directory only
//! when needed.
//!
//! What is trusted is what OpenSSL (and the Go plugins this binary replaces) trust on a node:
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` (`:`-separated) when either is set — nodes behind a
//! TLS-inspecting proxy add their CA there; otherwise the distribution's bundle file (the first
//! of [`BUNDLE_FILES`] that exists) and its certificate directories ([`CERT_DIRS`]). Never
//! compiled-in roots.
//!
//! How it is read matters because kubelet pays it on every cold fetch. Profiling showed the
//! generic PEM reader (a constant-time base64 decoder, made for private keys) spending ~1.5 ms
//! of CPU on a 200 KiB bundle, a fifth of a whole ECR fetch; certificates are public, so this
//! module decodes them with the plain `base64` decoder. And a directory such as `/etc/ssl/certs`
//! repeats the bundle as ~150 separate files: OpenSSL looks into it only for an issuer it did
//! not find, and so does [`Verifier`], which tries the bundle first and reads the directories
//! on the first unknown issuer of the run.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// CA bundle files of Linux distributions, the first that exists is used (the list Go's
/// `crypto/x509` uses: Debian/Ubuntu/Alpine/Talos/Flatcar, RHEL/Amazon Linux/Bottlerocket,
/// SUSE, older RHEL, Fedora, and the generic OpenSSL location).
pub const BUNDLE_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];
/// Certificate directories (one PEM file per certificate), read only for an unknown issuer.
pub const CERT_DIRS: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];
/// Largest certificate file read; real bundles are ~200 KiB.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Where trusted certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// Bundle file read first (`SSL_CERT_FILE`, or the distribution's).
    pub file: Option<PathBuf>,
    /// Directories read when the file's certificates do not verify a server.
    pub dirs: Vec<PathBuf>,
}

impl Sources {
    /// From `SSL_CERT_FILE` / `SSL_CERT_DIR` (either replaces the defaults), else the first
    /// existing bundle file and the existing certificate directories.
    pub fn from_env() -> Sources {
        let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
        let dirs = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty());
        if file.is_some() || dirs.is_some() {
            return Sources {
                file: file.map(PathBuf::from),
                dirs: dirs
                    .map(|d| {
                        std::env::split_paths(&d)
                            .filter(|p| !p.as_os_str().is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            };
        }
        Sources {
            file: BUNDLE_FILES.iter().map(PathBuf::from).find(|p| p.is_file()),
            dirs: CERT_DIRS
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_dir())
                .collect(),
        }
    }

    fn describe(&self) -> String {
        let mut places: Vec<String> = self.file.iter().map(|f| f.display().to_string()).collect();
        places.extend(self.dirs.iter().map(|d| format!("{}/", d.display())));
        if places.is_empty() {
            "no CA bundle file or directory found".to_string()
        } else {
            places.join(", ")
        }
    }
}

/// Verifies servers against [`Sources`]: the bundle file's certificates, then (for a chain
/// whose issuer is unknown to them) the directories' too, loaded once.
#[derive(Debug)]
pub struct Verifier {
    first: Option<Arc<WebPkiServerVerifier>>,
    all: OnceLock<std::result::Result<Arc<WebPkiServerVerifier>, String>>,
    sources: Sources,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    /// Reads the bundle file (the directories too if the file holds nothing usable). Fails when
    /// no certificate can be found anywhere: a clear error here beats a handshake failure later.
    pub fn new(
        sources: Sources,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Verifier, String> {
        let mut seen = Seen::default();
        let file_certs = match &sources.file {
            Some(file) => read_file(file, &mut seen),
            None => Ok(Vec::new()),
        };
        let verifier = Verifier {
            first: None,
            all: OnceLock::new(),
            sources,
            provider,
        };
        match file_certs.and_then(|certs| verifier.build(certs)) {
            Ok(first) => Ok(Verifier {
                first: Some(first),
                ..verifier
            }),
            Err(e) if verifier.sources.dirs.is_empty() => Err(e),
            // Nothing usable in the file: the directories are all there is.
            Err(_) => {
                verifier.with_dirs()?;
                Ok(verifier)
            }
        }
    }

    fn build(
        &self,
        certs: Vec<CertificateDer<'static>>,
    ) -> Result<Arc<WebPkiServerVerifier>, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(certs);
        if roots.is_empty() {
            return Err(format!(
                "no trusted CA certificates in {} (set SSL_CERT_FILE or SSL_CERT_DIR)",
                self.sources.describe()
            ));
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| format!("TLS set-up failed: {e}"))
    }

    /// The verifier over the file and the directories, built on first use.
    fn with_dirs(&self) -> Result<&Arc<WebPkiServerVerifier>, String> {
        self.all
            .get_or_init(|| {
                let mut seen = Seen::default();
                let mut certs = match &self.sources.file {
                    Some(file) => read_file(file, &mut seen).unwrap_or_default(),
                    None => Vec::new(),
                };
                for dir in &self.sources.dirs {
                    certs.extend(read_dir(dir, &mut seen));
                }
                // The same certificate in several files (bundle and directory) is one anchor.
                certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
                certs.dedup_by(|a, b| a.as_ref() == b.as_ref());
                self.build(certs)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether the directories have been read (an issuer was missing from the bundle file).
    pub fn read_dirs(&self) -> bool {
        self.all.get().is_some()
    }

    /// The verifier for signatures: any of the two, they share the algorithms.
    fn any(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        match &self.first {
            Some(first) => Ok(first),
            None => self.with_dirs().map_err(rustls::Error::General),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |v: &WebPkiServerVerifier| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        let Some(first) = &self.first else {
            return verify(self.any()?);
        };
        match verify(first) {
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
                if !self.sources.dirs.is_empty() =>
            {
                verify(self.with_dirs().map_err(rustls::Error::General)?)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Files already read, by device and inode: a directory's hash links and the bundle must not
/// be parsed twice.
#[derive(Default)]
struct Seen(HashSet<(u64, u64)>);

/// The certificates of one PEM file. A file that cannot be read is an error naming it; a file
/// already seen (same inode) yields nothing.
///
/// Read in 64 KiB pieces into one buffer: reading a 200 KiB bundle whole into fresh memory
/// cost more (page faults while the kernel copies) than parsing it.
fn read_file(path: &Path, seen: &mut Seen) -> Result<Vec<CertificateDer<'static>>, String> {
    use std::io::Read as _;
    let what =
        |e: &dyn std::fmt::Display| format!("cannot read CA certificates {}: {e}", path.display());
    // The shared opener: a regular file only, and an open that never blocks (an
    // SSL_CERT_FILE naming a FIFO would otherwise hang the run before any deadline applies).
    let (mut file, meta) = crate::local_file::open(path).map_err(|e| what(&e))?;
    if !seen.0.insert((meta.dev(), meta.ino())) {
        return Ok(Vec::new());
    }
    let too_big = || {
        format!(
            "CA certificates {}: over the {} limit for certificate files",
            path.display(),
            crate::local_file::describe_size(MAX_FILE_BYTES)
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut pem = PemCollector::default();
    let mut buf = vec![0u8; 64 << 10];
    let (mut filled, mut total) = (0usize, 0u64);
    loop {
        let n = file.read(&mut buf[filled..]).map_err(|e| what(&e))?;
        if n == 0 {
            pem.feed(&buf[..filled]);
            return Ok(pem.finish());
        }
        filled += n;
        total += n as u64;
        if total > MAX_FILE_BYTES {
            return Err(too_big());
        }
        // Whole lines go to the parser; a line cut by the buffer's end waits for the rest.
        match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                pem.feed(&buf[..=last]);
                buf.copy_within(last + 1..filled, 0);
                filled -= last + 1;
            }
            None if filled == buf.len() => buf.resize(buf.len() * 2, 0),
            None => {}
        }
    }
}

/// The certificates of every regular file in `dir` (symlinks followed, as `openssl rehash`
/// makes them). Unreadable entries are skipped: one bad file must not distrust the rest.
fn read_dir(dir: &Path, seen: &mut Seen) -> Vec<CertificateDer<'static>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .flat_map(|p| read_file(p, seen).unwrap_or_default())
        .collect()
}

/// The DER of every `CERTIFICATE` block in PEM text, duplicates dropped (sorted by DER, as
/// the order of trust anchors does not matter). Text outside blocks (comments in RHEL's bundle),
/// other block types and undecodable blocks are skipped.
pub fn pem_certificates(text: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut pem = PemCollector::default();
    pem.feed(text);
    pem.finish()
}

/// Collects the certificates of PEM text fed in pieces that end at line breaks.
///
/// Written for speed, as every TLS cold fetch reads a ~200 KiB bundle: lines are found with
/// `split('\n')` (memchr), copied whole, and each block is decoded in one call, about 1 ns a
/// byte where per-byte loops and the generic PEM reader took 3 to 10.
#[derive(Default)]
struct PemCollector {
    ders: Vec<Vec<u8>>,
    /// The base64 of the block being read; None outside a CERTIFICATE block.
    block: Option<String>,
}

impl PemCollector {
    fn feed(&mut self, bytes: &[u8]) {
        // Bundles are ASCII; a stray non-UTF-8 byte (a Latin-1 comment) must not lose the rest.
        match std::str::from_utf8(bytes) {
            Ok(text) => self.lines(text),
            Err(_) => self.lines(&String::from_utf8_lossy(bytes)),
        }
    }

    fn lines(&mut self, text: &str) {
        use base64::Engine as _;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let engine = &base64::engine::general_purpose::STANDARD;
        for line in text.split('\n') {
            let line = line.trim_ascii();
            match &mut self.block {
                None if line == BEGIN => self.block = Some(String::with_capacity(2048)),
                None => {}
                Some(b64) if line == END => {
                    let decoded = engine.decode(b64.as_bytes()).or_else(|_| {
                        // Whitespace inside a line: rare, so only then filter byte by byte.
                        let compact: String = b64.split_ascii_whitespace().collect();
                        engine.decode(compact)
                    });
                    // An empty block decodes to nothing, which is no certificate.
                    self.ders.extend(decoded.ok().filter(|der| !der.is_empty()));
                    self.block = None;
                }
                // A BEGIN inside a block: the earlier block was never closed; start over.
                Some(b64) if line == BEGIN => b64.clear(),
                Some(b64) => b64.push_str(line),
            }
        }
    }

    fn finish(mut self) -> Vec<CertificateDer<'static>> {
        self.ders.sort_unstable();
        self.ders.dedup();
        self.ders.into_iter().map(CertificateDer::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn block(der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn certificate_blocks_are_decoded_without_duplicates() {
        let a: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let b = vec![7u8; 48];
        let text = format!(
            "# ACCVRAIZ1\n{}junk between\r\n{}{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            block(&a),
            block(&b).replace('\n', "\r\n"),
            block(&a)
        );
        let certs = pem_certificates(text.as_bytes());
        let ders: Vec<&[u8]> = certs.iter().map(|c| c.as_ref()).collect();
        // Sorted by DER: b (7, 7, ...) after a (0, 1, ...).
        assert_eq!(ders, [&a[..], &b[..]]);
    }

    #[test]
    fn any_line_wrapping_decodes() {
        let der: Vec<u8> = (0..200u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        for width in [64, 76, 5, 1000] {
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(width)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let text = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n  ")
            );
            let certs = pem_certificates(text.as_bytes());
            assert_eq!(certs.len(), 1, "width {width}");
            assert_eq!(certs[0].as_ref(), &der[..], "width {width}");
        }
    }

    #[test]
    fn a_file_is_read_in_pieces_with_the_same_result() {
        let mut text = String::from("# a comment longer than one read: ");
        text.push_str(&"x".repeat(150_000));
        text.push('\n');
        for i in 0..120u32 {
            let der: Vec<u8> = (0..1500u32).map(|j| (i * 7 + j * 13) as u8).collect();
            text.push_str(&block(&der));
        }
        let dir = std::env::temp_dir().join(format!("ccp-trust-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bundle.pem");
        std::fs::write(&path, &text).unwrap();
        let read = read_file(&path, &mut Seen::default()).unwrap();
        assert_eq!(read.len(), 120);
        assert_eq!(read, pem_certificates(text.as_bytes()));
        // The same file again (a hash link to it, say) adds nothing.
        let mut seen = Seen::default();
        assert_eq!(read_file(&path, &mut seen).unwrap().len(), 120);
        assert!(read_file(&path, &mut seen).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_and_unterminated_blocks_are_skipped() {
        let good = vec![1u8, 2, 3, 4, 5, 6];
        let text = format!(
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n{}-----BEGIN CERTIFICATE-----\nAAAA",
            block(&good)
        );
        let certs = pem_certificates(text.as_bytes());
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), &good[..]);
        assert!(pem_certificates(b"").is_empty());
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert!(pem_certificates(empty.as_bytes()).is_empty());
    }

    #[test]
    fn nothing_to_trust_is_an_error_that_names_where_it_looked() {
        let dir = std::env::temp_dir().join(format!("ccp-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("empty.pem");
        std::fs::write(&file, "no certificates here\n").unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let e = Verifier::new(
            Sources {
                file: Some(file.clone()),
                dirs: vec![dir.join("missing")],
            },
            provider.clone(),
        )
        .unwrap_err();
        assert!(
            e.contains("no trusted CA certificates") && e.contains("empty.pem"),
            "{e}"
        );
        let e = Verifier::new(
            Sources {
                file: Some(dir.join("absent.pem")),
                dirs: Vec::new(),
            },
            provider,
        )
        .unwrap_err();
        assert!(e.contains("absent.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
