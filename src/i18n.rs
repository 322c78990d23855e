//! English and Finnish, for pages, problem documents and mail, from one set
//! of Fluent messages (`locales/en.ftl`, `locales/fi.ftl`, embedded in the
//! binary): named arguments, plural selectors, Finnish numbers.
//!
//! Code names a message by its key, `nav.skip`; the Fluent id is the key
//! with its dots turned into dashes (`nav-skip`), since Fluent ids cannot
//! hold dots. Either spelling works in a lookup.
//!
//! Service errors travel as one string, `"key|arg|arg"`: a part written
//! `name=value` is the named argument `$name`, any other part is the
//! positional argument `$arg0`, `$arg1`, … in order (the convention of
//! messages converted from the old `key = text` lines, whose `{}` became
//! `{ $arg0 }`…). A part that is a whole integer is passed as a number, so
//! plural selectors work on it.
//!
//! Messages without arguments are formatted once, at first use, and handed
//! out as `&'static str` (`Lang::t`); the others are formatted per call.

use std::collections::HashMap;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// An argument of a message (`Value::from(3)`, `Value::from("text")`).
pub type Value<'a> = FluentValue<'a>;

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

    fn index(&self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Fi => 1,
        }
    }

    /// The text of a message without arguments, or the key itself when it
    /// is missing (visible, and caught by the tests). A message that does
    /// take arguments is shown with them left as `{$name}`; use [`Lang::fmt`].
    pub fn t(&self, key: &str) -> &'static str {
        match self.get(key) {
            Some(s) => s,
            None => leak_key(key),
        }
    }

    /// The text of a message without arguments when there is one (English
    /// when Finnish lacks it; no fallback to the key).
    pub fn get(&self, key: &str) -> Option<&'static str> {
        // The table holds each message under both spellings, so a page's
        // hundreds of lookups allocate nothing.
        let c = catalog();
        c.plain[self.index()]
            .get(key)
            .or_else(|| c.plain[0].get(key))
            .map(|s| &**s)
    }

    /// A message with named arguments:
    /// `lang.fmt("flash.invites_queued", &[("count", 3.into())])`.
    pub fn fmt(&self, key: &str, args: &[(&str, Value<'_>)]) -> String {
        let mut fa = FluentArgs::with_capacity(args.len());
        for (name, v) in args {
            fa.set(*name, v.clone());
        }
        self.format(key, Some(&fa))
    }

    /// A count in words, plural by the language's rules (`$count`):
    /// "1 kutsu" / "3 kutsua".
    pub fn count(&self, key: &str, n: impl Integer) -> String {
        self.fmt(key, &[("count", Value::from(n.as_i64()))])
    }

    /// A message carried as one string, `key|arg|name=value` (service
    /// errors): see the module's documentation for the convention.
    pub fn msg(&self, message: &str) -> String {
        let mut parts = message.split('|');
        let key = parts.next().unwrap_or("");
        let mut fa = FluentArgs::new();
        let mut positional = 0;
        for part in parts {
            let (name, value) = match named_part(part) {
                Some((n, v)) => (n.to_string(), v),
                None => {
                    let n = format!("arg{positional}");
                    positional += 1;
                    (n, part)
                }
            };
            fa.set(name, arg_value(value));
        }
        self.format(key, Some(&fa))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let id = fluent_id(key);
        let c = catalog();
        for bundle in [&c.bundles[self.index()], &c.bundles[0]] {
            if let Some(pattern) = bundle.get_message(&id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let s = bundle.format_pattern(pattern, args, &mut errors);
                if !errors.is_empty() {
                    tracing::warn!(key, ?errors, "message formatted with errors");
                }
                return s.into_owned();
            }
        }
        key.to_string()
    }

    /// A number written in this language: a decimal comma in Finnish
    /// (`182,5 GB`), a point in English.
    pub fn decimal(&self, s: &str) -> String {
        match self {
            Lang::Fi => s.replace('.', ","),
            Lang::En => s.to_string(),
        }
    }

    /// A stored time (RFC 3339) as this language writes it, in UTC:
    /// `30 Nov 2026 22:47 UTC`, `30.11.2026 klo 22.47 UTC`. Pages wrap it
    /// in `<time class="local">` so app.js can move it into the reader's
    /// own zone. A text that is not a time comes back unchanged, an empty
    /// one as a dash.
    pub fn time(&self, t: &str) -> String {
        if t.trim().is_empty() {
            return "—".into();
        }
        match parse_time(t) {
            Some(d) => match self {
                Lang::En => format!(
                    "{} {} {} {:02}:{:02} UTC",
                    d.day(),
                    EN_MONTHS[usize::from(u8::from(d.month())) - 1],
                    d.year(),
                    d.hour(),
                    d.minute()
                ),
                Lang::Fi => format!(
                    "{}.{}.{} klo {}.{:02} UTC",
                    d.day(),
                    u8::from(d.month()),
                    d.year(),
                    d.hour(),
                    d.minute()
                ),
            },
            None => t.to_string(),
        }
    }

    /// A time in milliseconds since 1970 (how the store keeps times).
    pub fn time_ms(&self, ms: impl Integer) -> String {
        let ms = ms.as_i64();
        match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
            Ok(d) => self.time(&rfc3339(d)),
            Err(_) => ms.to_string(),
        }
    }

    /// A date (`2026-11-30`, or the date of a stored time) as this language
    /// writes it: `30 Nov 2026`, `30.11.2026`.
    pub fn date(&self, t: &str) -> String {
        let day = t.get(..10).unwrap_or(t);
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        match time::Date::parse(day, &fmt) {
            Ok(d) => match self {
                Lang::En => format!(
                    "{} {} {}",
                    d.day(),
                    EN_MONTHS[usize::from(u8::from(d.month())) - 1],
                    d.year()
                ),
                Lang::Fi => format!("{}.{}.{}", d.day(), u8::from(d.month()), d.year()),
            },
            Err(_) => t.to_string(),
        }
    }
}

