//! Monitoring: every client's backups at a glance, worst first.

use super::{Actor, Page, Result, Scope, ServiceError, Services, path_id};
use crate::domain::health::Health;
use crate::domain::{CustomerId, InstallationId, VendorId, now_millis, rfc3339};
use crate::store::{
    self,
    monitoring::{Cursor, Filter},
};

/// One installation's line (field names are a fixed point of the API).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MonitoringEntry {
    pub installation_id: InstallationId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub username: String,
    pub hostname: String,
    #[schema(value_type = crate::domain::invite::SoftwareType)]
    pub software_type: String,
    pub os: String,
    pub client_version: String,
    pub last_seen_at: Option<String>,
    pub last_backup_at: Option<String>,
    #[schema(value_type = Option<command_center_wire::RunStatus>)]
    pub last_backup_status: Option<String>,
    pub storage_used_bytes: i64,
    /// 0 = no client limit.
    pub client_limit_bytes: i64,
    /// ok, warning, failed, overdue or never.
    pub health: Health,
}

/// The monitoring filters as given.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonitoringQuery {
    /// Admins: one vendor.
    #[serde(default)]
    pub vendor_id: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    /// ok, warning, failed, overdue or never.
    #[serde(default)]
    #[param(value_type = Option<Health>)]
    pub health: Option<String>,
    /// Username, hostname or customer name contains.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    /// 50 when left out.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A customer's summary above its rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomerSummary {
    pub customer_name: String,
    pub standard_seats: i64,
    pub standard_used: i64,
    pub server_seats: i64,
    pub server_used: i64,
    pub storage_used_bytes: i64,
    pub total_space_bytes: i64,
    /// (health, count), worst first.
    pub counts: Vec<(Health, i64)>,
}

impl CustomerSummary {
    /// Storage used as a whole percentage of Total space (for the bar).
    pub fn percent(&self) -> i64 {
        if self.total_space_bytes <= 0 {
            0
        } else {
            (self.storage_used_bytes.saturating_mul(100) / self.total_space_bytes).clamp(0, 999)
        }
    }
}

/// The summary line above the whole view: clients by health and storage
/// used of Total space (all customers the actor sees, or one vendor's).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScopeSummary {
    pub clients: i64,
    /// (health, count), worst first; healths without clients left out.
    pub counts: Vec<(Health, i64)>,
    pub storage_used_bytes: i64,
    pub total_space_bytes: i64,
}

impl ScopeSummary {
    /// Storage used as a whole percentage of Total space.
    pub fn percent(&self) -> i64 {
        if self.total_space_bytes <= 0 {
            0
        } else {
            (self.storage_used_bytes.saturating_mul(100) / self.total_space_bytes).clamp(0, 999)
        }
    }
}

/// How long a whole-view summary line is reused.
const SUMMARY_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// Summary lines by scope (all, or one vendor), with when they were made.
#[derive(Debug, Default)]
pub struct SummaryCache(
    std::sync::Mutex<
        std::collections::HashMap<Option<VendorId>, (std::time::Instant, ScopeSummary)>,
    >,
);

impl SummaryCache {
    fn get(&self, scope: Option<VendorId>) -> Option<ScopeSummary> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&scope)
            .filter(|(at, _)| at.elapsed() < SUMMARY_TTL)
            .map(|(_, s)| s.clone())
    }

    fn put(&self, scope: Option<VendorId>, s: &ScopeSummary) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A bounded map: scopes are "all" and the vendors.
        if g.len() > 10_000 {
            g.clear();
        }
        g.insert(scope, (std::time::Instant::now(), s.clone()));
    }
}

/// Counts per rank, worst first, as healths.
fn by_health(per_rank: &[(i64, i64)]) -> Vec<(Health, i64)> {
    [
        Health::Failed,
        Health::Overdue,
        Health::Never,
        Health::Warning,
        Health::Ok,
    ]
    .into_iter()
    .filter_map(|h| {
        let n: i64 = per_rank
            .iter()
            .filter(|(r, _)| *r == h.rank())
            .map(|(_, n)| n)
            .sum();
        (n > 0).then_some((h, n))
    })
    .collect()
}

fn rank_health(rank: i64) -> Health {
    match rank {
        4 => Health::Failed,
        3 => Health::Overdue,
        2 => Health::Never,
        1 => Health::Warning,
        _ => Health::Ok,
    }
}

fn encode_cursor(c: &Cursor) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}\u{1f}{}\u{1f}{}", c.rank, c.name, c.id))
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    // Rank first, id last: the name between may hold any character.
    let (rank, rest) = text.split_once('\u{1f}')?;
    let (name, id) = rest.rsplit_once('\u{1f}')?;
    Some(Cursor {
        rank: rank.parse().ok()?,
        name: name.to_string(),
        id: id.to_string(),
    })
}

impl Services {
    pub(crate) fn overdue_ms(&self) -> i64 {
        self.config.overdue_hours * 3600 * 1000
    }

    /// The monitoring view for the actor: worst first, keyset-paged.
    pub async fn monitoring(
        &self,
        actor: &Actor,
        q: &MonitoringQuery,
    ) -> Result<Page<MonitoringEntry>> {
        self.monitoring_at(actor, q, now_millis()).await
    }

