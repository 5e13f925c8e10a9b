//! The one place HTTP clients are built: trust store, proxy, timeouts, retries.
//!
//! Every HTTP request of the binary goes through the clients built here: the calls no cloud SDK
//! makes for us (the ACR token exchange, Google's metadata server, STS and IAM credentials
//! endpoints) through [`client`] and [`send`], azure_identity's through the same client handed
//! in as its transport, and the AWS SDK's through [`aws::client`]. So they all behave the same
//! way on a node:
//!
//! - trust: the system store ([`crate::trust`]), which honours `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR` (nodes behind TLS-inspecting proxies add their CA there); never
//!   compiled-in roots. Loaded once per process, and only when a backend needs TLS;
//! - crypto: `ring` ([`crypto_provider`]), randomness from the OS;
//! - proxy: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment (reqwest's default),
//!   unless a service names its own (`VAULT_PROXY_ADDR`, [`service_client`]);
//! - names: [`crate::resolver`] (`/etc/hosts`, then the servers of `/etc/resolv.conf`), the same
//!   in a static binary on any node, never glibc's NSS modules;
//! - no redirects: a token endpoint that redirects is misconfigured, and following it could
//!   carry a credential to another host;
//! - time: a connect timeout, a per-attempt timeout and a bounded number of attempts with
//!   backoff, all cut to the run's [`Deadline`];
//! - errors: describe host, status and cause, never the URL's query or a body that could hold
//!   a token (backends pick what to show from the body themselves).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::retry::{Attempts, Failure};

#[cfg(feature = "aws")]
pub mod aws;

/// Time to establish a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one attempt, request to last body byte.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response body read; token responses are a few KiB.
pub const MAX_BODY_BYTES: usize = 1 << 20;

static TLS: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();

/// The one crypto library of the process, `ring`, for rustls and everything else that signs or
/// hashes. It reads randomness from the OS (`getrandom`), so the first TLS handshake of a run
/// costs no entropy gathering (README "Crypto library"). Installed as rustls' process default
/// too, so a library that builds its own TLS configuration gets the same provider.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // Fails only if a default is installed already, which then stays: fine either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Arc::new(rustls::crypto::ring::default_provider())
        })
        .clone()
}

/// The rustls configuration every HTTPS client of this process uses: the system trust store
/// ([`crate::trust`]), read once per process and only by a backend that needs TLS. A store
/// with no certificate is an error here, where it can be named, rather than an opaque
/// handshake failure later.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    TLS.get_or_init(|| {
        let config = verifying(crate::trust::Sources::from_env())?.with_no_client_auth();
        Ok(Arc::new(config))
    })
    .clone()
    .map_err(Error::Config)
}

/// A rustls configuration, up to the client certificate, that trusts the certificates of
/// `sources` ([`crate::trust::Verifier`]) with [`crypto_provider`].
fn verifying(
    sources: crate::trust::Sources,
) -> std::result::Result<
    rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    String,
> {
    let verifier = crate::trust::Verifier::new(sources, crypto_provider())?;
    Ok(
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier)),
    )
}

/// A client for HTTPS (and HTTP) endpoints, configured as the module docs say.
pub fn client() -> Result<reqwest::Client> {
    ClientOptions::default().build()
}

/// Where a [`service_client`]'s trust comes from.
#[cfg_attr(not(feature = "vault"), allow(dead_code))] // Vault's network half only
pub enum Trust {
    /// The system store, as for [`client`].
    System,
    /// Only these certificates: a service whose own variables name its CA (`VAULT_CACERT`,
    /// `VAULT_CAPATH`), which replace the system store for that service as its own clients do.
    Only(crate::trust::Sources),
    /// None: plain HTTP only (a local agent's listener); the store is never read.
    PlainHttp,
}

