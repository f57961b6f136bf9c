//! Where each key of a configuration file is written, so that every fault
//! is reported at its own line and column, and every fault at once.
//!
//! A key path names a key as the file nests it: `sip.t1`, `trunk[1].address`
//! (the second `[[trunk]]`), `api.token[0].sha256`. Paths are found in a
//! document parsed with spans ([`toml::de::DeTable`]); a key the file does
//! not write (a default, or a key that is missing) is reported at the
//! nearest table that is written, else without a place.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// One fault of a configuration: what is wrong, with the key and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The key as the operator knows it (`trunk.address`); `None` for a
    /// fault of the TOML text itself.
    pub key: Option<String>,
    /// Line and column (from 1) in the file; or the environment variable
    /// that set the key.
    pub at: Option<At>,
    /// What is wrong.
    pub message: String,
}

/// Where a fault is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// A line and column of the file, from 1.
    Text { line: usize, column: usize },
    /// The environment variable that set the key.
    Env(String),
}

/// Every fault of one configuration, each on its own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// The file, or `built-in defaults`.
    pub origin: String,
    pub faults: Vec<Fault>,
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fault) in self.faults.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &fault.at {
                Some(At::Text { line, column }) => write!(f, "{}:{line}:{column}: ", self.origin)?,
                Some(At::Env(var)) => write!(f, "environment variable {var}: ")?,
                None => write!(f, "{}: ", self.origin)?,
            }
            if let Some(key) = &fault.key {
                write!(f, "key `{key}`: ")?;
            }
            f.write_str(&fault.message)?;
        }
        Ok(())
    }
}

/// The places of a file's keys by key path, and the keys an environment
/// variable set.
#[derive(Debug, Clone, Default)]
pub struct Places {
    keys: BTreeMap<String, (usize, usize)>,
    env: BTreeMap<String, String>,
    /// Arrays of tables checked without some of their entries: the
    /// original index of each entry checked.
    renumbered: BTreeMap<String, Vec<usize>>,
}

impl Places {
    /// Every key and array entry of `root`, the document parsed from `text`.
    pub fn of(root: &DeTable<'_>, text: &str) -> Places {
        let mut places = Places::default();
        places.walk_table(root, "", text);
        places
    }

    /// `key` (a path without entries, such as `sip.listen`) was set by the
    /// environment variable `var`.
    pub fn set_by_env(&mut self, key: &str, var: &str) {
        self.env.insert(key.to_string(), var.to_string());
    }

    /// The document checked lost entries of its arrays of tables: `kept`
    /// gives, for each such array, the original index of each entry left.
    pub fn renumber(&mut self, kept: BTreeMap<String, Vec<usize>>) {
        self.renumbered = kept;
    }

    /// The fault `message` about the key at `path`: placed at the key, else
    /// at the nearest table the file writes.
    pub fn fault(&self, path: &str, message: impl Into<String>) -> Fault {
        let key = without_entries(path);
        let path = self.original(path);
        let path = path.as_str();
        let at = match self.env.get(&key) {
            Some(var) => Some(At::Env(var.clone())),
            None => self
                .find(path)
                .map(|(line, column)| At::Text { line, column }),
        };
        Fault {
            key: Some(key),
            at,
            message: message.into(),
        }
    }

    /// The line and column of `path` or of its nearest written parent.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(&place) = self.keys.get(p) {
                return Some(place);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// `path` with the index of a renumbered array's entry put back to the
    /// entry's index in the file.
    fn original(&self, path: &str) -> String {
        for (array, kept) in &self.renumbered {
            let Some(rest) = path
                .strip_prefix(array.as_str())
                .and_then(|r| r.strip_prefix('['))
            else {
                continue;
            };
            let Some((index, tail)) = rest.split_once(']') else {
                continue;
            };
            if let Some(original) = index.parse::<usize>().ok().and_then(|i| kept.get(i)) {
                return format!("{array}[{original}]{tail}");
            }
        }
        path.to_string()
    }

    fn walk_table(&mut self, table: &DeTable<'_>, prefix: &str, text: &str) {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.keys
                .insert(path.clone(), line_column(text, key.span().start));
            self.walk_value(value.get_ref(), &path, text);
        }
    }

    fn walk_value(&mut self, value: &DeValue<'_>, path: &str, text: &str) {
        match value {
            DeValue::Table(t) => self.walk_table(t, path, text),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let entry = format!("{path}[{i}]");
                    self.keys
                        .insert(entry.clone(), line_column(text, item.span().start));
                    self.walk_value(item.get_ref(), &entry, text);
                }
            }
            _ => {}
        }
    }
}

