//! Usage for billing: a daily sample of every license (written at start,
//! refreshed hourly, missed days filled), and a month's usage per customer
//! and per vendor over those samples. Quantities only.

use std::time::Duration;

use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::license::{LicenseType, format_date};
use crate::domain::usage::{self, Month, MonthFigures, Over};
use crate::domain::{CustomerId, Millis, VendorId, now_millis};
use crate::store::{self, StoreError};

/// Missed days filled at most (a console stopped longer gets a gap).
pub const MAX_FILL_DAYS: i64 = 400;

/// What one sampling pass did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleOutcome {
    /// Past days without samples that were filled.
    pub days_filled: i64,
    /// Rows written for today.
    pub rows_today: u64,
}

/// A month's figures, as the API shows them. Averages are over the days
/// of the month (the days so far in the current month); a day without a
/// license counts as zero.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub standard_seats_peak: i64,
    pub standard_seats_avg: f64,
    pub standard_used_peak: i64,
    pub standard_used_avg: f64,
    pub server_seats_peak: i64,
    pub server_seats_avg: f64,
    pub server_used_peak: i64,
    pub server_used_avg: f64,
    pub total_space_gb_peak: i64,
    pub total_space_gb_avg: f64,
    pub storage_used_bytes_peak: i64,
    pub storage_used_bytes_avg: i64,
    /// Days with at least one active (not suspended, not expired) license.
    pub days_active: i64,
}

impl Figures {
    fn of(f: &MonthFigures, days: i64) -> Figures {
        Figures {
            standard_seats_peak: f.standard_seats.peak,
            standard_seats_avg: f.standard_seats.average(days),
            standard_used_peak: f.standard_used.peak,
            standard_used_avg: f.standard_used.average(days),
            server_seats_peak: f.server_seats.peak,
            server_seats_avg: f.server_seats.average(days),
            server_used_peak: f.server_used.peak,
            server_used_avg: f.server_used.average(days),
            total_space_gb_peak: f.total_space_gb.peak,
            total_space_gb_avg: f.total_space_gb.average(days),
            storage_used_bytes_peak: f.storage_used_bytes.peak,
            storage_used_bytes_avg: f.storage_used_bytes.average_whole(days),
            days_active: f.days_active,
        }
    }
}

fn figures(s: &store::usage::Sums) -> MonthFigures {
    let o = |peak, sum| Over { peak, sum };
    MonthFigures {
        standard_seats: o(s.standard_seats_peak, s.standard_seats_sum),
        standard_used: o(s.standard_used_peak, s.standard_used_sum),
        server_seats: o(s.server_seats_peak, s.server_seats_sum),
        server_used: o(s.server_used_peak, s.server_used_sum),
        total_space_gb: o(s.total_space_gb_peak, s.total_space_gb_sum),
        storage_used_bytes: o(s.storage_used_bytes_peak, s.storage_used_bytes_sum),
        days_active: s.days_active,
        days_sampled: s.days_sampled,
    }
}

/// One customer's month for one license type.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerUsage {
    pub customer_id: CustomerId,
    pub customer_name: String,
    /// `purchased` or `trial`.
    pub license_type: LicenseType,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One month's totals of a vendor (for the 12-month history).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MonthTotals {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One vendor's month: a row per customer and license type, the vendor's
/// totals (peaks of the vendor's daily totals, not sums of the customers'
/// peaks), and the totals of the last 12 months, oldest first.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VendorUsage {
    pub vendor_id: VendorId,
    pub vendor_name: String,
    pub customers: Vec<CustomerUsage>,
    pub totals: Figures,
    pub history: Vec<MonthTotals>,
}

/// The usage report of a month.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// `YYYY-MM`.
    pub month: String,
    /// The days the averages are taken over.
    pub days: i64,
    pub vendors: Vec<VendorUsage>,
}

/// The usage report's CSV columns, in order (stable: spreadsheets and
/// invoicing scripts read them by name).
pub const USAGE_COLUMNS: &str = "month,vendor_id,vendor_name,customer_id,customer_name,license_type,days,days_active,standard_seats_peak,standard_seats_avg,standard_used_peak,standard_used_avg,server_seats_peak,server_seats_avg,server_used_peak,server_used_avg,total_space_gb_peak,total_space_gb_avg,storage_used_bytes_peak,storage_used_bytes_avg";