/// A TLS client certificate: a chain and its private key, for a server that asks for one.
#[cfg_attr(not(feature = "vault"), allow(dead_code))] // Vault's network half only
pub struct ClientCert {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

#[cfg_attr(not(feature = "vault"), allow(dead_code))] // Vault's network half only
impl ClientCert {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1), each as
    /// every local file is read ([`crate::local_file`]). Errors name the file and what is
    /// missing in it, never its content.
    pub fn from_pem_files(
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> std::result::Result<ClientCert, String> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::PrivateKeyDer;
        let cert_pem = crate::local_file::read(cert)
            .map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
        // In file order: the leaf first, as a chain is sent.
        let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem)
            .filter_map(std::result::Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(format!("{} holds no PEM certificate", cert.display()));
        }
        let key_pem = crate::secret::Secret::new(
            crate::local_file::read(key)
                .map_err(|e| format!("cannot read {}: {e}", key.display()))?,
        );
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.expose()).map_err(|_| {
            format!(
                "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key.display()
            )
        })?;
        Ok(ClientCert {
            chain,
            key: key_der,
        })
    }
}

/// A client for one service that may name its own CA, client certificate and proxy, as Vault's
/// variables do: `trust` may replace the system store, `client_cert` is presented to a server
/// that asks for one, and `proxy` (from `VAULT_PROXY_ADDR`) replaces the environment's
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` for that service, as in Vault's own clients.
/// Everything else is as for [`client`].
#[cfg_attr(not(feature = "vault"), allow(dead_code))] // Vault's network half only
pub fn service_client(
    trust: Trust,
    client_cert: Option<ClientCert>,
    proxy: Option<reqwest::Proxy>,
) -> Result<reqwest::Client> {
    let sources = match (trust, &client_cert) {
        (Trust::PlainHttp, _) => return ClientOptions::default().build_with(no_trust()?, proxy),
        // The process's shared configuration, which presents no certificate.
        (Trust::System, None) => {
            return ClientOptions::default().build_with((*tls_config()?).clone(), proxy)
        }
        (Trust::System, Some(_)) => crate::trust::Sources::from_env(),
        (Trust::Only(sources), _) => sources,
    };
    let builder = verifying(sources).map_err(Error::Config)?;
    let tls = match client_cert {
        // rustls checks that the key is the certificate's.
        Some(ClientCert { chain, key }) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Config(format!("the client certificate cannot be used: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    ClientOptions::default().build_with(tls, proxy)
}

/// A client for plain-HTTP endpoints only (instance metadata servers): it skips loading the
/// trust store, which costs milliseconds, and refuses HTTPS. It never uses a proxy: metadata
/// servers are link-local, a proxy cannot reach them, and `HTTP_PROXY` on a node without a
/// matching `NO_PROXY` entry must not break node identity (Google's and AWS's own metadata
/// clients bypass proxies the same way).
// The Azure and Google network halves call it; an AWS-only build does not.
#[cfg_attr(not(any(feature = "azure", feature = "gcp")), allow(dead_code))]
pub fn plain_client() -> Result<reqwest::Client> {
    ClientOptions {
        tls: false,
        proxy: false,
        ..ClientOptions::default()
    }
    .build()
}

/// What distinguishes the clients this module builds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClientOptions {
    /// HTTPS with the system trust store; without it only plain HTTP works.
    pub tls: bool,
    /// The proxy from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`); off for
    /// metadata endpoints (see [`plain_client`]).
    pub proxy: bool,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response, if any.
    pub read_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls: true,
            proxy: true,
            connect_timeout: CONNECT_TIMEOUT,
            read_timeout: None,
        }
    }
}

impl ClientOptions {
    /// Builds the client.
    pub fn build(self) -> Result<reqwest::Client> {
        let tls = if self.tls {
            (*tls_config()?).clone()
        } else {
            no_trust()?
        };
        self.build_with(tls, None)
    }

