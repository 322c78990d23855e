//! How healthy a client's backups are: one word per installation.

/// The health word, worst first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Warning,
    Never,
    Overdue,
    Failed,
}

impl Health {
    pub fn as_str(&self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Never => "never",
            Health::Overdue => "overdue",
            Health::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Health> {
        match s.trim().to_lowercase().as_str() {
            "ok" => Some(Health::Ok),
            "warning" => Some(Health::Warning),
            "never" => Some(Health::Never),
            "overdue" => Some(Health::Overdue),
            "failed" => Some(Health::Failed),
            _ => None,
        }
    }

    /// Sort key, worst = highest (also used in SQL, see store::monitoring).
    pub fn rank(&self) -> i64 {
        *self as i64
    }

    /// The rule:
    /// - never: activated, no report yet;
    /// - failed: the last run failed;
    /// - overdue: no successful run within `overdue_ms` (48 h by default);
    /// - warning: the last run ended with warnings, or the client is over
    ///   its client limit;
    /// - ok otherwise.
    pub fn of(
        last_backup_at: Option<i64>,
        last_status: Option<&str>,
        last_success_at: Option<i64>,
        over_limit: bool,
        now: i64,
        overdue_ms: i64,
    ) -> Health {
        let Some(_) = last_backup_at else {
            return Health::Never;
        };
        if last_status == Some("failed") {
            return Health::Failed;
        }
        match last_success_at {
            Some(t) if now - t < overdue_ms => {}
            _ => return Health::Overdue,
        }
        if last_status == Some("warning") || over_limit {
            Health::Warning
        } else {
            Health::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Health;

    const H: i64 = 3_600_000;

    #[test]
    fn boundaries() {
        let now = 1_000 * H;
        assert_eq!(
            Health::of(None, None, None, false, now, 48 * H),
            Health::Never
        );
        assert_eq!(
            Health::of(Some(now), Some("failed"), Some(now - H), false, now, 48 * H),
            Health::Failed
        );
        // 47 h 59 min since the last success: still fine; 48 h: overdue.
        let t = now - (47 * H + 59 * 60_000);
        assert_eq!(
            Health::of(Some(t), Some("success"), Some(t), false, now, 48 * H),
            Health::Ok
        );
        let t = now - 48 * H;
        assert_eq!(
            Health::of(Some(t), Some("success"), Some(t), false, now, 48 * H),
            Health::Overdue
        );
        assert_eq!(
            Health::of(Some(now), Some("warning"), Some(now), false, now, 48 * H),
            Health::Warning
        );
        assert_eq!(
            Health::of(Some(now), Some("success"), Some(now), true, now, 48 * H),
            Health::Warning
        );
        assert!(
            Health::Failed > Health::Overdue
                && Health::Overdue > Health::Never
                && Health::Never > Health::Warning
                && Health::Warning > Health::Ok
        );
    }
}
