//! The format of an entry file: one cached answer, as JSON.
//!
//! JSON because an operator debugging a node can read it (`cache list` shows what it holds
//! without the secrets), and because a truncated file fails to parse instead of decoding to
//! something shorter. Times are Unix seconds; the backend and registry are written in so a
//! file copied under another key's name is recognised as not belonging there.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{CacheKey, Inspection, Summary, VERSION};
use crate::backend::Credentials;
use crate::lifetime::Lifetime;
use crate::protocol::{AuthConfig, CacheKeyType};
use crate::secret::Secret;

/// Why bytes are not an entry to use.
#[derive(Debug)]
pub(super) enum Invalid {
    /// Not a valid entry of this format version: a crash mid-write, an old version.
    Corrupt(String),
    /// A valid entry of another backend or registry under this name, which this program
    /// never writes: someone copied it there.
    Foreign(String),
}

impl From<Invalid> for Inspection {
    fn from(invalid: Invalid) -> Inspection {
        match invalid {
            Invalid::Corrupt(why) => Inspection::Corrupt(why),
            Invalid::Foreign(why) => Inspection::Foreign(why),
        }
    }
}

/// One cached answer on disk.
pub(super) struct Entry {
    pub(super) backend: String,
    pub(super) registry: String,
    pub(super) issued_at: SystemTime,
    pub(super) expires_at: SystemTime,
    pub(super) credentials: Credentials,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Entry {
    pub(super) fn encode(
        key: &CacheKey,
        credentials: &Credentials,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> String {
        let auth: serde_json::Map<String, Value> = credentials
            .auth
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    // The cache file is one of the places a password must leave its box.
                    json!({"username": a.username, "password": a.password.expose()}),
                )
            })
            .collect();
        json!({
            "version": VERSION,
            "backend": key.backend.as_str(),
            "registry": key.registry,
            "issuedAt": unix(issued_at),
            "expiresAt": unix(expires_at),
            "cacheKeyType": credentials.cache_key_type.as_str(),
            "identity": credentials.identity,
            "auth": auth,
        })
        .to_string()
    }

    /// Decodes an entry; with `key`, it must be that key's. Neither error quotes the content.
    pub(super) fn decode(bytes: &[u8], key: Option<&CacheKey>) -> Result<Entry, Invalid> {
        let corrupt = || Invalid::Corrupt("it is not a valid entry (corrupt or truncated)".into());
        let v: Value = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
        match v.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(other) => {
                return Err(Invalid::Corrupt(format!(
                    "it has format version {other}, not {VERSION}"
                )))
            }
            None => return Err(corrupt()),
        }
        let entry = Entry::fields(&v).ok_or_else(corrupt)?;
        match key {
            Some(k) if entry.backend != k.backend.as_str() || entry.registry != k.registry => Err(
                Invalid::Foreign("it holds another backend's or registry's token".into()),
            ),
            _ => Ok(entry),
        }
    }

    fn fields(v: &Value) -> Option<Entry> {
        let text = |name: &str| Some(v.get(name)?.as_str()?.to_string());
        let time = |name: &str| -> Option<SystemTime> {
            Some(UNIX_EPOCH + Duration::from_secs(v.get(name)?.as_u64()?))
        };
        let cache_key_type = match v.get("cacheKeyType")?.as_str()? {
            "Image" => CacheKeyType::Image,
            "Registry" => CacheKeyType::Registry,
            "Global" => CacheKeyType::Global,
            _ => return None,
        };
        let mut auth = BTreeMap::new();
        for (key, entry) in v.get("auth")?.as_object()? {
            auth.insert(
                key.clone(),
                AuthConfig {
                    username: entry.get("username")?.as_str()?.to_string(),
                    password: Secret::new(entry.get("password")?.as_str()?.to_string()),
                },
            );
        }
        let issued_at = time("issuedAt")?;
        let expires_at = time("expiresAt")?;
        if expires_at < issued_at {
            return None;
        }
        Some(Entry {
            backend: text("backend")?,
            registry: text("registry")?,
            issued_at,
            expires_at,
            credentials: Credentials {
                auth,
                cache_key_type,
                lifetime: Lifetime::ExpiresAt(expires_at),
                identity: text("identity")?,
            },
        })
    }

    pub(super) fn summary(&self) -> Summary {
        let refresh_at = crate::lifetime::refresh_at(self.issued_at, self.expires_at);
        Summary {
            backend: self.backend.clone(),
            registry: self.registry.clone(),
            identity: self.credentials.identity.clone(),
            issued_at: self.issued_at,
            refresh_at,
            expires_at: self.expires_at,
            auth_keys: self.credentials.auth.keys().cloned().collect(),
        }
    }
}