    /// Builds the client with the TLS configuration `tls`, through `proxy` when given (instead
    /// of the environment's).
    fn build_with(
        self,
        tls: rustls::ClientConfig,
        proxy: Option<reqwest::Proxy>,
    ) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder();
        match proxy {
            // An explicit proxy turns the environment's off (reqwest).
            Some(proxy) => builder = builder.proxy(proxy),
            None if !self.proxy => builder = builder.no_proxy(),
            None => {}
        }
        if let Some(read_timeout) = self.read_timeout {
            builder = builder.read_timeout(read_timeout);
        }
        builder
            .dns_resolver(Arc::new(SystemResolver))
            .use_preconfigured_tls(tls)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "cloud-credential-provider/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| {
                Error::Config(format!("cannot build the HTTP client: {}", e.without_url()))
            })
    }
}

/// A TLS configuration with an empty root store: any HTTPS attempt fails verification.
fn no_trust() -> Result<rustls::ClientConfig> {
    Ok(
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS set-up failed: {e}")))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// Name resolution for every client: [`crate::resolver`] (`/etc/hosts`, then DNS), never the C
/// library's resolver, whose NSS modules a static binary cannot load safely.
struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs = crate::resolver::Resolver::system()
                .lookup(name.as_str())
                .await?;
            // reqwest puts the URL's port on the addresses.
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The run's deadline passed (possibly after some attempts).
    Deadline {
        /// Attempts made.
        attempts: u32,
    },
    /// Every attempt failed before a response (connection refused, DNS, TLS, timeout).
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last failure, without the URL.
        cause: String,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Deadline { attempts } => {
                write!(f, "no answer before the deadline ({attempts} attempt(s))")
            }
            SendError::Unreachable { attempts, cause } => {
                write!(f, "unreachable after {attempts} attempt(s): {cause}")
            }
        }
    }
}

/// How long one call waits, beyond the run's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// The longest single attempt.
    pub attempt: Duration,
    /// How long to keep trying while the server has not answered at all (connection failures,
    /// timeouts): past this, the call gives up even with time left, so a caller can fall back
    /// (Google's metadata server → gcloud's ADC file). Once the server has answered, even with
    /// 429 or 5xx, it is there and loaded, and the call retries until the run's deadline.
    pub silent: Option<Duration>,
}

impl Patience {
    /// A public API: attempts of [`ATTEMPT_TIMEOUT`] until the deadline.
    pub const API: Patience = Patience {
        attempt: ATTEMPT_TIMEOUT,
        silent: None,
    };
}

