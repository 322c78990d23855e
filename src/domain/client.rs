//! What backup clients send, parsed: the machine that activates (or starts
//! a trial) and a backup run's report. Each constructor returns every field
//! error at once; what passes is a value the service uses as it is.

use super::invite::SoftwareType;
use super::{Email, FieldError, Millis};

/// Counts above these are not physical (a client's bug or an attack that
/// would overflow sums later): refused, not stored.
/// 1 PB for one client: sums over a vendor's thousands of clients still
/// fit in 64 bits.
pub const MAX_REPORT_BYTES: i64 = 1_000_000_000_000_000;
pub const MAX_REPORT_FILES: i64 = 1_000_000_000_000;

/// A single line of client text: trimmed, at most `max` characters, no
/// control characters at all (no CR/LF: it reaches pages and e-mail).
fn line(field: &'static str, raw: &str, max: usize, required: bool) -> Result<String, FieldError> {
    let s = raw.trim();
    if required && s.is_empty() {
        return Err(FieldError::new(field, "error.required"));
    }
    if s.chars().count() > max {
        return Err(FieldError::new(field, "error.too_long"));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "error.control_chars"));
    }
    Ok(s.to_string())
}

/// Free text that may span lines (an error's output): tabs and line breaks
/// pass, other control characters do not.
fn block(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.chars().count() > max {
        return Err(FieldError::new(field, "error.too_long"));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(field, "error.control_chars"));
    }
    Ok(s.to_string())
}

/// Collects the errors of several fields.
fn all<T>(r: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// The computer a client runs on, as it tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub hostname: String,
    pub os: String,
    pub client_version: String,
}

impl Machine {
    pub fn parse(
        hostname: &str,
        os: &str,
        client_version: &str,
    ) -> Result<Machine, Vec<FieldError>> {
        let mut e = Vec::new();
        let hostname = all(line("hostname", hostname, 255, true), &mut e);
        let os = all(line("os", os, 255, true), &mut e);
        let client_version = all(line("client_version", client_version, 64, false), &mut e);
        match (hostname, os, client_version) {
            (Some(hostname), Some(os), Some(client_version)) if e.is_empty() => Ok(Machine {
                hostname,
                os,
                client_version,
            }),
            _ => Err(e),
        }
    }
}

/// A trial request: who asks, for which kind of seat, on which machine.
#[derive(Debug, Clone)]
pub struct NewTrial {
    pub email: Email,
    pub software_type: SoftwareType,
    pub machine: Machine,
}

impl NewTrial {
    pub fn parse(
        email: &str,
        software_type: &str,
        hostname: &str,
        os: &str,
        client_version: &str,
    ) -> Result<NewTrial, Vec<FieldError>> {
        let mut e = Vec::new();
        let email = all(Email::parse("email", email), &mut e);
        let software_type = all(SoftwareType::parse(software_type), &mut e);
        let machine = Machine::parse(hostname, os, client_version)
            .map_err(|m| e.extend(m))
            .ok();
        match (email, software_type, machine) {
            (Some(email), Some(software_type), Some(machine)) if e.is_empty() => Ok(NewTrial {
                email,
                software_type,
                machine,
            }),
            _ => Err(e),
        }
    }
}

/// How a backup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Success,
    Warning,
    Failed,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Success => "success",
            ReportStatus::Warning => "warning",
            ReportStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<ReportStatus, FieldError> {
        match s.trim() {
            "success" => Ok(ReportStatus::Success),
            "warning" => Ok(ReportStatus::Warning),
            "failed" => Ok(ReportStatus::Failed),
            _ => Err(FieldError::new("status", "error.report_status")),
        }
    }
}

/// One backup run as a client reports it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub started_at: Millis,
    pub finished_at: Millis,
    pub status: ReportStatus,
    pub bytes_total: i64,
    pub bytes_uploaded: i64,
    pub files_total: i64,
    pub files_changed: i64,
    pub message: String,
    pub snapshot_id: Option<String>,
    pub files_new: Option<i64>,
    pub simulated: bool,
}

/// The raw figures of a report (the wire's `ReportInput`, without the
/// dependency on it).
#[derive(Debug, Clone, Copy)]
pub struct RawReport<'a> {
    pub started_at: &'a str,
    pub finished_at: &'a str,
    pub status: &'a str,
    pub bytes_total: i64,
    pub bytes_uploaded: i64,
    pub files_total: i64,
    pub files_changed: i64,
    pub message: &'a str,
    pub snapshot_id: Option<&'a str>,
    pub files_new: Option<i64>,
    pub simulated: bool,
}

fn parse_time(field: &'static str, raw: &str) -> Result<Millis, FieldError> {
    time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| FieldError::new(field, "error.rfc3339"))
}

/// A restic snapshot id: 64 lower-case hex digits (a short form of at
/// least 8 is accepted, as restic prints them).
fn parse_snapshot_id(raw: &str) -> Result<Option<String>, FieldError> {
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    if (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(s))
    } else {
        Err(FieldError::new("snapshot_id", "error.snapshot_id"))
    }
}

fn count(field: &'static str, v: i64, max: i64) -> Result<i64, FieldError> {
    if v < 0 {
        Err(FieldError::new(field, "error.negative"))
    } else if v > max {
        Err(FieldError::new(field, "error.too_large"))
    } else {
        Ok(v)
    }
}

