//! Usage for billing: the month a report covers, the UTC day a sample
//! stands for, and the month's figures from the daily totals (peak and
//! average). Quantities only; money is out of scope.

use time::{Date, Duration, Month as M};

use super::{FieldError, Millis};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day of a time.
pub fn day_of(ms: Millis) -> Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// The first millisecond of a UTC day.
pub fn start_of_day(d: Date) -> Millis {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

/// A calendar month (`2026-03`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: Date,
}

impl Month {
    /// Parses `YYYY-MM` (year 2000–9999).
    pub fn parse(raw: &str) -> Result<Month, FieldError> {
        let bad = || FieldError::new("month", "error.month");
        let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        if !(2000..=9999).contains(&y) {
            return Err(bad());
        }
        let m = M::try_from(m).map_err(|_| bad())?;
        Date::from_calendar_date(y, m, 1)
            .map(|first| Month { first })
            .map_err(|_| bad())
    }

    /// The month a day lies in.
    pub fn of(d: Date) -> Month {
        Month {
            first: d.replace_day(1).unwrap_or(d),
        }
    }

    pub fn first_day(self) -> Date {
        self.first
    }

    pub fn last_day(self) -> Date {
        self.next().first.previous_day().unwrap_or(self.first)
    }

    /// Days in the month.
    pub fn days(self) -> i64 {
        i64::from(self.first.month().length(self.first.year()))
    }

    pub fn next(self) -> Month {
        Month {
            first: self.first + Duration::days(self.days()),
        }
    }

    pub fn previous(self) -> Month {
        Month::of(self.first.previous_day().unwrap_or(self.first))
    }

    /// The days an average is taken over: the whole month once it is
    /// over, the days so far (today included) in the current month,
    /// none for a month to come. A day without a sample counts as zero,
    /// so a customer who came mid-month averages less than its peak — the
    /// figure a per-month price is multiplied with.
    pub fn days_counted(self, today: Date) -> i64 {
        if today < self.first {
            0
        } else if today > self.last_day() {
            self.days()
        } else {
            i64::from(today.day())
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first.year(),
            u8::from(self.first.month())
        )
    }
}

/// A quantity over a month: the highest day, and the sum of the days
/// (the average is the sum over [`Month::days_counted`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Over {
    pub peak: i64,
    pub sum: i64,
}

impl Over {
    /// The average of the days, rounded to two decimals.
    pub fn average(self, days: i64) -> f64 {
        if days <= 0 {
            return 0.0;
        }
        (self.sum as f64 / days as f64 * 100.0).round() / 100.0
    }

    /// The average rounded to a whole number (bytes).
    pub fn average_whole(self, days: i64) -> i64 {
        if days <= 0 {
            return 0;
        }
        (self.sum as f64 / days as f64).round() as i64
    }
}

/// A month's figures of one customer (per license type) or one vendor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthFigures {
    pub standard_seats: Over,
    pub standard_used: Over,
    pub server_seats: Over,
    pub server_used: Over,
    pub total_space_gb: Over,
    pub storage_used_bytes: Over,
    /// Days with at least one active license.
    pub days_active: i64,
    /// Days with a sample at all.
    pub days_sampled: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let m = Month::parse("2024-02").unwrap();
        assert_eq!(m.days(), 29);
        assert_eq!(m.to_string(), "2024-02");
        assert_eq!(m.next().to_string(), "2024-03");
        assert_eq!(m.previous().to_string(), "2024-01");
        assert_eq!(
            Month::parse("2024-01").unwrap().previous().to_string(),
            "2023-12"
        );
        assert_eq!(
            Month::parse("2023-12").unwrap().next().to_string(),
            "2024-01"
        );
        assert_eq!(m.last_day().day(), 29);
        for bad in [
            "2024-13",
            "2024-00",
            "24-01",
            "2024-1",
            "x",
            "",
            "1999-12",
            "2024-02-01",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_counted_and_averages() {
        let m = Month::parse("2026-03").unwrap();
        let d = |s: &str| crate::domain::license::parse_date("d", s).unwrap();
        assert_eq!(m.days_counted(d("2026-02-28")), 0);
        assert_eq!(m.days_counted(d("2026-03-10")), 10);
        assert_eq!(m.days_counted(d("2026-04-01")), 31);
        let o = Over { peak: 1, sum: 21 };
        assert_eq!(o.average(31), 0.68);
        assert_eq!(o.average(0), 0.0);
        assert_eq!(Over { peak: 0, sum: 10 }.average_whole(3), 3);
    }

    #[test]
    fn days_of_times() {
        let d = crate::domain::license::parse_date("d", "2026-03-11").unwrap();
        let start = start_of_day(d);
        assert_eq!(day_of(start), d);
        assert_eq!(day_of(start - 1), d.previous_day().unwrap());
        assert_eq!(day_of(start + DAY_MS - 1), d);
    }
}
