//! Which cloud registry a host names: the one home of the host grammar.
//!
//! The router picks a backend from the registry host alone, never from the image path: an image
//! `123456789012.dkr.ecr.us-east-1.amazonaws.com/public.ecr.aws/nginx` is private ECR, because the
//! reference plugin once decided from the whole string and got that wrong
//! (kubernetes/cloud-provider-aws#651). Dispatch, `check` and `validate-config` all call
//! [`classify`], so they can never disagree about who claims a host.
//!
//! Input is a bare host: the caller has already removed the scheme, the path and any `:port`.
//!
//! # Case
//!
//! DNS names are case-insensitive (RFC 4343): `123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM`
//! reaches the same registry as the lower-case name, so the grammar is matched on the
//! ASCII-lowercased host and such a host is claimed. kubelet, however, compares the `auth` keys of a
//! plugin response with the image's host case-sensitively, so every parsed struct keeps `host`
//! exactly as it was given: the backend answers under the key kubelet asked about. The parts taken
//! out of the host (account id, region, registry name, location…) are lower-case, because that is
//! the form the cloud APIs expect.
//!
//! # Strictness
//!
//! A host is claimed only when it has the shape of a real login server. A claim sends the node's
//! cloud identity to that host's token flow, so look-alikes (`x.azurecr.io.example`,
//! `gcr.io.evil.com`, `evil-123456789012.dkr.ecr…`) must fall through to host rules, files or
//! nothing. Every grammar below ends in a domain its cloud owns, and the four grammars share no
//! suffix, so at most one of them can match a host.
//!
//! A trailing dot (`gcr.io.`), an empty label, a character outside `[A-Za-z0-9-]`, a label that
//! starts or ends with `-`, or a label longer than 63 bytes is never a registry host that kubelet
//! sends, and such a host is not claimed.

/// The only region ECR Public's API lives in, whatever region the node is in.
pub const ECR_PUBLIC_REGION: &str = "us-east-1";

/// ECR Public's IPv4 host.
const ECR_PUBLIC_HOST: &str = "public.ecr.aws";
/// ECR Public's dual-stack (IPv4 + IPv6) host.
const ECR_PUBLIC_DUAL_STACK_HOST: &str = "ecr-public.aws.com";

/// The hash that a Domain Name Label (DNL) scope adds to an ACR login server: one or more
/// ASCII letters or digits.
///
/// Microsoft's ACR quickstart ("DNS Name Implications of DNL options", MicrosoftDocs
/// azure-management-docs, `container-registry-get-started-portal.md`) gives the format
/// `registryname-hash.azurecr.io` with the example `contosoacrregistry-e7ggejfuhzhgedc8.azurecr.io`.
/// The hash comes from Azure's deterministic naming library (Azure/azure-cli#30404,
/// `--dnl-scope`); its length is Azure's business (16 in every example so far, but nothing
/// promises it), so any length is accepted: what makes the label an ACR host is the registry
/// name before the dash, and the whole label must still fit a DNS label (63 bytes).
fn is_acr_dnl_hash(hash: &str) -> bool {
    !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A registry host claimed by one of the clouds, with what its backend needs from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudRegistry {
    /// A private ECR registry of one account in one region.
    EcrPrivate(EcrHost),
    /// ECR Public.
    EcrPublic(EcrPublicHost),
    /// An Azure Container Registry login server.
    Acr(AcrHost),
    /// Google Container Registry or Artifact Registry.
    Gcr(GcrHost),
}

impl CloudRegistry {
    /// The host as it was given to [`classify`] (original case): the key to answer under.
    #[cfg(test)]
    pub fn host(&self) -> &str {
        match self {
            CloudRegistry::EcrPrivate(h) => &h.host,
            CloudRegistry::EcrPublic(h) => &h.host,
            CloudRegistry::Acr(h) => &h.host,
            CloudRegistry::Gcr(h) => &h.host,
        }
    }

    /// One human sentence on why this host was claimed, for `check`.
    ///
    /// It names the grammar the host matched and the parts read from it, so an operator can see
    /// at a glance which account, region, registry or cloud the credential will be asked for.
    pub fn reason(&self) -> String {
        match self {
            CloudRegistry::EcrPrivate(h) => {
                let mut extras = String::new();
                if h.fips {
                    extras.push_str(", FIPS");
                }
                if h.dual_stack {
                    extras.push_str(", dual-stack");
                }
                format!(
                    "host matches the private ECR grammar <account>.{}.<region>.{} \
                     (account {}, region {}, partition {}{})",
                    h.service_labels(),
                    h.dns_suffix,
                    h.account_id,
                    h.region,
                    h.partition.id(),
                    extras
                )
            }
            CloudRegistry::EcrPublic(h) => {
                let (name, kind) = if h.dual_stack {
                    (ECR_PUBLIC_DUAL_STACK_HOST, "the dual-stack ECR Public host")
                } else {
                    (ECR_PUBLIC_HOST, "the ECR Public host")
                };
                format!(
                    "host is {kind} {name} (its token API is in region {ECR_PUBLIC_REGION}, partition aws)"
                )
            }
            CloudRegistry::Acr(h) => {
                let suffix = h.cloud.registry_suffix();
                let (grammar, dnl) = match &h.dnl_hash {
                    Some(hash) => ("<name>-<hash>", format!(", domain name label hash {hash}")),
                    None => ("<name>", String::new()),
                };
                match &h.geo_region {
                    Some(region) => format!(
                        "host matches the ACR regional login server grammar \
                         {grammar}.<region>.geo.{suffix} (registry {}{dnl}, geo-replica {region}, cloud {})",
                        h.registry_name,
                        h.cloud.name()
                    ),
                    None => format!(
                        "host matches the ACR login server grammar {grammar}.{suffix} \
                         (registry {}{dnl}, cloud {})",
                        h.registry_name,
                        h.cloud.name()
                    ),
                }
            }
            CloudRegistry::Gcr(h) => match &h.kind {
                GcrKind::ContainerRegistry if h.host.eq_ignore_ascii_case("gcr.io") => {
                    "host is Google Container Registry gcr.io".to_string()
                }
                GcrKind::ContainerRegistry => {
                    "host matches the Google Container Registry grammar <name>.gcr.io".to_string()
                }
                GcrKind::ArtifactRegistry { location } => format!(
                    "host matches the Artifact Registry Docker grammar <location>-docker.pkg.dev \
                     (location {location})"
                ),
                GcrKind::ContainerCloud => {
                    "host is Google's container.cloud.google.com registry".to_string()
                }
            },
        }
    }
}

/// Which cloud claims `host`; None when no cloud claims it (then host rules / files / nothing
/// take over).
///
/// `host` is a bare host without port, in any case (see the module docs on case).
pub fn classify(host: &str) -> Option<CloudRegistry> {
    let lower = host.to_ascii_lowercase();
    // Everything below may treat `lower` as ASCII, dot-separated, non-empty labels.
    if !is_dns_name(&lower) {
        return None;
    }
    if let Some(h) = parse_ecr_public(host, &lower) {
        return Some(CloudRegistry::EcrPublic(h));
    }
    if let Some(h) = parse_ecr_private(host, &lower) {
        return Some(CloudRegistry::EcrPrivate(h));
    }
    if let Some(h) = parse_acr(host, &lower) {
        return Some(CloudRegistry::Acr(h));
    }
    parse_gcr(host, &lower).map(CloudRegistry::Gcr)
}

// ---------------------------------------------------------------------------------------------
// AWS ECR
// ---------------------------------------------------------------------------------------------

/// A private ECR registry host: `<account>.dkr.ecr[-fips].<region>.<suffix>` or the dual-stack
/// `<account>.dkr-ecr[-fips].<region>.<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The host as given (original case).
    pub host: String,
    /// The 12-digit AWS account id that owns the registry.
    pub account_id: String,
    /// The region label, lower-case (`us-east-1`); the token must be fetched in this region.
    pub region: String,
    /// The partition the region belongs to; decides STS / ECR endpoints and ARNs.
    pub partition: AwsPartition,
    /// The host asks for the FIPS endpoint (`ecr-fips`); the backend should use FIPS API endpoints.
    pub fips: bool,
    /// The host is a dual-stack name (`dkr-ecr`, on an `on.…` suffix); the backend should use
    /// dual-stack API endpoints, as the node may have no IPv4 route.
    pub dual_stack: bool,
    /// The DNS suffix after the region, lower-case (`amazonaws.com`, `on.aws`, …).
    pub dns_suffix: String,
}

