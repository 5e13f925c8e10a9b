//! The node's `azure.json` (`/etc/kubernetes/azure.json` on AKS), as the reference plugin reads it.
//!
//! The file is the cloud-provider config: YAML or JSON, keys matched case-insensitively (the
//! reference decodes it with sigs.k8s.io/yaml into a Go struct, which ignores key case). Only
//! the keys that decide the ACR identity are read; everything else in it is ignored.
//!
//! Clouds: `AzurePublicCloud` (the default), `AzureChinaCloud`, `AzureUSGovernmentCloud` and the
//! retired `AzureGermanCloud` by name. A custom cloud (`AzureStackCloud`) needs its registry
//! suffix and Entra authority: from `containerRegistryDNSSuffix` and `activeDirectoryEndpoint`
//! in azure.json itself, or from the environment file named by `AZURE_ENVIRONMENT_FILEPATH`
//! (the go-autorest format the reference reads). The reference can also discover them from
//! `resourceManagerEndpoint` over the network; that is not done here (it would put an ARM call
//! in front of every pull): the endpoint is shown by `check`, and a custom cloud without the
//! two keys is a configuration error that says what to add.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::hosts::AzureCloud;
use crate::local_file;
use crate::parse_limits;
use crate::secret::Secret;

/// `AZURE_ENVIRONMENT_FILEPATH`: the custom-cloud environment file.
pub const ENVIRONMENT_FILE_VAR: &str = "AZURE_ENVIRONMENT_FILEPATH";

/// Which Azure cloud, and what the ACR flow needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// The name as azure.json spells it (canonical for known clouds).
    pub name: String,
    /// Entra authority, `https://…` without trailing slash.
    pub authority: String,
    /// The known cloud, if it is one (None for custom clouds).
    pub known: Option<AzureCloud>,
    /// A registry DNS suffix named by the configuration (custom clouds), no leading dot.
    pub registry_suffix: Option<String>,
}

impl Cloud {
    /// The public cloud, used when there is no azure.json.
    pub fn public() -> Cloud {
        Cloud::known(AzureCloud::Public)
    }

    fn known(cloud: AzureCloud) -> Cloud {
        Cloud {
            name: cloud.name().to_string(),
            authority: authority_of(cloud).to_string(),
            known: Some(cloud),
            registry_suffix: None,
        }
    }
}

/// Entra authority host of a known cloud.
pub fn authority_of(cloud: AzureCloud) -> &'static str {
    match cloud {
        AzureCloud::Public => "https://login.microsoftonline.com",
        AzureCloud::China => "https://login.chinacloudapi.cn",
        AzureCloud::UsGovernment => "https://login.microsoftonline.us",
        AzureCloud::Germany => "https://login.microsoftonline.de",
    }
}

/// A user-assigned managed identity, as `userAssignedIdentityID` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAssigned {
    /// A client id (GUID).
    ClientId(String),
    /// An ARM resource id (`/subscriptions/…/userAssignedIdentities/name`).
    ResourceId(String),
}

impl UserAssigned {
    /// The reference's rule: a value containing `/subscriptions/` is a resource id.
    pub fn from_config(value: &str) -> UserAssigned {
        if value.to_ascii_lowercase().contains("/subscriptions/") {
            UserAssigned::ResourceId(value.to_string())
        } else {
            UserAssigned::ClientId(value.to_string())
        }
    }

    /// The id itself, for messages (not a secret).
    pub fn id(&self) -> &str {
        match self {
            UserAssigned::ClientId(s) | UserAssigned::ResourceId(s) => s,
        }
    }
}

/// What azure.json says, as far as ACR credentials are concerned.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// The cloud.
    pub cloud: Cloud,
    /// `tenantId`.
    pub tenant_id: Option<String>,
    /// `aadClientId`.
    pub client_id: Option<String>,
    /// `aadClientSecret`.
    pub client_secret: Option<Secret<String>>,
    /// `useManagedIdentityExtension`.
    pub use_managed_identity: bool,
    /// `userAssignedIdentityID`.
    pub user_assigned: Option<UserAssigned>,
    /// `resourceManagerEndpoint` (shown, not called).
    pub resource_manager_endpoint: Option<String>,
}

impl AzureConfig {
    /// Reads and parses the file.
    pub fn load(path: &Path) -> Result<AzureConfig, String> {
        let bytes = local_file::read(path)
            .map_err(|e| format!("cannot read azure config {}: {e}", path.display()))?;
        let env_file = std::env::var_os(ENVIRONMENT_FILE_VAR).map(PathBuf::from);
        AzureConfig::parse(path, &bytes, env_file.as_deref())
            .map_err(|e| format!("azure config {}: {e}", path.display()))
    }

