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

/// One month of the small usage chart.
#[derive(Debug, Clone)]
pub struct ChartMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The month's number, the axis label.
    pub label: String,
    pub x: f64,
    pub cx: f64,
    pub bar_y: f64,
    pub bar_height: f64,
    pub storage_y: f64,
    pub seats_used_avg: f64,
    pub storage_peak: i64,
}

/// The last months' totals drawn as bars (average seats used, Standard
/// and Server together) and a line (storage peak), each on its own scale.
#[derive(Debug, Clone)]
pub struct UsageChart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub base: f64,
    pub label_y: f64,
    pub max_seats: f64,
    pub max_bytes: i64,
    pub months: Vec<ChartMonth>,
    /// The storage line's points (`x,y x,y …`).
    pub storage_line: String,
}

/// Lays out the chart of `(month, average seats used, storage peak)`.
pub fn chart(points: &[(String, f64, i64)]) -> UsageChart {
    let (left, top, base, step, bar) = (44.0, 8.0, 88.0, 22.0, 14.0);
    let width = left + step * points.len() as f64 + 8.0;
    let max_seats = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let max_bytes = points.iter().map(|p| p.2).max().unwrap_or(0);
    let span = base - top;
    let months: Vec<ChartMonth> = points
        .iter()
        .enumerate()
        .map(|(i, (m, seats, bytes))| {
            let x = left + step * i as f64 + (step - bar) / 2.0;
            let h = if max_seats > 0.0 {
                seats / max_seats * span
            } else {
                0.0
            };
            let sy = if max_bytes > 0 {
                base - *bytes as f64 / max_bytes as f64 * span
            } else {
                base
            };
            ChartMonth {
                month: m.clone(),
                label: m.get(5..7).unwrap_or("").to_string(),
                x,
                cx: x + bar / 2.0,
                bar_y: base - h,
                bar_height: h,
                storage_y: sy,
                seats_used_avg: *seats,
                storage_peak: *bytes,
            }
        })
        .collect();
    let storage_line = months
        .iter()
        .map(|m| format!("{:.1},{:.1}", m.cx, m.storage_y))
        .collect::<Vec<_>>()
        .join(" ");
    UsageChart {
        width,
        height: base + 16.0,
        left,
        right: width - 4.0,
        top,
        base,
        label_y: base + 12.0,
        max_seats,
        max_bytes,
        months,
        storage_line,
    }
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

    #[test]
    fn the_chart_scales_bars_and_line_to_their_peaks() {
        let c = chart(&[
            ("2026-02".into(), 0.0, 0),
            ("2026-03".into(), 2.0, 1000),
            ("2026-04".into(), 1.0, 500),
        ]);
        assert_eq!(c.months.len(), 3);
        assert_eq!(c.months[1].label, "03");
        assert_eq!(c.months[1].bar_y, c.top);
        assert_eq!(c.months[0].bar_height, 0.0);
        assert_eq!(c.months[2].bar_height, (c.base - c.top) / 2.0);
        assert_eq!(c.months[1].storage_y, c.top);
        assert_eq!(c.storage_line.split(' ').count(), 3);
        let empty = chart(&[("2026-01".into(), 0.0, 0)]);
        assert_eq!(empty.months[0].storage_y, empty.base);
    }
}
