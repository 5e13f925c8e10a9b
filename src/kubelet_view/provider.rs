//! One provider for one image, as kubelet's `pluginProvider.provide` treats it (protocol doc
//! §4.1): does a `matchImages` entry match; would kubelet run it for this pod (service-account
//! mode); the request in the provider's apiVersion; the run ([`super::exec`]); the answer read
//! strictly ([`super::response`]); the token-echo and `cacheKeyType` checks; the cache entry.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::exec::{self, Ending, Finished, Launch, KUBELET_TIMEOUT, MAX_STDOUT};
use super::keyring::{cache_key, registry_of, Credential, Keyring, GLOBAL_KEY};
use super::mask::{printable, Masker};
use super::report::{
    AuthReport, CacheReport, EnvReport, Outcome, ProviderReport, RequestReport, ResponseReport,
    RunReport,
};
use super::response::{self, Decoded, Refusal};
use crate::duration::{format_go_duration, format_go_nanos, parse_go_duration};
use crate::error::{Error, Result};
use crate::kubelet_config::{Provider, TokenAttributes};
use crate::pattern::{go_quote, go_quote_bytes, normalize_auth_key, urls_match};
use crate::protocol::REQUEST_KIND;
use crate::secret::Secret;

/// What stderr the report keeps of a failed run (kubelet logs all of it).
const STDERR_SHOWN: usize = 16 << 10;
/// How much of an unreadable stdout the report quotes.
const STDOUT_SHOWN: usize = 120;
/// How much stderr the one-line kubelet log quotes before the full text below it.
const STDERR_IN_LOG_LINE: usize = 300;
/// The prefix kubelet logs exec and decode failures with.
const KUBELET_PREFIX: &str =
    "Failed getting credential from external registry credential provider: ";

/// The pod whose pull is being looked at: its service-account token and annotations, as
/// `check` takes them (`--service-account-token-file`, `--service-account-annotation`).
#[derive(Debug, Default)]
pub struct Pod {
    /// The token kubelet would mint for the provider's audience; `None` plays a pod without a
    /// service account (a static pod).
    pub token: Option<Secret<String>>,
    /// The service account's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Where and how providers run.
pub struct Setting<'a> {
    /// The image kubelet sends and looks up.
    pub image: &'a str,
    /// Kubelet's bin dir.
    pub bin_dir: &'a Path,
    /// Per run.
    pub timeout: Duration,
    /// The pod.
    pub pod: &'a Pod,
}

/// Kubelet's service-account decision for a provider (gate on, its 1.34 default).
enum Identity<'a> {
    /// Not in service-account mode: no token, no annotations.
    None,
    /// Runs without a token: `requireServiceAccount: false` and a pod without one.
    NoServiceAccount,
    /// Runs with the pod's token and the configured annotations it has.
    Token {
        token: &'a Secret<String>,
        annotations: BTreeMap<String, String>,
        attributes: &'a TokenAttributes,
    },
    /// Kubelet does not run the plugin for this pod.
    Skip(String),
}