/// `trunk[1].address` as the operator names the key: `trunk.address`.
fn without_entries(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// The fault of a TOML error, at its span in `text`.
pub fn toml_fault(text: &str, e: &toml::de::Error) -> Fault {
    let (line, column) = e
        .span()
        .map(|span| line_column(text, span.start))
        .unwrap_or((1, 1));
    Fault {
        key: None,
        at: Some(At::Text { line, column }),
        message: e.message().trim_end().to_string(),
    }
}

/// What reading a document part by part found.
pub struct Parts<'i> {
    /// The fault of each part that does not read on its own.
    pub faults: Vec<Fault>,
    /// The sections with a part at fault (`sip`, `specialist`).
    pub failed_sections: Vec<String>,
    /// The document without the parts at fault.
    pub good: DeTable<'i>,
    /// For each array of tables that lost entries (`specialist`,
    /// `api.token`): the original index of each entry kept.
    pub kept: BTreeMap<String, Vec<usize>>,
}

/// Deserialize each part of `root` on its own, as a document of `T` holding
/// only that part: each key of a section, and each entry of an array of
/// tables (`[[specialist]]`, `[[api.token]]`). A fault in one
/// `[[specialist]]` is thereby reported at that entry, and a fault in one
/// key does not hide the faults of the others. Every table of `T` must
/// take its keys as optional (`#[serde(default)]`), as [`Config`] does.
///
/// [`Config`]: crate::config::Config
pub fn parts_of<'i, T>(root: &DeTable<'i>, text: &str) -> Parts<'i>
where
    T: for<'de> Deserialize<'de>,
{
    let mut parts = Parts {
        faults: Vec::new(),
        failed_sections: Vec::new(),
        good: DeTable::new(),
        kept: BTreeMap::new(),
    };
    let fault_of = |doc: DeTable<'i>| {
        document::<T>(doc, 0..text.len())
            .err()
            .map(|e| toml_fault(text, &e))
    };
    for (key, value) in root.iter() {
        let section = key.get_ref().to_string();
        let mut failed = false;
        let kept_value = match value.get_ref() {
            DeValue::Table(table) => {
                let mut kept_table = DeTable::new();
                for (key2, value2) in table.iter() {
                    let wrap = |v: Spanned<DeValue<'i>>| {
                        let mut inner = DeTable::new();
                        inner.insert(key2.clone(), v);
                        single(key, Spanned::new(value.span(), DeValue::Table(inner)))
                    };
                    if let Some(items) = array_of_tables(value2.get_ref()) {
                        let path = format!("{section}.{}", key2.get_ref());
                        let kept = entries(
                            key2.get_ref(),
                            items,
                            value2.span(),
                            &wrap,
                            &fault_of,
                            &mut parts,
                            text,
                        );
                        failed |= record(&mut parts, path, kept.1, items.len());
                        kept_table.insert(key2.clone(), kept.0);
                    } else if let Some(f) = fault_of(wrap(value2.clone())) {
                        parts.faults.push(f);
                        failed = true;
                    } else {
                        kept_table.insert(key2.clone(), value2.clone());
                    }
                }
                Some(Spanned::new(value.span(), DeValue::Table(kept_table)))
            }
            other => match array_of_tables(other) {
                Some(items) => {
                    let wrap = |v: Spanned<DeValue<'i>>| single(key, v);
                    let kept = entries(
                        &section,
                        items,
                        value.span(),
                        &wrap,
                        &fault_of,
                        &mut parts,
                        text,
                    );
                    failed |= record(&mut parts, section.clone(), kept.1, items.len());
                    Some(kept.0)
                }
                None => match fault_of(single(key, value.clone())) {
                    Some(f) => {
                        parts.faults.push(f);
                        failed = true;
                        None
                    }
                    None => Some(value.clone()),
                },
            },
        };
        if let Some(v) = kept_value {
            parts.good.insert(key.clone(), v);
        }
        if failed {
            parts.failed_sections.push(section);
        }
    }
    parts
}

/// The entries of an array of tables, when `value` is one.
fn array_of_tables<'a, 'i>(value: &'a DeValue<'i>) -> Option<&'a DeArray<'i>> {
    match value {
        DeValue::Array(items)
            if !items.is_empty() && items.iter().all(|v| v.get_ref().as_table().is_some()) =>
        {
            Some(items)
        }
        _ => None,
    }
}

