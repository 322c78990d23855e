//! English and Finnish. The strings live in `locales/en.txt` and
//! `locales/fi.txt` (`key = text` lines), embedded in the binary; a unit
//! test keeps the two files' keys identical.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A user-interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fi,
}

impl Lang {
    pub fn code(&self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fi => "fi",
        }
    }

    pub fn from_code(s: &str) -> Option<Lang> {
        match s.trim().to_lowercase().as_str() {
            "en" => Some(Lang::En),
            "fi" => Some(Lang::Fi),
            _ => None,
        }
    }

    /// Picks from an `Accept-Language` header: Finnish if it comes before
    /// English, English otherwise.
    pub fn from_accept_language(h: &str) -> Lang {
        for part in h.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_lowercase();
            if tag.starts_with("fi") {
                return Lang::Fi;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    /// A message with arguments: `key|arg1|arg2` fills `{}` in the text
    /// in order (so service errors can carry numbers).
    pub fn msg(&self, message: &str) -> String {
        let mut parts = message.split('|');
        let key = parts.next().unwrap_or("");
        let mut out = self.t(key).to_string();
        for arg in parts {
            out = out.replacen("{}", arg, 1);
        }
        out
    }

    /// A count in words: `key.one` when `n` is 1 (if the language has it),
    /// else `key`, with `{}` filled by `n`.
    pub fn plural(&self, key: &str, n: i64) -> String {
        let text = if n == 1 {
            self.get(&format!("{key}.one"))
                .unwrap_or_else(|| self.t(key))
        } else {
            self.t(key)
        };
        text.replacen("{}", &n.to_string(), 1)
    }

    /// The text for `key` when there is one (no fallback to the key).
    pub fn get(&self, key: &str) -> Option<&'static str> {
        let table = match self {
            Lang::En => tables().0,
            Lang::Fi => tables().1,
        };
        table.get(key).or_else(|| tables().0.get(key)).copied()
    }

    /// A number written in this language: a decimal comma in Finnish
    /// (`182,5 GB`), a point in English.
    pub fn decimal(&self, s: &str) -> String {
        match self {
            Lang::Fi => s.replace('.', ","),
            Lang::En => s.to_string(),
        }
    }

    /// The text for `key`, or the key itself when it is missing (visible,
    /// and caught by the tests).
    pub fn t(&self, key: &str) -> &'static str {
        let table = match self {
            Lang::En => tables().0,
            Lang::Fi => tables().1,
        };
        match table.get(key) {
            Some(s) => s,
            None => match tables().0.get(key) {
                Some(s) => s,
                None => leak_key(key),
            },
        }
    }
}

fn leak_key(key: &str) -> &'static str {
    // Missing keys are a bug caught by tests; remember them so the page
    // still shows something recognisable without allocating per request.
    static MISSING: OnceLock<std::sync::Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let m = MISSING.get_or_init(Default::default);
    let mut g = match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(s) = g.get(key) {
        return s;
    }
    let s: &'static str = Box::leak(key.to_string().into_boxed_str());
    g.insert(key.to_string(), s);
    s
}

type Table = HashMap<&'static str, &'static str>;

fn parse(text: &'static str) -> Table {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn tables() -> (&'static Table, &'static Table) {
    static EN: OnceLock<Table> = OnceLock::new();
    static FI: OnceLock<Table> = OnceLock::new();
    (
        EN.get_or_init(|| parse(include_str!("../locales/en.txt"))),
        FI.get_or_init(|| parse(include_str!("../locales/fi.txt"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let (en, fi) = tables();
        let mut missing_fi: Vec<_> = en.keys().filter(|k| !fi.contains_key(*k)).collect();
        let mut missing_en: Vec<_> = fi.keys().filter(|k| !en.contains_key(*k)).collect();
        missing_fi.sort();
        missing_en.sort();
        assert!(missing_fi.is_empty(), "missing in fi.txt: {missing_fi:?}");
        assert!(missing_en.is_empty(), "missing in en.txt: {missing_en:?}");
    }

    fn is_key(k: &str) -> bool {
        k.contains('.')
            && !k.ends_with('.')
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let (en, _) = tables();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut stack = vec![root.join("templates"), root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // t("key") in templates and Rust; "error.*" message keys.
                for (i, _) in text.match_indices(".t(\"") {
                    let rest = &text[i + 4..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if is_key(key) && !en.contains_key(key) {
                            missing.push(format!("{}: {key}", p.display()));
                        }
                    }
                }
                for (i, _) in text.match_indices("\"error.") {
                    let rest = &text[i + 1..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if is_key(key) && !en.contains_key(key) {
                            missing.push(format!("{}: {key}", p.display()));
                        }
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "keys missing from locales/en.txt: {missing:#?}"
        );
    }

    #[test]
    fn messages_with_numbers() {
        assert_eq!(
            Lang::En.msg("error.seats_below_used|3"),
            "Cannot be fewer than the 3 seats in use."
        );
        assert_eq!(
            Lang::Fi.msg("error.seats_below_used|3"),
            "Ei voi olla vähemmän kuin käytössä olevat 3 paikkaa."
        );
    }

    #[test]
    fn plural_forms() {
        assert_eq!(
            Lang::En.plural("flash.invites_queued", 1),
            "1 invite queued for sending."
        );
        assert_eq!(
            Lang::En.plural("flash.invites_queued", 3),
            "3 invites queued for sending."
        );
        assert_eq!(
            Lang::Fi.plural("flash.invites_queued", 1),
            "1 kutsu jonossa lähetettäväksi."
        );
        assert_eq!(
            Lang::Fi.plural("flash.invites_queued", 2),
            "2 kutsua jonossa lähetettäväksi."
        );
        for (en, _) in tables().0.iter().filter(|(k, _)| k.ends_with(".one")) {
            assert!(!en.contains("(s)"), "{en}");
        }
    }

    #[test]
    fn accept_language() {
        assert_eq!(
            Lang::from_accept_language("fi-FI,fi;q=0.9,en;q=0.8"),
            Lang::Fi
        );
        assert_eq!(Lang::from_accept_language("en-US,fi;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("sv"), Lang::En);
    }
}
