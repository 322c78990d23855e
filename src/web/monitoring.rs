//! The Monitoring page: which clients are not backed up, and why.

use axum::extract::{Query, State};

use super::{AppState, Ctx, Page, WebResult, render};
use crate::service::alerts::Alert;
use crate::service::monitoring::{CustomerSummary, MonitoringEntry, MonitoringQuery, ScopeSummary};
use crate::service::vendors::Vendor;

#[derive(askama::Template)]
#[template(path = "monitoring.html")]
struct MonitoringPage {
    page: Page,
    q: MonitoringQuery,
    vendors: Vec<Vendor>,
    items: Vec<MonitoringEntry>,
    next: Option<String>,
    summary: Option<CustomerSummary>,
    alerts: Vec<Alert>,
    /// Nothing installed anywhere yet: the page says what to do first.
    first_steps: bool,
    /// The whole view's summary line.
    overview: Option<ScopeSummary>,
}

impl MonitoringPage {
    fn query_with(&self, cursor: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("vendor_id", &self.q.vendor_id),
            ("customer_id", &self.q.customer_id),
            ("health", &self.q.health),
            ("q", &self.q.q),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                s.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        s.finish()
    }
    pub fn next_href(&self) -> Option<String> {
        self.next
            .as_deref()
            .map(|c| format!("/monitoring?{}", self.query_with(Some(c))))
    }
    pub fn csv_href(&self) -> String {
        format!("/monitoring.csv?{}", self.query_with(None))
    }
    pub fn sel(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "vendor" => &self.q.vendor_id,
            "health" => &self.q.health,
            _ => &None,
        };
        v.as_deref() == Some(value)
    }
    pub fn search(&self) -> &str {
        self.q.q.as_deref().unwrap_or("")
    }
    pub fn customer(&self) -> &str {
        self.q.customer_id.as_deref().unwrap_or("")
    }
}

/// Bytes in GB with one decimal (people read storage in GB).
pub fn gb(bytes: &i64) -> String {
    format!("{:.1}", *bytes as f64 / 1e9)
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<MonitoringQuery>,
) -> WebResult {
    let page_data = state.services.monitoring(&ctx.actor, &q).await?;
    let vendors = if ctx.actor.is_admin() {
        state.services.list_vendors(&ctx.actor).await?
    } else {
        Vec::new()
    };
    let summary = match q.customer_id.as_deref().and_then(|c| c.parse().ok()) {
        Some(c) => Some(state.services.customer_summary(&ctx.actor, c).await?),
        None => None,
    };
    // The newest open alerts, above the first page of the whole view.
    let whole_view = [&q.customer_id, &q.health, &q.q, &q.cursor]
        .iter()
        .all(|v| v.as_deref().is_none_or(str::is_empty));
    let alerts = if whole_view {
        let vendor = q.vendor_id.as_deref().and_then(|v| v.trim().parse().ok());
        state.services.open_alerts(&ctx.actor, vendor, 10).await?
    } else {
        Vec::new()
    };
    let overview = if whole_view {
        let vendor = q.vendor_id.as_deref().and_then(|v| v.trim().parse().ok());
        Some(state.services.scope_summary(&ctx.actor, vendor).await?)
    } else {
        None
    };
    let first_steps = whole_view
        && q.vendor_id.as_deref().is_none_or(str::is_empty)
        && page_data.items.is_empty()
        && alerts.is_empty();
    render(&MonitoringPage {
        overview,
        first_steps,
        page: Page::new(&ctx),
        q,
        vendors,
        items: page_data.items,
        next: page_data.next_cursor,
        summary,
        alerts,
    })
}

pub async fn csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<MonitoringQuery>,
) -> WebResult {
    let all = state.services.monitoring_all(&ctx.actor, &q).await?;
    Ok(crate::http::csv::monitoring_response(&all))
}
