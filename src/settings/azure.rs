//! Azure's options: azure.json's path, `--registry-mirror` and `--azure-sp-token-exchange`.
//!
//! `--registry-mirror=SRC:DST[,SRC:DST]`: images on SRC are pulled with DST's ACR token.
//! The reference plugin takes the same flag (e.g. `mcr.microsoft.com:myacr.azurecr.io` when an
//! ACR caches MCR), but matches SRC as a raw string prefix of the image, so
//! `mcr.microsoft.com.evil.io/x` counted as mirrored and got the ACR token, and it split on
//! every `:`, so SRC could not carry a port. Here SRC is a whole registry (`host[:port]`)
//! compared with the image's registry, and the mapping splits at the LAST `:`, as DST is a
//! login server without a port: `reg.local:5000:myacr.azurecr.io` means SRC `reg.local:5000`.

use std::path::PathBuf;

use crate::hosts::{is_dns_name, split_host_port};

/// The Azure part of the command line.
#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    /// azure.json: `--azure-config`, or the first argument under the name
    /// `acr-credential-provider`.
    pub config: Option<PathBuf>,
    /// `--registry-mirror` mappings.
    pub mirrors: Vec<Mirror>,
    /// `--azure-sp-token-exchange`: exchange a service principal's Entra token instead of
    /// handing out its secret.
    pub sp_token_exchange: bool,
}

/// One SRC → DST mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry images are pulled from: `host[:port]`, host lower-cased.
    pub source: String,
    /// The ACR login server whose token the source accepts, lower-cased.
    pub target: String,
}

/// Parses `--registry-mirror`'s value.
pub fn parse_mirrors(text: &str) -> Result<Vec<Mirror>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("{text:?} has an empty SRC:DST mapping"));
        }
        let (source, target) = item
            .rsplit_once(':')
            .ok_or_else(|| format!("{item:?} is not SRC:DST"))?;
        let source = parse_registry(source)
            .ok_or_else(|| format!("{item:?}: source {source:?} is not a host[:port]"))?;
        if !is_dns_name(target) {
            return Err(format!(
                "{item:?}: target {target:?} is not a login server host name"
            ));
        }
        out.push(Mirror {
            source,
            target: target.to_ascii_lowercase(),
        });
    }
    Ok(out)
}

/// The mirror whose source is exactly `registry` (the image's `host[:port]`).
pub fn find_mirror<'a>(mirrors: &'a [Mirror], registry: &str) -> Option<&'a Mirror> {
    mirrors
        .iter()
        .find(|m| m.source.eq_ignore_ascii_case(registry))
}

/// `host[:port]` with the host lower-cased, or None when it is not one.
fn parse_registry(text: &str) -> Option<String> {
    let (host, port) = split_host_port(text);
    if !is_dns_name(host) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    match port {
        None => Some(host),
        Some(p) => {
            let n: u16 = p.parse().ok().filter(|n| *n > 0)?;
            // `p.parse` accepts `+5000` and leading zeros; kubelet compares ports as text, so
            // keep the canonical spelling only.
            (n.to_string() == p).then(|| format!("{host}:{p}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(source: &str, target: &str) -> Mirror {
        Mirror {
            source: source.into(),
            target: target.into(),
        }
    }

    #[test]
    fn reference_syntax_one_and_several() {
        assert_eq!(
            parse_mirrors("mcr.microsoft.com:myacr.azurecr.io").unwrap(),
            [m("mcr.microsoft.com", "myacr.azurecr.io")]
        );
        assert_eq!(
            parse_mirrors("mcr.microsoft.com:myacr.azurecr.io, docker.io:other.azurecr.io")
                .unwrap(),
            [
                m("mcr.microsoft.com", "myacr.azurecr.io"),
                m("docker.io", "other.azurecr.io")
            ]
        );
    }

    #[test]
    fn source_may_carry_a_port() {
        assert_eq!(
            parse_mirrors("reg.local:5000:myacr.azurecr.io").unwrap(),
            [m("reg.local:5000", "myacr.azurecr.io")]
        );
        assert_eq!(
            parse_mirrors("Reg.Local:5000:MyAcr.AzureCR.io").unwrap(),
            [m("reg.local:5000", "myacr.azurecr.io")]
        );
    }

    #[test]
    fn malformed_mappings_are_refused() {
        for bad in [
            "",
            "mcr.microsoft.com",
            "mcr.microsoft.com:",
            ":myacr.azurecr.io",
            "a:b,",
            "reg.local:0:myacr.azurecr.io",
            "reg.local:65536:myacr.azurecr.io",
            "reg.local:050:myacr.azurecr.io",
            "reg.local:x:myacr.azurecr.io",
            "mcr.microsoft.com/path:myacr.azurecr.io",
            "mcr.microsoft.com:myacr.azurecr.io/x",
            "a..b:myacr.azurecr.io",
        ] {
            assert!(parse_mirrors(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn matching_is_on_whole_registries() {
        let mirrors =
            parse_mirrors("mcr.microsoft.com:myacr.azurecr.io,reg.local:5000:b.azurecr.io")
                .unwrap();
        assert_eq!(
            find_mirror(&mirrors, "mcr.microsoft.com").map(|m| m.target.as_str()),
            Some("myacr.azurecr.io")
        );
        assert_eq!(
            find_mirror(&mirrors, "MCR.Microsoft.com").map(|m| m.target.as_str()),
            Some("myacr.azurecr.io")
        );
        assert_eq!(find_mirror(&mirrors, "mcr.microsoft.com.evil.io"), None);
        assert_eq!(find_mirror(&mirrors, "evilmcr.microsoft.com"), None);
        assert_eq!(find_mirror(&mirrors, "mcr.microsoft.com:443"), None);
        assert_eq!(find_mirror(&mirrors, "reg.local"), None);
        assert_eq!(find_mirror(&mirrors, "reg.local:50000"), None);
        assert_eq!(
            find_mirror(&mirrors, "reg.local:5000").map(|m| m.target.as_str()),
            Some("b.azurecr.io")
        );
    }
}