    /// Parses file contents; `env_file` is `AZURE_ENVIRONMENT_FILEPATH`, read only for a
    /// custom cloud.
    pub fn parse(
        path: &Path,
        bytes: &[u8],
        env_file: Option<&Path>,
    ) -> Result<AzureConfig, String> {
        let keys = lowercase_keys(&parse_document(bytes)?)?;
        let string = |name: &str| -> Result<Option<String>, String> {
            match keys.get(&name.to_ascii_lowercase()) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(format!("{name} must be a string")),
            }
        };
        let use_managed_identity = match keys.get("usemanagedidentityextension") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => false,
            Some(_) => return Err("useManagedIdentityExtension must be true or false".into()),
        };

        let cloud_name = string("cloud")?;
        let known = match cloud_name
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("azurepubliccloud") => Some(AzureCloud::Public),
            Some("azurechinacloud") => Some(AzureCloud::China),
            Some("azureusgovernmentcloud") => Some(AzureCloud::UsGovernment),
            Some("azuregermancloud") => Some(AzureCloud::Germany),
            Some("azurestackcloud") => None,
            Some(_) => {
                return Err(format!(
                    "unknown cloud {:?}: use AzurePublicCloud, AzureChinaCloud, \
                     AzureUSGovernmentCloud or AzureStackCloud",
                    cloud_name.unwrap_or_default()
                ))
            }
        };
        // Explicit keys win; they may also refine a known cloud (a sovereign cloud with its
        // own registry suffix). The environment file is the custom cloud's fallback.
        let mut suffix = string("containerRegistryDNSSuffix")?;
        let mut authority = string("activeDirectoryEndpoint")?;
        if known.is_none() && (suffix.is_none() || authority.is_none()) {
            if let Some(p) = env_file {
                let (s, a) = read_environment(p)?;
                suffix = suffix.or(s);
                authority = authority.or(a);
            }
        }
        let mut cloud = match known {
            Some(c) => Cloud::known(c),
            None if suffix.is_some() && authority.is_some() => Cloud {
                name: cloud_name.unwrap_or_default(),
                authority: String::new(),
                known: None,
                registry_suffix: None,
            },
            None => {
                return Err(format!(
                    "cloud {} needs containerRegistryDNSSuffix and activeDirectoryEndpoint, \
                     in this file or in the {ENVIRONMENT_FILE_VAR} file (discovery through \
                     resourceManagerEndpoint is not supported)",
                    cloud_name.unwrap_or_default()
                ))
            }
        };
        if let Some(s) = suffix {
            let s = s.trim_start_matches('.').to_ascii_lowercase();
            if s.is_empty() || !s.contains('.') {
                return Err(format!(
                    "containerRegistryDNSSuffix {s:?} is not a DNS suffix"
                ));
            }
            cloud.registry_suffix = Some(s);
        }
        if let Some(a) = authority {
            cloud.authority = a;
        }
        cloud.authority = cloud.authority.trim_end_matches('/').to_string();
        if !cloud.authority.starts_with("https://") {
            return Err(format!(
                "activeDirectoryEndpoint {:?} must be an https:// URL",
                cloud.authority
            ));
        }

        Ok(AzureConfig {
            path: path.to_path_buf(),
            cloud,
            tenant_id: string("tenantId")?,
            client_id: string("aadClientId")?,
            client_secret: string("aadClientSecret")?.map(Secret::new),
            use_managed_identity,
            user_assigned: string("userAssignedIdentityID")?.map(|v| UserAssigned::from_config(&v)),
            resource_manager_endpoint: string("resourceManagerEndpoint")?,
        })
    }
}

/// JSON when it parses as JSON (tabs and all), else YAML. The nesting bound is checked before
/// either parser runs: a document too deep for serde_json would otherwise fall through to
/// libyaml, whose scanner is slow on exactly that ([`crate::parse_limits`]).
fn parse_document(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())?;
    parse_limits::check_json(text)?;
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    parse_limits::check_yaml(text)?;
    serde_yaml_ng::from_str::<Value>(text).map_err(|e| format!("neither JSON nor YAML: {e}"))
}

fn lowercase_keys(doc: &Value) -> Result<BTreeMap<String, Value>, String> {
    match doc {
        Value::Object(map) => Ok(map
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()),
        Value::Null => Ok(BTreeMap::new()),
        _ => Err("the top level must be a mapping of keys to values".into()),
    }
}