/// An integer argument, by value or by reference (templates hand over references).
pub trait Integer {
    fn as_i64(&self) -> i64;
}

impl Integer for i64 {
    fn as_i64(&self) -> i64 {
        *self
    }
}

impl Integer for i32 {
    fn as_i64(&self) -> i64 {
        i64::from(*self)
    }
}

impl Integer for usize {
    fn as_i64(&self) -> i64 {
        i64::try_from(*self).unwrap_or(i64::MAX)
    }
}

impl<T: Integer> Integer for &T {
    fn as_i64(&self) -> i64 {
        (**self).as_i64()
    }
}

const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn parse_time(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.to_offset(time::UtcOffset::UTC))
}

fn rfc3339(d: time::OffsetDateTime) -> String {
    d.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `nav.skip` → `nav-skip`.
pub fn fluent_id(key: &str) -> String {
    key.replace('.', "-")
}

/// `name=value` when the part starts with an identifier and `=`.
fn named_part(part: &str) -> Option<(&str, &str)> {
    let (name, value) = part.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_lowercase()
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some((name, value))
}

/// A whole integer goes in as a number (plural selectors need one; Finnish
/// formatting of decimals is the caller's, as text).
fn arg_value(s: &str) -> Value<'static> {
    match s.parse::<i64>() {
        Ok(n) if n.to_string() == s => Value::from(n),
        _ => Value::from(s.to_string()),
    }
}

