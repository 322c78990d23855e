//! Alerts that reach people. Every `CC_ALERT_INTERVAL_SECS` the conditions
//! are checked against the database:
//! - overdue: a client has had no successful backup for `CC_OVERDUE_HOURS`;
//! - failing: its last `CC_ALERT_FAILED_RUNS` runs failed;
//! - client_limit: it stores more than its license's client limit;
//! - storage_90: a license's clients store ≥ 90 % of its Total space (the
//!   alert closes below 85 %, so a client hovering at 90 % does not flap);
//! - expires_30 / expires_7: an active license's Valid to is 30 / 7 days
//!   away or nearer.
//!
//! An alert is a row opened when its condition starts and closed when it
//! stops; the e-mail is queued in the outbox by the insert that opened the
//! row (a unique index allows one open alert per kind and subject, so two
//! instances never both send). So there is one e-mail per state change, not
//! one per report or per check. Recipients: the vendor's alert address (in
//! the vendor's alert language) and the customer's contact (in the
//! customer's language). A vendor may choose a daily digest instead: one
//! e-mail per recipient at `CC_ALERT_DIGEST_HOUR` (UTC) with the alerts
//! not sent yet.

use std::collections::{HashMap, HashSet};

use super::{Result, Services};
use crate::domain::message::MessageKind;
use crate::domain::{AlertId, MessageId, Millis, VendorId, now_millis};
use crate::mail::{AlertItem, AlertMail, render_alerts};
use crate::store::{
    self,
    alerts::{Candidate, NewAlert, VendorAlerting},
};

const STORAGE_OPEN_PERCENT: i64 = 90;
const STORAGE_CLOSE_PERCENT: i64 = 85;
/// Alerts opened per transaction (SQLite has one writer: keep it short).
const BATCH: usize = 200;

/// What one check did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AlertPass {
    pub opened: usize,
    pub closed: usize,
    pub emails: usize,
}

fn date_of(ms: Millis) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// Days from `today` to a stored date (Valid to); 0 when unreadable.
fn days_until(date: &str, today: time::Date) -> i64 {
    crate::domain::license::parse_date("valid_to", date)
        .map(|d| (d - today).whole_days())
        .unwrap_or(0)
}

/// Where the console shows an alert's subject: the license tab for license
/// alerts, the installation page for the others.
fn console_path(kind: &str, customer_id: &str, subject_id: &str) -> String {
    if kind == "storage_90" || kind.starts_with("expires") {
        format!("/licenses/{customer_id}/license")
    } else {
        format!("/installations/{subject_id}")
    }
}

/// The alert's subject named by its kind of id (a license for storage and
/// expiry alerts, else an installation), for webhook payloads.
fn subject_key(kind: &str) -> &'static str {
    if kind == "storage_90" || kind.starts_with("expires") {
        "license_id"
    } else {
        "installation_id"
    }
}

fn gb(bytes: i64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn percent(used: i64, total: i64) -> i64 {
    if total <= 0 {
        0
    } else {
        used.saturating_mul(100) / total
    }
}

/// An open alert as the faces show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: String,
    /// overdue, failing, client_limit, storage_90, expires_30 or expires_7.
    pub kind: String,
    pub customer_id: String,
    pub customer_name: String,
    /// The installation (overdue, failing, client_limit) or the license
    /// (storage_90, expires_*).
    pub subject_id: String,
    /// Installations: their hostname; licenses: empty.
    pub hostname: String,
    pub opened_at: String,
    /// What the alert e-mail said, in words: days left, runs failed, GB…
    pub count: i64,
    pub percent: i64,
    pub used: String,
    pub limit: String,
    pub date: String,
}

impl Alert {
    /// The console page that shows the subject.
    pub fn href(&self) -> String {
        console_path(&self.kind, &self.customer_id, &self.subject_id)
    }
    /// Space and license dates warn; overdue and failing backups are
    /// failures.
    pub fn is_warning(&self) -> bool {
        !matches!(self.kind.as_str(), "overdue" | "failing")
    }
}

