//! Command line: which mode, which options, `--help`.
//!
//! Kubelet runs `BIN [args from its config]` with the request on stdin; operators run the same
//! binary by hand with `check` and `validate-config`. Parsing is hand-written (no CLI crate)
//! because it runs on every image pull and must cost nothing, and because the drop-in names
//! must accept the reference plugins' argument styles (`get-credentials`, `--v=N`).
//! Parsing only: running the parsed command is [`crate::app`], so `validate-config` can ask
//! this parser what kubelet's args would do without depending on the modes it runs.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache_command::{self, CacheAction, CacheOptions};
use crate::check::CheckOptions;
use crate::deadline::{DEFAULT_TIMEOUT, MAX_TIMEOUT};
use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::{Error, Result};
use crate::protocol::EXAMPLE_REQUEST;
use crate::settings::{self, AuthFlow, Settings};

/// The names this binary answers to as a kubelet provider: its own, and the reference plugins'
/// names it replaces (kubelet runs `bin-dir/<provider name>`, so a symlink is enough).
pub const PROGRAM_NAMES: &[&str] = &[
    "cloud-credential-provider",
    "ecr-credential-provider",
    "acr-credential-provider",
    "auth-provider-gcp",
];

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Kubelet protocol: request on stdin, response on stdout.
    Serve,
    /// `check IMAGE`.
    Check(CheckOptions),
    /// `validate-config PATH`.
    ValidateConfig {
        /// Config file or directory.
        path: PathBuf,
        /// Images to test against the config.
        images: Vec<String>,
        /// JSON output.
        json: bool,
    },
    /// `cache list|purge`.
    Cache(CacheOptions),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// `install ARGS...`: this binary, its drop-in names and a kubelet config into place. The
    /// arguments after `install`, parsed by [`crate::install::parse_args`] when the command
    /// runs: that module runs validate-config's checks, which ask this parser about kubelet's
    /// args, so the parser must not depend on it.
    Install(Vec<String>),
    /// `sync-docker-config ARGS...`: a node Docker config kept equal to a mounted Secret; the
    /// arguments after the command, parsed by [`crate::sync_docker_config::parse_args`] (see
    /// [`Command::Install`]).
    SyncDockerConfig(Vec<String>),
    /// `kubelet-view IMAGE ...`: the node's providers run for one image as kubelet would; the
    /// arguments after the command, parsed by [`crate::kubelet_view::parse_args`] (see
    /// [`Command::Install`]).
    KubeletView(Vec<String>),
    /// `kubelet-status ARGS...`: whether the node's kubelet runs this binary; the arguments
    /// after the command, parsed by [`crate::kubelet_status::parse_args`] (see
    /// [`Command::Install`]).
    KubeletStatus(Vec<String>),
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The mode.
    pub command: Command,
    /// Routing options.
    pub settings: Settings,
    /// Overall deadline of the run.
    pub timeout: Duration,
    /// Log verbosity.
    pub verbosity: u8,
}

