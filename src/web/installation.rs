//! One installation's page: its backup history as a small server-drawn
//! chart (with the numbers as a table), the policy its client sees, its
//! activation details, health, and Deactivate (a plain form with a
//! confirmation page: works without JavaScript).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};

use axum::http::StatusCode;

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::InstallationId;
use crate::domain::history::{self, Chart, ChartDay, RunStatus};
use crate::service::ServiceError;
use crate::service::history::{HISTORY_DAYS, InstallationDetails};
use crate::service::path_id;

#[derive(askama::Template)]
#[template(path = "installation.html")]
struct InstallationPage {
    page: Page,
    d: InstallationDetails,
    chart: Chart,
}

#[derive(askama::Template)]
#[template(path = "installation_deactivate.html")]
struct DeactivatePage {
    page: Page,
    d: InstallationDetails,
}

#[derive(askama::Template)]
#[template(path = "installation_delete_backup.html")]
struct DeleteBackupPage {
    page: Page,
    d: InstallationDetails,
    typed: String,
    errors: FormErrors,
}

impl DeleteBackupPage {
    fn stored(&self) -> String {
        self.page
            .lang
            .decimal(&human_bytes(self.d.installation.storage_used_bytes))
    }
}

#[derive(serde::Deserialize, Default)]
pub struct DeleteBackupForm {
    #[serde(default)]
    confirm_hostname: String,
}

/// The installation behind a confirmation step, if it is in the state the
/// step is for (`live` for deactivation, not live for deleting backups).
/// Another vendor's is 404 before anything else; then only writers.
async fn confirmable(
    state: &AppState,
    ctx: &Ctx,
    id: InstallationId,
    live: bool,
) -> Result<Option<InstallationDetails>, super::WebError> {
    let d = state.services.installation_details(&ctx.actor, id).await?;
    ctx.actor.require_write()?;
    Ok((d.installation.deactivated_at.is_none() == live).then_some(d))
}

/// `GET /installations/{id}/delete-backup`: the confirmation step, typing
/// the computer's name (only for a deactivated installation).
pub async fn delete_backup_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult {
    let id: InstallationId = path_id(&id)?;
    let Some(d) = confirmable(&state, &ctx, id, false).await? else {
        return Ok(Redirect::to(&format!("/installations/{id}")).into_response());
    };
    render(&DeleteBackupPage {
        errors: FormErrors::new(ctx.lang),
        page: Page::new(&ctx),
        d,
        typed: String::new(),
    })
}

/// `POST /installations/{id}/delete-backup`: the backups go for good
/// (the service checks the role and the name, and writes the audit row).
pub async fn delete_backup(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<DeleteBackupForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id: InstallationId = path_id(&id)?;
    match state
        .services
        .delete_backup_data(&ctx.actor, id, &f.form.confirm_hostname)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/installations/{id}?backup_deleted=1")).into_response()),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let d = state.services.installation_details(&ctx.actor, id).await?;
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &DeleteBackupPage {
                    errors,
                    page: Page::new(&ctx),
                    d,
                    typed: f.form.confirm_hostname.clone(),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// Bytes for people: `0 B`, `950 kB`, `12.3 GB` (decimal units, as the
/// license's GB).
pub fn human_bytes(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    for (unit, size) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if b >= size {
            return format!("{:.1} {unit}", b / size);
        }
    }
    format!("{bytes} B")
}

/// `part` of `whole` in per cent with one decimal (the real figure, also
/// above 100 %).
fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".into();
    }
    format!("{:.1} %", part as f64 * 100.0 / whole as f64)
}

