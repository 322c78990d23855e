//! CSV downloads: spreadsheet-safe fields and the monitoring view as CSV
//! (the console and the admin API serve the same file).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::service::monitoring::MonitoringEntry;
use crate::service::usage::UsageReport;

/// Quotes a CSV field when it needs it, and defuses spreadsheet formulas.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV download of monitoring rows.
pub fn monitoring_response(items: &[MonitoringEntry]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"monitoring.csv\"",
            ),
        ],
        monitoring(items),
    )
        .into_response()
}

/// The same view as CSV (all pages, up to 100,000 rows).
pub fn monitoring(items: &[MonitoringEntry]) -> String {
    let mut out = String::from(
        "installation_id,customer_id,customer_name,username,hostname,software_type,last_seen_at,last_backup_at,last_backup_status,storage_used_bytes,client_limit_bytes,health\n",
    );
    for e in items {
        let row = [
            e.installation_id.to_string(),
            e.customer_id.to_string(),
            e.customer_name.clone(),
            e.username.clone(),
            e.hostname.clone(),
            e.software_type.clone(),
            e.last_seen_at.clone().unwrap_or_default(),
            e.last_backup_at.clone().unwrap_or_default(),
            e.last_backup_status.clone().unwrap_or_default(),
            e.storage_used_bytes.to_string(),
            e.client_limit_bytes.to_string(),
            e.health.as_str().to_string(),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

/// A month's usage as CSV (see `UsageReport::csv`).
pub fn usage(r: &UsageReport) -> String {
    r.csv()
}

/// A CSV download of a month's usage (`usage-2026-03.csv`).
pub fn usage_response(r: &UsageReport) -> Response {
    let name = format!("attachment; filename=\"usage-{}.csv\"", r.month);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        usage(r),
    )
        .into_response()
}

/// The customer export's columns: the API's field names, so the file
/// imports again as it is (`id`, `vendor_name`, `encryption_key_set`,
/// `created_at` and `updated_at` are read past; the key itself is never
/// exported).
pub const CUSTOMER_COLUMNS: &str = "id,vendor_id,vendor_name,name,vat_id,street_address,postal_code,postal_area,country,language,contact_email,username_prefix,encryption_key_set,created_at,updated_at";

fn customer_line(c: &crate::service::customers::Customer) -> String {
    let row = [
        c.id.to_string(),
        c.vendor_id.to_string(),
        c.vendor_name.clone(),
        c.name.clone(),
        c.vat_id.clone(),
        c.street_address.clone(),
        c.postal_code.clone(),
        c.postal_area.clone(),
        c.country.clone(),
        c.language.clone(),
        c.contact_email.clone().unwrap_or_default(),
        c.username_prefix.clone().unwrap_or_default(),
        c.encryption_key_set.to_string(),
        c.created_at.clone(),
        c.updated_at.clone(),
    ];
    line(&row)
}

/// A response body fed page by page from a channel: the export never
/// holds the whole table (a slow reader slows the pages down).
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<std::result::Result<axum::body::Bytes, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<
        Option<std::result::Result<http_body::Frame<axum::body::Bytes>, std::io::Error>>,
    > {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}

/// One page of an export as CSV lines, and the cursor of the next page.
type ExportPage = crate::service::Result<(String, Option<String>)>;

/// A CSV download streamed page by page: `next(cursor)` reads one page
/// (starting with no cursor) and gives its lines and the next cursor, so
/// the whole table is never in memory; a page is read only when the
/// channel has room, so a slow reader slows the reading down. `bom`
/// starts the file with a UTF-8 byte-order mark, which Excel needs to
/// read UTF-8.
pub fn stream<F, Fut>(
    filename: &'static str,
    columns: &'static str,
    bom: bool,
    mut next: F,
) -> Response
where
    F: FnMut(Option<String>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ExportPage> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut head = String::new();
        if bom {
            head.push('\u{feff}');
        }
        head.push_str(columns);
        head.push_str("\r\n");
        if tx.send(Ok(axum::body::Bytes::from(head))).await.is_err() {
            return;
        }
        let mut cursor: Option<String> = None;
        loop {
            let (chunk, more) = match next(cursor.take()).await {
                Ok(p) => p,
                Err(e) => {
                    // The status line went out already: end the body
                    // with an error, so the download is seen to fail.
                    tracing::warn!(error = %e, file = filename, "export failed");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            if tx.send(Ok(axum::body::Bytes::from(chunk))).await.is_err() {
                return;
            }
            match more {
                Some(c) => cursor = Some(c),
                None => return,
            }
        }
    });
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::new(ChannelBody { rx }),
    )
        .into_response()
}

/// One CSV line (CRLF) of formula-safe fields.
fn line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| crate::domain::csv::field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Every customer the actor may see (one vendor's, for an admin who names
/// it) as CSV, streamed 200 customers at a time.
pub fn customers_response(
    services: std::sync::Arc<crate::service::Services>,
    actor: crate::service::Actor,
    vendor: Option<crate::domain::VendorId>,
    bom: bool,
) -> Response {
    stream("customers.csv", CUSTOMER_COLUMNS, bom, move |cursor| {
        let (services, actor) = (services.clone(), actor.clone());
        async move {
            let page = services
                .list_customers(&actor, vendor, None, cursor.as_deref(), 200)
                .await?;
            Ok((
                page.items.iter().map(customer_line).collect(),
                page.next_cursor,
            ))
        }
    })
}

/// The license export's columns: the API's field names (a license's
/// `id` is its Number; `state` is the state in force today).
pub const LICENSE_COLUMNS: &str = "id,customer_id,customer_name,vendor_id,type,state,standard_seats,standard_used,server_seats,server_used,extra_space_gb,total_space_gb,client_limit_gb,created,valid_to,comments,created_at,updated_at";

fn license_line(l: &crate::service::licenses::License) -> String {
    line(&[
        l.id.to_string(),
        l.customer_id.to_string(),
        l.customer_name.clone(),
        l.vendor_id.to_string(),
        l.r#type.as_str().to_string(),
        l.state.as_str().to_string(),
        l.standard_seats.to_string(),
        l.standard_used.to_string(),
        l.server_seats.to_string(),
        l.server_used.to_string(),
        l.extra_space_gb.to_string(),
        l.total_space_gb.to_string(),
        l.client_limit_gb.to_string(),
        l.created.clone(),
        l.valid_to.clone(),
        l.comments.clone(),
        l.created_at.clone(),
        l.updated_at.clone(),
    ])
}

/// The invite export's columns: the API's field names, never the
/// activation code.
pub const INVITE_COLUMNS: &str = "id,license_id,customer_id,customer_name,username,email,software_type,store_deleted_days,created_at,expires_at,sent_at,delivery_state,status,used_at,revoked_at";

fn invite_line(i: &crate::service::invites::Invite) -> String {
    line(&[
        i.id.to_string(),
        i.license_id.to_string(),
        i.customer_id.to_string(),
        i.customer_name.clone(),
        i.username.clone(),
        i.email.clone(),
        i.software_type.as_str().to_string(),
        i.store_deleted_days.to_string(),
        i.created_at.clone(),
        i.expires_at.clone(),
        i.sent_at.clone().unwrap_or_default(),
        i.delivery_state.as_str().to_string(),
        i.status.clone(),
        i.used_at.clone().unwrap_or_default(),
        i.revoked_at.clone().unwrap_or_default(),
    ])
}

/// The installation export's columns: the API's field names.
pub const INSTALLATION_COLUMNS: &str = "id,license_id,customer_id,customer_name,username,software_type,hostname,os,client_version,trial_email,activated_at,deactivated_at,last_seen_at,last_backup_at,last_backup_status,storage_used_bytes,replaced_by";

fn installation_line(n: &crate::service::clients::Installation) -> String {
    line(&[
        n.id.to_string(),
        n.license_id.to_string(),
        n.customer_id.to_string(),
        n.customer_name.clone(),
        n.username.clone(),
        n.software_type.as_str().to_string(),
        n.hostname.clone(),
        n.os.clone(),
        n.client_version.clone(),
        n.trial_email.clone().unwrap_or_default(),
        n.activated_at.clone(),
        n.deactivated_at.clone().unwrap_or_default(),
        n.last_seen_at.clone().unwrap_or_default(),
        n.last_backup_at.clone().unwrap_or_default(),
        n.last_backup_status.clone().unwrap_or_default(),
        n.storage_used_bytes.to_string(),
        n.replaced_by.clone().unwrap_or_default(),
    ])
}

/// What is exported, by name (the faces' routes pick one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Licenses,
    Invites,
    Installations,
}

/// Every license, invite or installation the actor may see (one vendor's,
/// for an admin who names it) as CSV, streamed a page at a time.
pub fn export_response(
    what: Export,
    services: std::sync::Arc<crate::service::Services>,
    actor: crate::service::Actor,
    vendor: Option<crate::domain::VendorId>,
    bom: bool,
) -> Response {
    let (file, columns) = match what {
        Export::Licenses => ("licenses.csv", LICENSE_COLUMNS),
        Export::Invites => ("invites.csv", INVITE_COLUMNS),
        Export::Installations => ("installations.csv", INSTALLATION_COLUMNS),
    };
    stream(file, columns, bom, move |cursor| {
        let (services, actor) = (services.clone(), actor.clone());
        async move {
            let c = cursor.as_deref();
            Ok(match what {
                Export::Licenses => {
                    let p = services.export_licenses(&actor, vendor, c).await?;
                    (p.items.iter().map(license_line).collect(), p.next_cursor)
                }
                Export::Invites => {
                    let p = services.export_invites(&actor, vendor, c).await?;
                    (p.items.iter().map(invite_line).collect(), p.next_cursor)
                }
                Export::Installations => {
                    let p = services.export_installations(&actor, vendor, c).await?;
                    (
                        p.items.iter().map(installation_line).collect(),
                        p.next_cursor,
                    )
                }
            })
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quoting() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=cmd()"), "'=cmd()");
    }
}
