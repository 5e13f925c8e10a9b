//! Bounds every local document must meet before a JSON or YAML parser sees it.
//!
//! [`crate::local_file`] bounds how many bytes are read; this module bounds what parsing those
//! bytes can cost, so that a config file cannot make a run outlive `--timeout` either:
//!
//! - **Nesting.** serde_json stops at 128 levels by itself (its recursion limit is on: the
//!   crate's `unbounded_depth` feature is not enabled anywhere in the tree), and quickly. YAML
//!   is different: serde_yaml_ng hands the text to libyaml, collects *all* events of the
//!   document, and only then deserializes — where its own limit of 128 levels applies. libyaml's
//!   scanner keeps one "possible simple key" per open flow collection and re-examines all of
//!   them for every token, so `[[[[…` or `{a: {a: …` costs time quadratic in the depth (issue
//!   #9: 74 s for a 400 KB `--config` of 200,000 levels; here, debug build, `{a: ` 25,000 deep
//!   took 14 s) before a "recursion limit exceeded" came out. Block nesting (`- - - - x`,
//!   deeper and deeper indentation) is linear but builds the whole event list. So the text is
//!   scanned first (one pass, linear) and refused beyond [`MAX_DEPTH`] levels.
//! - **YAML size.** libyaml is an order of magnitude slower per byte than serde_json and
//!   materialises every event, so documents parsed as YAML are held to [`MAX_YAML_BYTES`].
//! - **Aliases.** A YAML alias re-reads the anchored value each time it appears: 20,000
//!   aliases of a 20,000-item list is a 120 KB file that expands to 400 million values (it ran
//!   for more than a minute and a gigabyte before being killed). serde_yaml_ng's own
//!   "repetition limit" counts alias jumps, not the values they expand to. A document that uses
//!   aliases is therefore first walked once with a budget of [`MAX_YAML_VALUES`] values.
//!
//! The depth scan over-approximates rather than parses: it counts open flow brackets outside
//! quoted scalars and comments, plus the stack of block indentation levels that libyaml would
//! open (`- `, `? `, `key:` at a deeper column), skipping block scalars (`|`, `>`). A real
//! config nests 3–5 levels, so the bound is far from anything legitimate. Errors say which
//! limit and where, never what the document holds.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};

use crate::local_file::describe_size;

/// The deepest nesting accepted in a local JSON or YAML document: 64 levels.
///
/// Kubelet's config nests 4 levels (`providers[].tokenAttributes.…Keys[]`), a Docker config 3,
/// host rules 3, azure.json 1. 64 is far above any of them and below the parsers' own limits
/// (128 in serde_json and serde_yaml_ng), so this check — fast, before libyaml's quadratic
/// scanner runs — is the one that answers.
pub const MAX_DEPTH: usize = 64;

/// The largest document parsed as YAML: 1 MiB, what a Kubernetes ConfigMap or Secret can hold.
///
/// Kubelet configs, `--config` host rules and azure.json are a few KiB. libyaml parses roughly
/// a megabyte a second in a debug build (and builds every event in memory first), so a cap
/// here bounds the time too; JSON-only files (Docker configs, key files) keep
/// [`crate::local_file::MAX_FILE_BYTES`].
pub const MAX_YAML_BYTES: usize = 1 << 20;

/// The most values a YAML document that uses aliases may expand to: 100,000.
///
/// Every alias counts the whole value it repeats. Real configs hold hundreds of values; the
/// budget is a guard against alias bombs, not a size limit (documents without aliases are
/// bounded by their byte size alone and are not walked twice).
pub const MAX_YAML_VALUES: usize = 100_000;

/// Checks a document that will be parsed as JSON: nesting only (serde_json has no aliases
/// and parses fast at any size this binary reads).
pub fn check_json(text: &str) -> Result<(), String> {
    scan(text).map(|_| ())
}

/// Checks a document that will be parsed as YAML (JSON read by a YAML parser included): size,
/// nesting and, when it uses aliases, what they expand to.
pub fn check_yaml(text: &str) -> Result<(), String> {
    if text.len() > MAX_YAML_BYTES {
        return Err(format!(
            "it is {} bytes, over the {} limit for YAML documents",
            text.len(),
            describe_size(MAX_YAML_BYTES as u64)
        ));
    }
    let scanned = scan(text)?;
    if scanned.aliases > 0 {
        check_alias_expansion(text)?;
    }
    Ok(())
}

