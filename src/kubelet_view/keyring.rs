//! What kubelet does with the providers' answers (protocol doc §2, §4.5).
//!
//! For one image lookup kubelet feeds every provider's `auth` map, in provider config order,
//! into ONE `BasicDockerKeyring`: each key is normalised (§2.1, [`normalize_auth_key`]), the
//! index of keys is de-duplicated and sorted in reverse byte order, and the lookup walks that
//! index collecting the credentials of every key that matches the image with the same rules
//! as `matchImages` (§2.2). So a longer key comes before its prefix, a literal label before
//! `*`, and the provider order only breaks ties between identical keys. Docker Hub images get
//! the `index.docker.io` entry when nothing else matched.
//!
//! Each provider's answer is also cached by kubelet under a binary key: the base (the image,
//! its registry or the global key, by `cacheKeyType`) and the service-account part, each
//! length-prefixed (§4.5).

use std::collections::BTreeMap;

use crate::pattern::{normalize_auth_key, urls_match};
use crate::secret::Secret;

/// The key kubelet's keyring files Docker Hub's legacy entry under (`https://index.docker.io/v1/`
/// normalises to it), used for Hub images when no other key matched.
pub const HUB_KEY: &str = "index.docker.io";

/// The base of a `Global` cache entry in current kubelets (1.33 and older: `global`).
pub const GLOBAL_KEY: &str = "<global>";

/// One credential in the keyring.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The provider that answered it.
    pub provider: String,
    /// The `auth` key as the provider wrote it.
    pub raw_key: String,
    /// Username.
    pub username: String,
    /// Password.
    pub password: Secret<String>,
}

/// Kubelet's `BasicDockerKeyring` for one lookup.
#[derive(Debug, Default)]
pub struct Keyring {
    /// Normalised key → credentials in the order they were added. A `BTreeMap` orders keys by
    /// bytes, as Go's `sort.Strings` does; the lookup walks it backwards.
    index: BTreeMap<String, Vec<Credential>>,
}

/// The credentials kubelet would try for an image, in order.
#[derive(Debug)]
pub struct Lookup<'a> {
    /// (normalised key, credential), in kubelet's order.
    pub tries: Vec<(&'a str, &'a Credential)>,
    /// True when the list is the Docker Hub fallback (no key matched the Hub image).
    pub hub_fallback: bool,
}

impl Keyring {
    /// Files `credential` under its normalised key, as `BasicDockerKeyring.Add` does; `None`
    /// (and nothing filed) when kubelet cannot parse the key and skips the entry.
    pub fn add(&mut self, credential: Credential) -> Option<String> {
        let key = normalize_auth_key(&credential.raw_key)?;
        self.index.entry(key.clone()).or_default().push(credential);
        Some(key)
    }

    /// Kubelet's `Lookup(image)`: every credential whose key matches, keys in reverse byte
    /// order; the Hub fallback when none matched.
    pub fn lookup(&self, image: &str) -> Lookup<'_> {
        let tries: Vec<(&str, &Credential)> = self
            .index
            .iter()
            .rev()
            .filter(|(key, _)| urls_match(key, image))
            .flat_map(|(key, creds)| creds.iter().map(move |c| (key.as_str(), c)))
            .collect();
        if !tries.is_empty() || !is_default_registry_match(image) {
            return Lookup {
                tries,
                hub_fallback: false,
            };
        }
        let tries: Vec<(&str, &Credential)> = self
            .index
            .get_key_value(HUB_KEY)
            .map(|(key, creds)| creds.iter().map(|c| (key.as_str(), c)).collect())
            .unwrap_or_default();
        let hub_fallback = !tries.is_empty();
        Lookup {
            tries,
            hub_fallback,
        }
    }
}

/// Kubelet's `isDefaultRegistryMatch`: would the image be pulled from Docker Hub? Note that
/// `localhost/x` counts (no `.` or `:` in the first component).
pub fn is_default_registry_match(image: &str) -> bool {
    let (first, rest) = match image.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (image, None),
    };
    if first.is_empty() {
        return false;
    }
    if rest.is_none() || first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

/// The text before the first `/` (kubelet's `parseRegistry`): the `Registry` cache base.
pub fn registry_of(image: &str) -> &str {
    image.split('/').next().unwrap_or(image)
}

