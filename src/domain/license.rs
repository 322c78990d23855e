//! License rules: type, state (with expiry computed from the date), seats
//! and space.

use time::Date;

use super::{FieldError, text};

/// Purchased or Trial.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LicenseType {
    Purchased,
    Trial,
}

impl LicenseType {
    pub fn as_str(&self) -> &'static str {
        match self {
            LicenseType::Purchased => "purchased",
            LicenseType::Trial => "trial",
        }
    }
    pub fn parse(s: &str) -> Result<LicenseType, FieldError> {
        match s.trim().to_lowercase().as_str() {
            "purchased" => Ok(LicenseType::Purchased),
            "trial" => Ok(LicenseType::Trial),
            _ => Err(FieldError::new("type", "error.license_type")),
        }
    }
}

/// Active, Suspended or Expired.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LicenseState {
    Active,
    Suspended,
    Expired,
}

impl LicenseState {
    pub fn as_str(&self) -> &'static str {
        match self {
            LicenseState::Active => "active",
            LicenseState::Suspended => "suspended",
            LicenseState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Result<LicenseState, FieldError> {
        match s.trim().to_lowercase().as_str() {
            "active" => Ok(LicenseState::Active),
            "suspended" => Ok(LicenseState::Suspended),
            "expired" => Ok(LicenseState::Expired),
            _ => Err(FieldError::new("state", "error.license_state")),
        }
    }

    /// The state everyone sees: a license past its Valid to date is
    /// Expired, whatever was saved, without anyone saving it.
    pub fn effective(stored: LicenseState, valid_to: Date, today: Date) -> LicenseState {
        if today > valid_to {
            LicenseState::Expired
        } else {
            stored
        }
    }
}

/// Upper bound for seat counts and GB fields (keeps arithmetic far from
/// overflow and typos from becoming absurd licenses).
pub const MAX_COUNT: i64 = 1_000_000;

/// Parses a whole, non-negative number of seats or GB.
pub fn parse_count(field: &'static str, raw: &str) -> Result<i64, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(0);
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(FieldError::new(field, "error.negative")),
        Ok(n) if n > MAX_COUNT => Err(FieldError::new(field, "error.too_large")),
        Ok(n) => Ok(n),
        Err(_) => Err(FieldError::new(field, "error.whole_number")),
    }
}

/// One pool of seats of a license (Standard or Server): "N used M".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub seats: i64,
    pub used: i64,
}

impl Seats {
    /// Seats still free. The database's guarded seat UPDATE
    /// (`store::installations::take_seats`: `used + n <= seats`) applies
    /// the same rule and is the judge; see `domain::activation`.
    pub fn free(self) -> i64 {
        (self.seats - self.used).max(0)
    }
}

/// Space per seat of each type, in GB (settings).
#[derive(Debug, Clone, Copy)]
pub struct SeatSpace {
    pub standard_gb: i64,
    pub server_gb: i64,
}

/// Total space = standard seats × space per standard seat + server seats ×
/// space per server seat + extra space (GB).
pub fn total_space_gb(
    space: SeatSpace,
    standard_seats: i64,
    server_seats: i64,
    extra_space_gb: i64,
) -> i64 {
    standard_seats
        .saturating_mul(space.standard_gb)
        .saturating_add(server_seats.saturating_mul(space.server_gb))
        .saturating_add(extra_space_gb)
}

/// An ISO date (`2012-02-15`).
pub fn parse_date(field: &'static str, raw: &str) -> Result<Date, FieldError> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), &f).map_err(|_| FieldError::new(field, "error.date"))
}

pub fn format_date(d: Date) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&f).unwrap_or_default()
}

/// A stored ISO date (a license's Created and Valid to): decodes from its
/// column, so nothing downstream re-parses the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub Date);

impl TryFrom<String> for Day {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Day, FieldError> {
        parse_date("date", &s).map(Day)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_date(self.0))
    }
}