/// Parses arguments (without argv\[0\]). `program` is the name the binary was started under;
/// under a reference plugin's name, extra positional arguments are accepted and ignored, as
/// that plugin did.
pub fn parse_args(program: &str, args: &[String]) -> Result<Invocation> {
    // Node-side commands with their own flags (src/install.rs); only as the first argument.
    if let Some(invocation) = parse_node_command(args)? {
        return Ok(invocation);
    }
    let drop_in = program != PROGRAM_NAMES[0] && PROGRAM_NAMES.contains(&program);
    let mut settings = Settings::default();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut verbosity = 0u8;
    let mut offline = false;
    let mut json = false;
    let mut images = Vec::new();
    let mut sa_token_file: Option<PathBuf> = None;
    let mut sa_annotations = std::collections::BTreeMap::new();
    let mut positional: Vec<String> = Vec::new();
    let mut help = false;
    let mut version = false;
    let mut purge_only = PurgeOnly::default();

    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            positional.extend(iter.by_ref().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => iter
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Usage(format!("{name} needs a value"))),
            }
        };
        match flag {
            "-h" | "--help" => help = true,
            "--version" => version = true,
            "--docker-config" => settings
                .docker_configs
                .push(PathBuf::from(non_empty(flag, value(flag)?)?)),
            "--cache-dir" => {
                settings.cache_dir = Some(PathBuf::from(non_empty(flag, value(flag)?)?));
            }
            "--config" => {
                settings.plugin_config = Some(PathBuf::from(non_empty(flag, value(flag)?)?))
            }
            "--static-cache-duration" => {
                settings.static_cache = duration_flag(flag, &value(flag)?, None)?;
            }
            "--timeout" => timeout = duration_flag(flag, &value(flag)?, Some(MAX_TIMEOUT))?,
            "--offline" => offline = true,
            "-o" | "--output" => {
                json = match value(flag)?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => {
                        return Err(Error::Usage(format!(
                            "{flag} {other:?}: choose text or json"
                        )))
                    }
                }
            }
            "--image" => images.push(value(flag)?),
            "--expired" => purge_only.expired = true,
            "--registry" => purge_only
                .registries
                .push(cache_command::registry_pattern(&value(flag)?)?),
            "--service-account-token-file" => {
                sa_token_file = Some(PathBuf::from(non_empty(flag, value(flag)?)?));
            }
            "--service-account-annotation" => {
                let (key, val) = annotation_flag(flag, &value(flag)?)?;
                sa_annotations.insert(key, val);
            }
            // Google backend; names and syntax as auth-provider-gcp's.
            "--authFlow" => {
                let text = value(flag)?;
                settings.google.flow = AuthFlow::parse(&text).ok_or_else(|| {
                    Error::Usage(format!(
                        "{flag} {text:?}: choose gcr, dockercfg or dockercfg-url"
                    ))
                })?;
            }
            "--identity-provider" => {
                settings.google.identity_provider = Some(non_empty(flag, value(flag)?)?)
            }
            "--project-id" => settings.google.project_id = Some(non_empty(flag, value(flag)?)?),
            "--workload-identity-audience" => {
                settings.google.workload_identity_audience = Some(non_empty(flag, value(flag)?)?)
            }
            "--gcr-fixed-keys" => settings.google.fixed_keys = true,
            // Azure (acr backend). `-r` and `--registry-mirror` are the reference plugin's.
            "--azure-config" => {
                settings.azure.config = Some(PathBuf::from(non_empty(flag, value(flag)?)?))
            }
            "--registry-mirror" | "-r" => settings.azure.mirrors.extend(
                settings::azure::parse_mirrors(&value(flag)?)
                    .map_err(|e| Error::Usage(format!("{flag}: {e}")))?,
            ),
            "--azure-sp-token-exchange" => settings.azure.sp_token_exchange = true,
            // kubelet/klog style: --v=3, -v=3, --v 3; and -v, -vv, --verbose.
            "--v" | "-v" if inline.is_some() || flag == "--v" => {
                let text = value(flag)?;
                verbosity = text.parse().map_err(|_| {
                    Error::Usage(format!("{flag}={text}: verbosity must be a number 0-255"))
                })?;
            }
            "--verbose" => verbosity = verbosity.saturating_add(1),
            _ if flag.len() > 1 && flag[1..].bytes().all(|b| b == b'v') => {
                verbosity = verbosity.saturating_add((flag.len() - 1) as u8);
            }
            _ => return Err(Error::Usage(format!("unknown option {flag}"))),
        }
    }

    settings.google.validate()?;
    let command = if help {
        Command::Help
    } else if version {
        Command::Version
    } else {
        let check_only = CheckOnly {
            offline,
            sa_token_file,
            sa_annotations,
        };
        let only = Only {
            check: check_only,
            purge: purge_only,
            images,
        };
        mode_from_positional(drop_in, positional.clone(), only, json)?
    };
    // The reference `acr-credential-provider` takes azure.json as its positional argument.
    if program == "acr-credential-provider"
        && command == Command::Serve
        && settings.azure.config.is_none()
    {
        settings.azure.config = positional
            .iter()
            .find(|p| *p != "get-credentials")
            .map(PathBuf::from);
    }
    Ok(Invocation {
        command,
        settings,
        timeout,
        verbosity,
    })
}

/// `install ...`, `sync-docker-config ...`, `kubelet-view ...` and `kubelet-status ...`, with
/// their arguments, which their own modules parse; `None` for every other command line.
fn parse_node_command(args: &[String]) -> Result<Option<Invocation>> {
    let command = match args.split_first() {
        Some((first, rest)) if first == "install" => Command::Install(rest.to_vec()),
        Some((first, rest)) if first == "sync-docker-config" => {
            Command::SyncDockerConfig(rest.to_vec())
        }
        Some((first, rest)) if first == "kubelet-view" => Command::KubeletView(rest.to_vec()),
        Some((first, rest)) if first == "kubelet-status" => Command::KubeletStatus(rest.to_vec()),
        _ => return Ok(None),
    };
    Ok(Some(Invocation {
        command,
        settings: Settings::default(),
        timeout: DEFAULT_TIMEOUT,
        verbosity: 0,
    }))
}

