//! The one error type of the binary.
//!
//! A variant per kind of failure that the CLI reports differently (usage errors add a pointer to
//! `--help`; request errors show the expected shape). Every message is a single human sentence
//! that names what was wrong and never contains a secret: backends build messages from
//! registry names, identities and status codes only.

use std::fmt;

/// What went wrong, as one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The command line cannot be understood.
    Usage(String),
    /// The request on stdin is unusable (not JSON, wrong kind or apiVersion, no image, ...).
    Request(String),
    /// A file named on the command line (plugin config, Docker config) is unusable.
    Config(String),
    /// A backend could not produce credentials for a registry it claimed.
    Backend {
        /// Backend name as shown by `check` (`ecr`, `acr`, `file`, ...).
        backend: &'static str,
        /// The registry (`host[:port]`) the credentials were for.
        registry: String,
        /// What failed, without secrets.
        message: String,
    },
    /// Reading stdin or writing stdout failed.
    Io(String),
}

impl Error {
    /// Shorthand for a backend failure.
    pub fn backend(backend: &'static str, registry: &str, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            registry: registry.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m} (see --help)"),
            Error::Request(m) | Error::Config(m) | Error::Io(m) => f.write_str(m),
            Error::Backend {
                backend,
                registry,
                message,
            } => write!(f, "{backend} backend, registry {registry}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// An error and its sources as one line, `a: b: c`, skipping a source whose text the line
/// already holds. Libraries' `Display` shows only the top error ("error sending request") and
/// their `Debug` dumps whole trees; operators need the cause ("connection refused") on one line.
/// Callers pass only errors that carry no secret (or redact the result).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    for cause in sources(error).skip(1) {
        let piece = cause.to_string();
        if !text.contains(&piece) {
            text.push_str(": ");
            text.push_str(&piece);
        }
    }
    text.replace(['\n', '\r'], " ")
}

/// `error` and then each of its sources, outermost first: the one walk of a source chain, for
/// [`chain`] and for the code that classifies a failure by a cause's type (retry decisions).
pub fn sources<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
