//! The Usage page: a month's usage per vendor and customer, with the
//! last 12 months as a small chart, and the same month as CSV.

use axum::extract::{Query, State};

use super::{AppState, Ctx, Page, WebResult, render};
use crate::domain::now_millis;
use crate::domain::usage::{Month, UsageChart, chart, day_of};
use crate::service::ServiceError;
use crate::service::usage::{Figures, UsageQuery, UsageReport, VendorUsage, parse_query};
use crate::service::vendors::Vendor;

/// One vendor's table and chart.
pub struct VendorView {
    pub usage: VendorUsage,
    pub chart: UsageChart,
}

#[derive(askama::Template)]
#[template(path = "usage.html")]
struct UsagePage {
    page: Page,
    month: String,
    vendor_id: String,
    vendors: Vec<Vendor>,
    report: UsageReport,
    views: Vec<VendorView>,
    error: Option<&'static str>,
}

impl UsagePage {
    pub fn csv_href(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("month", &self.month);
        if !self.vendor_id.is_empty() {
            s.append_pair("vendor_id", &self.vendor_id);
        }
        format!("/usage.csv?{}", s.finish())
    }
    // Numbers as the page's language writes them ("1,68" in Finnish).
    pub fn seats(&self, peak: &i64, avg: &f64) -> String {
        self.page.lang.decimal(&format!("{peak} / {avg:.2}"))
    }
    pub fn gb(&self, bytes: &i64) -> String {
        self.page
            .lang
            .decimal(&format!("{:.1}", *bytes as f64 / 1e9))
    }
    pub fn seats_label(&self, v: &f64) -> String {
        self.page.lang.decimal(&format!("{v:.1}"))
    }
    /// A month's hover title: `2026-03: 1.68 seats used on average, 3.5 GB stored at most`.
    pub fn month_title(&self, m: &crate::domain::usage::ChartMonth) -> String {
        let lang = self.page.lang;
        lang.fmt(
            "usage.chart_month",
            &[
                ("month", m.month.as_str().into()),
                (
                    "seats",
                    lang.decimal(&format!("{:.2}", m.seats_used_avg)).into(),
                ),
                ("gb", lang.decimal(&self.gb(&m.storage_peak)).into()),
            ],
        )
    }
}

fn chart_of(v: &VendorUsage) -> UsageChart {
    let points: Vec<(String, f64, i64)> = v
        .history
        .iter()
        .map(|m| {
            let f: &Figures = &m.figures;
            (
                m.month.clone(),
                f.standard_used_avg + f.server_used_avg,
                f.storage_used_bytes_peak,
            )
        })
        .collect();
    chart(&points)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UsageQuery>,
) -> WebResult {
    let now = now_millis();
    // A month that does not parse shows the current one with the reason.
    let (parsed, error) = match parse_query(&q) {
        Ok(p) => (p, None),
        Err(ServiceError::Invalid(_)) => (
            (
                Month::of(day_of(now)),
                q.vendor_id.as_deref().and_then(|v| v.trim().parse().ok()),
            ),
            Some("error.month"),
        ),
        Err(e) => return Err(e.into()),
    };
    let (month, vendor) = parsed;
    let report = state
        .services
        .usage_report(&ctx.actor, month, vendor, now)
        .await?;
    let vendors = if ctx.actor.is_admin() {
        state.services.list_vendors(&ctx.actor).await?
    } else {
        Vec::new()
    };
    let views = report
        .vendors
        .iter()
        .map(|v| VendorView {
            usage: v.clone(),
            chart: chart_of(v),
        })
        .collect();
    render(&UsagePage {
        page: Page::new(&ctx),
        month: report.month.clone(),
        vendor_id: vendor.map(|v| v.to_string()).unwrap_or_default(),
        vendors,
        report,
        views,
        error,
    })
}

pub async fn csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UsageQuery>,
) -> WebResult {
    let (month, vendor) = parse_query(&q)?;
    let report = state
        .services
        .usage_report(&ctx.actor, month, vendor, now_millis())
        .await?;
    Ok(crate::http::csv::usage_response(&report))
}