impl UsageReport {
    /// The month's usage as CSV: one row per vendor, customer and license
    /// type (formula-safe cells). The console's and the API's download
    /// and the monthly e-mail's attachment are this file.
    pub fn csv(&self) -> String {
        let mut out = String::from(USAGE_COLUMNS);
        out.push('\n');
        for v in &self.vendors {
            for c in &v.customers {
                let f = &c.figures;
                let row = [
                    self.month.clone(),
                    v.vendor_id.to_string(),
                    v.vendor_name.clone(),
                    c.customer_id.to_string(),
                    c.customer_name.clone(),
                    c.license_type.as_str().to_string(),
                    self.days.to_string(),
                    f.days_active.to_string(),
                    f.standard_seats_peak.to_string(),
                    format!("{:.2}", f.standard_seats_avg),
                    f.standard_used_peak.to_string(),
                    format!("{:.2}", f.standard_used_avg),
                    f.server_seats_peak.to_string(),
                    format!("{:.2}", f.server_seats_avg),
                    f.server_used_peak.to_string(),
                    format!("{:.2}", f.server_used_avg),
                    f.total_space_gb_peak.to_string(),
                    format!("{:.2}", f.total_space_gb_avg),
                    f.storage_used_bytes_peak.to_string(),
                    f.storage_used_bytes_avg.to_string(),
                ];
                out.push_str(
                    &row.iter()
                        .map(|f| crate::domain::csv::field(f))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        out
    }
}

/// Days of a month on which its predecessor's usage e-mail may still go
/// out: the 1st, or the first pass after it when no instance ran on the
/// 1st. Later in the month nothing is sent (a billing address set on the
/// 20th gets its first report on the next 1st).
pub const USAGE_MAIL_DAYS: u8 = 7;

/// Query of the usage report.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The month, `YYYY-MM` (UTC); default the current month.
    #[serde(default)]
    pub month: Option<String>,
    /// Admins: one vendor only. Operators and viewers always get their own.
    #[serde(default)]
    pub vendor_id: Option<String>,
}

/// Parses the query the console and the API share.
pub fn parse_query(
    q: &UsageQuery,
) -> Result<(Month, Option<crate::domain::VendorId>), ServiceError> {
    let month = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => Month::of(crate::domain::usage::day_of(now_millis())),
        Some(m) => Month::parse(m)?,
    };
    let vendor = match q
        .vendor_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(super::path_id(v)?),
    };
    Ok((month, vendor))
}