impl Services {
    /// Open alerts the actor may see, newest first.
    /// `vendor`: admins may narrow to one vendor; others always see their
    /// own.
    pub async fn open_alerts(
        &self,
        actor: &super::Actor,
        vendor: Option<crate::domain::VendorId>,
        limit: i64,
    ) -> Result<Vec<Alert>> {
        let vendor = match (actor.scope(), vendor) {
            (super::Scope::All, v) => v,
            (super::Scope::Vendor(own), None) => Some(own),
            (super::Scope::Vendor(own), Some(v)) if v == own => Some(own),
            // Another vendor does not exist for an operator, as on every
            // other route (404).
            (super::Scope::Vendor(_), Some(_)) => return Err(super::ServiceError::NotFound),
        };
        let mut c = self.store.read().await?;
        let rows = store::alerts::list_open(&mut c, vendor, limit.clamp(1, 1000)).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let item: Option<AlertItem> = serde_json::from_str(&r.detail).ok();
                let item = item.unwrap_or(AlertItem {
                    kind: r.kind.clone(),
                    customer: String::new(),
                    host: String::new(),
                    username: String::new(),
                    count: 0,
                    percent: 0,
                    used: String::new(),
                    limit: String::new(),
                    date: String::new(),
                    message: String::new(),
                    link: String::new(),
                });
                Alert {
                    id: r.id.to_db(),
                    kind: r.kind,
                    customer_id: r.customer_id.to_db(),
                    customer_name: item.customer,
                    subject_id: r.subject_id,
                    hostname: item.host,
                    opened_at: crate::domain::rfc3339(r.opened_at),
                    count: item.count,
                    percent: item.percent,
                    used: item.used,
                    limit: item.limit,
                    date: item.date,
                }
            })
            .collect())
    }

    /// The message line of a candidate.
    fn alert_item(&self, kind: &str, c: &Candidate, today: time::Date) -> AlertItem {
        let days_left = days_until(&c.extra, today);
        AlertItem {
            kind: kind.to_string(),
            customer: c.customer_name.clone(),
            host: c.hostname.clone(),
            username: c.username.clone(),
            count: match kind {
                "failing" => c.number,
                k if k.starts_with("expires") => days_left,
                _ => 0,
            },
            percent: percent(c.number, c.number2),
            used: gb(c.number),
            limit: gb(c.number2),
            date: match kind {
                "overdue" if c.number > 0 => {
                    crate::domain::rfc3339(c.number)
                        .replace('T', " ")
                        .chars()
                        .take(16)
                        .collect::<String>()
                        + " UTC"
                }
                "overdue" => "—".into(),
                k if k.starts_with("expires") => c.extra.clone(),
                _ => String::new(),
            },
            message: if kind == "failing" {
                c.extra.chars().take(500).collect()
            } else {
                String::new()
            },
            link: format!(
                "{}{}",
                self.config.public_url,
                console_path(kind, &c.customer_id.to_db(), &c.subject_id)
            ),
        }
    }

    /// Every condition that holds now: (kind, candidate, may open), and
    /// the kinds whose check failed. A candidate that may not open only
    /// keeps an open alert open (storage between 85 % and 90 %). One kind
    /// failing (say, bad data in one client's numbers) is logged and
    /// leaves the other kinds working; its open alerts stay as they are.
    async fn alert_conditions(
        &self,
        now: Millis,
    ) -> Result<(Vec<(&'static str, Candidate, bool)>, HashSet<&'static str>)> {
        let mut c = self.store.read().await?;
        let mut out = Vec::new();
        let mut failed: HashSet<&'static str> = HashSet::new();
        let mut take = |kinds: &[&'static str],
                        r: std::result::Result<Vec<Candidate>, store::StoreError>|
         -> Vec<Candidate> {
            match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, kinds = ?kinds, "an alert check failed; the others go on");
                    failed.extend(kinds);
                    Vec::new()
                }
            }
        };
        let overdue = store::alerts::overdue(&mut c, now - self.overdue_ms()).await;
        for n in take(&["overdue"], overdue) {
            out.push(("overdue", n, true));
        }
        let failing = store::alerts::failing(&mut c, self.config.alert_failed_runs).await;
        for n in take(&["failing"], failing) {
            out.push(("failing", n, true));
        }
        let over = store::alerts::over_client_limit(&mut c).await;
        for n in take(&["client_limit"], over) {
            out.push(("client_limit", n, true));
        }
        let storage = store::alerts::storage_at_least(
            &mut c,
            STORAGE_CLOSE_PERCENT,
            self.config.standard_seat_gb,
            self.config.server_seat_gb,
        )
        .await;
        for n in take(&["storage_90"], storage) {
            let opens =
                n.number.saturating_mul(100) >= STORAGE_OPEN_PERCENT.saturating_mul(n.number2);
            out.push(("storage_90", n, opens));
        }
        let today = date_of(now);
        let in_30 = today + time::Duration::days(30);
        let expiring =
            store::alerts::expiring(&mut c, &today.to_string(), &in_30.to_string()).await;
        for n in take(&["expires_7", "expires_30"], expiring) {
            let kind = if days_until(&n.extra, today) <= 7 {
                "expires_7"
            } else {
                "expires_30"
            };
            out.push((kind, n, true));
        }
        Ok((out, failed))
    }

    /// One check: opens alerts whose condition started, closes those whose
    /// condition ended, queues the e-mails. Safe to run on every instance.
    pub async fn evaluate_alerts(&self, now: Millis) -> Result<AlertPass> {
        // Open alerts first, then the conditions: an alert another instance
        // opens in between is newer than this round (opened_at >= now) and
        // is left alone instead of being closed on stale facts.
        let (open, vendors) = {
            let mut c = self.store.read().await?;
            (
                store::alerts::open_alerts(&mut c).await?,
                store::alerts::vendors(&mut c).await?,
            )
        };
        let (conditions, failed) = self.alert_conditions(now).await?;
        let vendors: HashMap<VendorId, VendorAlerting> =
            vendors.into_iter().map(|v| (v.id, v)).collect();
        let holding: HashSet<(&str, &str)> = conditions
            .iter()
            .map(|(k, c, _)| (*k, c.subject_id.as_str()))
            .collect();
        let is_open: HashSet<(&str, &str)> = open
            .iter()
            .map(|a| (a.kind.as_str(), a.subject_id.as_str()))
            .collect();
        let to_close: Vec<&store::alerts::OpenAlert> = open
            .iter()
            .filter(|a| {
                a.opened_at < now
                    && !failed.contains(a.kind.as_str())
                    && !holding.contains(&(a.kind.as_str(), a.subject_id.as_str()))
            })
            .collect();
        let to_open: Vec<&(&'static str, Candidate, bool)> = conditions
            .iter()
            .filter(|(k, c, may)| *may && !is_open.contains(&(*k, c.subject_id.as_str())))
            .collect();
        let mut pass = AlertPass::default();
        for chunk in to_close.chunks(BATCH) {
            let mut tx = self.store.begin().await?;
            for a in chunk {
                store::alerts::close(&mut tx, a.id, now).await?;
                let (customer, subject) = (a.customer_id.to_db(), a.subject_id.clone());
                let mut data = serde_json::json!({
                    "alert_id": a.id.to_db(), "kind": a.kind, "customer_id": customer,
                    "subject_id": subject,
                });
                data[subject_key(&a.kind)] = serde_json::json!(subject);
                let path = console_path(&a.kind, &customer, &subject);
                self.emit(
                    &mut tx,
                    Some(a.vendor_id),
                    "alert.closed",
                    data,
                    Some(&path),
                    now,
                )
                .await?;
            }
            tx.commit().await.map_err(store::StoreError::from)?;
            pass.closed += chunk.len();
        }
        let today = date_of(now);
        for chunk in to_open.chunks(BATCH) {
            let mut tx = self.store.begin().await?;
            // One e-mail per recipient per batch, however many alerts start
            // at once (a first check, or an outage, opens many).
            let mut mail: Vec<(String, String, &VendorAlerting, Vec<AlertItem>)> = Vec::new();
            for (kind, c, _) in chunk {
                let item = self.alert_item(kind, c, today);
                let detail = serde_json::to_string(&item).map_err(anyhow::Error::from)?;
                let id = AlertId::new();
                let vendor = vendors.get(&c.vendor_id);
                let at_once = vendor.is_some_and(|v| v.alert_digest == 0);
                let opened = store::alerts::open(
                    &mut tx,
                    &NewAlert {
                        id,
                        vendor_id: c.vendor_id,
                        customer_id: c.customer_id,
                        kind,
                        subject_id: &c.subject_id,
                        detail: &detail,
                        notified_at: at_once.then_some(now),
                    },
                    now,
                )
                .await?;
                if !opened {
                    continue;
                }
                pass.opened += 1;
                let customer = c.customer_id.to_db();
                let mut data = serde_json::json!({
                    "alert_id": id.to_db(), "kind": kind, "customer_id": customer,
                    "subject_id": c.subject_id, "detail": item,
                });
                data[subject_key(kind)] = serde_json::json!(c.subject_id);
                let path = console_path(kind, &customer, &c.subject_id);
                self.emit(
                    &mut tx,
                    Some(c.vendor_id),
                    "alert.opened",
                    data,
                    Some(&path),
                    now,
                )
                .await?;
                let Some(v) = vendor.filter(|_| at_once) else {
                    continue;
                };
                for (to, lang) in recipients(v, c.contact_email.as_deref(), &c.customer_language) {
                    match mail.iter_mut().find(|(t, ..)| *t == to) {
                        Some((.., items)) => items.push(item.clone()),
                        None => mail.push((to, lang, v, vec![item.clone()])),
                    }
                }
            }
            for (to, lang, v, items) in &mail {
                let r = render_alerts(&AlertMail {
                    lang: crate::i18n::Lang::from_code(lang).unwrap_or(crate::i18n::Lang::En),
                    vendor_name: crate::mail::customer_facing_name(
                        &v.name,
                        &self.config.public_url,
                    ),
                    digest: false,
                    items,
                })?;
                enqueue(&mut tx, MessageKind::Alert, to, &r).await?;
                pass.emails += 1;
            }
            tx.commit().await.map_err(store::StoreError::from)?;
        }
        if pass.emails > 0 {
            self.mail_wakeup.notify_one();
        }
        Ok(pass)
    }

    /// Sends the daily digests that are due: for each vendor that chose a
    /// digest, once a day after `CC_ALERT_DIGEST_HOUR`, one e-mail per
    /// recipient with the vendor's alerts that have not gone out yet.
    /// Returns the number of e-mails queued.
    pub async fn send_digests(&self, now: Millis) -> Result<usize> {
        let today = date_of(now);
        let due = today
            .with_hms(self.config.alert_digest_hour as u8, 0, 0)
            .map_err(anyhow::Error::from)?
            .assume_utc()
            .unix_timestamp()
            * 1000;
        if now < due {
            return Ok(0);
        }
        let vendors = {
            let mut c = self.store.read().await?;
            store::alerts::vendors(&mut c).await?
        };
        let mut emails = 0;
        for v in vendors.iter().filter(|v| v.alert_digest != 0) {
            if v.digest_sent_at.is_some_and(|t| t >= due) {
                continue;
            }
            let mut tx = self.store.begin().await?;
            if !store::alerts::claim_digest(&mut tx, v.id, due, now).await? {
                continue;
            }
            let alerts = store::alerts::claim_for_digest(&mut tx, v.id, now).await?;
            // recipient → (language, items)
            let mut by_recipient: Vec<(String, String, Vec<AlertItem>)> = Vec::new();
            for a in &alerts {
                let Ok(item) = serde_json::from_str::<AlertItem>(&a.detail) else {
                    tracing::warn!(alert = %a.id, "alert detail unreadable; left out of the digest");
                    continue;
                };
                for (to, lang) in recipients(v, a.contact_email.as_deref(), &a.customer_language) {
                    match by_recipient.iter_mut().find(|(t, _, _)| *t == to) {
                        Some((_, _, items)) => items.push(item.clone()),
                        None => by_recipient.push((to, lang, vec![item.clone()])),
                    }
                }
            }
            for (to, lang, items) in &by_recipient {
                let r = render_alerts(&AlertMail {
                    lang: crate::i18n::Lang::from_code(lang).unwrap_or(crate::i18n::Lang::En),
                    vendor_name: crate::mail::customer_facing_name(
                        &v.name,
                        &self.config.public_url,
                    ),
                    digest: true,
                    items,
                })?;
                enqueue(&mut tx, MessageKind::Digest, to, &r).await?;
                emails += 1;
            }
            tx.commit().await.map_err(store::StoreError::from)?;
        }
        if emails > 0 {
            self.mail_wakeup.notify_one();
        }
        Ok(emails)
    }
}