/// What the scan found besides the depth.
struct Scanned {
    /// Alias tokens (`*name`) seen outside quotes and comments.
    aliases: usize,
}

/// The depth error.
fn too_deep(line: usize) -> String {
    format!(
        "it nests more than {MAX_DEPTH} levels deep (line {line}), the limit for local documents"
    )
}

/// One linear pass over the text; see the module docs for what it counts.
fn scan(text: &str) -> Result<Scanned, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Open flow collections (`[`, `{`), carried across lines.
    let mut flow = 0usize;
    // Columns of the open block collections, innermost last (libyaml's indentation stack).
    let mut indents: Vec<usize> = Vec::new();
    // While inside a block scalar: the column its content must be indented beyond (-1: any).
    let mut block_scalar: Option<isize> = None;
    let mut aliases = 0usize;
    let push_deeper = |indents: &mut Vec<usize>, column: usize| {
        if indents.last().is_none_or(|&top| column > top) {
            indents.push(column);
        }
    };

    // YAML breaks lines at `\n`, `\r\n` and a lone `\r`; the empty piece between `\r` and
    // `\n` is a blank line, which changes nothing.
    for (index, line) in text.split(['\n', '\r']).enumerate() {
        let line_no = index + 1;
        let line = line.as_bytes();
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let blank = indent == line.len();
        if let Some(parent) = block_scalar {
            if blank || indent as isize > parent {
                continue;
            }
            block_scalar = None;
        }

        let block_line = flow == 0;
        let mut pos = indent;
        if block_line {
            if blank || line[indent] == b'#' {
                continue;
            }
            let marker = indent == 0
                && (line.starts_with(b"---") || line.starts_with(b"..."))
                && line.get(3).is_none_or(|b| matches!(b, b' ' | b'\t'));
            if marker {
                // A new document (or the end of one): nothing stays open.
                indents.clear();
                pos = 3;
            } else {
                while indents.last().is_some_and(|&top| top > indent) {
                    indents.pop();
                }
                // Compact indicators: `- - x`, `? key`, `: value` each open a level.
                while let Some(b'-' | b'?' | b':') = line.get(pos) {
                    if !line.get(pos + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) {
                        break;
                    }
                    push_deeper(&mut indents, pos);
                    if indents.len() > MAX_DEPTH {
                        return Err(too_deep(line_no));
                    }
                    pos += 1;
                    while matches!(line.get(pos), Some(b' ' | b'\t')) {
                        pos += 1;
                    }
                }
            }
            while matches!(line.get(pos), Some(b' ' | b'\t')) {
                pos += 1;
            }
        }

        // Quotes do not carry over to the next line: a multi-line quoted scalar is then
        // scanned as structure (counting more, never less), and a quote the scan mistakes for
        // one (`a "b` in a plain scalar) can hide no more than the rest of its line.
        let mut quote: Option<u8> = None;
        let key_column = pos;
        let mut value_from = pos;
        let mut end = line.len();
        let mut key_seen = false;
        let mut i = pos;
        while i < line.len() {
            let b = line[i];
            if let Some(q) = quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    // `''` inside single quotes is an escaped quote.
                    if q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                }
                i += 1;
                continue;
            }
            let after_space = i == 0 || matches!(line[i - 1], b' ' | b'\t');
            let token_start = after_space
                || i == pos
                || (flow > 0 && matches!(line[i - 1], b'[' | b'{' | b',' | b':'));
            match b {
                b'#' if after_space => {
                    end = i;
                    break;
                }
                b'"' | b'\'' if token_start => quote = Some(b),
                // In block context a bracket inside a plain scalar (`a[1]`) is text.
                b'[' | b'{' if flow > 0 || token_start => {
                    flow += 1;
                    if indents.len() + flow > MAX_DEPTH {
                        return Err(too_deep(line_no));
                    }
                }
                b']' | b'}' if flow > 0 => flow -= 1,
                b'*' if token_start => aliases += 1,
                b':' if block_line
                    && flow == 0
                    && !key_seen
                    && line.get(i + 1).is_none_or(|b| matches!(b, b' ' | b'\t')) =>
                {
                    key_seen = true;
                    value_from = i + 1;
                    push_deeper(&mut indents, key_column);
                    if indents.len() > MAX_DEPTH {
                        return Err(too_deep(line_no));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if block_line
            && flow == 0
            && quote.is_none()
            && is_block_scalar_header(&line[value_from..end])
        {
            block_scalar = Some(indents.last().map_or(-1, |&top| top as isize));
        }
    }
    Ok(Scanned { aliases })
}

/// Whether a block-context value is the header of a literal or folded scalar (`|`, `>-`,
/// `|2+`), optionally after an anchor or tag: its content lines follow and are not structure.
fn is_block_scalar_header(value: &[u8]) -> bool {
    let mut words = value
        .split(|b| matches!(b, b' ' | b'\t'))
        .filter(|w| !w.is_empty());
    loop {
        match words.next() {
            Some([b'&' | b'!', ..]) => continue,
            Some([b'|' | b'>', indicators @ ..]) => {
                return indicators
                    .iter()
                    .all(|b| matches!(b, b'-' | b'+' | b'0'..=b'9'))
                    && words.next().is_none()
            }
            _ => return false,
        }
    }
}

/// Walks the first document (the one every reader here uses) with a value budget. A document
/// that does not parse is left to the real parser, so its syntax errors keep their wording.
fn check_alias_expansion(text: &str) -> Result<(), String> {
    let Some(document) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return Ok(());
    };
    let budget = Cell::new(MAX_YAML_VALUES);
    match Budgeted(&budget).deserialize(document) {
        Err(_) if budget.get() == 0 => Err(format!(
            "its aliases expand to more than {MAX_YAML_VALUES} values, the limit for YAML documents"
        )),
        _ => Ok(()),
    }
}