fn identity<'a>(provider: &'a Provider, pod: &'a Pod) -> Identity<'a> {
    let Some(ta) = provider
        .token_attributes
        .as_ref()
        .filter(|ta| !ta.service_account_token_audience.is_empty())
    else {
        return Identity::None;
    };
    let Some(token) = &pod.token else {
        return if ta.require_service_account == Some(false) {
            Identity::NoServiceAccount
        } else {
            Identity::Skip(format!(
                "tokenAttributes.requireServiceAccount is true, so kubelet runs it only for pods with a service account, sending a token for audience {}; give one with --service-account-token-file (kubectl create token SA -n NS --audience {})",
                go_quote(&ta.service_account_token_audience),
                ta.service_account_token_audience
            ))
        };
    };
    let mut annotations = BTreeMap::new();
    for key in &ta.required_service_account_annotation_keys {
        match pod.annotations.get(key) {
            Some(value) => annotations.insert(key.clone(), value.clone()),
            None => {
                return Identity::Skip(format!(
                    "the service account lacks the required annotation {key} (tokenAttributes.requiredServiceAccountAnnotationKeys), so kubelet does not run it; give it with --service-account-annotation {key}=VALUE"
                ))
            }
        };
    }
    for key in &ta.optional_service_account_annotation_keys {
        if let Some(value) = pod.annotations.get(key) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    Identity::Token {
        token,
        annotations,
        attributes: ta,
    }
}

/// The request bytes kubelet writes: Go's JSON encoding of the versioned type (field order
/// `kind`, `apiVersion`, `image`, then the service-account fields when set), HTML characters
/// escaped as Go's encoder does, one newline.
pub fn encode_request(
    api_version: &str,
    image: &str,
    token: Option<&Secret<String>>,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Wire<'a> {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'a str,
        image: &'a str,
        #[serde(
            rename = "serviceAccountToken",
            skip_serializing_if = "Option::is_none"
        )]
        token: Option<&'a str>,
        #[serde(
            rename = "serviceAccountAnnotations",
            skip_serializing_if = "BTreeMap::is_empty"
        )]
        annotations: &'a BTreeMap<String, String>,
    }
    let wire = Wire {
        kind: REQUEST_KIND,
        api_version,
        image,
        // The token leaves its box here, for the plugin's stdin, exactly as kubelet sends it.
        token: token.map(|t| t.expose().as_str()),
        annotations,
    };
    let text = serde_json::to_string(&wire)
        .map_err(|_| Error::Io("could not encode the request".into()))?;
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\n');
    Ok(out.into_bytes())
}

/// Runs `provider` for the image if kubelet would, files its credentials in `keyring` and
/// reports what happened; facts about the whole lookup go to `notes`.
pub fn evaluate(
    provider: &Provider,
    matched_by: Option<&str>,
    setting: &Setting,
    keyring: &mut Keyring,
    notes: &mut Vec<String>,
) -> Result<ProviderReport> {
    let mut report = ProviderReport {
        name: provider.name.clone(),
        defined_at: format!(
            "providers[{}] in {}",
            provider.index,
            provider.source.display()
        ),
        outcome: Outcome::NotMatched,
        matched_by: matched_by.map(str::to_string),
        match_images: Vec::new(),
        skipped: None,
        run: None,
        error: None,
        kubelet_logs: None,
        response: None,
        cache: None,
    };
    if matched_by.is_none() {
        report.match_images = provider.match_images.clone();
        return Ok(report);
    }
    let identity = identity(provider, setting.pod);
    let (token, annotations) = match &identity {
        Identity::Skip(why) => {
            report.outcome = Outcome::Skipped;
            report.skipped = Some(why.clone());
            return Ok(report);
        }
        Identity::Token {
            token, annotations, ..
        } => (Some(*token), annotations.clone()),
        Identity::None | Identity::NoServiceAccount => (None, BTreeMap::new()),
    };
    let image = setting.image;
    let request = encode_request(&provider.api_version, image, token, &annotations)?;
    let env: Vec<(String, String)> = provider
        .env
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    let program = setting.bin_dir.join(&provider.name);
    let finished = exec::run(&Launch {
        program: &program,
        args: &provider.args,
        env: &env,
        stdin: &request,
        timeout: setting.timeout,
    });

    let mut masker = Masker::default();
    if let Some(token) = token {
        masker.add(token.expose(), "service-account token");
    }
    masker.add_env(&env);
    masker.add_secret_fields(&finished.stdout.bytes);
    masker.add_secret_fields(&finished.stderr.bytes);
    let mut command = vec![program.display().to_string()];
    command.extend(provider.args.iter().cloned());
    let mut run = RunReport {
        command,
        env: env
            .iter()
            .map(|(name, _)| EnvReport {
                name: name.clone(),
                overrides_node: std::env::var_os(name).is_some(),
            })
            .collect(),
        request: RequestReport {
            api_version: provider.api_version.clone(),
            image: image.to_string(),
            service_account_token: token.is_some(),
            service_account_annotations: annotations,
        },
        ended: ended_text(&finished),
        timed_out: matches!(finished.ending, Ending::TimedOut { .. }),
        duration_ms: finished.elapsed.as_millis().try_into().unwrap_or(u64::MAX),
        stdout_bytes: finished.stdout.total,
        stderr_bytes: finished.stderr.total,
        stdout_start: None,
        stderr: None,
    };

    let (decoded, base) = match read_answer(provider, &identity, image, &finished, setting.timeout)
    {
        Ok(answer) => answer,
        Err(failure) => {
            if let Some(decoded) = &failure.decoded {
                for entry in &decoded.auth {
                    masker.add_credentials(&entry.username, entry.password.expose());
                }
                report.response = Some(response_report(decoded, image));
            }
            if failure.unreadable_stdout {
                run.stdout_start = Some(stdout_start(&finished, &masker));
            }
            fail(&mut report, &mut run, &finished, &masker, failure);
            report.run = Some(run);
            return Ok(report);
        }
    };
    report.outcome = Outcome::Answered;
    report.response = Some(response_report(&decoded, image));
    report.cache = cache_report(provider, &decoded, image, base, &identity);
    report.run = Some(run);
    let mut filed: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for entry in &decoded.auth {
        if let Some(key) = keyring.add(Credential {
            provider: provider.name.clone(),
            raw_key: entry.key.clone(),
            username: entry.username.clone(),
            password: entry.password.clone(),
        }) {
            filed.entry(key).or_default().push(&entry.key);
        }
    }
    for (key, raw) in filed.iter().filter(|(_, raw)| raw.len() > 1) {
        notes.push(format!(
            "provider {}: auth keys {} all become kubelet key {}; kubelet adds them from a Go map, so their order among themselves differs from run to run (shown here in answer order)",
            go_quote(&provider.name),
            raw.iter().map(|k| go_quote(k)).collect::<Vec<_>>().join(", "),
            go_quote(key)
        ));
    }
    Ok(report)
}