/// Who hears about an alert: the vendor's alert address in the vendor's
/// language, and the customer's contact in the customer's language (once
/// when they are the same address).
fn recipients(
    v: &VendorAlerting,
    contact: Option<&str>,
    customer_language: &str,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(a) = v.alert_email.as_deref().filter(|a| !a.is_empty()) {
        out.push((a.to_string(), v.alert_language.clone()));
    }
    if let Some(a) = contact.filter(|a| !a.is_empty())
        && !out.iter().any(|(t, _)| t.eq_ignore_ascii_case(a))
    {
        out.push((a.to_string(), customer_language.to_string()));
    }
    out
}

/// Queues a rendered message, due at once (in real time: `now` of a check
/// may be another moment in tests).
async fn enqueue(
    tx: &mut store::Tx,
    kind: MessageKind,
    to: &str,
    r: &crate::mail::Rendered,
) -> Result<()> {
    let payload = serde_json::json!({"subject": r.subject, "text": r.text}).to_string();
    store::outbox::enqueue(
        tx,
        MessageId::new(),
        kind,
        None,
        to,
        Some(&payload),
        now_millis(),
    )
    .await?;
    Ok(())
}

/// The background task: checks alerts and digests every
/// `CC_ALERT_INTERVAL_SECS` until shutdown. Errors are logged and the next
/// round tries again.
pub async fn run(
    services: std::sync::Arc<Services>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = std::time::Duration::from_secs(services.config.alert_interval_secs);
    loop {
        // Wait first: a starting instance lets the clients report in.
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let now = now_millis();
        match services.evaluate_alerts(now).await {
            Ok(p) if p.opened + p.closed > 0 => {
                tracing::info!(
                    opened = p.opened,
                    closed = p.closed,
                    emails = p.emails,
                    "alerts checked"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alert check failed"),
        }
        if let Err(e) = services.send_digests(now).await {
            tracing::warn!(error = %e, "alert digests failed");
        }
    }
}