/// Sends the request `make` builds under [`crate::retry`]'s policy, with [`Patience::API`].
pub async fn send(
    deadline: Deadline,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> std::result::Result<Reply, SendError> {
    send_with(deadline, Patience::API, make).await
}

/// Sends the request `make` builds under [`crate::retry`]'s policy: throttling (429), 5xx,
/// 408, timeouts and connection failures are retried with jittered backoff (honouring
/// `Retry-After`) for as long as the run's `deadline` leaves time (and `patience` allows); any
/// other status is returned as it is for the caller to interpret, and when time runs out after
/// a retryable status, that response is returned too. A refused connection is retried a few
/// times only ([`Failure::Refused`]).
pub async fn send_with(
    deadline: Deadline,
    patience: Patience,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> std::result::Result<Reply, SendError> {
    send_unless(deadline, patience, |_| false, make).await
}

/// [`send_with`], except that a reply for which `is_final` holds is returned at once even when
/// its status would be retried: a 503 that says the service is sealed will not pass within a
/// run, and retrying it until the deadline would only hold up every pull of the node.
pub async fn send_unless(
    deadline: Deadline,
    patience: Patience,
    is_final: impl Fn(&Reply) -> bool,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> std::result::Result<Reply, SendError> {
    let started = std::time::Instant::now();
    let mut answered = false;
    let mut attempts = Attempts::new(deadline);
    // Why the last attempt failed; None after a timeout (reported as the deadline).
    let mut last_cause: Option<String> = None;
    loop {
        let Some(budget) = attempts.start(patience.attempt) else {
            return Err(gave_up(&attempts, last_cause));
        };
        let failure = match tokio::time::timeout(budget, attempt_once(make())).await {
            Ok(Ok(reply)) => {
                answered = true;
                if is_final(&reply) {
                    return Ok(reply);
                }
                let retry_after = reply
                    .header("retry-after")
                    .and_then(crate::retry::parse_retry_after);
                let Some(failure) = Failure::from_status(reply.status, retry_after) else {
                    return Ok(reply);
                };
                match attempts.backoff(failure) {
                    Some(wait) => {
                        last_cause = Some(format!("HTTP {}", reply.status));
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => return Ok(reply),
                }
            }
            Ok(Err((failure, cause))) => {
                last_cause = Some(cause);
                failure
            }
            Err(_) => {
                last_cause = None;
                Failure::Transient { retry_after: None }
            }
        };
        let silent_too_long = patience
            .silent
            .is_some_and(|silent| !answered && started.elapsed() >= silent);
        match attempts.backoff(failure) {
            Some(wait) if !silent_too_long => tokio::time::sleep(wait).await,
            _ => return Err(gave_up(&attempts, last_cause)),
        }
    }
}

/// The error for a call that ends without a usable response: what the last attempt ran into,
/// or the deadline when it ran out of time.
fn gave_up(attempts: &Attempts, last_cause: Option<String>) -> SendError {
    match last_cause {
        Some(cause) => SendError::Unreachable {
            attempts: attempts.made(),
            cause,
        },
        None => SendError::Deadline {
            attempts: attempts.made(),
        },
    }
}

async fn attempt_once(
    request: reqwest::RequestBuilder,
) -> std::result::Result<Reply, (Failure, String)> {
    let failed = |e: reqwest::Error| (classify(&e), describe(e));
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err((
                Failure::Permanent,
                format!("response body larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A reqwest error as one line, with its cause chain but without the URL.
fn describe(error: reqwest::Error) -> String {
    crate::error::chain(&error.without_url())
}

/// Whether retrying a failed request can help: not when the name does not exist or the TLS
/// handshake refused the server (a certificate the trust store rejects stays rejected); a few
/// times when nothing listens; yes for timeouts, reset connections and anything else.
pub fn classify(error: &(dyn std::error::Error + 'static)) -> Failure {
    for e in crate::error::sources(error) {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return Failure::Permanent;
        }
        if is_proxy_auth_refusal(e) {
            return Failure::Permanent;
        }
        if let Some(resolve) = e.downcast_ref::<crate::resolver::ResolveError>() {
            if resolve.is_not_found() {
                return Failure::Permanent;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if wraps_tls_error(io) {
                return Failure::Permanent;
            }
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Failure::Refused;
            }
        }
    }
    Failure::Transient { retry_after: None }
}

/// Whether `e` is the proxy's 407 to CONNECT: its credentials (`user:password@` in the proxy
/// URL) are missing or wrong, which no retry mends. hyper-util, which tunnels for reqwest, keeps
/// its error type private, so its message is what can be matched.
fn is_proxy_auth_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    e.to_string() == "tunnel error: proxy authorization required"
}

/// Whether `io` wraps a rustls error. TLS failures reach us as io::Errors nested in io::Errors
/// around the rustls error, and an io::Error's `source()` skips the error it wraps, so the
/// walk of [`crate::error::sources`] never meets it: unwrap by hand.
fn wraps_tls_error(io: &std::io::Error) -> bool {
    let mut inner = io.get_ref();
    while let Some(e) = inner {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
    }
    false
}

/// A remote server's error text made fit for one log line: control characters (line breaks
/// included) become spaces, at most `max` characters. The one place error bodies are cut down,
/// so no backend prints a multi-line or unbounded answer.
// The Azure and Google network halves call it; an AWS-only build does not.
#[cfg_attr(not(any(feature = "azure", feature = "gcp")), allow(dead_code))]
pub fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// An OAuth 2 error body (RFC 6749 §5.2: `{"error": CODE, "error_description": TEXT}`, as STS,
/// Entra and ACR's token endpoint send it) as `CODE: TEXT`, either part left out when it is
/// not a string; empty when neither is.
// The Azure and Google network halves call it; an AWS-only build does not.
#[cfg_attr(not(any(feature = "azure", feature = "gcp")), allow(dead_code))]
pub fn oauth_error(body: &serde_json::Value) -> String {
    [body.get("error"), body.get("error_description")]
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    /// A loopback server answering the n-th request (0-based) with `answer(n)`; `None` keeps
    /// the connection open without answering.
    fn serve(answer: fn(u32) -> Option<&'static str>) -> (String, Arc<AtomicU32>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let count = Arc::new(AtomicU32::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let n = seen.fetch_add(1, Ordering::SeqCst);
                match answer(n) {
                    Some(text) => {
                        let _ = stream.write_all(text.as_bytes());
                    }
                    None => held.push(stream),
                }
            }
        });
        (url, count)
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    const BUSY: &str =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const THROTTLED: &str = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const MISSING: &str =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    #[test]
    fn retries_5xx_and_429_then_succeeds() {
        let (url, count) = serve(|n| Some([BUSY, THROTTLED, OK][n as usize % 3]));
        let deadline = Deadline::after(Duration::from_secs(10));
        let client = plain_client().unwrap();
        let reply = run(send(deadline, || client.get(&url))).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"ok");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn other_statuses_are_returned_without_retry() {
        let (url, count) = serve(|_| Some(MISSING));
        let deadline = Deadline::after(Duration::from_secs(10));
        let client = plain_client().unwrap();
        let reply = run(send(deadline, || client.get(&url))).unwrap();
        assert_eq!(reply.status, 404);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn retryable_replies_are_retried_until_the_deadline_then_returned() {
        let (url, count) = serve(|_| Some(BUSY));
        let started = Instant::now();
        let deadline = Deadline::after(Duration::from_millis(2500));
        let client = plain_client().unwrap();
        let reply = run(send(deadline, || client.get(&url))).unwrap();
        assert_eq!(reply.status, 503);
        // Jittered waits (at most 250 ms, 500 ms, 1 s, ...) fit at least three attempts in the
        // two seconds before the answer margin.
        assert!(count.load(Ordering::SeqCst) >= 3, "{count:?}");
        assert!(started.elapsed() < Duration::from_millis(2500));
    }

    #[test]
    fn retry_after_zero_is_retried_at_once() {
        const THROTTLED_THEN: &str = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (url, count) = serve(|n| Some([THROTTLED_THEN, OK][n as usize % 2]));
        let started = Instant::now();
        let deadline = Deadline::after(Duration::from_secs(10));
        let client = plain_client().unwrap();
        let reply = run(send(deadline, || client.get(&url))).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // Not the throttling backoff (up to 4 s): the server said now.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_refused_connection_is_unreachable_after_bounded_attempts() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Deadline::after(Duration::from_secs(10));
        let client = plain_client().unwrap();
        match run(send(deadline, || client.get(&url))) {
            Err(SendError::Unreachable { attempts, cause }) => {
                assert_eq!(attempts, crate::retry::REFUSED_ATTEMPTS);
                assert!(!cause.contains(&url), "{cause}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hung_server_is_cut_at_the_deadline() {
        let (url, _) = serve(|_| None);
        let started = Instant::now();
        let deadline = Deadline::after(Duration::from_millis(1500));
        let client = plain_client().unwrap();
        let result = run(send(deadline, || client.get(&url)));
        assert!(
            matches!(result, Err(SendError::Deadline { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_tls_error_inside_io_errors_is_permanent() {
        let tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = std::io::Error::other(inner);
        assert_eq!(classify(&outer), Failure::Permanent);
        let plain = std::io::Error::other("reset");
        assert_eq!(classify(&plain), Failure::Transient { retry_after: None });
    }

    #[test]
    fn the_plain_client_refuses_https() {
        let (url, _) = serve(|_| Some(OK));
        let url = url.replace("http://", "https://");
        let deadline = Deadline::after(Duration::from_secs(5));
        let client = plain_client().unwrap();
        assert!(run(send(deadline, || client.get(&url))).is_err());
    }
}