impl EcrHost {
    /// The labels between account and region, as they appear in the host.
    fn service_labels(&self) -> &'static str {
        match (self.dual_stack, self.fips) {
            (false, false) => "dkr.ecr",
            (false, true) => "dkr.ecr-fips",
            (true, false) => "dkr-ecr",
            (true, true) => "dkr-ecr-fips",
        }
    }
}

/// An AWS partition: a set of regions sharing DNS suffixes, endpoints and ARN prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsPartition {
    /// Commercial regions.
    Aws,
    /// China (Beijing, Ningxia).
    AwsCn,
    /// GovCloud (US).
    AwsUsGov,
    /// US ISO (C2S).
    AwsIso,
    /// US ISOB (SC2S).
    AwsIsoB,
    /// EU ISOE.
    AwsIsoE,
    /// US ISOF.
    AwsIsoF,
    /// AWS European Sovereign Cloud.
    AwsEusc,
}

impl AwsPartition {
    /// The partition id as AWS writes it in ARNs and endpoint metadata.
    pub fn id(&self) -> &'static str {
        match self {
            AwsPartition::Aws => "aws",
            AwsPartition::AwsCn => "aws-cn",
            AwsPartition::AwsUsGov => "aws-us-gov",
            AwsPartition::AwsIso => "aws-iso",
            AwsPartition::AwsIsoB => "aws-iso-b",
            AwsPartition::AwsIsoE => "aws-iso-e",
            AwsPartition::AwsIsoF => "aws-iso-f",
            AwsPartition::AwsEusc => "aws-eusc",
        }
    }

    /// The partition a region name belongs to, from its prefix.
    ///
    /// The prefixes are those of the AWS SDK partition metadata (`regionRegex`): `cn-`,
    /// `us-gov-`, `us-iso-`, `us-isob-`, `eu-isoe-`, `us-isof-`, `eusc-de-`. Every other region is
    /// commercial; a whitelist of commercial prefixes (`us|eu|ap|…`) would reject the next new
    /// geography (as `mx-` and `il-` once were new) for no gain.
    pub fn of_region(region: &str) -> AwsPartition {
        if region.starts_with("cn-") {
            AwsPartition::AwsCn
        } else if region.starts_with("us-gov-") {
            AwsPartition::AwsUsGov
        } else if region.starts_with("us-iso-") {
            AwsPartition::AwsIso
        } else if region.starts_with("us-isob-") {
            AwsPartition::AwsIsoB
        } else if region.starts_with("eu-isoe-") {
            AwsPartition::AwsIsoE
        } else if region.starts_with("us-isof-") {
            AwsPartition::AwsIsoF
        } else if region.starts_with("eusc-") {
            AwsPartition::AwsEusc
        } else {
            AwsPartition::Aws
        }
    }
}

/// The ECR Public registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrPublicHost {
    /// The host as given (original case).
    pub host: String,
    /// `ecr-public.aws.com` (dual-stack) rather than `public.ecr.aws` (IPv4 only).
    pub dual_stack: bool,
}

/// One DNS suffix an ECR registry host can end in.
struct EcrSuffix {
    suffix: &'static str,
    /// Dual-stack suffixes carry `dkr-ecr` hosts; the others carry `dkr.ecr` hosts.
    dual_stack: bool,
    /// The partitions whose regions live under this suffix.
    partitions: &'static [AwsPartition],
}

