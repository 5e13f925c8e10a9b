//! The AWS SDK's HTTP client, on this crate's one HTTP stack.
//!
//! The SDK sends through whatever implements its `HttpConnector` trait. Its stock client
//! (`default-https-client`) is a second hyper + rustls stack with aws-lc-rs, its own trust
//! store loader, proxy reader and resolver; this connector hands each request to the same
//! reqwest clients the other backends use instead, so ECR, ECR Public, STS, SSO and instance
//! metadata calls share one trust store (parsed once), one crypto library, one proxy policy
//! and one name resolver with the rest of the binary.
//!
//! Timeouts and retries stay the SDK's: it asks for a connector per connect/read timeout
//! setting (instance metadata uses shorter ones than ECR), and retries what this connector
//! reports as a timeout or I/O failure, as it would with its own client.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, OnceLock};

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::{ClientOptions, MAX_BODY_BYTES};
use crate::error::Result;

/// The HTTP client to give `aws_config::defaults(..).http_client(..)`.
///
/// Checks the trust store up front, so a node without any CA certificate gets
/// [`super::tls_config`]'s clear error instead of an opaque TLS failure inside the SDK.
pub fn client() -> Result<SharedHttpClient> {
    super::tls_config()?;
    // One connector per distinct timeout setting, built on first use and kept for the run, so
    // the STS and ECR calls of a pod-identity pull share a connection pool.
    let built: Arc<Mutex<Vec<(ClientOptions, SharedHttpConnector)>>> = Arc::default();
    Ok(http_client_fn(move |settings, _components| {
        let options = options_for(settings);
        let mut built = match built.lock() {
            Ok(guard) => guard,
            // A panic elsewhere while holding the lock leaves a usable list.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, connector)) = built.iter().find(|(o, _)| *o == options) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Connector(Arc::new(Clients::new(options))));
        built.push((options, connector.clone()));
        connector
    }))
}

/// The client options for the SDK's timeout settings.
fn options_for(settings: &HttpConnectorSettings) -> ClientOptions {
    ClientOptions {
        connect_timeout: settings.connect_timeout().unwrap_or(super::CONNECT_TIMEOUT),
        read_timeout: settings.read_timeout(),
        ..ClientOptions::default()
    }
}

/// Sends SDK requests with reqwest: through the proxy from the environment, except to
/// link-local metadata endpoints, which no proxy can reach.
#[derive(Debug, Clone)]
struct Connector(Arc<Clients>);

/// The clients of one connector, built on first use: most runs need only one of the two.
#[derive(Debug)]
struct Clients {
    proxied: OnceLock<std::result::Result<reqwest::Client, String>>,
    direct: OnceLock<std::result::Result<reqwest::Client, String>>,
    options: ClientOptions,
}

impl Clients {
    fn new(options: ClientOptions) -> Clients {
        Clients {
            proxied: OnceLock::new(),
            direct: OnceLock::new(),
            options,
        }
    }

    /// The client for `uri`: never proxied for instance metadata (IMDS at 169.254.169.254 or
    /// fd00:ec2::254, the ECS/EKS container credential endpoints at 169.254.170.2/23), as the
    /// SDK's own metadata clients behave.
    fn client_for(&self, uri: &str) -> std::result::Result<reqwest::Client, ConnectorError> {
        let (cell, options) = if is_metadata_host(uri) {
            (
                &self.direct,
                ClientOptions {
                    proxy: false,
                    ..self.options
                },
            )
        } else {
            (&self.proxied, self.options)
        };
        cell.get_or_init(|| options.build().map_err(|e| e.to_string()))
            .clone()
            .map_err(|message| ConnectorError::other(message.into(), None))
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let clients = self.0.clone();
        HttpConnectorFuture::new(async move { send(&clients, request).await })
    }
}

/// One SDK request through reqwest, the whole body read (at most [`MAX_BODY_BYTES`]).
async fn send(
    clients: &Clients,
    request: HttpRequest,
) -> std::result::Result<HttpResponse, ConnectorError> {
    let client = clients.client_for(request.uri())?;
    let method = reqwest::Method::from_bytes(request.method().as_bytes())
        .map_err(|e| ConnectorError::user(e.into()))?;
    let body = request.body().bytes().ok_or_else(|| {
        ConnectorError::user(
            "a streaming request body (no AWS call of this binary sends one)".into(),
        )
    })?;
    let mut builder = client.request(method, request.uri()).body(body.to_vec());
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    let mut response = builder.send().await.map_err(classify)?;
    let status = StatusCode::try_from(response.status().as_u16())
        .map_err(|e| ConnectorError::other(e.into(), None))?;
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ConnectorError::other(
                format!("response body larger than {MAX_BODY_BYTES} bytes").into(),
                None,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = Response::new(status, SdkBody::from(body));
    for (name, value) in &headers {
        // A header value that is not text is of no use to the SDK's parsers; skip it.
        if let Ok(value) = value.to_str() {
            out.headers_mut()
                .append(name.as_str().to_string(), value.to_string());
        }
    }
    Ok(out)
}

/// How the SDK should see a failure: a timeout as a timeout, a failure [`super::classify`]
/// says can pass as I/O, anything else (a refused certificate, say) as other. The reqwest error
/// (without its URL) stays the source, so the retry policy can look into it.
fn classify(error: reqwest::Error) -> ConnectorError {
    let failure = super::classify(&error);
    let timeout = error.is_timeout();
    let source: Box<dyn std::error::Error + Send + Sync> = Box::new(error.without_url());
    match failure {
        _ if timeout => ConnectorError::timeout(source),
        crate::retry::Failure::Permanent => ConnectorError::other(source, None),
        _ => ConnectorError::io(source),
    }
}

/// Whether `uri` points at a link-local metadata endpoint (IPv4 169.254.0.0/16, IPv6 fe80::/10,
/// or IMDS's IPv6 address fd00:ec2::254).
fn is_metadata_host(uri: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else {
        return false;
    };
    let host = url.host_str().unwrap_or("");
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(ip)) => ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80 || ip == IMDS_V6,
        Err(_) => false,
    }
}

/// IMDS's IPv6 address on Nitro instances.
const IMDS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_endpoints_are_link_local_addresses_only() {
        for uri in [
            "http://169.254.169.254/latest/api/token",
            "http://169.254.170.2/v2/credentials/x",
            "http://[fd00:ec2::254]/latest/api/token",
            "http://[fe80::1]/",
        ] {
            assert!(is_metadata_host(uri), "{uri}");
        }
        for uri in [
            "https://api.ecr.us-east-1.amazonaws.com/",
            "http://127.0.0.1:5000/",
            "http://169.255.169.254/",
            "http://[fd00:ec2::253]/",
            "not a url",
        ] {
            assert!(!is_metadata_host(uri), "{uri}");
        }
    }
}