/// Why kubelet uses nothing from a run.
struct Failure {
    /// In this command's words.
    error: String,
    /// What kubelet logs.
    kubelet: String,
    /// Kubelet appends the plugin's stderr to `kubelet` (exec errors).
    with_stderr: bool,
    /// The answer, when it was read before being refused.
    decoded: Option<Decoded>,
    /// stdout is no JSON document: worth quoting its start.
    unreadable_stdout: bool,
}

impl Failure {
    fn new(error: String, kubelet: String) -> Failure {
        Failure {
            error,
            kubelet,
            with_stderr: false,
            decoded: None,
            unreadable_stdout: false,
        }
    }
}

/// Kubelet's verdict on a finished run, in its order: the run, the decode, the token echo
/// (1.34+), `cacheKeyType`. On success, the answer and its cache base.
fn read_answer(
    provider: &Provider,
    identity: &Identity,
    image: &str,
    finished: &Finished,
    timeout: Duration,
) -> std::result::Result<(Decoded, String), Failure> {
    judge_run(&provider.name, image, finished, timeout)?;
    let decoded =
        response::decode(&finished.stdout.bytes, &provider.api_version).map_err(|refusal| {
            Failure {
                unreadable_stdout: matches!(refusal, Refusal::Gvk { .. }),
                ..Failure::new(
                    refusal.reason(),
                    format!("{KUBELET_PREFIX}{}", refusal.kubelet_text()),
                )
            }
        })?;
    if let Identity::Token {
        token, attributes, ..
    } = identity
    {
        let echoed = decoded
            .auth
            .iter()
            .any(|a| a.password.expose() == token.expose());
        if echoed && attributes.cache_type != "Token" {
            return Err(Failure {
                decoded: Some(decoded),
                ..Failure::new(
                    "the answer's password is the pod's service-account token; kubelet 1.34+ refuses that unless tokenAttributes.cacheType is Token".into(),
                    format!(
                        "Credential provider plugin returned the service account token as the password for image {}, which is not allowed when service account cache type is not set to 'Token'",
                        go_quote(image)
                    ),
                )
            });
        }
    }
    let base = match decoded.cache_key_type.as_str() {
        "Image" => image.to_string(),
        "Registry" => registry_of(image).to_string(),
        "Global" => GLOBAL_KEY.to_string(),
        other => {
            let failure = Failure::new(
                format!(
                    "cacheKeyType {} is not Image, Registry or Global (case matters), so kubelet throws the whole answer away",
                    go_quote(other)
                ),
                format!(
                    "credential provider plugin did not return a valid cacheKeyType: {}",
                    go_quote(other)
                ),
            );
            return Err(Failure {
                decoded: Some(decoded),
                ..failure
            });
        }
    };
    Ok((decoded, base))
}

