//! Customers in by CSV from the console: paste (or load) the file, see
//! what every row would do, then import — one form, no JavaScript needed.

use axum::extract::State;
use axum::http::StatusCode;

use super::session::CsrfForm;
use super::{AppState, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::http::csv::Export;
use crate::service::import::ImportReport;

#[derive(askama::Template)]
#[template(path = "customer_import.html")]
struct ImportPage {
    page: Page,
    csv: String,
    report: Option<ImportReport>,
    errors: FormErrors,
}

impl ImportPage {
    pub fn row_errors(&self, r: &crate::service::import::ImportRow) -> String {
        r.errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The row's result as a word for keys and classes.
pub fn action(r: &crate::service::import::ImportRow) -> &'static str {
    match r.action {
        crate::service::import::RowAction::Create => "create",
        crate::service::import::RowAction::Update => "update",
        crate::service::import::RowAction::Error => "error",
        crate::service::import::RowAction::Invite => "invite",
    }
}

pub fn license(l: &crate::service::import::LicenseAction) -> &'static str {
    match l {
        crate::service::import::LicenseAction::Create => "create",
        crate::service::import::LicenseAction::Keep => "keep",
    }
}

/// `GET /licenses/export.csv[?bom=1]`: the customers as CSV.
pub async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> WebResult {
    Ok(crate::http::csv::customers_response(
        state.services.clone(),
        ctx.actor,
        q.vendor(),
        q.bom.is_some(),
    ))
}

#[derive(serde::Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    bom: Option<String>,
    /// Admins: one vendor's rows (the list page's vendor filter).
    #[serde(default)]
    vendor: Option<String>,
}

impl ExportQuery {
    fn vendor(&self) -> Option<crate::domain::VendorId> {
        // An unknown value is no filter (as on the list pages); the
        // service limits operators to their own vendor whatever it says.
        self.vendor.as_deref().and_then(|v| v.trim().parse().ok())
    }
}

fn export_of(state: &AppState, ctx: Ctx, q: &ExportQuery, what: Export) -> WebResult {
    Ok(crate::http::csv::export_response(
        what,
        state.services.clone(),
        ctx.actor,
        q.vendor(),
        q.bom.is_some(),
    ))
}

/// `GET /licenses/licenses.csv[?bom=1][&vendor=…]`: the licenses as CSV.
pub async fn export_licenses(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> WebResult {
    export_of(&state, ctx, &q, Export::Licenses)
}

/// `GET /installations/invites.csv`: the invites as CSV (no codes).
pub async fn export_invites(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> WebResult {
    export_of(&state, ctx, &q, Export::Invites)
}

/// `GET /installations/installations.csv`: the installations as CSV.
pub async fn export_installations(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> WebResult {
    export_of(&state, ctx, &q, Export::Installations)
}

pub async fn show(ctx: Ctx) -> WebResult {
    render(&ImportPage {
        page: Page::new(&ctx),
        csv: String::new(),
        report: None,
        errors: FormErrors::new(ctx.lang),
    })
}

#[derive(serde::Deserialize, Default)]
pub struct ImportForm {
    #[serde(default)]
    csv: String,
    /// Present when "Import" was pressed; otherwise a dry run.
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn post(State(state): State<AppState>, f: CsrfForm<ImportForm>) -> WebResult {
    let ctx = f.ctx;
    let dry_run = f.form.confirm.is_none();
    let page = Page::new(&ctx);
    match state
        .services
        .import_customers(&ctx.actor, &f.form.csv, dry_run)
        .await
    {
        Ok(mut report) => {
            report.translate(ctx.lang);
            let status = if !dry_run && !report.applied {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let page = if report.applied {
                page.with_flash("import.done")
            } else {
                page
            };
            render_status(
                status,
                &ImportPage {
                    page,
                    // After an import the form starts empty again.
                    csv: if report.applied {
                        String::new()
                    } else {
                        f.form.csv
                    },
                    report: Some(report),
                    errors: FormErrors::new(ctx.lang),
                },
            )
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ImportPage {
                    page,
                    csv: f.form.csv,
                    report: None,
                    errors,
                },
            )
        }
    }
}