/// `containerRegistryDNSSuffix` and `activeDirectoryEndpoint` of a go-autorest environment file.
fn read_environment(path: &Path) -> Result<(Option<String>, Option<String>), String> {
    let bytes = local_file::read(path).map_err(|e| {
        format!(
            "cannot read {ENVIRONMENT_FILE_VAR} file {}: {e}",
            path.display()
        )
    })?;
    let keys = parse_document(&bytes)
        .and_then(|doc| lowercase_keys(&doc))
        .map_err(|e| format!("{ENVIRONMENT_FILE_VAR} file {}: {e}", path.display()))?;
    let get = |k: &str| {
        keys.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok((
        get("containerregistrydnssuffix"),
        get("activedirectoryendpoint"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AzureConfig, String> {
        AzureConfig::parse(
            Path::new("/etc/kubernetes/azure.json"),
            text.as_bytes(),
            None,
        )
    }

    #[test]
    fn aks_managed_identity_json() {
        let c = parse(
            r#"{
	"cloud": "AzurePublicCloud",
	"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
	"subscriptionId": "x",
	"aadClientId": "msi",
	"aadClientSecret": "msi",
	"useManagedIdentityExtension": true,
	"userAssignedIdentityID": "5c1b2a3d-0000-4000-8000-000000000001",
	"location": "eastus"
}"#,
        )
        .unwrap();
        assert_eq!(c.cloud, Cloud::public());
        assert_eq!(
            c.tenant_id.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert!(c.use_managed_identity);
        assert_eq!(
            c.user_assigned,
            Some(UserAssigned::ClientId(
                "5c1b2a3d-0000-4000-8000-000000000001".into()
            ))
        );
    }

    #[test]
    fn yaml_with_any_key_case() {
        let c = parse(
            "CLOUD: azurechinacloud\nTenantID: t1\nAADClientID: c1\naadclientsecret: s1\n\
             usemanagedidentityextension: \"false\"\n",
        )
        .unwrap();
        assert_eq!(c.cloud.known, Some(AzureCloud::China));
        assert_eq!(c.cloud.authority, "https://login.chinacloudapi.cn");
        assert_eq!(c.tenant_id.as_deref(), Some("t1"));
        assert_eq!(c.client_id.as_deref(), Some("c1"));
        assert_eq!(
            c.client_secret.as_ref().map(|s| s.expose().as_str()),
            Some("s1")
        );
        assert!(!c.use_managed_identity);
    }

    #[test]
    fn us_government_and_default_cloud() {
        let c = parse(r#"{"cloud":"AzureUSGovernmentCloud"}"#).unwrap();
        assert_eq!(c.cloud.authority, "https://login.microsoftonline.us");
        assert_eq!(parse("{}").unwrap().cloud, Cloud::public());
        assert_eq!(parse("").unwrap().cloud, Cloud::public());
    }

    #[test]
    fn resource_id_rule() {
        let rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull";
        assert_eq!(
            UserAssigned::from_config(rid),
            UserAssigned::ResourceId(rid.into())
        );
        assert_eq!(
            UserAssigned::from_config("/SUBSCRIPTIONS/s/x"),
            UserAssigned::ResourceId("/SUBSCRIPTIONS/s/x".into())
        );
        assert_eq!(
            UserAssigned::from_config("abc"),
            UserAssigned::ClientId("abc".into())
        );
    }

    #[test]
    fn custom_cloud_from_the_file_or_the_environment_file() {
        let c = parse(
            r#"{"cloud":"AzureStackCloud","containerRegistryDNSSuffix":".azurecr.contoso.local",
               "activeDirectoryEndpoint":"https://login.contoso.local/","resourceManagerEndpoint":"https://management.contoso.local/"}"#,
        )
        .unwrap();
        assert_eq!(c.cloud.known, None);
        assert_eq!(
            c.cloud.registry_suffix.as_deref(),
            Some("azurecr.contoso.local")
        );
        assert_eq!(c.cloud.authority, "https://login.contoso.local");
        assert_eq!(
            c.resource_manager_endpoint.as_deref(),
            Some("https://management.contoso.local/")
        );

        let dir = std::env::temp_dir().join(format!("ccp-azenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = dir.join("env.json");
        std::fs::write(
            &env,
            r#"{"name":"AzureStackCloud","containerRegistryDNSSuffix":"azurecr.stack.example","activeDirectoryEndpoint":"https://login.stack.example/"}"#,
        )
        .unwrap();
        let c = AzureConfig::parse(
            Path::new("a"),
            br#"{"cloud":"AzureStackCloud"}"#,
            Some(&env),
        )
        .unwrap();
        assert_eq!(
            c.cloud.registry_suffix.as_deref(),
            Some("azurecr.stack.example")
        );
        assert_eq!(c.cloud.authority, "https://login.stack.example");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_files_say_what_is_wrong() {
        let e = parse(r#"{"cloud":"AzureStackCloud","resourceManagerEndpoint":"https://m/"}"#)
            .unwrap_err();
        assert!(e.contains("containerRegistryDNSSuffix"), "{e}");
        assert!(parse(r#"{"cloud":"Mars"}"#)
            .unwrap_err()
            .contains("unknown cloud"));
        assert!(parse(r#"{"useManagedIdentityExtension":"yes"}"#).is_err());
        assert!(parse(r#"["a"]"#).is_err());
        assert!(parse("{not json: [").is_err());
        assert!(parse(r#"{"tenantId":{"a":1}}"#).is_err());
        let e = parse(
            r#"{"cloud":"AzureStackCloud","containerRegistryDNSSuffix":"a.b","activeDirectoryEndpoint":"http://login"}"#,
        )
        .unwrap_err();
        assert!(e.contains("https"), "{e}");
    }

    #[test]
    fn deep_or_non_regular_files_are_refused() {
        // Too deep for serde_json: without the bound it would fall through to libyaml.
        let deep = format!("{{\"cloud\":{}", "[".repeat(200_000));
        let started = std::time::Instant::now();
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("nests more than 64 levels deep"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let e = AzureConfig::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e,
            "cannot read azure config /dev/zero: it is a character device, not a regular file"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let c = parse(r#"{"aadClientId":"c","aadClientSecret":"hunter2"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
