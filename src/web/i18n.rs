//! The pages' words in Kazakh, Russian and English: every text of the
//! interface comes from the message catalogues `web/i18n/{kk,ru,en}.toml`
//! (embedded in the binary), none from the templates. A key missing from a
//! catalogue is refused by a test; at run time it shows as the key itself.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Kk,
    Ru,
    En,
}

impl Lang {
    /// Every language, in the order the pages offer them.
    pub const ALL: [Lang; 3] = [Lang::Kk, Lang::Ru, Lang::En];

    /// `kk`, `ru` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Kk => "kk",
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// The language of a code (`kk`, `ru`, `en`; case ignored).
    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The language's own name, for the language switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Kk => "Қазақша",
            Lang::Ru => "Русский",
            Lang::En => "English",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Kk => include_str!("../../web/i18n/kk.toml"),
            Lang::Ru => include_str!("../../web/i18n/ru.toml"),
            Lang::En => include_str!("../../web/i18n/en.toml"),
        }
    }
}

/// One language's catalogue: dotted key to text.
#[derive(Debug, Default)]
pub struct Catalogue {
    texts: HashMap<String, String>,
}

impl Catalogue {
    /// The text of `key`, or the key itself when the catalogue has none.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.texts.get(key).map_or(key, String::as_str)
    }

    /// The keys, for the tests that compare catalogues.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    fn parse(text: &str) -> Result<Catalogue, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut texts = HashMap::new();
        flatten(&table, "", &mut texts)?;
        Ok(Catalogue { texts })
    }
}

fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut HashMap<String, String>,
) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(t, &key, out)?,
            other => return Err(format!("{key}: expected text, found {}", other.type_str())),
        }
    }
    Ok(())
}

/// The catalogue of `lang`. The catalogues are part of the binary and
/// checked by tests; one that could not be read gives every key as itself.
pub fn catalogue(lang: Lang) -> &'static Catalogue {
    static ALL: OnceLock<[Catalogue; 3]> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Lang::ALL.map(|l| {
            Catalogue::parse(l.source()).unwrap_or_else(|e| {
                tracing::error!(lang = l.code(), error = %e, "a message catalogue cannot be read");
                Catalogue::default()
            })
        })
    });
    match lang {
        Lang::Kk => &all[0],
        Lang::Ru => &all[1],
        Lang::En => &all[2],
    }
}

/// The language a browser asks for first among ours (`Accept-Language`),
/// else Kazakh.
pub fn from_accept_language(header: Option<&str>) -> Lang {
    header
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let tag = part.split(';').next()?.trim();
            Lang::parse(tag.split('-').next()?)
        })
        .next()
        .unwrap_or(Lang::Kk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_catalogue_reads_and_has_the_same_keys() {
        let mut keys: Vec<BTreeSet<String>> = Vec::new();
        for lang in Lang::ALL {
            let c =
                Catalogue::parse(lang.source()).unwrap_or_else(|e| panic!("{}: {e}", lang.code()));
            assert!(c.keys().count() > 10, "{}", lang.code());
            keys.push(c.keys().map(str::to_string).collect());
        }
        for (lang, k) in Lang::ALL.iter().zip(&keys).skip(1) {
            let missing: Vec<_> = keys[0].symmetric_difference(k).collect();
            assert!(
                missing.is_empty(),
                "kk and {} differ: {missing:?}",
                lang.code()
            );
        }
    }

    /// Every key a template asks for (`t.get("...")`) is in the catalogue.
    #[test]
    fn every_key_of_the_templates_is_in_the_catalogues() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let en = catalogue(Lang::En);
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("templates folder") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("template");
            for piece in text.split("t.get(\"").skip(1) {
                let key = piece.split('"').next().unwrap_or("");
                assert!(
                    en.keys().any(|k| k == key),
                    "{}: no text for {key:?}",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "the templates ask for their words");
    }

    #[test]
    fn the_browser_language_is_taken_when_it_is_ours() {
        assert_eq!(
            from_accept_language(Some("ru-RU,ru;q=0.9,en;q=0.8")),
            Lang::Ru
        );
        assert_eq!(from_accept_language(Some("de-DE, en;q=0.5")), Lang::En);
        assert_eq!(from_accept_language(Some("de")), Lang::Kk);
        assert_eq!(from_accept_language(None), Lang::Kk);
    }
}
