//! What this build is: version, commit, clouds compiled in, crypto library, linking. Printed by
//! `--version` so an operator (and a bug report) can tell exactly which binary kubelet runs.

/// The clouds and secret stores compiled in (cargo features `aws`, `azure`, `gcp`, `vault`).
pub fn features() -> Vec<&'static str> {
    let mut features = Vec::new();
    if cfg!(feature = "aws") {
        features.push("aws");
    }
    if cfg!(feature = "azure") {
        features.push("azure");
    }
    if cfg!(feature = "gcp") {
        features.push("gcp");
    }
    if cfg!(feature = "vault") {
        features.push("vault");
    }
    features
}

/// The `--version` text, one fact per line after the first.
pub fn version_text() -> String {
    let features = features();
    let features = if features.is_empty() {
        "none (file and none backends only)".to_string()
    } else {
        features.join(", ")
    };
    let linking = if cfg!(target_feature = "crt-static") {
        "static"
    } else {
        "dynamic"
    };
    format!(
        "cloud-credential-provider {version}\n\
         commit:   {commit}\n\
         features: {features}\n\
         crypto:   ring {ring} via rustls {rustls}, randomness from the OS (getrandom)\n\
         target:   {arch}-{os}, {linking}ally linked\n",
        version = env!("CARGO_PKG_VERSION"),
        commit = env!("CCP_GIT_COMMIT"),
        ring = env!("CCP_RING_VERSION"),
        rustls = env!("CCP_RUSTLS_VERSION"),
        arch = std::env::consts::ARCH,
        os = std::env::consts::OS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_commit_features_crypto_and_linking() {
        let text = version_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("cloud-credential-provider {}", env!("CARGO_PKG_VERSION"))
        );
        // A short hash (maybe "-dirty"), or "unknown" when built outside a git checkout.
        let commit = lines[1].strip_prefix("commit:   ").unwrap_or_default();
        let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
        assert!(
            hash == "unknown" || (hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
            "{text}"
        );
        let features = features();
        if features.is_empty() {
            assert_eq!(lines[2], "features: none (file and none backends only)");
        } else {
            assert_eq!(lines[2], format!("features: {}", features.join(", ")));
        }
        assert!(lines[3].starts_with("crypto:   ring 0."), "{text}");
        assert!(!lines[3].contains("unknown"), "{text}");
        assert!(lines[4].ends_with("ally linked"), "{text}");
    }
}
