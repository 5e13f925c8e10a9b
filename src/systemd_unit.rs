//! A systemd service's command line as systemd would start it, read from the host's files:
//! where a node without a visible kubelet process keeps kubelet's flags.
//!
//! kubeadm's packages start kubelet as
//! `ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS`
//! from the drop-in `kubelet.service.d/10-kubeadm.conf` (in `/usr/lib/systemd/system` from the
//! pkgs.k8s.io packages, in `/etc/systemd/system` from the older ones), with
//! `EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env` (written by `kubeadm init|join`) and
//! `EnvironmentFile=-/etc/default/kubelet` (Debian) or `-/etc/sysconfig/kubelet` (RPM); EKS
//! AL2023's `kubelet.service` runs `/usr/bin/kubelet $NODEADM_KUBELET_ARGS` from
//! `/etc/eks/kubelet/environment`; operators add drop-ins of their own. Reading the unit the
//! way systemd does covers all of them:
//!
//! - the unit file is the first found in `/etc/systemd/system`, `/run/systemd/system`,
//!   `/usr/local/lib/systemd/system`, `/usr/lib/systemd/system`, `/lib/systemd/system`;
//!   drop-ins are `NAME.d/*.conf` from all of them, one per file name (the earlier directory
//!   wins), applied in file-name order after the unit;
//! - in `[Service]`, an empty `ExecStart=` discards the earlier ones and the last one counts;
//!   `Environment=` and `EnvironmentFile=` accumulate (an empty one resets), and variables from
//!   environment files override `Environment=` ones, later files over earlier;
//! - in `ExecStart`, `$NAME` as a word of its own becomes the value split at whitespace,
//!   `${NAME}` becomes the value as one piece, `$$` a `$`.
//!
//! Not modelled: specifiers (`%i`), `ExecStart` prefixes beyond dropping them, templates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::host_root::{Consulted, HostRoot, Look};

/// Where systemd looks for units, highest priority first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// A service as systemd would start it.
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// The command line: program, then arguments, each with where it was set (the unit file
    /// of `ExecStart`, or `VAR in FILE` for a word of a variable's value).
    pub argv: Vec<(String, String)>,
}

impl Service {
    /// The program `ExecStart` runs, if there is one.
    pub fn program(&self) -> Option<&str> {
        self.argv.first().map(|(p, _)| p.as_str())
    }
}

/// One `[Service]` setting, with the file it came from.
struct Setting {
    key: String,
    value: String,
    file: String,
}