struct Catalog {
    bundles: [FluentBundle<FluentResource>; 2],
    /// Every message without arguments, formatted once.
    plain: [HashMap<String, &'static str>; 2],
}

const SOURCES: [(&str, &str); 2] = [
    ("en", include_str!("../locales/en.ftl")),
    ("fi", include_str!("../locales/fi.ftl")),
];

fn resource(source: &str) -> FluentResource {
    match FluentResource::try_new(source.to_string()) {
        Ok(r) => r,
        Err((r, errors)) => {
            // Caught by the tests; at run time keep what did parse.
            tracing::error!(?errors, "a locale file has syntax errors");
            r
        }
    }
}

fn bundle(lang: &str, source: &str) -> FluentBundle<FluentResource> {
    let id = lang.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the texts go into HTML,
    // e-mail subjects and JSON, where they would be stray characters.
    b.set_use_isolating(false);
    if lang == "fi" {
        b.set_formatter(Some(finnish_numbers));
    }
    if let Err(errors) = b.add_resource(resource(source)) {
        tracing::error!(?errors, "a locale file has duplicate messages");
    }
    b
}

/// Numbers in Finnish messages: a decimal comma.
fn finnish_numbers<M>(v: &FluentValue, _: &M) -> Option<String> {
    match v {
        FluentValue::Number(n) => Some(n.as_string().replace('.', ",")),
        _ => None,
    }
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let bundles = SOURCES.map(|(lang, src)| bundle(lang, src));
        let plain = [0, 1].map(|i| {
            let b = &bundles[i];
            let mut m = HashMap::new();
            for entry in resource(SOURCES[i].1).entries() {
                if let fluent_syntax::ast::Entry::Message(msg) = entry {
                    let id = msg.id.name;
                    if let Some(pattern) = b.get_message(id).and_then(|m| m.value()) {
                        let mut errors = Vec::new();
                        let s: &'static str =
                            Box::leak(b.format_pattern(pattern, None, &mut errors).into());
                        // As the code spells it (`nav.skip`) and as Fluent
                        // does (`nav-skip`).
                        m.insert(id.replace('-', "."), s);
                        m.insert(id.to_string(), s);
                    }
                }
            }
            m
        });
        Catalog { bundles, plain }
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_syntax::ast;
    use std::collections::{BTreeMap, BTreeSet};

    /// Every message of a file with the variables it uses.
    fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
        let res = match FluentResource::try_new(source.to_string()) {
            Ok(r) => r,
            Err((_, errors)) => panic!("syntax errors: {errors:#?}"),
        };
        let mut out = BTreeMap::new();
        for entry in res.entries() {
            if let ast::Entry::Message(m) = entry {
                let mut vars = BTreeSet::new();
                if let Some(p) = &m.value {
                    pattern_vars(p, &mut vars);
                }
                assert!(
                    out.insert(m.id.name.to_string(), vars).is_none(),
                    "{} twice",
                    m.id.name
                );
            }
        }
        out
    }

    fn pattern_vars(p: &ast::Pattern<&str>, vars: &mut BTreeSet<String>) {
        for el in &p.elements {
            if let ast::PatternElement::Placeable { expression } = el {
                expression_vars(expression, vars);
            }
        }
    }

    fn expression_vars(e: &ast::Expression<&str>, vars: &mut BTreeSet<String>) {
        match e {
            ast::Expression::Select { selector, variants } => {
                inline_vars(selector, vars);
                for v in variants {
                    pattern_vars(&v.value, vars);
                }
            }
            ast::Expression::Inline(i) => inline_vars(i, vars),
        }
    }