/// Today in UTC.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// The default term of a new license: one year, the seed's 2011-02-16 →
/// 2012-02-15.
pub fn default_valid_to(created: Date) -> Date {
    let next = created
        .replace_year(created.year() + 1)
        .unwrap_or_else(|_| {
            // 29 February → 28 February next year
            created
                .replace_day(28)
                .and_then(|d| d.replace_year(created.year() + 1))
                .unwrap_or(created)
        });
    next.previous_day().unwrap_or(next)
}

/// Accepts a JSON number or a string (the form sends strings).
pub fn num_or_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize as _;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum V {
        N(i64),
        S(String),
        F(f64),
    }
    Ok(match Option::<V>::deserialize(d)? {
        None => None,
        Some(V::N(n)) => Some(n.to_string()),
        Some(V::S(s)) => Some(s),
        Some(V::F(f)) => Some(f.to_string()),
    })
}

/// A license as typed (API body or form), checked by [`NewLicense::parse`].
/// Missing fields: on create the defaults (0 seats, purchased, active,
/// created today, valid one year), on edit the saved values.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A license's terms. Fields left out: on create the defaults (0 seats, purchased, active, created today, valid one year), on save the saved values. Every field error is answered at once (422)."
)]
pub struct LicenseInput {
    #[serde(default)]
    #[schema(value_type = Option<LicenseType>)]
    pub r#type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<LicenseState>)]
    pub state: Option<String>,
    /// Total Standard seats, old licenses included (not below those in use).
    #[serde(default, deserialize_with = "num_or_str")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000)]
    pub standard_seats: Option<String>,
    /// Total Server seats (not below those in use).
    #[serde(default, deserialize_with = "num_or_str")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000)]
    pub server_seats: Option<String>,
    #[serde(default, deserialize_with = "num_or_str")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000)]
    pub extra_space_gb: Option<String>,
    /// 0 = not in use.
    #[serde(default, deserialize_with = "num_or_str")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000)]
    pub client_limit_gb: Option<String>,
    #[serde(default)]
    #[schema(format = Date)]
    pub created: Option<String>,
    /// Not before `created`.
    #[serde(default)]
    #[schema(format = Date)]
    pub valid_to: Option<String>,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub comments: Option<String>,
}

/// The editable terms of a license, every field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLicense {
    pub r#type: LicenseType,
    pub state: LicenseState,
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    pub created: Date,
    pub valid_to: Date,
    pub comments: String,
}

/// The text a license's fields start from: the defaults of a new license,
/// or the saved values of one being edited.
#[derive(Debug, Clone)]
pub struct LicenseBase {
    pub r#type: LicenseType,
    pub state: LicenseState,
    pub standard_seats: i64,
    pub server_seats: i64,
    pub extra_space_gb: i64,
    pub client_limit_gb: i64,
    pub created: String,
    pub valid_to: String,
    pub comments: String,
}

impl LicenseBase {
    /// A new license: purchased, active, no seats, valid a year from today.
    pub fn new_license(today: Date) -> LicenseBase {
        LicenseBase {
            r#type: LicenseType::Purchased,
            state: LicenseState::Active,
            standard_seats: 0,
            server_seats: 0,
            extra_space_gb: 0,
            client_limit_gb: 0,
            created: format_date(today),
            valid_to: format_date(default_valid_to(today)),
            comments: String::new(),
        }
    }
}