/// Reads service `name` (e.g. `kubelet.service`), and says which files were looked at (in
/// order, with what became of each). `None` when neither a unit file nor a drop-in of that
/// name is visible anywhere.
pub fn read_service(host: &HostRoot, name: &str) -> (Option<Service>, Vec<Consulted>) {
    let mut consulted = Vec::new();
    let mut settings = Vec::new();
    let mut unit_found = false;
    for dir in UNIT_DIRS {
        let path = Path::new(dir).join(name);
        let look = host.read_text(&path);
        // Unit directories a pod does not mount (/run, /usr/local/lib) are not worth a line
        // each; environment files are (below): they hold the flags.
        if !matches!(look, Look::Absent | Look::NotVisible) {
            consulted.push(Consulted::new(&path, &look));
        }
        if let Look::Found(text) = look {
            settings.extend(service_settings(&text, &path));
            unit_found = true;
            break;
        }
    }
    // Drop-ins: one per file name, the earliest directory's; applied in name order.
    let mut drop_ins: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let dir = Path::new(dir).join(format!("{name}.d"));
        if let Look::Found(names) = host.read_dir(&dir) {
            for file in names {
                if file.to_string_lossy().ends_with(".conf") {
                    drop_ins
                        .entry(file.clone())
                        .or_insert_with(|| dir.join(&file));
                }
            }
        }
    }
    for path in drop_ins.values() {
        let look = host.read_text(path);
        consulted.push(Consulted::new(path, &look));
        if let Look::Found(text) = look {
            settings.extend(service_settings(&text, path));
        }
    }
    if !unit_found && drop_ins.is_empty() {
        return (None, consulted);
    }

    let mut exec_start: Option<(String, String)> = None;
    let mut environment: Vec<(String, String, String)> = Vec::new();
    let mut env_files: Vec<(String, bool)> = Vec::new();
    for Setting { key, value, file } in settings {
        match key.as_str() {
            "ExecStart" if value.is_empty() => exec_start = None,
            "ExecStart" => exec_start = Some((value, file)),
            "Environment" if value.is_empty() => environment.clear(),
            "Environment" => {
                for word in split_quoted(&value) {
                    if let Some((k, v)) = word.split_once('=') {
                        environment.push((k.to_string(), v.to_string(), file.clone()));
                    }
                }
            }
            "EnvironmentFile" if value.is_empty() => env_files.clear(),
            "EnvironmentFile" => match value.strip_prefix('-') {
                Some(path) => env_files.push((path.to_string(), true)),
                None => env_files.push((value, false)),
            },
            _ => {}
        }
    }
    let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (k, v, file) in environment {
        env.insert(k, (v, file));
    }
    for (path, _optional) in env_files {
        let path = PathBuf::from(path);
        let look = host.read_text(&path);
        consulted.push(Consulted::new(&path, &look));
        if let Look::Found(text) = look {
            for (k, v) in parse_env_file(&text) {
                env.insert(k, (v, path.display().to_string()));
            }
        }
    }
    let argv = match exec_start {
        Some((line, file)) => expand_exec(&line, &file, &env),
        None => Vec::new(),
    };
    (Some(Service { argv }), consulted)
}

/// The `[Service]` settings of one unit file, continuation lines joined.
fn service_settings(text: &str, path: &Path) -> Vec<Setting> {
    let file = path.display().to_string();
    let mut settings = Vec::new();
    let mut in_service = false;
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let logical = std::mem::take(&mut pending);
        let logical = logical.trim();
        if logical.starts_with('[') {
            in_service = logical == "[Service]";
            continue;
        }
        if !in_service {
            continue;
        }
        if let Some((key, value)) = logical.split_once('=') {
            settings.push(Setting {
                key: key.trim().to_string(),
                value: value.trim().to_string(),
                file: file.clone(),
            });
        }
    }
    settings
}

/// `ExecStart`'s words with systemd's prefixes dropped and variables expanded; each word
/// carries the file that set it.
fn expand_exec(
    line: &str,
    unit_file: &str,
    env: &BTreeMap<String, (String, String)>,
) -> Vec<(String, String)> {
    let mut words = split_quoted(line).into_iter();
    let Some(first) = words.next() else {
        return Vec::new();
    };
    let program = first
        .trim_start_matches(['-', '@', ':', '+', '!'])
        .to_string();
    if first[..first.len() - program.len()].contains('@') {
        // `@PATH ARGV0 ...`: the second word is argv[0], not an argument.
        words.next();
    }
    let mut argv = vec![(program, unit_file.to_string())];
    for word in words {
        if let Some(name) = whole_variable(&word) {
            if let Some((value, file)) = env.get(name) {
                let from = format!("{name} in {file}");
                argv.extend(
                    value
                        .split_whitespace()
                        .map(|w| (w.to_string(), from.clone())),
                );
            }
            continue;
        }
        argv.push((substitute_braced(&word, env), unit_file.to_string()));
    }
    argv
}

