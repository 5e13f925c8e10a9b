//! A box for tokens and passwords.
//!
//! Everything secret (registry passwords, cloud tokens, the pod's service-account token) travels
//! in a [`Secret`] from the moment it is read until it is written into the kubelet response.
//! `Debug` prints `REDACTED`, there is no `Display` and no `Serialize`, so a secret cannot slip
//! into a log line, an error message or `check` output by accident: every place it leaves the
//! box calls [`Secret::expose`], which is easy to audit with grep.

use std::fmt;

/// A secret value; see the module docs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Takes ownership of a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Call only where the value must leave the process (the response,
    /// an authenticated request) or be compared.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// Length in bytes, which `check` shows instead of the value.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is the empty string (a valid registry password).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of this secret replaced by `REDACTED`: the last guard for
    /// messages that quote a remote service's answer, which may echo what it was sent.
    pub fn redact_from(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), "REDACTED")
        }
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "REDACTED");
        assert_eq!(format!("{:?}", Some(&s)), "Some(REDACTED)");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn redaction_removes_every_occurrence() {
        let s = Secret::new("eyJhbGciOiJSUzI1NiJ9.payload".to_string());
        assert_eq!(
            s.redact_from("InvalidIdentityToken: eyJhbGciOiJSUzI1NiJ9.payload is bad, eyJhbGciOiJSUzI1NiJ9.payload"),
            "InvalidIdentityToken: REDACTED is bad, REDACTED"
        );
        assert_eq!(Secret::new(String::new()).redact_from("text"), "text");
    }
}
