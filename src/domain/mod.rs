//! Types and rules of the product. No I/O, no SQL, no HTTP: everything here
//! is pure and unit-tested.

/// Parses every field of an input and binds the parsed values, or returns
/// all the field errors at once (a form shows every mistake, not the first):
///
/// ```ignore
/// parse_fields! {
///     name = text("name", &raw.name, 200, true),
///     country = parse_country(&raw.country),
///     // a later field may look at an earlier one, still a Result here
///     postal_code = parse_postal_code(&raw.postal_code, country.as_deref().unwrap_or("FI")),
/// }
/// Ok(NewThing { name, country, postal_code })
/// ```
///
/// The enclosing function returns `Result<_, Vec<FieldError>>`. Once every
/// field parsed, the names are bound to the values: no "checked but absent"
/// state exists, so there is no impossible branch to handle.
macro_rules! parse_fields {
    ($($name:ident = $e:expr),+ $(,)?) => {
        $(let $name: Result<_, $crate::domain::FieldError> = $e;)+
        let ($($name,)+) = match ($($name,)+) {
            ($(Ok($name),)+) => ($($name,)+),
            ($($name,)+) => {
                let mut errors: Vec<$crate::domain::FieldError> = Vec::new();
                $(if let Err(e) = $name { errors.push(e); })+
                return Err(errors);
            }
        };
    };
}

pub mod activation;
pub mod api_token;
pub mod client;
pub mod conflict;
pub mod csv;
pub mod customer;
pub mod email;
pub mod health;
pub mod history;
pub mod ids;
pub mod invite;
pub mod license;
pub mod message;
pub mod operator;
pub mod password;
#[cfg(test)]
mod properties;
pub mod repository;
pub mod role;
pub mod secret;
pub mod totp;
pub mod usage;
pub mod vendor;
pub mod webhook;

pub use conflict::Conflict;
pub use email::Email;
pub use ids::*;
pub use password::Password;
pub use role::Role;
pub use secret::Secret;

/// Milliseconds since the Unix epoch; the one time type stored in the
/// database (portable across SQLite and PostgreSQL, sorts correctly).
pub type Millis = i64;

/// Now, as stored.
pub fn now_millis() -> Millis {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 UTC text for a stored time (what the JSON API shows).
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let t = t
        .replace_nanosecond((t.nanosecond() / 1_000_000) * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A short human form for pages: `2011-03-07 17:08:58` (UTC), as in the seed.
pub fn human_time(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(&f).unwrap_or_default()
}

/// A field-level validation failure: which field, and a message key that the
/// faces translate (`error.*` in the locale files) or show as is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl std::error::Error for FieldError {}

/// A free-text field: trimmed, at most `max` characters, no control
/// characters but line breaks and tabs; `required` refuses it empty.
pub fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldError> {
    let s = raw.trim();
    if required && s.is_empty() {
        return Err(FieldError::new(field, "error.required"));
    }
    if s.chars().count() > max {
        return Err(FieldError::new(field, "error.too_long"));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(field, "error.control_chars"));
    }
    Ok(s.to_string())
}

/// A single-line field (a name, an address line, a key): as [`text`] but
/// no line breaks or tabs either — it reaches pages, CSV and e-mail
/// headers and subjects, where a line break would forge a line.
pub fn line(
    field: &'static str,
    raw: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldError> {
    let s = text(field, raw, max, required)?;
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "error.control_chars"));
    }
    Ok(s)
}

/// Enumerations stored as their lower-case word decode through their
/// parser (`#[sqlx(try_from = "String")]` on a row's field).
/// `option:` marks parsers that answer `Option` (no field to blame).
macro_rules! stored_enum {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                <$t>::parse(&s)
            }
        }
    )*};
    (option: $($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                <$t>::parse(&s).ok_or_else(|| FieldError::new("stored", format!("unknown word {s:?}")))
            }
        }
    )*};
}
/// The client API's words for the same enumerations (`command-center-wire`).
macro_rules! wire_enum {
    ($($t:ident :: $w:ident { $($v:ident),* }),*) => {$(
        impl From<$t> for command_center_wire::$w {
            fn from(v: $t) -> Self {
                match v { $($t::$v => command_center_wire::$w::$v),* }
            }
        }
    )*};
}
use invite::SoftwareType;
use license::{LicenseState, LicenseType};
wire_enum!(
    SoftwareType::SoftwareType { Standard, Server },
    LicenseState::LicenseState {
        Active,
        Suspended,
        Expired
    },
    LicenseType::LicenseType { Purchased, Trial }
);

stored_enum!(
    invite::SoftwareType,
    license::LicenseState,
    license::LicenseType
);
stored_enum!(option: health::Health, history::RunStatus, invite::DeliveryState);

impl TryFrom<String> for Role {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Role::parse("role", &s)
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_299_517_738_123), "2011-03-07T17:08:58.123Z");
        assert_eq!(human_time(1_299_517_738_000), "2011-03-07 17:08:58");
    }
}