/// `NAME` when `word` is `$NAME` (systemd splits such a word at whitespace).
fn whole_variable(word: &str) -> Option<&str> {
    let name = word.strip_prefix('$')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

/// `${NAME}` replaced by the value as one piece, `$$` by `$`.
fn substitute_braced(word: &str, env: &BTreeMap<String, (String, String)>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('{').and_then(|a| a.split_once('}')) {
            if let Some((value, _)) = env.get(name) {
                out.push_str(value);
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Splits a unit-file value into words: whitespace separates, `"..."` and `'...'` group,
/// a backslash escapes the next character (inside double quotes too).
pub fn split_quoted(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `KEY=VALUE` assignments of an environment file as systemd's `EnvironmentFile=` reads it
/// (also the format of `/etc/default/kubelet`, `/etc/sysconfig/kubelet`, kubeadm's
/// `kubeadm-flags.env` and nodeadm's `/etc/eks/kubelet/environment`): `#` and `;` start
/// comment lines, a value may be in double quotes (backslash escapes) or single quotes, an
/// unquoted value ends at the line's end with trailing blanks dropped, and a backslash at
/// the end of a line continues it. A later assignment of a key wins.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // Start of a line: skip blanks, empty lines and comments.
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('#' | ';') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        let mut key = String::new();
        let mut has_equals = false;
        for c in chars.by_ref() {
            match c {
                '=' => {
                    has_equals = true;
                    break;
                }
                '\n' => break,
                c => key.push(c),
            }
        }
        if !has_equals {
            continue;
        }
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut value = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('\n') | None => {}
                            Some(e) => value.push(e),
                        },
                        c => value.push(c),
                    }
                }
                // The rest of the line after the closing quote is ignored.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            Some('\'') => {
                chars.next();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    value.push(c);
                }
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            _ => {
                while let Some(c) = chars.next() {
                    match c {
                        '\n' => break,
                        '\\' => match chars.next() {
                            Some('\n') => {}
                            Some(e) => value.push(e),
                            None => {}
                        },
                        c => value.push(c),
                    }
                }
                value.truncate(value.trim_end().len());
            }
        }
        let key = key.trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