impl NewReport {
    /// Parses a report received at `now`: times in RFC 3339, not finished
    /// before started nor more than a day in the future, counts within
    /// physical bounds, a message of at most 2,000 characters.
    pub fn parse(r: RawReport<'_>, now: Millis) -> Result<NewReport, Vec<FieldError>> {
        let mut e = Vec::new();
        let started_at = all(parse_time("started_at", r.started_at), &mut e);
        let finished_at = all(parse_time("finished_at", r.finished_at), &mut e);
        let status = all(ReportStatus::parse(r.status), &mut e);
        let bytes_total = all(
            count("bytes_total", r.bytes_total, MAX_REPORT_BYTES),
            &mut e,
        );
        let bytes_uploaded = all(
            count("bytes_uploaded", r.bytes_uploaded, MAX_REPORT_BYTES),
            &mut e,
        );
        let files_total = all(
            count("files_total", r.files_total, MAX_REPORT_FILES),
            &mut e,
        );
        let files_changed = all(
            count("files_changed", r.files_changed, MAX_REPORT_FILES),
            &mut e,
        );
        let snapshot_id = r
            .snapshot_id
            .map(|id| all(parse_snapshot_id(id), &mut e))
            .unwrap_or(Some(None));
        let files_new = r
            .files_new
            .map(|n| all(count("files_new", n, MAX_REPORT_FILES), &mut e).map(Some))
            .unwrap_or(Some(None));
        // A message may span lines (an error's output), but no other controls.
        let message = all(block("message", r.message, 2000), &mut e);
        if let (Some(s), Some(f)) = (started_at, finished_at) {
            if f < s {
                e.push(FieldError::new(
                    "finished_at",
                    "error.finished_before_started",
                ));
            }
            if f > now + 24 * 3600 * 1000 {
                e.push(FieldError::new("finished_at", "error.in_the_future"));
            }
        }
        match (
            started_at,
            finished_at,
            status,
            bytes_total,
            bytes_uploaded,
            files_total,
            files_changed,
            message,
            snapshot_id,
            files_new,
        ) {
            (
                Some(s),
                Some(f),
                Some(st),
                Some(bt),
                Some(bu),
                Some(ft),
                Some(fc),
                Some(m),
                Some(snapshot_id),
                Some(files_new),
            ) if e.is_empty() => Ok(NewReport {
                started_at: s,
                finished_at: f,
                status: st,
                bytes_total: bt,
                bytes_uploaded: bu,
                files_total: ft,
                files_changed: fc,
                message: m,
                snapshot_id,
                files_new,
                simulated: r.simulated,
            }),
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_781_500_000_000;

    fn raw<'a>() -> RawReport<'a> {
        RawReport {
            started_at: "2026-06-15T03:00:00Z",
            finished_at: "2026-06-15T03:10:00Z",
            status: "success",
            bytes_total: 10,
            bytes_uploaded: 1,
            files_total: 3,
            files_changed: 1,
            message: "",
            snapshot_id: None,
            files_new: None,
            simulated: false,
        }
    }

    #[test]
    fn snapshot_ids_are_hex() {
        let id = "7E3C5b0a".repeat(8);
        let r = NewReport::parse(
            RawReport {
                snapshot_id: Some(&id),
                files_new: Some(4),
                ..raw()
            },
            NOW,
        )
        .unwrap();
        assert_eq!(r.snapshot_id.as_deref(), Some(&*id.to_ascii_lowercase()));
        assert_eq!(r.files_new, Some(4));
        for bad in ["abc", "zzzzzzzzzz", "0123456789abcdeg", "01234567 89"] {
            let e = NewReport::parse(
                RawReport {
                    snapshot_id: Some(bad),
                    ..raw()
                },
                NOW,
            )
            .unwrap_err();
            assert_eq!(e[0].field, "snapshot_id", "{bad}");
        }
    }

    #[test]
    fn a_good_report_parses() {
        let r = NewReport::parse(raw(), NOW).unwrap();
        assert_eq!(r.status, ReportStatus::Success);
        assert_eq!(r.finished_at - r.started_at, 600_000);
    }

    #[test]
    fn every_error_at_once() {
        let bad = RawReport {
            started_at: "yesterday",
            status: "great",
            bytes_total: -1,
            files_total: i64::MAX,
            message: "a\u{0}b",
            ..raw()
        };
        let e = NewReport::parse(bad, NOW).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "started_at",
                "status",
                "bytes_total",
                "files_total",
                "message"
            ]
        );
    }

    #[test]
    fn overflowing_counts_are_refused() {
        let r = RawReport {
            bytes_total: i64::MAX,
            ..raw()
        };
        assert_eq!(
            NewReport::parse(r, NOW).unwrap_err()[0].message,
            "error.too_large"
        );
    }

    #[test]
    fn times_must_make_sense() {
        let r = RawReport {
            started_at: "2026-06-15T04:00:00Z",
            ..raw()
        };
        assert_eq!(
            NewReport::parse(r, NOW).unwrap_err()[0].message,
            "error.finished_before_started"
        );
    }

    #[test]
    fn machine_fields_are_single_lines() {
        let e = Machine::parse("host\r\nX-Fake: 1", "", "1.0").unwrap_err();
        assert_eq!(e[0].message, "error.control_chars");
        assert_eq!(e[1].field, "os");
        assert!(Machine::parse("pc-01", "linux", "").is_ok());
    }

    #[test]
    fn trial_reports_every_field() {
        let e = NewTrial::parse("not-an-email", "desk", "", "linux", "").unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["email", "software_type", "hostname"]);
    }
}