/// Every suffix a private ECR registry host ends in.
///
/// From the reference plugin's host pattern (kubernetes/cloud-provider-aws, `ecrPrivateHostPattern`
/// in `cmd/ecr-credential-provider/main.go`) and the credential helper's
/// (awslabs/amazon-ecr-credential-helper, `ecrPattern`), which adds `amazonaws.eu` (partition
/// `aws-eusc`). Decisions where those regexes are looser than the real names:
/// - A host's label form must agree with its suffix: `dkr.ecr` on the IPv4 suffixes, `dkr-ecr` on
///   the dual-stack `on.aws` / `on.amazonwebservices.com.cn`. AWS documents the dual-stack registry
///   endpoint only as `<account>.dkr-ecr.<region>.on.aws`; `dkr.ecr.<region>.on.aws` and
///   `dkr-ecr.<region>.amazonaws.com` do not exist, and claiming them would only hide typos.
/// - The region must belong to a partition the suffix serves: `cn-north-1.amazonaws.com` or
///   `us-east-1.c2s.ic.gov` name no registry.
/// - Dual-stack names of the isolated and sovereign partitions are not listed: no AWS source
///   that this module relies on documents them for ECR.
const ECR_SUFFIXES: &[EcrSuffix] = &[
    EcrSuffix {
        suffix: "amazonaws.com",
        dual_stack: false,
        partitions: &[AwsPartition::Aws, AwsPartition::AwsUsGov],
    },
    EcrSuffix {
        suffix: "amazonaws.com.cn",
        dual_stack: false,
        partitions: &[AwsPartition::AwsCn],
    },
    EcrSuffix {
        suffix: "amazonaws.eu",
        dual_stack: false,
        partitions: &[AwsPartition::AwsEusc],
    },
    EcrSuffix {
        suffix: "on.aws",
        dual_stack: true,
        partitions: &[AwsPartition::Aws, AwsPartition::AwsUsGov],
    },
    EcrSuffix {
        suffix: "on.amazonwebservices.com.cn",
        dual_stack: true,
        partitions: &[AwsPartition::AwsCn],
    },
    EcrSuffix {
        suffix: "c2s.ic.gov",
        dual_stack: false,
        partitions: &[AwsPartition::AwsIso],
    },
    EcrSuffix {
        suffix: "sc2s.sgov.gov",
        dual_stack: false,
        partitions: &[AwsPartition::AwsIsoB],
    },
    EcrSuffix {
        suffix: "cloud.adc-e.uk",
        dual_stack: false,
        partitions: &[AwsPartition::AwsIsoE],
    },
    EcrSuffix {
        suffix: "csp.hci.ic.gov",
        dual_stack: false,
        partitions: &[AwsPartition::AwsIsoF],
    },
];

/// ECR Public: exactly its two host names, nothing under or around them.
fn parse_ecr_public(host: &str, lower: &str) -> Option<EcrPublicHost> {
    let dual_stack = match lower {
        ECR_PUBLIC_HOST => false,
        ECR_PUBLIC_DUAL_STACK_HOST => true,
        _ => return None,
    };
    Some(EcrPublicHost {
        host: host.to_string(),
        dual_stack,
    })
}

/// Private ECR: `<12 digits>.dkr.ecr[-fips].<region>.<suffix>` /
/// `<12 digits>.dkr-ecr[-fips].<region>.<suffix>`, every label accounted for.
fn parse_ecr_private(host: &str, lower: &str) -> Option<EcrHost> {
    // No suffix is a dot-suffix of another, so at most one entry can match.
    ECR_SUFFIXES.iter().find_map(|s| {
        let rest = lower.strip_suffix(s.suffix)?.strip_suffix('.')?;
        let labels: Vec<&str> = rest.split('.').collect();
        let (account, dual_stack, fips, region) = match labels.as_slice() {
            [account, "dkr", "ecr", region] => (*account, false, false, *region),
            [account, "dkr", "ecr-fips", region] => (*account, false, true, *region),
            [account, "dkr-ecr", region] => (*account, true, false, *region),
            [account, "dkr-ecr-fips", region] => (*account, true, true, *region),
            _ => return None,
        };
        if dual_stack != s.dual_stack || !is_aws_account_id(account) || !is_aws_region(region) {
            return None;
        }
        let partition = AwsPartition::of_region(region);
        if !s.partitions.contains(&partition) {
            return None;
        }
        Some(EcrHost {
            host: host.to_string(),
            account_id: account.to_string(),
            region: region.to_string(),
            partition,
            fips,
            dual_stack,
            dns_suffix: s.suffix.to_string(),
        })
    })
}

/// An AWS account id is exactly 12 decimal digits (leading zeros included); also a host
/// rule's `registryId`.
pub fn is_aws_account_id(label: &str) -> bool {
    label.len() == 12 && label.bytes().all(|b| b.is_ascii_digit())
}

/// A region name: `<letters>(-<letters>)+-<digits>`, the first part at least 2 letters.
///
/// This covers `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-isoe-west-1`, `us-isof-south-1`
/// and the European Sovereign Cloud's `eusc-de-east-1`, whose first part has four letters (the
/// SDK partition metadata gives `^eusc\-(de)\-\w+\-\d+$`), so a two-letter-prefix rule would be
/// wrong.
fn is_aws_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    first.len() >= 2
        && letters(first)
        && !middle.is_empty()
        && middle.iter().all(|p| letters(p))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Azure ACR
// ---------------------------------------------------------------------------------------------

/// An ACR login server: `<name>.azurecr.<tld>`, the regional `<name>.<region>.geo.azurecr.<tld>`,
/// and either with a DNL hash (`<name>-<hash>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcrHost {
    /// The host as given (original case).
    pub host: String,
    /// The registry's resource name, lower-case, without DNL hash (5–50 alphanumerics).
    pub registry_name: String,
    /// The Azure cloud the registry suffix belongs to.
    pub cloud: AzureCloud,
    /// The geo-replica region of a regional endpoint (`eastus2`), lower-case.
    pub geo_region: Option<String>,
    /// The Domain Name Label hash of a DNL-protected registry, lower-case.
    pub dnl_hash: Option<String>,
}

/// An Azure cloud that hosts ACR, known by its registry suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureCloud {
    /// Azure public cloud: `azurecr.io`.
    Public,
    /// Azure China (21Vianet): `azurecr.cn`.
    China,
    /// Azure Germany: `azurecr.de`.
    Germany,
    /// Azure US Government: `azurecr.us`.
    UsGovernment,
}

