//! A client's backup history by day (UTC): runs per status and the stored
//! size, and the coordinates of the small chart the console draws from it.
//! Pure: the service hands in the runs, the template draws the SVG.

use super::Millis;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// How a backup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    Warning,
    Failed,
}

impl RunStatus {
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "success" => Some(RunStatus::Success),
            "warning" => Some(RunStatus::Warning),
            "failed" => Some(RunStatus::Failed),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Warning => "warning",
            RunStatus::Failed => "failed",
        }
    }

    /// The symbol shown beside the word (status is never colour alone).
    pub fn symbol(&self) -> &'static str {
        match self {
            RunStatus::Success => "✓",
            RunStatus::Warning => "⚠",
            RunStatus::Failed => "✗",
        }
    }
}

/// One reported run, as much of it as the history needs.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub finished_at: Millis,
    pub status: RunStatus,
    pub bytes_total: i64,
}

/// One UTC day of a client's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DayBucket {
    /// ISO date (UTC).
    pub date: String,
    /// Runs that finished this day.
    pub runs: i64,
    pub success: i64,
    pub warning: i64,
    pub failed: i64,
    /// `bytes_total` of the day's last run; null on a day without runs.
    pub bytes_total: Option<i64>,
}

impl DayBucket {
    /// The worst status of the day, if any run.
    pub fn worst(&self) -> Option<RunStatus> {
        if self.failed > 0 {
            Some(RunStatus::Failed)
        } else if self.warning > 0 {
            Some(RunStatus::Warning)
        } else if self.success > 0 {
            Some(RunStatus::Success)
        } else {
            None
        }
    }
}

/// The first millisecond of the first of the `days` UTC days that end
/// with the day of `now` (what to read from the store).
pub fn window_start(now: Millis, days: i64) -> Millis {
    now.div_euclid(DAY_MS) * DAY_MS - (days.max(1) - 1) * DAY_MS
}

/// Runs into per-day buckets, oldest day first, one bucket for every day
/// of the window (days without a run stay empty: gaps, not zeros of
/// bytes). Runs before the window are ignored; runs finishing after today
/// (clients may be a little ahead, reports up to a day ahead are
/// accepted) count on today.
pub fn buckets(runs: &[Run], now: Millis, days: i64) -> Vec<DayBucket> {
    let days = days.max(1);
    let start = window_start(now, days);
    let mut out: Vec<DayBucket> = (0..days)
        .map(|i| DayBucket {
            date: date_of(start + i * DAY_MS),
            runs: 0,
            success: 0,
            warning: 0,
            failed: 0,
            bytes_total: None,
        })
        .collect();
    let mut last_at: Vec<Option<Millis>> = vec![None; days as usize];
    for r in runs {
        if r.finished_at < start {
            continue;
        }
        let i = ((r.finished_at - start) / DAY_MS).min(days - 1) as usize;
        let b = &mut out[i];
        b.runs += 1;
        match r.status {
            RunStatus::Success => b.success += 1,
            RunStatus::Warning => b.warning += 1,
            RunStatus::Failed => b.failed += 1,
        }
        if last_at[i].is_none_or(|t| r.finished_at >= t) {
            last_at[i] = Some(r.finished_at);
            b.bytes_total = Some(r.bytes_total);
        }
    }
    out
}

fn date_of(ms: Millis) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    super::license::format_date(d)
}

// Chart geometry (SVG user units; the SVG scales to its box).
const LEFT: f64 = 56.0;
const SLOT: f64 = 18.0;
const BAR: f64 = 12.0;
const RUNS_TOP: f64 = 18.0;
const RUNS_H: f64 = 80.0;
const BYTES_TOP: f64 = 122.0;
const BYTES_H: f64 = 50.0;
/// A run is never thinner than this, so one failure among hundreds shows.
const MIN_SEGMENT: f64 = 2.0;

/// One coloured part of a day's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub status: RunStatus,
    pub count: i64,
    pub y: f64,
    pub height: f64,
}

/// A day as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartDay {
    pub bucket: DayBucket,
    /// Left edge of the bar.
    pub x: f64,
    /// Centre of the day's slot (marks, points, labels).
    pub cx: f64,
    /// From the bottom: success, warning, failed.
    pub segments: Vec<Segment>,
    /// Top of the bar (where the ✗ / ⚠ mark goes above).
    pub top: f64,
    /// The stored-bytes point, on days with a run.
    pub bytes_y: Option<f64>,
    /// A date label under this day (today and every 7th day before it).
    pub label: Option<String>,
}