/// Whether the run itself succeeded, as kubelet's `runPlugin` judges it.
fn judge_run(
    name: &str,
    image: &str,
    finished: &Finished,
    timeout: Duration,
) -> std::result::Result<(), Failure> {
    // Kubelet appends the plugin's stderr to these.
    let exec_error = |error: String, err: &str| {
        Failure {
        with_stderr: true,
        ..Failure::new(
            error,
            format!(
                "{KUBELET_PREFIX}error execing credential provider plugin {name} for image {image}: {err}: "
            ),
        )
    }
    };
    match &finished.ending {
        Ending::SpawnFailed(text) => Err(exec_error(
            format!("kubelet cannot start the plugin: {text}"),
            text,
        )),
        Ending::TimedOut { plugin_exited } => {
            let what = if *plugin_exited {
                format!(
                    "the plugin exited, but a process it started kept stdout or stderr open past the timeout ({}); kubelet waits for those pipes and then fails the run",
                    format_go_duration(timeout)
                )
            } else {
                format!(
                    "the plugin did not finish within {}; its process group was killed",
                    format_go_duration(timeout)
                )
            };
            let kubelet_kills = if timeout == KUBELET_TIMEOUT {
                String::new()
            } else {
                format!(
                    " (kubelet's timeout is {})",
                    format_go_duration(KUBELET_TIMEOUT)
                )
            };
            Err(exec_error(
                format!("{what}{kubelet_kills}"),
                "context deadline exceeded",
            ))
        }
        Ending::Exited(status) if !status.success() => {
            let text = exec::go_exit_text(status);
            Err(exec_error(format!("the plugin failed: {text}"), &text))
        }
        Ending::Exited(_) if finished.stdout.truncated() => Err(Failure::new(
            format!(
                "stdout is larger than {} MiB, which is no credential provider answer; not decoded",
                MAX_STDOUT >> 20
            ),
            format!(
                "{KUBELET_PREFIX}error decoding credential provider plugin response from stdout"
            ),
        )),
        Ending::Exited(_) => Ok(()),
    }
}

/// Marks the report failed, with stderr (masked) as kubelet would show it.
fn fail(
    report: &mut ProviderReport,
    run: &mut RunReport,
    finished: &Finished,
    masker: &Masker,
    failure: Failure,
) {
    report.outcome = Outcome::Failed;
    report.error = Some(failure.error);
    let stderr = masker.apply(&printable(
        &finished.stderr.bytes,
        finished.stderr.total,
        STDERR_SHOWN,
    ));
    let mut kubelet = failure.kubelet;
    if failure.with_stderr {
        match &stderr {
            Some(text) => kubelet.push_str(&one_line(text.trim_end(), STDERR_IN_LOG_LINE)),
            None => kubelet.push_str("(stderr withheld, see below)"),
        }
    }
    report.kubelet_logs = Some(kubelet);
    if finished.stderr.total > 0 {
        run.stderr = Some(stderr.unwrap_or_else(|| {
            "(withheld: the answer holds a password too short to mask safely)".to_string()
        }));
    }
}

fn one_line(text: &str, limit: usize) -> String {
    let flat = text.replace('\n', "\\n");
    match flat.char_indices().nth(limit) {
        Some((i, _)) => format!("{}… (see stderr below)", &flat[..i]),
        None => flat,
    }
}

fn stdout_start(finished: &Finished, masker: &Masker) -> String {
    let first_line = finished
        .stdout
        .bytes
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let shown = printable(first_line, first_line.len() as u64, STDOUT_SHOWN);
    masker
        .apply(&shown)
        .unwrap_or_else(|| "(withheld: it may hold a password too short to mask)".into())
}

