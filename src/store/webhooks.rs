//! Webhook endpoints and their deliveries: a sibling of the mail outbox,
//! leased and retried the same way.

use sqlx::AnyConnection;

use super::{Backend, Result};
use crate::domain::{Millis, VendorId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub vendor_id: Option<VendorId>,
    pub url: String,
    pub events: String,
    pub enabled: i64,
    pub secret_enc: String,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ENDPOINT_COLUMNS: &str =
    "id, vendor_id, url, events, enabled, secret_enc, disabled_reason, created_at, updated_at";

pub async fn insert_endpoint(conn: &mut AnyConnection, e: &EndpointRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, vendor_id, url, events, enabled, secret_enc, \
         disabled_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.id)
    .bind(e.vendor_id.map(|v| v.to_db()))
    .bind(&e.url)
    .bind(&e.events)
    .bind(e.enabled)
    .bind(&e.secret_enc)
    .bind(e.disabled_reason.as_deref())
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Changes URL, events and the enabled flag (enabling clears the reason
/// it was disabled).
pub async fn update_endpoint(
    conn: &mut AnyConnection,
    id: &str,
    url: &str,
    events: &str,
    enabled: bool,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, events = $3, enabled = $4, updated_at = $5, \
         disabled_reason = CASE WHEN $4 = 1 THEN NULL ELSE disabled_reason END WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(events)
    .bind(i64::from(enabled))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Turns an endpoint off, saying why (a 410 answer).
pub async fn disable_endpoint(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_endpoint(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn get_endpoint(conn: &mut AnyConnection, id: &str) -> Result<Option<EndpointRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// One vendor's endpoints, or every one (`None`).
pub async fn list_endpoints(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
) -> Result<Vec<EndpointRow>> {
    Ok(match vendor {
        Some(v) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE vendor_id = $1 \
                 ORDER BY created_at, id"
            )))
            .bind(v.to_db())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
            )))
            .fetch_all(&mut *conn)
            .await?
        }
    })
}

/// Queues one event for every enabled endpoint that subscribes to it:
/// the vendor's own and the global ones (a vendor-less event reaches the
/// global ones only). One statement, in the caller's transaction.
pub async fn emit(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    event_id: &str,
    event_type: &str,
    payload: &str,
    now: Millis,
) -> Result<u64> {
    let r = sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, \
         attempts, next_attempt_at, created_at) \
         SELECT $1 || '.' || e.id, e.id, $1, $2, $3, 'pending', 0, $4, $4 FROM webhook_endpoints e \
         WHERE e.enabled = 1 AND e.events LIKE $5 AND (e.vendor_id IS NULL OR e.vendor_id = $6)",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .bind(format!("% {event_type} %"))
    .bind(vendor.map(|v| v.to_db()))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Whether any enabled endpoint wants one of these event types: one cheap
/// read that lets a busy writer (the mail worker's result groups) skip
/// building events nobody receives.
pub async fn anyone_subscribed(conn: &mut AnyConnection, event_types: &[&str]) -> Result<bool> {
    if event_types.is_empty() {
        return Ok(false);
    }
    let likes: Vec<String> = (1..=event_types.len())
        .map(|i| format!("events LIKE ${i}"))
        .collect();
    let sql = format!(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE enabled = 1 AND ({})",
        likes.join(" OR ")
    );
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for t in event_types {
        q = q.bind(format!("% {t} %"));
    }
    let n: i64 = q.fetch_one(&mut *conn).await?;
    Ok(n > 0)
}

/// Queues one delivery for one endpoint (a test event, a redelivery).
pub async fn insert_delivery(
    conn: &mut AnyConnection,
    id: &str,
    endpoint: &str,
    event_id: &str,
    event_type: &str,
    payload: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, \
         attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(id)
    .bind(endpoint)
    .bind(event_id)
    .bind(event_type)
    .bind(payload)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A delivery as the log shows it (and the worker sends it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_body: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, payload, state, attempts, \
     next_attempt_at, created_at, last_attempt_at, last_status, last_body, last_error, delivered_at";

pub async fn get_delivery(conn: &mut AnyConnection, id: &str) -> Result<Option<DeliveryRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// An endpoint's deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    endpoint: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(endpoint)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Claims due deliveries for a lease, exactly like `outbox::claim`.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    now: Millis,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_deliveries SET state = 'sending', lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE (state = 'pending' AND next_attempt_at <= $1) \
          OR (state = 'sending' AND lease_until < $1) ORDER BY next_attempt_at, created_at LIMIT $3{lock}) \
         RETURNING {DELIVERY_COLUMNS}"
    )))
    .bind(now)
    .bind(now + lease_ms)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Records an attempt's answer: `state` is `delivered`, `pending` (retry
/// at `next`) or `failed`.
#[allow(clippy::too_many_arguments)]
pub async fn record_attempt(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    next: Millis,
    status: Option<i64>,
    body: Option<&str>,
    error: Option<&str>,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $2, next_attempt_at = $3, lease_until = NULL, \
         last_attempt_at = $7, last_status = $4, last_body = $5, last_error = $6, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN $7 ELSE delivered_at END WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(next)
    .bind(status)
    .bind(body)
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When the next delivery is due (for the worker's sleep).
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<Millis>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) \
         FROM webhook_deliveries WHERE state IN ('pending', 'sending')",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Forgets finished deliveries older than `before` (the log keeps 30 days).
pub async fn prune(conn: &mut AnyConnection, before: Millis) -> Result<u64> {
    let r = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE created_at < $1 AND state IN ('delivered', 'failed')",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// An invite's vendor, license and customer (for its events).
pub async fn invite_owner(
    conn: &mut AnyConnection,
    invite: &str,
) -> Result<Option<(VendorId, String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT c.vendor_id, i.license_id, l.customer_id, i.username FROM invites i \
         JOIN licenses l ON l.id = i.license_id JOIN customers c ON c.id = l.customer_id \
         WHERE i.id = $1",
    )
    .bind(invite)
    .fetch_optional(&mut *conn)
    .await?)
}