/// Options that only `check` takes.
struct CheckOnly {
    offline: bool,
    sa_token_file: Option<PathBuf>,
    sa_annotations: std::collections::BTreeMap<String, String>,
}

impl CheckOnly {
    /// Refuses check-only options outside `check`.
    fn refuse_outside_check(&self) -> Result<()> {
        let used = [
            ("--offline", self.offline),
            ("--service-account-token-file", self.sa_token_file.is_some()),
            (
                "--service-account-annotation",
                !self.sa_annotations.is_empty(),
            ),
        ];
        match used.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(Error::Usage(format!("{flag} only applies to check"))),
            None => Ok(()),
        }
    }
}

/// Options that only `cache purge` takes.
#[derive(Default)]
struct PurgeOnly {
    expired: bool,
    registries: Vec<crate::pattern::Pattern>,
}

impl PurgeOnly {
    /// Refuses purge-only options outside `cache purge`.
    fn refuse_outside_purge(&self) -> Result<()> {
        if self.expired {
            Err(Error::Usage("--expired only applies to cache purge".into()))
        } else if !self.registries.is_empty() {
            Err(Error::Usage(
                "--registry only applies to cache purge".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// The options that belong to one command only, checked once the command is known.
struct Only {
    check: CheckOnly,
    purge: PurgeOnly,
    images: Vec<String>,
}

/// Refuses `--image` outside validate-config.
fn refuse_images(images: &[String]) -> Result<()> {
    if images.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(
            "--image only applies to validate-config".into(),
        ))
    }
}

fn mode_from_positional(
    drop_in: bool,
    positional: Vec<String>,
    only: Only,
    json: bool,
) -> Result<Command> {
    let Only {
        check: check_only,
        purge: purge_only,
        images,
    } = only;
    let mut rest = positional.into_iter();
    let first = rest.next();
    let extra: Vec<String> = rest.collect();
    if first.as_deref() != Some("cache") {
        purge_only.refuse_outside_purge()?;
    }
    match first.as_deref() {
        None | Some("get-credentials") => {
            if !extra.is_empty() && !drop_in {
                return Err(Error::Usage(format!("unexpected argument {:?}", extra[0])));
            }
            check_only.refuse_outside_check()?;
            refuse_images(&images)?;
            Ok(Command::Serve)
        }
        Some("cache") => {
            check_only.refuse_outside_check()?;
            refuse_images(&images)?;
            let mut it = extra.into_iter();
            let action = match it.next().as_deref() {
                Some("list") => {
                    purge_only.refuse_outside_purge()?;
                    CacheAction::List
                }
                Some("purge") => CacheAction::Purge {
                    expired: purge_only.expired,
                    registries: purge_only.registries,
                },
                Some(other) => {
                    return Err(Error::Usage(format!(
                        "unknown cache command {other:?}; cache commands: list, purge"
                    )))
                }
                None => {
                    return Err(Error::Usage(
                        "cache needs a command: list or purge".into(),
                    ))
                }
            };
            if let Some(more) = it.next() {
                return Err(Error::Usage(format!(
                    "cache {} takes no argument, got {more:?}",
                    if action == CacheAction::List { "list" } else { "purge" }
                )));
            }
            Ok(Command::Cache(CacheOptions { action, json }))
        }
        Some("check") => {
            let mut it = extra.into_iter();
            let image = it
                .next()
                .ok_or_else(|| Error::Usage("check needs an IMAGE".into()))?;
            if let Some(more) = it.next() {
                return Err(Error::Usage(format!(
                    "check takes one IMAGE, got also {more:?}"
                )));
            }
            Ok(Command::Check(CheckOptions {
                image,
                offline: check_only.offline,
                json,
                service_account_token_file: check_only.sa_token_file,
                service_account_annotations: check_only.sa_annotations,
            }))
        }
        Some("validate-config") => {
            check_only.refuse_outside_check()?;
            let mut it = extra.into_iter();
            let path = it
                .next()
                .ok_or_else(|| Error::Usage("validate-config needs a PATH".into()))?;
            if let Some(more) = it.next() {
                return Err(Error::Usage(format!(
                    "validate-config takes one PATH, got also {more:?}"
                )));
            }
            Ok(Command::ValidateConfig {
                path: PathBuf::from(path),
                images,
                json,
            })
        }
        Some("help") => Ok(Command::Help),
        Some("version") => Ok(Command::Version),
        Some(verb @ ("get" | "store" | "erase" | "list")) => Err(Error::Usage(format!(
            "{verb:?} is a Docker credential-helper verb; this binary is a kubelet credential \
             provider: run it with no argument (or get-credentials) and pipe {EXAMPLE_REQUEST}"
        ))),
        // The reference plugins take positional arguments (azure.json, get-credentials)
        // that kubelet configs pass; under their names, keep serving.
        Some(_) if drop_in => Ok(Command::Serve),
        Some(other) => Err(Error::Usage(format!(
            "unknown command {other:?}; commands: get-credentials (default), check, validate-config, kubelet-view, cache, install, sync-docker-config, kubelet-status"
        ))),
    }
}

/// The `KEY=VALUE` of `--service-account-annotation` (split at the first `=`; the value may
/// hold more), for every command that sends a pod's annotations as kubelet does.
pub(crate) fn annotation_flag(flag: &str, text: &str) -> Result<(String, String)> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| Error::Usage(format!("{flag} {text:?}: expected KEY=VALUE")))
}

fn non_empty(flag: &str, value: String) -> Result<String> {
    if value.is_empty() {
        Err(Error::Usage(format!("{flag} needs a non-empty value")))
    } else {
        Ok(value)
    }
}

fn duration_flag(flag: &str, text: &str, max: Option<Duration>) -> Result<Duration> {
    let nanos = parse_go_duration(text).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    if nanos < 0 {
        return Err(Error::Usage(format!(
            "{flag} {text:?} must not be negative"
        )));
    }
    let d = Duration::from_nanos(nanos as u64);
    match max {
        Some(max) if d > max || d.is_zero() => Err(Error::Usage(format!(
            "{flag} {text:?} must be above 0s and at most {} (kubelet kills the plugin at 1m0s)",
            format_go_duration(max)
        ))),
        _ => Ok(d),
    }
}

/// For validate-config: the message this binary would fail with if kubelet started it as
/// provider `provider_name` with `args`, or `Ok` when those args serve requests.
pub fn check_provider_args(
    provider_name: &str,
    args: &[String],
) -> std::result::Result<(), String> {
    match parse_args(provider_name, args) {
        Ok(Invocation {
            command: Command::Serve,
            ..
        }) => Ok(()),
        Ok(_) => {
            Err("these args do not select protocol mode, so kubelet gets no response".to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The `--help` text. `node_commands` is the usage of `kubelet-view`, `install`,
/// `sync-docker-config` and `kubelet-status`, which their modules write next to their parsers.
pub fn help_text(node_commands: &str) -> String {
    format!(
        "\
cloud-credential-provider {version}
Short-lived container-registry credentials for kubelet: AWS ECR (private and public),
Azure ACR, Google GCR / Artifact Registry, and Docker config files kept on the node.

USAGE
  cloud-credential-provider [get-credentials] [OPTIONS] < request.json
      Kubelet mode: read one CredentialProviderRequest on stdin, write one
      CredentialProviderResponse on stdout. Try it by hand:
        echo '{example}' | cloud-credential-provider
  cloud-credential-provider check IMAGE [--offline] [--output text|json] [OPTIONS]
      Dry run: which backend serves IMAGE and why, which identity it uses, and (unless
      --offline) fetch credentials and show expiry and auth keys. Passwords are never shown.
      Pod-identity dry run: --service-account-token-file FILE (a token minted for the
      provider's audience, e.g. kubectl create token SA --audience AUD > FILE) and
      --service-account-annotation KEY=VALUE (repeatable), sent as kubelet would.
  cloud-credential-provider validate-config PATH [--image IMAGE]... [--output text|json]
      Check a kubelet CredentialProviderConfig (file or directory, as given to
      --image-credential-provider-config) with kubelet's own rules, and warn about patterns
      that can never match. --image shows which providers would serve an image.
  cloud-credential-provider cache list [--cache-dir DIR] [--output text|json]
  cloud-credential-provider cache purge [--expired] [--registry PATTERN]... [--cache-dir DIR]
      The token cache; DIR defaults to {cache_dir}. list shows each
      entry's registry, backend, state (fresh, stale, expired, foreign, corrupt), expiry,
      size and identity, never a token. purge removes every entry, or with --expired those
      no run would serve, or with --registry those of registries matching a pattern as in
      matchImages (repeatable, e.g. '*.azurecr.io'). Entries a run is fetching are kept.
{node_commands}
OPTIONS
  --docker-config PATH          Serve entries of this Docker config.json (or legacy
                                .dockercfg) to images they match. Repeatable; for a key in
                                several files the first file wins. Read on every run;
                                while a file is missing, empty answers are not cached (0s).
  --config PATH                 Plugin config (YAML/JSON) with hostRules that send mirrors
                                and pull-through caches to a backend.
  --cache-dir DIR               Keep cloud tokens in DIR (created 0700) between runs: reused
                                until half-life, served if a refresh fails while unexpired;
                                runs that need one token at once fetch it once. DIR must be
                                a real directory owned by this user with no group/other
                                access, else the run goes on without it (one warning).
                                The samples use {cache_dir}.
                                With check: report the entry kubelet's runs would use,
                                without writing it.
  --static-cache-duration DUR   How long kubelet may cache credentials without an expiry
                                (docker config entries) and empty answers. Default {static}.
  --timeout DUR                 Deadline for the whole run, at most {max}. Default {timeout}.
  -v, --v=N                     More detail on stderr (kubelet shows it when a run fails).
  -h, --help                    This text.       --version   Print the version.

AWS (<acct>.dkr.ecr[-fips].<region>.<suffix>, dual-stack dkr-ecr names, public.ecr.aws)
  No flags: the default AWS credential chain (env, profiles incl. credential_process and
  SSO, web identity, ECS, IMDSv2); the region comes from the host. Pod identity: the role
  from annotation eks.amazonaws.com/ecr-role-arn, else eks.amazonaws.com/role-arn, else
  AWS_ECR_ROLE_ARN, assumed with the pod's token. AWS_ENDPOINT_URL_ECR and friends apply.

AZURE (<name>.azurecr.io|cn|de|us, geo replicas, mirrors)
  --azure-config PATH           The node's azure.json (cloud, tenantId, identity).
                                As acr-credential-provider: its first argument. Without
                                one, ACR pulls use the node's system-assigned identity.
  --registry-mirror SRC:DST[,SRC:DST]  (-r)
                                Pull images on registry SRC (host[:port]) with the ACR
                                token of login server DST; both get the credentials.
  --azure-sp-token-exchange     Exchange the service principal's Entra token for an ACR
                                token instead of answering with its client secret.

GOOGLE (gcr.io, *.gcr.io, *-docker.pkg.dev, container.cloud.google.com)
  --authFlow gcr|dockercfg|dockercfg-url
                                gcr (default): an access token of the node's service
                                account (metadata server; GOOGLE_APPLICATION_CREDENTIALS key
                                file first when set) or of the pod (workload identity).
                                dockercfg[-url]: a .dockercfg from instance attribute
                                google-dockercfg[-url], for any registry it lists.
  --identity-provider URL --project-id ID
                                GKE workload identity: pods whose service account is
                                annotated iam.gke.io/enable-wi-image-pull: \"true\" pull as
                                themselves (STS audience identitynamespace:ID.svc.id.goog:URL).
  --workload-identity-audience //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X
                                Any workload identity pool: requests with a service-account
                                token pull as the pod. With either style, the annotation
                                iam.gke.io/gcp-service-account: EMAIL impersonates EMAIL.
  --gcr-fixed-keys              Also answer under container.cloud.google.com, gcr.io,
                                *.gcr.io and *.pkg.dev, as auth-provider-gcp did.
  Environment: GCE_METADATA_HOST (metadata host[:port]), KUBE_SIDECAR_CACHE_DURATION and
  KUBE_SIDECAR_CACHE_TYPE (image|registry|global) override cacheDuration / cacheKeyType.

HOW A HOST IS SERVED (first that applies)
  1. a hostRules entry of --config matching the image
  2. an entry of a --docker-config file matching the image
  3. a cloud registry host: <acct>.dkr.ecr[-fips].<region>.amazonaws.com and all partitions,
     public.ecr.aws, <name>.azurecr.io|cn|de|us, gcr.io, *.gcr.io, *-docker.pkg.dev
  4. nobody: empty auth, kubelet pulls anonymously
Patterns follow kubelet's matchImages rules: '*' matches within one DNS label, a port must
be listed to match an image with a port, a path is a plain prefix.

Exit status: 0 on success; 1 with one 'error:' line on stderr and nothing on stdout.
Installed or symlinked as ecr-credential-provider, acr-credential-provider or
auth-provider-gcp it accepts those plugins' positional arguments.
",
        version = env!("CARGO_PKG_VERSION"),
        example = EXAMPLE_REQUEST,
        static = format_go_duration(crate::lifetime::DEFAULT_STATIC_CACHE),
        max = format_go_duration(MAX_TIMEOUT),
        timeout = format_go_duration(DEFAULT_TIMEOUT),
        cache_dir = crate::token_cache::DEFAULT_DIR,
    )
}

/// The arguments of a node subcommand (`install`, `sync-docker-config`, `kubelet-view`,
/// `kubelet-status`), one flag at a time: `--flag value` or `--flag=value`, an empty value
/// refused with the subcommand's name.
pub(crate) struct SubcommandArgs<'a> {
    command: &'static str,
    rest: std::slice::Iter<'a, String>,
}

/// One argument of a [`SubcommandArgs`]: as written, its flag name and an inline value.
pub(crate) struct SubcommandFlag<'a> {
    /// The argument as written, for "unexpected argument" messages.
    pub arg: &'a str,
    /// The flag without an inline `=value`.
    pub name: &'a str,
    inline: Option<&'a str>,
}

impl<'a> SubcommandArgs<'a> {
    /// The arguments after `command`.
    pub(crate) fn new(command: &'static str, args: &'a [String]) -> SubcommandArgs<'a> {
        SubcommandArgs {
            command,
            rest: args.iter(),
        }
    }

    /// The next argument, if any.
    pub(crate) fn next_flag(&mut self) -> Option<SubcommandFlag<'a>> {
        let arg = self.rest.next()?.as_str();
        let (name, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg, None),
        };
        Some(SubcommandFlag { arg, name, inline })
    }

    /// The value of `flag`: inline, else the next argument; never empty.
    pub(crate) fn value(&mut self, flag: &SubcommandFlag<'a>) -> Result<String> {
        flag.inline
            .or_else(|| self.rest.next().map(String::as_str))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::Usage(format!("{}: {} needs a value", self.command, flag.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::google::examples::POOL;
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Invocation> {
        parse_args(
            "cloud-credential-provider",
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    /// Parses `args` as the binary started under the name `program`.
    fn parse_as(program: &str, args: &[&str]) -> Result<Invocation> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_args(program, &args)
    }

    #[test]
    fn no_arguments_and_get_credentials_serve() {
        assert_eq!(parse(&[]).unwrap().command, Command::Serve);
        assert_eq!(parse(&["get-credentials"]).unwrap().command, Command::Serve);
    }

    #[test]
    fn verbosity_accepts_klog_and_short_forms() {
        assert_eq!(parse(&["--v=3"]).unwrap().verbosity, 3);
        assert_eq!(parse(&["-v=2"]).unwrap().verbosity, 2);
        assert_eq!(parse(&["--v", "4"]).unwrap().verbosity, 4);
        assert_eq!(parse(&["-v"]).unwrap().verbosity, 1);
        assert_eq!(parse(&["-vvv"]).unwrap().verbosity, 3);
        assert!(parse(&["--v=x"]).is_err());
    }

    #[test]
    fn options_take_values_both_ways() {
        let inv = parse(&[
            "--docker-config",
            "/a",
            "--docker-config=/b",
            "--static-cache-duration=1m",
        ])
        .unwrap();
        assert_eq!(
            inv.settings.docker_configs,
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(inv.settings.static_cache, Duration::from_secs(60));
        assert!(parse(&["--docker-config"])
            .unwrap_err()
            .to_string()
            .contains("needs a value"));
        assert!(parse(&["--timeout=2m"])
            .unwrap_err()
            .to_string()
            .contains("at most 55s"));
        assert!(parse(&["--static-cache-duration=-1s"]).is_err());
    }

    #[test]
    fn subcommands_parse_their_arguments() {
        match parse(&["check", "nginx", "--offline", "-o", "json"])
            .unwrap()
            .command
        {
            Command::Check(o) => {
                assert_eq!(o.image, "nginx");
                assert!(o.offline && o.json);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["validate-config", "/etc/k", "--image", "a.io/b"])
            .unwrap()
            .command
        {
            Command::ValidateConfig { path, images, json } => {
                assert_eq!(path, PathBuf::from("/etc/k"));
                assert_eq!(images, ["a.io/b"]);
                assert!(!json);
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "check",
            "a.io/b",
            "--service-account-token-file=/t",
            "--service-account-annotation",
            "eks.amazonaws.com/role-arn=arn:aws:iam::1:role/r=x",
        ])
        .unwrap()
        .command
        {
            Command::Check(o) => {
                assert_eq!(o.service_account_token_file, Some(PathBuf::from("/t")));
                assert_eq!(
                    o.service_account_annotations
                        .get("eks.amazonaws.com/role-arn")
                        .map(String::as_str),
                    Some("arn:aws:iam::1:role/r=x")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["check"]).is_err());
        assert!(parse(&["--offline"]).is_err());
        assert!(parse(&["--service-account-token-file=/t"])
            .unwrap_err()
            .to_string()
            .contains("only applies to check"));
        assert!(parse(&["check", "a.io/b", "--service-account-annotation=novalue"]).is_err());
    }

    #[test]
    fn cache_commands_take_their_own_options_only() {
        assert_eq!(
            parse(&["cache", "list", "-o", "json"]).unwrap().command,
            Command::Cache(CacheOptions {
                action: CacheAction::List,
                json: true
            })
        );
        match parse(&[
            "cache",
            "purge",
            "--expired",
            "--registry",
            "*.gcr.io",
            "--registry=gcr.io",
            "--cache-dir=/d",
        ])
        .unwrap()
        {
            Invocation {
                command:
                    Command::Cache(CacheOptions {
                        action:
                            CacheAction::Purge {
                                expired,
                                registries,
                            },
                        json: false,
                    }),
                settings,
                ..
            } => {
                assert!(expired);
                let texts: Vec<&str> = registries.iter().map(|p| p.as_str()).collect();
                assert_eq!(texts, ["*.gcr.io", "gcr.io"]);
                assert_eq!(settings.cache_dir, Some(PathBuf::from("/d")));
            }
            other => panic!("{other:?}"),
        }
        for (args, message) in [
            (&["cache"][..], "cache needs a command"),
            (&["cache", "show"], "unknown cache command \"show\""),
            (&["cache", "list", "x"], "cache list takes no argument"),
            (
                &["cache", "list", "--expired"],
                "--expired only applies to cache purge",
            ),
            (
                &["--registry=gcr.io"],
                "--registry only applies to cache purge",
            ),
            (
                &["check", "gcr.io/a", "--expired"],
                "--expired only applies",
            ),
            (&["cache", "purge", "--registry=gcr.io/p"], "without a path"),
            (
                &["cache", "purge", "--offline"],
                "--offline only applies to check",
            ),
            (&["cache", "list", "--image=a.io/b"], "--image only applies"),
        ] {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(message), "{args:?}: {e}");
        }
    }

    #[test]
    fn unknown_input_is_a_usage_error() {
        assert!(parse(&["--bogus"])
            .unwrap_err()
            .to_string()
            .contains("unknown option --bogus"));
        assert!(parse(&["frobnicate"])
            .unwrap_err()
            .to_string()
            .contains("unknown command"));
        assert!(parse(&["get"])
            .unwrap_err()
            .to_string()
            .contains("credential-helper"));
        assert!(parse(&["get-credentials", "extra"]).is_err());
    }

    #[test]
    fn drop_in_names_ignore_the_reference_positional_arguments() {
        let args: Vec<String> = ["get-credentials", "/etc/kubernetes/azure.json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            parse_args("acr-credential-provider", &args)
                .unwrap()
                .command,
            Command::Serve
        );
        assert!(
            check_provider_args("ecr-credential-provider", &["get-credentials".into()]).is_ok()
        );
        assert!(
            check_provider_args("cloud-credential-provider", &["check".into(), "x".into()])
                .is_err()
        );
        assert!(check_provider_args("cloud-credential-provider", &["--nope".into()]).is_err());
    }

    #[test]
    fn auth_provider_gcp_command_lines_parse_as() {
        let inv = parse_as(
            "auth-provider-gcp",
            &["get-credentials", "--authFlow", "dockercfg-url", "--v=3"],
        )
        .unwrap();
        assert_eq!(inv.command, Command::Serve);
        assert_eq!(inv.settings.google.flow, AuthFlow::DockerCfgUrl);
        assert_eq!(inv.verbosity, 3);
        let inv = parse_as(
            "auth-provider-gcp",
            &[
                "get-credentials",
                "--authFlow=gcr",
                "--identity-provider=https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
                "--project-id",
                "p",
                "--gcr-fixed-keys",
            ],
        )
        .unwrap();
        assert_eq!(inv.settings.google.project_id.as_deref(), Some("p"));
        assert!(inv.settings.google.fixed_keys);
        let inv = parse_as(
            "cloud-credential-provider",
            &["--workload-identity-audience", POOL],
        )
        .unwrap();
        assert_eq!(
            inv.settings.google.workload_identity_audience.as_deref(),
            Some(POOL)
        );
        for bad in [
            &["--authFlow=oauth"][..],
            &["--project-id=p"][..],
            &["--identity-provider="][..],
            &["--workload-identity-audience=projects/1"][..],
        ] {
            assert!(
                matches!(parse_as("auth-provider-gcp", bad), Err(Error::Usage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn acr_credential_provider_command_lines_parse() {
        let inv = parse_as(
            "acr-credential-provider",
            &[
                "/etc/kubernetes/azure.json",
                "--registry-mirror=mcr.microsoft.com:myacr.azurecr.io,reg.local:5000:b.azurecr.io",
            ],
        )
        .unwrap();
        assert_eq!(inv.command, Command::Serve);
        let azure = &inv.settings.azure;
        assert_eq!(
            azure.config.as_deref(),
            Some(Path::new("/etc/kubernetes/azure.json"))
        );
        assert_eq!(azure.mirrors.len(), 2);
        assert_eq!(azure.mirrors[1].source, "reg.local:5000");

        let inv = parse_as(
            "acr-credential-provider",
            &[
                "get-credentials",
                "/etc/kubernetes/azure.json",
                "-r",
                "a.io:b.azurecr.io",
            ],
        )
        .unwrap();
        assert_eq!(
            inv.settings.azure.config.as_deref(),
            Some(Path::new("/etc/kubernetes/azure.json"))
        );
        assert_eq!(inv.settings.azure.mirrors[0].target, "b.azurecr.io");

        // --azure-config wins over the positional file; any name takes the flags.
        let inv = parse_as(
            "acr-credential-provider",
            &[
                "/a.json",
                "--azure-config",
                "/b.json",
                "--azure-sp-token-exchange",
            ],
        )
        .unwrap();
        assert_eq!(
            inv.settings.azure.config.as_deref(),
            Some(Path::new("/b.json"))
        );
        assert!(inv.settings.azure.sp_token_exchange);
        let inv = parse_as("cloud-credential-provider", &["--azure-config=/c.json"]).unwrap();
        assert_eq!(
            inv.settings.azure.config.as_deref(),
            Some(Path::new("/c.json"))
        );
    }

    #[test]
    fn bad_azure_arguments_are_usage_errors() {
        let e = parse_as(
            "acr-credential-provider",
            &["--registry-mirror=mcr.microsoft.com"],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--registry-mirror") && e.contains("SRC:DST"),
            "{e}"
        );
        assert!(parse_as("cloud-credential-provider", &["/etc/kubernetes/azure.json"]).is_err());
        assert!(parse_as("cloud-credential-provider", &["--azure-config="]).is_err());
        // Other drop-in names do not take the positional as azure.json.
        let inv = parse_as("ecr-credential-provider", &["/etc/kubernetes/azure.json"]).unwrap();
        assert_eq!(inv.settings.azure.config, None);
    }

    /// The token-cache key of an ECR request under the command line `args`.
    fn cache_key(args: &[&str]) -> String {
        let settings = parse(args).unwrap().settings;
        let request = crate::backend::test_pull::request("r.example/app", None, &[]);
        let env = std::collections::BTreeMap::new();
        let kind = crate::backend::BackendKind::Ecr;
        crate::token_cache::CacheKey::new(kind, "r.example", "", &request, &settings, &env)
            .file_name()
    }

    #[test]
    fn flags_that_change_the_answer_change_the_cache_key() {
        for args in [
            &["--config=/a"][..],
            &["--docker-config=/a"],
            &["--docker-config=/a", "--docker-config=/b"],
            &["--azure-config=/a"],
            &["-r", "a.example:b.azurecr.io"],
            &["--azure-sp-token-exchange"],
            &["--gcr-fixed-keys"],
            &["--authFlow=dockercfg"],
            &["--identity-provider=https://i", "--project-id=p"],
            &["--workload-identity-audience", POOL],
        ] {
            assert_ne!(cache_key(&[]), cache_key(args), "{args:?}");
        }
    }

    #[test]
    fn flags_that_do_not_change_the_answer_keep_the_cache_key() {
        let base = cache_key(&["get-credentials", "--authFlow=gcr"]);
        for args in [
            &["get-credentials", "--authFlow", "gcr", "-v"][..],
            &["--authFlow=gcr", "--v=4"],
            &["--authFlow=gcr", "-vv", "--verbose"],
            &["--authFlow=gcr", "--timeout=5s"],
            &["--authFlow=gcr", "--static-cache-duration=1m"],
            &["--authFlow=gcr", "--cache-dir=/elsewhere"],
            &["--authFlow=gcr", "-o", "json"],
            &["check", "gcr.io/p/app", "--authFlow=gcr", "--offline"],
        ] {
            assert_eq!(base, cache_key(args), "{args:?}");
        }
        // Spellings of one mirror flag are one setting.
        assert_eq!(
            cache_key(&["-r", "a.example:b.azurecr.io"]),
            cache_key(&["--registry-mirror=a.example:b.azurecr.io"])
        );
    }
}