/// Each entry of `items` on its own, wrapped into a document by `wrap`:
/// the array of the entries without a fault and their original indices.
fn entries<'i>(
    name: &str,
    items: &DeArray<'i>,
    span: std::ops::Range<usize>,
    wrap: &dyn Fn(Spanned<DeValue<'i>>) -> DeTable<'i>,
    fault_of: &dyn Fn(DeTable<'i>) -> Option<Fault>,
    parts: &mut Parts<'i>,
    text: &str,
) -> (Spanned<DeValue<'i>>, Vec<usize>) {
    let mut kept = DeArray::new();
    let mut indices = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut one = DeArray::new();
        one.push(item.clone());
        match fault_of(wrap(Spanned::new(item.span(), DeValue::Array(one)))) {
            Some(mut f) => {
                // Read alone, the entry is the first: say which it is.
                let alone = format!("{name} #1 ");
                if i > 0 && f.message.starts_with(&alone) {
                    f.message = format!("{name} #{} {}", i + 1, &f.message[alone.len()..]);
                }
                parts.faults.push(at_named_key(f, item.get_ref(), text))
            }
            None => {
                kept.push(item.clone());
                indices.push(i);
            }
        }
    }
    (Spanned::new(span, DeValue::Array(kept)), indices)
}

/// A fault of an entry read by a parser of its own (the specialists') says
/// the key as ``key `skills` ``: placed at that key of the entry, when the
/// entry writes it, rather than at the entry.
fn at_named_key(mut fault: Fault, entry: &DeValue<'_>, text: &str) -> Fault {
    let named = fault
        .message
        .split_once("key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| key.split('.').next().unwrap_or(key));
    let (Some(named), Some(table)) = (named, entry.as_table()) else {
        return fault;
    };
    if let Some((key, _)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == named) {
        let (line, column) = line_column(text, key.span().start);
        fault.at = Some(At::Text { line, column });
    }
    fault
}

/// Keep the renumbering of an array that lost entries; true when it did.
fn record(parts: &mut Parts<'_>, path: String, kept: Vec<usize>, all: usize) -> bool {
    if kept.len() == all {
        return false;
    }
    parts.kept.insert(path, kept);
    true
}

/// A table of one key.
fn single<'i>(key: &Spanned<toml::de::DeString<'i>>, value: Spanned<DeValue<'i>>) -> DeTable<'i> {
    let mut t = DeTable::new();
    t.insert(key.clone(), value);
    t
}

/// Deserialize `table` (spanning `span` of the text) as a `T`.
pub fn document<T>(table: DeTable<'_>, span: std::ops::Range<usize>) -> Result<T, toml::de::Error>
where
    T: for<'de> Deserialize<'de>,
{
    T::deserialize(ValueDeserializer::from(Spanned::new(
        span,
        DeValue::Table(table),
    )))
}

/// Line and column (from 1; the column counts characters) of `offset`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(text: &str) -> Places {
        let (root, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        Places::of(root.get_ref(), text)
    }

    #[test]
    fn keys_and_entries_are_found_with_their_line() {
        let p = places(
            "[sip]\nt1 = \"500ms\"\n\n[[trunk]]\nid = \"a\"\n\n[[trunk]]\nid = \"b\"\naddress = \"x\"\n",
        );
        assert_eq!(p.find("sip.t1"), Some((2, 1)));
        assert_eq!(p.find("trunk[1].address"), Some((9, 1)));
        // Not written: the entry, then the section.
        assert_eq!(
            p.find("trunk[1].password"),
            Some(p.find("trunk[1]").unwrap_or((0, 0)))
        );
        assert_eq!(p.find("sip.listen"), p.find("sip"));
        assert_eq!(p.find("http.listen"), None);
    }

    #[test]
    fn a_fault_names_the_key_without_entries_and_the_variable_that_set_it() {
        let mut p = places("[sip]\nlisten = \"1.2.3.4:5060\"\n");
        let f = p.fault("trunk[3].address", "bad");
        assert_eq!(f.key.as_deref(), Some("trunk.address"));
        assert_eq!(f.at, None);
        p.set_by_env("sip.listen", "SENIM_SIP_LISTEN");
        let f = p.fault("sip.listen", "bad");
        assert_eq!(f.at, Some(At::Env("SENIM_SIP_LISTEN".into())));
    }

    #[test]
    fn faults_are_said_one_a_line() {
        let faults = Faults {
            origin: "senim.toml".into(),
            faults: vec![
                Fault {
                    key: Some("sip.t1".into()),
                    at: Some(At::Text { line: 2, column: 1 }),
                    message: "too long".into(),
                },
                Fault {
                    key: None,
                    at: None,
                    message: "broken".into(),
                },
            ],
        };
        assert_eq!(
            faults.to_string(),
            "senim.toml:2:1: key `sip.t1`: too long\nsenim.toml: broken"
        );
    }

    #[test]
    fn line_column_counts_characters_and_survives_a_bad_offset() {
        assert_eq!(line_column("аб\nвг", 4), (1, 3));
        assert_eq!(line_column("аб\nвг", 1), (1, 1));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
