//! Masking what a provider printed before the report shows it.
//!
//! A foreign plugin's stderr can hold anything, including the password it fetched or the
//! pod's token it was sent. Every secret this command knows of — the token it sent, each
//! password in the plugin's answer (also base64-encoded with its username, as Docker's `auth`
//! holds it), the values of `env` entries whose names say they are secret — is replaced by its
//! kind and length. A known secret too short to replace without garbling the text around it
//! withholds the text instead: a password is never shown. On top of that, whatever follows a
//! `password`, `passwd`, `secret` or `token` key in the plugin's output (JSON members, valid
//! or cut off, and `key=value` / `key: value` log fields) is masked too: the secrets a plugin
//! fetched but did not put in a valid answer.

use base64::Engine as _;

use super::response::parse;

/// Below this length a secret could match ordinary text; such text is withheld, not masked.
const MIN_MASKABLE: usize = 4;

/// Parts of `env` names whose values are treated as secrets.
const SECRET_NAME_PARTS: &[&str] = &["SECRET", "TOKEN", "PASSW", "KEY", "CREDENTIAL"];

/// Keys in plugin output whose values are masked wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "passwd", "secret", "token"];

/// The secrets of one provider run.
#[derive(Debug, Default, Clone)]
pub struct Masker {
    /// (secret, what to show instead), longest first once [`Masker::apply`] runs.
    secrets: Vec<(String, String)>,
    /// A secret too short to mask was added.
    unmaskable: bool,
}

impl Masker {
    /// Adds one secret, shown as `[<what>, N bytes]`.
    pub fn add(&mut self, secret: &str, what: &str) {
        if secret.is_empty() {
            return;
        }
        if secret.len() < MIN_MASKABLE {
            self.unmaskable = true;
            return;
        }
        if !self.secrets.iter().any(|(s, _)| s == secret) {
            let shown = format!("[{what}, {} bytes]", secret.len());
            self.secrets.push((secret.to_string(), shown));
        }
    }

    /// Adds a username/password pair: the password, and the pair in Docker's `auth` form.
    pub fn add_credentials(&mut self, username: &str, password: &str) {
        self.add(password, "password");
        if !password.is_empty() {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            self.add(&pair, "base64 username:password");
        }
    }

    /// Adds every value `output` gives a secret-sounding key (see the module docs). Values too
    /// short to mask are left alone here: these are guesses, not known secrets.
    pub fn add_secret_fields(&mut self, output: &[u8]) {
        for value in secret_like_values(&String::from_utf8_lossy(output)) {
            if value.len() >= MIN_MASKABLE {
                self.add(&value, "secret");
            }
        }
    }

    /// Adds the values of `env` entries whose names look secret (`*_SECRET`, `*TOKEN*`, ...).
    pub fn add_env(&mut self, env: &[(String, String)]) {
        for (name, value) in env {
            let upper = name.to_ascii_uppercase();
            // `TOKEN_FILE`, `KEY_PATH`: where a secret is, not the secret.
            let names_a_place = ["_FILE", "_PATH", "_DIR"]
                .iter()
                .any(|end| upper.ends_with(end));
            if !names_a_place && SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
                self.add(value, &format!("value of {name}"));
            }
        }
    }

    /// `text` with every known secret replaced, or `None` when a secret was too short to
    /// replace safely (the caller says the text is withheld).
    pub fn apply(&self, text: &str) -> Option<String> {
        if self.unmaskable {
            return None;
        }
        let mut secrets: Vec<&(String, String)> = self.secrets.iter().collect();
        // Longest first: a password that contains another secret is replaced whole.
        secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for (secret, shown) in secrets {
            out = out.replace(secret.as_str(), shown);
        }
        Some(out)
    }
}