impl ChartDay {
    /// The mark above the bar for a day with a failed or warning run.
    pub fn mark(&self) -> Option<&'static str> {
        match self.bucket.worst() {
            Some(RunStatus::Success) | None => None,
            Some(s) => Some(s.symbol()),
        }
    }
}

/// The whole chart: days, the stored-bytes line (one polyline per run of
/// consecutive days with data, so gaps stay gaps), and the scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub days: Vec<ChartDay>,
    /// `points` attribute values of the stored-bytes polylines.
    pub bytes_lines: Vec<String>,
    pub max_runs: i64,
    pub max_bytes: i64,
    pub left: f64,
    pub right: f64,
    pub runs_top: f64,
    pub runs_base: f64,
    pub bytes_top: f64,
    pub bytes_base: f64,
    pub label_y: f64,
}

impl Chart {
    pub fn total(&self, status: RunStatus) -> i64 {
        self.days
            .iter()
            .map(|d| match status {
                RunStatus::Success => d.bucket.success,
                RunStatus::Warning => d.bucket.warning,
                RunStatus::Failed => d.bucket.failed,
            })
            .sum()
    }

    pub fn runs(&self) -> i64 {
        self.days.iter().map(|d| d.bucket.runs).sum()
    }

    /// Days of the window without a run.
    pub fn empty_days(&self) -> usize {
        self.days.iter().filter(|d| d.bucket.runs == 0).count()
    }

