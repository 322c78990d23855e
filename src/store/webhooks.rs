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
    /// The secret replaced last, still signing until `previous_secret_until`.
    pub previous_secret_enc: Option<String>,
    pub previous_secret_until: Option<i64>,
    /// When the current run of failed attempts began (None: the last
    /// attempt succeeded).
    pub failing_since: Option<i64>,
}

const ENDPOINT_COLUMNS: &str = "id, vendor_id, url, events, enabled, secret_enc, disabled_reason, \
     created_at, updated_at, previous_secret_enc, previous_secret_until, failing_since";

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
         disabled_reason = CASE WHEN $4 = 1 THEN NULL ELSE disabled_reason END, \
         failing_since = CASE WHEN $4 = 1 AND enabled = 0 THEN NULL ELSE failing_since END \
         WHERE id = $1",
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
    sqlx::query("DELETE FROM webhook_attempts WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
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
         WHERE id IN (SELECT d.id FROM webhook_deliveries d \
          WHERE ((d.state = 'pending' AND d.next_attempt_at <= $1) \
             OR (d.state = 'sending' AND d.lease_until < $1)) \
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id \
             AND p.state IN ('pending', 'sending') AND p.attempts > 0 \
             AND (p.created_at < d.created_at OR (p.created_at = d.created_at AND p.id < d.id))) \
          ORDER BY d.next_attempt_at, d.created_at LIMIT $3{lock}) \
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

/// Forgets finished deliveries and attempts older than `before` (the log
/// keeps 30 days).
pub async fn prune(conn: &mut AnyConnection, before: Millis) -> Result<u64> {
    sqlx::query("DELETE FROM webhook_attempts WHERE attempted_at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE created_at < $1 AND state IN ('delivered', 'failed')",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Who subscribes to what: `(vendor, events)` of every enabled endpoint
/// (for the subscription cache of the report and activation paths).
pub async fn subscriptions(conn: &mut AnyConnection) -> Result<Vec<(Option<VendorId>, String)>> {
    Ok(
        sqlx::query_as("SELECT vendor_id, events FROM webhook_endpoints WHERE enabled = 1")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// One event of a batch, ready to queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewEvent {
    pub vendor_id: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub at: Millis,
}

/// The statement that queues a batch of events (parameter `$param`: the
/// batch as JSON, see [`events_param`]) for every enabled endpoint that
/// wants each: one INSERT … SELECT whatever the batch size.
pub(crate) fn emit_many_sql(conn: &AnyConnection, param: usize) -> String {
    use super::JsonCol::{Int, Text};
    let src = super::json_rows(
        conn,
        param,
        "v",
        &[
            ("ev_vendor", Text),
            ("ev_id", Text),
            ("ev_type", Text),
            ("ev_payload", Text),
            ("ev_at", Int),
        ],
    );
    format!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, \
         attempts, next_attempt_at, created_at) \
         SELECT v.ev_id || '.' || e.id, e.id, v.ev_id, v.ev_type, v.ev_payload, 'pending', 0, \
         v.ev_at, v.ev_at FROM {src} JOIN webhook_endpoints e ON e.enabled = 1 \
         AND e.events LIKE '% ' || v.ev_type || ' %' \
         AND (e.vendor_id IS NULL OR e.vendor_id = v.ev_vendor)"
    )
}

/// The JSON parameter of [`emit_many_sql`].
pub(crate) fn events_param(events: &[NewEvent]) -> Result<String> {
    let rows: Vec<_> = events
        .iter()
        .map(|e| (&e.vendor_id, &e.event_id, &e.event_type, &e.payload, e.at))
        .collect();
    super::json_param(&rows)
}

/// Queues a batch of events in the caller's transaction, in one statement;
/// returns how many deliveries were queued.
pub async fn emit_many(conn: &mut AnyConnection, events: &[NewEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let sql = emit_many_sql(conn, 1);
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(events_param(events)?)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub status: Option<i64>,
    pub body: Option<String>,
    pub error: Option<String>,
}

/// Writes one attempt of a delivery to the log.
pub async fn log_attempt(conn: &mut AnyConnection, a: &AttemptRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, event_id, event_type, attempt, \
         attempted_at, status, body, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&a.id)
    .bind(&a.delivery_id)
    .bind(&a.endpoint_id)
    .bind(&a.event_id)
    .bind(&a.event_type)
    .bind(a.attempt)
    .bind(a.attempted_at)
    .bind(a.status)
    .bind(a.body.as_deref())
    .bind(a.error.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An endpoint's attempts, newest first.
pub async fn list_attempts(
    conn: &mut AnyConnection,
    endpoint: &str,
    limit: i64,
) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT id, delivery_id, endpoint_id, event_id, event_type, attempt, attempted_at, status, \
         body, error FROM webhook_attempts WHERE endpoint_id = $1 \
         ORDER BY attempted_at DESC, id DESC LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Notes a failed attempt: the endpoint's failing run starts now unless
/// it began already. Returns when it began.
pub async fn mark_failing(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1 \
         RETURNING failing_since",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?
    .flatten())
}

/// A successful attempt ends the failing run.
pub async fn clear_failing(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Disables an endpoint that has failed since `since` (still enabled and
/// still failing since then: a concurrent success or re-enable wins).
/// True when this call disabled it.
pub async fn disable_failing(
    conn: &mut AnyConnection,
    id: &str,
    since: Millis,
    reason: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $3, updated_at = $4 \
         WHERE id = $1 AND enabled = 1 AND failing_since = $2",
    )
    .bind(id)
    .bind(since)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// After a retried delivery got through, the deliveries that waited
/// behind it (order per endpoint) are due now rather than at the end of
/// their own backoff.
pub async fn release_waiting(conn: &mut AnyConnection, endpoint: &str, now: Millis) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE endpoint_id = $1 \
         AND state = 'pending' AND next_attempt_at > $2",
    )
    .bind(endpoint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new signing secret; the one it replaces keeps signing until `until`.
pub async fn rotate_secret(
    conn: &mut AnyConnection,
    id: &str,
    new_enc: &str,
    until: Millis,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc, secret_enc = $2, \
         previous_secret_until = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(new_enc)
    .bind(until)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Gives up an endpoint's waiting deliveries (it was disabled): they are
/// failed with `reason` rather than retried into a receiver that is off.
pub async fn fail_pending(
    conn: &mut AnyConnection,
    endpoint: &str,
    reason: &str,
    now: Millis,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = $2, last_attempt_at = \
         COALESCE(last_attempt_at, $3), lease_until = NULL WHERE endpoint_id = $1 AND state = 'pending'",
    )
    .bind(endpoint)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}