impl InstallationPage {
    fn t(&self, key: &str) -> &'static str {
        self.page.t(key)
    }

    pub fn status_word(&self, s: &RunStatus) -> String {
        format!(
            "{} {}",
            s.symbol(),
            self.t(&format!("status.{}", s.as_str()))
        )
    }

    pub fn status_text(&self, s: &Option<String>) -> String {
        match s.as_deref().and_then(RunStatus::parse) {
            Some(st) => self.status_word(&st),
            None => String::new(),
        }
    }

    pub fn health_symbol(&self) -> &'static str {
        match self.d.health.map(|h| h.as_str()) {
            Some("ok") => "✓",
            Some("warning") => "⚠",
            Some("never") => "∅",
            Some(_) => "✗",
            None => "–",
        }
    }

    pub fn health_word(&self) -> &'static str {
        match self.d.health {
            Some(h) => self.t(&format!("health.{}", h.as_str())),
            None => self.t("installation.deactivated"),
        }
    }

    pub fn health_class(&self) -> &'static str {
        self.d.health.map(|h| h.as_str()).unwrap_or("never")
    }

    pub fn time(&self, v: &Option<String>) -> askama::filters::Safe<String> {
        self.page.time_opt(v)
    }

    pub fn activated(&self) -> askama::filters::Safe<String> {
        self.page.time(&self.d.installation.activated_at)
    }

    pub fn bytes(&self, v: &i64) -> String {
        self.page.lang.decimal(&human_bytes(*v))
    }

    pub fn day_bytes(&self, v: &Option<i64>) -> String {
        v.map(|b| self.page.lang.decimal(&human_bytes(b)))
            .unwrap_or_else(|| "—".into())
    }

    pub fn software(&self) -> &'static str {
        self.t(&format!(
            "field.{}",
            self.d.installation.software_type.as_str()
        ))
    }

    pub fn license_type(&self) -> &'static str {
        self.t(&format!("license.{}", self.d.policy.license_type.as_str()))
    }

    pub fn license_state(&self) -> &'static str {
        self.t(&format!("license.{}", self.d.policy.license_state.as_str()))
    }

    /// Expired by its date although saved as active ("Expired on read").
    pub fn expired_by_date(&self) -> bool {
        self.d.policy.license_state == command_center_wire::LicenseState::Expired
            && self.d.policy.valid_to.as_str()
                < crate::domain::license::format_date(crate::domain::license::today()).as_str()
    }

    /// Storage used against the Client limit, as a percentage (none
    /// without a limit).
    pub fn of_client_limit(&self) -> Option<String> {
        let limit = self.d.policy.client_limit_bytes;
        (limit > 0).then(|| {
            self.page
                .lang
                .decimal(&percent(self.d.installation.storage_used_bytes, limit))
        })
    }

    /// This installation's share of the license's Total space.
    pub fn of_total_space(&self) -> String {
        self.page.lang.decimal(&percent(
            self.d.installation.storage_used_bytes,
            self.d.policy.total_space_bytes,
        ))
    }

    pub fn snapshot_time(
        &self,
        s: &crate::service::history::Snapshot,
    ) -> askama::filters::Safe<String> {
        self.page.time(&s.finished_at)
    }

    pub fn snapshot_files(&self, s: &crate::service::history::Snapshot) -> String {
        match s.files_new {
            Some(n) => format!(
                "{} ({} {}, {} {})",
                s.files_total,
                n,
                self.t("snapshot.new"),
                s.files_changed,
                self.t("snapshot.changed")
            ),
            None => format!(
                "{} ({} {})",
                s.files_total,
                s.files_changed,
                self.t("snapshot.changed")
            ),
        }
    }

    pub fn duration(&self, secs: &i64) -> String {
        let s = *secs;
        if s < 60 {
            format!("{s} s")
        } else if s < 3600 {
            format!("{} min {} s", s / 60, s % 60)
        } else {
            format!("{} h {} min", s / 3600, (s % 3600) / 60)
        }
    }

    pub fn client_limit(&self) -> String {
        if self.d.policy.client_limit_bytes > 0 {
            self.page
                .lang
                .decimal(&human_bytes(self.d.policy.client_limit_bytes))
        } else {
            self.t("installation.no_limit").to_string()
        }
    }

    pub fn is_live(&self) -> bool {
        self.d.installation.deactivated_at.is_none()
    }

    /// What one day's bar says, for its SVG `<title>` (and screen readers).
    pub fn day_title(&self, day: &ChartDay) -> String {
        let b = &day.bucket;
        if b.runs == 0 {
            return format!(
                "{}: {}",
                self.page.date(&b.date),
                self.t("installation.no_run")
            );
        }
        let mut parts = Vec::new();
        for (s, n) in [
            (RunStatus::Success, b.success),
            (RunStatus::Warning, b.warning),
            (RunStatus::Failed, b.failed),
        ] {
            if n > 0 {
                parts.push(format!("{n} {}", self.status_word(&s)));
            }
        }
        format!(
            "{}: {} {} ({}); {} {}",
            self.page.date(&b.date),
            b.runs,
            self.t("installation.runs").to_lowercase(),
            parts.join(", "),
            self.t("installation.stored").to_lowercase(),
            self.day_bytes(&b.bytes_total)
        )
    }

    /// The chart's `<desc>`: the whole picture in one sentence.
    pub fn chart_desc(&self) -> String {
        let c = &self.chart;
        self.page.lang.fmt(
            "installation.chart_desc",
            &[
                ("days", HISTORY_DAYS.into()),
                ("runs", c.runs().into()),
                ("ok", c.total(RunStatus::Success).into()),
                ("warnings", c.total(RunStatus::Warning).into()),
                ("failed", c.total(RunStatus::Failed).into()),
                ("idle", c.empty_days().into()),
                ("stored", self.day_bytes(&c.last_bytes()).into()),
            ],
        )
    }

    pub fn max_bytes_label(&self) -> String {
        self.page.lang.decimal(&human_bytes(self.chart.max_bytes))
    }

    /// Where the ✗ / ⚠ mark of a day goes.
    pub fn mark_y(&self, day: &ChartDay) -> f64 {
        (day.top - 3.0).max(9.0)
    }

    pub fn mid_runs_y(&self) -> f64 {
        (self.chart.runs_top + self.chart.runs_base) / 2.0
    }
}

