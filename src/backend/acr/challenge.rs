//! `WWW-Authenticate` parsing for the ACR token flow.
//!
//! An ACR login server answers `GET /v2/` with `401` and
//! `WWW-Authenticate: Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io"`.
//! The realm tells where to exchange the Entra token. Proxies, registry front-ends and older
//! servers reorder parameters, change the scheme's case, drop quotes, or put several
//! challenges in one header (`Basic realm="x", Bearer realm=…`); the reference plugin's
//! parser was only ever tested on one quoted form. This one follows RFC 9110 §11.6.1 closely
//! enough for all of those: schemes are case-insensitive, parameter names are case-insensitive,
//! values are tokens or quoted strings (with `\` escapes, commas allowed inside quotes).

use std::collections::BTreeMap;

/// One challenge: an auth scheme and its parameters (names lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent (`Bearer`, `basic`, ...).
    pub scheme: String,
    /// `name → value`, names lower-cased, values unquoted and unescaped.
    pub params: BTreeMap<String, String>,
}

/// The parts of a Bearer challenge the token exchange needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    /// Where tokens are issued (`https://myacr.azurecr.io/oauth2/token`).
    pub realm: String,
    /// The `service` to ask a token for (the login server's name).
    pub service: Option<String>,
}

/// Parses every challenge in one `WWW-Authenticate` header value.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        chars: header.chars().collect(),
        at: 0,
    };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        p.skip(|c| c.is_whitespace() || c == ',');
        if p.eof() {
            return challenges;
        }
        let token = p.take_while(|c| !c.is_whitespace() && c != ',' && c != '=');
        if token.is_empty() {
            // A stray '=' (e.g. token68 padding): skip it.
            p.at += 1;
            continue;
        }
        p.skip(char::is_whitespace);
        match (p.peek(), challenges.last_mut()) {
            (Some('='), Some(current)) => {
                p.at += 1;
                // token68 padding (`abc==`) is not a parameter: swallow the run of '='.
                p.skip(|c| c == '=');
                p.skip(char::is_whitespace);
                let value = if p.peek() == Some('"') {
                    p.quoted()
                } else {
                    p.take_while(|c| !c.is_whitespace() && c != ',')
                };
                current.params.insert(token.to_ascii_lowercase(), value);
            }
            (Some('='), None) => {
                // A parameter before any scheme: not a challenge; skip its value.
                p.at += 1;
                p.skip(char::is_whitespace);
                if p.peek() == Some('"') {
                    p.quoted();
                } else {
                    p.take_while(|c| !c.is_whitespace() && c != ',');
                }
            }
            _ => challenges.push(Challenge {
                scheme: token,
                params: BTreeMap::new(),
            }),
        }
    }
}

/// The first Bearer challenge with a non-empty realm among `headers` (all `WWW-Authenticate`
/// values of a response).
pub fn bearer<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Bearer> {
    headers
        .into_iter()
        .flat_map(parse)
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|mut c| {
            let realm = c.params.remove("realm").filter(|r| !r.is_empty())?;
            Some(Bearer {
                realm,
                service: c.params.remove("service").filter(|s| !s.is_empty()),
            })
        })
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn eof(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let start = self.at;
        self.skip(pred);
        self.chars[start..self.at].iter().collect()
    }

    /// A quoted string starting at the current `"`; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.at += 1;
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer_of(header: &str) -> Option<Bearer> {
        bearer([header])
    }

    fn expect(realm: &str, service: Option<&str>) -> Option<Bearer> {
        Some(Bearer {
            realm: realm.to_string(),
            service: service.map(str::to_string),
        })
    }

    #[test]
    fn acr_quoted_form() {
        assert_eq!(
            bearer_of(
                r#"Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io""#
            ),
            expect(
                "https://myacr.azurecr.io/oauth2/token",
                Some("myacr.azurecr.io")
            )
        );
    }

    #[test]
    fn unquoted_values_any_order_and_case() {
        assert_eq!(
            bearer_of(
                "bEaReR SERVICE=myacr.azurecr.io, Realm=https://myacr.azurecr.io/oauth2/token"
            ),
            expect(
                "https://myacr.azurecr.io/oauth2/token",
                Some("myacr.azurecr.io")
            )
        );
    }

    #[test]
    fn spaces_around_equals_and_commas_inside_quotes() {
        assert_eq!(
            bearer_of(
                r#"Bearer   realm = "https://r.example/token" , scope="repository:a:pull,push", service = "svc""#
            ),
            expect("https://r.example/token", Some("svc"))
        );
        let c = parse(r#"Bearer realm="x", scope="repository:a:pull,push""#);
        assert_eq!(c[0].params["scope"], "repository:a:pull,push");
    }

    #[test]
    fn escapes_in_quoted_strings() {
        let c = parse(r#"Bearer realm="a\"b\\c""#);
        assert_eq!(c[0].params["realm"], r#"a"b\c"#);
    }

    #[test]
    fn bearer_among_several_challenges() {
        assert_eq!(
            bearer_of(r#"Basic realm="Registry", Bearer realm="https://r/t", service="s""#),
            expect("https://r/t", Some("s"))
        );
        assert_eq!(
            bearer([r#"Basic realm="x""#, "Bearer realm=https://r/t"]),
            expect("https://r/t", None)
        );
        // token68 credentials do not confuse the parser.
        assert_eq!(
            bearer_of("Negotiate abc==, Bearer realm=https://r/t"),
            expect("https://r/t", None)
        );
    }

    #[test]
    fn no_usable_bearer() {
        assert_eq!(bearer_of(r#"Basic realm="Registry Realm""#), None);
        assert_eq!(bearer_of("Bearer"), None);
        assert_eq!(bearer_of(r#"Bearer realm="""#), None);
        assert_eq!(bearer_of(""), None);
        assert_eq!(bearer_of(r#"realm="x", service=y"#), None);
        assert_eq!(bearer_of("Bearerrealm=x"), None);
    }

    #[test]
    fn unterminated_quote_runs_to_the_end() {
        assert_eq!(
            bearer_of(r#"Bearer realm="https://r/t"#),
            expect("https://r/t", None)
        );
    }
}
