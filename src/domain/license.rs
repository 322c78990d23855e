//! License rules: type, state (with expiry computed from the date), seats
//! and space.

use time::Date;

use super::FieldError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

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