impl AzureCloud {
    /// The cloud's registry DNS suffix, without a leading dot: `azurecr.io`, `azurecr.cn`, ….
    pub fn registry_suffix(&self) -> &'static str {
        match self {
            AzureCloud::Public => "azurecr.io",
            AzureCloud::China => "azurecr.cn",
            AzureCloud::Germany => "azurecr.de",
            AzureCloud::UsGovernment => "azurecr.us",
        }
    }

    /// The cloud's name as azure.json's `cloud` field spells it.
    pub fn name(&self) -> &'static str {
        match self {
            AzureCloud::Public => "AzurePublicCloud",
            AzureCloud::China => "AzureChinaCloud",
            AzureCloud::Germany => "AzureGermanCloud",
            AzureCloud::UsGovernment => "AzureUSGovernmentCloud",
        }
    }
}

const AZURE_CLOUDS: [AzureCloud; 4] = [
    AzureCloud::Public,
    AzureCloud::China,
    AzureCloud::Germany,
    AzureCloud::UsGovernment,
];

/// ACR login servers, and nothing else under `azurecr.<tld>`.
///
/// Unlike the reference plugin, which falls back to "contains the suffix" and so claims
/// `x.azurecr.io.example`, the suffix must end the host.
fn parse_acr(host: &str, lower: &str) -> Option<AcrHost> {
    AZURE_CLOUDS.iter().find_map(|&cloud| {
        let rest = lower
            .strip_suffix(cloud.registry_suffix())?
            .strip_suffix('.')?;
        let labels: Vec<&str> = rest.split('.').collect();
        let (login, geo_region) = match labels.as_slice() {
            [login] => (*login, None),
            // Regional endpoint of a geo-replica (Microsoft docs "Geo-replication … How regional
            // endpoints work"; kubernetes-sigs/cloud-provider-azure#10720).
            [login, region, "geo"] if is_azure_region(region) => (*login, Some(region.to_string())),
            // `<name>.<region>.data.azurecr.<tld>` is a dedicated data endpoint: the login server
            // redirects layer downloads there, but it answers no token challenge, so it is not a
            // registry to fetch credentials for. Anything else (`a.b.azurecr.io`,
            // `<name>.privatelink.azurecr.io`) is not a login server either.
            _ => return None,
        };
        let (registry_name, dnl_hash) = parse_acr_login_label(login)?;
        Some(AcrHost {
            host: host.to_string(),
            registry_name: registry_name.to_string(),
            cloud,
            geo_region,
            dnl_hash: dnl_hash.map(str::to_string),
        })
    })
}

/// Splits the first label of an ACR host into registry name and optional DNL hash.
///
/// Registry names are 5–50 alphanumerics: ARM and `az acr create` reject anything else
/// (Azure CLI `validate_registry_name`: `^[a-zA-Z0-9]{5,50}$`), so a label outside that range
/// cannot be a registry; it is some other host in Microsoft's domain or a typo, and claiming it
/// would only turn a clear "no credentials" into a confusing token-exchange failure.
///
/// A DNL-protected registry's label is `<name>-<hash>`: names may not contain `-` precisely so
/// that the dash delimits the hash (see [`is_acr_dnl_hash`] for the hash shape). The label is
/// split at its last dash, so a second dash lands in the name and is refused. The whole label
/// must still fit DNS's 63 bytes (checked by [`is_dns_name`] before any grammar runs), so the
/// name and hash together are at most 62 characters.
fn parse_acr_login_label(label: &str) -> Option<(&str, Option<&str>)> {
    let is_name =
        |s: &str| (5..=50).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match label.rsplit_once('-') {
        None => is_name(label).then_some((label, None)),
        Some((name, hash)) => {
            (is_name(name) && is_acr_dnl_hash(hash)).then_some((name, Some(hash)))
        }
    }
}

/// An Azure region name as used in regional endpoints: lower-case letters then letters or digits
/// (`eastus2`, `westeurope`, `usgovvirginia`, `chinanorth3`, `eastus2euap`).
fn is_azure_region(label: &str) -> bool {
    let mut bytes = label.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Google GCR / Artifact Registry
// ---------------------------------------------------------------------------------------------

/// A Google registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcrHost {
    /// The host as given (original case).
    pub host: String,
    /// Which Google registry the host is.
    pub kind: GcrKind,
}

/// The Google registry families the plugin serves; all take the same OAuth access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcrKind {
    /// Container Registry: `gcr.io` and `<name>.gcr.io` (`us.gcr.io`, `staging-k8s.gcr.io`, …).
    ContainerRegistry,
    /// Artifact Registry's Docker hosts: `<location>-docker.pkg.dev`.
    ArtifactRegistry {
        /// The region or multi-region, lower-case: `us-central1`, `europe`, `asia`.
        location: String,
    },
    /// `container.cloud.google.com`.
    ContainerCloud,
}

/// Google's registry hosts.
///
/// - `<name>.gcr.io` takes exactly one label, as kubelet's `*.gcr.io` pattern does (a `*` there
///   matches one label); `x.y.gcr.io` names no Container Registry host.
/// - `*.pkg.dev` also serves other package formats (`us-python.pkg.dev`, `us-maven.pkg.dev`, …);
///   only `<location>-docker.pkg.dev` is a container registry.
fn parse_gcr(host: &str, lower: &str) -> Option<GcrHost> {
    let kind = match lower {
        "gcr.io" => GcrKind::ContainerRegistry,
        "container.cloud.google.com" => GcrKind::ContainerCloud,
        _ => {
            if let Some(name) = lower.strip_suffix(".gcr.io") {
                if name.is_empty() || name.contains('.') {
                    return None;
                }
                GcrKind::ContainerRegistry
            } else {
                let label = lower.strip_suffix(".pkg.dev")?;
                let location = label.strip_suffix("-docker")?;
                if !is_gcp_location(location) {
                    return None;
                }
                GcrKind::ArtifactRegistry {
                    location: location.to_string(),
                }
            }
        }
    };
    Some(GcrHost {
        host: host.to_string(),
        kind,
    })
}

