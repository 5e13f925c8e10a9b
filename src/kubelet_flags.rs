//! Kubelet's credential-provider flags, read from an argument list as kubelet reads them.
//!
//! Kubelet parses its command line with spf13/pflag: a long flag is `--name=value` or
//! `--name value` (a string flag takes the next argument whatever it looks like), a repeated
//! flag keeps its last value, and `--` ends the flags. Only three flags matter to
//! `kubelet-status`: the two that wire credential providers, and `--config` (shown, so an
//! operator sees which KubeletConfiguration the node uses; it is not read, because
//! KubeletConfiguration has no field for either credential-provider setting as of kubelet
//! 1.34: they exist only as flags).

use serde::Serialize;

/// `--image-credential-provider-bin-dir`: where kubelet looks for provider executables.
pub const BIN_DIR: &str = "image-credential-provider-bin-dir";
/// `--image-credential-provider-config`: the `CredentialProviderConfig` file or directory.
pub const CONFIG: &str = "image-credential-provider-config";
/// `--config`: the KubeletConfiguration file.
pub const KUBELET_CONFIG: &str = "config";

/// One flag's value and the place it was read from (a unit file, an environment file, the
/// process's command line), so a report can say where to change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagValue {
    /// The value as kubelet gets it.
    pub value: String,
    /// Where it was set.
    pub from: String,
}

/// The flags found, each with its last value. An empty value counts as unset: kubelet treats
/// an empty `--image-credential-provider-config` as "no plugins".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialFlags {
    /// `--image-credential-provider-bin-dir`.
    pub image_credential_provider_bin_dir: Option<FlagValue>,
    /// `--image-credential-provider-config`.
    pub image_credential_provider_config: Option<FlagValue>,
    /// `--config`.
    pub config: Option<FlagValue>,
}

impl CredentialFlags {
    /// Reads `args` (without the program name), all set in `from`, with pflag's rules.
    pub fn scan(args: &[String], from: &str) -> CredentialFlags {
        let mut flags = CredentialFlags::default();
        flags.apply(args, from);
        flags
    }

    /// Applies `args`, all set in `from`, on top of what is already set: later arguments
    /// win, as in pflag.
    pub fn apply(&mut self, args: &[String], from: &str) {
        let tagged: Vec<(String, String)> =
            args.iter().map(|a| (a.clone(), from.to_string())).collect();
        self.apply_tagged(&tagged);
    }

    /// Applies arguments that each carry where they were set (a command line assembled from
    /// several files): a value's place is that of the argument holding it.
    pub fn apply_tagged(&mut self, args: &[(String, String)]) {
        let mut iter = args.iter();
        while let Some((arg, from)) = iter.next() {
            if arg == "--" {
                break;
            }
            let Some(flag) = arg.strip_prefix("--") else {
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some((value.to_string(), from.clone()))),
                None => (flag, None),
            };
            let slot = match name {
                BIN_DIR => &mut self.image_credential_provider_bin_dir,
                CONFIG => &mut self.image_credential_provider_config,
                KUBELET_CONFIG => &mut self.config,
                _ => continue,
            };
            // Without `=`, pflag takes the next argument as the value, whatever it is.
            let value = inline.or_else(|| iter.next().cloned());
            *slot = value
                .filter(|(v, _)| !v.is_empty())
                .map(|(value, from)| FlagValue { value, from });
        }
    }

    /// The bin dir flag's value.
    pub fn bin_dir(&self) -> Option<&str> {
        self.image_credential_provider_bin_dir
            .as_ref()
            .map(|f| f.value.as_str())
    }

    /// The config flag's value.
    pub fn provider_config(&self) -> Option<&str> {
        self.image_credential_provider_config
            .as_ref()
            .map(|f| f.value.as_str())
    }

    /// Whether either credential-provider flag is set.
    pub fn any_credential_flag(&self) -> bool {
        self.image_credential_provider_bin_dir.is_some()
            || self.image_credential_provider_config.is_some()
    }

    /// The flags as kubelet's command line would carry them, each with where it was set.
    pub fn lines(&self) -> Vec<String> {
        [
            (BIN_DIR, &self.image_credential_provider_bin_dir),
            (CONFIG, &self.image_credential_provider_config),
            (KUBELET_CONFIG, &self.config),
        ]
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|v| format!("--{name}={} (from {})", v.value, v.from))
        })
        .collect()
    }
}

/// Splits an environment variable's value into arguments the way both systemd (`$VAR` as a
/// word of its own) and a shell (`$VAR` unquoted) do: at whitespace, with no quote removal.
pub fn split_whitespace(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        split_whitespace(text)
    }

    fn value(v: &Option<FlagValue>) -> Option<&str> {
        v.as_ref().map(|f| f.value.as_str())
    }

    #[test]
    fn both_forms_and_the_last_value_win() {
        let flags = CredentialFlags::scan(
            &args(
                "--v=2 --image-credential-provider-bin-dir /a --image-credential-provider-config=/c.yaml \
                 --image-credential-provider-bin-dir=/b --config /var/lib/kubelet/config.yaml",
            ),
            "cmdline",
        );
        assert_eq!(flags.bin_dir(), Some("/b"));
        assert_eq!(flags.provider_config(), Some("/c.yaml"));
        assert_eq!(value(&flags.config), Some("/var/lib/kubelet/config.yaml"));
        assert_eq!(
            flags.lines(),
            [
                "--image-credential-provider-bin-dir=/b (from cmdline)",
                "--image-credential-provider-config=/c.yaml (from cmdline)",
                "--config=/var/lib/kubelet/config.yaml (from cmdline)"
            ]
        );
    }

    #[test]
    fn empty_values_unset_and_double_dash_ends_flags() {
        let flags = CredentialFlags::scan(
            &args(
                "--image-credential-provider-config=/c --image-credential-provider-config= -- --image-credential-provider-bin-dir=/b",
            ),
            "x",
        );
        assert_eq!(flags, CredentialFlags::default());
        assert!(!flags.any_credential_flag());
    }

    #[test]
    fn similar_names_and_single_dash_are_not_the_flags() {
        // pflag reads `-image-...` as a cluster of shorthands (kubelet would fail to start);
        // `--configs` and `--config-dir` are other flags.
        let flags = CredentialFlags::scan(
            &args(
                "-image-credential-provider-config=/x --config-dir=/d --configs=/e --image-credential-provider-bin-dir-x=/y",
            ),
            "x",
        );
        assert_eq!(flags, CredentialFlags::default());
    }

    #[test]
    fn a_flag_at_the_end_without_value_is_unset() {
        let flags = CredentialFlags::scan(&args("--image-credential-provider-bin-dir"), "x");
        assert_eq!(flags.bin_dir(), None);
    }

    #[test]
    fn later_sources_win_and_each_value_keeps_its_place() {
        let mut flags =
            CredentialFlags::scan(&args("--image-credential-provider-bin-dir=/a"), "one");
        flags.apply(&args("--image-credential-provider-config=/c"), "two");
        flags.apply_tagged(&[
            ("--image-credential-provider-bin-dir".into(), "unit".into()),
            ("/b".into(), "env file".into()),
        ]);
        assert_eq!(
            flags.image_credential_provider_bin_dir,
            Some(FlagValue {
                value: "/b".into(),
                from: "env file".into()
            })
        );
        assert_eq!(flags.image_credential_provider_config.unwrap().from, "two");
    }
}