fn ended_text(finished: &Finished) -> String {
    match &finished.ending {
        Ending::Exited(status) => exec::go_exit_text(status),
        Ending::TimedOut {
            plugin_exited: false,
        } => "killed with its process group at the timeout".to_string(),
        Ending::TimedOut {
            plugin_exited: true,
        } => {
            "exited, but its output stayed open until the timeout; process group killed".to_string()
        }
        Ending::SpawnFailed(_) => "could not start".to_string(),
    }
}

fn response_report(decoded: &Decoded, image: &str) -> ResponseReport {
    ResponseReport {
        cache_key_type: decoded.cache_key_type.clone(),
        cache_duration: decoded.cache_duration.map(format_go_nanos),
        auth: decoded
            .auth
            .iter()
            .map(|a| {
                let kubelet_key = normalize_auth_key(&a.key);
                AuthReport {
                    key: a.key.clone(),
                    matches_image: kubelet_key.as_deref().is_some_and(|k| urls_match(k, image)),
                    kubelet_key,
                    username: a.username.clone(),
                    password_length: a.password.len(),
                }
            })
            .collect(),
    }
}

/// Kubelet's cache entry for an accepted answer (§1.7, §4.5).
fn cache_report(
    provider: &Provider,
    decoded: &Decoded,
    image: &str,
    base: String,
    identity: &Identity,
) -> Option<CacheReport> {
    let default = provider
        .default_cache_duration
        .as_deref()
        .and_then(|text| parse_go_duration(text).ok())
        .unwrap_or(0);
    let (nanos, duration_from) = match decoded.cache_duration {
        Some(nanos) => (nanos, "cacheDuration"),
        None => (default, "defaultCacheDuration"),
    };
    // Zero is "do not cache"; a negative duration stores an entry that is already expired.
    let cached = nanos > 0;
    let (cache_key_text, service_account, whose) = match identity {
        Identity::Token { attributes, .. } => {
            let token_part = if attributes.cache_type == "Token" {
                ", and the token's SHA-256 (cacheType Token: each new token is a new entry)"
            } else {
                " (cacheType ServiceAccount: shared by the pods of that service account)"
            };
            (
                None,
                Some(format!(
                    "the pod's service account: namespace, name, UID and the annotations sent{token_part}"
                )),
                " for the same service account",
            )
        }
        _ => (
            cache_key(&base, b"").map(|key| go_quote_bytes(&key)),
            None,
            "",
        ),
    };
    let registry = registry_of(image);
    let effect = if !cached {
        "not cached: kubelet runs the plugin again for the next pull it matches".to_string()
    } else {
        let scope = match decoded.cache_key_type.as_str() {
            "Image" => format!("pulls of {image} only"),
            "Registry" => format!("every image on {registry} that its matchImages accept"),
            _ => "every image its matchImages accept, on any registry".to_string(),
        };
        let empty = if decoded.auth.is_empty() {
            "; an answer without credentials is cached too, so those pulls get none from it"
        } else {
            ""
        };
        format!(
            "kubelet reuses this answer without running the plugin for {scope}{whose}, until it expires{empty}"
        )
    };
    Some(CacheReport {
        key_type: decoded.cache_key_type.clone(),
        base,
        duration: format_go_nanos(nanos),
        duration_from,
        cached,
        cache_key: if cached { cache_key_text } else { None },
        service_account: if cached { service_account } else { None },
        effect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_kubelets_bytes() {
        // §1.1, TESTS Test_encodeRequest.
        let token = Secret::new("service-account-token".to_string());
        let annotations =
            BTreeMap::from([("domain.io/annotation1".to_string(), "value1".to_string())]);
        let bytes = encode_request(
            "credentialprovider.kubelet.k8s.io/v1",
            "test.registry.io/foobar",
            Some(&token),
            &annotations,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"image\":\"test.registry.io/foobar\",\"serviceAccountToken\":\"service-account-token\",\"serviceAccountAnnotations\":{\"domain.io/annotation1\":\"value1\"}}\n"
        );
        let bytes = encode_request(
            "credentialprovider.kubelet.k8s.io/v1alpha1",
            "a.io/<b>&",
            None,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1alpha1\",\"image\":\"a.io/\\u003cb\\u003e\\u0026\"}\n"
        );
    }
}