/// A Google Cloud location: a letter, then letters, digits and single inner dashes
/// (`us`, `europe`, `us-central1`, `northamerica-northeast1`).
fn is_gcp_location(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// DNS shape
// ---------------------------------------------------------------------------------------------

/// A DNS host name: at most 253 bytes of dot-separated labels of 1–63 bytes from
/// `[A-Za-z0-9-]` that neither start nor end with `-`. The one DNS-name check of the crate:
/// the cloud grammars, `--registry-mirror` and ACR's custom-cloud hosts use it.
///
/// Checking this first means the grammars never see non-ASCII text (no slicing inside a UTF-8
/// sequence), empty labels (`a..b`, a trailing dot) or anything a URL parser would have split
/// (`user@`, `/`, `:`).
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label)
}

fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Splits `host[:port]` at the port's colon; a bracketed IPv6 host keeps its brackets. Text
/// after `]` that is not `:port` stays part of the host, which then fails validation.
pub fn split_host_port(registry: &str) -> (&str, Option<&str>) {
    let host_end = match registry.find(']') {
        Some(i) if registry.starts_with('[') => i + 1,
        _ => 0,
    };
    match registry[host_end..].find(':') {
        Some(i) => (
            &registry[..host_end + i],
            Some(&registry[host_end + i + 1..]),
        ),
        None => (registry, None),
    }
}

