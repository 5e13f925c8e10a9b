//! cloud-credential-provider: one kubelet image credential provider for every cloud.
//!
//! Kubelet execs this binary once per image pull it has no cached credentials for, writes a
//! `CredentialProviderRequest` on stdin and reads a `CredentialProviderResponse` from stdout.
//! The binary looks at the image's host, picks a backend and answers with short-lived
//! credentials. Start-up cost is the product: nothing here initialises a cloud SDK, a TLS
//! stack or an async runtime unless the chosen backend needs it.
//!
//! Map of the crate, roughly in the order a request flows through it:
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | the process: runs the parsed command, exit codes, stdin/stdout |
//! | [`cli`] | argument parsing and `--help` |
//! | [`serve`] | protocol mode: request → route → fetch → response |
//! | [`protocol`] | the wire types kubelet reads and writes (all three apiVersions) |
//! | [`image`] | normalising the `image` field as kubelet does (`nginx` → `docker.io/library/nginx`) |
//! | [`pattern`] | kubelet's glob matching of hosts and paths — the one home of it |
//! | [`settings`] | the parsed options that decide routing and build backends, each cloud's own options among them (`--authFlow`, `--registry-mirror`, …) |
//! | [`dispatch`] | the router: host rules, docker config entries, cloud hosts, nobody → a target, as data |
//! | [`hosts`] | the host grammars of ECR, ECR Public, ACR, GCR and Artifact Registry, with the DNS-name, `host:port` and account-id helpers |
//! | [`plugin_config`] | `--config`: host rules for mirrors and pull-through caches |
//! | [`local_file`] | reading every local file: regular files only, never blocking, size-capped |
//! | [`parse_limits`] | nesting, YAML size and alias bounds checked before a parser runs |
//! | [`backend`] | the backend trait, the one constructor from a target, and the backends (`file`, `none`, the clouds, `vault`) |
//! | [`backend::gcr`] | Google: metadata server, key files, workload identity, dockercfg flows |
//! | [`backend::acr`] | Azure: azure.json, Entra tokens, the ACR token exchange, mirror and custom-cloud recognition |
//! | [`backend::ecr`] | AWS: private ECR, ECR Public, host rules, pod-identity pulls via STS |
//! | [`backend::vault`] | HashiCorp Vault / OpenBao host rules: pod JWT or node login, KV v2 or leased reads, revoke after the read |
//! | [`lifetime`] | cache policy: token expiry → `cacheDuration`, half-life refresh, static default, `cacheKeyType` from keys |
//! | [`token_cache`] | `--cache-dir`: tokens kept on disk between runs, until half-life; one fetch at a time per entry; a directory nobody else can steer |
//! | [`duration`] | Go duration text, both ways |
//! | [`deadline`] | the run's overall deadline, which every network step respects |
//! | [`runtime`] | the async runtime, started only by backends that use the network |
//! | [`http`] | the one place HTTP clients are built: trust store, proxy, timeouts |
//! | [`retry`] | the one retry policy: what is retried, jittered backoff, attempts within the deadline |
//! | [`trust`] | the system trust store (`SSL_CERT_FILE`/`SSL_CERT_DIR`, bundle, directories) |
//! | [`resolver`] | name lookups for every HTTP client: `/etc/hosts`, then DNS, never glibc's NSS |
//! | [`secret`] | the box secrets travel in, so they never reach a log |
//! | [`check`] | the `check IMAGE` dry run (and what the token cache holds for it) |
//! | [`cache_command`] | `cache list` / `cache purge`: the token cache for operators, no secrets shown |
//! | [`kubelet_config`] | reading kubelet's `CredentialProviderConfig` as strictly as kubelet does (serde) |
//! | [`install`] | `install`: the binary, drop-in names and kubelet config put in place atomically |
//! | [`sync_docker_config`] | `sync-docker-config`: a node Docker config kept equal to a mounted Secret |
//! | [`kubelet_status`] | `kubelet-status`: does the node's kubelet run this binary, and if not, the fix |
//! | [`kubelet_process`] | the running kubelet in `/proc`: its command line and start time |
//! | [`node_distro`] | each distribution: how to recognise it, where it keeps kubelet's flags, what to change |
//! | [`systemd_unit`] | a systemd service's command line as systemd starts it (drop-ins, environment files) |
//! | [`kubelet_flags`] | kubelet's credential-provider flags, read as kubelet's flag parser reads them |
//! | [`host_root`] | the node's files under `--host-root`: host symlinks, what a pod's mounts leave unseen |
//! | [`validate`] | `validate-config`: kubelet's rules plus warnings about what never works (and what a `vault` rule needs from `tokenAttributes`) |
//! | [`kubelet_view`] | `kubelet-view`: the node's providers run for one image as kubelet runs them; the credentials kubelet would try, in its order |
//! | [`annotations`] | service-account annotation keys the backends read |
//! | [`error`] | the error type; one line each, never a secret |
//! | [`watchdog`] | the last guard of `--timeout`: ends a run something outside the deadline blocks |
//! | [`log`] | stderr diagnostics with kubelet-style verbosity |
//! | [`build_info`] | what this build is (commit, clouds, crypto, linking), for `--version` |
//!
//! Every module is private; the crate's public items are the few re-exported at its root for
//! `src/main.rs`, the integration tests and the fuzz targets.

// The map above links the private modules: it is read in the source or with
// `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

mod annotations;
mod app;
mod backend;
mod build_info;
mod cache_command;
mod check;
mod cli;
mod deadline;
mod dispatch;
mod duration;
mod error;
mod host_root;
mod hosts;
mod http;
mod image;
mod install;
mod kubelet_config;
mod kubelet_flags;
mod kubelet_process;
mod kubelet_status;
mod kubelet_view;
mod lifetime;
mod local_file;
mod log;
mod node_distro;
mod parse_limits;
mod pattern;
mod plugin_config;
mod protocol;
mod resolver;
mod retry;
mod runtime;
mod secret;
mod serve;
mod settings;
mod sync_docker_config;
mod systemd_unit;
#[cfg(test)]
mod test_util;
mod token_cache;
mod trust;
mod validate;
mod watchdog;

// The public surface: the modules stay private, so an item nothing in the binary uses is
// dead code the compiler reports, whatever tests or fuzz targets call it. Each group says who
// needs it.

// src/main.rs: the process.
pub use app::main;

// tests/properties.rs and the fuzz targets (fuzz/fuzz_targets/): the parsers of outside
// input, driven directly with generated input.
pub use backend::acr::azure_config::{AzureConfig, UserAssigned};
pub use backend::acr::challenge;
pub use backend::acr::exchange::{jwt_claims, jwt_expiry};
pub use backend::file::DockerConfig;
pub use duration::{format_go_duration, format_go_nanos, parse_go_duration};
pub use hosts::AzureCloud;
pub use image::ImageRef;
pub use pattern::{glob_match, normalize_auth_key, Pattern};
pub use protocol::{ApiVersion, AuthConfig, CacheKeyType, Request, Response};
pub use resolver::parse_dns_reply;
pub use secret::Secret;
pub use trust::pem_certificates;

// tests/trust_store.rs and tests/crypto_cost.rs: the TLS stack as the binary builds it (trust
// store, certificate verifier, HTTP client, runtime), measured and checked without a backend.
pub use deadline::Deadline;
pub use error::Error;
pub use http::{client as http_client, crypto_provider, send as http_send};
pub use runtime::block_on;
pub use trust::{Sources, Verifier};