/// The values `text` gives the [`SECRET_KEYS`]: string members of a valid JSON document at any
/// depth, and wherever a key is followed by `:` or `=`, the quoted string or bare word after it
/// (raw, and unescaped when it reads as a JSON string).
fn secret_like_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(doc) = parse(text) {
        for key in SECRET_KEYS {
            doc.strings_under(key, &mut found);
        }
    }
    let lower = text.to_ascii_lowercase();
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(key) {
            let start = from + i + key.len();
            from = start;
            // `to_ascii_lowercase` keeps byte offsets, and the key is ASCII: `start` is a char
            // boundary of `text`.
            let rest = text[start..].trim_start_matches(['"', '\'']).trim_start();
            let Some(rest) = rest.strip_prefix([':', '=']) else {
                continue;
            };
            let rest = rest.trim_start();
            let value = match rest.chars().next() {
                Some(quote @ ('"' | '\'')) => quoted_prefix(&rest[1..], quote),
                _ => rest
                    .split(|c: char| c.is_whitespace() || ",;&}]\"'".contains(c))
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            if let Ok(unescaped) = serde_json::from_str::<String>(&format!("\"{value}\"")) {
                if unescaped != value {
                    found.push(unescaped);
                }
            }
            if !value.is_empty() {
                found.push(value);
            }
        }
    }
    found
}

/// The text up to the closing `quote` (backslash escapes skipped), or to the end.
fn quoted_prefix(text: &str, quote: char) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if c == quote && !escaped {
            break;
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// Plugin output as printable text: lossy UTF-8, control characters other than newline and
/// tab escaped (a foreign plugin's output must not drive the operator's terminal), at most
/// `limit` bytes with a count of the rest.
pub fn printable(bytes: &[u8], total: u64, limit: usize) -> String {
    let shown = &bytes[..bytes.len().min(limit)];
    let mut out = String::new();
    for c in String::from_utf8_lossy(shown).chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    let left = total.saturating_sub(shown.len() as u64);
    if left > 0 {
        out.push_str(&format!("… ({left} more bytes)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_their_kind_and_length() {
        let mut m = Masker::default();
        m.add("tok-123456", "service-account token");
        m.add_credentials("alice", "hunter22");
        m.add_env(&[
            ("CLIENT_SECRET".into(), "sssshhhh".into()),
            ("REGION".into(), "eu-west-1".into()),
            ("TOKEN_FILE".into(), "/var/run/token".into()),
        ]);
        let pair = base64::engine::general_purpose::STANDARD.encode("alice:hunter22");
        let text = format!("sent tok-123456, got hunter22 ({pair}) in eu-west-1 with sssshhhh");
        assert!(m
            .apply("/var/run/token")
            .unwrap()
            .contains("/var/run/token"));
        assert_eq!(
            m.apply(&text).unwrap(),
            "sent [service-account token, 10 bytes], got [password, 8 bytes] ([base64 username:password, 20 bytes]) in eu-west-1 with [value of CLIENT_SECRET, 8 bytes]"
        );
    }

    #[test]
    fn a_secret_too_short_to_mask_withholds_the_text() {
        let mut m = Masker::default();
        m.add_credentials("u", "pw");
        assert_eq!(m.apply("anything"), None);
    }

    #[test]
    fn secret_fields_of_broken_output_and_log_lines_are_masked() {
        let mut m = Masker::default();
        m.add_secret_fields(br#"oops {"auth":{"r":{"password":"abcdefgh"#);
        m.add_secret_fields(
            b"level=info msg=x password=hunter22 user=bob\nclient_secret: 's3cr3t!!' token=\"t0k\"",
        );
        assert_eq!(
            m.apply("abcdefgh hunter22 s3cr3t!! t0k bob").unwrap(),
            "[secret, 8 bytes] [secret, 8 bytes] [secret, 8 bytes] t0k bob"
        );
    }

    #[test]
    fn secret_values_are_found_raw_and_unescaped() {
        let found = secret_like_values(r#"{"auth":{"r":{"username":"u","Password" : "p\"w1"#);
        assert!(found.contains(&r#"p\"w1"#.to_string()), "{found:?}");
        assert!(found.contains(&r#"p"w1"#.to_string()), "{found:?}");
        let found = secret_like_values(r#"{"a":[{"password":"x\u0041yz"}]}"#);
        assert!(found.contains(&"xAyz".to_string()), "{found:?}");
        assert!(found.contains(&r"x\u0041yz".to_string()), "{found:?}");
        let found = secret_like_values(r#"{"serviceAccountToken":"eyJhbGc.x.y"}"#);
        assert!(found.contains(&"eyJhbGc.x.y".to_string()), "{found:?}");
    }

    #[test]
    fn output_is_made_printable_and_capped() {
        assert_eq!(printable(b"a\x1b[31mb\n\tc", 10, 100), "a\\u{1b}[31mb\n\tc");
        assert_eq!(printable(b"abcdef", 6, 3), "abc… (3 more bytes)");
    }
}