impl NewLicense {
    /// Parses what was sent over `base` (a field not sent keeps the base's
    /// value); every field error at once.
    pub fn parse(raw: &LicenseInput, base: &LicenseBase) -> Result<NewLicense, Vec<FieldError>> {
        let pick = |v: &Option<String>, d: String| v.clone().unwrap_or(d);
        parse_fields! {
            r#type = LicenseType::parse(&pick(&raw.r#type, base.r#type.as_str().into())),
            state = LicenseState::parse(&pick(&raw.state, base.state.as_str().into())),
            standard_seats = parse_count(
                "standard_seats",
                &pick(&raw.standard_seats, base.standard_seats.to_string()),
            ),
            server_seats = parse_count(
                "server_seats",
                &pick(&raw.server_seats, base.server_seats.to_string()),
            ),
            extra_space_gb = parse_count(
                "extra_space_gb",
                &pick(&raw.extra_space_gb, base.extra_space_gb.to_string()),
            ),
            client_limit_gb = parse_count(
                "client_limit_gb",
                &pick(&raw.client_limit_gb, base.client_limit_gb.to_string()),
            ),
            created = parse_date("created", &pick(&raw.created, base.created.clone())),
            valid_to = parse_date("valid_to", &pick(&raw.valid_to, base.valid_to.clone()))
                .and_then(|v| match &created {
                    Ok(c) if v < *c => Err(FieldError::new("valid_to", "error.valid_to_before_created")),
                    _ => Ok(v),
                }),
            comments = text("comments", &pick(&raw.comments, base.comments.clone()), 4000, false),
        }
        Ok(NewLicense {
            r#type,
            state,
            standard_seats,
            server_seats,
            extra_space_gb,
            client_limit_gb,
            created,
            valid_to,
            comments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_license_change_keeps_what_was_not_sent() {
        let base = LicenseBase::new_license(date!(2026 - 01 - 10));
        let raw = LicenseInput {
            standard_seats: Some("5".into()),
            ..LicenseInput::default()
        };
        let l = NewLicense::parse(&raw, &base);
        assert!(
            l.as_ref().is_ok_and(|l| l.standard_seats == 5
                && l.state == LicenseState::Active
                && l.created == date!(2026 - 01 - 10)),
            "{l:?}"
        );
        let raw = LicenseInput {
            state: Some("sold".into()),
            server_seats: Some("-1".into()),
            valid_to: Some("2025-12-31".into()),
            ..LicenseInput::default()
        };
        let errors = NewLicense::parse(&raw, &base).err().unwrap_or_default();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("state", "error.license_state"),
                ("server_seats", "error.negative"),
                ("valid_to", "error.valid_to_before_created"),
            ]
        );
    }

    #[test]
    fn the_seeds_total_space() {
        let s = SeatSpace {
            standard_gb: 10,
            server_gb: 25,
        };
        assert_eq!(total_space_gb(s, 5, 1, 0), 75);
        assert_eq!(total_space_gb(s, 0, 0, 7), 7);
        assert_eq!(
            total_space_gb(s, MAX_COUNT, MAX_COUNT, MAX_COUNT),
            36_000_000
        );
    }

    #[test]
    fn expiry_is_computed_at_the_boundary() {
        let valid_to = date!(2012 - 02 - 15);
        assert_eq!(
            LicenseState::effective(LicenseState::Active, valid_to, date!(2012 - 02 - 15)),
            LicenseState::Active
        );
        assert_eq!(
            LicenseState::effective(LicenseState::Active, valid_to, date!(2012 - 02 - 16)),
            LicenseState::Expired
        );
        assert_eq!(
            LicenseState::effective(LicenseState::Suspended, valid_to, date!(2012 - 02 - 16)),
            LicenseState::Expired
        );
        assert_eq!(
            LicenseState::effective(LicenseState::Suspended, valid_to, date!(2012 - 01 - 16)),
            LicenseState::Suspended
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("x", " 5 ").unwrap(), 5);
        assert_eq!(parse_count("x", "").unwrap(), 0);
        assert!(parse_count("x", "-1").is_err());
        assert!(parse_count("x", "1.5").is_err());
        assert!(parse_count("x", "99999999").is_err());
    }

    #[test]
    fn default_term_matches_the_seed() {
        assert_eq!(
            default_valid_to(date!(2011 - 02 - 16)),
            date!(2012 - 02 - 15)
        );
        assert_eq!(
            default_valid_to(date!(2024 - 02 - 29)),
            date!(2025 - 02 - 27)
        );
    }
}