/// The value of `key` in environment file text.
pub fn env_value(text: &str, key: &str) -> Option<String> {
    parse_env_file(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn env_files_as_the_distributions_write_them() {
        let text = "\
# kubeadm
KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"
; comment
KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/k/c.yaml \\
   --image-credential-provider-bin-dir=/b   
SINGLE='a \"b\" $c'
KUBELET_EXTRA_ARGS=\"--v=2 \\\"quoted\\\"\" trailing ignored
not an assignment
";
        let env = parse_env_file(text);
        assert_eq!(
            env,
            [
                (
                    "KUBELET_KUBEADM_ARGS".to_string(),
                    "--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10".to_string()
                ),
                ("SINGLE".to_string(), "a \"b\" $c".to_string()),
                ("KUBELET_EXTRA_ARGS".to_string(), "--v=2 \"quoted\"".to_string()),
            ]
        );
        assert_eq!(
            env_value(
                "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/k/c.yaml \\\n   --image-credential-provider-bin-dir=/b   \n",
                "KUBELET_EXTRA_ARGS"
            )
            .as_deref(),
            Some("--image-credential-provider-config=/etc/k/c.yaml    --image-credential-provider-bin-dir=/b")
        );
        // AKS writes KUBELET_FLAGS unquoted; nodeadm writes NODEADM_KUBELET_ARGS unquoted.
        assert_eq!(
            env_value(
                "KUBELET_FLAGS=--a=1 --b=2\nKUBELET_NODE_LABELS=x=y\n",
                "KUBELET_FLAGS"
            )
            .as_deref(),
            Some("--a=1 --b=2")
        );
    }

    #[test]
    fn quoted_words_split_like_systemd() {
        assert_eq!(
            split_quoted(
                r#"  "KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml" A='x y' b\ c "q\"q" "#
            ),
            [
                "KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml",
                "A=x y",
                "b c",
                "q\"q"
            ]
        );
        assert_eq!(split_quoted(r#""""#), [""]);
        assert!(split_quoted("   ").is_empty());
    }

    #[test]
    fn exec_start_expands_whole_and_braced_variables() {
        let mut env = BTreeMap::new();
        env.insert(
            "ARGS".to_string(),
            ("--a=1  --b=2".to_string(), "/env".to_string()),
        );
        env.insert("ONE".to_string(), ("x y".to_string(), "/env".to_string()));
        let argv = expand_exec(
            "-/usr/bin/kubelet $ARGS --c=${ONE} $MISSING $$HOME ${MISSING}z",
            "/unit",
            &env,
        );
        let words: Vec<&str> = argv.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            words,
            [
                "/usr/bin/kubelet",
                "--a=1",
                "--b=2",
                "--c=x y",
                "$HOME",
                "z"
            ]
        );
        assert_eq!(argv[1].1, "ARGS in /env");
        assert_eq!(argv[3].1, "/unit");
        let argv = expand_exec("@/usr/bin/kubelet kubelet --v=2", "/unit", &env);
        let words: Vec<&str> = argv.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(words, ["/usr/bin/kubelet", "--v=2"]);
    }

    #[test]
    fn a_kubeadm_unit_with_drop_ins_and_environment_files() {
        let dir = std::env::temp_dir().join(format!("ccp-systemd-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let write = |path: &str, text: &str| {
            let p = dir.join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        write(
            "/usr/lib/systemd/system/kubelet.service",
            "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
        );
        write(
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "[Service]\n\
             Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
             Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\n\
             EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n\
             EnvironmentFile=-/etc/default/kubelet\n\
             ExecStart=\n\
             ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS \\\n  $KUBELET_EXTRA_ARGS\n",
        );
        // A same-named drop-in in /usr/lib is masked by /etc's.
        write(
            "/usr/lib/systemd/system/kubelet.service.d/20-x.conf",
            "[Service]\nEnvironment=X=usr\n",
        );
        write(
            "/etc/systemd/system/kubelet.service.d/20-x.conf",
            "[Service]\nEnvironment=X=etc\n",
        );
        write(
            "/var/lib/kubelet/kubeadm-flags.env",
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock\"\n",
        );
        write(
            "/etc/default/kubelet",
            "KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/kubernetes/credential-provider/config.yaml --image-credential-provider-bin-dir=/usr/local/libexec/kubelet-credential-provider\n",
        );
        let host = HostRoot::open(&dir).unwrap();
        let (service, consulted) = read_service(&host, "kubelet.service");
        let service = service.expect("unit found");
        assert_eq!(service.program(), Some("/usr/bin/kubelet"));
        let words: Vec<&str> = service.argv.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            words,
            [
                "/usr/bin/kubelet",
                "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                "--kubeconfig=/etc/kubernetes/kubelet.conf",
                "--config=/var/lib/kubelet/config.yaml",
                "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
                "--image-credential-provider-config=/etc/kubernetes/credential-provider/config.yaml",
                "--image-credential-provider-bin-dir=/usr/local/libexec/kubelet-credential-provider",
            ]
        );
        assert_eq!(
            service.argv.last().unwrap().1,
            "KUBELET_EXTRA_ARGS in /etc/default/kubelet"
        );
        assert_eq!(
            service.argv[3].1,
            "KUBELET_CONFIG_ARGS in /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
        );
        let paths: Vec<(&str, &str)> = consulted
            .iter()
            .map(|c| (c.path.as_str(), c.state.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                ("/usr/lib/systemd/system/kubelet.service", "read"),
                (
                    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
                    "read"
                ),
                ("/etc/systemd/system/kubelet.service.d/20-x.conf", "read"),
                ("/var/lib/kubelet/kubeadm-flags.env", "read"),
                ("/etc/default/kubelet", "read"),
            ]
        );
        let (none, _) = read_service(&host, "k3s.service");
        assert!(none.is_none());
        fs::remove_dir_all(&dir).unwrap();
    }
}