impl DeactivatePage {
    pub fn software(&self) -> &'static str {
        self.page.t(&format!(
            "field.{}",
            self.d.installation.software_type.as_str()
        ))
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    deactivated: Option<String>,
    #[serde(default)]
    backup_deleted: Option<String>,
}

/// `GET /installations/{id}`
pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> WebResult {
    let id: InstallationId = path_id(&id)?;
    let d = state.services.installation_details(&ctx.actor, id).await?;
    let h = state.services.installation_history(&ctx.actor, id).await?;
    let mut page = Page::new(&ctx);
    if q.deactivated.is_some() {
        page = page.with_flash("flash.deactivated");
    }
    if q.backup_deleted.is_some() {
        page = page.with_flash("flash.backup_deleted");
    }
    render(&InstallationPage {
        page,
        d,
        chart: history::chart(&h.days),
    })
}

/// `GET /installations/{id}/deactivate`: the confirmation step.
pub async fn deactivate_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult {
    let id: InstallationId = path_id(&id)?;
    let Some(d) = confirmable(&state, &ctx, id, true).await? else {
        return Ok(Redirect::to(&format!("/installations/{id}")).into_response());
    };
    render(&DeactivatePage {
        page: Page::new(&ctx),
        d,
    })
}

/// `POST /installations/{id}/deactivate`: the seat is freed (the service
/// checks the role and writes the audit row).
pub async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let id: InstallationId = path_id(&id)?;
    state.services.get_installation(&ctx.actor, id).await?;
    state
        .services
        .deactivate_installation(&ctx.actor, id)
        .await?;
    Ok(Redirect::to(&format!("/installations/{id}?deactivated=1")).into_response())
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(950_000), "950.0 kB");
        assert_eq!(human_bytes(12_345_678_901), "12.3 GB");
    }
}
