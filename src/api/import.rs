//! `POST /api/v1/import/customers`: customers (and optionally a license
//! and invites per customer) from a CSV file, dry run or for real.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiActor;
use crate::domain::FieldError;
use crate::http::{ApiResult, AppState, ProblemDocument, Query};
use crate::i18n::Lang;
use crate::service::ServiceError;
use crate::service::import::ImportReport;

/// Query of the import.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true` (the default): say what every row would do and write
    /// nothing; `false`: write every row in one transaction, or none if
    /// any row has an error.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/import/customers", operation_id = "import_customers_csv", tag = "customers",
    summary = "Import customers from CSV (UTF-8, comma or semicolon, header row of the customer fields `vendor_id, name, vat_id, street_address, postal_code, postal_area, country, language, contact_email, username_prefix, encryption_key`, optionally the license fields `type, state, standard_seats, server_seats, extra_space_gb, client_limit_gb, created, valid_to, comments`, and optionally the invite fields `username, email, software_type, store_deleted_days`); a row updates the vendor's customer with the same VAT id (or, without one, the same name), else creates one; license fields give a customer without a license one; invite fields add an invite (the customer's username prefix applied; created, not sent) to the license the row creates or the customer's one license, and a customer with more invites is repeated on the following rows (same VAT id or name, other cells empty or the same), each such row's action `invite`; at most 10,000 rows",
    params(ImportQuery),
    request_body(content = String, content_type = "application/octet-stream", description = "The CSV file, sent as it is (UTF-8 text; any Content-Type is read the same, `text/csv` too)"),
    responses(
        (status = 200, description = "Every row's result; `applied` says whether it was written", body = ImportReport),
        (status = 401, description = "No valid bearer token", body = ProblemDocument),
        (status = 403, description = "Viewers cannot import", body = ProblemDocument),
        (status = 422, description = "`validation_failed`: the file itself is not readable (field `file`); `import_rows_invalid`: some rows have errors (member `rows` lists every row's result with its errors by field); nothing was written", body = ProblemDocument)),
    security(("bearer" = [])))]
pub async fn customers(
    State(state): State<AppState>,
    who: ApiActor,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ServiceError::Invalid(vec![FieldError::new("file", "error.csv_utf8")]))?;
    let dry_run = q.dry_run.unwrap_or(true);
    let mut report = state
        .services
        .import_customers(&who.actor, text, dry_run)
        .await?;
    report.translate(Lang::En);
    if !dry_run && !report.applied {
        let body = serde_json::json!({
            "type": "urn:command-center:problem:import_rows_invalid",
            "title": "Unprocessable Entity",
            "status": 422,
            "code": "import_rows_invalid",
            "detail": format!("{} of {} rows have errors; nothing was imported.", report.error_rows, report.rows.len()),
            "error_rows": report.error_rows,
            "rows": report.rows,
        });
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