/// A visitor that accepts any value and spends one unit of the budget per value.
struct Budgeted<'a>(&'a Cell<usize>);

impl Budgeted<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.0.get() {
            0 => Err(E::custom("value budget spent")),
            left => {
                self.0.set(left - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(Budgeted(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(Budgeted(self.0))?.is_some() {
            map.next_value_seed(Budgeted(self.0))?;
        }
        Ok(())
    }
    /// serde_yaml_ng hands a `!tag value` over as an enum; the value is what counts.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_tag, variant) = data.variant::<de::IgnoredAny>()?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> String {
        check_yaml(text).unwrap_err()
    }

    fn nested_flow(open: &str, close: &str, levels: usize) -> String {
        format!("{}1{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn flow_nesting_is_counted_in_json_and_yaml() {
        let ok = nested_flow("[", "]", MAX_DEPTH);
        check_json(&ok).unwrap();
        check_yaml(&ok).unwrap();
        let deep = nested_flow("[", "]", MAX_DEPTH + 1);
        assert_eq!(
            check_json(&deep).unwrap_err(),
            "it nests more than 64 levels deep (line 1), the limit for local documents"
        );
        depth_error(&deep);
        let objects = nested_flow("{\"a\":", "}", MAX_DEPTH + 1);
        check_json(&objects).unwrap_err();
        let flow_map = nested_flow("{a: ", "}", MAX_DEPTH + 1);
        depth_error(&flow_map);
    }

    #[test]
    fn block_nesting_is_counted_by_indentation_and_compact_indicators() {
        let mut keys = String::new();
        for level in 0..=MAX_DEPTH {
            keys.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        assert!(
            depth_error(&keys).contains("line 65"),
            "{}",
            depth_error(&keys)
        );
        let dashes = format!("{}x\n", "- ".repeat(MAX_DEPTH + 1));
        depth_error(&dashes);
        check_yaml(&format!("{}x\n", "- ".repeat(MAX_DEPTH))).unwrap();
        // Mixed: block levels and flow levels add up.
        let mixed = format!("{}{}\n", "- ".repeat(40), nested_flow("[", "]", 30));
        depth_error(&mixed);
    }

    #[test]
    fn siblings_and_dedents_do_not_add_levels() {
        let mut doc = String::from("apiVersion: v1\nkind: X\nproviders:\n");
        for i in 0..500 {
            doc.push_str(&format!(
                "  - name: p{i}\n    matchImages:\n      - \"*.example\"\n    args: [\"--v=1\", a]\n    env:\n    - name: A\n      value: b\n"
            ));
        }
        check_yaml(&doc).unwrap();
        check_yaml("a:\n- b\n- c\nd: {e: [f, g]}\n").unwrap();
    }

    #[test]
    fn quotes_comments_and_block_scalars_hide_brackets() {
        let brackets = "[".repeat(MAX_DEPTH + 10);
        for text in [
            format!("a: \"{brackets}\"\n"),
            format!("a: '{brackets}'\n"),
            format!("a: 'it''s {brackets}'\n"),
            format!("a: \"esc \\\" {brackets}\"\n"),
            format!("a: 1 # {brackets}\n"),
            format!("# {brackets}\nb: 1\n"),
            format!("a: |\n  {brackets}\n  {brackets}\nb: 1\n"),
            format!("- key: >-\n    {brackets}\n- x\n"),
            format!("a: &anchor !!str |2\n  {brackets}\n"),
            format!("--- |\n{brackets}\n"),
            format!("a: plain[1]{brackets}\n"),
            format!("{{\"a\": \"{brackets}\"}}"),
        ] {
            check_yaml(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
        check_json(&format!("{{\"a\": \"\\\\\", \"b\": \"{brackets}\"}}")).unwrap();
        // After a block scalar ends, brackets count again.
        depth_error(&format!("a: |\n  text\nb: {brackets}\n"));
    }

    #[test]
    fn documents_start_afresh_and_line_ends_of_every_kind_count() {
        let mut doc = String::new();
        for level in 0..40 {
            doc.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        check_yaml(&format!("{doc}---\n{doc}")).unwrap();
        let cr: String = (0..=MAX_DEPTH)
            .map(|l| format!("{}k:\r", " ".repeat(l)))
            .collect();
        depth_error(&cr);
        let crlf: String = (0..=MAX_DEPTH)
            .map(|l| format!("{}k:\r\n", " ".repeat(l)))
            .collect();
        depth_error(&crlf);
    }

    #[test]
    fn two_hundred_thousand_levels_are_refused_at_once() {
        for text in [
            nested_flow("[", "]", 200_000),
            nested_flow("{a: ", "}", 200_000),
            format!("{}x\n", "- ".repeat(200_000)),
        ] {
            let started = std::time::Instant::now();
            assert!(check_yaml(&text)
                .unwrap_err()
                .contains("more than 64 levels"));
            assert!(started.elapsed() < std::time::Duration::from_secs(2));
        }
    }

    #[test]
    fn yaml_is_held_to_its_size_limit() {
        let big = format!("a: \"{}\"\n", "x".repeat(MAX_YAML_BYTES));
        assert_eq!(
            check_yaml(&big).unwrap_err(),
            format!(
                "it is {} bytes, over the 1 MiB limit for YAML documents",
                big.len()
            )
        );
        check_json(&big).unwrap();
    }

    #[test]
    fn alias_bombs_are_refused_and_ordinary_aliases_pass() {
        check_yaml("a: &x [1, 2]\nb: *x\nc: [*x, *x]\n").unwrap();
        let items = vec!["a"; 2_000].join(",");
        let aliases = vec!["*x"; 100].join(",");
        let bomb = format!("list: &x [{items}]\nuse: [{aliases}]\n");
        assert_eq!(
            check_yaml(&bomb).unwrap_err(),
            "its aliases expand to more than 100000 values, the limit for YAML documents"
        );
        // Nested aliases multiply (the "billion laughs": 10^9 values from 9 lines).
        let mut laughs = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(",");
            laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        check_yaml(&laughs).unwrap_err();
        // A broken document is left to the real parser and its own message.
        check_yaml("a: *undefined\n").unwrap();
    }

    #[test]
    fn block_scalar_headers() {
        for yes in ["|", ">", "|-", ">+", "|2", "&a |", "!!str >-", " |  "] {
            assert!(is_block_scalar_header(yes.as_bytes()), "{yes:?}");
        }
        for no in ["", "a |", "|a", "| x", "'|'", "&a"] {
            assert!(!is_block_scalar_header(no.as_bytes()), "{no:?}");
        }
    }
}