/// Whether `host` is a login server of an Azure custom cloud: `<name>.<suffix>`, with
/// `suffix` azure.json's `containerRegistryDNSSuffix` and `<name>` one label of 5–63 letters,
/// digits or dashes. `host` is compared lower-cased, `suffix` as written.
pub fn is_acr_custom_cloud_host(host: &str, suffix: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(label) = host
        .strip_suffix(suffix)
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return false;
    };
    (5..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecr(host: &str) -> EcrHost {
        match classify(host) {
            Some(CloudRegistry::EcrPrivate(h)) => h,
            other => panic!("{host} should be private ECR, got {other:?}"),
        }
    }

    fn acr(host: &str) -> AcrHost {
        match classify(host) {
            Some(CloudRegistry::Acr(h)) => h,
            other => panic!("{host} should be ACR, got {other:?}"),
        }
    }

    fn gcr(host: &str) -> GcrHost {
        match classify(host) {
            Some(CloudRegistry::Gcr(h)) => h,
            other => panic!("{host} should be GCR, got {other:?}"),
        }
    }

    fn unclaimed(hosts: &[&str]) {
        for host in hosts {
            assert_eq!(classify(host), None, "{host:?} must not be claimed");
        }
    }

    // --- ECR private: partitions -------------------------------------------------------------

    #[test]
    fn commercial_private_host_gives_account_region_and_partition() {
        assert_eq!(
            ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            EcrHost {
                host: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                partition: AwsPartition::Aws,
                fips: false,
                dual_stack: false,
                dns_suffix: "amazonaws.com".into(),
            }
        );
    }

    #[test]
    fn account_id_keeps_leading_zeros() {
        assert_eq!(
            ecr("000000000001.dkr.ecr.eu-west-1.amazonaws.com").account_id,
            "000000000001"
        );
    }

    #[test]
    fn fips_host_sets_fips() {
        let h = ecr("123456789012.dkr.ecr-fips.us-east-2.amazonaws.com");
        assert!(h.fips);
        assert!(!h.dual_stack);
        assert_eq!(h.region, "us-east-2");
        assert_eq!(h.partition, AwsPartition::Aws);
    }

    #[test]
    fn dual_stack_on_aws_host_sets_dual_stack() {
        let h = ecr("123456789012.dkr-ecr.us-west-2.on.aws");
        assert!(h.dual_stack);
        assert!(!h.fips);
        assert_eq!(h.region, "us-west-2");
        assert_eq!(h.partition, AwsPartition::Aws);
        assert_eq!(h.dns_suffix, "on.aws");
    }

    #[test]
    fn dual_stack_fips_host_sets_both() {
        let h = ecr("123456789012.dkr-ecr-fips.us-east-1.on.aws");
        assert!(h.dual_stack);
        assert!(h.fips);
        assert_eq!(h.partition, AwsPartition::Aws);
    }

    #[test]
    fn us_gov_region_on_amazonaws_com_is_us_gov_partition() {
        let h = ecr("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com");
        assert_eq!(h.partition, AwsPartition::AwsUsGov);
        assert_eq!(h.region, "us-gov-west-1");
        let h = ecr("123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com");
        assert_eq!(
            (h.partition, h.fips, h.dual_stack),
            (AwsPartition::AwsUsGov, true, false)
        );
    }

    #[test]
    fn us_gov_region_on_on_aws_is_us_gov_dual_stack() {
        let h = ecr("123456789012.dkr-ecr.us-gov-west-1.on.aws");
        assert_eq!(
            (h.partition, h.fips, h.dual_stack),
            (AwsPartition::AwsUsGov, false, true)
        );
        let h = ecr("123456789012.dkr-ecr-fips.us-gov-east-1.on.aws");
        assert_eq!(
            (h.partition, h.fips, h.dual_stack),
            (AwsPartition::AwsUsGov, true, true)
        );
    }

    #[test]
    fn china_hosts_are_aws_cn_both_stacks() {
        let h = ecr("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn");
        assert_eq!((h.partition, h.dual_stack), (AwsPartition::AwsCn, false));
        assert_eq!(h.dns_suffix, "amazonaws.com.cn");
        let h = ecr("123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn");
        assert_eq!((h.partition, h.dual_stack), (AwsPartition::AwsCn, true));
        assert_eq!(h.region, "cn-northwest-1");
        assert_eq!(h.dns_suffix, "on.amazonwebservices.com.cn");
    }

    #[test]
    fn european_sovereign_cloud_host_is_aws_eusc() {
        let h = ecr("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu");
        assert_eq!(h.partition, AwsPartition::AwsEusc);
        assert_eq!(h.region, "eusc-de-east-1");
        assert_eq!(h.dns_suffix, "amazonaws.eu");
        assert!(ecr("123456789012.dkr.ecr-fips.eusc-de-east-1.amazonaws.eu").fips);
    }

    #[test]
    fn isolated_partitions_come_from_their_suffixes() {
        let cases = [
            (
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                AwsPartition::AwsIso,
            ),
            (
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                AwsPartition::AwsIsoB,
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                AwsPartition::AwsIsoE,
            ),
            (
                "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
                AwsPartition::AwsIsoF,
            ),
            (
                "123456789012.dkr.ecr-fips.us-isof-east-1.csp.hci.ic.gov",
                AwsPartition::AwsIsoF,
            ),
        ];
        for (host, partition) in cases {
            assert_eq!(ecr(host).partition, partition, "{host}");
        }
    }

    #[test]
    fn partition_ids_are_the_aws_spellings() {
        let ids: Vec<&str> = [
            AwsPartition::Aws,
            AwsPartition::AwsCn,
            AwsPartition::AwsUsGov,
            AwsPartition::AwsIso,
            AwsPartition::AwsIsoB,
            AwsPartition::AwsIsoE,
            AwsPartition::AwsIsoF,
            AwsPartition::AwsEusc,
        ]
        .iter()
        .map(AwsPartition::id)
        .collect();
        assert_eq!(
            ids,
            [
                "aws",
                "aws-cn",
                "aws-us-gov",
                "aws-iso",
                "aws-iso-b",
                "aws-iso-e",
                "aws-iso-f",
                "aws-eusc"
            ]
        );
    }

    #[test]
    fn newer_commercial_regions_are_accepted() {
        for region in [
            "mx-central-1",
            "ap-southeast-7",
            "il-central-1",
            "ca-west-1",
            "me-central-1",
        ] {
            let host = format!("123456789012.dkr.ecr.{region}.amazonaws.com");
            assert_eq!(ecr(&host).region, region);
        }
    }

    // --- ECR private: rejections -------------------------------------------------------------

    #[test]
    fn account_id_must_be_exactly_twelve_digits() {
        unclaimed(&[
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
            "dkr.ecr.us-east-1.amazonaws.com",
        ]);
    }

    #[test]
    fn ecr_look_alike_suffixes_and_prefixes_are_not_claimed() {
        unclaimed(&[
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io",
            "evil-123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.evil.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.evil.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.co",
            "123456789012.dkr.ecr.us-east-1.notamazonaws.com",
            "123456789012.dkr.ecr.us-east-1.on.aws.evil.io",
            "123456789012.dkr.ecs.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr-fipsx.us-east-1.amazonaws.com",
            "123456789012.dkrecr.us-east-1.amazonaws.com",
        ]);
    }

    #[test]
    fn ecr_region_must_be_present_and_region_shaped() {
        unclaimed(&[
            "123456789012.dkr.ecr..amazonaws.com",
            "123456789012.dkr.ecr.amazonaws.com",
            "123456789012.dkr.ecr.useast1.amazonaws.com",
            "123456789012.dkr.ecr.us-east.amazonaws.com",
            "123456789012.dkr.ecr.u-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1a.amazonaws.com",
            "123456789012.dkr.ecr.us_east_1.amazonaws.com",
            "123456789012.dkr-ecr.on.aws",
        ]);
    }

    #[test]
    fn ecr_region_must_belong_to_the_suffix_partition() {
        unclaimed(&[
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.us-iso-east-1.amazonaws.com",
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.eu",
            "123456789012.dkr.ecr.us-east-1.c2s.ic.gov",
            "123456789012.dkr.ecr.us-iso-east-1.sc2s.sgov.gov",
            "123456789012.dkr-ecr.cn-north-1.on.aws",
            "123456789012.dkr-ecr.us-east-1.on.amazonwebservices.com.cn",
        ]);
    }

    #[test]
    fn ecr_label_form_must_agree_with_the_suffix_stack() {
        unclaimed(&[
            // IPv4 labels on a dual-stack suffix, and the reverse: neither name exists.
            "123456789012.dkr.ecr.us-east-1.on.aws",
            "123456789012.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
            "123456789012.dkr-ecr.us-east-1.amazonaws.com",
            "123456789012.dkr-ecr.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr-ecr.us-iso-east-1.c2s.ic.gov",
        ]);
    }

    // --- ECR public --------------------------------------------------------------------------

    #[test]
    fn ecr_public_has_two_names() {
        assert_eq!(
            classify("public.ecr.aws"),
            Some(CloudRegistry::EcrPublic(EcrPublicHost {
                host: "public.ecr.aws".into(),
                dual_stack: false
            }))
        );
        assert_eq!(
            classify("ecr-public.aws.com"),
            Some(CloudRegistry::EcrPublic(EcrPublicHost {
                host: "ecr-public.aws.com".into(),
                dual_stack: true
            }))
        );
        assert_eq!(ECR_PUBLIC_REGION, "us-east-1");
    }

    #[test]
    fn ecr_public_look_alikes_are_not_claimed() {
        unclaimed(&[
            "public.ecr.aws.evil.com",
            "evilpublic.ecr.aws",
            "x.public.ecr.aws",
            "ecr.aws",
            "ecr-public.aws.com.evil.com",
            "public.ecr.aws.",
            "public.ecr.aws/nginx",
        ]);
    }

    // --- ACR ---------------------------------------------------------------------------------

    #[test]
    fn acr_login_servers_in_all_four_clouds() {
        let cases = [
            (
                "myregistry.azurecr.io",
                AzureCloud::Public,
                "azurecr.io",
                "AzurePublicCloud",
            ),
            (
                "myregistry.azurecr.cn",
                AzureCloud::China,
                "azurecr.cn",
                "AzureChinaCloud",
            ),
            (
                "myregistry.azurecr.de",
                AzureCloud::Germany,
                "azurecr.de",
                "AzureGermanCloud",
            ),
            (
                "myregistry.azurecr.us",
                AzureCloud::UsGovernment,
                "azurecr.us",
                "AzureUSGovernmentCloud",
            ),
        ];
        for (host, cloud, suffix, name) in cases {
            assert_eq!(
                acr(host),
                AcrHost {
                    host: host.into(),
                    registry_name: "myregistry".into(),
                    cloud,
                    geo_region: None,
                    dnl_hash: None,
                }
            );
            assert_eq!(cloud.registry_suffix(), suffix);
            assert_eq!(cloud.name(), name);
        }
    }

    #[test]
    fn acr_regional_geo_endpoint_gives_region() {
        let h = acr("myregistry.eastus2.geo.azurecr.io");
        assert_eq!(h.registry_name, "myregistry");
        assert_eq!(h.geo_region.as_deref(), Some("eastus2"));
        assert_eq!(h.dnl_hash, None);
        let h = acr("myregistry.usgovvirginia.geo.azurecr.us");
        assert_eq!(h.cloud, AzureCloud::UsGovernment);
        assert_eq!(h.geo_region.as_deref(), Some("usgovvirginia"));
    }

    #[test]
    fn acr_dnl_host_splits_name_and_hash() {
        let h = acr("contosoacrregistry-e7ggejfuhzhgedc8.azurecr.io");
        assert_eq!(h.registry_name, "contosoacrregistry");
        assert_eq!(h.dnl_hash.as_deref(), Some("e7ggejfuhzhgedc8"));
        assert_eq!(h.geo_region, None);
    }

    #[test]
    fn acr_dnl_host_with_geo_endpoint() {
        let h = acr("contosoacrregistry-e7ggejfuhzhgedc8.westeurope.geo.azurecr.io");
        assert_eq!(h.registry_name, "contosoacrregistry");
        assert_eq!(h.dnl_hash.as_deref(), Some("e7ggejfuhzhgedc8"));
        assert_eq!(h.geo_region.as_deref(), Some("westeurope"));
    }

    #[test]
    fn acr_dnl_hash_may_have_any_length() {
        // 16 is every published example; the others are lengths Azure might choose.
        for len in [1, 8, 15, 16, 17, 40] {
            let hash: String = "e7ggejfuhzhgedc8".chars().cycle().take(len).collect();
            let h = acr(&format!("myregistry-{hash}.azurecr.io"));
            assert_eq!(h.registry_name, "myregistry", "hash of {len}");
            assert_eq!(h.dnl_hash.as_deref(), Some(hash.as_str()), "hash of {len}");
            let geo = acr(&format!("myregistry-{hash}.westeurope.geo.azurecr.io"));
            assert_eq!(
                geo.dnl_hash.as_deref(),
                Some(hash.as_str()),
                "hash of {len}"
            );
        }
        for hash in ["0123456789", "E7GGEJFUHZHGEDC8AB"] {
            // Hosts are matched case-insensitively; the hash is kept in lower case.
            let h = acr(&format!("myregistry-{hash}.azurecr.io"));
            assert_eq!(h.dnl_hash, Some(hash.to_ascii_lowercase()));
        }
        let h = acr("myregistry-abc.eastus2.geo.azurecr.us");
        assert_eq!(h.dnl_hash.as_deref(), Some("abc"));
        assert_eq!(h.geo_region.as_deref(), Some("eastus2"));
        assert_eq!(h.cloud, AzureCloud::UsGovernment);
    }

    #[test]
    fn acr_dnl_label_must_be_a_name_a_dash_and_an_alphanumeric_hash() {
        unclaimed(&[
            "myregistry-.azurecr.io",
            "-e7ggejfuhzhgedc8.azurecr.io",
            "myregistry-e7ggejfu-hzhgedc8.azurecr.io",
            "my-registry-e7ggejfuhzhgedc8.azurecr.io",
            "myregistry--e7ggejfuhzhgedc8.azurecr.io",
            "myregistry-e7gg_ejfu.azurecr.io",
            "abcd-e7ggejfuhzhgedc8.azurecr.io", // name too short
            "myregistry-e7ggejfuhzhgedc8.eastus.data.azurecr.io",
            "myregistry-e7ggejfuhzhgedc8.azurecr.io.example",
        ]);
    }

    #[test]
    fn acr_data_endpoints_are_not_login_servers() {
        unclaimed(&[
            "myregistry.eastus.data.azurecr.io",
            "myregistry.chinanorth3.data.azurecr.cn",
            "contosoacrregistry-e7ggejfuhzhgedc8.eastus.data.azurecr.io",
        ]);
    }

    #[test]
    fn acr_look_alikes_are_not_claimed() {
        unclaimed(&[
            "myregistry.azurecr.io.example",
            "azurecr.io",
            "a.b.azurecr.io",
            "myregistry.b.azurecr.io",
            "myregistry.eastus.geo.azurecr.io.evil.com",
            "myregistry.east-us.geo.azurecr.io",
            "myregistry.2east.geo.azurecr.io",
            "myregistry.geo.azurecr.io",
            "x.myregistry.eastus.geo.azurecr.io",
            "myregistry.privatelink.azurecr.io",
            "myregistry.azurecr.com",
            "myregistryazurecr.io",
            "myregistry.azurecr.fr",
        ]);
    }

    #[test]
    fn acr_name_length_is_five_to_fifty() {
        unclaimed(&["abcd.azurecr.io", &format!("{}.azurecr.io", "a".repeat(51))]);
        assert_eq!(acr("abcde.azurecr.io").registry_name, "abcde");
        let fifty = "a".repeat(50);
        assert_eq!(acr(&format!("{fifty}.azurecr.io")).registry_name, fifty);
    }

    #[test]
    fn acr_dnl_label_must_fit_in_a_dns_label() {
        let hash = "e7ggejfuhzhgedc8";
        let ok = "a".repeat(46);
        assert_eq!(acr(&format!("{ok}-{hash}.azurecr.io")).registry_name, ok);
        unclaimed(&[&format!("{}-{hash}.azurecr.io", "a".repeat(47))]);
        // Any hash length, as long as the label stays within 63 bytes.
        let long_hash = "h".repeat(57);
        assert_eq!(
            acr(&format!("abcde-{long_hash}.azurecr.io")).dnl_hash,
            Some(long_hash.clone())
        );
        unclaimed(&[&format!("abcde-{long_hash}h.azurecr.io")]);
        let fifty = "n".repeat(50);
        assert_eq!(
            acr(&format!("{fifty}-{}.azurecr.io", "h".repeat(12))).registry_name,
            fifty
        );
        unclaimed(&[&format!("{fifty}-{}.azurecr.io", "h".repeat(13))]);
    }

    // --- Google ------------------------------------------------------------------------------

    #[test]
    fn container_registry_hosts() {
        for host in [
            "gcr.io",
            "us.gcr.io",
            "eu.gcr.io",
            "asia.gcr.io",
            "staging-k8s.gcr.io",
            "k8s.gcr.io",
        ] {
            assert_eq!(
                gcr(host),
                GcrHost {
                    host: host.into(),
                    kind: GcrKind::ContainerRegistry
                }
            );
        }
    }

    #[test]
    fn artifact_registry_docker_hosts_give_location() {
        for (host, location) in [
            ("us-central1-docker.pkg.dev", "us-central1"),
            ("europe-docker.pkg.dev", "europe"),
            ("asia-docker.pkg.dev", "asia"),
            (
                "northamerica-northeast1-docker.pkg.dev",
                "northamerica-northeast1",
            ),
        ] {
            assert_eq!(
                gcr(host).kind,
                GcrKind::ArtifactRegistry {
                    location: location.into()
                },
                "{host}"
            );
        }
    }

    #[test]
    fn container_cloud_host() {
        assert_eq!(
            gcr("container.cloud.google.com").kind,
            GcrKind::ContainerCloud
        );
    }

    #[test]
    fn google_look_alikes_are_not_claimed() {
        unclaimed(&[
            "gcr.io.evil.com",
            "evilgcr.io",
            "x.y.gcr.io",
            "pkg.dev",
            "foo.pkg.dev",
            "docker.pkg.dev",
            "us-python.pkg.dev",
            "us-maven.pkg.dev",
            "us--docker.pkg.dev",
            "us--central1-docker.pkg.dev",
            "1us-docker.pkg.dev",
            "a.us-docker.pkg.dev",
            "us-docker.pkg.dev.evil.com",
            "cloud.google.com",
            "x.container.cloud.google.com",
            "container.cloud.google.com.evil.com",
        ]);
    }

    // --- Across clouds -----------------------------------------------------------------------

    #[test]
    fn upper_case_input_is_claimed_and_host_is_kept_as_sent() {
        let h = ecr("123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM");
        assert_eq!(h.host, "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.dns_suffix, "amazonaws.com");

        let h = acr("MyRegistry.EastUS.Geo.AzureCR.io");
        assert_eq!(h.host, "MyRegistry.EastUS.Geo.AzureCR.io");
        assert_eq!(h.registry_name, "myregistry");
        assert_eq!(h.geo_region.as_deref(), Some("eastus"));

        let h = gcr("US-Central1-Docker.PKG.dev");
        assert_eq!(h.host, "US-Central1-Docker.PKG.dev");
        assert_eq!(
            h.kind,
            GcrKind::ArtifactRegistry {
                location: "us-central1".into()
            }
        );

        let public = classify("Public.ECR.aws").expect("claimed");
        assert_eq!(public.host(), "Public.ECR.aws");
        assert!(matches!(public, CloudRegistry::EcrPublic(_)));
    }

    #[test]
    fn hosts_of_no_cloud_are_not_claimed() {
        unclaimed(&[
            "docker.io",
            "registry-1.docker.io",
            "quay.io",
            "ghcr.io",
            "mcr.microsoft.com",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "my-mirror.example.com",
        ]);
    }

    #[test]
    fn empty_and_malformed_input_is_not_claimed() {
        unclaimed(&[
            "",
            " ",
            ".",
            "..",
            "gcr.io.",
            ".gcr.io",
            " gcr.io",
            "gcr.io ",
            "gcr.io:443",
            "https://gcr.io",
            "user@us.gcr.io",
            "us_east.gcr.io",
            "a/b.gcr.io",
            "a*.gcr.io",
            "-us.gcr.io",
            "us-.gcr.io",
            &format!("{}.gcr.io", "a".repeat(64)),
            &"a.".repeat(200),
        ]);
    }

    #[test]
    fn odd_unicode_does_not_panic_and_is_not_claimed() {
        unclaimed(&[
            "gcr.\u{0456}o",               // Cyrillic і
            "\u{FF47}\u{FF43}\u{FF52}.io", // fullwidth gcr
            "public.ecr.aws\u{0}",
            "\u{1F600}.azurecr.io",
            "stra\u{00DF}e.gcr.io",
            "\u{0130}.gcr.io", // İ lowercases to two chars in Unicode
            "123456789012.dkr.ecr.us-east-\u{0661}.amazonaws.com", // Arabic-Indic digit one
            "myregistry\u{200B}.azurecr.io", // zero-width space
            "\u{202E}oi.rcg",  // right-to-left override
            "\u{FFFD}",
        ]);
    }

    #[test]
    fn reasons_name_the_grammar_and_the_parts() {
        let reason = |h: &str| classify(h).map(|r| r.reason()).unwrap_or_default();
        assert_eq!(
            reason("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "host matches the private ECR grammar <account>.dkr.ecr.<region>.amazonaws.com \
             (account 123456789012, region us-east-1, partition aws)"
        );
        assert_eq!(
            reason("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws"),
            "host matches the private ECR grammar <account>.dkr-ecr-fips.<region>.on.aws \
             (account 123456789012, region us-gov-west-1, partition aws-us-gov, FIPS, dual-stack)"
        );
        assert_eq!(
            reason("ecr-public.aws.com"),
            "host is the dual-stack ECR Public host ecr-public.aws.com \
             (its token API is in region us-east-1, partition aws)"
        );
        assert_eq!(
            reason("myregistry.azurecr.cn"),
            "host matches the ACR login server grammar <name>.azurecr.cn \
             (registry myregistry, cloud AzureChinaCloud)"
        );
        assert_eq!(
            reason("contosoacrregistry-e7ggejfuhzhgedc8.eastus2.geo.azurecr.io"),
            "host matches the ACR regional login server grammar <name>-<hash>.<region>.geo.azurecr.io \
             (registry contosoacrregistry, domain name label hash e7ggejfuhzhgedc8, \
             geo-replica eastus2, cloud AzurePublicCloud)"
        );
        assert_eq!(reason("GCR.io"), "host is Google Container Registry gcr.io");
        assert_eq!(
            reason("eu.gcr.io"),
            "host matches the Google Container Registry grammar <name>.gcr.io"
        );
        assert_eq!(
            reason("europe-docker.pkg.dev"),
            "host matches the Artifact Registry Docker grammar <location>-docker.pkg.dev \
             (location europe)"
        );
        assert_eq!(
            reason("container.cloud.google.com"),
            "host is Google's container.cloud.google.com registry"
        );
    }
}