    /// The view as of `now` (one moment for every page of an export, so a
    /// client crossing the overdue line mid-export is neither lost nor
    /// listed twice).
    async fn monitoring_at(
        &self,
        actor: &Actor,
        q: &MonitoringQuery,
        now: crate::domain::Millis,
    ) -> Result<Page<MonitoringEntry>> {
        let mut f = Filter::default();
        let requested_vendor = match q
            .vendor_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(v) => Some(
                v.parse::<VendorId>()
                    .map_err(|_| ServiceError::invalid("vendor_id", "error.vendor_unknown"))?,
            ),
        };
        f.vendor = match (actor.scope(), requested_vendor) {
            (Scope::All, v) => v,
            (Scope::Vendor(own), None) => Some(own),
            (Scope::Vendor(own), Some(v)) if v == own => Some(own),
            (Scope::Vendor(_), Some(_)) => return Err(ServiceError::NotFound),
        };
        if let Some(c) = q
            .customer_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let id: CustomerId = path_id(c)?;
            self.get_customer(actor, id).await?;
            f.customer = Some(id);
        }
        if let Some(h) = q.health.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            f.health_rank = Some(
                Health::parse(h)
                    .ok_or_else(|| ServiceError::invalid("health", "error.health"))?
                    .rank(),
            );
        }
        f.search = q.q.clone();
        let after = match q.cursor.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                decode_cursor(s).ok_or_else(|| ServiceError::invalid("cursor", "error.cursor"))?,
            ),
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 1000);
        let mut c = self.store.read().await?;
        let rows = store::monitoring::list(
            &mut c,
            &f,
            now,
            self.overdue_ms(),
            after.as_ref(),
            limit + 1,
        )
        .await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_cursor = if more {
            rows.last().map(|r| {
                encode_cursor(&Cursor {
                    rank: r.health_rank,
                    name: r.sort_name.clone(),
                    id: r.id.to_db(),
                })
            })
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|r| MonitoringEntry {
                installation_id: r.id,
                customer_id: r.customer_id,
                customer_name: r.customer_name,
                username: r.username,
                hostname: r.hostname,
                software_type: r.software_type.as_str().to_string(),
                os: r.os,
                client_version: r.client_version,
                last_seen_at: r.last_seen_at.map(rfc3339),
                last_backup_at: r.last_backup_at.map(rfc3339),
                last_backup_status: r.last_backup_status.map(|s| s.as_str().to_string()),
                storage_used_bytes: r.storage_used_bytes,
                client_limit_bytes: r.client_limit_gb.saturating_mul(1_000_000_000),
                health: rank_health(r.health_rank),
            })
            .collect::<Vec<_>>();
        Ok(Page { items, next_cursor })
    }

    /// The whole view (every page, at most 100,000 rows), for CSV export.
    pub async fn monitoring_all(
        &self,
        actor: &Actor,
        q: &MonitoringQuery,
    ) -> Result<Vec<MonitoringEntry>> {
        let mut q = q.clone();
        q.cursor = None;
        q.limit = Some(1000);
        let mut all = Vec::new();
        let now = now_millis();
        loop {
            let page = self.monitoring_at(actor, &q, now).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) if all.len() < 100_000 => q.cursor = Some(c),
                _ => return Ok(all),
            }
        }
    }

    /// Seats, storage against Total space, and counts per health of one
    /// customer.
    /// The whole view's summary line: the actor's scope (an admin may
    /// narrow it to a vendor).
    pub async fn scope_summary(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
    ) -> Result<ScopeSummary> {
        let vendor = match actor.scope() {
            Scope::All => vendor,
            Scope::Vendor(v) => Some(v),
        };
        if let Some(s) = self.summaries.get(vendor) {
            return Ok(s);
        }
        let mut c = self.store.read().await?;
        let per_rank =
            store::monitoring::scope_health_counts(&mut c, vendor, now_millis(), self.overdue_ms())
                .await?;
        let t = store::monitoring::scope_totals(&mut c, vendor).await?;
        let total_gb = crate::domain::license::total_space_gb(
            self.seat_space(),
            t.standard_seats,
            t.server_seats,
            t.extra_space_gb,
        );
        let s = ScopeSummary {
            clients: per_rank.iter().map(|(_, n)| n).sum(),
            counts: by_health(&per_rank),
            storage_used_bytes: t.storage_used_bytes,
            total_space_bytes: total_gb.saturating_mul(1_000_000_000),
        };
        self.summaries.put(vendor, &s);
        Ok(s)
    }

    pub async fn customer_summary(
        &self,
        actor: &Actor,
        customer: CustomerId,
    ) -> Result<CustomerSummary> {
        let cust = self.get_customer(actor, customer).await?;
        let mut c = self.store.read().await?;
        let t = store::monitoring::customer_totals(&mut c, customer).await?;
        let per_rank = store::monitoring::customer_health_counts(
            &mut c,
            customer,
            now_millis(),
            self.overdue_ms(),
        )
        .await?;
        let counts = by_health(&per_rank);
        let total_gb = crate::domain::license::total_space_gb(
            self.seat_space(),
            t.standard_seats,
            t.server_seats,
            t.extra_space_gb,
        );
        Ok(CustomerSummary {
            customer_name: cust.name,
            standard_seats: t.standard_seats,
            standard_used: t.standard_used,
            server_seats: t.server_seats,
            server_used: t.server_used,
            storage_used_bytes: t.storage_used_bytes,
            total_space_bytes: total_gb.saturating_mul(1_000_000_000),
            counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            rank: 3,
            name: "testiasiakas oy".into(),
            id: "abc".into(),
        };
        let back = decode_cursor(&encode_cursor(&c)).unwrap();
        assert_eq!(
            (back.rank, back.name.as_str(), back.id.as_str()),
            (3, "testiasiakas oy", "abc")
        );
        assert!(decode_cursor("!!").is_none());
        let odd = Cursor {
            rank: 1,
            name: "a\u{1f}b".into(),
            id: "id".into(),
        };
        let back = decode_cursor(&encode_cursor(&odd)).unwrap();
        assert_eq!((back.name.as_str(), back.id.as_str()), ("a\u{1f}b", "id"));
    }
}