impl Services {
    /// One sampling pass as of `now`: fills the days since the last
    /// sampled day (at most [`MAX_FILL_DAYS`], never overwriting a row),
    /// then writes or refreshes today's rows. Any number of instances may
    /// run it at once: each (license, day) is one row.
    pub async fn sample_usage(&self, now: Millis) -> Result<SampleOutcome> {
        let today = usage::day_of(now);
        let space = self.seat_space();
        let last = {
            let mut c = self.store.read().await?;
            store::usage::last_day(&mut c).await?
        };
        let mut out = SampleOutcome::default();
        if let Some(last) = last
            .as_deref()
            .and_then(|d| crate::domain::license::parse_date("day", d).ok())
        {
            let mut day =
                (last + time::Duration::days(1)).max(today - time::Duration::days(MAX_FILL_DAYS));
            while day < today {
                let text = format_date(day);
                let next = day + time::Duration::days(1);
                let mut tx = self.store.begin().await?;
                store::usage::sample_day(
                    &mut tx,
                    &store::usage::Sample {
                        day: &text,
                        as_of: usage::start_of_day(next),
                        standard_gb: space.standard_gb,
                        server_gb: space.server_gb,
                        now,
                        replace: false,
                    },
                )
                .await?;
                tx.commit().await.map_err(StoreError::from)?;
                out.days_filled += 1;
                day = next;
            }
        }
        let text = format_date(today);
        let mut tx = self.store.begin().await?;
        out.rows_today = store::usage::sample_day(
            &mut tx,
            &store::usage::Sample {
                day: &text,
                as_of: now,
                standard_gb: space.standard_gb,
                server_gb: space.server_gb,
                now,
                replace: true,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(out)
    }

    /// The usage of `month` as of `now`: admins see every vendor (or the
    /// one named), everyone else their own vendor (naming another is "not
    /// found").
    pub async fn usage_report(
        &self,
        actor: &Actor,
        month: Month,
        vendor: Option<VendorId>,
        now: Millis,
    ) -> Result<UsageReport> {
        let vendor = match (actor.scope(), vendor) {
            (Scope::All, v) => v,
            (Scope::Vendor(own), None) => Some(own),
            (Scope::Vendor(own), Some(v)) if v == own => Some(own),
            (Scope::Vendor(_), Some(_)) => return Err(ServiceError::NotFound),
        };
        self.usage_of(month, vendor, now).await
    }

    /// The usage of `month` for one vendor or all, with no caller to check
    /// (the monthly e-mail; faces go through [`Services::usage_report`]).
    async fn usage_of(
        &self,
        month: Month,
        vendor: Option<VendorId>,
        now: Millis,
    ) -> Result<UsageReport> {
        let today = usage::day_of(now);
        let days = month.days_counted(today);
        let first = format_date(month.first_day());
        let last = format_date(month.last_day());
        let mut history_start = month;
        for _ in 0..11 {
            history_start = history_start.previous();
        }
        let mut c = self.store.read().await?;
        let vendors = store::vendors::list(&mut c).await?;
        if let Some(v) = vendor
            && !vendors.iter().any(|r| r.id == v)
        {
            return Err(ServiceError::NotFound);
        }
        let customers = store::usage::by_customer(&mut c, &first, &last, vendor).await?;
        let months = store::usage::by_vendor_month(
            &mut c,
            &format_date(history_start.first_day()),
            &last,
            vendor,
        )
        .await?;
        drop(c);
        let this_month = month.to_string();
        let mut out = Vec::new();
        for v in vendors {
            if vendor.is_some_and(|only| only != v.id) {
                continue;
            }
            let rows: Vec<CustomerUsage> = customers
                .iter()
                .filter(|r| r.vendor_id == v.id)
                .map(|r| CustomerUsage {
                    customer_id: r.customer_id,
                    customer_name: r.customer_name.clone(),
                    license_type: r.license_type,
                    figures: Figures::of(&figures(&r.sums), days),
                })
                .collect();
            let mine: Vec<&store::usage::VendorMonthSums> =
                months.iter().filter(|m| m.vendor_id == v.id).collect();
            // An admin's unfiltered view lists only vendors with usage in
            // the 12 months; a named vendor is shown even when empty.
            if vendor.is_none() && mine.is_empty() {
                continue;
            }
            let mut history = Vec::new();
            let mut m = history_start;
            loop {
                let key = m.to_string();
                let f = mine
                    .iter()
                    .find(|s| s.month == key)
                    .map(|s| figures(&s.sums))
                    .unwrap_or_default();
                history.push(MonthTotals {
                    month: key,
                    figures: Figures::of(&f, m.days_counted(today)),
                });
                if m >= month {
                    break;
                }
                m = m.next();
            }
            let totals = mine
                .iter()
                .find(|s| s.month == this_month)
                .map(|s| Figures::of(&figures(&s.sums), days))
                .unwrap_or_default();
            out.push(VendorUsage {
                vendor_id: v.id,
                vendor_name: v.name,
                customers: rows,
                totals,
                history,
            });
        }
        Ok(UsageReport {
            month: this_month,
            days,
            vendors: out,
        })
    }
}

impl Services {
    /// Queues the previous month's usage CSV to every vendor with a
    /// billing address, once per vendor and month: the `usage_mails` row
    /// and the outbox row are written in one transaction, and the row's
    /// primary key lets only the first instance's insert through. Runs in
    /// the first [`USAGE_MAIL_DAYS`] days of a month (UTC); returns how
    /// many messages this call queued.
    pub async fn send_usage_mails(&self, now: Millis) -> Result<usize> {
        let today = usage::day_of(now);
        if today.day() > USAGE_MAIL_DAYS {
            return Ok(0);
        }
        let month = Month::of(today).previous();
        let vendors = {
            let mut c = self.store.read().await?;
            store::vendors::list(&mut c).await?
        };
        let mut queued = 0;
        for v in vendors {
            let Some(to) = v.billing_email.as_deref().filter(|e| !e.is_empty()) else {
                continue;
            };
            if v.disabled_at.is_some() {
                continue;
            }
            {
                let mut c = self.store.read().await?;
                if store::usage::mail_claimed(&mut c, v.id, &month.to_string()).await? {
                    continue;
                }
            }
            let report = self.usage_of(month, Some(v.id), now).await?;
            let lang = if v.alert_language == "fi" {
                crate::i18n::Lang::Fi
            } else {
                crate::i18n::Lang::En
            };
            let m = month.to_string();
            let base = self.config.public_url.trim_end_matches('/');
            let args = [
                ("vendor", v.name.as_str().into()),
                ("month", m.as_str().into()),
                ("url", base.into()),
            ];
            let payload = serde_json::json!({
                "subject": lang.fmt("usage_mail.subject", &args),
                "text": lang.fmt("usage_mail.body", &args),
                "attachment_name": format!("usage-{m}.csv"),
                "attachment": report.csv(),
            })
            .to_string();
            let id = crate::domain::MessageId::new();
            let mut tx = self.store.begin().await?;
            if !store::usage::claim_mail(&mut tx, v.id, &m, id, to, now).await? {
                // Another instance was first; it queued the message.
                continue;
            }
            store::outbox::enqueue(
                &mut tx,
                id,
                crate::domain::message::MessageKind::UsageReport,
                None,
                to,
                Some(&payload),
                now,
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// The sampling task: a pass at start (filling missed days), then every
/// `CC_USAGE_SAMPLE_SECS`, until `shutdown` turns true. A failed pass is
/// logged and tried again at the next tick. 0 turns it off.
pub async fn run(
    services: std::sync::Arc<Services>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let secs = services.config.usage_sample_secs;
    if secs == 0 {
        return;
    }
    let every = Duration::from_secs(secs);
    loop {
        match services.sample_usage(now_millis()).await {
            Ok(o) => tracing::debug!(
                days_filled = o.days_filled,
                rows = o.rows_today,
                "usage sampled"
            ),
            Err(e) => tracing::warn!(error = %e, "usage sampling failed"),
        }
        // After the sample, so the last day of the month is in the file.
        match services.send_usage_mails(now_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "monthly usage e-mails queued"),
            Err(e) => tracing::warn!(error = %e, "monthly usage e-mails failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
    }
}