    /// The stored size of the latest day with a run.
    pub fn last_bytes(&self) -> Option<i64> {
        self.days.iter().rev().find_map(|d| d.bucket.bytes_total)
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Lays the buckets out for the SVG.
pub fn chart(buckets: &[DayBucket]) -> Chart {
    let max_runs = buckets.iter().map(|b| b.runs).max().unwrap_or(0).max(1);
    let max_bytes = buckets
        .iter()
        .filter_map(|b| b.bytes_total)
        .max()
        .unwrap_or(0)
        .max(1);
    let runs_base = RUNS_TOP + RUNS_H;
    let bytes_base = BYTES_TOP + BYTES_H;
    let n = buckets.len();
    let mut days = Vec::with_capacity(n);
    let mut lines = Vec::new();
    let mut line: Vec<String> = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + i as f64 * SLOT + (SLOT - BAR) / 2.0;
        let cx = LEFT + i as f64 * SLOT + SLOT / 2.0;
        let mut y = runs_base;
        let mut segments = Vec::new();
        for (status, count) in [
            (RunStatus::Success, b.success),
            (RunStatus::Warning, b.warning),
            (RunStatus::Failed, b.failed),
        ] {
            if count == 0 {
                continue;
            }
            let h = (count as f64 * RUNS_H / max_runs as f64).max(MIN_SEGMENT);
            y -= h;
            segments.push(Segment {
                status,
                count,
                y: round1(y),
                height: round1(h),
            });
        }
        let bytes_y = b
            .bytes_total
            .map(|v| round1(bytes_base - v.max(0) as f64 * BYTES_H / max_bytes as f64));
        match bytes_y {
            Some(by) => line.push(format!("{},{}", round1(cx), by)),
            None if !line.is_empty() => lines.push(std::mem::take(&mut line).join(" ")),
            None => {}
        }
        let label = (n - 1 - i)
            .is_multiple_of(7)
            .then(|| b.date.get(5..).unwrap_or("").to_string());
        days.push(ChartDay {
            bucket: b.clone(),
            x: round1(x),
            cx: round1(cx),
            segments,
            top: round1(y),
            bytes_y,
            label,
        });
    }
    if !line.is_empty() {
        lines.push(line.join(" "));
    }
    Chart {
        width: LEFT + n as f64 * SLOT + 8.0,
        height: bytes_base + 22.0,
        days,
        bytes_lines: lines,
        max_runs,
        max_bytes,
        left: LEFT,
        right: LEFT + n as f64 * SLOT,
        runs_top: RUNS_TOP,
        runs_base,
        bytes_top: BYTES_TOP,
        bytes_base,
        label_y: bytes_base + 16.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-28 12:00 UTC
    const NOW: Millis = 1_795_867_200_000;

    fn run(days_ago: i64, hour: i64, status: RunStatus, bytes: i64) -> Run {
        Run {
            finished_at: NOW.div_euclid(DAY_MS) * DAY_MS - days_ago * DAY_MS + hour * 3_600_000,
            status,
            bytes_total: bytes,
        }
    }

    #[test]
    fn runs_fall_on_their_utc_day_and_empty_days_stay_gaps() {
        let runs = [
            run(40, 1, RunStatus::Success, 1), // before the window
            run(29, 0, RunStatus::Success, 100),
            run(3, 2, RunStatus::Success, 500),
            run(3, 23, RunStatus::Failed, 0),
            run(3, 5, RunStatus::Warning, 600),
            run(0, 1, RunStatus::Success, 700),
            run(-1, 1, RunStatus::Success, 800), // a client ahead: today
        ];
        let b = buckets(&runs, NOW, 30);
        assert_eq!(b.len(), 30);
        assert_eq!(b[0].date, "2026-10-30");
        assert_eq!(b[29].date, "2026-11-28");
        assert_eq!((b[0].runs, b[0].bytes_total), (1, Some(100)));
        let d = &b[26];
        assert_eq!(d.date, "2026-11-25");
        assert_eq!((d.runs, d.success, d.warning, d.failed), (3, 1, 1, 1));
        assert_eq!(d.bytes_total, Some(0), "the day's last run, a failed one");
        assert_eq!(d.worst(), Some(RunStatus::Failed));
        assert_eq!((b[29].runs, b[29].bytes_total), (2, Some(800)));
        assert_eq!(b[10].runs, 0);
        assert_eq!(b[10].bytes_total, None);
        assert_eq!(window_start(NOW, 30) + 29 * DAY_MS, 1_795_824_000_000);
    }

    #[test]
    fn chart_stacks_bars_breaks_lines_at_gaps_and_keeps_rare_failures_visible() {
        let mut runs: Vec<Run> = (0..100)
            .map(|i| run(1, i % 24, RunStatus::Success, 1000))
            .collect();
        runs.push(run(1, 23, RunStatus::Failed, 900));
        runs.push(run(3, 1, RunStatus::Success, 500));
        runs.push(run(4, 1, RunStatus::Warning, 400));
        let c = chart(&buckets(&runs, NOW, 30));
        assert_eq!(c.max_runs, 101);
        assert_eq!(c.max_bytes, 900);
        assert_eq!((c.runs(), c.total(RunStatus::Failed)), (103, 1));
        assert_eq!(c.empty_days(), 27);
        let busy = &c.days[28];
        assert_eq!(busy.segments.len(), 2);
        let failed = &busy.segments[1];
        assert_eq!(failed.status, RunStatus::Failed);
        assert!(
            failed.height >= MIN_SEGMENT,
            "one failure in 101 still shows"
        );
        assert!(busy.top >= c.runs_top - 2.0 * MIN_SEGMENT);
        assert_eq!(busy.mark(), Some("✗"));
        assert_eq!(c.days[25].mark(), Some("⚠"));
        assert_eq!(c.days[26].mark(), None);
        // days 25, 26 have data, 27 not, 28 yes: two lines.
        assert_eq!(c.bytes_lines.len(), 2, "{:?}", c.bytes_lines);
        assert_eq!(c.bytes_lines[0].split(' ').count(), 2);
        assert_eq!(
            c.days[28].bytes_y,
            Some(c.bytes_top),
            "the largest is at the top"
        );
        assert_eq!(c.days[29].bytes_y, None);
        assert_eq!(c.days[0].label, None);
        assert_eq!(c.days[1].label.as_deref(), Some("10-31"));
        assert_eq!(c.days[22].label.as_deref(), Some("11-21"));
        assert_eq!(c.days[29].label.as_deref(), Some("11-28"));
        assert_eq!(c.last_bytes(), Some(900));
    }

    #[test]
    fn an_empty_history_is_a_chart_of_gaps() {
        let c = chart(&buckets(&[], NOW, 30));
        assert_eq!(c.days.len(), 30);
        assert!(c.bytes_lines.is_empty());
        assert!(
            c.days
                .iter()
                .all(|d| d.segments.is_empty() && d.mark().is_none())
        );
        assert_eq!(c.last_bytes(), None);
    }
}