    fn inline_vars(e: &ast::InlineExpression<&str>, vars: &mut BTreeSet<String>) {
        match e {
            ast::InlineExpression::VariableReference { id } => {
                vars.insert(id.name.to_string());
            }
            ast::InlineExpression::Placeable { expression } => expression_vars(expression, vars),
            ast::InlineExpression::FunctionReference { arguments, .. } => {
                for a in &arguments.positional {
                    inline_vars(a, vars);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn both_languages_have_the_same_messages_and_arguments() {
        let en = messages(SOURCES[0].1);
        let fi = messages(SOURCES[1].1);
        let missing_fi: Vec<_> = en.keys().filter(|k| !fi.contains_key(*k)).collect();
        let missing_en: Vec<_> = fi.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing_fi.is_empty(), "missing in fi.ftl: {missing_fi:?}");
        assert!(missing_en.is_empty(), "missing in en.ftl: {missing_en:?}");
        let differ: Vec<_> = en
            .iter()
            .filter(|(k, v)| fi.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: en {v:?}, fi {:?}", fi.get(k)))
            .collect();
        assert!(differ.is_empty(), "arguments differ: {differ:#?}");
        assert!(en.len() > 400, "{}", en.len());
        // No leftovers of the old format.
        for (_, src) in SOURCES {
            assert!(!src.contains("{}"), "a {{}} placeholder is left");
        }
    }

    fn is_key(k: &str) -> bool {
        k.contains('.')
            && !k.ends_with('.')
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let en = messages(SOURCES[0].1);
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
                // t("key"), fmt("key", …), count("key", …) and msg("key|…")
                // in templates and Rust; "error.*" message keys.
                for pat in [".t(\"", ".fmt(\"", ".count(\"", ".msg(\"", "\"error."] {
                    for (i, _) in text.match_indices(pat) {
                        let rest = &text[i + pat.len()..];
                        let rest = if pat == "\"error." {
                            &text[i + 1..]
                        } else {
                            rest
                        };
                        if let Some(end) = rest.find(['"', '|']) {
                            let key = &rest[..end];
                            if is_key(key) && !en.contains_key(&fluent_id(key)) {
                                missing.push(format!("{}: {key}", p.display()));
                            }
                        }
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "keys missing from locales/en.ftl: {missing:#?}"
        );
    }

    #[test]
    fn messages_with_arguments() {
        assert_eq!(
            Lang::En.msg("error.seats_below_used|count=3"),
            "Cannot be fewer than the 3 seats in use."
        );
        assert_eq!(
            Lang::Fi.msg("error.seats_below_used|count=3"),
            "Ei voi olla vähemmän kuin käytössä olevat 3 paikkaa."
        );
        // Both spellings of a key.
        assert_eq!(Lang::Fi.t("nav.skip"), Lang::Fi.t("nav-skip"));
        assert_eq!(Lang::Fi.t("nav.skip"), "Siirry sisältöön");
        // A missing key shows itself.
        assert_eq!(Lang::En.t(&format!("no.{}", "such_key")), "no.such_key");
    }

    /// Lines converted from the old format by the merge script keep
    /// working with positional arguments from service errors.
    #[test]
    fn positional_arguments_bind_to_arg0_arg1() {
        let src = "x-two = { $arg0 } of { $arg1 }\nx-plural = { $arg0 ->\n    [one] one thing\n   *[other] { $arg0 } things\n}\n";
        let b = bundle("fi", src);
        let f = |msg: &str| {
            let mut parts = msg.split('|');
            let id = fluent_id(parts.next().unwrap());
            let mut fa = FluentArgs::new();
            for (i, p) in parts.enumerate() {
                fa.set(format!("arg{i}"), arg_value(p));
            }
            let p = b.get_message(&id).unwrap().value().unwrap();
            b.format_pattern(p, Some(&fa), &mut vec![]).into_owned()
        };
        assert_eq!(f("x.two|3|7"), "3 of 7");
        assert_eq!(f("x.plural|1"), "one thing");
        assert_eq!(f("x.plural|4"), "4 things");
        assert_eq!(named_part("count=3"), Some(("count", "3")));
        assert_eq!(named_part("a b=3"), None);
        assert_eq!(named_part("=3"), None);
    }

    #[test]
    fn plural_forms() {
        assert_eq!(
            Lang::En.count("flash.invites_queued", 1),
            "1 invite queued for sending."
        );
        assert_eq!(
            Lang::En.count("flash.invites_queued", 3),
            "3 invites queued for sending."
        );
        assert_eq!(
            Lang::Fi.count("flash.invites_queued", 1),
            "1 kutsu jonossa lähetettäväksi."
        );
        assert_eq!(
            Lang::Fi.count("flash.invites_queued", 2),
            "2 kutsua jonossa lähetettäväksi."
        );
        for (_, src) in SOURCES {
            assert!(!src.contains("(s)"), "a plural written as (s)");
        }
    }

    #[test]
    fn numbers_and_times_in_the_language() {
        let n = |l: Lang| l.fmt("alert.storage_percent", &[("percent", Value::from(243))]);
        assert_eq!(n(Lang::En), "Storage 243 % used");
        assert_eq!(Lang::Fi.decimal("182.1"), "182,1");
        let t = "2026-11-30T22:47:22.784Z";
        assert_eq!(Lang::En.time(t), "30 Nov 2026 22:47 UTC");
        assert_eq!(Lang::Fi.time(t), "30.11.2026 klo 22.47 UTC");
        assert_eq!(
            Lang::Fi.time("2026-11-30T23:47:00+01:00"),
            "30.11.2026 klo 22.47 UTC"
        );
        assert_eq!(Lang::En.time(""), "—");
        assert_eq!(Lang::En.time("soon"), "soon");
        assert_eq!(Lang::Fi.date("2026-03-05"), "5.3.2026");
        assert_eq!(Lang::En.date("2026-03-05T10:00:00Z"), "5 Mar 2026");
        assert_eq!(Lang::Fi.time_ms(0), "1.1.1970 klo 0.00 UTC");
        // Fluent numbers in Finnish messages get a decimal comma.
        let b = bundle("fi", "x = { $n }\n");
        let p = b.get_message("x").unwrap().value().unwrap();
        let mut fa = FluentArgs::new();
        fa.set("n", 182.5);
        assert_eq!(b.format_pattern(p, Some(&fa), &mut vec![]), "182,5");
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