/// Kubelet's `generateCacheKey(base, serviceAccountKey)`: both parts with a big-endian u16
/// length prefix. `None` where kubelet's builder fails (a part over 65535 bytes), in which case
/// kubelet logs an error and drops the credentials.
pub fn cache_key(base: &str, service_account_key: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(base.len() + service_account_key.len() + 4);
    for part in [base.as_bytes(), service_account_key] {
        let len = u16::try_from(part.len()).ok()?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::go_quote_bytes;

    fn cred(provider: &str, key: &str, user: &str) -> Credential {
        Credential {
            provider: provider.into(),
            raw_key: key.into(),
            username: user.into(),
            password: Secret::new(format!("{user}-pw")),
        }
    }

    fn order(keyring: &Keyring, image: &str) -> Vec<String> {
        keyring
            .lookup(image)
            .tries
            .iter()
            .map(|(k, c)| format!("{k} {}", c.username))
            .collect()
    }

    #[test]
    fn longer_keys_and_literal_labels_come_first_across_providers() {
        // P14, and §2.3's provider A `reg.io` + provider B `reg.io/team`.
        let mut k = Keyring::default();
        k.add(cred("a", "reg.io", "a-host"));
        k.add(cred("a", "*.io", "a-glob"));
        k.add(cred("b", "https://reg.io/v2/team", "b-team"));
        k.add(cred("b", "reg.io", "b-host"));
        assert_eq!(
            order(&k, "reg.io/team/app"),
            [
                "reg.io/team b-team",
                "reg.io a-host",
                "reg.io b-host",
                "*.io a-glob"
            ]
        );
        assert_eq!(
            order(&k, "reg.io/other"),
            ["reg.io a-host", "reg.io b-host", "*.io a-glob"]
        );
    }

    #[test]
    fn ports_must_agree() {
        let mut k = Keyring::default();
        k.add(cred("a", "reg.io", "no-port"));
        k.add(cred("a", "reg.io:5000", "port"));
        assert_eq!(order(&k, "reg.io:5000/app"), ["reg.io:5000 port"]);
        assert_eq!(order(&k, "reg.io/app"), ["reg.io no-port"]);
        assert!(order(&k, "reg.io:5001/app").is_empty());
    }

    #[test]
    fn unparsable_keys_are_skipped() {
        let mut k = Keyring::default();
        assert_eq!(k.add(cred("a", "%zz", "bad")), None);
        assert_eq!(k.add(cred("a", "reg.io", "ok")).as_deref(), Some("reg.io"));
        assert_eq!(order(&k, "reg.io/x"), ["reg.io ok"]);
    }

    #[test]
    fn docker_hub_falls_back_to_the_index_key() {
        let mut k = Keyring::default();
        k.add(cred("a", "https://index.docker.io/v1/", "hub"));
        let hub = k.lookup("docker.io/library/nginx");
        assert!(hub.hub_fallback);
        assert_eq!(hub.tries.len(), 1);
        // M16: the key itself never matches docker.io images; only the fallback serves them.
        assert!(!urls_match("index.docker.io", "docker.io/library/nginx"));
        assert!(k.lookup("quay.io/x/y").tries.is_empty());
        // Kubelet's rule counts localhost/x as a Hub image.
        assert!(k.lookup("localhost/x").hub_fallback);
        // A matching key wins over the fallback.
        k.add(cred("b", "docker.io", "direct"));
        let direct = k.lookup("docker.io/library/nginx");
        assert!(!direct.hub_fallback);
        assert_eq!(direct.tries[0].1.username, "direct");
    }

    #[test]
    fn cache_keys_match_kubelets_bytes() {
        // §4.5: "\x00\x11registry.io/image\x00\x00".
        let key = cache_key("registry.io/image", b"").unwrap();
        assert_eq!(key, b"\x00\x11registry.io/image\x00\x00");
        assert_eq!(
            go_quote_bytes(&key),
            r#""\x00\x11registry.io/image\x00\x00""#
        );
        assert_eq!(cache_key(&"x".repeat(70_000), b""), None);
        assert_eq!(registry_of("reg.io:5000/a/b"), "reg.io:5000");
    }
}
